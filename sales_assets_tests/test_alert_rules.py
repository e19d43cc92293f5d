"""The alert rules, their promtool unit tests, the example Prometheus config and the dashboard.

`promtool` (Debian package `prometheus`) checks and unit-tests the rules; a missing promtool
fails these tests (scripts/test installs it). The rest reads the files: every alert is tested
firing and quiet, links an anchor that exists in docs/runbook.md, and every sales_* name in
the rules and the dashboard is a figure sales_assets.monitoring pushes.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from sales_assets.monitoring import METRICS
from sales_assets_tests.e2e.prometheus_servers import (
    PROMTOOL,
    MissingBinary,
    binary,
    dashboard_expressions,
    rule_expressions,
)

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy/prometheus/alerts.yml"
RULE_TESTS = ROOT / "deploy/prometheus/alerts_test.yml"
PROMETHEUS_YML = ROOT / "deploy/prometheus/prometheus.yml"
DASHBOARD = ROOT / "deploy/grafana/sales_assets.json"
RUNBOOK = ROOT / "docs/runbook.md"
ALERTS = ["SalesDayNotLoaded", "SalesDayBlocked", "SalesRejectionRateHigh", "SalesRunFailed", "SalesNoPush"]  # fmt: skip


@pytest.fixture(scope="module")
def promtool() -> str:
    try:
        return binary(PROMTOOL)
    except MissingBinary as error:
        pytest.fail(str(error))


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=ROOT)


def rules() -> list[dict]:
    return [
        rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
    ]


def test_rules_are_valid(promtool):
    result = run(promtool, "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


def test_rules_pass_their_promtool_unit_tests(promtool):
    result = run(promtool, "test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_example_prometheus_config_is_valid(promtool):
    result = run(promtool, "check", "config", str(PROMETHEUS_YML))
    assert result.returncode == 0, result.stdout + result.stderr
    scrape = yaml.safe_load(PROMETHEUS_YML.read_text())["scrape_configs"][0]
    assert scrape["honor_labels"] is True  # else the pushed job label is overwritten


def test_every_alert_is_tested_firing_and_quiet():
    assert [rule["alert"] for rule in rules()] == ALERTS
    cases = [
        case
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    for alert in ALERTS:
        mine = [case for case in cases if case["alertname"] == alert]
        assert any(case["exp_alerts"] for case in mine), f"{alert}: no test where it fires"
        assert any(not case["exp_alerts"] for case in mine), f"{alert}: no test where it is quiet"


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_every_alert_has_a_summary_description_and_an_existing_runbook_anchor():
    headings = re.findall(r"^#{1,6} (.+)$", RUNBOOK.read_text(), flags=re.MULTILINE)
    anchors = {github_anchor(heading) for heading in headings}
    for rule in rules():
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], rule["alert"]
        page, _, anchor = annotations["runbook_url"].partition("#")
        assert page == "docs/runbook.md", rule["alert"]
        assert anchor in anchors, f"{rule['alert']}: #{anchor} is not a heading of {RUNBOOK}"
        assert rule["labels"]["severity"] in ("critical", "warning")


def test_every_sales_metric_in_rules_and_dashboard_is_pushed():
    expressions = {**rule_expressions(RULES), **dashboard_expressions(DASHBOARD)}
    for where, expr in expressions.items():
        unquoted = re.sub(r'"[^"]*"', '""', expr)  # label values such as job="sales_assets"
        for name in re.findall(r"\bsales_[a-z_]+", unquoted):
            assert name in METRICS, (
                f"{where}: {name} is not a metric sales_assets.monitoring pushes"
            )


def test_dashboard_imports_with_a_datasource_input():
    dashboard = json.loads(DASHBOARD.read_text())
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for wanted in ("rows per day", "rejection rate by reason", "revenue", "durations", "failed checks", "last good load"):  # fmt: skip
        assert wanted in titles


def test_every_pushed_metric_is_documented_for_operators():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Operations") :].split("\n## ", 1)[0]
    for name in METRICS:
        assert f"`{name}`" in section, f"{name} is not in the README's Operations section"


def test_runbook_links_within_itself_resolve():
    text = RUNBOOK.read_text()
    anchors = {github_anchor(h) for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.MULTILINE)}
    links = re.findall(r"\]\(#([^)]+)\)", text)
    assert links and not [link for link in links if link not in anchors]
