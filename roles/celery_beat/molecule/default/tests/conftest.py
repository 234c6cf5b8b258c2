"""Fixtures of the celery_beat scenario."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[5] / "molecule" / "resources"))

from stacktest import CeleryClient  # noqa: E402

CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"


@pytest.fixture()
def celery(host):
    return CeleryClient(host)
