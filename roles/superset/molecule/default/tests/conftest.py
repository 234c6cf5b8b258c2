"""Fixtures of the superset scenario."""

import json
import shlex
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[5] / "molecule" / "resources"))

from stacktest import REPO, secret  # noqa: E402

CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"
PROBE = REPO / "molecule" / "resources" / "superset_probe.py"
BASE = "http://127.0.0.1:8088"


class Probe:
    """Runs molecule/resources/superset_probe.py inside the host as Superset's admin."""

    def __init__(self, host):
        self.host = host
        host.ansible("copy", f"src={PROBE} dest=/usr/local/bin/superset_probe.py mode=0755", become=True,
                     check=False)

    def __call__(self, *args: str) -> dict:
        cmd = (f"SUPERSET_PROBE_USER=admin SUPERSET_PROBE_PASSWORD={shlex.quote(secret('superset_admin'))} "
               f"/opt/superset/venv/bin/python /usr/local/bin/superset_probe.py {BASE} "
               + " ".join(shlex.quote(a) for a in args))
        out = self.host.run(cmd)
        assert out.rc == 0, f"probe failed: {out.stderr[-3000:]}"
        return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def probe(host):
    return Probe(host)
