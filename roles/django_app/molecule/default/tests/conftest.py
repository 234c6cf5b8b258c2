"""Fixtures of the django_app scenario, and a small HTTP client that runs inside a test host."""

import json
import shlex
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[5] / "molecule" / "resources"))

CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"
HOSTS = ["django-debian12", "django-debian13"]
BASE = "http://127.0.0.1:8000"

# Runs with the host's own python3: a CSRF token from GET /jobs/csrf/, then one JSON POST per requested job,
# each timed on its own, then polls every job's status until it ends. Prints one JSON document.
JOBS_CLIENT = r'''
import http.cookiejar, json, sys, time, urllib.error, urllib.request
base, seconds, count, deadline = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
def call(method, path, body=None, headers=None):
    req = urllib.request.Request(base + path, data=body, method=method, headers=headers or {})
    t0 = time.perf_counter()
    try:
        with opener.open(req, timeout=30) as r:
            status, data = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, data = e.code, e.read()
    return status, data, time.perf_counter() - t0
status, data, _ = call("GET", "/jobs/csrf/")
token = json.loads(data)["csrfToken"]
posts = []
for _ in range(count):
    status, data, took = call("POST", "/jobs/", json.dumps({"seconds": seconds}).encode(),
                              {"Content-Type": "application/json", "Accept": "application/json",
                               "X-CSRFToken": token})
    posts.append({"status": status, "seconds": took, "job": json.loads(data)})
polls, final = 0, {}
end = time.monotonic() + deadline
for post in posts:
    while time.monotonic() < end:
        status, data, _ = call("GET", post["job"]["status_url"])
        polls += 1
        job = json.loads(data)
        if job["done"]:
            break
        time.sleep(0.5)
    final[post["job"]["id"]] = job
print(json.dumps({"posts": posts, "final": final, "polls": polls}))
'''


def run_jobs(host, seconds, count=1, deadline=60.0):
    out = host.run(f"python3 -c {shlex.quote(JOBS_CLIENT)} {BASE} {seconds} {count} {deadline}")
    assert out.rc == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def jobs_run(host):
    """Three 4-second jobs queued back to back on this host, followed until they end."""
    return run_jobs(host, 4, count=3)

