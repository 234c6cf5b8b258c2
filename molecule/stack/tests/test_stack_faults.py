"""A worker host cut off from Redis (its container taken off the stack's network): the other worker host
runs every task sent meanwhile, and the cut host rejoins by itself once the network is back. Counted and
printed. Runs after test_stack.py, on the project's own test network only."""

import json
import shlex
import subprocess
import time

from conftest import succeeded
from stacktest import REPO

testinfra_hosts = ["stack-app"]

NETWORK = "taskstack-stack"
CUT, OTHER = "stack-worker1", "stack-worker2"
ENV = "set -a; . /etc/celery/worker.env; set +a; cd /tmp; "
PYTHON = "/opt/superset/venv/bin/python"


def _docker(*args: str) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"docker {' '.join(args)}: {proc.stderr}"
    return proc.stdout.strip()


def _tasks(host, *args: str) -> dict:
    out = host.run(ENV + f"{PYTHON} /usr/local/bin/task_client.py " + " ".join(shlex.quote(a) for a in args))
    assert out.rc == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _answers_ping(host, node: str) -> bool:
    out = host.run(ENV + f"{PYTHON} -m celery -b \"$CELERY_BROKER_URL\" inspect ping --timeout 2 "
                   f"-d {shlex.quote(node)}")
    return out.rc == 0 and "pong" in out.stdout


def _send_and_count(stack, sender, count: int, ids: str) -> tuple[dict, dict]:
    before = {name: succeeded(stack[name], "celery.accumulate") for name in (CUT, OTHER)}
    _tasks(sender, "send", str(count), ids)
    got = _tasks(sender, "collect", ids, "120")
    ran = {name: succeeded(stack[name], "celery.accumulate") - before[name] for name in (CUT, OTHER)}
    return got, ran


def test_worker_host_cut_off_from_redis_hands_over_and_rejoins(stack):
    sender = stack[OTHER]
    client = REPO / "molecule" / "resources" / "task_client.py"
    sender.ansible("copy", f"src={client} dest=/usr/local/bin/task_client.py mode=0755", become=True,
                   check=False)
    address = _docker("inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{NETWORK}").IPAddress}}}}', CUT)
    _docker("network", "disconnect", NETWORK, CUT)
    try:
        # The cut is real: the host does not answer. kombu's BRPOP expires after 1 s at Redis, and the ping
        # waits 2 s: from then on nothing can be handed to the cut host.
        time.sleep(1)
        reachable_during = _answers_ping(sender, f"default@{CUT}")
        during, ran_during = _send_and_count(stack, sender, 100, "/var/tmp/cut.json")
    finally:
        _docker("network", "connect", "--ip", address, NETWORK, CUT)
    healed = time.monotonic()
    # Rejoined = takes tasks again: small batches until the cut host runs some of them.
    rejoin_batches, ran_after, sent_after = 0, {CUT: 0, OTHER: 0}, 0
    while ran_after[CUT] == 0 and time.monotonic() - healed < 120:
        got, ran = _send_and_count(stack, sender, 20, "/var/tmp/healed.json")
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
