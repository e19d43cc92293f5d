"""End to end: figures pushed to a real Pushgateway, scraped every second by a real Prometheus
that also evaluates deploy/prometheus/alerts.yml, read back through Prometheus's HTTP API.

The `loaded_days` fixture is the one place the figures come from: it pushes a good day and a
blocked day and returns, per day, what it pushed and when Prometheus had it. Swap it for real
runs of the pipeline (SALES_PUSHGATEWAY_URL pointing at `stack.gateway.url`) and the tests
below stay as they are.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest

from sales_assets import monitoring
from sales_assets.monitoring import CheckOutcome, DayFigures

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


@dataclass(frozen=True)
class Loaded:
    figures: DayFigures  # what the day's load reported
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


def figures(day: date, status: str, rows: dict, rejects: dict, revenue, checks) -> DayFigures:
    return DayFigures(
        day=day, status=status, job="daily_sales_job", run_id=f"run-{day}", rows=rows,
        rejects_by_reason=rejects, revenue=revenue, day_seconds=2.0,
        stage_seconds={"read": 0.5, "clean": 0.75, "checks": 0.25, "publish": 0.5},
        checks=checks, lock_wait_seconds=0.125, finished_at=time.time(), max_reject_rate=0.1,
    )  # fmt: skip


@pytest.fixture(scope="module")
def loaded_days(stack) -> list[Loaded]:
    """A good day, then a blocked one (a fifth of its rows rejected), each pushed and seen."""
    good = figures(
        date(2024, 3, 1), "ok",
        {"raw_sales": 5000, "cleaned_sales": 4920, "rejected_sales": 80, "sales_metrics": 96},
        {"missing_required": 12, "duplicate_order_id": 68}, 123456.78,
        (CheckOutcome("rejection_rate", "cleaned_sales", "ERROR", True),
         CheckOutcome("daily_volume", "cleaned_sales", "WARN", True)),
    )  # fmt: skip
    blocked = figures(
        date(2024, 3, 2), "blocked", {"raw_sales": 4000, "rejected_sales": 800},
        {"missing_required": 800}, None,
        (CheckOutcome("rejection_rate", "cleaned_sales", "ERROR", False),),
    )  # fmt: skip
    loaded = []
    for day in (good, blocked):
        assert monitoring.push_day(stack.gateway.url, day)
        seen = f'sales_day_status{{{JOB},status="{day.status}"}} == 1 and on (job) sales_day_timestamp_seconds == {stamp(day.day)}'  # fmt: skip
        loaded.append(Loaded(day, stack.prometheus.wait_until(seen)))
    return loaded


def stamp(day: date) -> int:
    return calendar.timegm(day.timetuple())


def expected(day: DayFigures) -> dict[str, float]:
    """PromQL selector -> the value Prometheus must hold for this day."""
    want = {
        f"sales_day_timestamp_seconds{{{JOB}}}": stamp(day.day),
        f'sales_day_status{{{JOB},status="{day.status}"}}': 1,
        f"sales_day_duration_seconds{{{JOB}}}": day.day_seconds,
        f"sales_day_rows_per_second{{{JOB}}}": day.rows["raw_sales"] / day.day_seconds,
        f"sales_day_lock_wait_seconds{{{JOB}}}": day.lock_wait_seconds,
        f"sales_day_finished_timestamp_seconds{{{JOB}}}": day.finished_at,
        f"sales_max_reject_rate{{{JOB}}}": day.max_reject_rate,
        f'sales_day_checks_failed{{{JOB},severity="ERROR"}}': sum(
            not c.passed and c.severity == "ERROR" for c in day.checks
        ),
    }
    for table, rows in day.rows.items():
        want[f'sales_day_rows{{{JOB},table="{table}"}}'] = rows
    for reason, rows in day.rejects_by_reason.items():
        want[f'sales_day_rejected_rows{{{JOB},reason="{reason}"}}'] = rows
    for stage, seconds in day.stage_seconds.items():
        want[f'sales_day_stage_duration_seconds{{{JOB},stage="{stage}"}}'] = seconds
    for c in day.checks:
        want[f'sales_day_check_passed{{{JOB},check="{c.check}",severity="{c.severity}"}}'] = float(
            c.passed
        )
    if day.revenue is not None:
        want[f"sales_day_revenue{{{JOB}}}"] = day.revenue
    return want


def test_every_figure_of_each_day_reaches_prometheus(stack, loaded_days):
    for day in loaded_days:
        for selector, value in expected(day.figures).items():
            [series] = stack.prometheus.query(selector, day.seen_at)
            assert series["value"] == pytest.approx(value), (day.figures.day, selector)
            assert series["metric"]["group"] == "last_day"
        # a table the day held back is absent for it, not a stale number
        tables = stack.prometheus.query(f"sales_day_rows{{{JOB}}}", day.seen_at)
        assert {s["metric"]["table"] for s in tables} == set(day.figures.rows)


def test_the_last_success_survives_the_blocked_day(stack, loaded_days):
    good, blocked = (day.figures for day in loaded_days)
    now = loaded_days[-1].seen_at
    query = stack.prometheus.query
    assert query("sales_last_success_day_timestamp_seconds", now)[0]["value"] == stamp(good.day)
    assert query("sales_last_success_timestamp_seconds", now)[0]["value"] == pytest.approx(
        good.finished_at
    )
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
