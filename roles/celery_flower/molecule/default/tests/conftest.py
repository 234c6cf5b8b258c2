"""Fixtures of the celery_flower scenario."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[5] / "molecule" / "resources"))

from stacktest import CeleryClient, secret  # noqa: E402

CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"
BASE = "http://127.0.0.1:5555"


@pytest.fixture()
def celery(host):
    return CeleryClient(host)


@pytest.fixture()
def login():
    return ("operator", secret("flower_admin"))
