#!/usr/bin/env python3
"""No-op task throughput and latency through the installed broker and result backend, against a worker
started with Celery's untuned defaults on the same Redis, in the same run. Runs inside a host of the stack
(bench/run copies it there) with the application's virtualenv python and the workers' environment file.

    tasks.py [--tasks 5000] [--producers 4] [--rate 50] [--latency-tasks 500]

The task is Celery's built-in celery.accumulate (every Celery app has it; it returns its argument), so the
installed pools run it as they are, with the application they serve. Results are read straight from the
result backend (MGET of celery-task-meta-* keys), latency from the backend's own publish of each result.
Prints one JSON document (bench/run turns it into tables).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import multiprocessing

from celery import Celery


def make_app() -> Celery:
    app = Celery(broker=os.environ["CELERY_BROKER_URL"], backend=os.environ["CELERY_RESULT_BACKEND"])
    # Results are read with MGET (throughput) or an explicit subscription (latency). Celery's own result
    # consumer would subscribe to every task sent, and a producer that never reads that subscription stalls
    # once Redis's pub/sub output buffer for it is full.
    app.backend.result_consumer.consume_from = lambda task_id: None
    return app


def produce(job):
    """One producer process: send its share, then wait until every result of its share is stored."""
    queue, count, deadline = job
    app = make_app()
    ids = [app.send_task("celery.accumulate", args=(i,), queue=queue).id for i in range(count)]
    sent = time.time()
    client = app.backend.client
    keys = [app.backend.get_key_for_task(task_id) for task_id in ids]
    pending = keys
    while pending and time.time() < deadline:
        found = client.mget(pending)
        pending = [key for key, value in zip(pending, found) if value is None]
        if pending:
            time.sleep(0.005)
    return sent, time.time(), len(keys) - len(pending)


def throughput(queue: str, tasks: int, producers: int, timeout: float = 600) -> dict:
    share = [tasks // producers + (1 if i < tasks % producers else 0) for i in range(producers)]
    # Fresh interpreters (spawn): a forked producer would inherit this process's broker connections, and
    # kombu's after-fork clean-up blocks on a channel still waiting in BRPOP.
    with multiprocessing.get_context("spawn").Pool(producers) as pool:
        started = time.time()
        results = pool.map(produce, [(queue, n, started + timeout) for n in share])
    done = sum(r[2] for r in results)
    finished = max(r[1] for r in results)
    seconds = finished - started
    return {"tasks": tasks, "producers": producers, "done": done, "seconds": round(seconds, 2),
            "tasks_per_s": round(done / seconds, 1)}


def latency(queue: str, count: int, rate: float) -> dict:
    """Submit-to-result at a fixed low rate: subscribe to the task's result channel, send, wait."""
    app = make_app()
    backend = app.backend
    pubsub = backend.client.pubsub(ignore_subscribe_messages=True)
    samples, lost = [], 0
    interval = 1.0 / rate
    next_at = time.monotonic()
    for i in range(count):
        now = time.monotonic()
        if now < next_at:
            time.sleep(next_at - now)
        next_at += interval
        task_id = f"bench-{os.getpid()}-{i}-{time.time_ns()}"
        channel = backend.get_key_for_task(task_id)
        pubsub.subscribe(channel)
        started = time.perf_counter()
        app.send_task("celery.accumulate", args=(i,), queue=queue, task_id=task_id)
        got = None
        deadline = started + 10
        while got is None and time.perf_counter() < deadline:
            message = pubsub.get_message(timeout=1)
            if message and message.get("type") == "message":
                got = time.perf_counter()
        pubsub.unsubscribe(channel)
        if got is None:
            lost += 1
        else:
            samples.append((got - started) * 1000)
    samples.sort()

    def pct(p):
        return round(samples[min(len(samples) - 1, int(round(p / 100 * (len(samples) - 1))))], 2)

    return {"count": count, "rate_per_s": rate, "lost": lost, "p50_ms": pct(50), "p95_ms": pct(95),
            "p99_ms": pct(99), "mean_ms": round(statistics.mean(samples), 2)}


def start_default_worker(queue: str, user: str, venv: str) -> subprocess.Popen:
    """Celery's untuned defaults: prefork, concurrency 2 (this host's CPUs), prefetch 4, no -O fair, early
    acks, on the same Redis and result backend, its own queue."""
    cmd = ["runuser", "-u", user, "--", f"{venv}/bin/celery",
           "--broker", os.environ["CELERY_BROKER_URL"], "--result-backend", os.environ["CELERY_RESULT_BACKEND"],
           "worker", "--queues", queue, "--hostname", f"bench-defaults-{os.getpid()}@%h", "--concurrency", "2",
           "--loglevel", "WARNING", "--without-mingle", "--without-gossip"]
    worker = subprocess.Popen(cmd, cwd="/tmp", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    app = make_app()
    deadline = time.time() + 60
    while time.time() < deadline:
        replies = app.control.ping(timeout=1)
        if any(name.startswith(f"bench-defaults-{os.getpid()}@") for reply in replies for name in reply):
            return worker
    worker.kill()
    raise SystemExit(f"the defaults worker did not start: {worker.stderr.read().decode()[-2000:]}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--latency-tasks", type=int, default=500)
    parser.add_argument("--queue", default="celery", help="the installed pools' queue")
    parser.add_argument("--user", required=True, help="the application's user (runs the defaults worker)")
    parser.add_argument("--venv", required=True)
    args = parser.parse_args()

    report = {}
    # Warm-up (connections, pool children), not measured.
    throughput(args.queue, 200, 1)
    report["installed"] = {"throughput": throughput(args.queue, args.tasks, args.producers),
                           "latency": latency(args.queue, args.latency_tasks, args.rate)}
    queue = f"bench_defaults_{os.getpid()}"
    worker = start_default_worker(queue, args.user, args.venv)
    try:
        throughput(queue, 200, 1)
        report["defaults"] = {"throughput": throughput(queue, args.tasks, args.producers),
                              "latency": latency(queue, args.latency_tasks, args.rate)}
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
