"""Faults on the single node, each counted and printed: a worker child killed mid-task, Redis restarted and
killed with tasks queued, and the whole host rebooted. The promise each time: no queued or running task is
lost, and the services come back by themselves. Traffic stays inside the test container (loopback)."""

import json
import re
import shlex
import subprocess
import time

import pytest
from stacktest import SupersetProbe, TaskClient, assert_service_up, docker, journal, secret, wait_for

testinfra_hosts = ["single-node"]

CONTAINER = "single-node"
WORKER = "celery-worker@default.service"
PYTHON = "/opt/superset/venv/bin/python"
UNITS = ("redis-server.service", "postgresql@15-main.service", "superset-web.service", WORKER,
         "celery-beat.service", "flower.service")


@pytest.fixture(scope="module")
def node(host):
    """The host with a persistent journal, so that logs survive the reboot test."""
    out = host.run("mkdir -p /var/log/journal && systemd-tmpfiles --create --prefix /var/log/journal "
                   "&& journalctl --flush")
    assert out.rc == 0, out.stderr
    return host


@pytest.fixture(scope="module")
def client(node):
    return TaskClient(node)


def queued(host) -> int:
    return int(host.run("redis-admin-cli -n 0 LLEN celery").stdout.strip())


def main_pid(host, unit: str) -> str:
    return host.run(f"systemctl show -p MainPID --value {unit}").stdout.strip()


def test_worker_child_killed_mid_task_loses_none_of_100_queries(node):
    """100 SQL Lab queries (about 0.4 s each; Superset refuses pg_sleep) through the pool; SIGKILL a busy
    child three times."""
    SupersetProbe(node)  # installs the probe
    since = node.run("date '+%Y-%m-%d %H:%M:%S'").stdout.strip()
    probe = (f"SUPERSET_PROBE_USER=admin SUPERSET_PROBE_PASSWORD={shlex.quote(secret('superset_admin_password'))} "
             f"{PYTHON} /usr/local/bin/superset_probe.py http://127.0.0.1:8088 sqllab-batch analytics 100 "
             "'SELECT {i} AS n, count(*) AS numbers FROM generate_series(1, 5000000)' "
             "> /var/tmp/batch.json 2> /var/tmp/batch.err")
    node.run("rm -f /var/tmp/batch.json")
    assert node.run(f"setsid -f sh -c {shlex.quote(probe)}").rc == 0
    master = main_pid(node, WORKER)
    wait_for(lambda: node.run(f"journalctl -u {WORKER} --since {shlex.quote(since)} -o cat "
                              "-g 'sql_lab.get_sql_results.*received'").stdout.count("received") >= 4,
             60, "the first SQL Lab tasks")
    kills = 0
    for _ in range(3):
        children = node.run(f"pgrep -P {master}").stdout.split()
        assert children, f"no pool children under {master}"
        assert node.run(f"kill -KILL {children[0]}").rc == 0
        kills += 1
        time.sleep(2.5)
    wait_for(lambda: node.run("cat /var/tmp/batch.json").stdout.strip(), 300, "the batch of queries", step=2)
    answer = json.loads(node.run("cat /var/tmp/batch.json").stdout)
    log = node.run(f"journalctl -u {WORKER} --since {shlex.quote(since)} -o cat --no-pager").stdout
    interrupted = set(re.findall(r"Worker exited prematurely: signal 9 \(SIGKILL\) Job: (\d+)", log))
    print(f"\nworker SIGKILL mid-task: {kills} pool children killed, {len(interrupted)} tasks interrupted and "
          f"redelivered; 100 queries: {answer}")
    assert answer["states"] == {"success": 100} and answer["unfinished"] == 0, \
        f"{answer}\n{node.run('cat /var/tmp/batch.err').stdout[-2000:]}\n{journal(node, WORKER, 80)}"
    assert interrupted, f"no task was running when the children were killed:\n{log[-3000:]}"
    assert main_pid(node, WORKER) == master, "the pool's main process died; only children were to be killed"


def test_redis_restart_with_1000_tasks_queued_runs_all_1000(node, client):
    node.run(f"systemctl stop {WORKER}")
    try:
        sent = client("send", "1000", "/var/tmp/restart.json")
        before = queued(node)
        restart = node.run("systemctl restart redis-server.service")
        assert restart.rc == 0, restart.stderr
        after = queued(node)
    finally:
        node.run(f"systemctl start {WORKER}")
    got = client("collect", "/var/tmp/restart.json", "180")
    print(f"\nRedis restart: {sent['sent']} sent, queue {before} before and {after} after the restart; {got}")
    assert before >= 1000 and after >= 1000
    assert got["ran"] == 1000, got


def test_redis_killed_runs_every_task_queued_a_second_earlier(node, client):
    node.run(f"systemctl stop {WORKER}")
    try:
        sent = client("send", "500", "/var/tmp/killed.json")
        time.sleep(1.5)  # appendfsync everysec: what was queued more than a second ago is on disk
        pid = main_pid(node, "redis-server.service")
        assert node.run("systemctl kill --signal=SIGKILL redis-server.service").rc == 0
        started = time.monotonic()
        wait_for(lambda: main_pid(node, "redis-server.service") not in ("0", pid)
                 and node.run("redis-admin-cli PING").stdout.strip() == "PONG", 30, "systemd to restart Redis")
        back = time.monotonic() - started
        after = queued(node)
    finally:
        node.run(f"systemctl start {WORKER}")
    got = client("collect", "/var/tmp/killed.json", "180")
    print(f"\nredis-server SIGKILL: {sent['sent']} queued 1.5 s before, Redis back in {back:.1f} s with "
          f"{after} queued; {got}")
    assert after >= 500
    assert got["ran"] == 500, got


def _beat_sends(host) -> list[float]:
    out = host.run("journalctl -u celery-beat.service -o short-unix --no-pager "
                   "-g 'Sending due task reports.scheduler'").stdout
    return [float(line.split()[0]) for line in out.splitlines() if line[:1].isdigit()]


def test_host_reboot_brings_back_every_unit_the_queue_and_one_beat(node, client):
    node.run(f"systemctl stop {WORKER}")
    sent = client("send", "100", "/var/tmp/reboot.json")
    held = queued(node)
    # Reboot right after beat sent its every-minute task: the moment a beat that lost its schedule or ran
    # twice would send it again.
    sends = _beat_sends(node)
    wait_for(lambda: len(_beat_sends(node)) > len(sends), 75, "beat's next run", step=1)
    at_reboot = len(_beat_sends(node))
    started = time.monotonic()
    subprocess.run(["docker", "exec", CONTAINER, "systemctl", "reboot"], capture_output=True, timeout=60,
                   check=False)
    wait_for(lambda: docker("inspect", "-f", "{{.State.Running}}", CONTAINER) == "false", 120,
             "the container to stop", step=1)
    docker("start", CONTAINER)
    wait_for(lambda: node.run("systemctl is-system-running --wait").stdout.strip() in ("running", "degraded"),
             180, "systemd to boot", step=2)
    boot_s = time.monotonic() - started
    # PID 1 is younger than the reboot command: systemd really started again (etimes is whole seconds).
    pid1_age = int(node.run("ps -o etimes= -p 1").stdout.strip())
    since_reboot = time.monotonic() - started
    for unit in UNITS:
        assert_service_up(node, unit)
    got = client("collect", "/var/tmp/reboot.json", "180")
    wait_for(lambda: len(_beat_sends(node)) > at_reboot, 90, "beat's first run after the reboot", step=2)
    times = _beat_sends(node)
    gaps = [round(b - a, 1) for a, b in zip(times, times[1:])]
    failed_units = node.run("systemctl --failed --no-legend --plain").stdout.strip()
    print(f"\nreboot: back in {boot_s:.0f} s, {sent['sent']} tasks held in the queue ({held}), {got}; "
          f"beat reports.scheduler gaps (s): {gaps[-4:]}; failed units: {failed_units or 'none'}")
    assert pid1_age <= since_reboot + 1, f"PID 1 is {pid1_age} s old, the reboot was {since_reboot:.0f} s ago"
    assert got["ran"] == 100, got
    assert min(gaps) >= 50, f"beat sent reports.scheduler twice within a minute: gaps {gaps}"
