"""systemd-analyze verify for the rendered units, in a throwaway root per host.

`systemd-analyze verify --root=ROOT` reads units, drop-ins and executables below ROOT, so each (case, host)
gets a root that holds:
  * this machine's /usr/lib/systemd/system (the targets and units the rendered ones order themselves after);
  * every file rendered for that host, at its destination (units, drop-ins, the files they name);
  * an empty executable at every absolute path an Exec*= line names that the root lacks: the programs come
    from virtualenvs and packages a real host installs, which are not here. Only that message class
    ("Command ... is not executable") is avoided this way; every other message still fails the check;
  * a stand-in base unit for a drop-in whose unit the role does not render and this machine lacks
    (redis-server.service comes with Debian's redis-server package), so that the drop-in itself is checked.

The verify runs with --recursive-errors=no (the units of this machine are not under test), --generators=no
and --man=no (no network, no man pages), one unit per run, and fails on any output at all: systemd reports an
unknown key or an unparsable value as a warning ("..., ignoring"), and the way the roles' own
`validate: systemd-analyze verify %s:NAME` runs it exits 0 for those (systemd 252), so the unit would be
installed with the directive silently dropped.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from pathlib import Path

from formats import unit_commands

UNIT_DIR = "/etc/systemd/system/"
UNIT_SUFFIXES = (".service", ".target", ".socket", ".timer", ".path", ".mount", ".slice")
SYSTEM_UNITS = Path("/usr/lib/systemd/system")
DEFAULT_INSTANCE = "fastcheck"
STAND_IN = """\
[Unit]
Description=Stand-in for {name}, which this machine lacks (the fast checks verify its drop-ins)

[Service]
ExecStart=/usr/bin/true
"""


@dataclasses.dataclass(frozen=True)
class Unit:
    case: str
    host: str
    name: str  # what systemd-analyze verifies, e.g. celery-worker@default.service
    files: tuple[str, ...]  # destinations of the rendered files that make it up

    @property
    def id(self) -> str:
        return f"{self.case}/{self.host}:{self.name}"


def unit_name(dest: str) -> str | None:
    """The unit a file under /etc/systemd/system/ belongs to (the unit itself or the unit of a drop-in)."""
    if not dest.startswith(UNIT_DIR):
        return None
    rest = dest[len(UNIT_DIR):]
    if "/" not in rest:
        return rest if rest.endswith(UNIT_SUFFIXES) else None
    directory, _, filename = rest.partition("/")
    if directory.endswith(".d") and filename.endswith(".conf"):
        return directory[:-2]
    return None


def units_to_verify(files) -> list[Unit]:
    by_host: dict[tuple[str, str], list] = {}
    for f in files:
        if unit_name(f.dest):
            by_host.setdefault((f.case, f.host), []).append(f)
    found = []
    for (case, host), unit_files in sorted(by_host.items()):
        names: dict[str, set[str]] = {}
        templates = {unit_name(f.dest) for f in unit_files if "@." in unit_name(f.dest)}
        for f in unit_files:
            name = unit_name(f.dest)
            if name in templates:
                continue  # verified through its instances below
            names.setdefault(name, set()).add(f.dest)
        for template in sorted(templates):
            prefix, _, suffix = template.partition("@")  # "celery-worker", ".service"
            instances = [n for n in names if n.startswith(prefix + "@") and n.endswith(suffix)
                         and len(n) > len(template)]
            for instance in instances or [f"{prefix}@{DEFAULT_INSTANCE}{suffix}"]:
                names.setdefault(instance, set()).add(UNIT_DIR + template)
        for name, dests in sorted(names.items()):
            found.append(Unit(case, host, name, tuple(sorted(dests))))
    return found


def build_root(root: Path, host_files) -> Path:
    """The root for one host (see the module docstring). Built once; host_files: the host's rendered files."""
    if (root / ".ready").exists():
        return root
    shutil.copytree(SYSTEM_UNITS, root / SYSTEM_UNITS.relative_to("/"), symlinks=True, dirs_exist_ok=True)
    for f in host_files:
        target = root / f.dest.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f.content)
    unit_texts = [f.content for f in host_files if unit_name(f.dest)]
    for f in host_files:
        name = unit_name(f.dest)
        if not name or not f.dest.endswith(".conf"):
            continue
        template = re.sub(r"@[^.]+\.", "@.", name)
        bases = [root / UNIT_DIR.lstrip("/") / n for n in (name, template)]
        bases += [root / SYSTEM_UNITS.relative_to("/") / n for n in (name, template)]
        if not any(b.exists() for b in bases):
            stand_in = root / SYSTEM_UNITS.relative_to("/") / name
            stand_in.write_text(STAND_IN.format(name=name))
            unit_texts.append(stand_in.read_text())
        else:
            # A package's unit this machine has (postgresql@.service): the programs it runs may be absent here.
            unit_texts += [b.read_text() for b in bases if b.exists()]
    for text in unit_texts:
        for command in unit_commands(text):
            if command.startswith("/"):
                target = root / command.lstrip("/")
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text("#!/bin/sh\n")
                    target.chmod(0o755)
    (root / ".ready").write_text("")
    return root


def verify(root: Path, unit: str) -> tuple[int, str]:
    """Run systemd-analyze verify on one unit in the root: (exit status, output with the root stripped)."""
    proc = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", "--generators=no", "--recursive-errors=no", f"--root={root}",
         unit],
        capture_output=True, text=True, env=dict(os.environ, SYSTEMD_LOG_COLOR="0", SYSTEMD_PAGER="cat"),
        timeout=60,
    )
    output = (proc.stdout + proc.stderr).replace(str(root), "")
    return proc.returncode, output.strip()
