"""Checks of the rendered files, each by the program (or a faithful reader of the format) that reads them.

Every test runs once per rendered file its `files` marker selects (conftest.py), in every case: the role
defaults, and each inventory with its flavour and with the Django flavour.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse, urlsplit

import pytest
import yaml

import formats
import render
import units
from conftest import all_files, case_result

ROOT = render.ROOT
HERE = Path(__file__).resolve().parent
PYPROBE = HERE / "pyprobe.py"


def files(selector):
    """Run the test once per rendered file selector(file) accepts (with_args: a lone callable would be taken
    for the decorated function)."""
    return pytest.mark.files.with_args(selector)


def contract(f) -> bool:
    return case_result(f.case).case.contract


def src_name(f) -> str:
    return Path(f.src).name


def is_python(f) -> bool:
    return f.dest.endswith(".py") or f.content.startswith("#!/usr/bin/env python")


def shebang(f) -> str | None:
    first = f.content.split("\n", 1)[0]
    return first[2:].strip() if first.startswith("#!") else None


def write(scratch: Path, f) -> Path:
    """The rendered file on disk, under scratch/files/CASE/HOST/DEST."""
    path = scratch / "files" / f.case / f.host / f.dest.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f.content)
    return path


_OUTCOMES: dict[tuple, str | None] = {}


def digest(*texts: str) -> str:
    return hashlib.sha256("\0".join(texts).encode()).hexdigest()


def once_per_content(key=lambda rendered, **_: ()):
    """Run the check once per distinct input: the same file rendered for several hosts or cases (worker1 and
    worker2, a Redis host in both flavours) gives the same result, so it is reported again, not recomputed.
    The input is the file's destination and content, whether it is a contract case, and key(...)."""
    def decorate(test):
        @functools.wraps(test)
        def wrapper(rendered, **kwargs):
            ident = (test.__name__, rendered.dest, digest(rendered.content), contract(rendered),
                     key(rendered, **kwargs))
            if ident not in _OUTCOMES:
                try:
                    test(rendered=rendered, **kwargs)
                    _OUTCOMES[ident] = None
                except (AssertionError, pytest.fail.Exception) as exc:
                    _OUTCOMES[ident] = str(exc)
            if _OUTCOMES[ident] is not None:
                pytest.fail(_OUTCOMES[ident], pytrace=False)
        return wrapper
    return decorate


def no_problems(problems: list[str]) -> None:
    """Fail with the list of problems, one per line (without pytest's repetition of the list)."""
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def run(cmd, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kwargs)


# Python -----------------------------------------------------------------------------------------------------


@files(is_python)
@once_per_content()
def test_python_compiles(rendered, scratch):
    """What the roles' `validate: python -m py_compile %s` does, with this machine's Python (Debian 12's)."""
    path = write(scratch, rendered)
    try:
        py_compile.compile(str(path), cfile=str(path) + "c", doraise=True)
    except py_compile.PyCompileError as exc:
        pytest.fail(f"{rendered.dest} does not compile:\n{exc.msg}")


def probe(path: Path, *sys_path: str) -> dict:
    proc = run([sys.executable, str(PYPROBE), "settings", str(path), *sys_path])
    if proc.returncode != 0:
        pytest.fail(f"{path.name} does not run:\n{proc.stderr[-3000:]}", pytrace=False)
    return json.loads(proc.stdout)


@files(lambda f: contract(f) and src_name(f) == "superset_config.py.j2")
@once_per_content()
def test_superset_config_passes_the_role_check(rendered, scratch):
    """The superset role's own superset-check-config (its `validate:`) accepts the file: it runs and defines
    every setting the stack relies on, with the right types. Celery and cachelib are stand-ins here."""
    path = write(scratch, rendered)
    checker = ROOT / "roles" / "superset" / "files" / "superset-check-config"
    proc = run([sys.executable, str(PYPROBE), "script", str(checker), str(path)])
    if proc.returncode != 0:
        pytest.fail(f"superset-check-config refuses {rendered.dest}:\n{proc.stderr[-3000:]}", pytrace=False)


def _lookup(settings: dict, dotted: str):
    value = settings
    for part in dotted.split("."):
        if isinstance(value, list):
            value = value[int(part)]
        else:
            value = value[part]
    return value


# Settings that must hold a dummy secret, exactly, once the file has run: setting path -> vault variable.
# A trailing "?" marks a setting that an inventory may switch off; "|" separates the paths it may have (the
# first one set counts: RESULTS_BACKEND's client is built from the password itself, or through Sentinel).
SECRET_SETTINGS = {
    "superset_config.py.j2": {
        "SECRET_KEY": "vault_superset_secret_key",
        "GLOBAL_ASYNC_QUERIES_JWT_SECRET?": "vault_superset_gaq_jwt_secret",
        "CACHE_CONFIG.CACHE_REDIS_PASSWORD": "vault_redis_app_password",
        "RESULTS_BACKEND.kwargs.password|RESULTS_BACKEND.kwargs.host.kwargs.password": "vault_redis_app_password",
    },
    "settings.py.j2": {
        "SECRET_KEY": "vault_django_secret_key",
        "DATABASES.default.PASSWORD": "vault_db_password",
    },
    "flowerconfig.py.j2": {
        "cookie_secret": "vault_flower_cookie_secret",
    },
}


@files(lambda f: contract(f) and src_name(f) in SECRET_SETTINGS)
@once_per_content()
def test_python_settings_hold_the_secrets(rendered, scratch, secrets):
    """Run the file (Django's with its project's base settings) and compare its secrets with the vault
    values: quoting in the template must not change a single character."""
    path = write(scratch, rendered)
    settings = probe(path, *[str(p) for p in (ROOT / "examples").iterdir() if p.is_dir()])
    for dotted, vault in SECRET_SETTINGS[src_name(rendered)].items():
        optional = dotted.endswith("?")
        dotted = dotted.rstrip("?")
        found = []
        for path in dotted.split("|"):
            try:
                found.append(_lookup(settings, path))
            except (KeyError, IndexError, TypeError):
                continue
            dotted = path
            break
        if not found:
            assert optional, f"{dotted} is not set in {rendered.dest}"
            continue
        value = found[0]
        assert value == secrets[vault], f"{dotted} in {rendered.dest} is not {vault} as given: {value!r}"
    if src_name(rendered) == "flowerconfig.py.j2":
        for entry in settings.get("basic_auth", []):
            user, _, password = entry.partition(":")
            assert password in secrets.values(), f"basic_auth user {user}: the password is not a vault value"


# Redis Sentinel -------------------------------------------------------------------------------------------


def _inventory_hosts(inventory: str) -> dict[str, list[tuple[str, dict]]]:
    """Group name -> [(host, its variables in that group)] of inventories/INVENTORY/hosts.yml."""
    groups: dict[str, list[tuple[str, dict]]] = {}

    def walk(name: str, group: dict) -> None:
        for host, variables in ((group or {}).get("hosts") or {}).items():
            groups.setdefault(name, []).append((host, variables or {}))
        for child, sub in ((group or {}).get("children") or {}).items():
            walk(child, sub)

    walk("all", yaml.safe_load((ROOT / "inventories" / inventory / "hosts.yml").read_text())["all"])
    return groups


def _contract_value(inventory: str, name: str):
    """A contract variable as the inventory's own group_vars/all/ sets it, or else group_vars/all/stack.yml."""
    for path in sorted((ROOT / "inventories" / inventory / "group_vars" / "all").glob("*.yml")):
        values = yaml.safe_load(path.read_text()) or {}
        if name in values:
            return values[name]
    return yaml.safe_load((ROOT / "group_vars" / "all" / "stack.yml").read_text())[name]


def expected_sentinel(rendered) -> dict | None:
    """What the consumers of a Redis behind Sentinel must be given, worked out from the inventory itself (not
    from the contract's Jinja): None when its redis group has one host (no Sentinel)."""
    inventory = case_result(rendered.case).case.inventory
    groups = _inventory_hosts(inventory)
    if len(groups.get("redis", [])) < 2:
        return None
    addresses: dict[str, str] = {}
    for members in groups.values():
        for host, variables in members:
            if variables.get("ansible_host"):
                addresses[host] = str(variables["ansible_host"])
    hosts = list(dict.fromkeys(h for g in ("redis", "redis_sentinel") for h, _ in groups.get(g, [])))
    port = int(_contract_value(inventory, "stack_redis_sentinel_port"))
    return {
        "sentinels": [[addresses.get(h, h), port] for h in hosts],
        "master": _contract_value(inventory, "stack_redis_master_name"),
        "sentinel_user": _contract_value(inventory, "stack_redis_sentinel_client_user"),
        "db": _contract_value(inventory, "stack_redis_db"),
    }


def _as_pairs(sentinels) -> list:
    """Sentinel addresses as [host, port] lists (the probe prints deeply nested tuples as their repr)."""
    return [list(ast.literal_eval(s)) if isinstance(s, str) else list(s) for s in sentinels]


def _unrepr(values: dict) -> dict:
    """A dict the probe printed below its depth limit, where every value is its repr."""
    return {k: ast.literal_eval(v) if isinstance(v, str) else v for k, v in values.items()}


def _check_transport_options(problems: list[str], where: str, options, want: dict, secrets: dict) -> None:
    """Celery's Sentinel transport (broker) and SentinelBackend (results) read these two keys."""
    if not isinstance(options, dict):
        problems.append(f"{where} is not a dict: {options!r}")
        return
    if options.get("master_name") != want["master"]:
        problems.append(f"{where}.master_name is {options.get('master_name')!r}, not {want['master']!r}")
    login = options.get("sentinel_kwargs") or {}
    if login.get("username") != want["sentinel_user"]:
        problems.append(f"{where}.sentinel_kwargs.username is {login.get('username')!r}, not {want['sentinel_user']!r}")
    if login.get("password") != secrets["vault_redis_sentinel_client_password"]:
        problems.append(f"{where}.sentinel_kwargs.password is not vault_redis_sentinel_client_password")


def _check_sentinel_urls(problems: list[str], where: str, url: str, want: dict) -> None:
    parts = url.split(";")
    named = [[urlsplit(p).hostname, urlsplit(p).port] for p in parts]
    if not all(p.startswith("sentinel://") for p in parts) or named != want["sentinels"]:
        problems.append(f"{where} does not name every sentinel with sentinel://: {named}")


@files(lambda f: contract(f) and src_name(f) == "superset_config.py.j2")
@once_per_content()
def test_superset_config_reaches_redis_through_sentinel(rendered, scratch, secrets):
    """With several Redis hosts every Redis consumer of Superset asks the sentinels for the master, under
    the master's name, with the sentinels' client login, and logs in there with the app login: the four
    Flask-Caching caches (keys RedisSentinelCache.factory reads, usernames through CACHE_OPTIONS),
    RESULTS_BACKEND (cachelib on Sentinel.master_for) and Celery (both transports' options; the URLs name
    every sentinel); global async queries are off (Superset 6.1.0's Sentinel backend has no username). With
    one Redis host the file has no Sentinel in it at all."""
    want = expected_sentinel(rendered)
    settings = probe(write(scratch, rendered))
    caches = ["CACHE_CONFIG", "DATA_CACHE_CONFIG", "FILTER_STATE_CACHE_CONFIG", "EXPLORE_FORM_DATA_CACHE_CONFIG"]
    if want is None:
        assert "Sentinel" not in rendered.content, "a Sentinel setting without several Redis hosts"
        assert {settings[c]["CACHE_TYPE"] for c in caches} == {"RedisCache"}
        return
    app_password = secrets["vault_redis_app_password"]
    sentinel_password = secrets["vault_redis_sentinel_client_password"]
    dbs = {"CACHE_CONFIG": want["db"]["cache"], "DATA_CACHE_CONFIG": want["db"]["data_cache"],
           "FILTER_STATE_CACHE_CONFIG": want["db"]["cache"], "EXPLORE_FORM_DATA_CACHE_CONFIG": want["db"]["cache"]}
    problems: list[str] = []
    for name in caches:
        cache = settings[name]
        options = cache.get("CACHE_OPTIONS") or {}
        got = {
            "CACHE_TYPE": cache.get("CACHE_TYPE"),
            "CACHE_REDIS_SENTINELS": _as_pairs(cache.get("CACHE_REDIS_SENTINELS") or []),
            "CACHE_REDIS_SENTINEL_MASTER": cache.get("CACHE_REDIS_SENTINEL_MASTER"),
            "CACHE_REDIS_DB": cache.get("CACHE_REDIS_DB"),
            "username (CACHE_OPTIONS)": options.get("username"),
            "sentinel_username (CACHE_OPTIONS)": options.get("sentinel_username"),
            "app password": cache.get("CACHE_REDIS_PASSWORD") == app_password,
            "sentinel password": cache.get("CACHE_REDIS_SENTINEL_PASSWORD") == sentinel_password,
            "a fixed Redis address": bool({"CACHE_REDIS_URL", "CACHE_REDIS_HOST"} & set(cache)),
        }
        expected = {
            "CACHE_TYPE": "RedisSentinelCache", "CACHE_REDIS_SENTINELS": want["sentinels"],
            "CACHE_REDIS_SENTINEL_MASTER": want["master"], "CACHE_REDIS_DB": dbs[name],
            "username (CACHE_OPTIONS)": "app", "sentinel_username (CACHE_OPTIONS)": want["sentinel_user"],
            "app password": True, "sentinel password": True, "a fixed Redis address": False,
        }
        problems += [f"{name}: {k} is {got[k]!r}, expected {v!r}" for k, v in expected.items() if got[k] != v]
    client = settings["RESULTS_BACKEND"]["kwargs"].get("host")
    if not isinstance(client, dict) or "sentinel" not in client.get("kwargs", {}):
        problems.append(f"RESULTS_BACKEND is not on a client of Sentinel.master_for: {client!r}"[:300])
    else:
        master_for, sentinel = client["kwargs"], client["kwargs"]["sentinel"]["kwargs"]
        login = _unrepr(sentinel.get("sentinel_kwargs") or {})
        got = {"service_name": master_for.get("service_name"), "username": master_for.get("username"),
               "app password": master_for.get("password") == app_password, "db": master_for.get("db"),
               "sentinels": _as_pairs(sentinel.get("sentinels") or []),
               "sentinel username": login.get("username"),
               "sentinel password": login.get("password") == sentinel_password}
        expected = {"service_name": want["master"], "username": "app", "app password": True,
                    "db": want["db"]["app_results"], "sentinels": want["sentinels"],
                    "sentinel username": want["sentinel_user"], "sentinel password": True}
        problems += [f"RESULTS_BACKEND: {k} is {got[k]!r}, expected {v!r}" for k, v in expected.items() if got[k] != v]
    celery = settings.get("CeleryConfig")
    if celery is not None:
        for options in ("broker_transport_options", "result_backend_transport_options"):
            _check_transport_options(problems, f"CeleryConfig.{options}", celery.get(options), want, secrets)
            if "visibility_timeout" not in (celery.get(options) or {}):
                problems.append(f"CeleryConfig.{options} lost its visibility_timeout")
        for url in ("broker_url", "result_backend"):
            _check_sentinel_urls(problems, f"CeleryConfig.{url}", celery[url], want)
    if settings["FEATURE_FLAGS"].get("GLOBAL_ASYNC_QUERIES") or "GLOBAL_ASYNC_QUERIES_CACHE_BACKEND" in settings:
        problems.append("global async queries are on: Superset 6.1.0 cannot reach their stream as app through Sentinel")
    no_problems(problems)


@files(lambda f: contract(f) and src_name(f) == "settings.py.j2")
@once_per_content()
def test_django_settings_reach_redis_through_sentinel(rendered, scratch, secrets):
    """With several Redis hosts the Django cache is django-redis's Sentinel client (the host of LOCATION is
    the master's name, as SentinelConnectionFactory reads it with urlparse), with every sentinel, the
    sentinels' client login and the app login and cache database in LOCATION; Celery's broker and result
    backend transport options carry the master's name and the sentinels' login. With one Redis host: Django's
    own RedisCache and no Sentinel anywhere."""
    want = expected_sentinel(rendered)
    settings = probe(write(scratch, rendered), *[str(p) for p in (ROOT / "examples").iterdir() if p.is_dir()])
    cache = settings.get("CACHES", {}).get("default", {})
    if want is None:
        assert "sentinel" not in rendered.content.lower(), "a Sentinel setting without several Redis hosts"
        assert cache.get("BACKEND") in (None, "django.core.cache.backends.redis.RedisCache")
        return
    options = cache.get("OPTIONS") or {}
    login = options.get("SENTINEL_KWARGS") or {}
    location = urlparse(cache.get("LOCATION", ""))
    got = {
        "BACKEND": cache.get("BACKEND"),
        "CLIENT_CLASS": options.get("CLIENT_CLASS"),
        "CONNECTION_FACTORY": options.get("CONNECTION_FACTORY"),
        "SENTINELS": _as_pairs(options.get("SENTINELS") or []),
        "sentinel username": login.get("username"),
        "sentinel password": login.get("password") == secrets["vault_redis_sentinel_client_password"],
        "master (LOCATION's host)": location.hostname,
        "username (LOCATION)": location.username,
        "app password (LOCATION)": unquote(location.password or "") == secrets["vault_redis_app_password"],
        "db (LOCATION)": location.path,
    }
    expected = {
        "BACKEND": "django_redis.cache.RedisCache", "CLIENT_CLASS": "django_redis.client.SentinelClient",
        "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory", "SENTINELS": want["sentinels"],
        "sentinel username": want["sentinel_user"], "sentinel password": True,
        "master (LOCATION's host)": want["master"], "username (LOCATION)": "app", "app password (LOCATION)": True,
        "db (LOCATION)": f"/{want['db']['cache']}",
    }
    problems = [f"CACHES.default: {k} is {got[k]!r}, expected {v!r}" for k, v in expected.items() if got[k] != v]
    for name in ("CELERY_BROKER_TRANSPORT_OPTIONS", "CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS"):
        _check_transport_options(problems, name, settings.get(name), want, secrets)
    if "visibility_timeout" not in (settings.get("CELERY_BROKER_TRANSPORT_OPTIONS") or {}):
        problems.append("CELERY_BROKER_TRANSPORT_OPTIONS lost its visibility_timeout")
    _check_sentinel_urls(problems, "CELERY_BROKER_URL", settings["CELERY_BROKER_URL"], want)
    if settings.get("CELERY_RESULT_BACKEND", "django-db") != "django-db":
        _check_sentinel_urls(problems, "CELERY_RESULT_BACKEND", settings["CELERY_RESULT_BACKEND"], want)
    no_problems(problems)


# URLs and secrets -----------------------------------------------------------------------------------------

URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s\"'<>]+")


def urls_with_password(text: str) -> list[str]:
    return [u for u in URL.findall(text) if "@" in u.split("/", 3)[2] and ":" in u.split("/", 3)[2].split("@")[0]]


@files(lambda f: contract(f) and urls_with_password(f.content))
def test_urls_carry_the_secrets_intact(rendered, secrets):
    """Every URL with a login (broker, results, caches, databases) parses, and its password, decoded as the
    clients decode it, is exactly a vault value: the contract's URL-encoding loses nothing."""
    for url in urls_with_password(rendered.content):
        parts = urlsplit(url)
        assert parts.hostname, f"no host in {url}"
        assert parts.port, f"no port in {url}"
        password = unquote(parts.password or "")
        shown = url.replace(parts.password or "", "***")
        assert password in secrets.values(), f"{shown}: the password is not a vault value as given"
        expected = secrets.get(f"vault_redis_{parts.username}_password")
        if parts.scheme.startswith("redis") and expected is not None:
            assert password == expected, f"{shown}: user {parts.username} has another login's password"


def world_readable(f) -> bool:
    return f.mode is None or bool(int(f.mode, 8) & 0o004)


@files(lambda f: contract(f) and world_readable(f))
def test_no_secret_in_world_readable_files(rendered, secrets):
    """Files installed readable by everyone (units, scripts: mode o+r, or no mode) hold no secret, in any
    encoding (the 12 leading letters and digits of each dummy secret survive URL, JSON and shell quoting)."""
    leaked = [name for name, value in secrets.items() if render.fingerprint(value) in rendered.content]
    assert not leaked, f"{rendered.dest} (mode {rendered.mode}) contains {', '.join(leaked)}"


# Redis ------------------------------------------------------------------------------------------------------

_redis_filters = {}


def role_filters():
    """The redis role's filter plugin module, loaded from its file."""
    if not _redis_filters:
        path = ROOT / "plugins" / "filter" / "redis.py"
        spec = importlib.util.spec_from_file_location("fast_redis_filters", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _redis_filters["module"] = module
    return _redis_filters["module"]


@files(lambda f: Path(f.dest).name == "redis.conf")
def test_redis_conf_parses(rendered):
    """Every line is `directive args` as Redis 7.0 splits it; every directive exists, with the right number
    and kind of arguments (yes/no, enums, numbers in range, sizes, save pairs, bind addresses)."""
    _, problems = formats.check_redis_conf(rendered.content)
    no_problems(problems)


@files(lambda f: Path(f.dest).name == "redis.conf")
def test_redis_conf_round_trips_through_the_role_change_detection(rendered):
    """The redis role decides between a restart and CONFIG SET by parsing the file on disk with its
    redis_conf_parse filter and comparing it with __redis_full_config (redis_conf_changes). On a converged
    host that comparison must find nothing, or every run restarts Redis; and the role's reading of each line
    must agree with Redis's own."""
    probes = case_result(rendered.case).probes.get(rendered.host, {}).get("redis")
    assert probes, "the redis role's __redis_full_config was not probed"
    filters = role_filters()
    on_disk = filters.redis_conf_parse(rendered.content)
    assert filters.redis_conf_changes(probes["__redis_full_config"], on_disk) == []
    parsed, _ = formats.check_redis_conf(rendered.content)
    disagree = {k: (on_disk.get(k), v) for k, v in parsed.items() if on_disk.get(k) != " ".join(v)}
    assert not disagree, f"the role reads these lines differently from Redis (role, Redis): {disagree}"


@files(lambda f: contract(f) and Path(f.dest).name == "redis.conf")
def test_redis_conf_has_what_the_stack_relies_on(rendered, host_files):
    """A broker that persists and never evicts, runs under systemd, and takes its users from the ACL file
    rendered next to it."""
    parsed, _ = formats.check_redis_conf(rendered.content)
    want = {"appendonly": ["yes"], "maxmemory-policy": ["noeviction"], "supervised": ["systemd"],
            "daemonize": ["no"], "protected-mode": ["yes"]}
    wrong = {k: parsed.get(k) for k, v in want.items() if parsed.get(k) != v}
    assert not wrong, f"expected {want}, got {wrong}"
    assert "unixsocket" in parsed, "no unixsocket: the role administers Redis through it"
    aclfile = parsed.get("aclfile", [None])[0]
    assert aclfile in host_files, f"aclfile {aclfile} is not a file the role renders on this host"
    assert "requirepass" not in parsed, "requirepass beside an ACL file: the default user's password twice"


@files(lambda f: f.dest.endswith(".acl"))
def test_acl_file_parses(rendered):
    """Every line is `user NAME rules...` as ACL LOAD reads it, with known rules and categories only, on or
    off, SHA-256 hashes (#<64 hex>) and no plaintext password (>pass)."""
    _, problems = formats.check_acl_file(rendered.content)
    no_problems(problems)


@files(lambda f: contract(f) and f.dest.endswith(".acl"))
def test_acl_file_holds_hashes_of_the_secrets_only(rendered, secrets):
    """No secret appears in the ACL file in any form; each Redis login's vault password has its hash there,
    and every hash there is of a vault password (none of an empty one)."""
    leaked = [n for n, v in secrets.items() if v in rendered.content or render.fingerprint(v) in rendered.content]
    assert not leaked, f"the ACL file contains {', '.join(leaked)}"
    users, _ = formats.check_acl_file(rendered.content)
    hashes = {hashlib.sha256(v.encode()).hexdigest(): n for n, v in secrets.items()}
    for user, rules in users.items():
        for rule in rules:
            if rule.startswith("#"):
                assert rule[1:] in hashes, f"user {user}: a password hash of no vault value"
    present = {hashes[r[1:]] for rules in users.values() for r in rules if r.startswith("#") and r[1:] in hashes}
    # Sentinel's own file holds the sentinels' logins; the data nodes' file the others (the replication and
    # Sentinel-monitor logins only with high availability).
    sentinel_logins = {"vault_redis_sentinel_admin_password", "vault_redis_sentinel_client_password"}
    ha_logins = {"vault_redis_replication_password", "vault_redis_sentinel_monitor_password"}
    logins = {n for n in secrets if re.fullmatch(r"vault_redis_\w+_password", n)}
    if rendered.dest.endswith("/sentinel-users.acl"):
        logins &= sentinel_logins
    else:
        logins -= sentinel_logins | (set() if "replication" in users else ha_logins)
    assert logins <= present, f"no ACL user has the password of {sorted(logins - present)}"
    default = users.get("default", [])
    assert "off" in default or any(r.startswith("#") for r in default), "the default user is on without a password"


# Environment files and scripts ----------------------------------------------------------------------------


def _sh_environment(path: Path) -> dict[str, str]:
    """The variables a POSIX shell (Debian's dash) gets from sourcing the file with `set -a`."""
    script = 'set -a; . "$1" || exit 97; env -0'
    base = run(["env", "-i", "/bin/sh", "-c", script, "sh", "/dev/null"]).stdout
    proc = run(["env", "-i", "/bin/sh", "-c", script, "sh", str(path)])
    if proc.returncode != 0:
        pytest.fail(f"sh cannot source {path.name}:\n{proc.stderr}", pytrace=False)

    def parse(out: str) -> dict[str, str]:
        return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)

    before = parse(base)
    return {k: v for k, v in parse(proc.stdout).items() if before.get(k) != v}


@files(lambda f: f.dest.endswith(".env"))
@once_per_content(key=lambda rendered, host_files, **_: digest(*sorted(
    f.dest + f.content for f in host_files.values() if units.unit_name(f.dest))))
def test_environment_file(rendered, scratch, host_files, secrets):
    """Both readers agree: systemd's EnvironmentFile= (the units) and sh's `set -a; . FILE` (the scripts that
    source it) read the same variables with the same values, and neither refuses a line. A variable that
    holds a secret (not in a URL: those are checked above) holds exactly the vault value."""
    path = write(scratch, rendered)
    syntax = run(["/bin/sh", "-n", str(path)])
    if syntax.returncode != 0:
        pytest.fail(f"sh -n: {syntax.stderr}", pytrace=False)
    from_sh = _sh_environment(path)
    from_systemd, problems = formats.systemd_env_file(rendered.content)
    no_problems(problems)
    used_by_units = [f.dest for f in host_files.values() if units.unit_name(f.dest)
                     and any(v.lstrip("-") == rendered.dest for v in formats.unit_values(f.content, "EnvironmentFile"))]
    if used_by_units:
        differ = sorted(k for k in set(from_sh) | set(from_systemd) if from_sh.get(k) != from_systemd.get(k))
        assert not differ, f"systemd (for {used_by_units}) and sh read {differ} differently"
    else:
        assert from_sh, "sourcing the file sets no variable"
    for reader, values in (("sh", from_sh), ("systemd", from_systemd)):
        for name, value in values.items():
            for vault, secret in secrets.items():
                if render.fingerprint(secret) in value and "://" not in value:
                    assert value == secret, f"{reader} reads {name} as something else than {vault}: {value!r}"


@files(lambda f: shebang(f) is not None and not is_python(f))
@once_per_content()
def test_shell_script_syntax(rendered, scratch):
    """`sh -n` with Debian's /bin/sh (dash) or `bash -n`, by the script's #! line."""
    interpreter = Path(shebang(rendered).split()[-1 if "env" in shebang(rendered).split()[0] else 0]).name
    shell = {"sh": "/bin/sh", "dash": "/bin/sh", "bash": "/bin/bash"}.get(interpreter)
    assert shell, f"unknown interpreter {shebang(rendered)!r}"
    proc = run([shell, "-n", str(write(scratch, rendered))])
    if proc.returncode != 0 or proc.stderr:
        pytest.fail(f"{shell} -n:\n{proc.stderr.replace(str(scratch), '')}", pytrace=False)


# PostgreSQL -------------------------------------------------------------------------------------------------


def _postgres(dest: str) -> Path | None:
    match = re.match(r"/etc/postgresql/(\d+)/", dest)
    binary = Path(f"/usr/lib/postgresql/{match.group(1)}/bin/postgres") if match else None
    return binary if binary and binary.exists() else None


@files(lambda f: re.match(r"/etc/postgresql/\d+/main/conf\.d/.+\.conf$", f.dest) is not None)
@once_per_content()
def test_postgresql_settings_load(rendered, scratch):
    """PostgreSQL of the same major version reads the file as Debian's postgresql.conf includes it
    (include_dir = 'conf.d'): `postgres -C` refuses unknown parameters and invalid values."""
    binary = _postgres(rendered.dest)
    if binary is None:
        pytest.skip(f"no PostgreSQL server binary for {rendered.dest} on this machine (Debian: postgresql-NN)")
    data = scratch / "pgdata" / rendered.case / rendered.host
    shutil.rmtree(data, ignore_errors=True)
    (data / "conf.d").mkdir(parents=True)
    (data / "postgresql.conf").write_text("include_dir = 'conf.d'\n")
    (data / "postgresql.auto.conf").write_text("")
    (data / "conf.d" / Path(rendered.dest).name).write_text(rendered.content)
    names = re.findall(r"(?m)^\s*([a-z_][a-z0-9_.]*)\s*=", rendered.content)
    assert names, "no setting in the file"
    for name in names:
        proc = run([str(binary), "-C", name, "-D", str(data)])  # root may run -C (read-only)
        if proc.returncode != 0:
            pytest.fail(f"postgres -C {name}:\n{proc.stderr.replace(str(data), '')}", pytrace=False)


@files(lambda f: Path(f.dest).name == "pg_hba.conf")
def test_pg_hba_parses(rendered):
    """Each record has the fields of its connection type, a valid address and a known method."""
    records, problems = formats.check_pg_hba(rendered.content)
    assert records, "no record"
    no_problems(problems)


# systemd ----------------------------------------------------------------------------------------------------

needs_systemd_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                           reason="no systemd-analyze (Debian: systemd)")


def host_root(scratch: Path, case: str, host: str) -> Path:
    return units.build_root(scratch / "roots" / case / host,
                            [f for f in all_files() if f.case == case and f.host == host])


@needs_systemd_analyze
def test_unit_verifies(unit, scratch):
    """`systemd-analyze verify` of the unit with its drop-ins, in the host's root (units.py): no message."""
    unit_files = sorted(f.dest + f.content for f in all_files()
                        if f.case == unit.case and f.host == unit.host and units.unit_name(f.dest))
    ident = ("test_unit_verifies", unit.name, digest(*unit_files))  # hosts with the same units: verified once
    if ident not in _OUTCOMES:
        root = host_root(scratch, unit.case, unit.host)
        status, output = units.verify(root, unit.name)
        _OUTCOMES[ident] = (f"systemd-analyze verify {unit.name} (exit {status}; {', '.join(unit.files)}):\n{output}"
                            if status != 0 or output else None)
    if _OUTCOMES[ident]:
        pytest.fail(_OUTCOMES[ident], pytrace=False)


@pytest.mark.skipif(shutil.which("systemd-tmpfiles") is None, reason="no systemd-tmpfiles (Debian: systemd)")
@files(lambda f: f.dest.startswith("/etc/tmpfiles.d/"))
@once_per_content()
def test_tmpfiles_config(rendered, scratch):
    """systemd-tmpfiles reads the file (in the host's throwaway root: nothing on this machine changes)."""
    root = host_root(scratch, rendered.case, rendered.host)
    proc = run(["systemd-tmpfiles", f"--root={root}", "--create", str(root / rendered.dest.lstrip("/"))],
               env=dict(os.environ, SYSTEMD_LOG_COLOR="0"))
    output = (proc.stdout + proc.stderr).replace(str(root), "").strip()
    if proc.returncode != 0 or output:
        pytest.fail(f"systemd-tmpfiles (exit {proc.returncode}):\n{output}", pytrace=False)


# logrotate --------------------------------------------------------------------------------------------------

LOGROTATE_WORDS = {
    "compress", "nocompress", "delaycompress", "nodelaycompress", "copytruncate", "nocopytruncate", "copy",
    "nocopy", "create", "nocreate", "daily", "weekly", "monthly", "yearly", "hourly", "rotate", "missingok",
    "nomissingok", "notifempty", "ifempty", "su", "size", "minsize", "maxsize", "maxage", "minage", "dateext",
    "nodateext", "dateformat", "dateyesterday", "sharedscripts", "nosharedscripts", "olddir", "noolddir",
    "postrotate", "prerotate", "firstaction", "lastaction", "preremove", "endscript", "extension",
    "compresscmd", "compressext", "compressoptions", "uncompresscmd", "mail", "nomail", "maillast",
    "mailfirst", "start", "shred", "noshred", "shredcycles", "tabooext", "taboopat", "createolddir",
    "nocreateolddir", "renamecopy", "norenamecopy", "allowhardlink", "noallowhardlink", "include",
}


@files(lambda f: f.dest.startswith("/etc/logrotate.d/"))
def test_logrotate_config(rendered):
    """A stanza per path pattern with known logrotate directives (no logrotate binary is needed)."""
    depth, problems, in_script = 0, [], False
    for number, raw in enumerate(rendered.content.split("\n"), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word = line.split()[0]
        if in_script:
            in_script = word != "endscript"
        elif line.endswith("{"):
            depth += 1
            if depth > 1:
                problems.append(f"line {number}: nested stanza")
        elif line == "}":
            depth -= 1
        elif depth == 0:
            problems.append(f"line {number}: directive outside a stanza: {line!r}")
        elif word not in LOGROTATE_WORDS:
            problems.append(f"line {number}: unknown directive {word!r}")
        elif word in ("postrotate", "prerotate", "firstaction", "lastaction", "preremove"):
            in_script = True
        elif word == "rotate" and not re.fullmatch(r"rotate -?\d+", line):
            problems.append(f"line {number}: rotate takes a count: {line!r}")
    if depth:
        problems.append("unbalanced braces")
    no_problems(problems)


def test_an_inventory_group_vars_all_wins_over_the_contract():
    """Values a site sets in its inventory's own group_vars/all/ (the "+local" case: a copy of
    inventories/single-node with render.LOCAL_VARS in group_vars/all/local.yml) reach every rendered file
    that derives from them, over the contract's defaults: the contract loads below the inventory."""
    assert dict(render.LOCAL_VARS) == {"stack_redis_port": 6390, "stack_db_name": "localdb"}
    local = {f.dest: f.content for f in case_result("single-node+local").files}
    plain = {f.dest: f.content for f in case_result("single-node").files}
    assert re.search(r"^port 6390$", local["/etc/redis/redis.conf"], re.M), local["/etc/redis/redis.conf"]
    assert re.search(r"^port 6379$", plain["/etc/redis/redis.conf"], re.M)
    for dest in ("/etc/celery/worker.env", "/etc/superset/superset_config.py"):
        assert "127.0.0.1:6390/" in local[dest] and "127.0.0.1:6379/" not in local[dest], dest
        assert "127.0.0.1:6379/" in plain[dest], dest
    assert "/localdb" in local["/etc/superset/superset_config.py"]
    assert "/taskstack" in plain["/etc/superset/superset_config.py"]
