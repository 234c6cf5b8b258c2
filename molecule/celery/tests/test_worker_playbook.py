"""The worker role as a sysadmin runs it: bad pools refused before any change, check mode clean."""

import pytest

from conftest import CONVERGE
from stacktest import REPO, assert_check_mode_clean, assert_refused

testinfra_hosts = ["debian12"]

PLAYBOOK = REPO / "playbooks" / "celery_workers.yml"
GOOD = {"name": "p", "queues": ["q"]}

BAD_POOLS = [
    ([{**GOOD, "soft_time_limit": 30, "time_limit": 30}], "soft_time_limit"),
    ([{**GOOD, "soft_time_limit": 60, "time_limit": 30}], "soft_time_limit"),
    ([{**GOOD, "pool": "forkserver"}], "pool (one of prefork, threads, solo, gevent, eventlet"),
    ([{**GOOD, "concurrency": 0}], "concurrency >= 1"),
    ([{**GOOD, "pool": "threads", "max_tasks_per_child": 100}], "max_tasks_per_child"),
    ([{**GOOD, "pool": "solo", "max_tasks_per_child": 0, "max_memory_per_child": 200000}], "max_memory_per_child"),
    ([{**GOOD, "pool": "solo", "max_tasks_per_child": 0}], "solo and threads pools never stop a task"),
    ([GOOD, GOOD], "duplicates: p"),
    ([{"name": "p", "queues": []}], "queues (at least one"),
    ([{"name": "p"}], "queues (at least one"),
    ([{**GOOD, "autoscale": "2,8"}], "autoscale"),
    ([], "celery_worker_pools needs at least one pool"),
]


@pytest.mark.parametrize("pools,message", BAD_POOLS, ids=[m for _, m in BAD_POOLS])
def test_bad_pool_is_refused_before_any_change(host, pools, message):
    run = assert_refused(PLAYBOOK, host, {"celery_worker_pools": pools}, "celery_worker_pools",
                         "/etc/celery/* /etc/systemd/system/celery-worker* /etc/systemd/system/celery-worker@*/*",
                         ("celery-worker@general.service",))
    assert message in run.output, run.output[-2000:]


def test_missing_app_is_refused(host):
    assert_refused(PLAYBOOK, host, {"celery_worker_app": ""}, "celery_worker_app",
                   "/etc/celery/* /etc/systemd/system/celery-worker*", ("celery-worker@general.service",))


def test_check_mode_on_a_converged_host_changes_nothing():
    assert_check_mode_clean(CONVERGE, ["debian12", "debian13"])
