"""Shared paths of the single-node scenario's tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "resources"))

CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"
SITE = Path(__file__).resolve().parents[3] / "playbooks" / "site.yml"
