"""Flower: a login required, its API and metrics working on real workers and tasks, state kept."""

import json
import time

import pytest

from conftest import FLOWER as BASE
from stacktest import (REPO, assert_refused, assert_sandbox_score, assert_service_up,
                       http_get)

testinfra_hosts = ["debian12", "debian13"]


def test_flower_is_enabled_and_running(host):
    assert_service_up(host, "flower.service")


def test_listens_on_loopback_only(host):
    listeners = [line.split()[3] for line in host.run("ss -ltnH").stdout.splitlines() if ":5555" in line]
    assert listeners == ["127.0.0.1:5555"], listeners


@pytest.mark.parametrize("path", ["/", "/api/workers", "/api/tasks", "/tasks", "/broker"])
def test_anonymous_and_wrong_password_get_401(host, path):
    assert http_get(host, BASE + path)[0] == 401
    assert http_get(host, BASE + path, "operator", "wrong-password-123")[0] == 401


def test_metrics_have_no_login_so_flower_stays_on_loopback(host):
    """Flower 2.2 serves /metrics without a login (for Prometheus): the role keeps it on loopback unless told."""
    assert http_get(host, BASE + "/metrics")[0] == 200


def test_healthcheck(host):
    status, body = http_get(host, BASE + "/healthcheck")
    assert status == 200 and "OK" in body


def test_api_lists_every_pool(host, login):
    nodes = {f"{pool}@{host.run('uname -n').stdout.strip()}" for pool in ("general", "quiet")}
    deadline = time.monotonic() + 60
    while True:
        status, body = http_get(host, BASE + "/api/workers?refresh=1", *login, timeout=20)
        assert status == 200, body
        if nodes <= set(json.loads(body)) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert nodes <= set(json.loads(body)), body[:500]


def test_a_pool_without_task_events_stays_without_them(host, celery, login):
    """Flower's own default turns task events on in every worker every 5 s; the role turns that off, so the
    quiet pool (task_events: false, up since long before this test) runs tasks that Flower only knows were
    sent (the client's task-sent event), while it sees the general pool's tasks succeed."""
    quiet = celery.call("add", 1, 2, queue="quiet", timeout=30)
    loud = celery.call("add", 2, 3, timeout=30)
    assert quiet["state"] == loud["state"] == "SUCCESS", (quiet, loud)
    deadline = time.monotonic() + 30
    while True:
        status, body = http_get(host, BASE + "/api/tasks", *login, timeout=20)
        assert status == 200, body[:500]
        tasks = json.loads(body)
        if tasks.get(loud["id"], {}).get("state") == "SUCCESS" or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert tasks.get(loud["id"], {}).get("state") == "SUCCESS", tasks.get(loud["id"])
    seen = tasks.get(quiet["id"], {})
    assert seen.get("state") in (None, "PENDING") and not seen.get("worker"), \
        f"Flower turned task events on in the quiet pool: {seen}"
    banner = host.run("journalctl -u celery-worker@quiet --no-pager -o cat | grep 'task events'").stdout
    assert "task events: OFF" in banner, banner


def test_metrics_count_tasks_that_ran(host, celery, login):
    for i in range(3):
        assert celery.call("add", i, i, timeout=30)["state"] == "SUCCESS"
    deadline = time.monotonic() + 30
    while True:
        status, body = http_get(host, BASE + "/metrics", *login)
        assert status == 200
        succeeded = [l for l in body.splitlines()
                     if l.startswith("flower_events_total") and 'type="task-succeeded"' in l]
        if succeeded and sum(float(l.split()[-1]) for l in succeeded) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert succeeded and sum(float(l.split()[-1]) for l in succeeded) >= 3, succeeded


def test_state_is_persistent(host):
    assert host.run("systemctl restart flower.service").rc == 0
    assert host.file("/var/lib/flower").user == "flower"
    files = host.run("ls /var/lib/flower").stdout.split()
    assert any(name.startswith("flower.db") for name in files), files


def test_secrets_are_private(host, login):
    for path in ("/etc/flower/flowerconfig.py", "/etc/flower/flower.env"):
        f = host.file(path)
        assert (f.user, f.group, f.mode) == ("root", "flower", 0o640), path
    assert login[1] not in host.run("ps -eo args").stdout


def test_unit_sandbox_score(host):
    assert_sandbox_score(host, "flower.service")


PLAYBOOK = REPO / "playbooks" / "flower.yml"
BAD = [
    ({"celery_flower_basic_auth_users": [{"username": "admin", "password": "admin"}]}, "celery_flower_basic_auth_users"),
    ({"celery_flower_basic_auth_users": [{"username": "guest", "password": "guest"}]}, "celery_flower_basic_auth_users"),
    ({"celery_flower_basic_auth_users": [{"username": "ops", "password": "short"}]}, "celery_flower_basic_auth_users"),
    ({"celery_flower_basic_auth_users": [{"username": "adminadminadmin", "password": "adminadminadmin"}]},
     "celery_flower_basic_auth_users"),
    ({"celery_flower_basic_auth_users": []}, "celery_flower_basic_auth_users"),
    ({"celery_flower_auth": "none"}, "celery_flower_auth"),
    ({"celery_flower_auth": "oauth"}, "celery_flower_oauth_provider"),
    ({"celery_flower_cookie_secret": "tooshort"}, "celery_flower_cookie_secret"),
    ({"celery_flower_address": "0.0.0.0"}, "celery_flower_allow_remote_unauthenticated_metrics"),
]


@pytest.mark.parametrize("extra_vars,variable", BAD, ids=[str(v) for v, _ in BAD])
def test_bad_input_is_refused_before_any_change(host, extra_vars, variable):
    if host.backend.host != "debian12":
        pytest.skip("one host runs the playbook")
    assert_refused(PLAYBOOK, host, extra_vars, variable, "/etc/flower/* /etc/systemd/system/flower.service",
                   ("flower.service",), limit="debian12")
