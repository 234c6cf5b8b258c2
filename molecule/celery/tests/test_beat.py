"""Celery beat: one scheduler, firing on time, without duplicates after a restart; a second one refused."""

import time

import pytest

from stacktest import (REPO, assert_refused, assert_sandbox_score, assert_service_up,
                       journal)

testinfra_hosts = ["debian12", "debian13"]


def _ticks(host):
    out = host.run("redis-admin-cli -n 1 LRANGE testapp:ticks 0 -1").stdout.split()
    return [float(t) for t in out]


def _gaps(ticks):
    return [round(b - a, 2) for a, b in zip(ticks, ticks[1:])]


def test_beat_unit_is_enabled_and_running(host):
    assert_service_up(host, "celery-beat.service")


def test_schedule_is_persistent_under_var_lib(host):
    files = host.run("ls /var/lib/celery-beat").stdout.split()
    assert any(name.startswith("schedule") for name in files), files
    assert host.file("/var/lib/celery-beat").user == "celery"


def test_periodic_task_fires_and_a_restart_does_not_repeat_it(host):
    host.run("redis-admin-cli -n 1 DEL testapp:ticks")
    time.sleep(16)
    ticks = _ticks(host)
    assert len(ticks) >= 2, f"beat fired {len(ticks)} times in 16 s:\n{journal(host, 'celery-beat.service')}"
    assert all(gap >= 4.0 for gap in _gaps(ticks)), _gaps(ticks)

    assert host.run("systemctl restart celery-beat.service").rc == 0
    time.sleep(16)
    ticks = _ticks(host)
    gaps = _gaps(ticks)
    print(f"beat ticks on {host.backend.host} around a restart, gaps in s: {gaps}")
    assert len(ticks) >= 4, ticks
    assert all(gap >= 4.0 for gap in gaps), f"a duplicate run after the restart: gaps {gaps}"


def test_unit_sandbox_score(host):
    assert_sandbox_score(host, "celery-beat.service")


@pytest.mark.parametrize("extra_vars,variable", [
    ({"celery_beat_inventory_group": "celery_beat"}, "celery_beat_inventory_group"),
    ({"celery_beat_app": ""}, "celery_beat_app"),
    ({"celery_beat_loglevel": "LOUD"}, "celery_beat_loglevel"),
])
def test_bad_input_is_refused_before_any_change(host, extra_vars, variable):
    if host.backend.host != "debian12":
        pytest.skip("one host runs the playbook for both")
    assert_refused(REPO / "playbooks" / "celery_beat.yml", host, extra_vars, variable,
                   "/etc/celery/* /etc/systemd/system/celery-beat.service", ("celery-beat.service",))
