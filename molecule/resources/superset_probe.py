#!/usr/bin/env python3
"""Drive a running Superset through its HTTP API, from inside the host (run with Superset's virtualenv python).

    superset_probe.py BASE sqllab DATABASE_NAME SQL   -> SQL Lab query with runAsync, polled to the end
    superset_probe.py BASE chart DATABASE_NAME        -> chart data with global async queries (202, event, data)
    superset_probe.py BASE sqllab-batch DATABASE_NAME COUNT SQL
                                                      -> COUNT async SQL Lab queries ({i} in SQL is the index),
                                                         submitted at once, polled until every one has ended
    superset_probe.py BASE validate DATABASE_NAME SQL -> SQL Lab's syntax check of SQL (the editor's red marks)
    superset_probe.py BASE page PATH                  -> an anonymous GET of a page: status, its
                                                         Content-Security-Policy, the outside hosts it names in
                                                         src= and href= attributes
    superset_probe.py BASE sqllab-latency DATABASE_NAME COUNT SQL
                                                      -> COUNT sqllab round trips one after the other: p50/p95/p99
                                                         of submit-to-result (results fetched) in ms
Credentials come from the environment (SUPERSET_PROBE_USER, SUPERSET_PROBE_PASSWORD), never the command line.
Prints one JSON document with what happened and how long it took.
"""

import json
import os
import sys
import time
import uuid

import requests


class Superset:
    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.http = requests.Session()
        reply = self.http.post(f"{self.base}/api/v1/security/login", json={
            "username": os.environ["SUPERSET_PROBE_USER"], "password": os.environ["SUPERSET_PROBE_PASSWORD"],
            "provider": "db", "refresh": False}, timeout=30)
        reply.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"
        token = self.http.get(f"{self.base}/api/v1/security/csrf_token/", timeout=30)
        token.raise_for_status()
        self.http.headers["X-CSRFToken"] = token.json()["result"]
        self.http.headers["Referer"] = self.base

    def get(self, path: str, **kwargs):
        return self.http.get(f"{self.base}{path}", timeout=30, **kwargs)

    def post(self, path: str, body: dict):
        return self.http.post(f"{self.base}{path}", json=body, timeout=30)

    def database_id(self, name: str) -> int:
        reply = self.get("/api/v1/database/", params={"q": f"(filters:!((col:database_name,opr:eq,value:'{name}')))"})
        reply.raise_for_status()
        found = reply.json()["result"]
        if not found:
            raise SystemExit(f"no database named {name}")
        return found[0]["id"]


def sqllab(superset: Superset, database: str, sql: str) -> dict:
    database_id = superset.database_id(database)
    client_id = uuid.uuid4().hex[:10]
    started = time.monotonic()
    reply = superset.post("/api/v1/sqllab/execute/", {
        "database_id": database_id, "sql": sql, "runAsync": True, "client_id": client_id,
        "queryLimit": 100, "select_as_cta": False, "expand_data": True})
    submitted = time.monotonic()
    answer = {"submit_status": reply.status_code, "submit_ms": round((submitted - started) * 1000, 1)}
    if reply.status_code not in (200, 202):
        answer["error"] = reply.text[:2000]
        return answer
    query = reply.json().get("query", {})
    answer["initial_state"] = query.get("state")
    states = []
    deadline = started + 60
    while time.monotonic() < deadline:
        polled = superset.get("/api/v1/query/updated_since", params={"q": "(last_updated_ms:0)"})
        polled.raise_for_status()
        mine = [q for q in polled.json()["result"] if q.get("id") == client_id]
        if mine:
            state = mine[0].get("state")
            if not states or states[-1] != state:
                states.append(state)
            if state in ("success", "failed", "stopped", "timed_out"):
                answer["results_key"] = mine[0].get("resultsKey")
                answer["error_message"] = mine[0].get("errorMessage")
                break
        time.sleep(0.02)
    answer["states"] = states
    answer["done_ms"] = round((time.monotonic() - started) * 1000, 1)
    if answer.get("results_key"):
        results = superset.get("/api/v1/sqllab/results/", params={"q": f"(key:'{answer['results_key']}')"})
        answer["results_status"] = results.status_code
        if results.ok:
            answer["data"] = results.json().get("data")
        answer["result_ms"] = round((time.monotonic() - started) * 1000, 1)
    return answer


def sqllab_batch(superset: Superset, database: str, count: int, sql: str) -> dict:
    database_id = superset.database_id(database)
    started = time.monotonic()
    pending, refused = {}, []
    for i in range(count):
        client_id = uuid.uuid4().hex[:10]
        reply = superset.post("/api/v1/sqllab/execute/", {
            "database_id": database_id, "sql": sql.format(i=i), "runAsync": True, "client_id": client_id,
            "queryLimit": 10, "select_as_cta": False, "expand_data": True})
        if reply.status_code in (200, 202):
            pending[client_id] = i
        else:
            refused.append(reply.status_code)
    submitted = time.monotonic()
    ended = {}
    deadline = started + 300
    while pending and time.monotonic() < deadline:
        polled = superset.get("/api/v1/query/updated_since", params={"q": "(last_updated_ms:0)"})
        polled.raise_for_status()
        for query in polled.json()["result"]:
            state = query.get("state")
            if query.get("id") in pending and state in ("success", "failed", "stopped", "timed_out"):
                ended[query["id"]] = state
                del pending[query["id"]]
        time.sleep(0.2)
    states = {}
    for state in ended.values():
        states[state] = states.get(state, 0) + 1
    return {"count": count, "refused": refused, "states": states, "unfinished": len(pending),
            "submit_s": round(submitted - started, 1), "done_s": round(time.monotonic() - started, 1)}


def sqllab_latency(superset: Superset, database: str, count: int, sql: str) -> dict:
    samples, failed = [], 0
    for _ in range(count):
        answer = sqllab(superset, database, sql)
        if answer.get("results_status") == 200 and answer.get("states", [None])[-1] == "success":
            samples.append(answer["result_ms"])
        else:
            failed += 1
    samples.sort()

    def pct(p):
        return samples[min(len(samples) - 1, int(round(p / 100 * (len(samples) - 1))))] if samples else None

    return {"count": count, "failed": failed, "p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99)}


def chart(superset: Superset, database: str) -> dict:
    database_id = superset.database_id(database)
    name = f"probe_{uuid.uuid4().hex[:8]}"
    dataset = superset.post("/api/v1/dataset/", {
        "database": database_id, "schema": "public", "table_name": name, "sql": "SELECT 1 AS n UNION ALL SELECT 2"})
    if dataset.status_code != 201:
        return {"error": f"dataset: {dataset.status_code} {dataset.text[:2000]}"}
    dataset_id = dataset.json()["id"]
    started = time.monotonic()
    reply = superset.post("/api/v1/chart/data", {
        "datasource": {"id": dataset_id, "type": "table"},
        "queries": [{"columns": [], "metrics": [{"expressionType": "SQL", "sqlExpression": "SUM(n)",
                                                 "label": "total"}],
                     "row_limit": 10}],
        "result_format": "json", "result_type": "full", "force": True})
    answer = {"submit_status": reply.status_code, "submit_ms": round((time.monotonic() - started) * 1000, 1)}
    if reply.status_code != 202:
        answer["body"] = reply.text[:2000]
        return answer
    job = reply.json()
    answer["job_id"] = job.get("job_id")
    last_id, event = "", None
    deadline = started + 60
    while time.monotonic() < deadline and event is None:
        events = superset.get("/api/v1/async_event/", params={"last_id": last_id} if last_id else {})
        events.raise_for_status()
        for item in events.json()["result"]:
            last_id = item["id"]
            if item.get("job_id") == job.get("job_id") and item.get("status") in ("done", "error"):
                event = item
        time.sleep(0.05)
    answer["event"] = event
    answer["event_ms"] = round((time.monotonic() - started) * 1000, 1)
    if event and event.get("status") == "done":
        data = superset.get(event["result_url"])
        answer["data_status"] = data.status_code
        if data.ok:
            answer["data"] = data.json()["result"][0]["data"]
    return answer


def validate(superset: Superset, database: str, sql: str) -> dict:
    database_id = superset.database_id(database)
    reply = superset.post(f"/api/v1/database/{database_id}/validate_sql/", {"sql": sql})
    try:
        body = reply.json()
    except ValueError:
        body = {"text": reply.text[:2000]}
    return {"status": reply.status_code, "result": body.get("result"), "body": body}


def page(base: str, path: str) -> dict:
    import re  # noqa: PLC0415

    reply = requests.get(f"{base.rstrip('/')}{path}", timeout=30)
    outside = sorted({m for m in re.findall(r"""(?:src|href)=["']https?://([^/"':]+)""", reply.text)
                      if m not in ("127.0.0.1", "localhost")})
    return {"status": reply.status_code, "csp": reply.headers.get("Content-Security-Policy", ""),
            "outside": outside}


def main() -> int:
    base, command, database = sys.argv[1:4]
    if command == "page":
        print(json.dumps(page(base, database)))
        return 0
    superset = Superset(base)
    if command == "validate":
        answer = validate(superset, database, sys.argv[4])
    elif command == "sqllab":
        answer = sqllab(superset, database, sys.argv[4])
    elif command == "sqllab-latency":
        answer = sqllab_latency(superset, database, int(sys.argv[4]), sys.argv[5])
    elif command == "sqllab-batch":
        answer = sqllab_batch(superset, database, int(sys.argv[4]), sys.argv[5])
    else:
        answer = chart(superset, database)
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
