"""Fixtures of the celery scenario (the celery_worker, celery_beat and celery_flower roles)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "resources"))

from stacktest import CeleryClient, secret  # noqa: E402

CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"
POOLS = {"general": ["celery", "general"], "limits": ["limits"], "io": ["io"], "quiet": ["quiet"]}
FLOWER = "http://127.0.0.1:5555"


@pytest.fixture()
def celery(host):
    return CeleryClient(host)


@pytest.fixture()
def node_host(host):
    return host.run("uname -n").stdout.strip()


@pytest.fixture()
def login():
    return ("operator", secret("flower_password"))
