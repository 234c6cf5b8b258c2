"""Fixtures of the redis-ha scenario: three Redis+Sentinel hosts and a worker host, by name."""

import os
import shlex
import sys
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "resources"))

import stacktest  # noqa: E402
from stacktest import CeleryClient, secret  # noqa: E402

CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"
REDIS = ("ha-redis1", "ha-redis2", "ha-redis3")
HOSTS = REDIS + ("ha-worker",)
MASTER_NAME = "taskstack"


@pytest.fixture(scope="session")
def hosts():
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    return {name: testinfra.get_host(f"ansible://{name}?ansible_inventory={inventory}") for name in HOSTS}


@pytest.fixture(scope="session")
def addresses(hosts):
    """Each host's address on the scenario's network (what Sentinel hands out)."""
    return {name: host.run("hostname -I").stdout.split()[0] for name, host in hosts.items()}


@pytest.fixture()
def celery(hosts):
    return CeleryClient(hosts["ha-worker"])


def sentinel_cli(host, *args: str) -> str:
    out = host.run("redis-sentinel-cli " + " ".join(shlex.quote(a) for a in args))
    assert out.rc == 0, out.stderr
    return out.stdout


def admin_cli(host, *args: str):
    return host.run("redis-admin-cli " + " ".join(shlex.quote(a) for a in args))


def redis_as(host, address: str, port: int, user: str | None, password: str | None, *args: str):
    """redis-cli from a host as a given login (the password in REDISCLI_AUTH, never on the command line)."""
    login = f"REDISCLI_AUTH={shlex.quote(password)} " if password else ""
    userarg = f"--user {shlex.quote(user)} " if user else ""
    return host.run(f"{login}redis-cli -h {address} -p {port} {userarg}" + " ".join(shlex.quote(a) for a in args))


def master_named_by(host) -> str:
    return ":".join(sentinel_cli(host, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME).split())


def host_of(addresses: dict, address: str) -> str:
    ip = address.split(":")[0]
    return next(name for name, a in addresses.items() if a == ip)


def wait_for(predicate, timeout: float, step: float = 0.2, what: str = "condition"):
    """stacktest.wait_for, polling every 0.2 s: the failover figures are measured with it."""
    return stacktest.wait_for(predicate, timeout, what=what, step=step)


__all__ = ["CONVERGE", "REDIS", "HOSTS", "MASTER_NAME", "secret", "sentinel_cli", "admin_cli", "redis_as",
           "master_named_by", "host_of", "wait_for"]
