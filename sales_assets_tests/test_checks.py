"""The check rules on small frames, and the whole-table checks (freshness, completeness)
evaluated by Dagster against a real instance, as the sensor and the UI run them."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dagster import (
    AssetCheckKey,
    AssetCheckSeverity,
    AssetKey,
    AssetSelection,
    DagsterInstance,
    SensorResult,
    SkipReason,
    build_sensor_context,
    materialize,
)
from dagster._core.instance.ref import InstanceRef
from dagster._core.test_utils import freeze_time

from sales_assets import checks, transforms
from sales_assets.contracts import REQUIRED_COLUMNS, CleanedSales, SalesMetrics
from sales_assets.definitions import build_resources, defs
from sales_assets.settings import REPO_ROOT
from sales_assets.sources.synthetic import synthetic_day
from sales_assets.table_checks import (
    COMPLETENESS_CHECK,
    FRESHNESS_CHECK,
    TABLE_CHECKS,
    completeness,
    sales_metrics_complete,
    sales_metrics_fresh,
    sales_metrics_freshness_sensor,
)
from sales_assets.warehouse import Warehouse
from sales_assets_tests.conftest import ASSETS
from sales_assets_tests.test_blocking import check_record, write_day

DAY = date(2024, 3, 1)
UTC = timezone.utc


@pytest.fixture(scope="module")
def day_frames():
    raw = synthetic_day(DAY, 400)
    cleaned, rejected = transforms.clean_sales(raw, DAY)
    return raw, cleaned, rejected, transforms.daily_metrics(cleaned)


def test_every_check_of_the_contract_is_declared_with_what_it_guards():
    declared = {
        (spec.asset_key.to_user_string(), spec.name): spec
        for name in ("raw_sales", "cleaned_sales", "sales_metrics")
        for spec in checks.specs_for(name)
    }
    assert {k: s.blocking for k, s in declared.items()} == {
        ("raw_sales", "raw_sales_schema"): True,
        ("cleaned_sales", "cleaned_sales_schema"): True,
        ("cleaned_sales", "rows_accounted_for"): True,
        ("cleaned_sales", "rejection_rate"): True,
        ("cleaned_sales", "daily_volume"): False,
        ("sales_metrics", "sales_metrics_schema"): True,
        ("sales_metrics", "revenue_reconciles"): True,
    }
    assert all(len(s.description) > 40 for s in declared.values())
    graph = defs.resolve_asset_graph()
    assert {k.name for k in graph.asset_check_keys} >= {FRESHNESS_CHECK, COMPLETENESS_CHECK}
    assert all(graph.get_check_spec(k).description for k in graph.asset_check_keys)


def test_clean_day_passes_every_check(day_frames):
    raw, cleaned, rejected, metrics = day_frames
    results = [
        checks.raw_schema(raw),
        checks.pandera_check("cleaned_sales_schema", CleanedSales, cleaned),
        checks.rows_accounted_for(raw, cleaned, rejected),
        checks.rejection_rate(len(raw), rejected, 0.10),
        checks.pandera_check("sales_metrics_schema", SalesMetrics, metrics),
        checks.revenue_reconciles(metrics, cleaned),
    ]
    assert [r.check_name for r in results if not r.passed] == []
    checks.raise_if_blocked(results, DAY)  # does not raise


def test_missing_required_column_is_named(day_frames):
    raw = day_frames[0].drop(columns=["quantity"])
    result = checks.raw_schema(raw, REQUIRED_COLUMNS)
    assert not result.passed and result.severity == AssetCheckSeverity.ERROR
    assert result.metadata["missing_column_count"].value == 1
    assert "quantity" in result.metadata["missing_columns"].value
    assert "quantity" in result.description


def test_schema_failures_show_at_most_20_failing_rows(day_frames):
    cleaned = day_frames[1].copy()
    cleaned.loc[:29, "quantity"] = 0  # 30 rows break `quantity > 0` and the derived amount
    result = checks.pandera_check("cleaned_sales_schema", CleanedSales, cleaned)
    assert not result.passed
    assert result.metadata["failing_rows"].value == 30
    assert result.metadata["failing_rows_sample"].value.count("\n") == 21  # header, rule, 20 rows
    assert result.metadata["failure_cases"].value.count("\n") == 21
    by_rule = result.metadata["failures_by_rule"].value
    assert "greater_than(0)" in by_rule and "amount != round" in by_rule


def test_rejection_rate_warns_above_a_fifth_and_blocks_above_the_limit(day_frames):
    rejected = day_frames[2]
    n = len(rejected)
    ok = checks.rejection_rate(n * 100, rejected, 0.10)  # 1 %
    warn = checks.rejection_rate(n * 20, rejected, 0.10)  # 5 %
    error = checks.rejection_rate(n * 5, rejected, 0.10)  # 20 %
    assert ok.passed
    assert not warn.passed and warn.severity == AssetCheckSeverity.WARN
    assert not error.passed and error.severity == AssetCheckSeverity.ERROR
    checks.raise_if_blocked([warn], DAY)  # a warning never blocks
    with pytest.raises(
        Exception, match=r"day 2024-03-01 blocked by failed check\(s\) rejection_rate"
    ):
        checks.raise_if_blocked([error], DAY)


def test_daily_volume_on_an_empty_history_and_zero_days():
    assert checks.daily_volume(10, pd.DataFrame(columns=["order_date", "rows"])).passed
    zeros = pd.DataFrame({"order_date": ["2024-03-01", "2024-02-29"], "rows": [0, 0]})
    assert checks.daily_volume(0, zeros).passed
    assert not checks.daily_volume(5, zeros).passed


def test_volume_history_reaches_past_gaps_for_the_previous_7_days_present(tmp_path):
    warehouse = Warehouse(
        url=str(tmp_path / "w.duckdb"), schema_name="sales", lock_timeout_seconds=10
    )
    with duckdb.connect(warehouse.url) as connection:
        connection.execute("CREATE SCHEMA sales")
        connection.execute(
            "CREATE TABLE sales.cleaned_sales AS SELECT d::DATE AS order_date FROM "
            "(SELECT unnest(['2024-01-01', '2024-01-02', '2024-01-03', '2024-01-03', '2024-01-04', '2024-01-05', "
            "'2024-02-10', '2024-02-11', '2024-02-12']) AS d)"
        )
    history = checks.volume_history(warehouse.query, date(2024, 2, 12))
    days = pd.to_datetime(history["order_date"]).dt.strftime("%Y-%m-%d").tolist()
    assert days == [
        "2024-02-11",
        "2024-02-10",
        "2024-01-05",
        "2024-01-04",
        "2024-01-03",
        "2024-01-02",
        "2024-01-01",
    ]
    assert history["rows"].tolist() == [1, 1, 1, 1, 2, 1, 1]
    assert checks.volume_history(warehouse.query, date(2024, 1, 1)).empty


def test_completeness_lists_missing_days_and_ranges():
    days = [f"2024-01-{d:02d}" for d in range(1, 31)]
    with_rows = (
        set(days) - {"2024-01-03"} - {f"2024-01-{d:02d}" for d in range(10, 40)} - {"2024-01-05"}
    )
    result = completeness(days, with_rows, materialized={"2024-01-05"})
    assert not result.passed and result.severity == AssetCheckSeverity.WARN
    assert result.metadata["missing_days"].value == 22
    assert result.metadata["zero_sales_days"].value == 1
    assert result.metadata["missing_days_sample"].value.count("\n") == 21  # 20 of the 22 days
    ranges = result.metadata["missing_ranges"].value
    assert (
        "| 2024-01-03 | 2024-01-03 |      1 |" in ranges
        and "| 2024-01-10 | 2024-01-30 |     21 |" in ranges
    )


def latest(instance, check: str):
    return check_record(instance, "sales_metrics", check, None).evaluation


def tick(pipeline, now: datetime):
    """One sensor tick at `now`, handled as the daemon does: its check results are recorded."""
    with freeze_time(now):
        outcome = sales_metrics_freshness_sensor(build_sensor_context(instance=pipeline.instance))
    if isinstance(outcome, SensorResult):
        for event in outcome.asset_events:
            pipeline.instance.report_runless_asset_event(event)
        assert (
            not outcome.run_requests
        )  # it evaluates in the tick: no run to queue behind backfills
    return outcome


def test_freshness_sensor_flags_a_missed_nightly_load_and_clears_once_it_lands(pipeline):
    """Deadline 08:00 UTC (the default): at 09:00 on 2 March, 1 March must be there."""
    pipeline.configure(synthetic_rows=300)
    assert sales_metrics_freshness_sensor.default_status.value == "RUNNING"
    late = datetime(2024, 3, 2, 9, 0, tzinfo=UTC)

    assert isinstance(tick(pipeline, late), SensorResult)  # nothing ever ran
    stale = latest(pipeline.instance, FRESHNESS_CHECK)
    assert not stale.passed and stale.severity == AssetCheckSeverity.ERROR
    assert stale.metadata["expected_day"].value == "2024-03-01"
    assert stale.metadata["overdue_seconds"].value == 3600
    assert "| 2024-03-01 | False" in stale.metadata["recent_days"].value
    assert isinstance(tick(pipeline, late), SkipReason)  # same verdict: nothing new recorded

    assert pipeline.run("2024-02-29").success  # an older day does not make it fresh
    assert isinstance(tick(pipeline, late), SkipReason)
    assert not latest(pipeline.instance, FRESHNESS_CHECK).passed

    assert pipeline.run("2024-03-01").success  # the nightly load lands
    assert isinstance(tick(pipeline, late), SensorResult)
    fresh = latest(pipeline.instance, FRESHNESS_CHECK)
    assert fresh.passed, fresh.description
    assert fresh.metadata["fresh_until"].value == datetime(2024, 3, 3, 8, tzinfo=UTC).timestamp()
    assert isinstance(
        tick(pipeline, datetime(2024, 3, 3, 7, 59, tzinfo=UTC)), SkipReason
    )  # before the next deadline

    next_deadline_passed = datetime(2024, 3, 3, 8, 5, tzinfo=UTC)  # no run happened on the 3rd
    assert isinstance(tick(pipeline, next_deadline_passed), SensorResult)
    overdue = latest(pipeline.instance, FRESHNESS_CHECK)
    assert not overdue.passed and overdue.metadata["expected_day"].value == "2024-03-02"
    history = pipeline.instance.event_log_storage.get_asset_check_execution_history(
        AssetCheckKey(AssetKey("sales_metrics"), FRESHNESS_CHECK), limit=10
    )
    assert [r.evaluation.passed for r in history] == [False, True, False]


def test_freshness_check_in_a_run_agrees_with_the_sensor(pipeline):
    pipeline.configure(synthetic_rows=300)
    assert pipeline.run("2024-03-01").success
    with freeze_time(datetime(2024, 3, 2, 8, 30, tzinfo=UTC)):
        result = materialize(
            [*ASSETS, *TABLE_CHECKS],
            selection=AssetSelection.checks(sales_metrics_fresh),
            resources=build_resources(pipeline.settings),
            instance=pipeline.instance,
        )
    assert result.success
    assert latest(pipeline.instance, FRESHNESS_CHECK).passed
    assert isinstance(tick(pipeline, datetime(2024, 3, 2, 8, 35, tzinfo=UTC)), SkipReason)


def test_completeness_after_per_day_runs_selected_with_star(pipeline, tmp_path):
    """`--select '*' --partition D` runs the whole-table checks too, recorded unpartitioned."""
    landing = tmp_path / "landing"
    for day in ("2024-01-01", "2024-01-02", "2024-01-04"):
        write_day(landing, day, rows=300)
    (landing / "2024-01-05").mkdir(parents=True)
    (landing / "2024-01-05" / "orders.csv").write_text(
        ",".join(REQUIRED_COLUMNS) + "\n"
    )  # zero-sales day
    pipeline.configure(landing_dir=landing)
    now = datetime(2024, 1, 6, 9, 0, tzinfo=UTC)

    def run_all(day: str):
        with freeze_time(now):
            return materialize(
                [*ASSETS, *TABLE_CHECKS],
                partition_key=day,
                resources=build_resources(pipeline.settings),
                instance=pipeline.instance,
            )

    for day in ("2024-01-01", "2024-01-02", "2024-01-04", "2024-01-05"):
        assert run_all(day).success
    gap = latest(pipeline.instance, COMPLETENESS_CHECK)
    assert not gap.passed and gap.severity == AssetCheckSeverity.WARN
    assert (
        gap.metadata["missing_days"].value == 1
        and "2024-01-03" in gap.metadata["missing_days_sample"].value
    )
    assert (
        gap.metadata["zero_sales_days"].value == 1 and gap.metadata["days_with_metrics"].value == 3
    )
    assert latest(
        pipeline.instance, FRESHNESS_CHECK
    ).passed  # 2024-01-05 landed before the 08:00 deadline

    write_day(landing, "2024-01-03", rows=300)
    assert run_all("2024-01-03").success
    closed = latest(pipeline.instance, COMPLETENESS_CHECK)
    assert closed.passed and closed.metadata["expected_days"].value == 5, closed.description


def test_completeness_can_run_alone_as_from_the_ui(pipeline):
    assert pipeline.configure(synthetic_rows=200).run("2024-01-01").success
    with freeze_time(datetime(2024, 1, 3, 12, tzinfo=UTC)):
        result = materialize(
            [*ASSETS, sales_metrics_complete, sales_metrics_fresh],
            selection=AssetSelection.checks(sales_metrics_complete),
            resources=build_resources(pipeline.settings),
            instance=pipeline.instance,
        )
    assert result.success
    alone = latest(pipeline.instance, COMPLETENESS_CHECK)
    assert not alone.passed and alone.metadata["missing_days"].value == 1
    assert "2024-01-02" in alone.metadata["missing_days_sample"].value


def test_the_daemon_runs_the_freshness_sensor_by_default(tmp_path):
    """A real `dagster-daemon` with the repo's dagster.yaml, no click: the sensor records a verdict."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SALES_", "DAGSTER_"))}
    env.update(DAGSTER_HOME=str(home), SALES_WAREHOUSE=str(tmp_path / "warehouse.duckdb"))
    daemon = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster-daemon"),
            "run",
            "-m",
            "sales_assets.definitions",
        ],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    key = AssetCheckKey(AssetKey("sales_metrics"), FRESHNESS_CHECK)
    try:
        with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
            deadline = time.monotonic() + 180
            while not (
                history := instance.event_log_storage.get_asset_check_execution_history(
                    key, limit=1
                )
            ):
                assert daemon.poll() is None, "dagster-daemon exited"
                assert time.monotonic() < deadline, "no freshness verdict within 180 s"
                time.sleep(2)
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)
    [record] = history
    assert record.run_id == ""  # evaluated in the sensor tick, no run launched
    assert not record.evaluation.passed  # nothing was ever loaded into this warehouse
    assert "sales_metrics lacks" in record.evaluation.description
