"""End to end: a good day and a blocked day loaded by real runs of the pipeline, which push
their figures to a real Pushgateway, scraped every second by a real Prometheus that also
evaluates deploy/prometheus/alerts.yml; every figure is read back through Prometheus's HTTP
API and compared with what the warehouse and the instance hold for those runs.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest

from sales_assets.checks import DAY_CHECKS

from ..conftest import shared_pipeline
from ..helpers import check_status, write_day, write_garbage_day
from .dagster_dev import wait_for
from .prometheus_servers import (
    MissingBinary,
    dashboard_expressions,
    rule_expressions,
    running_prometheus,
    running_pushgateway,
)

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/prometheus/alerts.yml"
DASHBOARD = ROOT / "deploy/grafana/sales_assets.json"
JOB = 'job="sales_assets"'
GOOD, BLOCKED = "2024-03-01", "2024-03-02"


@dataclass(frozen=True)
class Loaded:
    day: str
    status: str  # as the run decided it
    seen_at: float  # a time at which Prometheus held this day's figures


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A Pushgateway and a Prometheus scraping it every second with the alert rules loaded."""
    root = tmp_path_factory.mktemp("ops")
    try:
        with running_pushgateway(root / "pushgateway") as gateway:
            target = f"127.0.0.1:{gateway.port}"
            with running_prometheus(root / "prometheus", [target], [RULES]) as prometheus:
                yield SimpleNamespace(gateway=gateway, prometheus=prometheus)
    except MissingBinary as error:
        pytest.fail(str(error))


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, stack):
    """Runs of the real pipeline that push to the stack's Pushgateway."""
    with shared_pipeline(tmp_path_factory, "ops_runs") as pipeline:
        landing = pipeline.root / "landing"
        write_day(landing, GOOD, rows=1000)
        write_garbage_day(landing, BLOCKED, rows=1000, share=0.4)
        yield pipeline.configure(pushgateway_url=stack.gateway.url, landing_dir=str(landing))


@pytest.fixture(scope="module")
def loaded_days(stack, pipeline) -> list[Loaded]:
    """The good day, then the blocked one, each loaded by its own run and seen by Prometheus."""
    loaded = []
    for day, status in ((GOOD, "ok"), (BLOCKED, "blocked")):
        assert pipeline.run(day).success == (status == "ok")
        seen = f'sales_day_status{{{JOB},status="{status}"}} == 1 and on (job) sales_day_timestamp_seconds == {stamp(day)}'  # fmt: skip
        loaded.append(Loaded(day, status, stack.prometheus.wait_until(seen)))
    return loaded


def stamp(day: str) -> int:
    return calendar.timegm(date.fromisoformat(day).timetuple())


def held(pipeline, day: str, status: str) -> dict[str, float]:
    """PromQL selector -> the value the warehouse and the instance hold for this day's run."""
    want = {
        f"sales_day_timestamp_seconds{{{JOB}}}": stamp(day),
        f'sales_day_status{{{JOB},status="{status}"}}': 1,
    }
    written = ["raw_sales", "rejected_sales"] + (
        ["cleaned_sales", "sales_metrics"] if status == "ok" else []
    )
    for table in written:
        want[f'sales_day_rows{{{JOB},table="{table}"}}'] = pipeline.count(table, day)
    reasons = pipeline.query(
        "SELECT reject_reason, count(*) AS n FROM sales.rejected_sales WHERE partition_date = ? GROUP BY 1", [day]
    )  # fmt: skip
    for reason, n in zip(reasons["reject_reason"], reasons["n"]):
        want[f'sales_day_rejected_rows{{{JOB},reason="{reason}"}}'] = n
    if status == "ok":
        revenue = pipeline.query(
            "SELECT sum(amount) FROM sales.cleaned_sales WHERE order_date = ?", [day]
        )
        want[f"sales_day_revenue{{{JOB}}}"] = round(float(revenue.iloc[0, 0]), 2)
    for check in DAY_CHECKS:
        state = check_status(pipeline.instance, check.asset, check.name, day)
        if state in ("SUCCEEDED", "FAILED"):
            selector = f'sales_day_check_passed{{{JOB},check="{check.name}",asset="{check.asset}"}}'
            want[selector] = float(state == "SUCCEEDED")
    return want


def test_every_figure_equals_what_the_warehouse_and_the_instance_hold(stack, pipeline, loaded_days):
    for day in loaded_days:
        for selector, value in held(pipeline, day.day, day.status).items():
            [series] = stack.prometheus.query(selector, day.seen_at)
            assert series["value"] == pytest.approx(value), (day.day, selector)
            assert series["metric"]["group"] == "last_day"
        # a table the day held back is absent for it, not a stale number
        tables = {s["metric"]["table"] for s in stack.prometheus.query(f"sales_day_rows{{{JOB}}}", day.seen_at)}  # fmt: skip
        assert tables == ({"raw_sales", "rejected_sales"} | ({"cleaned_sales", "sales_metrics"} if day.status == "ok" else set()))  # fmt: skip
        # the timings are there and positive (the clock is not in the warehouse)
        for figure in ("sales_day_duration_seconds", "sales_day_rows_per_second", "sales_day_finished_timestamp_seconds"):  # fmt: skip
            assert stack.prometheus.query(f"{figure}{{{JOB}}}", day.seen_at)[0]["value"] > 0, figure


def test_the_last_success_survives_the_blocked_day(stack, loaded_days):
    good, blocked = loaded_days
    now, query = blocked.seen_at, stack.prometheus.query
    assert query("sales_last_success_day_timestamp_seconds", now)[0]["value"] == stamp(good.day)
    assert query("sales_last_success_timestamp_seconds", now)[0]["value"] <= good.seen_at
    assert query("sales_last_blocked_day_timestamp_seconds", now)[0]["value"] == stamp(blocked.day)
    assert not query("sales_day_revenue", now)  # the blocked day published none


def test_every_alert_and_dashboard_expression_evaluates(stack, loaded_days):
    expressions = {**rule_expressions(RULES), **dashboard_expressions(DASHBOARD)}
    for where, expr in expressions.items():
        try:
            stack.prometheus.query(expr)
        except AssertionError as error:
            raise AssertionError(f"{where}: {expr}\n{error}") from None
    # the dashboard's figures of the day pushed last are there, not only parseable
    rows = dashboard_expressions(DASHBOARD)["Rows per day, by table / A"]
    assert {s["metric"]["table"] for s in stack.prometheus.query(rows)} == {"raw_sales", "rejected_sales"}  # fmt: skip


def test_prometheus_evaluates_the_rules_and_the_blocked_day_alerts(stack, loaded_days):
    def firing():
        alerts = stack.prometheus.api("alerts")["alerts"]
        return {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}

    wanted = {"SalesDayBlocked", "SalesRejectionRateHigh"}
    assert wanted <= wait_for("the blocked day's alerts", lambda: wanted <= firing() and firing(), 30, 0.5)  # fmt: skip
    assert "SalesRunFailed" not in firing()
    groups = stack.prometheus.api("rules")["groups"]
    for rule in (rule for group in groups for rule in group["rules"]):
        assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))
