"""The alert rules and the monitoring configuration as rendered for each inventory, checked by Prometheus's and
Alertmanager's own tools: `promtool check rules`, `promtool test rules` (tests/fast/alerts/INVENTORY.test.yml:
every alert fires when it should and stays silent when it should not), `promtool check config` and
`amtool check-config`. promtool and amtool come from Debian's packages (scripts/setup puts them in .venv/bin)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

import render
from conftest import case_result

ROOT = render.ROOT
ALERTS = Path(__file__).resolve().parent / "alerts"
BIN = ROOT / ".venv" / "bin"
RULES = "/etc/prometheus/rules/taskstack.rules.yml"
INVENTORIES = sorted(p.name.removesuffix(".test.yml") for p in ALERTS.glob("*.test.yml"))


def tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run scripts/setup (it unpacks {name} from Debian's package)")
    return str(path)


def rendered(case: str, dest: str) -> str:
    files = {f.content for f in case_result(case).files if f.dest == dest}
    assert len(files) == 1, f"{case}: {dest} rendered {len(files)} different ways"
    return files.pop()


def run(*cmd, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_every_inventory_with_monitoring_has_rule_tests():
    assert set(INVENTORIES) == {"single-node", "production"}
    for case in INVENTORIES:
        assert any(f.dest == RULES for f in case_result(case).files), f"{case} renders no {RULES}"


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_rules_pass_their_unit_tests(inventory, tmp_path):
    (tmp_path / "taskstack.rules.yml").write_text(rendered(inventory, RULES))
    shutil.copy(ALERTS / f"{inventory}.test.yml", tmp_path / "test.yml")
    checked = run(tool("promtool"), "check", "rules", "taskstack.rules.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = run(tool("promtool"), "test", "rules", "test.yml", cwd=tmp_path)
    assert tested.returncode == 0, f"promtool test rules for {inventory}:\n{tested.stdout}{tested.stderr}"


def _alerts(text: str) -> list[dict]:
    return [rule for group in yaml.safe_load(text)["groups"] for rule in group["rules"] if "alert" in rule]


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_every_alert_is_tested_and_links_to_its_runbook(inventory):
    alerts = _alerts(rendered(inventory, RULES))
    tests = (ALERTS / f"{inventory}.test.yml").read_text() + (ALERTS / "single-node.test.yml").read_text()
    anchors = {re.sub(r"[^a-z0-9 -]", "", line[4:].strip().lower()).replace(" ", "-")
               for line in (ROOT / "docs" / "operations.md").read_text().splitlines() if line.startswith("### ")}
    for alert in alerts:
        name = alert["alert"]
        assert f"alertname: {name}" in tests, f"{name} has no promtool unit test in tests/fast/alerts/"
        url = alert["annotations"]["runbook_url"]
        assert url.split("#", 1)[1] in anchors, f"{name}: {url} names no section of docs/operations.md"
        assert alert["annotations"]["summary"], name


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_scrape_configuration_passes_promtool(inventory, tmp_path):
    rules = tmp_path / "taskstack.rules.yml"
    rules.write_text(rendered(inventory, RULES))
    config = rendered(inventory, "/etc/prometheus/prometheus.yml").replace(RULES, str(rules))
    (tmp_path / "prometheus.yml").write_text(config)
    checked = run(tool("promtool"), "check", "config", "prometheus.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    jobs = {job["job_name"] for job in yaml.safe_load(config)["scrape_configs"]}
    assert jobs >= {"prometheus", "alertmanager", "node", "redis", "postgres", "flower", "app"}, jobs


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_alertmanager_configuration_passes_amtool(inventory, tmp_path):
    (tmp_path / "alertmanager.yml").write_text(rendered(inventory, "/etc/prometheus/alertmanager.yml"))
    checked = run(tool("amtool"), "check-config", "alertmanager.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_web_login_passes_promtool(inventory, tmp_path):
    (tmp_path / "web.yml").write_text(rendered(inventory, "/etc/prometheus/web.yml"))
    checked = run(tool("promtool"), "check", "web-config", "web.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "basic_auth_users:" in (tmp_path / "web.yml").read_text()
