"""Shared paths and fixtures of the single-node scenario's tests."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "resources"))

CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"
SITE = Path(__file__).resolve().parents[3] / "playbooks" / "site.yml"
BASE = "http://127.0.0.1:8088"


@pytest.fixture(scope="module")
def probe(host):
    from stacktest import SupersetProbe

    return SupersetProbe(host, BASE)
