#!/usr/bin/env python3
"""No-op task throughput and latency through the installed broker and result backend, against a worker
started with Celery's untuned defaults on the same Redis, in the same run. Runs inside a host of the stack
(bench/run copies it there) with the application's virtualenv python and the workers' environment file.

    tasks.py --user U --venv V [--pool LABEL=QUEUE:POOL,... ...] [--tasks 5000] [--producers 2] [--rounds 3]
             [--batch 100] [--rate 50] [--latency-tasks 300]

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


def pipelined(producer, batch: int = 100):
    """Make this producer's channel push messages to Redis in batches (one round trip per `batch` messages)
    instead of one LPUSH each. The messages are the ones send_task builds, byte for byte; only the round
    trips change. Returns the function that pushes what is left."""
    from kombu.transport.redis import dumps

    channel = producer.channel
    pipe = channel.client.pipeline(transaction=False)

    def put(queue, message, **kwargs):  # kombu.transport.redis.Channel._put, into a pipeline
        pipe.lpush(channel._q_for_pri(queue, channel._get_message_priority(message, reverse=False)), dumps(message))
        if len(pipe) >= batch:
            pipe.execute()

    channel._put = put
    return pipe.execute


def produce(job):
    """One producer process: send its share, then wait until every result of its share is stored."""
    queue, count, deadline, batch = job
    app = make_app()
    cpu_started = time.process_time()
    with app.producer_or_acquire() as producer:
        flush = pipelined(producer, batch) if batch > 1 else (lambda: None)
        ids = [app.send_task("celery.accumulate", args=(i,), queue=queue, producer=producer).id
               for i in range(count)]
        flush()
    sent = time.time()
    client = app.backend.client
    keys = [app.backend.get_key_for_task(task_id) for task_id in ids]
    # Results come back roughly in the order sent: every 10 ms, ask for the oldest 100 outstanding, so that
    # polling takes little CPU from the workers (it shares the host's cores with them) whatever the backlog.
    pending = keys
    while pending and time.time() < deadline:
        head = pending[:100]
        pending = [key for key, value in zip(head, client.mget(head)) if value is None] + pending[100:]
        if pending:
            time.sleep(0.01)
    return sent, time.time(), len(keys) - len(pending), time.process_time() - cpu_started


def cpu_ns(units: list[str]) -> int:
    """CPU time of these units' processes, from /proc: user+system of every live process in the unit's
    cgroup, plus what their reaped children used (a recycled prefork child is counted by its parent).
    Read from /proc because systemd's CPUUsageNSec needs the cpu controller, which test containers on a
    cgroup v1 host do not delegate."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for unit in units:
        cgroup = subprocess.run(["systemctl", "show", "-p", "ControlGroup", "--value", unit], capture_output=True,
                                text=True, check=True).stdout.strip()
        for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"):
            procs = f"{root}{cgroup}/cgroup.procs"
            if cgroup and os.path.exists(procs):
                break
        else:
            continue
        with open(procs, encoding="ascii") as handle:
            pids = handle.read().split()
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue  # exited meanwhile
            total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return total * 1_000_000_000 // tick


def throughput(queue: str, units: list[str], tasks: int, producers: int, batch: int, timeout: float = 600) -> dict:
    """N tasks from several producer processes, until every result is stored; with the CPU time per task
    of the pool's units, of Redis and of the producers (where the host's two cores go)."""
    share = [tasks // producers + (1 if i < tasks % producers else 0) for i in range(producers)]
    # Fresh interpreters (spawn): a forked producer would inherit this process's broker connections, and
    # kombu's after-fork clean-up blocks on a channel still waiting in BRPOP.
    pool = multiprocessing.get_context("spawn").Pool(producers)
    try:
        pool.map(time.sleep, [0] * producers)  # interpreters up before the clock starts
        workers_before, redis_before = cpu_ns(units), cpu_ns(["redis-server.service"])
        started = time.time()
        results = pool.map(produce, [(queue, n, started + timeout, batch) for n in share])
        workers_ns, redis_ns = cpu_ns(units) - workers_before, cpu_ns(["redis-server.service"]) - redis_before
    finally:
        pool.close()
        pool.join()
    producers_s = sum(r[3] for r in results)
    done = sum(r[2] for r in results)
    seconds = max(r[1] for r in results) - started
    per_task = {"workers": workers_ns / 1000 / max(done, 1), "redis": redis_ns / 1000 / max(done, 1),
                "producers": producers_s * 1e6 / max(done, 1)}
    return {"tasks": tasks, "producers": producers, "done": done, "seconds": round(seconds, 2),
            "tasks_per_s": round(done / seconds, 1),
            "cpu_us_per_task": {name: round(value) for name, value in per_task.items()}}


def latency(queue: str, count: int, rate: float) -> tuple[list[float], int]:
    """Submit-to-result at a fixed low rate: subscribe to the task's result channel, send, wait.
    Returns the samples in milliseconds and the number of results that never came."""
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
    pubsub.close()
    return samples, lost


def summary(runs: list[dict], samples: list[float], lost: int, rate: float) -> dict:
    """Median throughput of the rounds (and their spread); latency percentiles over every sample."""
    rates = sorted(run["tasks_per_s"] for run in runs)
    samples = sorted(samples)

    def pct(p):
        return round(samples[min(len(samples) - 1, int(round(p / 100 * (len(samples) - 1))))], 2)

    cpu = {part: round(statistics.mean(run["cpu_us_per_task"][part] for run in runs))
           for part in runs[0]["cpu_us_per_task"]}
    return {"throughput": {"tasks_per_s": round(statistics.median(rates), 1), "min": rates[0], "max": rates[-1],
                           "cpu_us_per_task": cpu, "rounds": runs},
            "latency": {"count": len(samples) + lost, "rate_per_s": rate, "lost": lost, "p50_ms": pct(50),
                        "p95_ms": pct(95), "p99_ms": pct(99), "mean_ms": round(statistics.mean(samples), 2)}}


DEFAULTS_UNIT = "bench-defaults-worker.service"


def start_default_worker(queue: str, user: str, venv: str) -> None:
    """Celery's untuned defaults: prefork, concurrency 2 (this host's CPUs), prefetch 4, no -O fair, early
    acks, no task events, on the same Redis and result backend, its own queue. A transient systemd unit
    (accounted like the installed pools); the URLs come from the workers' environment file, never argv."""
    subprocess.run(["systemctl", "stop", DEFAULTS_UNIT], capture_output=True, check=False)
    subprocess.run(["systemctl", "reset-failed", DEFAULTS_UNIT], capture_output=True, check=False)
    subprocess.run(["systemd-run", f"--unit={DEFAULTS_UNIT}", f"--uid={user}", f"--gid={user}",
                    "--property=EnvironmentFile=/etc/celery/worker.env", "--property=WorkingDirectory=/tmp",
                    f"{venv}/bin/celery", "worker", "--queues", queue, "--hostname", "bench-defaults@%h",
                    "--concurrency", "2", "--loglevel", "WARNING", "--without-mingle", "--without-gossip"],
                   capture_output=True, check=True)
    app = make_app()
    deadline = time.time() + 60
    while time.time() < deadline:
        replies = app.control.ping(timeout=1)
        if any(name.startswith("bench-defaults@") for reply in replies for name in reply):
            return
    subprocess.run(["systemctl", "stop", DEFAULTS_UNIT], capture_output=True, check=False)
    raise SystemExit(f"the defaults worker did not start: see journalctl -u {DEFAULTS_UNIT}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=100,
                        help="messages per Redis round trip when sending (1: one LPUSH per send_task, as usual)")
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--latency-tasks", type=int, default=300, help="per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pool", action="append", metavar="LABEL=QUEUE:POOL,...",
                        help="installed pools and a queue only they consume (repeatable; default: "
                             "default=celery:default)")
    parser.add_argument("--user", required=True, help="the application's user (runs the defaults worker)")
    parser.add_argument("--venv", required=True)
    args = parser.parse_args()

    # --pool LABEL=QUEUE:POOL[,POOL...]: the installed pools (celery-worker@POOL units) serving QUEUE alone.
    targets = []
    for spec in args.pool or ["default=celery:default"]:
        label, rest = spec.split("=", 1)
        queue, _, names = rest.partition(":")
        targets.append((label, queue, [f"celery-worker@{name}.service" for name in (names or label).split(",")]))
    queue = f"bench_defaults_{os.getpid()}"
    start_default_worker(queue, args.user, args.venv)
    targets.append(("defaults", queue, [DEFAULTS_UNIT]))
    runs = {name: [] for name, _, _ in targets}
    samples = {name: [] for name, _, _ in targets}
    lost = dict.fromkeys(runs, 0)
    try:
        for name, target, units in targets:  # warm-up (connections, pool children), not measured
            throughput(target, units, 200, 1, args.batch)
        # Rounds interleave the workers, so that a slow minute of the machine hits all of them alike.
        for _ in range(args.rounds):
            for name, target, units in targets:
                runs[name].append(throughput(target, units, args.tasks, args.producers, args.batch))
                got, missing = latency(target, args.latency_tasks, args.rate)
                samples[name] += got
                lost[name] += missing
    finally:
        subprocess.run(["systemctl", "stop", DEFAULTS_UNIT], capture_output=True, check=False)
    report = {name: summary(runs[name], samples[name], lost[name], args.rate) for name in runs}
    report["settings"] = {"tasks": args.tasks, "producers": args.producers, "batch": args.batch, "rounds": args.rounds,
                          "rate_per_s": args.rate, "latency_tasks_per_round": args.latency_tasks,
                          "pools": {name: {"queue": queue, "units": units} for name, queue, units in targets}}
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
