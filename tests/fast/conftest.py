"""The fast layer of the test suite: checks that need no container and run in seconds (scripts/fast-checks).

The templates are rendered once per session, at collection time, by tests/fast/render.py (an ansible-playbook
run per case, on no host: see its docstring), so that each rendered file becomes a test of its own. Tests
that take the `rendered` argument are run once per rendered file their `@pytest.mark.files(...)` marker
selects; tests that take `case` once per case; `unit` once per systemd unit to verify.

Environment:
  FAST_CHECKS_SEED     seed of the dummy secrets (default: random; printed in the header, to reproduce a run)
  FAST_CHECKS_WORKDIR  where the render runs and the temporary roots go (default: a temporary directory,
                       removed at the end); kept when given, with the generated playbooks and JSON results
  FAST_CHECKS_TIMINGS  a file to write the render's timings to, as JSON (scripts/fast-checks reads it)
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import render  # noqa: E402  (this directory is not a package)

_STATE: dict = {}


def _seed() -> int:
    if "seed" not in _STATE:
        _STATE["seed"] = int(os.environ.get("FAST_CHECKS_SEED") or random.SystemRandom().randrange(10 ** 9))
    return _STATE["seed"]


def workdir() -> Path:
    if "workdir" not in _STATE:
        given = os.environ.get("FAST_CHECKS_WORKDIR")
        if given:
            path = Path(given)
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True)
        else:
            path = Path(tempfile.mkdtemp(prefix="fast-checks-"))
            _STATE["remove"] = path
        _STATE["workdir"] = path
    return _STATE["workdir"]


def results() -> list[render.CaseResult]:
    """Every case's render results, rendered on first use."""
    if "results" not in _STATE:
        started = time.monotonic()
        _STATE["results"] = render.render_all(workdir() / "render", _seed())
        if os.environ.get("FAST_CHECKS_TIMINGS"):
            Path(os.environ["FAST_CHECKS_TIMINGS"]).write_text(json.dumps({
                "seconds": time.monotonic() - started,
                "cases": {r.case.name: round(r.seconds, 1) for r in _STATE["results"]},
                "files": sum(len(r.files) for r in _STATE["results"]),
            }))
    return _STATE["results"]


def all_files() -> list[render.Rendered]:
    return [f for r in results() for f in r.files]


def case_result(name: str) -> render.CaseResult:
    return next(r for r in results() if r.case.name == name)


def pytest_report_header(config):
    return [f"fast checks: dummy secrets seed {_seed()} (FAST_CHECKS_SEED={_seed()} reproduces this run)"]


def pytest_configure(config):
    config.addinivalue_line("markers", "files(selector): run the test once per rendered file selector(file) accepts")


def pytest_unconfigure(config):
    if "remove" in _STATE:
        shutil.rmtree(_STATE["remove"], ignore_errors=True)


def pytest_generate_tests(metafunc):
    if "rendered" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("files")
        selector = marker.args[0] if marker else (lambda f: True)
        files = [f for f in all_files() if selector(f)]
        metafunc.parametrize("rendered", files, ids=[f.id for f in files])
    if "case" in metafunc.fixturenames:
        names = [c.name for c in render.cases()]
        metafunc.parametrize("case", names, ids=names)
    if "unit" in metafunc.fixturenames:
        import units  # noqa: PLC0415  (only the tests that verify units need it)

        found = units.units_to_verify(all_files())
        metafunc.parametrize("unit", found, ids=[u.id for u in found])


@pytest.fixture(scope="session")
def scratch() -> Path:
    """A session-wide scratch directory (inside the work directory)."""
    path = workdir() / "scratch"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def secrets(rendered) -> dict[str, str]:
    """The dummy vault_* values of the rendered file's case ({} for the role defaults)."""
    return case_result(rendered.case).secrets


@pytest.fixture
def host_files(rendered) -> dict[str, render.Rendered]:
    """Every file rendered for the same host in the same case, by destination."""
    return {f.dest: f for f in all_files() if f.case == rendered.case and f.host == rendered.host}


def load_script(path: Path, name: str):
    """A Python script of the repository without a .py suffix (bench/run, scripts/role-docs) as a module."""
    import importlib.machinery  # noqa: PLC0415
    import importlib.util  # noqa: PLC0415

    loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_loader(name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module
