#!/usr/bin/env python3
"""Pause writes on this Redis master (CLIENT PAUSE WRITE) at a moment when no consumer is recording a delivery.

  redis_pause_writes.py --pause-ms MS --user LOGIN [--user LOGIN ...] [--attempts N] [--settle S]

Run by playbooks/redis_failover.yml on the master, through redis-admin-cli (the administrative login over the
unix socket; no secret on a command line). Prints one JSON line: {"paused_ms", "attempts", "released"}.

Why not a bare CLIENT PAUSE: kombu's Redis transport takes a message off a queue with BRPOP, then records it as
unacknowledged (MULTI, ZADD unacked_index, HSET unacked, EXEC) in a second command. A pause that lands between the
two postpones the record; the consumer's socket timeout (or the switch's CLIENT KILL) then cuts it, and the
message, already off the queue, is nowhere but in that worker's memory: lost. So after pausing, this waits a
moment for records already on their way, lists the clients, and if a consumer's record is held by the pause it
lifts the pause at once (the record completes; nothing else is lost by a pause lifted early) and tries again.
Exit 1 when every attempt caught a delivery in flight: writes are not paused then, and the switch must not
start."""

import argparse
import json
import subprocess
import sys
import time

ADMIN_CLI = "redis-admin-cli"
GAP = 0.2         # s with writes resumed between two attempts


def admin(*args: str) -> str:
    out = subprocess.run([ADMIN_CLI, *args], capture_output=True, text=True, check=False, timeout=10)
    if out.returncode != 0 or out.stdout.startswith("ERR"):
        sys.exit(f"{ADMIN_CLI} {' '.join(args[:2])} failed: {(out.stderr or out.stdout).strip()}")
    return out.stdout


def held_records(client_list: str, users: set[str]) -> list[str]:
    """Clients of a consumer login whose delivery record (ZADD/HSET of kombu's unacked index) the pause holds."""
    held = []
    for line in client_list.splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        if fields.get("user") in users and "b" in fields.get("flags", "") and fields.get("cmd") in ("zadd", "hset"):
            held.append(f"id={fields.get('id')} addr={fields.get('addr')} user={fields.get('user')}")
    return held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pause-ms", type=int, required=True)
    parser.add_argument("--user", action="append", required=True, help="a consumer login (repeat)")
    parser.add_argument("--attempts", type=int, default=20)
    # Time for a record already on its way to reach the server; well under the consumers' 2 s socket timeout,
    # which cuts a record the pause holds longer.
    parser.add_argument("--settle", type=float, default=0.3, help="seconds (default 0.3)")
    args = parser.parse_args()
    users = set(args.user)
    released = []
    for attempt in range(1, args.attempts + 1):
        admin("CLIENT", "PAUSE", str(args.pause_ms), "WRITE")
        time.sleep(args.settle)
        held = held_records(admin("CLIENT", "LIST"), users)
        if not held:
            print(json.dumps({"paused_ms": args.pause_ms, "attempts": attempt, "released": released}))
            return
        admin("CLIENT", "UNPAUSE")
        released += held
        time.sleep(GAP)
    sys.exit(f"every one of {args.attempts} pauses caught a consumer recording a delivery ({released[-3:]}): "
             "writes are not paused and the switch did not start; run the playbook again at a quieter moment")


if __name__ == "__main__":
    main()
