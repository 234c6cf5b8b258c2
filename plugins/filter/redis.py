"""Filters of the redis role: Redis size syntax and redis.conf parsing for change detection."""

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


class FilterModule:
    """Redis role filters."""

    def filters(self):
        return {
            "redis_size_to_bytes": redis_size_to_bytes,
            "redis_unquote": redis_unquote,
            "redis_conf_parse": redis_conf_parse,
            "redis_conf_changes": redis_conf_changes,
        }
