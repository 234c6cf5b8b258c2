"""Before any fault: one master all sentinels agree on, two replicas online, logins locked down, and the
consumers (workers, beat, Flower) working through Sentinel."""

import json
import re
import time

import pytest
from conftest import (CONVERGE, HOSTS, MASTER_NAME, REDIS, admin_cli, host_of, master_named_by, redis_as, secret,
                      sentinel_cli)
from stacktest import assert_check_mode_clean, assert_refused, http_get


def test_every_sentinel_names_the_same_master_and_has_a_quorum(hosts):
    masters = {name: master_named_by(hosts[name]) for name in REDIS}
    assert len(set(masters.values())) == 1, masters
    for name in REDIS:
        out = sentinel_cli(hosts[name], "SENTINEL", "CKQUORUM", MASTER_NAME)
        assert out.startswith("OK 3 usable Sentinels"), f"{name}: {out}"


def test_the_bootstrap_master_has_two_replicas_online(hosts, addresses):
    master = host_of(addresses, master_named_by(hosts["ha-redis1"]))
    info = admin_cli(hosts[master], "INFO", "replication").stdout
    assert "role:master" in info
    online = re.findall(r"^slave\d+:ip=([^,]+),port=6379,state=online", info, re.MULTILINE)
    assert sorted(online) == sorted(addresses[n] for n in REDIS if n != master), info


def test_sentinels_refuse_anonymous_clients_and_consumers_admin_commands(hosts, addresses):
    worker = hosts["ha-redis3"]  # a client on another host (redis-cli is there)
    sentinel = addresses["ha-redis2"]
    anonymous = redis_as(worker, sentinel, 26379, None, None, "SENTINEL", "MASTERS")
    assert "NOAUTH" in anonymous.stdout + anonymous.stderr
    client = ("sentinel-client", secret("redis_sentinel_client_password"))
    asked = redis_as(worker, sentinel, 26379, *client, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
    assert asked.stdout.split()[0] in addresses.values(), asked.stdout + asked.stderr
    for command in (["SENTINEL", "FAILOVER", MASTER_NAME], ["SENTINEL", "SET", MASTER_NAME, "quorum", "1"],
                    ["SENTINEL", "REMOVE", MASTER_NAME], ["SENTINEL", "RESET", "*"], ["ACL", "LIST"],
                    ["PUBLISH", "__sentinel__:hello", "forged"]):
        out = redis_as(worker, sentinel, 26379, *client, *command)
        assert "NOPERM" in out.stdout + out.stderr, f"{command}: {out.stdout} {out.stderr}"
    # A consumer's data-node login is no login on the sentinels.
    celery = redis_as(worker, sentinel, 26379, "celery", secret("redis_celery_password"), "SENTINEL", "MASTERS")
    assert "WRONGPASS" in celery.stdout + celery.stderr


@pytest.mark.parametrize("user", ["celery", "app", "flower"])
def test_no_consumer_can_publish_on_sentinels_channel(hosts, addresses, user):
    worker = hosts["ha-redis3"]
    master = master_named_by(hosts["ha-redis1"]).split(":")[0]
    login = (user, secret(f"redis_{user}_password"))
    forged = redis_as(worker, master, 6379, *login, "PUBLISH", "__sentinel__:hello", "forged")
    assert "NOPERM" in forged.stdout + forged.stderr, forged.stdout
    if user != "app":  # Celery's own event channel stays open to the logins that use it
        own = redis_as(worker, master, 6379, *login, "PUBLISH", "/0.celeryev/test.probe", "x")
        assert own.rc == 0 and own.stdout.strip().isdigit(), own.stdout + own.stderr


def test_a_task_runs_through_sentinel(hosts, celery):
    env = hosts["ha-worker"].run("cat /etc/celery/worker.env").stdout
    assert re.search(r'CELERY_BROKER_URL="sentinel://celery:[^@]+@[^/]+:26379/0;sentinel://', env), env
    assert "CELERY_CONFIG_MODULE=taskstack_celeryconfig" in env
    assert celery.call("add", 2, 3)["result"]["value"] == 5


def test_beat_ticks_through_sentinel(hosts):
    worker = hosts["ha-worker"]
    def ticks():
        return worker.run("journalctl -u celery-worker@general --no-pager -o cat | "
                          "grep -c 'beat_tick.*succeeded' || true").stdout.strip()
    before = int(ticks() or 0)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and int(ticks() or 0) <= before:
        time.sleep(1)
    assert int(ticks() or 0) > before, worker.run("journalctl -u celery-beat -n 40 --no-pager").stdout


def test_flower_sees_the_workers_through_sentinel(hosts):
    status, body = http_get(hosts["ha-worker"], "http://127.0.0.1:5555/api/workers?refresh=1",
                            "operator", secret("flower_password"), timeout=30)
    assert status == 200, body
    assert any(name.startswith("general@") for name in json.loads(body)), body


def test_check_mode_changes_nothing():
    assert_check_mode_clean(CONVERGE, HOSTS)


@pytest.mark.parametrize("extra_vars, variable", [
    ({"redis_sentinel_quorum": 4}, "redis_sentinel_quorum"),
    ({"redis_sentinel_quorum": 1}, "redis_sentinel_quorum"),
    ({"redis_sentinel_addresses": ["172.30.78.2:26379", "172.30.78.3:26379"]}, "redis_sentinel_addresses"),
    ({"stack_redis_master_name": "my master"}, "redis_master_name"),
    ({"redis_min_replicas_to_write": 3}, "redis_min_replicas_to_write"),
    ({"vault_redis_sentinel_client_password": "short"}, "redis_sentinel_client_password"),
    ({"stack_redis_tls": True}, "stack_redis_ha"),
], ids=["quorum-above-sentinels", "quorum-not-majority", "two-sentinels", "master-name-space",
        "min-replicas-above-replicas", "weak-client-password", "tls-with-sentinel"])
def test_bad_input_is_refused_before_any_change(hosts, extra_vars, variable):
    assert_refused(CONVERGE, hosts["ha-redis1"], extra_vars, variable,
                   "/etc/redis/redis.conf /etc/redis/users.acl /etc/redis/sentinel/sentinel.conf",
                   ("redis-server", "redis-sentinel"))
