"""Readers for the rendered files, each following the program that reads the file, and their checks.

Every check function returns a list of problems (empty: the file is fine), one readable sentence each.
"""

from __future__ import annotations

import ipaddress
import re

from redis_directives import FILE_ONLY_DIRECTIVES, REDIS_7_0_DIRECTIVES

# Redis ------------------------------------------------------------------------------------------------------


class SplitError(ValueError):
    pass


def redis_split_args(line: str) -> list[str]:
    """Split a line into arguments as Redis's sdssplitargs() does (config file, ACL file, redis-cli).

    Outside quotes, whitespace separates arguments and a quote starts a quoted part. "Double quotes" know
    the escapes \\n \\r \\t \\b \\a \\xHH and \\<any>; 'single quotes' know only \\'. A closing quote must be
    followed by whitespace or the end of the line; an unterminated quote is an error.
    """
    args: list[str] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i].isspace():
            i += 1
        if i >= n:
            return args
        current: list[str] = []
        in_double = in_single = False
        while True:
            c = line[i] if i < n else ""
            if in_double:
                if c == "\\" and line[i + 1:i + 2] == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", line[i + 2:i + 4]):
                    current.append(chr(int(line[i + 2:i + 4], 16)))
                    i += 3
                elif c == "\\" and i + 1 < n:
                    i += 1
                    current.append({"n": "\n", "r": "\r", "t": "\t", "b": "\b", "a": "\a"}.get(line[i], line[i]))
                elif c == '"':
                    if i + 1 < n and not line[i + 1].isspace():
                        raise SplitError(f"closing quote not followed by a space: {line!r}")
                    i += 1
                    break
                elif c == "":
                    raise SplitError(f"unbalanced quotes: {line!r}")
                else:
                    current.append(c)
            elif in_single:
                if c == "\\" and line[i + 1:i + 2] == "'":
                    i += 1
                    current.append("'")
                elif c == "'":
                    if i + 1 < n and not line[i + 1].isspace():
                        raise SplitError(f"closing quote not followed by a space: {line!r}")
                    i += 1
                    break
                elif c == "":
                    raise SplitError(f"unbalanced quotes: {line!r}")
                else:
                    current.append(c)
            else:
                if c in ("", " ", "\n", "\r", "\t"):
                    break
                if c == '"':
                    in_double = True
                elif c == "'":
                    in_single = True
                else:
                    current.append(c)
            i += 1
        args.append("".join(current))


def redis_conf_lines(text: str):
    """(line number, [directive, args...]) for each directive line, as Redis's config loader reads them."""
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip(" \t\r\n")
        if not line or line.startswith("#"):
            continue
        yield number, redis_split_args(line)


_MEMORY = re.compile(r"[0-9]+(k|kb|m|mb|g|gb)?", re.IGNORECASE)


def _check_redis_value(name: str, kind: str, extra, args: list[str]) -> list[str]:
    problems = []
    if kind == "bool":
        if args[0].lower() not in ("yes", "no"):
            problems.append(f"{name} takes yes or no, not {args[0]!r}")
    elif kind == "enum":
        for arg in args:
            if arg.lower() not in extra:
                problems.append(f"{name} takes one of {', '.join(extra)}, not {arg!r}")
    elif kind in ("integer", "memory", "memory-or-percent", "octal"):
        value = args[0]
        if kind == "memory-or-percent" and re.fullmatch(r"[0-9]+%", value):
            pass
        elif kind.startswith("memory") and not _MEMORY.fullmatch(value):
            problems.append(f"{name} takes a size (bytes or k, kb, m, mb, g, gb), not {value!r}")
        elif kind == "integer" and not re.fullmatch(r"-?[0-9]+", value):
            problems.append(f"{name} takes an integer, not {value!r}")
        elif kind == "octal" and not re.fullmatch(r"[0-7]+", value):
            problems.append(f"{name} takes an octal number, not {value!r}")
        elif extra and not kind.startswith("memory"):
            number = int(value, 8 if kind == "octal" else 10)
            low, high = extra
            if (low is not None and number < low) or (high is not None and number > high):
                problems.append(f"{name} {value} is outside {low}..{high if high is not None else ''}")
    elif name == "save":
        if args != [""] and (len(args) % 2 or not all(re.fullmatch(r"[0-9]+", a) for a in args)
                             or any(int(s) < 1 for s in args[::2])):
            problems.append(f'save takes "SECONDS CHANGES" pairs (seconds >= 1), not {args!r}')
    elif name == "bind":
        for address in args:
            bare = address[1:] if address.startswith("-") else address
            if bare != "*" and bare != "::*":
                try:
                    ipaddress.ip_address(bare)
                except ValueError:
                    problems.append(f"bind: {address!r} is not an address")
    return problems


def check_redis_conf(text: str) -> tuple[dict[str, list[str]], list[str]]:
    """Parse redis.conf as Redis 7.0 loads it. Returns ({directive: args}, problems)."""
    parsed: dict[str, list[str]] = {}
    problems: list[str] = []
    try:
        lines = list(redis_conf_lines(text))
    except SplitError as exc:
        return parsed, [f"Redis cannot split a line: {exc}"]
    for number, argv in lines:
        name, args = argv[0].lower(), argv[1:]
        where = f"line {number} ({name})"
        if name in FILE_ONLY_DIRECTIVES:
            continue
        if name not in REDIS_7_0_DIRECTIVES:
            problems.append(f"{where}: unknown directive {argv[0]!r} (Redis 7.0 refuses to start)")
            continue
        kind, extra, multi = REDIS_7_0_DIRECTIVES[name]
        if not multi and len(args) != 1:
            problems.append(f"{where}: takes one argument, has {len(args)}: {args!r} (quote a value with spaces)")
            continue
        if multi and len(args) == 1 and args[0]:
            # A multi-argument directive given one argument is split again at spaces (Redis 7).
            args = redis_split_args(args[0])
        if not args:
            problems.append(f"{where}: no argument")
            continue
        if name in parsed:
            problems.append(f"{where}: {name} appears twice (Redis keeps the last one)")
        parsed[name] = args
        problems += [f"{where}: {p}" for p in _check_redis_value(name, kind, extra, args)]
    return parsed, problems


ACL_CATEGORIES = {
    "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap", "hyperloglog", "geo",
    "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous", "connection", "transaction",
    "scripting", "all",
}
_ACL_FLAGS = {
    "on", "off", "nopass", "resetpass", "reset", "resetkeys", "resetchannels", "allkeys", "allchannels",
    "allcommands", "nocommands", "skip-sanitize-payload", "sanitize-payload", "clearselectors",
}


def check_acl_rule(rule: str) -> str | None:
    """Why a rule of an ACL file line is wrong, or None. Plaintext passwords (>pass, <pass) are refused."""
    if rule in _ACL_FLAGS:
        return None
    if rule.startswith(">") or rule.startswith("<"):
        return f"plaintext password rule {rule[0]}... (the file must hold #<sha256> hashes only)"
    if rule.startswith("#") or rule.startswith("!"):
        if re.fullmatch(r"[#!][0-9a-f]{64}", rule):
            return None
        return f"{rule[:1]}<hash> must be 64 lower-case hex digits (SHA-256), got {len(rule) - 1} characters"
    if re.fullmatch(r"(~|%R~|%W~|%RW~)\S+", rule) or re.fullmatch(r"&\S+", rule):
        return None
    match = re.fullmatch(r"[+-]@([a-z]+)", rule)
    if match:
        return None if match.group(1) in ACL_CATEGORIES else f"unknown command category {rule!r}"
    if re.fullmatch(r"[+-][a-z][a-z0-9-]*(\|[a-z][a-z0-9-]*)?", rule):
        return None
    return f"unknown rule {rule!r}"


def check_acl_file(text: str) -> tuple[dict[str, list[str]], list[str]]:
    """Parse an ACL file as ACL LOAD does. Returns ({user: rules}, problems)."""
    users: dict[str, list[str]] = {}
    problems: list[str] = []
    for number, line in enumerate(text.split("\n"), 1):
        line = line.strip()
        if not line:
            continue
        try:
            argv = redis_split_args(line)
        except SplitError as exc:
            problems.append(f"line {number}: {exc}")
            continue
        if argv[0] != "user" or len(argv) < 2:
            problems.append(f"line {number}: does not start with `user NAME` (ACL files allow no comments)")
            continue
        name, rules = argv[1], argv[2:]
        if name in users:
            problems.append(f"line {number}: user {name} is defined twice")
        users[name] = rules
        for rule in rules:
            why = check_acl_rule(rule)
            if why:
                problems.append(f"line {number} (user {name}): {why}")
        states = [r for r in rules if r in ("on", "off")]
        if not states:
            problems.append(f"line {number} (user {name}): neither on nor off")
        if states and states[-1] == "on" and not any(r.startswith("#") for r in rules) and "nopass" not in rules:
            problems.append(f"line {number} (user {name}): on, but without a password hash nobody can log in")
        if "nopass" in rules:
            problems.append(f"line {number} (user {name}): nopass (anyone may log in as {name})")
    if "default" not in users:
        problems.append("no line for the default user: Redis creates it on, nopass, with every permission")
    return users, problems


# Environment files --------------------------------------------------------------------------------------------

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def systemd_env_file(text: str) -> tuple[dict[str, str], list[str]]:
    """Read an environment file as systemd 252's EnvironmentFile= does (src/basic/env-file.c)."""
    values: dict[str, str] = {}
    problems: list[str] = []
    state = "PRE_KEY"
    key: list[str] = []
    value: list[str] = []
    last_key_ws = last_value_ws = None
    line = 1

    def push() -> None:
        k = "".join(key if last_key_ws is None else key[:last_key_ws])
        v = "".join(value if last_value_ws is None or state != "VALUE" else value[:last_value_ws])
        if not _ENV_NAME.fullmatch(k):
            problems.append(f"line {line}: invalid variable name {k!r}: systemd ignores the line")
        else:
            values[k] = v

    for c in text:
        if state == "PRE_KEY":
            if c in "#;":
                state = "COMMENT"
            elif c not in " \t\n\r":
                state, key, value, last_key_ws = "KEY", [c], [], None
        elif state == "KEY":
            if c in "\n\r":
                problems.append(f"line {line}: {''.join(key)!r} has no '=': systemd ignores it")
                state, line = "PRE_KEY", line + 1
            elif c == "=":
                state, last_value_ws = "PRE_VALUE", None
            else:
                if c not in " \t\n\r":
                    last_key_ws = None
                elif last_key_ws is None:
                    last_key_ws = len(key)
                key.append(c)
        elif state == "PRE_VALUE":
            if c in "\n\r":
                push()
                state, line = "PRE_KEY", line + 1
            elif c == "'":
                state = "SINGLE"
            elif c == '"':
                state = "DOUBLE"
            elif c == "\\":
                state = "VALUE_ESCAPE"
            elif c not in " \t\n\r":
                state = "VALUE"
                value.append(c)
        elif state == "VALUE":
            if c in "\n\r":
                push()
                state, line = "PRE_KEY", line + 1
            elif c == "\\":
                state, last_value_ws = "VALUE_ESCAPE", None
            else:
                if c not in " \t\n\r":
                    last_value_ws = None
                elif last_value_ws is None:
                    last_value_ws = len(value)
                value.append(c)
        elif state == "VALUE_ESCAPE":
            state = "VALUE"
            if c not in "\n\r":
                value.append(c)
        elif state == "SINGLE":
            if c == "'":
                state = "PRE_VALUE"
            else:
                value.append(c)
        elif state == "DOUBLE":
            if c == '"':
                state = "PRE_VALUE"
            elif c == "\\":
                state = "DOUBLE_ESCAPE"
            else:
                value.append(c)
        elif state == "DOUBLE_ESCAPE":
            state = "DOUBLE"
            if c in '"\\`$':
                value.append(c)
            elif c != "\n":
                value += ["\\", c]
        elif state == "COMMENT":
            if c == "\\":
                state = "COMMENT_ESCAPE"
            elif c in "\n\r":
                state, line = "PRE_KEY", line + 1
        elif state == "COMMENT_ESCAPE":
            # systemd before 254 continues a comment that ends with a backslash on the next line.
            state = "COMMENT"
    if state in ("SINGLE", "DOUBLE", "DOUBLE_ESCAPE"):
        problems.append(f"line {line}: unterminated quote")
    if state in ("PRE_VALUE", "VALUE", "VALUE_ESCAPE", "SINGLE", "DOUBLE", "DOUBLE_ESCAPE"):
        push()
    return values, problems


# PostgreSQL ---------------------------------------------------------------------------------------------------

HBA_METHODS = {"trust", "reject", "scram-sha-256", "md5", "password", "gss", "sspi", "ident", "peer", "ldap",
               "radius", "cert", "pam", "bsd"}
HBA_HOST_TYPES = {"host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc"}


def check_pg_hba(text: str) -> tuple[list[list[str]], list[str]]:
    """Parse pg_hba.conf as PostgreSQL 15 does (one record per line). Returns (records, problems)."""
    records, problems = [], []
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        records.append(fields)
        kind = fields[0]
        if kind == "local":
            if len(fields) < 4:
                problems.append(f"line {number}: local needs DATABASE USER METHOD: {raw!r}")
                continue
            method = fields[3]
        elif kind in HBA_HOST_TYPES:
            if len(fields) < 5:
                problems.append(f"line {number}: {kind} needs DATABASE USER ADDRESS METHOD: {raw!r}")
                continue
            address = fields[3]
            if "/" in address:
                try:
                    ipaddress.ip_network(address, strict=False)
                except ValueError:
                    problems.append(f"line {number}: {address!r} is not a network in CIDR form")
                method = fields[4]
            elif address in ("all", "samehost", "samenet") or re.fullmatch(r"[A-Za-z0-9.-]+", address):
                method = fields[4]
                try:
                    ipaddress.ip_address(address)
                    method = fields[5] if len(fields) > 5 else ""  # ADDRESS MASK METHOD
                except ValueError:
                    pass
            else:
                problems.append(f"line {number}: {address!r} is not an address")
                continue
        else:
            problems.append(f"line {number}: unknown connection type {kind!r}")
            continue
        if method not in HBA_METHODS:
            problems.append(f"line {number}: unknown authentication method {method!r}")
    return records, problems


# systemd units ------------------------------------------------------------------------------------------------

EXEC_KEYS = ("ExecStart", "ExecStartPre", "ExecStartPost", "ExecReload", "ExecStop", "ExecStopPost",
             "ExecCondition")


def unit_values(text: str, key: str) -> list[str]:
    """The values of KEY= in a unit file or drop-in (no continuation lines in these units)."""
    return [m.group(1).strip() for m in re.finditer(rf"(?m)^{key}=(.*)$", text)]


def unit_commands(text: str) -> list[str]:
    """The executables the unit's Exec*= lines name (prefixes @-:+! dropped)."""
    commands = []
    for key in EXEC_KEYS:
        for value in unit_values(text, key):
            value = value.lstrip("@-:+!")
            if value:
                commands.append(value.split()[0])
    return commands
