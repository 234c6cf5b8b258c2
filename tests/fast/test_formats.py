"""The readers in formats.py are the yardstick of the rendered-file checks: they must read as the real programs
do, and refuse what the real programs refuse. Expected values follow Redis 7.0, systemd 252 and dash."""

from __future__ import annotations

import subprocess

import pytest

import formats


@pytest.mark.parametrize("line, args", [
    ("bind 127.0.0.1 -::1", ["bind", "127.0.0.1", "-::1"]),
    ('logfile ""', ["logfile", ""]),
    ('save "3600 1 300 100"', ["save", "3600 1 300 100"]),
    (r'requirepass "a\"b\\c\x41\n"', ["requirepass", 'a"b\\cA\n']),
    (r"dir '/var/lib/it\'s'", ["dir", "/var/lib/it's"]),
    ('dir "/a"b', None),    # a closing quote must be followed by a space
    ('dir "/a', None),      # unbalanced
    ("   ", []),
])
def test_redis_split_args(line, args):
    if args is None:
        with pytest.raises(formats.SplitError):
            formats.redis_split_args(line)
    else:
        assert formats.redis_split_args(line) == args


@pytest.mark.parametrize("text, problem", [
    ("appendonly yes\nport 6379\nsave \"60 1\"\nbind 127.0.0.1 -::1\nmaxmemory 64mb\nunixsocketperm 660\n", None),
    ("apendonly yes\n", "unknown directive"),
    ("appendonly maybe\n", "yes or no"),
    ("appendfsync sometimes\n", "one of"),
    ("port 70000\n", "outside"),
    ("maxmemory 1.5gb\n", "size"),
    ("unixsocketperm 999\n", "octal"),
    ("logfile /var/log/a b\n", "one argument"),
    ('save "60"\n', "pairs"),
    ("bind 127.0.0.1 localhost\n", "not an address"),
    ("port 6379\nport 6380\n", "twice"),
    ('dir "/var/lib/redis\n', "cannot split"),
])
def test_check_redis_conf(text, problem):
    _, problems = formats.check_redis_conf(text)
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


HASH = "a" * 64


@pytest.mark.parametrize("text, problem", [
    (f"user default off resetpass -@all\nuser app on #{HASH} ~* &* +@all -@admin +client|setname\n", None),
    (f"user default off\n# a comment\nuser app on #{HASH}\n", "does not start with"),
    ("user default off\nuser app on >secret ~*\n", "plaintext"),
    ("user default off\nuser app on #ABC ~*\n", "64 lower-case hex"),
    (f"user default off\nuser app on #{HASH.upper()}\n", "64 lower-case hex"),
    (f"user default off\nuser app #{HASH}\n", "neither on nor off"),
    ("user default off\nuser app on ~*\n", "nobody can log in"),
    (f"user default off\nuser app on #{HASH} +@everything\n", "unknown command category"),
    (f"user app on #{HASH}\n", "default user"),
    (f"user default off\nuser app on #{HASH}\nuser app off\n", "twice"),
    ("user default on nopass ~* +@all\n", "nopass"),
])
def test_check_acl_file(text, problem):
    _, problems = formats.check_acl_file(text)
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


@pytest.mark.parametrize("text, values", [
    ('A="x y"\nB=plain\n# comment\n; comment\n\nC=\n', {"A": "x y", "B": "plain", "C": ""}),
    ("A='single $HOME'\n", {"A": "single $HOME"}),
    ('A="esc \\" \\\\ \\$ \\n"\n', {"A": 'esc " \\ $ \\n'}),
    ('A="x" "y"\n', {"A": "xy"}),          # systemd joins the parts; sh would run "y"
    ("A=trailing   \n", {"A": "trailing"}),
    ("A=no newline at end", {"A": "no newline at end"}),
    ("  KEY = v\n", {"KEY": "v"}),
])
def test_systemd_env_file(text, values):
    parsed, problems = formats.systemd_env_file(text)
    assert (parsed, problems) == (values, [])


@pytest.mark.parametrize("text, problem", [
    ("1BAD=x\n", "invalid variable name"),
    ("NOEQUALS\n", "has no '='"),
    ('A="unterminated\n', "unterminated"),
])
def test_systemd_env_file_problems(text, problem):
    _, problems = formats.systemd_env_file(text)
    assert any(problem in p for p in problems), problems


def test_sh_and_systemd_differ_where_expected(tmp_path):
    """The reason the env-file check compares both readers: the same line can mean two things."""
    path = tmp_path / "x.env"
    path.write_text('A="a$HOME"\n')
    sh = subprocess.run(["env", "-i", "HOME=/root", "/bin/sh", "-c", '. "$1"; printf %s "$A"', "sh", str(path)],
                        capture_output=True, text=True, check=True).stdout
    assert sh == "a/root"
    assert formats.systemd_env_file(path.read_text())[0] == {"A": "a$HOME"}


@pytest.mark.parametrize("text, problem", [
    ("local all postgres peer\nhost db u 10.0.0.0/8 scram-sha-256\nhost all all 127.0.0.1 255.255.255.255 md5\n",
     None),
    ("host db u 10.0.0.0/8 scram-sha256\n", "unknown authentication method"),
    ("host db u 10.0.0.300/8 md5\n", "CIDR"),
    ("hots db u 10.0.0.0/8 md5\n", "unknown connection type"),
    ("host db u md5\n", "needs DATABASE USER ADDRESS METHOD"),
])
def test_check_pg_hba(text, problem):
    _, problems = formats.check_pg_hba(text)
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


def test_unit_commands():
    text = "[Service]\nExecStart=/opt/v/bin/celery worker\nExecReload=-/bin/kill -s HUP $MAINPID\nExecStop=\n"
    assert formats.unit_commands(text) == ["/opt/v/bin/celery", "/bin/kill"]
