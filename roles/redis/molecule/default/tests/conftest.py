"""Fixtures of the redis scenario."""

import shlex
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[5] / "molecule" / "resources"))

from stacktest import secret  # noqa: E402

CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"


class RedisClient:
    """redis-cli inside a test host, logged in as one user (the password goes through REDISCLI_AUTH)."""

    def __init__(self, host, user=None, password=None, port=6379, tls=False):
        self.host = host
        self.user = user
        self.password = password
        self.port = port
        self.tls = tls

    def run(self, *args, db=None, stdin=None):
        env = f"REDISCLI_AUTH={shlex.quote(self.password)} " if self.password else ""
        cmd = f"{env}redis-cli -h 127.0.0.1 -p {self.port}"
        if self.tls:
            cmd += " --tls --cacert /etc/ssl/redis-test/server.crt"
        if self.user:
            cmd += f" --user {shlex.quote(self.user)}"
        if db is not None:
            cmd += f" -n {db}"
        cmd += " " + " ".join(shlex.quote(str(a)) for a in args)
        if stdin is not None:
            cmd = f"printf %s {shlex.quote(stdin)} | {cmd}"
        return self.host.run(cmd)

    def __call__(self, *args, db=None):
        """Run one command and return its stdout (stripped)."""
        return self.run(*args, db=db).stdout.strip()


@pytest.fixture()
def admin(host):
    return RedisClient(host, "redis-admin", secret("redis_admin_password"))


@pytest.fixture()
def users(host):
    return {name: RedisClient(host, name, secret(f"redis_{name}_password")) for name in ("celery", "app", "flower")}


@pytest.fixture()
def anonymous(host):
    return RedisClient(host)


@pytest.fixture()
def converge():
    return CONVERGE
