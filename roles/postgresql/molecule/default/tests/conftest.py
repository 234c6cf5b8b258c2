"""Fixtures of the postgresql scenario."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[5] / "molecule" / "resources"))

CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"
