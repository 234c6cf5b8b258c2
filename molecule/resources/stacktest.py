"""Helpers shared by the testinfra suites of every scenario.

Tests talk to the running services inside the test hosts (through testinfra's ansible backend) and, for
bad-input and check-mode tests, run ansible-playbook against the scenario's own inventory.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def wait_for(predicate, seconds: float, what: str = "condition", step: float = 0.5):
    """Poll predicate() until it returns something true (returned) or `seconds` pass (AssertionError)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


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


class CeleryClient:
    """Sends tasks of the test application from inside a test host, with the workers' environment file."""

    def __init__(self, host, env_file="/etc/celery/worker.env", venv="/opt/testapp/venv"):
        self.host = host
        self.env_file = env_file
        self.venv = venv

    def _run(self, args: str):
        import json

        cmd = (f"set -a; . {self.env_file}; set +a; "
               f"{self.venv}/bin/python -m taskstack_testapp.client {args}")
        out = self.host.run(cmd)
        assert out.rc == 0, f"client failed: {out.stderr[-2000:]}"
        return json.loads(out.stdout.strip().splitlines()[-1])

    def call(self, task: str, *args, queue: str | None = None, timeout: float = 60, wait: bool = True):
        import json

        opts = f"{shlex.quote(task)} {shlex.quote(json.dumps(list(args)))} --timeout {timeout}"
        if queue:
            opts += f" --queue {shlex.quote(queue)}"
        if not wait:
            opts += " --no-wait"
        return self._run(opts)

    def result(self, task_id: str, timeout: float = 60):
        return self._run(f"--result-of {shlex.quote(task_id)} --timeout {timeout}")

    def celery(self, *args: str, app: str = "taskstack_testapp.app"):
        """Run the celery CLI with the workers' environment (e.g. inspect ping)."""
        cmd = (f"set -a; . {self.env_file}; set +a; cd /tmp; "
               f"{self.venv}/bin/celery --app={app} " + " ".join(shlex.quote(a) for a in args))
        return self.host.run(cmd)


def assert_check_mode_clean(playbook, hosts):
    """`--check --diff` on converged hosts: no failure, no change, and no secret in the output."""
    run = run_playbook(playbook, "--check", "--diff")
    assert run.rc == 0, run.output[-3000:]
    assert set(run.recap) == set(hosts), run.recap
    for name, recap in run.recap.items():
        assert recap["changed"] == 0 and recap["failed"] == 0, f"{name}: {recap}\n{run.output[-3000:]}"
    # Every secret the scenario generated (.config/molecule/config.yml writes each to secrets/NAME).
    for path in sorted((Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "secrets").glob("*")):
        assert secret(path.name) not in run.output, f"the {path.name} secret appears in the playbook output"
    return run


def redis_acl_denials(host, users=("celery", "app", "flower")):
    """What Redis's ACL log says it refused the given logins (user, reason, object), newest first, read with
    the host's redis-admin-cli."""
    out = host.run("redis-admin-cli --no-raw ACL LOG 100").stdout
    entries, current = [], {}
    for field, value in re.findall(r'"(username|reason|object)"\n\s*\d+\) "([^"]*)"', out):
        current[field] = value
        if field == "username":  # the last of the three in an entry
            entries.append(current)
            current = {}
    return [(e["username"], e.get("reason"), e.get("object")) for e in entries if e["username"] in users]


def task_hosts(output: str, task: str) -> dict[str, int]:
    """How many times each host ran (ok, changed, skipped or failed) a task, from a playbook's output."""
    from collections import Counter

    counts = Counter()
    for block in re.split(r"^(?=TASK \[|PLAY \[|RUNNING HANDLER \[)", output, flags=re.MULTILINE):
        if block.startswith(f"TASK [{task}]"):
            counts.update(re.findall(r"^(?:ok|changed|skipping|failed|fatal): \[([^\]]+)\]", block, re.MULTILINE))
    return dict(counts)


def snapshot(host, paths: str, units: tuple[str, ...] = ()):
    """Checksums of files and main PIDs of units: what a refused run must leave as it was."""
    files = host.run(f"md5sum {paths} 2>/dev/null").stdout
    pids = [host.run(f"systemctl show -p MainPID --value {u}").stdout.strip() for u in units]
    return files, pids


def failure_messages(output: str) -> list[str]:
    """The message of every failed task in a playbook's output ([ERROR] lines, and the `msg` of results in
    the YAML or JSON result format), without the rest of the result: a failed assert also prints its
    condition and a failed argument spec prints the spec, and both name the variable whatever the message
    says."""
    import json

    messages = []
    lines = output.splitlines()
    for i, line in enumerate(lines):
        # ansible-core 2.19 prints the message of a failed task on an [ERROR] line (also when the result
        # itself is censored by no_log), continued until its "Origin:" line.
        if line.startswith("[ERROR]: "):
            text = [line[len("[ERROR]: "):]]
            for nxt in lines[i + 1:]:
                if not nxt.strip() or nxt.startswith("Origin: "):
                    break
                text.append(nxt.strip())
            messages.append(" ".join(text))
            continue
        if not re.match(r"^(fatal|failed): \[", line):
            continue
        head, _, inline = line.partition("=> ")
        if inline.strip().startswith("{"):
            try:
                messages.append(str(json.loads(inline).get("msg", "")))
            except ValueError:
                messages.append(inline)
            continue
        block = []
        for nxt in lines[i + 1:]:
            if nxt and not nxt.startswith(" "):
                break
            block.append(nxt)
        for j, item in enumerate(block):
            found = re.match(r"^(\s+)msg: ?(.*)$", item)
            if not found:
                continue
            indent, text = len(found.group(1)), [found.group(2)]
            for cont in block[j + 1:]:
                if cont.strip() and len(cont) - len(cont.lstrip()) <= indent:
                    break
                text.append(cont.strip())
            messages.append(" ".join(text))
    return messages


def assert_names_variable(run, variable: str) -> None:
    """The failure message itself (not the failing condition) names the variable to fix."""
    messages = failure_messages(run.output)
    assert any(variable in m for m in messages), \
        f"no failure message names {variable}: {messages}\n{run.output[-3000:]}"


def assert_refused(playbook, host, extra_vars, variable, paths, units=(), limit=None):
    """A bad input fails the play, the message names the variable, and the host is left as it was."""
    before = snapshot(host, paths, units)
    args = ("--limit", limit) if limit else ()
    run = run_playbook(playbook, *args, extra_vars=extra_vars)
    assert run.rc != 0, f"{extra_vars} was accepted:\n{run.output[-3000:]}"
    assert_names_variable(run, variable)
    for name, recap in run.recap.items():
        assert recap["changed"] == 0, f"{name} changed although the input was refused: {recap}"
    assert snapshot(host, paths, units) == before, "the host changed although the input was refused"
    return run


def http_get(host, url: str, user: str | None = None, password: str | None = None, timeout: int = 10):
    """GET a URL from inside a test host (its own python3); returns (status, body)."""
    import json

    script = (
        "import base64, json, sys, urllib.request, urllib.error\n"
        "url, user, password = sys.argv[1], sys.argv[2], sys.argv[3]\n"
        "req = urllib.request.Request(url)\n"
        "if user:\n"
        "    token = base64.b64encode(f'{user}:{password}'.encode()).decode()\n"
        "    req.add_header('Authorization', 'Basic ' + token)\n"
        "try:\n"
        f"    with urllib.request.urlopen(req, timeout={timeout}) as r:\n"
        "        status, body = r.status, r.read().decode(errors='replace')\n"
        "except urllib.error.HTTPError as e:\n"
        "    status, body = e.code, e.read().decode(errors='replace')\n"
        "print(json.dumps({'status': status, 'body': body}))\n"
    )
    out = host.run(f"python3 -c {shlex.quote(script)} {shlex.quote(url)} "
                   f"{shlex.quote(user or '')} {shlex.quote(password or '')}")
    assert out.rc == 0, out.stderr
    reply = json.loads(out.stdout)
    return reply["status"], reply["body"]


def assert_sandbox_score(host, unit: str, limit: float = 3.0) -> float:
    """Print a unit's `systemd-analyze security` exposure (0 best, 10 worst) and hold it to a limit."""
    out = host.run(f"systemd-analyze security --no-pager {shlex.quote(unit)}")
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out.stdout)
    assert match, out.stdout + out.stderr
    line, score = match.group(0), float(match.group(1))
    print(f"systemd-analyze security {unit} on {host.backend.host}: {score}")
    assert score <= limit, line
    return score


def docker(*args: str) -> str:
    """Run the docker CLI on the controller (fault tests: restart, cut off a test container); its stdout."""
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, f"docker {' '.join(args)}: {proc.stderr}"
    return proc.stdout.strip()


class InHostScript:
    """A script of molecule/resources copied into a host (/usr/local/bin) and run there; the last line it
    prints is JSON."""

    script = ""

    def __init__(self, host):
        self.host = host
        source = REPO / "molecule" / "resources" / self.script
        host.ansible("copy", f"src={source} dest=/usr/local/bin/{self.script} mode=0755", become=True,
                     check=False)

    def run(self, prefix: str, *args: str) -> dict:
        import json

        out = self.host.run(f"{prefix} /usr/local/bin/{self.script} " + " ".join(shlex.quote(a) for a in args))
        assert out.rc == 0, f"{self.script} failed: {out.stderr[-3000:]}"
        return json.loads(out.stdout.strip().splitlines()[-1])


class TaskClient(InHostScript):
    """task_client.py with the workers' broker and result URLs, in the application's virtualenv."""

    script = "task_client.py"

    def __init__(self, host, venv: str = "/opt/superset/venv"):
        super().__init__(host)
        self.venv = venv

    def __call__(self, *args: str) -> dict:
        return self.run(f"set -a; . /etc/celery/worker.env; set +a; cd /tmp; {self.venv}/bin/python", *args)


class SupersetProbe(InHostScript):
    """superset_probe.py inside a Superset host, logged in as its admin (see that script)."""

    script = "superset_probe.py"

    def __init__(self, host, base: str = "http://127.0.0.1:8088"):
        super().__init__(host)
        self.base = base

    def __call__(self, *args: str) -> dict:
        password = shlex.quote(secret("superset_admin_password"))
        return self.run(f"SUPERSET_PROBE_USER=admin SUPERSET_PROBE_PASSWORD={password} "
                        "/opt/superset/venv/bin/python", self.base, *args)
