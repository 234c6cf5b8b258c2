"""The worker pools as operators and applications rely on them: units, queues, limits, recycling, shutdown."""

import json
import time
import uuid

import pytest

from conftest import POOLS
from stacktest import assert_sandbox_score, assert_service_up, journal, redis_acl_denials

testinfra_hosts = ["debian12", "debian13"]


@pytest.mark.parametrize("pool", POOLS)
def test_every_pool_unit_is_enabled_and_running(host, pool):
    assert_service_up(host, f"celery-worker@{pool}.service")


def test_the_target_groups_the_pools(host):
    target = host.service("celery-workers.target")
    assert target.is_enabled and target.is_running
    wants = host.run("systemctl show -p Wants --value celery-workers.target").stdout.split()
    assert sorted(wants) == sorted(f"celery-worker@{pool}.service" for pool in POOLS)


def test_pools_start_after_the_local_redis(host):
    for pool in POOLS:
        after = host.run(f"systemctl show -p After --value celery-worker@{pool}.service").stdout.split()
        assert "redis-server.service" in after, after
        assert "network-online.target" in after, after


def test_each_node_consumes_exactly_its_queues(celery, node_host):
    out = celery.celery("inspect", "active_queues", "--json", "--timeout", "10")
    assert out.rc == 0, out.stdout + out.stderr
    answers = json.loads(out.stdout.strip().splitlines()[-1])
    for pool, queues in POOLS.items():
        node = f"{pool}@{node_host}"
        assert node in answers, f"{node} did not answer: {answers.keys()}"
        assert sorted(q["name"] for q in answers[node]) == sorted(queues)


@pytest.mark.parametrize("queue,pool", [("celery", "general"), ("general", "general"), ("limits", "limits"),
                                        ("io", "io")])
def test_round_trip_on_every_queue(celery, node_host, queue, pool):
    reply = celery.call("add", 2, 3, queue=queue, timeout=30)
    assert reply["state"] == "SUCCESS", reply
    assert reply["result"]["value"] == 5
    assert reply["result"]["node"] == f"{pool}@{node_host}"


def test_health_check_reports_every_pool_and_a_dead_one(host, node_host):
    ok = host.run("celery-worker-health")
    assert ok.rc == 0, ok.stdout + ok.stderr
    for pool in POOLS:
        assert f"pool {pool} ({pool}@{node_host}): pong" in ok.stdout
    host.run("systemctl stop celery-worker@io.service")
    try:
        bad = host.run("celery-worker-health")
        assert bad.rc != 0
        assert f"pool io (io@{node_host}): NO ANSWER" in bad.stdout
    finally:
        host.run("systemctl start celery-worker@io.service")
    deadline = time.monotonic() + 60
    while host.run("celery-worker-health io").rc != 0 and time.monotonic() < deadline:
        time.sleep(1)
    assert host.run("celery-worker-health io").rc == 0


def test_max_tasks_per_child_replaces_children(celery):
    pids = [celery.call("child_pid", queue="general")["result"]["pid"] for _ in range(8)]
    # Two children, three tasks each before replacement: eight tasks need at least three processes.
    assert len(set(pids)) >= 3, pids


def test_max_memory_per_child_replaces_the_child_after_its_task(celery):
    first = celery.call("child_pid", queue="limits")["result"]["pid"]
    assert celery.call("child_pid", queue="limits")["result"]["pid"] == first, "recycled without a reason"
    grown = celery.call("allocate", 150, queue="limits")
    assert grown["state"] == "SUCCESS", grown
    assert grown["result"]["pid"] == first
    after = celery.call("child_pid", queue="limits")["result"]["pid"]
    assert after != first, "the child that passed max-memory-per-child was not replaced"


def test_soft_time_limit_is_seen_by_the_task(celery):
    reply = celery.call("soft_limit_probe", 10, queue="limits", timeout=30)
    assert reply["state"] == "SUCCESS", reply
    assert reply["result"]["outcome"] == "soft-time-limit-exceeded"


def test_hard_time_limit_kills_the_child(celery):
    before = celery.call("child_pid", queue="limits")["result"]["pid"]
    reply = celery.call("stubborn_sleep", 20, queue="limits", timeout=40)
    assert reply["state"] == "FAILURE", reply
    assert reply["result"]["exception"] == "TimeLimitExceeded", reply
    assert celery.call("child_pid", queue="limits")["result"]["pid"] != before


def test_warm_shutdown_lets_a_running_task_finish(host, celery, node_host):
    sent = celery.call("sleep", 10, queue="general", wait=False)
    time.sleep(2)
    restart = host.run("systemctl restart celery-worker@general.service")
    assert restart.rc == 0, restart.stderr
    reply = celery.result(sent["id"], timeout=60)
    assert reply["state"] == "SUCCESS", f"{reply}\n{journal(host, 'celery-worker@general.service')}"
    assert reply["result"]["slept"] == 10
    deadline = time.monotonic() + 60
    while host.run("celery-worker-health general").rc != 0 and time.monotonic() < deadline:
        time.sleep(1)
    assert host.run("celery-worker-health general").rc == 0, "the pool did not come back"


def test_a_task_whose_child_is_killed_is_delivered_again(host, celery):
    marker = uuid.uuid4().hex
    sent = celery.call("slow_once", marker, 30, queue="general", wait=False)
    deadline = time.monotonic() + 30
    pid = ""
    while not pid and time.monotonic() < deadline:
        pid = host.run(f"redis-admin-cli -n 1 GET testapp:pid:{marker}").stdout.strip()
        time.sleep(0.3)
    assert pid, "the task never started"
    assert host.run(f"kill -9 {pid}").rc == 0
    reply = celery.result(sent["id"], timeout=60)
    assert reply["state"] == "SUCCESS", reply
    assert reply["result"]["attempt"] == 2, reply
    assert str(reply["result"]["pid"]) != pid


def test_logs_go_to_the_journal_with_the_pool_identifier(host, node_host):
    assert f"limits@{node_host} ready" in host.run("journalctl -t celery-worker-limits --no-pager").stdout


def test_pools_with_logfile_write_per_process_files(host, node_host):
    files = host.run("ls /var/log/celery-worker").stdout.split()
    assert any(name.startswith("general") for name in files), files
    assert f"general@{node_host} ready" in host.run("cat /var/log/celery-worker/*.log").stdout
    assert host.file("/etc/logrotate.d/celery-worker").exists
    assert host.run("logrotate --debug /etc/logrotate.d/celery-worker").rc == 0


def test_environment_file_is_private(host):
    env = host.file("/etc/celery/worker.env")
    assert (env.user, env.group, env.mode) == ("root", "celery", 0o640)
    ps = host.run("ps -eo args").stdout
    assert "redis://" not in ps, "a broker URL (with its password) is visible in the process list"


@pytest.mark.parametrize("pool", POOLS)
def test_unit_sandbox_score(host, pool):
    assert_sandbox_score(host, f"celery-worker@{pool}.service")


def test_canvas_runs_with_the_logins_own_keys_only(host, celery):
    """Each Redis login reaches only its own keys (group_vars/all/redis.yml): the workers' chains, groups and
    chords, the mailboxes and Flower's event receiver still work, and Redis refuses none of it."""
    host.run("redis-admin-cli ACL LOG RESET")
    results = celery._run("--canvas --timeout 60")
    assert results == {"chain": 10, "group": [2 * i for i in range(10)], "chord": 55}, results
    replies = celery.celery("inspect", "ping", "--timeout", "10")
    assert replies.rc == 0 and "pong" in replies.stdout, replies.stdout + replies.stderr
    denied = redis_acl_denials(host, users=("celery", "flower", "app"))
    assert denied == [], f"Redis refused a consumer what its work needs: {denied}"
