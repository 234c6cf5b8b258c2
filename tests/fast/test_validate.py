"""playbooks/validate.yml's topology refusals that need no test host: the single-node inventory (this machine,
local connection, facts only) with a bad stack_redis_ha. Each run stops at the contract's checks, before any
role runs, and the failure message names the variable."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def validate(extra_vars: dict) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(
        ["ansible-playbook", "-i", "inventories/single-node", "playbooks/validate.yml",
         "--extra-vars", json.dumps({"ansible_python_interpreter": sys.executable, **extra_vars})],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("value, message", [
    ("sentinel", r"stack_redis_ha is \"sentinel\" but the redis group has\s+1 host"),
    ("cluster", r"stack_redis_ha is \"cluster\": use \"none\""),
], ids=["sentinel-with-one-redis-host", "unknown-topology"])
def test_a_bad_redis_topology_is_refused_naming_stack_redis_ha(value, message):
    run = validate({"stack_redis_ha": value})
    out = run.stdout + run.stderr
    assert run.returncode != 0, out[-3000:]
    assert "Check the Redis topology (stack_redis_ha)" in out, out[-3000:]
    assert re.search(message, re.sub(r"\s+", " ", out).replace("\\\"", "\"")), out[-3000:]
