"""The README's main job on one host: every service of the stack up, a SQL Lab query through Celery and Redis,
Flower behind its login, and a converged host that --check --diff leaves alone."""

import json

from conftest import CONVERGE
from stacktest import SupersetProbe, assert_check_mode_clean, assert_service_up, http_get, secret

testinfra_hosts = ["single-node"]

UNITS = ("redis-server.service", "postgresql@15-main.service", "superset-web.service",
         "celery-worker@default.service", "celery-beat.service", "flower.service")


def test_every_service_of_the_stack_is_up(host):
    for unit in UNITS:
        assert_service_up(host, unit)


def test_sqllab_query_runs_through_celery_and_redis(host):
    answer = SupersetProbe(host)("sqllab", "analytics", "SELECT 41 + 1 AS answer")
    print(f"\nSQL Lab on the single node: {answer}")
    assert answer["submit_status"] == 202, answer
    assert answer["states"][-1] == "success" and answer["data"] == [{"answer": 42}], answer


def test_flower_lists_the_pool_only_with_a_login(host):
    status, _ = http_get(host, "http://127.0.0.1:5555/api/workers")
    assert status == 401
    status, body = http_get(host, "http://127.0.0.1:5555/api/workers?refresh=1", "operator",
                            secret("flower_password"), timeout=30)
    assert status == 200, body[:500]
    assert "default@single-node" in json.loads(body)


def test_check_mode_on_the_converged_host_changes_nothing():
    assert_check_mode_clean(CONVERGE, ["single-node"])
