"""Filters of the stack: Redis size syntax, redis.conf and sentinel.conf parsing for change detection, the
contract's Redis URLs and host addresses."""

import fnmatch
import re

_UNITS = {
    "": 1,
    "k": 1000,
    "kb": 1024,
    "m": 1000 ** 2,
    "mb": 1024 ** 2,
    "g": 1000 ** 3,
    "gb": 1024 ** 3,
}


def redis_size_to_bytes(value):
    """Turn a Redis size ("64mb", "1gb", "100k", 12345) into bytes, as CONFIG GET reports it."""
    if isinstance(value, bool):
        raise ValueError(f"not a Redis size: {value!r}")
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", str(value))
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"not a Redis size: {value!r} (use bytes or a number with k, kb, m, mb, g or gb)")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def redis_unquote(value):
    """Strip one pair of surrounding double quotes, as Redis does when it reads a directive."""
    text = str(value).strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def redis_quote(value):
    """Quote a value for redis.conf, sentinel.conf or a redis-cli command line read from stdin: double quotes,
    with backslash and double quote escaped, as Redis's own argument splitter reads them."""
    text = str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def redis_conf_parse(text):
    """Parse redis.conf text into {directive: value}; comments and blank lines are skipped."""
    parsed = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, rest = line.partition(" ")
        parsed[key.lower()] = redis_unquote(rest)
    return parsed


def redis_conf_changes(desired, current):
    """Directives whose value differs between the desired map and the parsed file on disk."""
    changed = []
    for key, value in desired.items():
        if redis_unquote(value) != current.get(key):
            changed.append(key)
    changed.extend(key for key in current if key not in desired)
    return changed


# Sentinel options that belong to one monitored master ("sentinel <option> <master> <value>").
_SENTINEL_MASTER_OPTIONS = {
    "monitor", "down-after-milliseconds", "failover-timeout", "parallel-syncs", "auth-pass", "auth-user",
    "notification-script", "client-reconfig-script", "config-epoch", "leader-epoch", "known-replica",
    "known-sentinel", "rename-command", "master-reboot-down-after-period",
}


def sentinel_conf_parse(text):
    """Parse sentinel.conf into {key: value}: server directives by name ("port"), Sentinel's own as
    "sentinel <option>" ("sentinel sentinel-user") or, per master, "sentinel <option> <master>". Sentinel
    rewrites the file in its own format (quotes, case): the values are unquoted, the keys lower-cased."""
    parsed = {}
    for line in (text or "").splitlines():
        words = line.strip().split()
        if not words or words[0].startswith("#"):
            continue
        key = words[0].lower()
        if key != "sentinel":
            parsed[key] = redis_unquote(" ".join(words[1:]))
            continue
        if len(words) < 2:
            continue
        option = words[1].lower()
        if option in _SENTINEL_MASTER_OPTIONS and len(words) >= 3:
            parsed[f"sentinel {option} {words[2]}"] = redis_unquote(" ".join(words[3:]))
        else:
            parsed[f"sentinel {option}"] = redis_unquote(" ".join(words[2:]))
    return parsed


def redis_glob_matches(pattern, text):
    """Whether a Redis glob pattern (ACL key or channel patterns: *, ?, [...], \\ escapes) matches text."""
    return fnmatch.fnmatchcase(str(text), str(pattern))


def redis_urls(endpoints, scheme, user, password, db):
    """One Redis URL per endpoint ("host:port"), joined with ";" as Celery and kombu read a list of
    sentinels. The password must already be URL-encoded."""
    if isinstance(endpoints, str):
        endpoints = [endpoints]
    if not endpoints:
        raise ValueError("redis_urls needs at least one endpoint")
    return ";".join(f"{scheme}://{user}:{password}@{endpoint}/{db}" for endpoint in endpoints)


def host_addresses(hosts, hostvars):
    """The address Ansible reaches each inventory host at: its ansible_host, or its name."""
    addresses = []
    for host in hosts:
        variables = hostvars[host] if host in hostvars else {}
        address = variables.get("ansible_host") if hasattr(variables, "get") else None
        addresses.append(str(address or host))
    return addresses


def scrape_targets(hosts, hostvars, port, local_host=None):
    """Prometheus targets for the hosts of a group: [{host, address}], address "ADDR:PORT" with ADDR loopback
    for local_host (the monitoring host itself, whose exporters listen there) and host_addresses otherwise."""
    targets = []
    for host, address in zip(hosts, host_addresses(hosts, hostvars)):
        targets.append({"host": str(host), "address": f"{'127.0.0.1' if host == local_host else address}:{int(port)}"})
    return targets


# kombu's Redis transport keeps a queue's messages of priority N (N > 0) in the list "<queue>\x06\x16<N>" and
# BRPOPs every one of them with the queue itself.
KOMBU_PRIORITY_SEPARATOR = "\x06\x16"


def redis_glob_escape(text):
    """text as a Redis glob pattern that matches exactly text (\\ before *, ?, [, ] and \\)."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in str(text))


def celery_queue_keys(queues, access="~"):
    """ACL key patterns for Celery queues: each queue's list and its priority lists (kombu's names), with
    access "~" (read and write), "%R~" (read only) or "%W~" (write only)."""
    if access not in ("~", "%R~", "%W~", "%RW~"):
        raise ValueError(f"celery_queue_keys: access must be ~, %R~, %W~ or %RW~, not {access!r}")
    patterns = []
    for queue in queues:
        name = redis_glob_escape(queue)
        patterns += [f"{access}{name}", f"{access}{name}{KOMBU_PRIORITY_SEPARATOR}*"]
    return patterns


class FilterModule:
    """The stack's filters (taskstack.stack.*)."""

    def filters(self):
        return {
            "redis_size_to_bytes": redis_size_to_bytes,
            "redis_unquote": redis_unquote,
            "redis_quote": redis_quote,
            "redis_conf_parse": redis_conf_parse,
            "redis_conf_changes": redis_conf_changes,
            "sentinel_conf_parse": sentinel_conf_parse,
            "redis_urls": redis_urls,
            "redis_glob_matches": redis_glob_matches,
            "host_addresses": host_addresses,
            "scrape_targets": scrape_targets,
            "redis_glob_escape": redis_glob_escape,
            "celery_queue_keys": celery_queue_keys,
        }
