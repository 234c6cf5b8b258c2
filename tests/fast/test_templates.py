"""Every template renders, in every case, with the variables its role would have (see render.py)."""

from __future__ import annotations

import os

import pytest

import render
from conftest import all_files, case_result, results

ROOT = render.ROOT


def _failures(failures) -> str:
    return "\n".join(f"- {f}" for f in failures)


def test_run(case):
    """ansible-playbook ran the case to the end (no YAML or variable error that stops a whole run)."""
    result = case_result(case)
    if result.error:
        pytest.fail(result.error, pytrace=False)
    if not result.files:
        pytest.fail(f"{case}: nothing was rendered:\n{result.stderr[-3000:]}", pytrace=False)


def test_templates_render(case):
    """No template fails to render (an undefined variable, a Jinja syntax error, a failing filter)."""
    result = case_result(case)
    if result.render_failures:
        pytest.fail(f"{len(result.render_failures)} template(s) failed to render in {case}:\n"
                    f"{_failures(result.render_failures)}", pytrace=False)


def test_role_input_checks_pass(case):
    """The roles' own input checks (tasks/assert.yml, argument specs) accept the inventory and the contract."""
    result = case_result(case)
    if not result.case.contract:
        return  # the role defaults alone are not a valid input (empty secrets): not checked
    if result.input_failures:
        pytest.fail(f"the roles' input checks refuse {case} (with strong dummy secrets):\n"
                    f"{_failures(result.input_failures)}", pytrace=False)


def test_every_template_is_rendered():
    """Each template file of the repository is rendered in at least one case: none is dead or unreachable."""
    if any(r.render_failures for r in results()):
        pytest.skip("some templates failed to render (test_templates_render): coverage is not known")
    rendered = {os.path.realpath(f.src) for f in all_files()}
    missing = [str(p.relative_to(ROOT)) for p in render.template_files() if os.path.realpath(p) not in rendered]
    assert not missing, f"never rendered (no template task, or no host runs it in any case): {missing}"


def test_every_role_renders_in_every_inventory():
    """Each role with templates renders on some host of each inventory (with one of the flavours)."""
    roles = {t.role for t in render.template_tasks()}
    for inventory in {r.case.inventory for r in results() if r.case.contract}:
        done = {f.role for f in all_files() if case_result(f.case).case.inventory == inventory}
        assert roles <= done, f"inventories/{inventory}: no host renders {sorted(roles - done)}"


def test_the_template_tasks_are_understood():
    """Every template task names src and dest as YAML arguments (what render.py reads)."""
    tasks = render.template_tasks()
    assert tasks, "no template task found in roles/*/tasks"
    for task in tasks:
        assert task.src and task.dest, task


def test_site_plays_are_found():
    plays, _ = render.site_plays()
    roles = {p.role for p in plays}
    # The internal role (common) runs only inside the others.
    on_disk = {p.name for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir() and p.name != "common"}
    assert roles == on_disk, (f"roles in playbooks/site.yml: {sorted(roles)}; roles on disk: {sorted(on_disk)}: "
                              "a role no play runs is never rendered with the contract")



def test_the_secrets_have_one_list():
    """inventories/production/group_vars/all/vault.yml.example is the list of the stack's secrets: it names
    every vault_* variable the contract and inventories use (scripts/setup and bench/run generate exactly its
    names), and the Molecule base configuration generates each of them for every scenario."""
    import re

    import yaml

    example = ROOT / "inventories" / "production" / "group_vars" / "all" / "vault.yml.example"
    listed = sorted(yaml.safe_load(example.read_text()))
    assert listed == render.vault_names(), f"vault.yml.example lists {listed}, the repository uses {render.vault_names()}"
    molecule = yaml.safe_load((ROOT / ".config" / "molecule" / "config.yml").read_text())
    generated = molecule["provisioner"]["inventory"]["group_vars"]["all"]
    assert sorted(n for n in generated if n.startswith("vault_")) == listed
    for name, value in generated.items():
        # each in its own lookup file, named after the secret (tests read them by that name)
        assert re.search(r"/secrets/" + re.escape(name.removeprefix("vault_")) + r"'", value), (name, value)
    setup = (ROOT / "scripts" / "setup").read_text()
    assert "vault.yml.example" in setup and "redis_admin_password" not in setup


def test_setup_generates_the_secrets_of_any_inventory(tmp_path):
    """scripts/setup --secrets INVENTORY writes every secret of the list into the inventory's
    group_vars/all/vault.yml (mode 0600), keeps existing values on a re-run, and vault-encrypts the file when
    given a vault password file (without root, Docker or network)."""
    import shutil
    import stat
    import subprocess

    import yaml

    inventory = tmp_path / "mysite"
    shutil.copytree(ROOT / "inventories" / "production", inventory)
    vault = inventory / "group_vars" / "all" / "vault.yml"
    example = yaml.safe_load((inventory / "group_vars" / "all" / "vault.yml.example").read_text())
    setup = [str(ROOT / "scripts" / "setup"), "--secrets", str(inventory)]
    env = {k: v for k, v in os.environ.items() if k != "ANSIBLE_VAULT_PASSWORD_FILE"}
    first = subprocess.run(setup, capture_output=True, text=True, env=env, check=False)
    assert first.returncode == 0, first.stdout + first.stderr
    assert stat.S_IMODE(vault.stat().st_mode) == 0o600
    values = yaml.safe_load(vault.read_text())
    assert sorted(values) == sorted(example)
    assert all(len(v) >= 48 for v in values.values()) and len(set(values.values())) == len(values)
    again = subprocess.run(setup, capture_output=True, text=True, env=env, check=False)
    assert again.returncode == 0 and yaml.safe_load(vault.read_text()) == values, again.stdout
    password = tmp_path / "vault-password"
    password.write_text("a-test-vault-password\n")
    encrypted = subprocess.run(setup + ["--vault-password-file", str(password)], capture_output=True, text=True,
                               env=env, check=False)
    assert encrypted.returncode == 0, encrypted.stdout + encrypted.stderr
    assert vault.read_text().startswith("$ANSIBLE_VAULT;")
    view = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-vault"), "view", "--vault-password-file",
                           str(password), str(vault)], capture_output=True, text=True, check=False)
    assert view.returncode == 0 and yaml.safe_load(view.stdout) == values, view.stderr


def test_a_run_without_the_repository_config_is_told_why(tmp_path):
    """ansible-playbook started elsewhere, without the repository's ansible.cfg, loads no contract (the vars
    plugin is enabled there): the first play stops with a message that says so and how to fix it."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), HOME=str(tmp_path))
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n")
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "--check", "-i", str(inventory),
                           str(ROOT / "playbooks" / "validate.yml")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode != 0
    assert "The stack contract (group_vars/ at the top of the repository) is not loaded" in proc.stdout + proc.stderr
    assert "ANSIBLE_CONFIG=" in proc.stdout + proc.stderr
