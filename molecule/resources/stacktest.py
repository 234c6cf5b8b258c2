"""Helpers shared by the testinfra suites of every scenario.

Tests talk to the running services inside the test hosts (through testinfra's ansible backend) and, for
bad-input and check-mode tests, run ansible-playbook against the scenario's own inventory.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def secret(name: str) -> str:
    """A secret the scenario generated (ansible.builtin.password lookup files in the ephemeral dir)."""
    path = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "secrets" / name
    return path.read_text().split()[0]


def inventory() -> str:
    """The scenario's inventory directory (inventory file, hosts, group_vars, host_vars)."""
    return str(Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent)


def journal(host, unit: str, lines: int = 60) -> str:
    """The last journal lines of a unit, for failure messages."""
    return host.run(f"journalctl -u {shlex.quote(unit)} -n {lines} --no-pager").stdout


def assert_service_up(host, unit: str) -> None:
    """A unit is enabled and running; its journal is printed when it is not."""
    service = host.service(unit)
    assert service.is_running, f"{unit} is not running on {host.backend.host}:\n{journal(host, unit)}"
    assert service.is_enabled, f"{unit} is not enabled on {host.backend.host}"


class PlaybookRun:
    """The outcome of one ansible-playbook run: return code, full output and the recap per host."""

    def __init__(self, proc: subprocess.CompletedProcess):
        self.rc = proc.returncode
        self.output = proc.stdout + proc.stderr
        self.recap = {
            m.group(1): {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
            for m in re.finditer(r"^(\S+)\s+:\s+(ok=.*)$", self.output, re.MULTILINE)
        }

    def __repr__(self) -> str:
        return f"PlaybookRun(rc={self.rc}, recap={self.recap})"


def run_playbook(playbook: str | Path, *args: str, extra_vars: dict | None = None,
                 timeout: int = 600) -> PlaybookRun:
    """Run ansible-playbook with the scenario's inventory and Molecule's Ansible settings."""
    cmd = ["ansible-playbook", "-i", inventory(), str(playbook), *args]
    if extra_vars:
        import json

        cmd += ["--extra-vars", json.dumps(extra_vars)]
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    return PlaybookRun(proc)
