"""bench/run's figures section: `--from-json FILE --markdown [FILE]` on made-up reports, no benchmark run.

The reports below have the structure `bench/run --json` writes (bench/run's bench(): the machine and host facts,
the commit, the installer's three runs, then what bench/inhost/tasks.py, superset_probe.py sqllab-latency,
redis_aof.sh and memory.py print), with figures of the 2026-11-22 run where it had them. The renderer must give the
section's table shape (measure | figure | target), judge each target, and leave everything outside the two
markers as it was; a file without the markers is refused before anything runs.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import load_script

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "run"


bench = load_script(BENCH, "bench_run")


def _pool(rate, low, high, cpu, p50, p95, p99):
    """One pool's part of tasks.py's output (summary(): throughput over the rounds, latency over the samples)."""
    rounds = [{"tasks": 5000, "producers": 2, "done": 5000, "seconds": round(5000 / r, 2), "tasks_per_s": r,
               "cpu_us_per_task": dict(zip(("workers", "redis", "producers"), cpu))} for r in (low, rate, high)]
    return {"throughput": {"tasks_per_s": rate, "min": low, "max": high,
                           "cpu_us_per_task": dict(zip(("workers", "redis", "producers"), cpu)), "rounds": rounds},
            "latency": {"count": 900, "rate_per_s": 50.0, "lost": 0, "p50_ms": p50, "p95_ms": p95, "p99_ms": p99,
                        "mean_ms": round((p50 + p95) / 2, 2)}}


SUPERSET = {
    "machine": "2 CPUs (AMD EPYC 7B13 64-Core Processor), 24 GiB RAM, 6.1.0-27-cloud-amd64",
    "host": {"cpus": 2, "cpu_model": "AMD EPYC 7B13 64-Core Processor", "mem_gib": 23.5,
             "os": "Debian GNU/Linux 12 (bookworm)", "kernel": "6.1.0-27-cloud-amd64"},
    "commit": "c310aaf", "local_changes": False,
    "flavour": "superset", "date": "2026-11-22", "image": "local/systemd-debian:12",
    "installer": {
        "setup": {"seconds": 48.2},
        "first": {"seconds": 176.4, "changed": 62, "ok": 251,
                  "slowest": [["superset : Install the pinned requirements", 61.2]]},
        "again": {"seconds": 43.1, "changed": 0, "ok": 189,
                  "slowest": [["superset : Read the schema head and the admin account", 4.5],
                              ["celery_flower : Install Flower", 2.1]]},
    },
    "tasks": {
        "default": _pool(354.2, 340.0, 360.1, (2647, 379, 379), 3.1, 4.4, 6.0),
        "short": _pool(1115.3, 987.0, 1125.4, (1140, 239, 244), 2.38, 2.99, 3.9),
        "defaults": _pool(785.0, 770.2, 790.9, (1386, 245, 281), 2.46, 4.06, 5.2),
        "settings": {"tasks": 5000, "producers": 2, "batch": 100, "rounds": 3, "rate_per_s": 50.0,
                     "latency_tasks_per_round": 300,
                     "pools": {"default": {"queue": "celery", "units": ["celery-worker@default.service"]},
                               "short": {"queue": "bench_short", "units": ["celery-worker@short-1.service",
                                                                           "celery-worker@short-2.service"]},
                               "defaults": {"queue": "bench_defaults_41", "units": ["bench-defaults-worker.service"]}}},
    },
    "sqllab": {"count": 100, "failed": 0, "p50_ms": 117, "p95_ms": 135, "p99_ms": 305},
    "redis": {"off": {"set_per_s": 75103.2, "lpush_per_s": 76001.0},
              "everysec": {"set_per_s": 76153.5, "lpush_per_s": 75987.1},
              "always": {"set_per_s": 69095.0, "lpush_per_s": 68001.0},
              "requests": 200000, "clients": 50},
    "memory": {"unit": "celery-worker@default.service", "tasks": 10000, "seconds": 61.0,
               "pss_kib": [391168, 389120, 382976], "processes": [3, 3, 3], "start_kib": 391168,
               "end_kib": 382976, "max_kib": 391168, "growth_pct": -2.1},
}


def _django() -> dict:
    report = copy.deepcopy(SUPERSET)
    del report["sqllab"]  # bench/run leaves SQL Lab out of a Django run
    report["flavour"] = "django"
    report["installer"]["setup"]["seconds"], report["installer"]["first"]["seconds"] = 45.0, 94.0
    report["installer"]["first"]["changed"], report["installer"]["again"]["seconds"] = 67, 44.0
    report["tasks"]["short"] = _pool(765.0, 700.0, 780.0, (1700, 250, 250), 2.52, 3.26, 4.0)
    report["tasks"]["default"] = _pool(320.0, 300.0, 330.0, (2700, 380, 380), 3.3, 4.8, 6.1)
    report["tasks"]["defaults"] = _pool(776.0, 760.0, 790.0, (1390, 245, 280), 3.53, 4.90, 6.3)
    report["memory"].update(start_kib=137216, end_kib=95232, max_kib=146432, growth_pct=-30.6)
    return report


README = """# Benchmarks

Prose before, naming <!-- bench:figures:start --> inline (which is no marker).

## Figures

<!-- bench:figures:start -->
Old figures, recorded by hand.

| measure | figure | target |
|---|---|---|
| old | old | old |
<!-- bench:figures:end -->

Prose after, kept as it is.
"""


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    paths = {"readme": tmp_path / "README.md", "superset": tmp_path / "superset.json",
             "django": tmp_path / "django.json"}
    paths["readme"].write_text(README)
    paths["superset"].write_text(json.dumps(SUPERSET, indent=2))
    paths["django"].write_text(json.dumps(_django(), indent=2))
    return paths


def _section(text: str) -> str:
    return text.split("\n<!-- bench:figures:start -->\n", 1)[1].split("<!-- bench:figures:end -->", 1)[0]


def _table(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in _section(text).splitlines():
        if line.startswith("| ") and not line.startswith("| measure"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows[cells[0]] = cells[1:]
    return rows


def test_one_run_from_json(files):
    proc = run("--from-json", str(files["superset"]), "--markdown", str(files["readme"]))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Installer: the README's two commands in the host, superset flavour" in proc.stdout, "the tables too"
    text = files["readme"].read_text()
    assert text.startswith(README.split("\n<!-- bench:figures:start -->\n")[0])
    assert text.endswith("<!-- bench:figures:end -->\n\nProse after, kept as it is.\n"), text
    section = _section(text)
    assert "Old figures" not in section and "| old |" not in section
    assert section.startswith("2026-11-22, commit `c310aaf`, on 2 CPUs AMD EPYC 7B13, 24 GiB, "
                              "Debian GNU/Linux 12 (bookworm) host: the Superset run. "
                              "Throughput is the median of 3 rounds."), section
    assert "| measure | figure | target |\n|---|---|---|\n" in section
    rows = _table(text)
    assert list(rows) == [row[0] for row in bench.ROWS[:6]] + ["`default` pool memory across 10,000 tasks"]
    assert rows["`scripts/setup --no-test-hosts` / first converge / idempotent re-run (pip cache warm)"] == [
        "48 s / 176 s, 62 changed / 43 s, 0 changed", "first ≤ 300 s: met; re-run ≤ 30 s: **not met**"]
    assert rows["no-op tasks/s: short preset / `default` pool / untuned defaults"] == [
        "1,115 (987-1,125) / 354 / 785: preset 1.42x the defaults", "≥ 1,000: met; ≥ 2x: **not met**"]
    assert rows["no-op latency p50 / p95, short preset vs defaults"] == [
        "2.38 / 2.99 ms vs 2.46 / 4.06 ms: 3% and 26% lower", "≥ 25% lower: p50 **not met**, p95 met"]
    assert rows["CPU per no-op task: pool / Redis / producers"] == [
        "short preset 1,140 / 239 / 244 µs; defaults 1,386 / 245 / 281 µs; `default` pool 2,647 / 379 / 379 µs", ""]
    assert rows["SQL Lab `SELECT 1` p50 / p95 / p99"] == ["117 / 135 / 305 ms, 0 failed", "p50 ≤ 150 ms: met"]
    assert rows["Redis SET/s with AOF off / everysec / always"] == [
        "75,100 / 76,200 / 69,100 (everysec +1.4%, always −8.0%)", "everysec within 10%: met"]
    assert rows["`default` pool memory across 10,000 tasks"] == [
        "382 MiB to 374 MiB, −2.1% (max 382 MiB)", "≤ 10% growth: met"]
    # A second rewrite from the same figures changes nothing.
    assert run("--from-json", str(files["superset"]), "--markdown", str(files["readme"])).returncode == 0
    assert files["readme"].read_text() == text


def test_two_flavours_share_the_table(files):
    proc = run("--from-json", str(files["superset"]), "--from-json", str(files["django"]),
               "--markdown", str(files["readme"]))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = files["readme"].read_text()
    assert "host: the Superset run, the Django run in brackets." in _section(text)
    rows = _table(text)
    installer = rows["`scripts/setup --no-test-hosts` / first converge / idempotent re-run (pip cache warm)"]
    assert installer == ["48 s / 176 s, 62 changed / 43 s, 0 changed (Django: 45 s / 94 s, 67 changed / 44 s, "
                         "0 changed)", "first ≤ 300 s (Django ≤ 180 s): met; re-run ≤ 30 s: **not met**"]
    put = rows["no-op tasks/s: short preset / `default` pool / untuned defaults"]
    assert put == ["1,115 (987-1,125) / 354 / 785: preset 1.42x the defaults (Django: 765 / 320 / 776, 0.99x)",
                   "≥ 1,000: met for Superset, **not met** for Django; ≥ 2x: **not met**"]
    latency = rows["no-op latency p50 / p95, short preset vs defaults"]
    assert latency[0].endswith("(Django: 2.52 / 3.26 vs 3.53 / 4.90 ms, 29% / 33% lower)"), latency
    assert latency[1] == "≥ 25% lower: p50 met for Django, **not met** for Superset, p95 met"
    assert rows["SQL Lab `SELECT 1` p50 / p95 / p99"] == ["117 / 135 / 305 ms, 0 failed", "p50 ≤ 150 ms: met"], \
        "a part only the main run has is shown without brackets"
    memory = rows["`default` pool memory across 10,000 tasks"]
    assert memory[0] == "382 MiB to 374 MiB, −2.1% (max 382 MiB) (Django: 134 MiB to 93 MiB, −30.6% (max 143 MiB))"
    assert text.endswith("\n\nProse after, kept as it is.\n")


def test_parts_left_out_and_an_older_report(files):
    """A run with --only installer has no task rows; a report from before host and commit were saved still works."""
    report = {k: v for k, v in SUPERSET.items() if k not in ("tasks", "sqllab", "redis", "memory", "host", "commit",
                                                            "local_changes")}
    files["superset"].write_text(json.dumps(report))
    proc = run("--from-json", str(files["superset"]), "--markdown", str(files["readme"]))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    section = _section(files["readme"].read_text())
    assert section.startswith("2026-11-22, commit `unknown`, on 2 CPUs AMD EPYC 7B13, 24 GiB: the Superset run. "
                              "Written by"), section
    assert list(_table(files["readme"].read_text())) == [bench.ROWS[0][0]]


def test_local_changes_and_a_slower_preset():
    report = copy.deepcopy(SUPERSET)
    report["local_changes"] = True
    report["tasks"]["short"]["latency"].update(p50_ms=2.60, p95_ms=3.0)
    section = bench.figures([report])
    assert "commit `c310aaf` with local changes" in section
    assert "2.60 / 3.00 ms vs 2.46 / 4.06 ms: 6% higher and 26% lower" in section


def test_refusals(files, tmp_path):
    files["readme"].write_text(README.replace("<!-- bench:figures:end -->\n", ""))
    proc = run("--from-json", str(files["superset"]), "--markdown", str(files["readme"]))
    assert proc.returncode != 0 and "needs one <!-- bench:figures:start --> line before one" in proc.stderr
    assert files["readme"].read_text() == README.replace("<!-- bench:figures:end -->\n", ""), "left as it was"
    proc = run("--from-json", str(files["superset"]), "--json", str(tmp_path / "x.json"))
    assert proc.returncode != 0 and "--from-json runs nothing" in proc.stderr
    (tmp_path / "bad.json").write_text('{"flavour": "superset"}')
    proc = run("--from-json", str(tmp_path / "bad.json"))
    assert proc.returncode != 0 and "is not a report of bench/run --json" in proc.stderr


def test_bench_run_still_starts_and_its_readme_has_the_markers():
    proc = run("--help")
    assert proc.returncode == 0 and "--markdown" in proc.stdout and "--from-json" in proc.stdout, proc.stderr
    text = (ROOT / "bench" / "README.md").read_text()
    lines = text.splitlines()
    assert lines.count(bench.FIGURES_START) == 1 and lines.count(bench.FIGURES_END) == 1
    assert lines.index(bench.FIGURES_START) > lines.index("## Figures") and \
        lines.index(bench.FIGURES_START) < lines.index(bench.FIGURES_END)
