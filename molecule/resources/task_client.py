#!/usr/bin/env python3
"""Send and collect Celery tasks from inside a test host, with the broker and result URLs of the workers'
environment file (CELERY_BROKER_URL, CELERY_RESULT_BACKEND) and any virtualenv that has Celery.

    task_client.py send COUNT IDS_FILE [QUEUE]   send COUNT celery.accumulate(i) tasks, their ids to IDS_FILE
    task_client.py collect IDS_FILE TIMEOUT      wait for each result; count what ran and what is missing

celery.accumulate is built into Celery, so the workers of any application run it. Prints one JSON document.
"""

import json
import os
import sys
import time

from celery import Celery


def app() -> Celery:
    return Celery(broker=os.environ["CELERY_BROKER_URL"], backend=os.environ["CELERY_RESULT_BACKEND"])


def send(count: int, ids_file: str, queue: str) -> dict:
    celery = app()
    started = time.monotonic()
    ids = [celery.send_task("celery.accumulate", args=(i,), queue=queue).id for i in range(count)]
    with open(ids_file, "w", encoding="utf-8") as handle:
        json.dump(ids, handle)
    return {"sent": len(ids), "seconds": round(time.monotonic() - started, 2)}


def collect(ids_file: str, timeout: float) -> dict:
    """Poll the result backend (no AsyncResult.get: its pub/sub wait can outlive its timeout)."""
    celery = app()
    with open(ids_file, encoding="utf-8") as handle:
        ids = json.load(handle)
    started = time.monotonic()
    pending = dict(enumerate(ids))
    ran, failed, wrong = 0, 0, 0
    while pending and time.monotonic() - started < timeout:
        for index, task_id in list(pending.items()):
            meta = celery.backend.get_task_meta(task_id)
            if meta["status"] == "SUCCESS":
                # accumulate returns its arguments
                ran, wrong = (ran + 1, wrong) if list(meta["result"]) == [index] else (ran, wrong + 1)
            elif meta["status"] in ("FAILURE", "REVOKED"):
                failed += 1
            else:
                continue
            del pending[index]
        if pending:
            time.sleep(0.5)
    return {"count": len(ids), "ran": ran, "failed": failed, "wrong": wrong, "missing": len(pending),
            "seconds": round(time.monotonic() - started, 2)}


def main() -> int:
    command = sys.argv[1]
    if command == "send":
        answer = send(int(sys.argv[2]), sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else "celery")
    elif command == "collect":
        answer = collect(sys.argv[2], float(sys.argv[3]))
    else:
        raise SystemExit(f"unknown command {command}")
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
