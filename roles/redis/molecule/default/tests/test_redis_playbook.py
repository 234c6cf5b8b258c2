"""The role as a sysadmin runs it: bad input is refused before any change, AOF is switched on without
losing data, a live-settable change does not restart Redis, and check mode reports nothing on a converged host."""

import time

import pytest

from conftest import CONVERGE
from stacktest import assert_check_mode_clean, assert_names_variable, run_playbook

testinfra_hosts = ["redis-debian12"]

UNIT = "redis-server"


def _snapshot(host):
    """What a failed run must leave untouched: managed files, the unit, the running process."""
    files = host.run("md5sum /etc/redis/* /etc/systemd/system/redis-server.service.d/* /usr/local/sbin/redis-admin-cli")
    pid = host.run(f"systemctl show -p MainPID --value {UNIT}").stdout.strip()
    return files.stdout, pid


BAD_INPUTS = [
    ({"redis_appendfsync": "sometimes"}, "redis_appendfsync"),
    ({"redis_maxmemory_policy": "evict-everything"}, "redis_maxmemory_policy"),
    ({"redis_admin_password": "foobared"}, "redis_admin_password"),
    ({"redis_admin_password": "short-Pa55"}, "redis_admin_password"),
    ({"redis_default_user_password": "password"}, "redis_default_user_password"),
    ({"redis_acl_users": [{"name": "celery"}]}, "redis_acl_users"),
    ({"redis_acl_users": [{"name": "celery", "password": "redis"}]}, "redis_acl_users"),
    ({"redis_acl_users": [{"name": "celery", "password": ""}]}, "redis_acl_users"),
    ({"redis_tls_enabled": True}, "redis_tls_cert_file"),
    ({"redis_port": 70000}, "redis_port"),
    ({"redis_port": 0}, "redis_port"),
    ({"redis_db_layout": {"broker": 0, "results": 16}}, "redis_db_layout"),
    ({"redis_databases": 4}, "redis_db_layout"),
    ({"redis_maxmemory": "lots"}, "redis_maxmemory"),
    ({"redis_maxmemory": "150%"}, "redis_maxmemory"),
]


@pytest.mark.parametrize("extra_vars,variable", BAD_INPUTS, ids=[str(v[0]) for v in BAD_INPUTS])
def test_bad_input_is_refused_before_any_change(host, extra_vars, variable):
    before = _snapshot(host)
    run = run_playbook(CONVERGE, "--limit", "redis-debian12", extra_vars=extra_vars)
    assert run.rc != 0, f"{extra_vars} was accepted:\n{run.output[-3000:]}"
    assert_names_variable(run, variable)
    assert run.recap["redis-debian12"]["changed"] == 0, run.recap
    assert _snapshot(host) == before, "the host changed although the input was refused"
    for password in ("foobared", "short-Pa55"):
        if password in str(extra_vars):
            assert password not in run.output.replace(str(extra_vars), ""), "a password was printed"


def _live(admin, name):
    return admin("CONFIG", "GET", name).split("\n")[1]


def _pid(host):
    return host.run(f"systemctl show -p MainPID --value {UNIT}").stdout.strip()


def test_live_settable_change_does_not_restart(host, admin):
    pid = _pid(host)
    run = run_playbook(CONVERGE, "--limit", "redis-debian12", extra_vars={"redis_maxmemory": "300mb"})
    assert run.rc == 0, run.output[-3000:]
    assert _live(admin, "maxmemory") == str(300 * 1024 * 1024)
    assert _pid(host) == pid, "Redis was restarted for a setting CONFIG SET applies live"

    run = run_playbook(CONVERGE, "--limit", "redis-debian12", extra_vars={"redis_databases": 24})
    assert run.rc == 0, run.output[-3000:]
    assert _live(admin, "databases") == "24"
    assert _pid(host) != pid, "databases only takes effect after a restart"

    run = run_playbook(CONVERGE, "--limit", "redis-debian12")
    assert run.rc == 0, run.output[-3000:]
    assert _live(admin, "databases") == "16"


def test_switching_aof_on_keeps_the_data(host, admin):
    run = run_playbook(CONVERGE, "--limit", "redis-debian12", extra_vars={"redis_appendonly": False})
    assert run.rc == 0, run.output[-3000:]
    assert _live(admin, "appendonly") == "no"
    # Data written while only RDB protects it, then a restart: the state a sysadmin starts from.
    db = 10
    admin("FLUSHDB", db=db)
    admin.run("--pipe", db=db, stdin="".join(f"SET aof:{i} {i}\n" for i in range(1000)))
    assert admin("DBSIZE", db=db) == "1000"
    assert admin("SAVE") == "OK"
    host.run(f"systemctl restart {UNIT}")
    time.sleep(1)
    assert admin("DBSIZE", db=db) == "1000"

    run = run_playbook(CONVERGE, "--limit", "redis-debian12")
    assert run.rc == 0, run.output[-3000:]
    assert "Enable AOF on the running server" in run.output
    assert _live(admin, "appendonly") == "yes"
    assert admin("DBSIZE", db=db) == "1000"
    # The proof: Redis now starts from the AOF, and the data set is in it.
    host.run(f"systemctl restart {UNIT}")
    deadline = time.monotonic() + 30
    while admin("PING") != "PONG" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert admin("DBSIZE", db=db) == "1000"
    assert host.file("/var/lib/redis/appendonlydir").is_directory
    admin("FLUSHDB", db=db)


def test_check_mode_on_a_converged_host_changes_nothing():
    assert_check_mode_clean(CONVERGE, ["redis-debian12", "redis-debian13"])
