"""The Django site as its users and operators rely on it: a request queues a long job and answers at once, a
Celery worker (not gunicorn) runs it, the status endpoint follows it to the end; units up and sandboxed."""

import json
import re
import shlex

import pytest

from conftest import BASE, HOSTS
from stacktest import assert_sandbox_score, assert_service_up, http_get, journal

testinfra_hosts = HOSTS

WEB = "django-web.service"
WORKER = "celery-worker@default.service"


def _journals(host):
    return "\n".join(f"--- journal of {unit}\n{journal(host, unit)}" for unit in (WEB, WORKER))


def test_web_unit_is_enabled_running_and_sandboxed(host):
    assert_service_up(host, WEB)
    assert host.run(f"systemctl show -p Type --value {WEB}").stdout.strip() == "notify"
    assert_sandbox_score(host, WEB)


def test_gunicorn_listens_on_loopback_only(host):
    listeners = [line.split()[3] for line in host.run("ss -ltnH").stdout.splitlines() if ":8000" in line]
    assert listeners == ["127.0.0.1:8000"], listeners


def test_gunicorn_runs_as_the_site_user(host):
    pid = host.run(f"systemctl show -p MainPID --value {WEB}").stdout.strip()
    assert host.run(f"ps -o user= -p {pid}").stdout.strip() == "django"


def test_health_check_answers(host):
    status, body = http_get(host, f"{BASE}/healthz")
    assert status == 200, f"{status} {body}\n{_journals(host)}"
    assert json.loads(body) == {"status": "ok"}


def test_worker_and_beat_load_the_site_environment(host):
    for unit in (WORKER, "celery-beat.service"):
        assert_service_up(host, unit)
        files = host.run(f"systemctl show -p EnvironmentFiles --value {unit}").stdout
        assert "/etc/django/django.env" in files, f"{unit}: {files}"
        user = host.run(f"systemctl show -p User --value {unit}").stdout.strip()
        assert user == "django", f"{unit} runs as {user}"


def test_secrets_are_readable_by_root_and_the_site_only(host):
    for path in ("/etc/django/taskstack_settings.py", "/etc/django/django.env"):
        f = host.file(path)
        assert (f.user, f.group, f.mode) == ("root", "django", 0o640), (path, f.user, f.group, oct(f.mode))
    assert host.file("/etc/django").mode == 0o750
    assert not host.file("/etc/django/__pycache__").exists, "settings bytecode written next to the secrets"


def test_the_post_answers_at_once_while_the_job_takes_seconds(host, jobs_run):
    posts = jobs_run["posts"]
    times = [round(p["seconds"] * 1000, 1) for p in posts]
    print(f"POST /jobs/ on {host.backend.host}: {times} ms for 4 s jobs")
    for post in posts:
        assert post["status"] == 202, f"{post}\n{_journals(host)}"
        assert post["job"]["status"] == "PENDING" and post["job"]["task_id"]
    # The behaviour, not a speed goal (those live in bench/): a request that waited for its job would take the
    # job's 4 s; one that only queued it answers in a fraction of that even on a loaded CI host.
    assert max(times) < 2000, f"POST took {times} ms: the request waited for the job"


def test_the_status_endpoint_follows_the_job_to_success(host, jobs_run):
    durations = []
    for job in jobs_run["final"].values():
        assert job["status"] == "SUCCESS", f"{job}\n{_journals(host)}"
        assert job["done"] and job["progress"] == 100
        assert job["result"]["slept"] >= 4.0
        durations.append(job["result"]["slept"])
    print(f"jobs on {host.backend.host} took {durations} s; {jobs_run['polls']} status polls")
    assert min(durations) >= 3.0


def _cgroups(host, pid):
    """The cgroup paths of a process, as /proc/PID/cgroup lists them (one per hierarchy)."""
    lines = host.file(f"/proc/{pid}/cgroup").content_string.strip().splitlines()
    return {line.split(":", 2)[2] for line in lines}


def test_the_job_ran_in_a_celery_worker_not_in_gunicorn(host, jobs_run):
    web_pids = set(host.run(f"ps -e -o pid=,unit= | awk '$2 == \"{WEB}\" {{print $1}}'").stdout.split())
    assert len(web_pids) >= 3, web_pids  # gunicorn's arbiter and its workers
    node = host.run("uname -n").stdout.strip()
    for job in jobs_run["final"].values():
        pid = job["worker"]["pid"]
        assert job["worker"]["node"] == f"default@{node}", job["worker"]
        cgroups = _cgroups(host, pid)
        units = {path.rsplit("/", 1)[-1] for path in cgroups if path.endswith(".service")}
        print(f"job {job['id'][:8]} ran in pid {pid} of {units}")
        assert any(re.fullmatch(r"celery-worker@[^/]+\.service", unit) for unit in units), cgroups
        assert WEB not in units, cgroups
        assert str(pid) not in web_pids, f"the job's pid {pid} belongs to {WEB}"


def _status_of(host, path, body=None, headers=None):
    """The HTTP status of one request from inside the host."""
    script = (
        "import json, sys, urllib.request, urllib.error\n"
        "url, body, headers = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])\n"
        "req = urllib.request.Request(url, data=body.encode() or None, headers=headers)\n"
        "try:\n"
        "    r = urllib.request.urlopen(req, timeout=10); print(r.status, 'Traceback' in r.read().decode())\n"
        "except urllib.error.HTTPError as e:\n"
        "    print(e.code, 'Traceback' in e.read().decode())\n"
    )
    out = host.run(f"python3 -c {shlex.quote(script)} {shlex.quote(BASE + path)} {shlex.quote(body or '')} "
                   f"{shlex.quote(json.dumps(headers or {}))}")
    assert out.rc == 0, out.stderr
    code, traceback = out.stdout.split()
    return int(code), traceback == "True"


def test_csrf_protection_stays_on_for_the_api(host):
    status, _ = _status_of(host, "/jobs/", '{"seconds": 1}', {"Content-Type": "application/json"})
    assert status == 403


def test_the_page_has_a_protected_form(host):
    status, body = http_get(host, f"{BASE}/jobs/")
    assert status == 200
    assert 'name="csrfmiddlewaretoken"' in body and "fetch(" in body


@pytest.mark.parametrize("path", ["/jobs/00000000-0000-0000-0000-000000000000/", "/jobs/1/"])
def test_unknown_jobs_are_404(host, path):
    status, _ = http_get(host, BASE + path)
    assert status == 404


def test_debug_is_off_and_unknown_host_names_are_refused(host):
    assert _status_of(host, "/healthz", headers={"Host": "evil.example"}) == (400, False)
    assert _status_of(host, "/no-such-page") == (404, False)


def test_static_files_are_collected(host):
    assert host.file("/var/lib/django/static/admin/css/base.css").exists
