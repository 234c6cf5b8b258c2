"""Every secret of the stack rotated at once, the way the README says (`openssl rand -base64`, so with `/`, `+`
and `=`), and site.yml run again: Superset's SECRET_KEY rotation re-encrypts the SQL Lab database's stored
password, and the stack works with the new secrets only. Last of the scenario's tests: the ones before it use
the secrets the scenario generated. (The run after a rotation changing nothing was measured by hand, 0 changes
in 137 s; a third site.yml run here would cost the suite that much again.)"""

import base64
import os
import re
import shlex
from pathlib import Path

from conftest import CONVERGE
from stacktest import SupersetProbe, failure_messages, http_get, run_playbook, secret

testinfra_hosts = ["single-node"]

CONFIG = "/etc/superset/superset_config.py"


def redis_ping(host, user: str, password: str) -> str:
    """PING as a Redis login (the password in REDISCLI_AUTH, not on the command line)."""
    out = host.run(f"REDISCLI_AUTH={shlex.quote(password)} redis-cli --no-auth-warning --user {user} "
                   "-h 127.0.0.1 -p 6379 PING")
    return (out.stdout + out.stderr).strip()


def test_every_secret_rotates_and_the_stack_works_with_the_new_ones(host):
    directory = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "secrets"
    old = {path.name: secret(path.name) for path in sorted(directory.glob("*"))}
    assert {"superset_secret_key", "superset_admin_password", "db_password", "redis_celery_password",
            "flower_password"} <= set(old), sorted(old)
    key_before = host.file(CONFIG).content_string
    for name in old:
        (directory / name).write_text(base64.b64encode(os.urandom(36)).decode() + "\n")
    new = {name: secret(name) for name in old}
    assert any(c in "".join(new.values()) for c in "/+="), "the new secrets lack the characters under test"

    run = run_playbook(CONVERGE, timeout=1500)
    assert run.rc == 0, f"{failure_messages(run.output)}\n{run.output[-4000:]}"
    assert run.recap["single-node"]["changed"] > 0, run.recap
    for name in old:
        assert old[name] not in run.output and new[name] not in run.output, f"{name} appears in the output"
    reencrypt = re.search(r"^TASK \[superset : Re-encrypt the stored secrets with the new SECRET_KEY\].*?\n"
                          r"(changed|ok|skipping|fatal): \[single-node\]", run.output, re.MULTILINE | re.DOTALL)
    assert reencrypt and reencrypt.group(1) == "changed", run.output[-4000:]
    assert key_before != host.file(CONFIG).content_string

    # The rotation is finished: the new key only, and the stored password readable with it (a worker
    # decrypts the SQL Lab database's URI to run the query).
    config = host.file(CONFIG).content_string
    assert "PREVIOUS_SECRET_KEY" not in config and old["superset_secret_key"] not in config
    answer = SupersetProbe(host)("sqllab", "analytics", "SELECT 41 + 1 AS answer")
    assert answer["states"][-1] == "success" and answer["data"] == [{"answer": 42}], answer

    # The old logins are refused, the new ones work.
    status, _ = http_get(host, "http://127.0.0.1:5555/api/workers", "operator", old["flower_password"])
    assert status == 401
    status, body = http_get(host, "http://127.0.0.1:5555/api/workers?refresh=1", "operator",
                            new["flower_password"], timeout=30)
    assert status == 200 and "default@single-node" in body, body[:500]
    assert "WRONGPASS" in redis_ping(host, "celery", old["redis_celery_password"])
    assert redis_ping(host, "celery", new["redis_celery_password"]) == "PONG"

