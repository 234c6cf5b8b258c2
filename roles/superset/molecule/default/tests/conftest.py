"""Fixtures of the superset scenario."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[5] / "molecule" / "resources"))

from stacktest import SupersetProbe  # noqa: E402

CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"
BASE = "http://127.0.0.1:8088"


@pytest.fixture(scope="module")
def probe(host):
    return SupersetProbe(host, BASE)
