"""Monitoring on the converged single node: every target is scraped, every metric a rule uses is in a real
scrape, and real faults fire their alerts through Alertmanager to a webhook receiver this test runs on the
host (127.0.0.1:9199): every pool stopped with tasks queued (CeleryPoolDown, CeleryQueueBacklog), Redis
stopped (RedisDown); starting them again resolves the alerts. The scenario shortens every `for:` to 10 s and
scrapes every 5 s (molecule.yml). Fault-to-alert seconds are printed; they are figures, not assertions."""

import json
import re
import shlex
import time

import pytest
from pathlib import Path

from stacktest import TaskClient, http_get, run_playbook, secret, wait_for

testinfra_hosts = ["single-node"]

PROMETHEUS = "http://127.0.0.1:9090"
ALERTMANAGER = "http://127.0.0.1:9093"
RULES = "/etc/prometheus/rules/taskstack.rules.yml"
WORKER = "celery-worker@default.service"
STATUS = Path(__file__).resolve().parents[3] / "playbooks" / "status.yml"
WEBHOOK_LOG = "/var/tmp/alert-webhook.jsonl"
# A receiver for Alertmanager's webhook: appends every notification it gets to WEBHOOK_LOG.
WEBHOOK = f"""
import http.server
class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        with open({WEBHOOK_LOG!r}, 'ab') as log:
            log.write(body.replace(b'\\n', b' ') + b'\\n')
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(('127.0.0.1', 9199), Receiver).serve_forever()
"""
# PromQL words that are not metric names.
PROMQL_WORDS = {"sum", "max", "min", "count", "avg", "by", "without", "on", "ignoring", "group_left",
                "group_right", "and", "or", "unless", "vector", "increase", "rate", "absent", "bool", "offset",
                "histogram_quantile"}
DASHBOARD = Path(__file__).resolve().parents[3] / "roles" / "monitoring" / "files" / "grafana-dashboard.json"


def metric_names(exprs) -> set[str]:
    """The metric names PromQL expressions read."""
    names = set()
    for expr in exprs:
        # Leave out strings, ranges, label matchers and the label lists of by/on/group_left (...).
        expr = re.sub(r'"[^"]*"|`[^`]*`|\[[^\]]*\]|\{[^}]*\}'
                      r'|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)', " ", expr)
        names |= {n for n in re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", expr) if n not in PROMQL_WORDS}
    return names


def api(host, url: str):
    """A GET of Prometheus's or Alertmanager's API, with their web login."""
    status, body = http_get(host, url, "operator", secret("monitoring_web_password"))
    assert status == 200, f"{url}: {status} {body[:500]}"
    return json.loads(body)


def query(host, expr: str) -> list:
    from urllib.parse import quote

    return api(host, f"{PROMETHEUS}/api/v1/query?query={quote(expr)}")["data"]["result"]


def firing(host) -> set[str]:
    """The alert names Alertmanager holds as active (not silenced, not resolved)."""
    alerts = api(host, f"{ALERTMANAGER}/api/v2/alerts?active=true&silenced=false&inhibited=false")
    return {a["labels"]["alertname"] for a in alerts if a["status"]["state"] == "active"}


def notified(host) -> list[dict]:
    out = host.run(f"cat {WEBHOOK_LOG} 2>/dev/null")
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def notified_firing(host, alertname: str) -> bool:
    return any(a["labels"]["alertname"] == alertname and a["status"] == "firing"
               for n in notified(host) for a in n["alerts"])


@pytest.fixture(scope="module")
def webhook(host):
    host.run(f"rm -f {WEBHOOK_LOG}; systemctl stop alert-webhook.service 2>/dev/null; "
             "systemctl reset-failed alert-webhook.service 2>/dev/null")
    out = host.run(f"systemd-run --unit=alert-webhook --property=Restart=on-failure python3 -c {shlex.quote(WEBHOOK)}")
    assert out.rc == 0, out.stderr
    wait_for(lambda: host.run("ss -ltnH 'sport = :9199'").stdout.strip(), 20, "the webhook receiver")
    yield
    host.run("systemctl stop alert-webhook.service")


def test_prometheus_and_alertmanager_listen_on_loopback_only(host):
    ports = {"9090", "9093", "9094", "9100", "9121", "9187", "9115"}
    listeners = [line.split()[3] for line in host.run("ss -ltnH").stdout.splitlines()]
    ours = [addr for addr in listeners if addr.rsplit(":", 1)[1] in ports]
    print(f"monitoring listeners: {sorted(ours)}")
    assert ours and all(addr.startswith(("127.0.0.1:", "[::1]:")) for addr in ours), ours
    assert not any(addr.endswith(":9094") for addr in ours), "Alertmanager's cluster port is open"


def test_prometheus_and_alertmanager_refuse_requests_without_their_login(host):
    for url in (f"{PROMETHEUS}/api/v1/targets", f"{ALERTMANAGER}/api/v2/alerts"):
        status, _ = http_get(host, url)
        assert status == 401, f"{url} without a login: {status}"
        status, _ = http_get(host, url, "operator", "not-the-password")
        assert status == 401, f"{url} with a wrong password: {status}"
    assert host.file("/etc/prometheus/web.yml").mode == 0o640
    assert "$2b$" in host.run("cat /etc/prometheus/web.yml").stdout


def test_every_target_is_scraped(host):
    def all_up():
        targets = api(host, f"{PROMETHEUS}/api/v1/targets")["data"]["activeTargets"]
        jobs = {t["labels"]["job"]: t["health"] for t in targets}
        return jobs if jobs and all(h == "up" for h in jobs.values()) else None

    try:
        jobs = wait_for(all_up, 90, "every target up")
    except AssertionError:
        targets = api(host, f"{PROMETHEUS}/api/v1/targets")["data"]["activeTargets"]
        raise AssertionError([(t["labels"]["job"], t["health"], t.get("lastError")) for t in targets])
    print(f"targets: {jobs}")
    assert set(jobs) == {"prometheus", "alertmanager", "node", "redis", "postgres", "flower", "app"}, jobs


def test_flower_exports_its_process_and_only_the_pools_as_workers(host):
    """Flower's /metrics has its process series (the sandbox leaves it /proc/stat), and its worker label names
    the pools only: no gen<PID>@host per start of beat or the web server (they send no task-sent event)."""
    metrics = host.run("python3 -c 'import urllib.request; print(urllib.request.urlopen("
                       "\"http://127.0.0.1:5555/metrics\").read().decode())'").stdout
    assert re.search(r"^process_cpu_seconds_total \d", metrics, re.M), metrics[:2000]
    assert re.search(r"^process_start_time_seconds \d", metrics, re.M), metrics[:2000]
    workers = set(re.findall(r'worker="([^"]+)"', metrics))
    assert workers and {w.split("@")[0] for w in workers} <= {"default", "background"}, workers


def test_every_metric_a_rule_or_the_dashboard_uses_is_in_a_real_scrape(host):
    rules = metric_names(re.findall(r"expr: (.*(?:\n {10,}.*)*)", host.file(RULES).content_string))
    dashboard = metric_names(t["expr"] for p in json.loads(DASHBOARD.read_text())["panels"] for t in p["targets"])
    names = rules | dashboard
    assert len(rules) >= 15 and len(dashboard) >= 15, (rules, dashboard)

    def absent():
        return sorted(n for n in names if not query(host, f'count({{__name__="{n}"}})'))

    missing = absent()
    if missing:  # a series can appear only after a first event or scrape: one more chance
        time.sleep(30)
        missing = absent()
    print(f"{len(rules)} metrics used by the rules, {len(dashboard)} by the dashboard, all in a real scrape: "
          f"{sorted(names)}")
    assert not missing, f"metrics the rules or the dashboard use that no target exports: {missing}"


def test_stopped_pools_with_tasks_queued_fire_pool_down_and_backlog_then_resolve(host, webhook):
    client = TaskClient(host)
    assert not {"CeleryPoolDown", "CeleryQueueBacklog"} & firing(host), firing(host)
    stopped = time.monotonic()
    assert host.run(f"systemctl stop {WORKER}").rc == 0
    try:
        sent = client("send", "20", "/var/tmp/monitoring.json")
        queued = time.monotonic()
        wait_for(lambda: "CeleryPoolDown" in firing(host), 120, "CeleryPoolDown in Alertmanager")
        pool_down = time.monotonic() - stopped
        wait_for(lambda: "CeleryQueueBacklog" in firing(host), 120, "CeleryQueueBacklog in Alertmanager")
        backlog = time.monotonic() - queued
        wait_for(lambda: notified_firing(host, "CeleryPoolDown") and notified_firing(host, "CeleryQueueBacklog"),
                 60, "both notifications at the webhook")
        notified_at = time.monotonic() - stopped
        status = run_playbook(STATUS)
        assert status.rc == 0, status.output[-3000:]
        assert "CeleryPoolDown on the stack (critical): No live worker in the Celery pool default" in status.output, \
            status.output[-3000:]
    finally:
        host.run(f"systemctl start {WORKER}")
    started = time.monotonic()
    got = client("collect", "/var/tmp/monitoring.json", "180")
    wait_for(lambda: not {"CeleryPoolDown", "CeleryQueueBacklog"} & firing(host), 120, "both alerts to resolve")
    resolved = time.monotonic() - started
    print(f"\nworkers stopped -> CeleryPoolDown firing in {pool_down:.0f} s; {sent['sent']} tasks queued -> "
          f"CeleryQueueBacklog in {backlog:.0f} s; both at the webhook {notified_at:.0f} s after the stop; "
          f"workers started -> resolved in {resolved:.0f} s; {got}")
    assert got["ran"] == 20, got


def test_stopped_redis_fires_redis_down_then_resolves(host, webhook):
    assert "RedisDown" not in firing(host), firing(host)
    stopped = time.monotonic()
    assert host.run("systemctl stop redis-server.service").rc == 0
    try:
        wait_for(lambda: "RedisDown" in firing(host), 120, "RedisDown in Alertmanager")
        down = time.monotonic() - stopped
        wait_for(lambda: notified_firing(host, "RedisDown"), 60, "RedisDown at the webhook")
    finally:
        host.run("systemctl start redis-server.service")
    started = time.monotonic()
    wait_for(lambda: "RedisDown" not in firing(host), 120, "RedisDown to resolve")
    resolved = time.monotonic() - started
    print(f"\nRedis stopped -> RedisDown firing in {down:.0f} s; started -> resolved in {resolved:.0f} s")
    alert = next(a for n in notified(host) for a in n["alerts"] if a["labels"]["alertname"] == "RedisDown")
    assert alert["annotations"]["runbook_url"].endswith("#redisdown"), alert
    assert alert["labels"]["host"] == "single-node", alert
