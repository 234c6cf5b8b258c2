"""Send one task and print its outcome as JSON (used by the tests inside the test hosts).

    python -m taskstack_testapp.client TASK [ARGS_JSON] [--queue Q] [--timeout S] [--no-wait]
    python -m taskstack_testapp.client --result-of TASK_ID [--timeout S]
    python -m taskstack_testapp.client --canvas [--timeout S]   a chain, a group and a chord, their results
"""

import argparse
import json
import sys

from taskstack_testapp.app import app


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("task", nargs="?")
    parser.add_argument("--result-of")
    parser.add_argument("args", nargs="?", default="[]")
    parser.add_argument("--queue")
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--no-wait", action="store_true")
    parser.add_argument("--canvas", action="store_true")
    opts = parser.parse_args(argv)
    if opts.canvas:
        print(json.dumps(canvas(opts.timeout)))
        return 0
    if opts.result_of:
        result = app.AsyncResult(opts.result_of)
    else:
        name = opts.task if "." in opts.task else f"taskstack_testapp.tasks.{opts.task}"
        result = app.send_task(name, args=json.loads(opts.args), queue=opts.queue)
    if opts.no_wait:
        print(json.dumps({"id": result.id}))
        return 0
    try:
        value = result.get(timeout=opts.timeout, propagate=False)
    except Exception as exc:  # a timeout: report it, the test decides
        print(json.dumps({"id": result.id, "state": "TIMEOUT", "error": repr(exc)}))
        return 0
    if isinstance(value, BaseException):
        value = {"exception": type(value).__name__, "message": str(value)}
    print(json.dumps({"id": result.id, "state": result.state, "result": value}))
    return 0


def canvas(timeout):
    """Celery's canvas through the result backend: a chain (each result the next one's argument), a group
    (results in order) and a chord (the group's results collected by a callback: the backend's group keys)."""
    from celery import chain, chord, group

    from taskstack_testapp.tasks import plus, total

    return {
        "chain": chain(plus.s(1, 2), plus.s(3), plus.s(4)).apply_async().get(timeout=timeout),
        "group": group(plus.s(i, i) for i in range(10)).apply_async().get(timeout=timeout),
        "chord": chord((plus.s(i, 1) for i in range(10)), total.s()).apply_async().get(timeout=timeout),
    }


if __name__ == "__main__":
    sys.exit(main())
