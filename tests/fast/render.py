"""Render every template of the roles the way the playbooks would, on no host at all.

The render playbook is generated from the repository itself, so that nothing of a role is copied here:

* which templates exist, and their `src`, `dest`, `mode`, `loop` and `vars`: every `ansible.builtin.template`
  task in roles/<role>/tasks/*.yml, expressions used verbatim (a pool's drop-in is rendered once per pool);
* which role runs on which hosts, with which role and play vars: the plays of playbooks/site.yml and
  everything it imports (plays made only of `group_by` and `assert` tasks, such as flavour.yml, are copied as
  they are; pre_tasks, post_tasks and `when:` of role entries are not). A host renders a role once per run, in the
  first play that runs the role there, as site.yml installs a host's application once;
* the variables: each render play imports its role (`import_role`, `tasks_from: assert`), which brings the
  role's defaults/ and vars/ into the play exactly as in a real run (filter plugins included), and runs the
  role's own input checks and argument specs (side-effect free; skipped with the role defaults alone, where
  they would refuse the empty secrets). The contract (group_vars/, through plugins/vars/stack_contract.py)
  and the inventory load as in a real run.

All templates of a role render in one set_fact task with the `template` lookup: controller-side, no module
runs, no host is contacted, and ansible-playbook's cost is per task and host, not per template. When that task
fails, the case runs again with one task per template for that role, to tell which template broke. Every
task has `ignore_errors`, so one failure hides nothing else. Results come back through ansible.posix.json.

Cases: the role defaults alone (no contract, no inventory), and each inventory under inventories/ with its
own application flavour and again with the Django one. Hosts get a fixed fact set (FACT_SETS) instead of this
machine's; the vault_* variables, which the inventories leave undefined, get random strong dummy values
(dummy_secrets). The template lookup renders with the template module's defaults (trim_blocks on,
lstrip_blocks off); it does not set template_destpath, which no template uses.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import re
import shutil
import string
import subprocess
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = ROOT / "roles"
ANSIBLE_PLAYBOOK = ROOT / ".venv" / "bin" / "ansible-playbook"

TEMPLATE_ACTIONS = ("ansible.builtin.template", "ansible.legacy.template", "template")
GROUPING_ACTIONS = ("ansible.builtin.group_by", "ansible.legacy.group_by", "group_by",
                    # flavour.yml checks that the contract is loaded before it groups
                    "ansible.builtin.assert")

# Role variables whose values the checks compare with the rendered files (the redis role's change detection
# parses redis.conf back and compares it with __redis_full_config).
PROBES = {"redis": ["__redis_full_config"]}
# Facts a role sets at run time from the live system that its templates read: fixed values here.
RUNTIME_VARS = {"redis": {"__redis_master_address": "{{ redis_announce_ip | default('192.0.2.10', true) }}:6379",
                          "__redis_tune_kernel": True},
                # program.yml's loops run over the programs its entry point names: render every program's files.
                # The web login's hash is made on the host (bcrypt of "render-only-not-a-secret").
                "monitoring": {"__monitoring_install": "{{ __monitoring_programs.keys() | list }}",
                               "__monitoring_web_hash": {
                                   "stdout": "$2b$04$7nLNybLyozko7FvPVPau6O0ikv8Mjp9Q1TQ20HA.AaznmS99FaDOW"}}}

# Fixed facts instead of this machine's: the results do not depend on where the checks run. "vm" is a Debian
# 12 virtual machine (what the inventories describe), "container" a Debian 12 container (the Molecule test
# hosts), which takes the roles' in-container branches (PrivateUsers=false and so on).
_BASE_FACTS = {
    "os_family": "Debian",
    "distribution": "Debian",
    "distribution_release": "bookworm",
    "distribution_version": "12.8",
    "distribution_major_version": "12",
    "architecture": "x86_64",
    "memtotal_mb": 3924,
    "processor_vcpus": 2,
    "service_mgr": "systemd",
    "python": {"version": {"major": 3, "minor": 11, "micro": 2}, "executable": "/usr/bin/python3"},
    "python_version": "3.11.2",
    "hostname": "{{ inventory_hostname }}",
    "fqdn": "{{ inventory_hostname }}",
    "nodename": "{{ inventory_hostname }}",
    # The host's address: its ansible_host when that is an IPv4 address (production), else a private one.
    "default_ipv4": {
        "address": "{{ ansible_host if ansible_host is match('^[0-9]+(\\.[0-9]+){3}$') else '10.0.2.15' }}",
        "interface": "eth0",
    },
}
FACT_SETS = {
    "vm": {**_BASE_FACTS, "virtualization_role": "guest", "virtualization_type": "kvm"},
    "container": {**_BASE_FACTS, "virtualization_role": "guest", "virtualization_type": "docker"},
}


@dataclasses.dataclass(frozen=True)
class TemplateTask:
    """One template task of a role: the expressions exactly as the role writes them."""

    role: str
    taskfile: str
    name: str
    src: str
    dest: str
    loop: object = None
    loop_var: str = "item"
    vars: dict | None = None
    mode: str | None = None
    # The task's `when` conditions and its enclosing blocks': a host where they are false does not render it.
    when: tuple = ()

    @property
    def label(self) -> str:
        return f"{self.role}:{self.src}"


@dataclasses.dataclass(frozen=True)
class RolePlay:
    """A role as one play of the site runs it."""

    hosts: str
    role: str
    vars: dict
    origin: str


@dataclasses.dataclass(frozen=True)
class Case:
    """One ansible-playbook run: an inventory (or the role defaults), a flavour, a fact set."""

    name: str
    inventory: str | None  # directory name under inventories/, None for the role defaults
    facts: str
    flavour: str | None = None  # forced stack_app_flavour (extra var), None: the inventory's own
    # Variables written into the inventory's own group_vars/all/ (a copy of it): they must win over the contract.
    local_vars: tuple[tuple[str, object], ...] = ()

    @property
    def contract(self) -> bool:
        return self.inventory is not None


def cases(root: Path = ROOT) -> list[Case]:
    found = [Case("defaults", None, "container")]
    for inventory in sorted(p.name for p in (root / "inventories").iterdir() if (p / "hosts.yml").exists()):
        found.append(Case(inventory, inventory, "vm"))
        found.append(Case(f"{inventory}+django", inventory, "vm", flavour="django"))
    found.append(Case("single-node+local", "single-node", "vm", local_vars=LOCAL_VARS))
    return found


# What the "+local" case sets in its inventory's group_vars/all/ (contract values a site changes there).
LOCAL_VARS = (("stack_redis_port", 6390), ("stack_db_name", "localdb"))


# Reading the repository ------------------------------------------------------------------------------------


def _load_yaml(path: Path):
    return yaml.safe_load(path.read_text()) or []


def _walk_tasks(tasks):
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        yield task
        for key in ("block", "rescue", "always"):
            if key in task:
                yield from _walk_tasks(task[key])


def _conditions(task: dict) -> tuple:
    when = task.get("when")
    if when is None:
        return ()
    return tuple(str(c) for c in (when if isinstance(when, list) else [when]))


def _walk_tasks_when(tasks, inherited: tuple = ()):
    """Like _walk_tasks, with the `when` conditions each task inherits from its blocks and its own."""
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        conditions = inherited + _conditions(task)
        yield task, conditions
        for key in ("block", "rescue", "always"):
            if key in task:
                yield from _walk_tasks_when(task[key], conditions)


INCLUDE_ROLE_ACTIONS = ("ansible.builtin.include_role", "ansible.builtin.import_role", "include_role",
                        "import_role")


def _shared_template(role: str, taskfile: Path, task: dict, root: Path) -> TemplateTask | None:
    """A role's include of an entry point of the internal role common that renders a template (the sandbox
    drop-in): rendered in the calling role's play, with the include's vars over common's defaults and vars."""
    action = next((a for a in INCLUDE_ROLE_ACTIONS if a in task), None)
    if action is None or role == "common":
        return None
    args = task[action] or {}
    if args.get("name") != "common":
        return None
    entry = root / "roles" / "common" / "tasks" / f"{str(args.get('tasks_from', 'main')).removesuffix('.yml')}.yml"
    inner_when = [(t, c) for t, c in _walk_tasks_when(_load_yaml(entry)) if any(a in t for a in TEMPLATE_ACTIONS)]
    inner = [t for t, _ in inner_when]
    if not inner:
        return None
    if len(inner) > 1:
        raise ValueError(f"{entry}: more than one template task; render.py renders one per entry point")
    targs = next(inner[0][a] for a in TEMPLATE_ACTIONS if a in inner[0])
    common_vars = {**(_load_yaml(root / "roles" / "common" / "defaults" / "main.yml") or {}),
                   **(_load_yaml(root / "roles" / "common" / "vars" / "main.yml") or {}),
                   **(task.get("vars") or {})}
    return TemplateTask(
        role=role,
        taskfile=str(taskfile.relative_to(root)),
        name=task.get("name", ""),
        src=str(root / "roles" / "common" / "templates" / targs["src"]),
        dest=str(targs["dest"]),
        vars=common_vars,
        mode=str(targs["mode"]) if "mode" in targs else None,
        when=_conditions(task) + inner_when[0][1],
        # An include in a loop renders once per item, as the template tasks of the calling role do.
        loop=task.get("loop"),
        loop_var=(task.get("loop_control") or {}).get("loop_var", "item"),
    )


def template_tasks(root: Path = ROOT) -> list[TemplateTask]:
    """Every template task of every role, from its task files."""
    found = []
    for taskfile in sorted((root / "roles").glob("*/tasks/*.yml")):
        role = taskfile.parent.parent.name
        if role == "common":
            continue  # its templates render where a role includes them (_shared_template)
        for task, conditions in _walk_tasks_when(_load_yaml(taskfile)):
            action = next((a for a in TEMPLATE_ACTIONS if a in task), None)
            shared = _shared_template(role, taskfile, task, root)
            if shared is not None:
                shared = dataclasses.replace(shared, when=conditions[:len(conditions) - len(_conditions(task))] + shared.when)
                found.append(shared)
                continue
            if action is None:
                continue
            args = task[action]
            if not isinstance(args, dict) or "src" not in args or "dest" not in args:
                raise ValueError(f"{taskfile}: task {task.get('name')!r}: template arguments are not a YAML "
                                 f"mapping with src and dest: {args!r}")
            loop_var = (task.get("loop_control") or {}).get("loop_var", "item")
            found.append(TemplateTask(
                role=role,
                taskfile=str(taskfile.relative_to(root)),
                name=task.get("name", ""),
                src=str(args["src"]),
                dest=str(args["dest"]),
                loop=task.get("loop", task.get("with_items")),
                loop_var=loop_var,
                vars=task.get("vars"),
                mode=str(args["mode"]) if "mode" in args else None,
                when=conditions,
            ))
    return found


def template_files(root: Path = ROOT) -> list[Path]:
    """Every template file of the repository: the roles' and the top-level templates/."""
    return sorted(list((root / "roles").glob("*/templates/**/*.j2")) + list((root / "templates").glob("**/*.j2")))


def site_plays(root: Path = ROOT, playbook: str = "site.yml") -> tuple[list[RolePlay], list[dict]]:
    """The role plays of playbooks/site.yml (in order, imports followed) and the grouping plays before them.

    Returns (role plays, grouping plays). A grouping play is copied into the render playbook as it is.
    """
    role_plays: list[RolePlay] = []
    grouping: list[dict] = []
    seen_grouping: set[str] = set()

    def visit(path: Path) -> None:
        for play in _load_yaml(path):
            if not isinstance(play, dict):
                continue
            imported = play.get("ansible.builtin.import_playbook", play.get("import_playbook"))
            if imported:
                visit((path.parent / imported).resolve())
                continue
            tasks = [t for t in _walk_tasks(play.get("tasks"))]
            if not play.get("roles") and tasks and all(any(a in t for a in GROUPING_ACTIONS) for t in tasks):
                key = json.dumps(play, sort_keys=True, default=str)
                if key not in seen_grouping:
                    seen_grouping.add(key)
                    grouping.append({**{k: v for k, v in play.items() if k != "become"}, "gather_facts": False})
                continue
            hosts = play.get("hosts", "all")
            hosts = ",".join(hosts) if isinstance(hosts, list) else str(hosts)
            play_vars = dict(play.get("vars") or {})
            for vars_file in play.get("vars_files") or []:
                play_vars.update(yaml.safe_load((path.parent / vars_file).read_text()) or {})
            for entry in play.get("roles") or []:
                if isinstance(entry, str):
                    entry = {"role": entry}
                name = entry.get("role", entry.get("name"))
                role_vars = {**play_vars, **(entry.get("vars") or {})}
                role_vars.update({k: v for k, v in entry.items() if k not in ("role", "name", "vars", "when",
                                                                                 "tags", "become")})
                role_plays.append(RolePlay(hosts=hosts, role=name, vars=role_vars,
                                           origin=f"{path.relative_to(root)}: {play.get('name', '')}"))

    visit(root / "playbooks" / playbook)
    return role_plays, grouping


def vault_names(root: Path = ROOT) -> list[str]:
    """Every vault_* variable the contract and the inventories refer to."""
    names: set[str] = set()
    for path in list((root / "group_vars").rglob("*")) + list((root / "inventories").rglob("*")):
        if path.is_file() and not path.read_bytes().startswith(b"$ANSIBLE_VAULT"):
            names.update(re.findall(r"\bvault_[a-z0-9_]*[a-z0-9]\b", path.read_text(errors="replace")))
    return sorted(names)


# Dummy secrets ---------------------------------------------------------------------------------------------

# Characters a password manager or `openssl rand -base64` produces that need quoting somewhere: in a URL, a
# shell word, a Python or JSON string, a systemd environment file. Every secret has all of AWKWARD_ALWAYS (so a
# quoting mistake shows whatever the seed) and four of AWKWARD_SOME. No backquote and no parentheses: a file
# that quoted them wrongly would run a command when sourced. No "{": Ansible treats a vault value as a
# template, so "{{", "{%" or "{#" in a secret is evaluated (or fails) unless the vault file tags it !unsafe,
# which this repository's vault files do not: a limit of the stack's inputs, not of a template.
AWKWARD_ALWAYS = "\"'\\$%/@:# "
AWKWARD_SOME = "+=!&*?;<>[]}|^~,."


def dummy_secrets(names: list[str], seed: int) -> dict[str, str]:
    """A random 64-character secret per name: 12 letters and digits (its fingerprint), then letters and digits
    with 14 awkward characters mixed in, then a letter (no consumer trims a space that is not at an end)."""
    rng = random.Random(seed)
    plain = string.ascii_letters + string.digits
    secrets = {}
    for name in names:
        head = [rng.choice(string.ascii_letters)] + [rng.choice(plain) for _ in range(11)]
        body = [rng.choice(plain) for _ in range(37)] + list(AWKWARD_ALWAYS) + rng.sample(AWKWARD_SOME, 4)
        rng.shuffle(body)
        secrets[name] = "".join(head + body) + rng.choice(string.ascii_letters)
    return secrets


def fingerprint(secret: str) -> str:
    """The part of a dummy secret that survives every encoding (URL, JSON, shell quoting): its first 12
    characters, letters and digits only. Found in a file, it means the secret is there in some form."""
    return secret[:12]


# The generated playbook ------------------------------------------------------------------------------------


def _facts_play(fact_set: str) -> dict:
    return {
        "name": f"Give every host the fixed facts of a Debian 12 {fact_set}",
        "hosts": "all",
        "gather_facts": False,
        "tasks": [{
            "name": "Set the facts",
            "ansible.builtin.set_fact": {**FACT_SETS[fact_set], "cacheable": True},
        }, {
            # What the roles' own runs of this entry point set (the redis role's container branches read it).
            "name": "Note whether the host is a container, as the roles do",
            "ansible.builtin.include_role": {"name": "common", "tasks_from": "container"},
        }],
    }


def _spec(index: int, task: TemplateTask, workdir: Path) -> dict:
    """What the combined render task needs of one template task.

    Its dest and mode go through a two-line template of their own, rendered with the same loop variable.
    """
    dest_template = workdir / "dest" / f"{index:03d}.j2"
    dest_template.parent.mkdir(parents=True, exist_ok=True)
    dest_template.write_text(f"{task.dest}\n{task.mode or ''}")
    when_template = ""
    if task.when:
        when_path = workdir / "dest" / f"{index:03d}.when.j2"
        when_path.write_text("{{ (" + " and ".join(f"({c})" for c in task.when) + ") | bool }}")
        when_template = str(when_path)
    return {
        "index": index,
        "when_template": when_template,
        "src": task.src,
        "templates_dir": str(ROLES / task.role / "templates"),
        "dest_template": str(dest_template),
        "has_loop": task.loop is not None,
        "loop": task.loop if task.loop is not None else [],
        "loop_var": task.loop_var,
    }


# All templates of a role in one set_fact: one task per host instead of one per template (ansible-playbook's
# cost is per task and host, not per template).
_COMBINED = """\
{%- set out = [] -%}
{%- for spec in __fast_specs -%}
{%- for it in (spec.loop if spec.has_loop else [none]) -%}
{%- set tv = {spec.loop_var: it} if spec.has_loop else {} -%}
{%- if not spec.when_template
      or lookup('ansible.builtin.template', spec.when_template, template_vars=tv) | trim == 'True' -%}
{%- set src = spec.src if spec.src.startswith('/') else spec.templates_dir ~ '/' ~ spec.src -%}
{%- set _ = out.append({'index': spec.index, 'src': src,
                        'dest_mode': lookup('ansible.builtin.template', spec.dest_template, template_vars=tv),
                        'content': lookup('ansible.builtin.template', src, template_vars=tv)}) -%}
{%- endif -%}
{%- endfor -%}
{%- endfor -%}
{{ out }}"""


def _separate_task(index: int, task: TemplateTask) -> dict:
    """One template as its own task: used to tell which template broke when the combined task failed."""
    templates_dir = ROLES / task.role / "templates"
    src = "(__fast_src if __fast_src.startswith('/') else '" + str(templates_dir) + "/' ~ __fast_src)"
    rendered = {
        "name": f"Render {index:03d} {task.label}",
        "ansible.builtin.set_fact": {
            "__fast_render": {
                "index": index,
                "src": "{{ " + src + " }}",
                "dest_mode": f"{task.dest}\n{task.mode or ''}",
                "content": "{{ lookup('ansible.builtin.template', " + src + ") }}",
            },
        },
        "vars": {**(task.vars or {}), "__fast_src": task.src},
        "ignore_errors": True,
    }
    if task.when:
        rendered["when"] = list(task.when)
    if task.loop is not None:
        rendered["loop"] = task.loop
        if task.loop_var != "item":
            rendered["loop_control"] = {"loop_var": task.loop_var}
    return rendered


def _role_play(play: RolePlay | None, role: str, tasks: list[tuple[int, TemplateTask]], contract: bool,
               separate: bool, workdir: Path) -> dict:
    """The play that renders a role: skip a host done already, import the role (its checks), render."""
    has_assert = (ROLES / role / "tasks" / "assert.yml").exists()
    body = []
    if contract:
        # A host renders a role once per run, in the first play that runs it there (site.yml installs a
        # host's application once: the later plays skip the hosts app.yml did).
        body.append({
            "name": f"Skip a host that rendered {role} in an earlier play",
            "ansible.builtin.meta": "end_host",
            "when": f"'{role}' in __fast_rendered_roles | default([])",
        })
    body.append({
        "name": f"Check the inputs of {role}",
        "ansible.builtin.import_role": {"name": role, "tasks_from": "assert" if has_assert else "main"},
        # The role's own checks and argument specs run only with the contract and an inventory. With the role
        # defaults alone they would refuse the empty secrets: that run skips the tag, which drops the tasks
        # while the import still brings the role's defaults and vars into the play.
        "tags": ["fast_role_checks"],
        "ignore_errors": True,
    })
    if not has_assert:
        body[-1]["when"] = False
    # Templates whose task sets its own vars are rendered alone (their vars must not leak into the others).
    combined = [(i, t) for i, t in tasks if not separate and not t.vars]
    alone = [(i, t) for i, t in tasks if separate or t.vars]
    facts = {"__fast_rendered_roles": "{{ __fast_rendered_roles | default([]) + ['" + role + "'] }}"}
    if combined:
        facts["__fast_renders"] = _COMBINED
    if role in PROBES:
        facts["__fast_probe"] = {name: "{{ " + name + " }}" for name in PROBES[role]}
    body.append({
        "name": f"Render the templates of {role}",
        "ansible.builtin.set_fact": facts,
        "vars": {"__fast_specs": [_spec(i, t, workdir) for i, t in combined]},
        "ignore_errors": True,
    })
    body += [_separate_task(i, t) for i, t in alone]
    return {
        "name": f"Render {role} ({play.origin if play else 'role defaults'})",
        "hosts": play.hosts if play else "all",
        "gather_facts": False,
        "vars": {**RUNTIME_VARS.get(role, {}), **(dict(play.vars) if play else {})},
        "tasks": body,
    }


def playbook(case: Case, workdir: Path, separate: frozenset = frozenset(), root: Path = ROOT) -> list[dict]:
    """The render playbook of a case; the roles in `separate` get one task per template."""
    by_role: dict[str, list[tuple[int, TemplateTask]]] = {}
    for index, task in enumerate(template_tasks(root)):
        by_role.setdefault(task.role, []).append((index, task))
    plays = [_facts_play(case.facts)]
    if case.contract:
        role_plays, grouping = site_plays(root)
        plays += grouping
        plays += [_role_play(p, p.role, by_role.get(p.role, []), True, p.role in separate, workdir)
                  for p in role_plays]
    else:
        plays += [_role_play(None, role, tasks, False, role in separate, workdir)
                  for role, tasks in sorted(by_role.items())]
    return plays


# Running it ------------------------------------------------------------------------------------------------


def _visible_files(root: Path, directory: Path) -> list[Path]:
    """Files of a directory that git would show (tracked, or untracked and not ignored)."""
    try:
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-co", "--exclude-standard", "--",
                              str(directory.relative_to(root))], capture_output=True, text=True, check=True).stdout
        return [root / line for line in out.splitlines() if (root / line).is_file()]
    except (OSError, subprocess.CalledProcessError):
        return [p for p in directory.rglob("*") if p.is_file()]


def build_tree(workdir: Path, contract: bool, root: Path = ROOT) -> Path:
    """A stand-in for the repository as the playbooks see it, with the render playbooks in playbooks/.

    playbook_dir/../templates and playbook_dir/../examples must resolve (the contract and the role defaults
    use them); group_vars/ is linked only with the contract; inventories are copied without ignored and
    vault-encrypted files (this machine's secrets are replaced by the dummies).
    """
    tree = workdir / ("tree" if contract else "tree-defaults")
    if (tree / ".built").exists():
        return tree  # shared by the cases: never rewritten while a run reads it
    (tree / "playbooks").mkdir(parents=True, exist_ok=True)
    # The contract itself loads through plugins/vars/stack_contract.py from the repository (ansible.cfg).
    links = ["roles", "templates", "examples"]
    for name in links:
        if not (tree / name).exists():
            (tree / name).symlink_to(root / name)
    if not (tree / "playbooks" / "roles").exists():
        (tree / "playbooks" / "roles").symlink_to(Path("..") / "roles")
    if contract:
        skipped = []
        for path in _visible_files(root, root / "inventories"):
            if path.read_bytes().startswith(b"$ANSIBLE_VAULT"):
                skipped.append(str(path.relative_to(root)))
                continue
            target = tree / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        (tree / "skipped-vault-files.json").write_text(json.dumps(skipped))
    else:
        inventory = tree / "inventories" / "defaults" / "hosts.yml"
        inventory.parent.mkdir(parents=True, exist_ok=True)
        groups = {g: {"hosts": {"defaults-host": None}}
                  for g in ("redis", "database", "app", "celery_workers", "celery_beat", "flower")}
        inventory.write_text(yaml.safe_dump({"all": {"hosts": {"defaults-host": None}, "children": groups}}))
    (tree / ".built").write_text("")
    return tree


def start(case: Case, workdir: Path, seed: int, separate: frozenset = frozenset(),
          root: Path = ROOT) -> subprocess.Popen:
    """Start the case's ansible-playbook run; its JSON goes to <workdir>/<run>.json.

    A run with `separate` roles is the second run of a case whose combined render failed: it renders those
    roles one template per task and skips the roles' input checks (the first run reported them).
    """
    run = case.name + (".separate" if separate else "")
    tree = build_tree(workdir, case.contract, root)
    book = tree / "playbooks" / f"render-{run}.yml"
    book.write_text(yaml.safe_dump(playbook(case, workdir, separate, root), sort_keys=False, width=1000))
    extra = {}
    if case.contract:
        extra.update(dummy_secrets(vault_names(root), seed))
    if case.flavour:
        extra["stack_app_flavour"] = case.flavour
    extra_file = workdir / f"{run}.extra.json"
    extra_file.write_text(json.dumps(extra))
    inventory = tree / "inventories" / (case.inventory or "defaults")
    if case.local_vars:
        local = tree / "inventories" / case.name
        if not local.exists():
            shutil.copytree(inventory, local, symlinks=True)
            (local / "group_vars" / "all").mkdir(parents=True, exist_ok=True)
            (local / "group_vars" / "all" / "local.yml").write_text(yaml.safe_dump(dict(case.local_vars)))
        inventory = local
    env = dict(os.environ,
               # Without the contract: the role defaults alone (the vars plugin off).
               ANSIBLE_VARS_ENABLED="stack_contract,host_group_vars" if case.contract else "host_group_vars",
               ANSIBLE_CONFIG=str(root / "ansible.cfg"),
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_LOCAL_TEMP=str(workdir / "ansible-tmp"),
               ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_RETRY_FILES_ENABLED="0")
    cmd = [str(ANSIBLE_PLAYBOOK), "-i", str(inventory), "-c", "local", "-e", f"@{extra_file}", str(book)]
    if not case.contract or separate:
        cmd[1:1] = ["--skip-tags", "fast_role_checks"]
    (workdir / f"{run}.cmd").write_text(f"cd {tree} && ANSIBLE_CONFIG={root / 'ansible.cfg'} {' '.join(cmd)}\n")
    with open(workdir / f"{run}.json", "w") as out, open(workdir / f"{run}.stderr", "w") as err:
        proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=out, stderr=err)
    proc.started = time.monotonic()  # type: ignore[attr-defined]
    proc.run = run  # type: ignore[attr-defined]
    return proc


@dataclasses.dataclass
class Rendered:
    """One rendered file of one host."""

    case: str
    host: str
    role: str
    src: str
    dest: str
    content: str
    play: str
    mode: str | None  # as the template task sets it (None: not set)

    @property
    def id(self) -> str:
        return f"{self.case}/{self.host}:{self.dest}"


@dataclasses.dataclass
class Failure:
    case: str
    host: str
    play: str
    task: str
    message: str
    item: object = None

    def __str__(self) -> str:
        item = self.item.get("name", self.item) if isinstance(self.item, dict) else self.item
        item = f" (item {str(item)[:60]})" if item is not None else ""
        text = f"{self.case}/{self.host}: {self.play}: {self.task}{item}: {self.message}"
        # Paths through the stand-in tree read as repository paths.
        return re.sub(r"/\S*/tree(-defaults)?/playbooks/\.\./", "", text)


@dataclasses.dataclass
class CaseResult:
    case: Case
    rc: int
    seconds: float
    stderr: str
    files: list[Rendered]
    render_failures: list[Failure]
    input_failures: list[Failure]
    probes: dict  # host -> {role: {var: value}}
    secrets: dict[str, str]
    plays: list[dict]  # [{name, hosts}] in run order
    error: str = ""
    separate_run: bool = False


def _message(result: dict) -> str:
    msg = result.get("msg") or result.get("message") or ""
    if not isinstance(msg, str):
        msg = json.dumps(msg)
    return msg.strip()


def collect(case: Case, workdir: Path, rc: int, seconds: float, seed: int, separate: frozenset = frozenset(),
            root: Path = ROOT) -> CaseResult:
    run = case.name + (".separate" if separate else "")
    stderr = (workdir / f"{run}.stderr").read_text()
    secrets = dummy_secrets(vault_names(root), seed) if case.contract else {}
    result = CaseResult(case, rc, seconds, stderr, [], [], [], {}, secrets, [], separate_run=bool(separate))
    tasks = template_tasks(root)
    raw = (workdir / f"{run}.json").read_text()
    try:
        data = json.loads(raw[raw.index("{"):]) if "{" in raw else None
    except ValueError as exc:
        data = None
        result.error = f"unreadable JSON from ansible-playbook: {exc}"
    if not data:
        result.error = result.error or f"ansible-playbook exited {rc} without a result:\n{stderr}\n{raw[-3000:]}"
        return result
    seen: set[tuple] = set()

    def add(host: str, piece: dict, play_name: str) -> None:
        dest, _, mode = piece["dest_mode"].partition("\n")
        dest, mode = dest.strip(), mode.strip() or None
        key = (host, dest, hashlib.sha256(piece["content"].encode()).hexdigest())
        if key not in seen:
            seen.add(key)
            result.files.append(Rendered(case.name, host, tasks[piece["index"]].role, piece["src"], dest,
                                         piece["content"], play_name, mode))

    for play in data.get("plays", []):
        play_name = play["play"]["name"]
        hosts_in_play: set[str] = set()
        for task in play.get("tasks", []):
            task_name = task["task"]["name"]
            for host, res in task.get("hosts", {}).items():
                if task_name.startswith("Render ") and not res.get("skipped"):
                    hosts_in_play.add(host)
                items = res.get("results") if isinstance(res.get("results"), list) else [res]
                for item in items:
                    if item.get("skipped"):
                        continue
                    failure = Failure(case.name, host, play_name, task_name, _message(item), item.get("item"))
                    is_render = task_name.startswith("Render ")
                    if item.get("failed"):
                        (result.render_failures if is_render else result.input_failures).append(failure)
                    elif is_render:
                        facts = item.get("ansible_facts", {})
                        for piece in facts.get("__fast_renders", []):
                            add(host, piece, play_name)
                        if "__fast_render" in facts:
                            add(host, facts["__fast_render"], play_name)
                        if "__fast_probe" in facts:
                            role = task_name[len("Render the templates of "):]
                            result.probes.setdefault(host, {})[role] = facts["__fast_probe"]
        result.plays.append({"name": play_name, "hosts": sorted(hosts_in_play)})
    if rc not in (0, 2) and not result.error:
        result.error = f"ansible-playbook exited {rc}:\n{stderr}"
    return result


def _weight(case: Case, root: Path = ROOT) -> int:
    """How many hosts the case's inventory has (with a contract: the input checks run on each)."""
    if not case.contract:
        return 1
    hosts: set[str] = set()

    def walk(group: dict) -> None:
        hosts.update((group or {}).get("hosts") or {})
        for child in ((group or {}).get("children") or {}).values():
            walk(child)

    walk(yaml.safe_load((root / "inventories" / case.inventory / "hosts.yml").read_text()).get("all", {}))
    return 2 * len(hosts) + (1 if case.flavour else 0)


def _failed_roles(result: CaseResult) -> frozenset:
    prefix = "Render the templates of "
    return frozenset(f.task[len(prefix):] for f in result.render_failures if f.task.startswith(prefix))


def render_all(workdir: Path, seed: int, root: Path = ROOT, parallel: int = 3) -> list[CaseResult]:
    """Run every case, a few at a time, and collect the results.

    A case whose combined render task failed for some roles runs again with one task per template for those
    roles, which tells which template broke (combined is several times faster: ansible-playbook's cost is per
    task and host). The second run's renders replace the first's; the input checks stay the first run's.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    # The runs with the most hosts first: they take longest, the short ones fill in around them.
    pending: list[tuple[Case, frozenset]] = [(c, frozenset())
                                             for c in sorted(cases(root), key=lambda c: _weight(c, root), reverse=True)]
    running: list[tuple[Case, frozenset, subprocess.Popen]] = []
    done: dict[str, CaseResult] = {}
    while pending or running:
        while pending and len(running) < parallel:
            case, separate = pending.pop(0)
            running.append((case, separate, start(case, workdir, seed, separate, root)))
        time.sleep(0.02)
        for case, separate, proc in list(running):
            if proc.poll() is None:
                continue
            running.remove((case, separate, proc))
            seconds = time.monotonic() - proc.started  # type: ignore[attr-defined]
            result = collect(case, workdir, proc.returncode, seconds, seed, separate, root)
            if separate:
                first = done[case.name]
                result.input_failures, result.seconds = first.input_failures, first.seconds + result.seconds
                result.error = result.error or first.error
            elif _failed_roles(result) and not result.error:
                pending.insert(0, (case, _failed_roles(result)))
            done[case.name] = result
    return [done[c.name] for c in cases(root)]
