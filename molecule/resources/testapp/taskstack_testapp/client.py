"""Send one task and print its outcome as JSON (used by the tests inside the test hosts).

    python -m taskstack_testapp.client TASK [ARGS_JSON] [--queue Q] [--timeout S] [--no-wait]
    python -m taskstack_testapp.client --result-of TASK_ID [--timeout S]
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
    opts = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
