"""The repository as an Ansible collection, taskstack.stack (galaxy.yml, meta/runtime.yml, docs/collection.md).

`ansible-galaxy collection build` runs on this checkout into a temporary directory, with a few git-ignored files
planted first where there are none (a secrets.yml, a Molecule log, the example project's SQLite file, a byte
code cache), so that leaving them out is proved rather than assumed; the planted files are removed afterwards.
The tarball must hold no secret, nothing git ignores, no development tooling, and every role with its argument
specs. The build_ignore patterns are also run on a made-up tree (vault.yml, nested .venv, ...), which this
checkout cannot show without an untracked file in the shared work tree.

The tarball is then installed offline into a temporary collections path (its dependencies are the pinned
`ansible` package's collections), and used from a temporary directory outside the repository, so neither the
repository's ansible.cfg nor its roles_path can help: a playbook imports each role's `assert` entry point by its
fully qualified name (argument specs, then tasks/assert.yml), and the collection's own playbooks run by theirs
(`taskstack.stack.validate` with the contract the collection carries). Everything runs on localhost with the
local connection and --check, and only checks inputs: nothing on this machine changes. Bad values must be
refused with the variable named. The redis role's filters (plugins/filter/, called by their full names) work
there without any plugin setting.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

import render

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
ROLES = sorted(p.parent.parent.name for p in (ROOT / "roles").glob("*/meta/argument_specs.yml")
               if p.parent.parent.name != "common")  # the internal role has no assert entry point
FQCN = "taskstack.stack"
TARBALL = "taskstack-stack-{version}.tar.gz"

# Files planted in this checkout before the build, when absent: each is git-ignored (checked), so the build
# must leave it out. Removed after the build, with any directory created for it.
PLANTED = {
    "inventories/single-node/group_vars/all/secrets.yml": "---\n# Planted by tests/fast/test_collection.py.\n",
    f".molecule-logs/planted-{os.getpid()}.log": "planted by tests/fast/test_collection.py\n",
    "examples/jobsite/db.sqlite3": "",
    "plugins/filter/__pycache__/planted.cpython-311.pyc": "",
}

# Top-level entries the collection leaves out (development and test tooling), besides what git ignores.
TOOLING = {"molecule", "tests", "scripts", "bench", ".ci", ".config", ".github", ".gitignore", ".ansible-lint",
           ".yamllint", "galaxy.yml"}


def _env(**extra: str) -> dict[str, str]:
    """This environment without any ANSIBLE_* setting (no ANSIBLE_CONFIG, no roles path from outside)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(PATH=f"{BIN}:{env.get('PATH', '')}", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_RETRY_FILES_ENABLED="0", PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def _run(args: list, cwd: Path, env: dict, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _version() -> str:
    return yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]


def _members(tarball: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(tarball) as tar:
        return {m.name.rstrip("/"): m for m in tar.getmembers()}


def _git_ignored() -> list[str]:
    """What git ignores here: files, and directories ending in "/" (ignored as a whole)."""
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--others", "--ignored", "--exclude-standard",
                          "--directory", "-z"], capture_output=True, text=True, check=True).stdout
    return [p for p in out.split("\0") if p]


def _build(source: Path, output: Path) -> Path:
    output.mkdir(parents=True, exist_ok=True)
    proc = _run([BIN / "ansible-galaxy", "collection", "build", "--force", "--output-path", output, source],
                source, _env())
    assert proc.returncode == 0, f"ansible-galaxy collection build failed:\n{proc.stdout}\n{proc.stderr}"
    tarball = output / TARBALL.format(version=_version())
    assert tarball.is_file(), f"no {tarball.name} in {output}: {proc.stdout}"
    return tarball


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("collection")
    assert ROOT not in path.parents, f"{path} is inside the repository"
    return path


@pytest.fixture(scope="module")
def built(work) -> tuple[Path, list[str]]:
    """The tarball built from this checkout with the git-ignored files planted; the planted paths."""
    created_files, created_dirs = [], []
    try:
        for rel, content in PLANTED.items():
            path = ROOT / rel
            if path.exists():
                continue
            for parent in reversed(path.relative_to(ROOT).parents[:-1]):
                if not (ROOT / parent).exists():
                    (ROOT / parent).mkdir()
                    created_dirs.append(ROOT / parent)
            path.write_text(content)
            created_files.append(path)
        tarball = _build(ROOT, work / "dist")
    finally:
        for path in created_files:
            path.unlink(missing_ok=True)
        for path in reversed(created_dirs):  # innermost first, and only if empty (another run may write there)
            try:
                path.rmdir()
            except OSError:
                pass
    return tarball, list(PLANTED)


@pytest.fixture(scope="module")
def installed(built, work) -> Path:
    """The tarball installed offline into a temporary collections path (returned)."""
    tarball, _ = built
    collections = work / "collections"
    proc = _run([BIN / "ansible-galaxy", "collection", "install", "--offline", "-p", collections, tarball],
                work, _env())
    assert proc.returncode == 0, f"ansible-galaxy collection install failed:\n{proc.stdout}\n{proc.stderr}"
    assert (collections / "ansible_collections" / "taskstack" / "stack" / "MANIFEST.json").is_file()
    return collections


def _collection_dir(collections: Path) -> Path:
    return collections / "ansible_collections" / "taskstack" / "stack"


# The build ----------------------------------------------------------------------------------------------------


def test_planted_files_are_ignored_by_git():
    """The files the build test plants are git-ignored: otherwise leaving them out would prove nothing."""
    proc = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "--no-index", *PLANTED],
                          capture_output=True, text=True)
    ignored = set(proc.stdout.split())
    assert ignored == set(PLANTED), f"not git-ignored: {sorted(set(PLANTED) - ignored)}"


def test_build_leaves_out_secrets_and_ignored_files(built):
    tarball, planted = built
    members = _members(tarball)
    leaked = [name for name in planted if name in members]
    assert not leaked, f"planted git-ignored files in {tarball.name}: {leaked}"
    secret = [n for n in members if Path(n).name in ("secrets.yml", "vault.yml")]
    assert not secret, f"secret files in {tarball.name}: {secret}"
    venv = [n for n in members if ".venv" in Path(n).parts]
    assert not venv, f".venv in {tarball.name}: {venv[:5]}"
    ignored = _git_ignored()
    leaked = sorted(n for n in members for i in ignored
                    if n == i.rstrip("/") or (i.endswith("/") and n.startswith(i)))
    assert not leaked, f"git-ignored paths in {tarball.name}: {leaked[:20]}"
    tooling = sorted(n for n in members if n.split("/")[0] in TOOLING or "/molecule" in f"/{n}")
    assert not tooling, f"development tooling in {tarball.name}: {tooling[:20]}"


def test_build_holds_the_roles_playbooks_and_contract(built):
    tarball, _ = built
    members = _members(tarball)
    assert len(ROLES) == 8, f"roles with argument specs: {ROLES}"
    for role in ROLES:
        for name in ("meta/argument_specs.yml", "meta/main.yml", "defaults/main.yml", "tasks/main.yml",
                     "tasks/assert.yml"):
            assert f"roles/{role}/{name}" in members, f"roles/{role}/{name} is not in {tarball.name}"
    expected = ["MANIFEST.json", "FILES.json", "README.md", "meta/runtime.yml", "playbooks/site.yml",
                "playbooks/validate.yml", "group_vars/all/stack.yml", "templates/superset/superset_config.py.j2",
                "templates/django/settings.py.j2", "examples/jobsite/manage.py",
                "inventories/production/group_vars/all/vault.yml.example", "plugins/filter/redis.py",
                "roles/superset/files/superset-bootstrap", "docs/collection.md"]
    missing = [n for n in expected if n not in members]
    assert not missing, f"missing from {tarball.name}: {missing}"
    # The playbooks find the roles and the contract through these links, as in the repository.
    # The playbooks find the roles through this link, as in the repository; the contract comes through the
    # collection's vars plugin (plugins/vars/stack_contract.py), which reads group_vars/ beside it.
    assert members["playbooks/roles"].issym() and members["playbooks/roles"].linkname == "../roles"
    assert "plugins/vars/stack_contract.py" in members
    assert "playbooks/group_vars" not in members, "a playbooks/group_vars link would win over the inventory"


def test_build_ignore_patterns(work):
    """galaxy.yml's build_ignore on a made-up tree: what this checkout may hold one day stays out."""
    tree = work / "patterns"
    shutil.rmtree(tree, ignore_errors=True)
    keep = ["README.md", "meta/runtime.yml", "roles/r/meta/argument_specs.yml", "roles/r/files/no-suffix",
            "roles/r/templates/a.conf.j2", "inventories/x/group_vars/all/vault.yml.example",
            "inventories/x/group_vars/all/main.yml", "playbooks/p.yml", "docs/d.md", "examples/jobsite/manage.py",
            "examples/jobsite/jobsite/settings.py"]
    drop = ["secrets.yml", "vault.yml", "inventories/x/group_vars/all/vault.yml",
            "inventories/x/group_vars/all/secrets.yml", "inventories/x/host_vars/h/vault.yml",
            ".venv/bin/python", "examples/jobsite/.venv/bin/python", ".cache/x", "roles/r/.cache/x", ".ansible/x",
            ".pytest_cache/x", "tests/.pytest_cache/x", ".molecule-logs/x.log", "roles/r/__pycache__/x.pyc",
            "roles/r/x.pyc", "examples/jobsite/db.sqlite3", "examples/jobsite/static/x.css",
            "examples/jobsite/jobsite/static/x.css", "examples/jobsite/build/x", "examples/jobsite/jobsite/build/x",
            "examples/jobsite/x.egg-info/x", "examples/jobsite/.gitignore", ".gitignore", ".github/workflows/ci.yml",
            ".ci/run", ".config/molecule/config.yml", ".ansible-lint", ".yamllint", "molecule/s/molecule.yml",
            "roles/r/molecule/default/molecule.yml", "tests/fast/test_x.py", "tests/output/x", "scripts/test",
            "bench/run", "bench/out.json"]
    for rel in keep + drop:
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text("x\n")
    shutil.copy(ROOT / "galaxy.yml", tree / "galaxy.yml")
    members = _members(_build(tree, work / "patterns-dist"))
    dropped = [n for n in keep if n not in members]
    assert not dropped, f"build_ignore leaves out files a collection needs: {dropped}"
    let_in = [n for n in drop if n in members]
    assert not let_in, f"build_ignore lets these in: {let_in}"


# The installed collection, from outside the repository ---------------------------------------------------------


def _inputs(collection_dir: Path) -> dict:
    """Valid inputs for every role, with strong random secrets: what a user of the roles must supply."""
    s = {name: secrets.token_hex(32) for name in ("redis_admin", "redis_celery", "redis_app", "redis_flower",
                                                  "db", "flower", "flower_cookie", "superset_key",
                                                  "superset_jwt", "superset_admin", "django_key")}
    redis = "redis://{user}:{password}@127.0.0.1:6379"
    broker = redis.format(user="celery", password=s["redis_celery"]) + "/0"
    results = redis.format(user="celery", password=s["redis_celery"]) + "/1"
    return {
        "redis_admin_password": s["redis_admin"],
        "redis_acl_users": [{"name": "celery", "password": s["redis_celery"]},
                            {"name": "app", "password": s["redis_app"]},
                            {"name": "flower", "password": s["redis_flower"]}],
        "postgresql_users": [{"name": "taskstack", "password": s["db"]}],
        "postgresql_databases": [{"name": "taskstack", "owner": "taskstack"}],
        "postgresql_hba_entries": [{"database": "taskstack", "user": "taskstack", "address": "127.0.0.1/32"}],
        "celery_worker_app": "jobsite",
        "celery_worker_broker_url": broker,
        "celery_worker_result_backend": results,
        "celery_beat_app": "jobsite",
        "celery_beat_broker_url": broker,
        "celery_flower_broker_url": redis.format(user="flower", password=s["redis_flower"]) + "/0",
        "celery_flower_basic_auth_users": [{"username": "operator", "password": s["flower"]}],
        "celery_flower_cookie_secret": s["flower_cookie"],
        "superset_secret_key": s["superset_key"],
        "superset_gaq_jwt_secret": s["superset_jwt"],
        "superset_admin_password": s["superset_admin"],
        "superset_metadata_db_uri": f"postgresql+psycopg2://taskstack:{s['db']}@127.0.0.1:5432/taskstack",
        "superset_celery_broker_url": broker,
        "superset_celery_result_backend": results,
        "superset_redis_url": redis.format(user="app", password=s["redis_app"]),
        # The role's default is {{ playbook_dir }}/../examples/jobsite: the example project the collection holds.
        "django_app_source_path": str(collection_dir / "examples" / "jobsite"),
        "django_app_secret_key": s["django_key"],
        "django_app_db_host": "127.0.0.1",
        "django_app_db_name": "taskstack",
        "django_app_db_user": "taskstack",
        "django_app_db_password": s["db"],
        "django_app_celery_broker_url": broker,
        "django_app_celery_result_backend": results,
    }


def _checks_playbook() -> list[dict]:
    """Every role's `assert` entry point imported by its fully qualified name (redis first: the bad values)."""
    tasks = [{
        "name": "Give the host the facts of a Debian 12 machine",
        "ansible.builtin.set_fact": {**render.FACT_SETS["vm"], "cacheable": True},
    }]
    tasks += [{
        "name": f"Check the inputs of {FQCN}.{role}",
        "ansible.builtin.import_role": {"name": f"{FQCN}.{role}", "tasks_from": "assert"},
    } for role in sorted(ROLES, key=lambda r: (r != "redis", r))]
    return [{"name": "Check every role's inputs through the installed collection", "hosts": "all",
             "gather_facts": False, "tasks": tasks}]


def _filters_playbook() -> list[dict]:
    """The redis role's variables that go through its filter plugins (plugins/filter/redis.py)."""
    return [{"name": "Evaluate the redis role's filtered variables", "hosts": "good", "gather_facts": False,
             "tasks": [
                 {"name": "Load the redis role (its defaults and vars, no task)",
                  "ansible.builtin.import_role": {"name": f"{FQCN}.redis", "tasks_from": "assert"},
                  "tags": ["never"]},
                 {"name": "Evaluate __redis_aof_min_size_bytes (64mb)",
                  "ansible.builtin.assert": {"that": ["__redis_aof_min_size_bytes | int == 67108864"],
                                             "quiet": True}},
             ]}]


@pytest.fixture(scope="module")
def runs(installed, work) -> dict[str, tuple[subprocess.CompletedProcess, dict]]:
    """Every ansible-playbook run of the tests below, in parallel, from a directory outside the repository.

    Its inventory: `good` (valid inputs for every role), `bad_size` and `bad_port` (one bad value each). All on
    localhost with the local connection and --check; the tasks only check inputs.
    """
    play = work / "play"
    play.mkdir(exist_ok=True)
    collection_dir = _collection_dir(installed)
    (play / "checks.yml").write_text(yaml.safe_dump(_checks_playbook(), sort_keys=False, width=1000))
    (play / "filters.yml").write_text(yaml.safe_dump(_filters_playbook(), sort_keys=False, width=1000))
    inventory = {"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 **_inputs(collection_dir)},
        "hosts": {
            "good": {},
            "bad_size": {"redis_maxmemory": "plenty"},   # tasks/assert.yml must refuse it
            "bad_port": {"redis_port": "many"},          # the argument specs must refuse it (type int)
        },
        "children": {"celery_beat": {"hosts": {"good": {}}}},
    }}
    (play / "hosts.yml").write_text(yaml.safe_dump(inventory, sort_keys=False, width=1000))
    shutil.copy(collection_dir / "inventories" / "single-node" / "hosts.yml", play / "single-node.yml")
    (play / "vault.json").write_text(json.dumps({n: secrets.token_hex(32) for n in render.vault_names(ROOT)}))
    (play / "roles").mkdir(exist_ok=True)  # an empty roles path: a role can only come from the collection
    env = _env(ANSIBLE_COLLECTIONS_PATH=str(installed), ANSIBLE_ROLES_PATH=str(play / "roles"),
               ANSIBLE_LOCAL_TEMP=str(work / "ansible-tmp"), ANSIBLE_REMOTE_TEMP=str(work / "ansible-tmp"),
               ANSIBLE_PIPELINING="1", ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    commands = {
        "good": (["-i", "hosts.yml", "--limit", "good", "checks.yml"], {}),
        "bad": (["-i", "hosts.yml", "--limit", "bad_size,bad_port", "checks.yml"], {}),
        "filters": (["-i", "hosts.yml", "filters.yml"], {}),
        "site syntax": (["--syntax-check", "-i", "single-node.yml", f"{FQCN}.site"],
                        {"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"}),
        "validate": (["-i", "single-node.yml", "-e", "@vault.json", "-e", "stack_app_flavour=django",
                      "-e", f"ansible_python_interpreter={sys.executable}", f"{FQCN}.validate"],
                     {"ANSIBLE_VARS_ENABLED": f"{FQCN}.stack_contract,host_group_vars"}),
    }

    def one(args, extra):
        proc = _run([BIN / "ansible-playbook", "--check", *args], play, dict(env, **extra))
        try:
            result = json.loads(proc.stdout)
        except json.JSONDecodeError:
            result = {}
        return proc, result

    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        futures = {name: pool.submit(one, *command) for name, command in commands.items()}
        return {name: future.result() for name, future in futures.items()}


def _failures(result: dict) -> dict[str, tuple[str, str]]:
    """The first failure of each host: (task name without its role prefix, message)."""
    failed: dict[str, tuple[str, str]] = {}
    for play in result.get("plays", []):
        for task in play.get("tasks", []):
            for host, outcome in task.get("hosts", {}).items():
                if outcome.get("failed") and host not in failed:
                    failed[host] = (task["task"]["name"].split(" : ", 1)[-1], str(outcome.get("msg", "")))
    return failed


def _tasks(result: dict) -> list[str]:
    return [t["task"]["name"].split(" : ", 1)[-1] for p in result.get("plays", []) for t in p["tasks"]]


def _explain(name: str, run: tuple[subprocess.CompletedProcess, dict]) -> str:
    proc, result = run
    return (f"run {name!r}: rc {proc.returncode}, failures {_failures(result)}\n"
            f"{'' if result else proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def test_roles_by_fqcn_from_outside_the_repository(runs):
    """Every role's argument specs and tasks/assert.yml, by its fully qualified name, accept valid inputs."""
    proc, result = runs["good"]
    assert proc.returncode == 0 and result and not _failures(result), _explain("good", runs["good"])
    tasks = _tasks(result)
    validated = [t for t in tasks if t.startswith("Validating arguments against arg spec 'assert'")]
    assert len(validated) == len(ROLES), f"argument specs validated {len(validated)} times, not {len(ROLES)}"
    assert sum(t.startswith("Check ") for t in tasks) > 2 * len(ROLES), f"too few checks ran: {tasks}"
    assert result["stats"]["good"]["changed"] == 0, result["stats"]


def test_bad_values_are_refused_with_the_variable_named(runs):
    proc, result = runs["bad"]
    failures = _failures(result)
    assert proc.returncode != 0, "a bad redis_maxmemory and a bad redis_port were accepted"
    task, message = failures.get("bad_size", ("", ""))
    assert task == "Check the memory limit" and 'redis_maxmemory "plenty" is not a size' in message, \
        _explain("bad", runs["bad"])
    task, message = failures.get("bad_port", ("", ""))
    assert task.startswith("Validating arguments against arg spec 'assert'") and "redis_port" in message, \
        _explain("bad", runs["bad"])


def test_redis_filters_resolve_by_their_full_names(runs):
    """The redis role calls its filters as taskstack.stack.redis_* (plugins/filter/redis.py): inside the
    installed collection they resolve with no filter_plugins setting."""
    proc, result = runs["filters"]
    assert proc.returncode == 0 and result and not _failures(result), _explain("filters", runs["filters"])

def test_collection_playbooks_run_by_fqcn(runs):
    """The collection's playbooks by their names, with the contract the collection carries (its vars plugin)
    and dummy vault_* secrets: site.yml's syntax, and validate.yml's checks of every host of the single-node
    inventory (Django flavour: the Superset flavour's Python check would judge this machine's Python)."""
    proc, _ = runs["site syntax"]
    assert proc.returncode == 0, f"{FQCN}.site --syntax-check:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    proc, result = runs["validate"]
    assert proc.returncode == 0 and result and not _failures(result), _explain("validate", runs["validate"])
    tasks = _tasks(result)
    for expected in ("Check the stack contract", "Check the memory limit", "Check the SECRET_KEY",
                     "Check that exactly one host runs beat", "Check the cookie secret, broker and port"):
        assert expected in tasks, f"{FQCN}.validate did not run {expected!r}: {tasks}"
