"""The whole stack across four hosts: one contract, Redis locked down, work spread over the worker hosts."""

import json
import shlex

from conftest import CONVERGE, HOSTS, WORKERS, succeeded
from stacktest import (SupersetProbe, assert_check_mode_clean, assert_service_up, http_get, journal,
                       secret, task_hosts)

testinfra_hosts = ["stack-app"]

UNITS = {
    "stack-redis": ["redis-server.service"],
    "stack-app": ["postgresql@15-main.service", "superset-web.service"],
    "stack-worker1": ["celery-worker@default.service"],
    "stack-worker2": ["celery-worker@default.service", "celery-beat.service", "flower.service"],
}

REDIS_PING = r"""
import sys, redis
user, password = sys.argv[1], sys.argv[2]
try:
    print(redis.Redis(host="stack-redis", username=user or None, password=password or None).ping())
except Exception as exc:
    print(type(exc).__name__, exc)
"""

SEND = r"""
import json, os, sys
from celery import Celery
app = Celery(broker=os.environ["CELERY_BROKER_URL"], backend=os.environ["CELERY_RESULT_BACKEND"])
count = int(sys.argv[1])
sent = [app.send_task("celery.accumulate", args=(i,), queue="celery") for i in range(count)]
print(json.dumps([result.get(timeout=120) for result in sent]))
"""


def test_every_host_runs_its_units_and_only_those(stack):
    for name, units in UNITS.items():
        for unit in units:
            assert_service_up(stack[name], unit)
    for name in WORKERS:
        assert not stack[name].service("superset-web.service").is_running, name
        assert stack[name].file("/etc/superset/superset_config.py").exists, name
    for name in ("stack-app", "stack-redis"):
        assert not stack[name].service("celery-worker@default.service").is_running, name
    for name in ("stack-app", "stack-redis", "stack-worker1"):
        for unit in ("celery-beat.service", "flower.service"):
            assert not stack[name].service(unit).is_running, (name, unit)


def test_redis_answers_stack_hosts_only_with_a_login(stack):
    worker = stack["stack-worker1"]
    script = f"/opt/superset/venv/bin/python -c {shlex.quote(REDIS_PING)}"
    anonymous = worker.run(f"{script} '' ''").stdout
    assert "AuthenticationError" in anonymous or "NOAUTH" in anonymous, anonymous
    wrong = worker.run(f"{script} celery not-the-password").stdout
    assert "AuthenticationError" in wrong or "WRONGPASS" in wrong, wrong
    assert worker.run(f"{script} celery {shlex.quote(secret('redis_celery_password'))}").stdout.strip() == "True"
    # Listening on the private address, never on every address.
    listening = stack["stack-redis"].run("ss -Hltn 'sport = :6379'").stdout
    assert "0.0.0.0:6379" not in listening and "*:6379" not in listening, listening


def test_tasks_of_one_queue_spread_over_both_worker_hosts(stack):
    before = {name: succeeded(stack[name], "celery.accumulate") for name in WORKERS}
    sender = stack["stack-worker1"]
    out = sender.run("set -a; . /etc/celery/worker.env; set +a; cd /tmp; "
                     f"/opt/superset/venv/bin/python -c {shlex.quote(SEND)} 200")
    assert out.rc == 0, out.stderr[-2000:]
    assert len(json.loads(out.stdout.strip().splitlines()[-1])) == 200
    ran = {name: succeeded(stack[name], "celery.accumulate") - before[name] for name in WORKERS}
    print(f"\n200 tasks of queue celery: {ran}")
    assert sum(ran.values()) == 200, ran
    assert all(count > 0 for count in ran.values()), ran


def test_flower_lists_both_worker_hosts(stack):
    status, body = http_get(stack["stack-worker2"], "http://127.0.0.1:5555/api/workers?refresh=1",
                            "operator", secret("flower_password"), timeout=30)
    assert status == 200, body[:500]
    nodes = set(json.loads(body))
    assert {"default@stack-worker1", "default@stack-worker2"} <= nodes, nodes


def test_sqllab_async_round_trip_across_hosts(stack):
    probe = SupersetProbe(stack["stack-app"])
    before = {name: succeeded(stack[name], "sql_lab.get_sql_results") for name in WORKERS}
    answer = probe("sqllab", "analytics", "SELECT 1 AS one")
    print(f"\nSQL Lab across hosts: {answer}")
    assert answer["submit_status"] == 202, answer
    assert answer["states"][-1] == "success" and answer["data"] == [{"one": 1}], answer
    ran = {name: succeeded(stack[name], "sql_lab.get_sql_results") - before[name] for name in WORKERS}
    assert sum(ran.values()) == 1, f"{ran}\n{journal(stack['stack-worker1'], 'celery-worker@default.service')}"
    key = answer["results_key"]
    assert stack["stack-redis"].run(f"redis-admin-cli -n 2 EXISTS superset_results_{key}").stdout.strip() == "1"


def test_check_mode_on_the_converged_stack_changes_nothing():
    """--check --diff of site.yml changes nothing, and installs each host's application once: the worker and
    beat plays skip the hosts app.yml did (before, stack-worker2, a worker and the beat host, got the
    superset role three times and stack-worker1 twice)."""
    run = assert_check_mode_clean(CONVERGE, list(HOSTS))
    installs = task_hosts(run.output, "superset : Install the pinned requirements file")
    assert installs == {"stack-app": 1, "stack-worker1": 1, "stack-worker2": 1}, installs
