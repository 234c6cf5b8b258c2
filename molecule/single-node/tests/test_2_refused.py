"""Bad site configurations: each is refused by playbooks/validate.yml before any host changes, and the error
names the variable to fix. The runs go against the converged host, so a change would show."""

import json
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml
from conftest import SITE
from stacktest import failure_messages, run_playbook, snapshot

testinfra_hosts = ["single-node"]

PATHS = ("/etc/redis/redis.conf /etc/redis/users.acl /etc/superset/superset_config.py /etc/superset/superset.env "
         "/etc/celery/worker.env /etc/systemd/system/celery-worker@default.service.d/pool.conf "
         "/etc/flower/flowerconfig.py /etc/postgresql/15/main/pg_hba.conf")
UNITS = ("redis-server.service", "superset-web.service", "celery-worker@default.service",
         "celery-beat.service", "flower.service", "postgresql@15-main.service")

# (what is wrong, extra vars, the variable the error must name)
BAD = [
    ("unknown application flavour", {"stack_app_flavour": "rails"}, "stack_app_flavour"),
    ("a network that is not CIDR", {"stack_networks": ["the office"]}, "stack_networks"),
    ("Redis's well-known admin password", {"vault_redis_admin_password": "foobared"}, "redis_admin_password"),
    ("a short Redis login for Celery", {"vault_redis_celery_password": "celery"}, "redis_acl_users"),
    ("maxmemory that is not a size", {"redis_maxmemory": "plenty"}, "redis_maxmemory"),
    ("a weak metadata database password", {"vault_db_password": "postgres"}, "postgresql_users"),
    ("Superset's published SECRET_KEY", {"vault_superset_secret_key": "thisISaSECRET_1234"},
     "superset_secret_key"),
    ("admin:admin for Superset", {"vault_superset_admin_password": "admin"}, "superset_admin_password"),
    ("SQL Lab limit beyond the visibility timeout",
     {"superset_sqllab_async_time_limit": 7200, "superset_celery_visibility_timeout": 3600},
     "superset_sqllab_async_time_limit"),
    ("an unknown pool type", {"celery_worker_pools": [{"name": "default", "queues": ["celery"], "pool": "turbo"}]},
     "celery_worker_pools"),
    ("soft time limit at the hard one",
     {"celery_worker_pools": [{"name": "default", "queues": ["celery"], "time_limit": 300,
                               "soft_time_limit": 300}]},
     "celery_worker_pools"),
    ("admin:admin for Flower", {"vault_flower_password": "admin"}, "celery_flower_basic_auth_users"),
    ("Flower on every address", {"celery_flower_address": "0.0.0.0"}, "celery_flower_address"),
]


def _second_beat_inventory(directory: str) -> str:
    """An inventory that adds a second beat host (another name for the same container)."""
    source = yaml.safe_load(Path(os.environ["MOLECULE_INVENTORY_FILE"]).read_text())
    node = dict(source["all"]["hosts"]["single-node"], ansible_host="single-node")
    path = Path(directory) / "second-beat.yml"
    path.write_text(yaml.safe_dump({"all": {"children": {"celery_beat": {"hosts": {"second-beat": node}}}}}))
    return str(path)


def test_bad_site_configurations_are_refused_before_any_change(host):
    before = snapshot(host, PATHS, UNITS)
    with tempfile.TemporaryDirectory() as directory:
        cases = [(what, ("--extra-vars", json.dumps(extra)), variable) for what, extra, variable in BAD]
        # Two host names: the stack then needs stack_networks, given here so that the beat check is reached.
        cases.append(("a second beat host", ("-i", _second_beat_inventory(directory), "--extra-vars",
                                             json.dumps({"stack_networks": ["172.16.0.0/12"]})),
                      "celery_beat_inventory_group"))
        with ThreadPoolExecutor(max_workers=4) as pool:
            runs = list(pool.map(lambda case: run_playbook(SITE, *case[1]), cases))
    problems = []
    for (what, _, variable), run in zip(cases, runs):
        changed = sum(recap.get("changed", 0) for recap in run.recap.values())
        named = any(variable in message for message in failure_messages(run.output))
        ok = run.rc != 0 and named and changed == 0
        print(f"refused {what}: rc={run.rc}, message names {variable}: {named}, changes {changed}")
        if not ok:
            problems.append(f"{what}: {run!r}\n{run.output[-2500:]}")
    assert not problems, "\n\n".join(problems)
    assert snapshot(host, PATHS, UNITS) == before, "the host changed although every input was refused"
