"""Fixtures of the stack scenario: every host of the stack, by name."""

import os
import re
import shlex
import sys
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "resources"))

CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"
HOSTS = ("stack-redis", "stack-app", "stack-worker1", "stack-worker2")
WORKERS = ("stack-worker1", "stack-worker2")


@pytest.fixture(scope="session")
def stack():
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    return {name: testinfra.get_host(f"ansible://{name}?ansible_inventory={inventory}") for name in HOSTS}


def succeeded(host, task: str, unit: str = "celery-worker@default.service") -> int:
    """How many times a task has succeeded on a host, from its worker's journal."""
    out = host.run(f"journalctl -u {unit} --no-pager -o cat -g {shlex.quote(task)}")
    return len(re.findall(rf"Task {re.escape(task)}\[[0-9a-f-]+\] succeeded", out.stdout))
