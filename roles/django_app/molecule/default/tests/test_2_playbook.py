"""The django_app role as a sysadmin runs it: bad input refused before any change, migrations reported
honestly, check mode clean, the secret key never in the output."""

import os
import secrets
from pathlib import Path

import pytest

from conftest import HOSTS
from stacktest import REPO, assert_check_mode_clean, assert_refused, run_playbook

testinfra_hosts = ["django-debian12"]

PLAYBOOK = REPO / "playbooks" / "app.yml"
PATHS = "/etc/django/* /etc/systemd/system/django-web.service /usr/local/bin/django-manage"
UNITS = ("django-web.service", "celery-worker@default.service")
RANDOM = secrets.token_urlsafe(48)

BAD = [
    ({"django_app_secret_key": "django-insecure-" + RANDOM}, "django_app_secret_key"),
    ({"django_app_secret_key": RANDOM[:30] + "CHANGE_ME" + RANDOM[30:]}, "django_app_secret_key"),
    ({"django_app_db_engine": "sqlite"}, "django_app_db_engine"),
    ({"django_app_celery_task_soft_time_limit": 300, "django_app_celery_task_time_limit": 300},
     "django_app_celery_task_soft_time_limit"),
    ({"django_app_celery_visibility_timeout": 300}, "django_app_celery_visibility_timeout"),
    ({"django_app_source_git_repo": "https://git.example.invalid/site.git", "django_app_source_git_version": "v1"},
     "django_app_source_path"),
]


@pytest.mark.parametrize("extra_vars,variable", BAD, ids=[f"{v}:{i}" for i, (_, v) in enumerate(BAD)])
def test_bad_input_is_refused_before_any_change(host, extra_vars, variable):
    run = assert_refused(PLAYBOOK, host, extra_vars, variable, PATHS, UNITS, limit="django-debian12")
    for value in extra_vars.values():
        if isinstance(value, str) and len(value) > 40:
            assert value not in run.output, "a refused secret key appears in the output"


def test_migrations_are_reported_honestly(host):
    """An unapplied migration makes the play apply it and report one change (the idempotence step of the
    sequence proves the converse: a converged host reports none)."""
    manage = "django-manage"
    assert "[ ]" not in host.run(f"{manage} showmigrations --plan").stdout
    rollback = host.run(f"{manage} migrate jobs zero --no-input")
    assert rollback.rc == 0, rollback.stderr
    assert "[ ]  jobs.0001_initial" in host.run(f"{manage} showmigrations --plan").stdout

    run = run_playbook(PLAYBOOK, "--limit", "django-debian12")
    assert run.rc == 0, run.output[-3000:]
    assert run.recap["django-debian12"]["changed"] == 1, run.output[-3000:]
    migrate = run.output.split("TASK [django_app : Apply the database migrations]")[1].split("TASK [")[0]
    assert "changed: [django-debian12]" in migrate, migrate
    assert "[ ]" not in host.run(f"{manage} showmigrations --plan").stdout


def test_check_mode_on_a_converged_host_changes_nothing():
    """--check --diff of the application play: no change, no failure, no secret (the site's key included)."""
    assert (Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "secrets" / "django_secret_key").exists()
    assert_check_mode_clean(PLAYBOOK, HOSTS)


def test_a_worker_only_host_gets_no_web_server_migrations_or_static_files(tmp_path):
    """django_app_web_enabled: false (what playbooks/celery_workers.yml sets on hosts outside the app group):
    code, virtualenv, settings and environment only. Run in check mode on the converged host: nothing to
    change, and no web, migration or static-file task runs."""
    # A playbook directory like the repository's (group_vars and roles beside it, examples and templates
    # beside that), so that the stack contract and the role's defaults apply as in playbooks/.
    for name in ("examples", "templates"):
        (tmp_path / name).symlink_to(REPO / name)
    (tmp_path / "playbooks").mkdir()
    for name in ("group_vars", "roles"):
        (tmp_path / "playbooks" / name).symlink_to(REPO / name)
    playbook = tmp_path / "playbooks" / "worker_only.yml"
    playbook.write_text(
        "- name: A worker-only host\n"
        "  hosts: django-debian12\n"
        "  become: true\n"
        "  roles:\n"
        "    - role: django_app\n"
        "      vars:\n"
        "        django_app_web_enabled: false\n")
    run = run_playbook(playbook, "--check", "--diff")
    assert run.rc == 0, run.output[-3000:]
    assert run.recap["django-debian12"]["changed"] == 0, run.output[-3000:]

    def ran(task):
        section = run.output.split(f"TASK [django_app : {task}")[1].split("TASK [")[0]
        return "ok: [" in section or "changed: [" in section

    assert ran("Install the settings module") and ran("Install the environment file")
    for task in ("List the migrations", "Apply the database migrations", "Collect the static files",
                 "Install the web server unit", "Wait for the web server"):
        assert f"TASK [django_app : {task}" not in run.output or not ran(task), task
