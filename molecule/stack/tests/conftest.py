"""Fixtures of the stack scenario: every host of the stack, by name."""

import os
import sys
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "resources"))

CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"
HOSTS = ("stack-redis", "stack-app", "stack-worker1", "stack-worker2", "stack-beat")
WORKERS = ("stack-worker1", "stack-worker2")


@pytest.fixture(scope="session")
def stack():
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    return {name: testinfra.get_host(f"ansible://{name}?ansible_inventory={inventory}") for name in HOSTS}
