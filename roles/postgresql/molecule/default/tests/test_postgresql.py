"""PostgreSQL as the applications need it: the application's role logs in with its password over TCP,
nobody else does, and bad input is refused before any change."""

import shlex

import pytest

from conftest import CONVERGE
from stacktest import REPO, assert_check_mode_clean, assert_refused, assert_sandbox_score, assert_service_up, secret

testinfra_hosts = ["debian12", "debian13"]


def psql(host, sql, user="taskstack", password=None, database="taskstack", address="127.0.0.1"):
    env = f"PGPASSWORD={shlex.quote(password)} " if password is not None else "PGPASSWORD= "
    return host.run(f"{env}psql -w -h {address} -U {user} -d {database} -tAc {shlex.quote(sql)}")


def test_postgresql_is_enabled_and_running(host):
    assert_service_up(host, "postgresql.service")
    major = host.run("pg_lsclusters -h").stdout.split()[0]
    assert major == {"debian12": "15", "debian13": "17"}[host.backend.host]


def test_the_cluster_runs_sandboxed(host):
    """Debian's postgresql@.service scores 9.6 UNSAFE without the drop-in; with it the cluster runs as
    postgres (no root process, no capability) and scores like the stack's other units."""
    major = host.run("pg_lsclusters -h").stdout.split()[0]
    unit = f"postgresql@{major}-main.service"
    assert host.file("/etc/systemd/system/postgresql@.service.d/10-sandbox.conf").exists
    assert_sandbox_score(host, unit)
    main_pid = host.run(f"systemctl show -p MainPID --value {unit}").stdout.strip()
    assert host.run(f"ps -o user= -p {main_pid}").stdout.strip() == "postgres"
    caps = host.run(f"grep CapEff /proc/{main_pid}/status").stdout.split()[1]
    assert int(caps, 16) == 0, f"the postmaster has capabilities {caps}"


def test_listens_on_loopback_only(host):
    listeners = [line.split()[3] for line in host.run("ss -ltnH").stdout.splitlines() if ":5432" in line]
    assert listeners == ["127.0.0.1:5432"], listeners


def test_the_application_role_logs_in_and_owns_its_database(host):
    out = psql(host, "SELECT current_user, current_database(), "
                     "(SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'taskstack'), "
                     "(SELECT rolsuper FROM pg_roles WHERE rolname = 'taskstack')", password=secret("db_password"))
    assert out.rc == 0, out.stderr
    assert out.stdout.strip() == "taskstack|taskstack|taskstack|f"
    assert psql(host, "CREATE TABLE probe (id int); DROP TABLE probe;", password=secret("db_password")).rc == 0


def test_wrong_or_missing_password_is_refused(host):
    wrong = psql(host, "SELECT 1", password="not-the-password-at-all")
    assert wrong.rc != 0 and "password authentication failed" in wrong.stderr
    missing = psql(host, "SELECT 1")
    assert missing.rc != 0


def test_the_superuser_cannot_log_in_over_tcp(host):
    out = psql(host, "SELECT 1", user="postgres", database="postgres", password="anything-at-all")
    assert out.rc != 0 and "no pg_hba.conf entry" in out.stderr


def test_passwords_are_stored_as_scram(host):
    out = host.run("runuser -u postgres -- psql -tAc \"SELECT rolpassword FROM pg_authid WHERE rolname='taskstack'\"")
    assert out.stdout.startswith("SCRAM-SHA-256$"), out.stdout[:20]


PLAYBOOK = REPO / "playbooks" / "database.yml"
BAD = [
    ({"postgresql_users": [{"name": "taskstack", "password": "short"}]}, "postgresql_users"),
    ({"postgresql_users": [{"name": "taskstack", "password": "postgres"}]}, "postgresql_users"),
    ({"postgresql_users": [{"name": "postgres", "password": "a-long-enough-password-1"}]}, "postgresql_users"),
    ({"postgresql_databases": [{"name": "x", "owner": "nobody"}]}, "postgresql_databases"),
    ({"postgresql_port": 0}, "postgresql_port"),
]


@pytest.mark.parametrize("extra_vars,variable", BAD, ids=[str(v) for v, _ in BAD])
def test_bad_input_is_refused_before_any_change(host, extra_vars, variable):
    if host.backend.host != "debian12":
        pytest.skip("one host runs the playbook")
    assert_refused(PLAYBOOK, host, extra_vars, variable, "/etc/postgresql/*/main/pg_hba.conf "
                   "/etc/postgresql/*/main/conf.d/*", ("postgresql@15-main.service",), limit="debian12")


def test_check_mode_on_a_converged_host_changes_nothing(host):
    if host.backend.host != "debian12":
        pytest.skip("one run covers both hosts")
    assert_check_mode_clean(CONVERGE, ["debian12", "debian13"])
