#!/usr/bin/env python3
"""Memory of an installed worker pool over many no-op tasks, with its recycling settings as installed
(max-tasks-per-child, max-memory-per-child). Samples the PSS of the unit's processes (the main process and
its pool children) before the run and after every slice of tasks. One JSON document.

    memory.py --unit celery-worker@default.service [--tasks 10000] [--slices 10] [--queue celery]
"""

import argparse
import json
import os
import sys
import time

from tasks import produce  # the same producer as the throughput benchmark


def unit_rss_kib(unit: str) -> tuple[int, int]:
    """Memory (KiB) and process count of a systemd unit (ps knows each process's unit). PSS, not RSS: the
    prefork children share the parent's pages, which RSS would count once per process."""
    with os.popen("ps -eo pid=,unit=") as out:
        pids = [int(row[0]) for row in (line.split() for line in out) if len(row) == 2 and row[1] == unit]
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
                total += sum(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))
        except (FileNotFoundError, PermissionError):
            continue
    return total, len(pids)


def run_slice(queue: str, count: int) -> None:
    _, _, done, _ = produce((queue, count, time.time() + 300, 100))
    if done != count:
        raise SystemExit(f"{count - done} tasks did not finish")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--unit", default="celery-worker@default.service")
    parser.add_argument("--tasks", type=int, default=10000)
    parser.add_argument("--slices", type=int, default=10)
    parser.add_argument("--queue", default="celery")
    args = parser.parse_args()
    run_slice(args.queue, 100)  # warm-up: children forked and connected
    samples = [unit_rss_kib(args.unit)]
    per_slice = args.tasks // args.slices
    started = time.time()
    for _ in range(args.slices):
        run_slice(args.queue, per_slice)
        samples.append(unit_rss_kib(args.unit))
    rss = [s[0] for s in samples]
    print(json.dumps({"unit": args.unit, "tasks": per_slice * args.slices, "seconds": round(time.time() - started, 1),
                      "pss_kib": rss, "processes": [s[1] for s in samples], "start_kib": rss[0],
                      "end_kib": rss[-1], "max_kib": max(rss),
                      "growth_pct": round((rss[-1] - rss[0]) * 100 / rss[0], 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
