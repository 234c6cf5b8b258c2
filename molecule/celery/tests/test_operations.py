"""Day-to-day operations on the worker hosts: rolling restart and the status report."""

import time

from stacktest import REPO, journal, run_playbook

testinfra_hosts = ["debian12"]

UNIT = "celery-worker@general.service"


def _main_pid(host):
    return host.run(f"systemctl show -p MainPID --value {UNIT}").stdout.strip()


def test_rolling_restart_drains_then_restarts_each_host(host, celery):
    sent = celery.call("sleep", 8, queue="general", wait=False)
    time.sleep(1.5)
    before = _main_pid(host)
    started = time.monotonic()
    run = run_playbook(REPO / "playbooks" / "rolling_restart.yml", timeout=300)
    elapsed = time.monotonic() - started
    print(f"\nrolling restart of 2 hosts with an 8 s task running on one: {elapsed:.1f} s")
    assert run.rc == 0, run.output[-3000:]
    assert set(run.recap) == {"debian12", "debian13"}, run.recap
    assert all(r["failed"] == 0 for r in run.recap.values()), run.recap
    # serial: 1, one host after the other
    order = [line for line in run.output.splitlines() if line.startswith("PLAY [")]
    assert len(order) == 2, order
    reply = celery.result(sent["id"], timeout=60)
    assert reply["state"] == "SUCCESS" and reply["result"]["slept"] == 8, reply
    assert elapsed >= 6, "the restart did not wait for the running task"
    assert _main_pid(host) != before, journal(host, UNIT)
    assert host.run("celery-worker-health").rc == 0
    # consuming again after the restart
    assert celery.call("add", 1, 2, queue="general", timeout=30)["result"]["value"] == 3


def test_status_reports_pools_queues_and_is_read_only(host):
    for args in ((), ("--check",)):
        run = run_playbook(REPO / "playbooks" / "status.yml", *args)
        assert run.rc == 0, run.output[-3000:]
        assert all(r["changed"] == 0 for r in run.recap.values()), run.recap
        for pool in ("general", "limits", "io"):
            assert f"celery-worker@{pool}.service: running" in run.output, run.output[-3000:]
            assert f"pool {pool} ({pool}@" in run.output
        for queue in ("celery", "general", "limits", "io"):
            assert f"'{queue}': " in run.output or f'"{queue}": ' in run.output or f"{queue}: " in run.output
