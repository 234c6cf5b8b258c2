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
