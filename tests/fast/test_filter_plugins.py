"""The filter and test plugins of the repository, loaded as Ansible loads them, and the redis role's filters.

Every plugin file under roles/*/filter_plugins, roles/*/test_plugins and a top-level filter_plugins/,
test_plugins/ or plugins/{filter,test}/ is found and loaded; every filter or test it exports must have a test
here (TESTED), so that a new filter cannot arrive untested.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIRS = ("roles/*/filter_plugins", "roles/*/test_plugins", "filter_plugins", "test_plugins",
               "plugins/filter", "plugins/test", "roles/*/plugins/filter", "roles/*/plugins/test")

# The filters and tests this file covers, by plugin file.
TESTED = {
    "plugins/filter/redis.py": {"redis_size_to_bytes", "redis_unquote", "redis_conf_parse",
                                "redis_conf_changes", "redis_quote", "sentinel_conf_parse", "redis_urls",
                                "redis_glob_matches", "host_addresses", "scrape_targets",
                                "redis_glob_escape", "celery_queue_keys"},
    "plugins/filter/failure.py": {"redact", "failure_text"},
}


def plugin_files() -> list[Path]:
    return sorted(p for pattern in PLUGIN_DIRS for p in ROOT.glob(f"{pattern}/*.py") if p.name != "__init__.py")


def load(path: Path):
    spec = importlib.util.spec_from_file_location(f"fast_plugin_{path.parent.parent.name}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exported(path: Path) -> dict:
    module = load(path)
    names = {}
    if hasattr(module, "FilterModule"):
        names.update(module.FilterModule().filters())
    if hasattr(module, "TestModule"):
        names.update(module.TestModule().tests())
    return names


@pytest.mark.parametrize("path", plugin_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_plugin_loads_and_is_tested(path):
    functions = exported(path)
    assert functions, f"{path} exports no filter or test (no FilterModule().filters() / TestModule().tests())"
    for name, function in functions.items():
        assert callable(function), f"{name} is not callable"
    untested = set(functions) - TESTED.get(str(path.relative_to(ROOT)), set())
    assert not untested, f"no tests in {Path(__file__).name} for: {', '.join(sorted(untested))}"


def test_every_tested_plugin_exists():
    files = {str(p.relative_to(ROOT)) for p in plugin_files()}
    assert set(TESTED) <= files, f"TESTED names plugin files that are gone: {set(TESTED) - files}"


# The redis role's filters ---------------------------------------------------------------------------------

redis = load(ROOT / "plugins/filter/redis.py")


@pytest.mark.parametrize("value, expected", [
    (0, 0),
    (12345, 12345),
    ("12345", 12345),
    ("0", 0),
    ("100k", 100_000),
    ("100kb", 102_400),
    ("64m", 64_000_000),
    ("64mb", 67_108_864),
    ("1g", 1_000_000_000),
    ("1gb", 1_073_741_824),
    ("64MB", 67_108_864),    # Redis's units are case-insensitive
    ("2Gb", 2_147_483_648),
    (" 64mb ", 67_108_864),  # surrounding blanks (a YAML folded value) are ignored
])
def test_redis_size_to_bytes(value, expected):
    assert redis.redis_size_to_bytes(value) == expected


@pytest.mark.parametrize("value", [
    True, False,        # YAML's yes/no arrive as booleans: not a size
    "", "mb", "1.5gb", "-1", "-1mb", "25%", "10tb", "1 g b", "0x10", None, 1.5,
])
def test_redis_size_to_bytes_refuses(value):
    with pytest.raises(ValueError, match="not a Redis size"):
        redis.redis_size_to_bytes(value)


def test_redis_size_to_bytes_matches_the_config_get_of_the_rendered_file():
    # auto-aof-rewrite-min-size is rendered in bytes, because CONFIG GET reports bytes.
    assert redis.redis_size_to_bytes("64mb") == 64 * 1024 * 1024


@pytest.mark.parametrize("value, expected", [
    ('"appendonly.aof"', "appendonly.aof"),
    ('""', ""),
    ("plain", "plain"),
    ('  "padded"  ', "padded"),
    ('"3600 1 300 100"', "3600 1 300 100"),
    ('"', '"'),                  # a lone quote is not a pair
    ('"a"b"', 'a"b'),            # only the outer pair goes
    ('""x""', '"x"'),
    ("'single'", "'single'"),    # single quotes are kept (the role writes double quotes only)
    (6379, "6379"),
    ("", ""),
])
def test_redis_unquote(value, expected):
    assert redis.redis_unquote(value) == expected


def test_redis_conf_parse():
    text = "\n".join([
        "# comment",
        "",
        "   # indented comment",
        "bind 127.0.0.1 -::1",
        "Port 6379",                       # directive names are case-insensitive in Redis
        'logfile ""',
        'save "3600 1 300 100"',
        "  maxmemory 1048576  ",
        "daemonize",                       # no value
    ])
    assert redis.redis_conf_parse(text) == {
        "bind": "127.0.0.1 -::1",
        "port": "6379",
        "logfile": "",
        "save": "3600 1 300 100",
        "maxmemory": "1048576",
        "daemonize": "",
    }


@pytest.mark.parametrize("text", [None, "", "\n\n", "# only a comment\n"])
def test_redis_conf_parse_empty(text):
    assert redis.redis_conf_parse(text) == {}


def test_redis_conf_parse_keeps_the_last_of_a_repeated_directive():
    assert redis.redis_conf_parse("maxclients 10\nmaxclients 20\n") == {"maxclients": "20"}


def test_redis_conf_changes_none_when_equal():
    desired = {"appendonly": "yes", "appendfilename": '"appendonly.aof"', "save": '"3600 1"', "logfile": '""'}
    current = {"appendonly": "yes", "appendfilename": "appendonly.aof", "save": "3600 1", "logfile": ""}
    assert redis.redis_conf_changes(desired, current) == []


def test_redis_conf_changes_reports_changed_missing_and_extra_directives_in_order():
    desired = {"appendonly": "yes", "maxmemory": "100", "port": "6379"}
    current = {"appendonly": "no", "port": "6379", "requirepass": "x", "rename-command": "y"}
    assert redis.redis_conf_changes(desired, current) == ["appendonly", "maxmemory", "requirepass", "rename-command"]


def test_redis_conf_changes_compares_as_text():
    # Numbers from YAML (not quoted) compare equal to the text read back from the file.
    assert redis.redis_conf_changes({"port": 6379, "timeout": 0}, {"port": "6379", "timeout": "0"}) == []


def test_redis_conf_changes_against_an_empty_file():
    assert redis.redis_conf_changes({"a": "1", "b": "2"}, {}) == ["a", "b"]


def test_redis_round_trip_through_parse_and_changes():
    desired = {"bind": "127.0.0.1 -::1", "logfile": '""', "save": '"3600 1 300 100"', "dir": "/var/lib/redis"}
    text = "".join(f"{k} {v}\n" for k, v in desired.items())
    assert redis.redis_conf_changes(desired, redis.redis_conf_parse(text)) == []


# Sentinel, URLs, quoting ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("plain", '"plain"'),
    ('a"b', '"a\\"b"'),
    ("a\\b", '"a\\\\b"'),
    ("", '""'),
])
def test_redis_quote(value, expected):
    assert redis.redis_quote(value) == expected


def test_redis_quote_round_trips_through_redis_unquote_for_plain_values():
    assert redis.redis_unquote(redis.redis_quote("p@ss/wd:x")) == "p@ss/wd:x"


SENTINEL_CONF = """\
# managed
port 26379
bind 127.0.0.1 -::1 10.0.0.1
dir "/tmp"
logfile ""
SENTINEL resolve-hostnames no
sentinel sentinel-user sentinel-admin
sentinel sentinel-pass "s3cret"
sentinel monitor taskstack 10.0.0.1 6379 2
sentinel auth-user taskstack sentinel
sentinel auth-pass taskstack "pw"
sentinel down-after-milliseconds taskstack 5000
sentinel known-replica taskstack 10.0.0.2 6379
sentinel known-replica taskstack 10.0.0.3 6379
sentinel current-epoch 3
"""


def test_sentinel_conf_parse_reads_what_sentinel_rewrites():
    parsed = redis.sentinel_conf_parse(SENTINEL_CONF)
    assert parsed["port"] == "26379"
    assert parsed["bind"] == "127.0.0.1 -::1 10.0.0.1"
    assert parsed["dir"] == "/tmp" and parsed["logfile"] == ""
    assert parsed["sentinel resolve-hostnames"] == "no"   # Sentinel writes some options in capitals
    assert parsed["sentinel sentinel-pass"] == "s3cret"
    assert parsed["sentinel monitor taskstack"] == "10.0.0.1 6379 2"
    assert parsed["sentinel auth-user taskstack"] == "sentinel"
    assert parsed["sentinel auth-pass taskstack"] == "pw"
    assert parsed["sentinel down-after-milliseconds taskstack"] == "5000"
    assert parsed["sentinel current-epoch"] == "3"


@pytest.mark.parametrize("text", [None, "", "# only a comment\n\n"])
def test_sentinel_conf_parse_empty(text):
    assert redis.sentinel_conf_parse(text) == {}


def test_redis_urls_one_per_endpoint_joined_as_celery_reads_them():
    assert redis.redis_urls(["a:26379", "b:26379"], "sentinel", "celery", "p%2F", 0) == (
        "sentinel://celery:p%2F@a:26379/0;sentinel://celery:p%2F@b:26379/0")
    assert redis.redis_urls("127.0.0.1:6379", "redis", "app", "x", 3) == "redis://app:x@127.0.0.1:6379/3"


def test_redis_urls_refuses_no_endpoint():
    with pytest.raises(ValueError):
        redis.redis_urls([], "redis", "u", "p", 0)


@pytest.mark.parametrize("pattern, text, expected", [
    ("*", "__sentinel__:hello", True),
    ("__sentinel__:*", "__sentinel__:hello", True),
    ("_*", "__sentinel__:hello", True),
    ("/0.*", "__sentinel__:hello", False),
    ("celery-task-meta-*", "__sentinel__:hello", False),
    ("/0.celeryev/*", "/0.celeryev/worker.heartbeat", True),
])
def test_redis_glob_matches(pattern, text, expected):
    assert redis.redis_glob_matches(pattern, text) is expected


def test_host_addresses_prefers_ansible_host():
    hostvars = {"r1": {"ansible_host": "10.0.0.1"}, "r2": {}}
    assert redis.host_addresses(["r1", "r2", "r3"], hostvars) == ["10.0.0.1", "r2", "r3"]


def test_scrape_targets_use_loopback_for_the_monitoring_host_itself():
    hostvars = {"r1": {"ansible_host": "10.0.0.1"}, "mon": {"ansible_host": "10.0.0.9"}, "w1": {}}
    assert redis.scrape_targets(["r1", "mon", "w1"], hostvars, "9100", local_host="mon") == [
        {"host": "r1", "address": "10.0.0.1:9100"},
        {"host": "mon", "address": "127.0.0.1:9100"},
        {"host": "w1", "address": "w1:9100"},
    ]
    assert redis.scrape_targets([], hostvars, 9100) == []


@pytest.mark.parametrize("text, expected", [
    ("celery", "celery"),
    ("reports.*", "reports.\\*"),
    ("a?[b]\\c", "a\\?\\[b\\]\\\\c"),
])
def test_redis_glob_escape(text, expected):
    assert redis.redis_glob_escape(text) == expected


def test_celery_queue_keys_cover_each_queue_and_its_priority_lists_only():
    patterns = redis.celery_queue_keys(["celery", "sql_lab"], "%R~")
    assert patterns == ["%R~celery", "%R~celery\x06\x16*", "%R~sql_lab", "%R~sql_lab\x06\x16*"]
    globs = [p[len("%R~"):] for p in patterns]
    # kombu's names for the lists of priority 3, 6 and 9, and names that are another consumer's.
    for key in ["celery", "celery\x06\x163", "celery\x06\x169", "sql_lab\x06\x166"]:
        assert any(redis.redis_glob_matches(g, key) for g in globs), key
    for key in ["celery-task-meta-1", "celeryev.1", "superset_x", "sql_lab_results"]:
        assert not any(redis.redis_glob_matches(g, key) for g in globs), key
    assert redis.celery_queue_keys([]) == []


def test_celery_queue_keys_refuses_an_unknown_access():
    with pytest.raises(ValueError, match="access"):
        redis.celery_queue_keys(["celery"], "+@all")


# What a failed no_log task says ------------------------------------------------------------------------------

failure = load(ROOT / "plugins/filter/failure.py")
SECRET = "k/9+Zq==Aq7Rr3Tt"  # what `openssl rand -base64` gives: / + = included


def test_redact_masks_each_secret_raw_and_url_quoted_and_every_url_password():
    text = (f"key {SECRET} in redis://app:{SECRET.replace('/', '%2F').replace('+', '%2B').replace('=', '%3D')}"
            "@h:6379/0 and postgresql+psycopg2://superset:other-password@db/superset")
    masked = failure.redact(text, [SECRET, "", None])
    assert SECRET not in masked and "other-password" not in masked and "%2B" not in masked, masked
    assert masked == ("key ******** in redis://app:********@h:6379/0 and "
                      "postgresql+psycopg2://superset:********@db/superset")
    assert failure.redact("nothing secret here", []) == "nothing secret here"


def test_failure_text_gives_the_tools_error_line_and_exit_code_without_secrets():
    result = {"rc": 1, "msg": "non-zero return code", "stderr": f"Traceback ... {SECRET}",
              "stdout": f"noise\n{{\"error\": \"database 'analytics' cannot be decrypted ({SECRET})\"}}"}
    assert failure.failure_text(result, [SECRET]) == \
        "exit code 1: database 'analytics' cannot be decrypted (********)"


def test_failure_text_gives_the_last_lines_of_stderr_and_a_validators_message():
    result = {"rc": 1, "msg": "failed to validate", "stdout": "",
              "stderr": "\n".join(f"line {n}" for n in range(10)) + f"\nSyntaxError: BROKER = {SECRET!r}"}
    text = failure.failure_text(result, [SECRET], lines=3)
    assert text == "exit code 1: line 8 | line 9 | SyntaxError: BROKER = '********'", text
    assert failure.failure_text({"msg": "Could not find the requested service x"}) == \
        "Could not find the requested service x"
    assert failure.failure_text({"rc": 3, "msg": "non-zero return code"}) == "exit code 3: non-zero return code"
