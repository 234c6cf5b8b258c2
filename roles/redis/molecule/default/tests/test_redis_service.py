"""The running Redis: reachable only where configured, locked down, persistent across restarts and crashes."""

import time

import pytest

from stacktest import assert_service_up

testinfra_hosts = ["redis-debian12", "redis-debian13"]

UNIT = "redis-server"
LAYOUT = {"broker": 0, "celery_results": 1, "app_results": 2, "cache": 3, "data_cache": 4, "async_stream": 5}


def test_service_enabled_and_running(host):
    assert_service_up(host, UNIT)


def test_listens_only_on_loopback(host):
    listeners = host.run("ss -ltnH").stdout.split("\n")
    redis_ports = [line.split()[3] for line in listeners if line.strip() and ":63" in line.split()[3]]
    loopbacks = ["127.0.0.1"] + (["[::1]"] if "::1" in host.run("ip -6 addr show dev lo").stdout else [])
    ports = [6379, 6380] if host.backend.host == "redis-debian13" else [6379]
    expected = {f"{address}:{port}" for address in loopbacks for port in ports}
    assert set(redis_ports) == expected, f"Redis listens on {redis_ports}"


def test_unauthenticated_clients_are_refused(anonymous):
    reply = anonymous.run("PING").stdout + anonymous.run("PING").stderr
    assert "NOAUTH" in reply
    assert "NOAUTH" in anonymous.run("SET", "x", "1").stdout
    assert "NOAUTH" in anonymous.run("KEYS", "*").stdout


def test_wrong_password_is_refused(host):
    from conftest import RedisClient

    reply = RedisClient(host, "celery", "not-the-password-at-all").run("PING")
    assert "WRONGPASS" in reply.stdout + reply.stderr
    assert "PONG" not in reply.stdout


def test_each_consumer_can_do_its_job(users):
    """Each login on its own keys (group_vars/all/redis.yml): Celery's queue, results and mailboxes, the
    application's cache and event stream, Flower's queue lengths and reply mailboxes."""
    celery, app, flower = users["celery"], users["app"], users["flower"]
    tag = time.time_ns()
    broker, results = LAYOUT["broker"], LAYOUT["celery_results"]
    assert celery("LPUSH", "celery", "task", db=broker) == "1"
    assert flower("LLEN", "celery", db=broker) == "1"
    assert celery("BRPOP", "celery", "1", db=broker).split() == ["celery", "task"]
    assert celery("SET", f"celery-task-meta-{tag}", "{}", "EX", "60", db=results) == "OK"
    assert celery("SADD", "_kombu.binding.celery", "celery", db=broker) == "1"
    assert celery("DEL", "_kombu.binding.celery", db=broker) == "1"
    for client in (celery, flower):
        mailbox = f"{tag}.reply.celery.pidbox"
        assert client("LPUSH", mailbox, "reply", db=broker) == "1"
        assert client("BRPOP", mailbox, "1", db=broker).split() == [mailbox, "reply"]
    assert app("SET", f"superset_{tag}", "42", "EX", "60", db=LAYOUT["cache"]) == "OK"
    assert app("GET", f"superset_{tag}", db=LAYOUT["cache"]) == "42"
    assert app("XADD", f"async-events-{tag}", "*", "data", "{}", db=LAYOUT["async_stream"]).count("-") == 1
    assert app("DEL", f"async-events-{tag}", db=LAYOUT["async_stream"]) == "1"
    for client in users.values():
        assert client("INFO", "server").startswith("# Server")


# What belongs to another consumer is refused: Flower cannot push or drop tasks, the application cannot read
# Celery's results or queue a task, Celery cannot read the application's cache, and no login has keys outside
# its patterns.
@pytest.mark.parametrize("name, command", [
    ("flower", ("LPUSH", "celery", "forged-task")),
    ("flower", ("DEL", "celery")),
    ("flower", ("SADD", "_kombu.binding.celery", "forged-binding")),
    ("flower", ("GET", "celery-task-meta-0a1b")),
    ("flower", ("SET", "superset_x", "1")),
    ("app", ("GET", "celery-task-meta-0a1b")),
    ("app", ("LPUSH", "celery", "forged-task")),
    ("app", ("LLEN", "celery")),
    ("celery", ("GET", "superset_x")),
    ("celery", ("XADD", "async-events-x", "*", "data", "{}")),
    ("celery", ("SET", "elsewhere", "1")),
    ("app", ("SET", "elsewhere", "1")),
])
def test_each_consumer_is_refused_the_keys_of_another(admin, users, name, command):
    reply = users[name].run(*command)
    assert "NOPERM" in reply.stdout + reply.stderr, f"{name} ran {command}: {reply.stdout} {reply.stderr}"
    dry_run = admin("ACL", "DRYRUN", name, *command)
    assert "no permissions" in dry_run, f"the ACL of {name} allows {command}: {dry_run}"


# Each consumer's pub/sub channels (group_vars/all/redis.yml): Celery's and Flower's event and broadcast
# topics; the application uses none; nobody may speak on Sentinel's channel.
@pytest.mark.parametrize("name, channel, allowed", [
    ("celery", "/0.celeryev/worker.heartbeat", True),
    ("celery", "/0.celery.pidbox", True),
    ("celery", "celery-task-meta-0a1b", True),
    ("flower", "/0.celery.pidbox", True),
    ("flower", "celery-task-meta-0a1b", False),
    ("app", "/0.celeryev/worker.heartbeat", False),
    ("celery", "__sentinel__:hello", False),
    ("flower", "__sentinel__:hello", False),
    ("app", "__sentinel__:hello", False),
])
def test_each_consumer_publishes_on_its_own_channels_only(users, name, channel, allowed):
    reply = users[name].run("PUBLISH", channel, "hello")
    if allowed:
        assert reply.stdout.strip() == "0", reply.stdout + reply.stderr
    else:
        assert "NOPERM" in reply.stdout + reply.stderr, reply.stdout + reply.stderr


@pytest.mark.parametrize("name", ["celery", "app", "flower"])
@pytest.mark.parametrize("command", [("FLUSHALL",), ("FLUSHDB",), ("CONFIG", "GET", "maxmemory"),
                                     ("DEBUG", "SLEEP", "0"), ("SHUTDOWN", "NOSAVE"), ("ACL", "LIST"),
                                     ("KEYS", "*"), ("MONITOR",), ("SCRIPT", "FLUSH"), ("FUNCTION", "FLUSH"),
                                     ("FUNCTION", "DELETE", "lib"), ("SCRIPT", "KILL")])
def test_consumers_are_refused_administrative_commands(admin, users, name, command):
    reply = users[name].run(*command).stdout
    # DEBUG is also switched off server-wide (enable-debug-command no), which answers before the ACL does.
    assert "NOPERM" in reply or "DEBUG command not allowed" in reply, f"{name} ran {command}: {reply}"
    # The ACL itself refuses it, whatever other switch is on.
    dry_run = admin("ACL", "DRYRUN", name, *command)
    assert "no permissions" in dry_run, f"the ACL of {name} allows {command}: {dry_run}"


def test_live_configuration(admin):
    live = admin("CONFIG", "GET", "appendonly", "appendfsync", "maxmemory-policy", "databases",
                 "aof-use-rdb-preamble", "protected-mode", "save").split("\n")
    live = dict(zip(live[0::2], live[1::2]))
    assert live == {
        "appendonly": "yes",
        "appendfsync": "everysec",
        "maxmemory-policy": "noeviction",
        "databases": "16",
        "aof-use-rdb-preamble": "yes",
        "protected-mode": "yes",
        "save": "3600 1 300 100 60 10000",
    }


def test_maxmemory_is_a_share_of_ram_or_absolute(host, admin):
    maxmemory = int(admin("CONFIG", "GET", "maxmemory").split("\n")[1])
    if host.backend.host == "redis-debian13":
        assert maxmemory == 256 * 1024 * 1024
    else:
        total = int(host.run("awk '/MemTotal/ {print $2}' /proc/meminfo").stdout) * 1024
        assert 0.24 * total < maxmemory <= 0.25 * total


def test_database_layout_comes_from_the_stack_contract(host):
    """group_vars/ at the top level is loaded (through plugins/vars/stack_contract.py) and reaches redis.conf."""
    conf = host.file("/etc/redis/redis.conf").content_string
    for name, number in LAYOUT.items():
        assert f"#   DB {number}: {name}\n" in conf


def test_secret_files_are_private(host):
    for path in ("/etc/redis/redis.conf", "/etc/redis/users.acl"):
        f = host.file(path)
        assert (f.user, f.group, f.mode) == ("root", "redis", 0o640), path
    env = host.file("/etc/redis/admin-cli.env")
    assert (env.user, env.group, env.mode) == ("root", "root", 0o600)
    acl = host.file("/etc/redis/users.acl").content_string
    assert ">" not in acl, "a plain-text password in the ACL file"
    assert "user default off" in acl


def test_redis_cannot_rewrite_its_own_configuration(admin):
    assert "ERR" in admin.run("CONFIG", "REWRITE").stdout
    assert "ERR" in admin.run("ACL", "SAVE").stdout


def test_kernel_tuning_is_skipped_in_containers(host):
    assert not host.file("/etc/sysctl.d/60-redis.conf").exists
    assert not host.file("/etc/tmpfiles.d/redis-thp.conf").exists


def test_tls_listener(host, users):
    if host.backend.host != "redis-debian13":
        pytest.skip("the TLS listener is configured on redis-debian13 only")
    from conftest import RedisClient

    client = RedisClient(host, "celery", users["celery"].password, port=6380, tls=True)
    assert client("PING") == "PONG"
    plain_on_tls = RedisClient(host, "celery", users["celery"].password, port=6380).run("PING")
    assert "PONG" not in plain_on_tls.stdout


def _main_pid(host):
    return int(host.run(f"systemctl show -p MainPID --value {UNIT}").stdout)


def _wait_for_pong(admin, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if admin("PING") == "PONG":
            return
        time.sleep(0.2)
    raise AssertionError("Redis did not come back")


def _write_keys(admin, db, prefix, count):
    commands = "".join(f"SET {prefix}:{i} {i}\n" for i in range(count))
    reply = admin.run("--pipe", db=db, stdin=commands)
    assert f"replies: {count}" in reply.stdout, reply.stdout + reply.stderr


def test_data_survives_restart_and_kill(host, admin):
    db = 9
    admin("FLUSHDB", db=db)
    _write_keys(admin, db, "restart", 1000)
    assert host.run(f"systemctl restart {UNIT}").rc == 0
    _wait_for_pong(admin)
    assert admin("DBSIZE", db=db) == "1000"

    _write_keys(admin, db, "crash", 500)
    time.sleep(2)  # appendfsync everysec: everything older than a second is on disk
    before = _main_pid(host)
    assert host.run(f"kill -9 {before}").rc == 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _main_pid(host) in (0, before):
        time.sleep(0.2)
    assert _main_pid(host) not in (0, before), "systemd did not restart Redis after SIGKILL"
    _wait_for_pong(admin)
    assert admin("DBSIZE", db=db) == "1500"
    admin("FLUSHDB", db=db)
