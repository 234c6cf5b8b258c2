"""playbooks/validate.yml's refusals that need no test host: the single-node inventory (this machine, local
connection, facts only) with a bad stack_redis_ha or bad monitoring input. Each run stops at the contract's checks, before any
role runs, and the failure message names the variable."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def validate(extra_vars: dict, inventory: str = "inventories/single-node") -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(
        ["ansible-playbook", "-i", inventory, "playbooks/validate.yml",
         "--extra-vars", json.dumps({"ansible_python_interpreter": sys.executable, **extra_vars})],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("value, message", [
    ("sentinel", r"stack_redis_ha is \"sentinel\" but the redis group has\s+1 host"),
    ("cluster", r"stack_redis_ha is \"cluster\": use \"none\""),
], ids=["sentinel-with-one-redis-host", "unknown-topology"])
def test_a_bad_redis_topology_is_refused_naming_stack_redis_ha(value, message):
    run = validate({"stack_redis_ha": value})
    out = run.stdout + run.stderr
    assert run.returncode != 0, out[-3000:]
    assert "Check the Redis topology (stack_redis_ha)" in out, out[-3000:]
    assert re.search(message, re.sub(r"\s+", " ", out).replace("\\\"", "\"")), out[-3000:]


def _refused(run, task: str, message: str) -> None:
    out = run.stdout + run.stderr
    assert run.returncode != 0, out[-3000:]
    assert task in out, out[-3000:]
    flat = re.sub(r"\s+", " ", out).replace("\\\"", "\"")
    assert re.search(message, flat), out[-3000:]


MONITORING_FOR = {"pool_down": "2m", "queue_backlog": "10m", "task_failure_rate": "5m", "beat_silent": "0s",
                  "redis_down": "1m", "redis_memory": "5m", "redis_rejected_connections": "0s",
                  "redis_persistence": "0s", "redis_replication": "2m", "postgres_down": "1m", "disk_filling": "10m",
                  "app_down": "2m", "target_down": "5m"}


@pytest.mark.parametrize("extra_vars, task, message", [
    ({"monitoring_queue_backlog_threshold": 0}, "Check the monitoring thresholds and durations",
     r"monitoring_queue_backlog_threshold \(tasks, > 0\)"),
    ({"monitoring_alert_for": {**MONITORING_FOR, "pool_down": "soon", "redis_down": "0s"}},
     "Check the monitoring thresholds and durations",
     r"these are not: monitoring_alert_for.pool_down, monitoring_alert_for.redis_down"),
    ({"monitoring_alertmanager_receivers": [{"name": "ops", "type": "pager"}]}, "Check the alert receivers",
     r"monitoring_alertmanager_receivers: the receiver ops has type pager"),
    ({"monitoring_alertmanager_receivers": [{"name": "hook", "type": "webhook", "url": "hooks.example.com/x"}]},
     "Check the alert receivers", r"the receiver hook has type webhook, url hooks.example.com/x"),
    ({"monitoring_prometheus_address": "0.0.0.0", "monitoring_web_password": ""},
     "Check where Prometheus and Alertmanager listen",
     r"monitoring_prometheus_address is 0.0.0.0 .* but monitoring_web_password is empty"),
], ids=["zero-backlog-threshold", "bad-durations", "unknown-receiver-type", "receiver-url-not-a-url",
        "remote-without-login"])
def test_bad_monitoring_input_is_refused_naming_the_variable(extra_vars, task, message):
    _refused(validate(extra_vars), task, message)


def test_exporters_without_a_monitoring_host_are_refused(tmp_path):
    inventory = tmp_path / "inventory"
    subprocess.run(["cp", "-r", str(ROOT / "inventories" / "single-node"), str(inventory)], check=True)
    hosts = (inventory / "hosts.yml").read_text()
    (inventory / "hosts.yml").write_text(hosts.replace("    monitoring:\n      hosts:\n        localhost:\n", ""))
    run = validate({"stack_monitoring_exporters": True}, inventory=str(inventory))
    _refused(run, "Check the monitoring group (stack_monitoring_exporters)",
             r"stack_monitoring_exporters is true but the monitoring group has no host")


ROUTES_TASK = "Check that a worker pool consumes every queue Superset routes tasks to"


@pytest.mark.parametrize("extra_vars, message", [
    ({"superset_celery_task_routes": {"reports.execute": "nowhere", "sql_lab.get_sql_results": "celery"}},
     r"superset_celery_task_routes sends tasks to the queue nowhere, which no pool consumes \(celery_worker_pools "
     r"of the celery_workers hosts consume: background, celery\)"),
    ({"celery_worker_pools": [{"name": "default", "queues": ["celery"]}]},
     r"superset_celery_task_routes sends tasks to the queue background, which no pool consumes"),
], ids=["route-to-an-unknown-queue", "background-pool-removed"])
def test_a_route_to_a_queue_no_pool_consumes_is_refused_naming_it(extra_vars, message):
    _refused(validate(extra_vars), ROUTES_TASK, message)
