"""A worker host cut off from Redis (its container taken off the stack's network): the other worker host
runs every task sent meanwhile, and the cut host rejoins by itself once the network is back. Counted and
printed. Runs after test_stack.py, on the project's own test network only."""

import shlex
import time

from conftest import succeeded
from stacktest import TaskClient, docker

testinfra_hosts = ["stack-app"]

NETWORK = "taskstack-stack"
CUT, OTHER = "stack-worker1", "stack-worker2"
ENV = "set -a; . /etc/celery/worker.env; set +a; cd /tmp; "
PYTHON = "/opt/superset/venv/bin/python"


def _answers_ping(host, node: str) -> bool:
    out = host.run(ENV + f"{PYTHON} -m celery -b \"$CELERY_BROKER_URL\" inspect ping --timeout 2 "
                   f"-d {shlex.quote(node)}")
    return out.rc == 0 and "pong" in out.stdout


def _send_and_count(stack, client, count: int, ids: str) -> tuple[dict, dict]:
    before = {name: succeeded(stack[name], "celery.accumulate") for name in (CUT, OTHER)}
    client("send", str(count), ids)
    got = client("collect", ids, "120")
    ran = {name: succeeded(stack[name], "celery.accumulate") - before[name] for name in (CUT, OTHER)}
    return got, ran


def test_worker_host_cut_off_from_redis_hands_over_and_rejoins(stack):
    sender = stack[OTHER]
    client = TaskClient(sender)
    address = docker("inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{NETWORK}").IPAddress}}}}', CUT)
    docker("network", "disconnect", NETWORK, CUT)
    try:
        # The cut is real: the host does not answer. kombu's BRPOP expires after 1 s at Redis, and the ping
        # waits 2 s: from then on nothing can be handed to the cut host.
        time.sleep(1)
        reachable_during = _answers_ping(sender, f"default@{CUT}")
        during, ran_during = _send_and_count(stack, client, 100, "/var/tmp/cut.json")
    finally:
        docker("network", "connect", "--ip", address, NETWORK, CUT)
    healed = time.monotonic()
    # Rejoined = takes tasks again: small batches until the cut host runs some of them.
    rejoin_batches, ran_after, sent_after = 0, {CUT: 0, OTHER: 0}, 0
    while ran_after[CUT] == 0 and time.monotonic() - healed < 120:
        got, ran = _send_and_count(stack, client, 20, "/var/tmp/healed.json")
        assert got["ran"] == 20, got
        rejoin_batches += 1
        sent_after += 20
        ran_after = {name: ran_after[name] + ran[name] for name in ran}
        time.sleep(1)
    rejoin_s = time.monotonic() - healed
    print(f"\nworker host cut off: answered ping during the cut: {reachable_during}; 100 tasks sent during the "
          f"cut {during}, ran {ran_during}; took tasks again {rejoin_s:.0f} s after the network came back "
          f"({sent_after} tasks in {rejoin_batches} batches of 20, ran {ran_after})")
    assert not reachable_during, f"{CUT} answered ping although it was off the network"
    assert during["ran"] == 100 and ran_during == {CUT: 0, OTHER: 100}, (during, ran_during)
    assert ran_after[CUT] > 0, f"{CUT} took no task within 120 s of the network coming back: {ran_after}"
    assert sum(ran_after.values()) == sent_after, ran_after
