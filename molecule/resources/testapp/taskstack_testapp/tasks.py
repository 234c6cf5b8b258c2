"""Tasks whose results say where and how they ran."""

import os
import time

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

# Memory kept on purpose by `allocate`, so that max-memory-per-child has something to recycle.
_HOARD = []


def _where(task, **extra):
    info = {
        "node": task.request.hostname,
        "pid": os.getpid(),
        "queue": (task.request.delivery_info or {}).get("routing_key"),
    }
    info.update(extra)
    return info


def _redis(task):
    """The result backend's Redis client: markers and beat ticks live there, not on disk."""
    return task.app.backend.client


@shared_task(bind=True)
def add(self, x, y):
    return _where(self, value=x + y)


@shared_task
def plus(x, y):
    """A number, for Celery's canvas (chains pass it on, chords collect it)."""
    return x + y


@shared_task
def total(values):
    return sum(values)


@shared_task(bind=True)
def sleep(self, seconds):
    time.sleep(float(seconds))
    return _where(self, slept=seconds)


@shared_task(bind=True)
def child_pid(self):
    return _where(self)


@shared_task(bind=True)
def allocate(self, megabytes):
    block = bytearray(int(megabytes) * 1024 * 1024)
    for i in range(0, len(block), 4096):
        block[i] = 1
    _HOARD.append(block)
    return _where(self, allocated_mb=megabytes)


@shared_task(bind=True)
def soft_limit_probe(self, seconds):
    try:
        time.sleep(float(seconds))
    except SoftTimeLimitExceeded:
        return _where(self, outcome="soft-time-limit-exceeded")
    return _where(self, outcome="finished")


@shared_task(bind=True)
def exit_abruptly(self):
    os._exit(1)


@shared_task(bind=True)
def slow_once(self, marker, seconds):
    """First delivery: record the child PID and sleep (the test kills it). Next delivery: finish at once."""
    client = _redis(self)
    attempt = client.incr(f"testapp:attempts:{marker}")
    client.expire(f"testapp:attempts:{marker}", 3600)
    if attempt == 1:
        client.set(f"testapp:pid:{marker}", os.getpid(), ex=3600)
        time.sleep(float(seconds))
    return _where(self, attempt=attempt)


@shared_task(bind=True)
def beat_tick(self):
    _redis(self).rpush("testapp:ticks", f"{time.time():.3f}")
    return _where(self)


@shared_task(bind=True)
def stubborn_sleep(self, seconds):
    """Ignores the soft time limit and sleeps on: only the hard limit stops it."""
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        try:
            time.sleep(max(0.0, deadline - time.monotonic()))
        except SoftTimeLimitExceeded:
            continue
    return _where(self, slept=seconds)
