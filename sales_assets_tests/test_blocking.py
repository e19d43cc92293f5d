"""Bad days are stopped before sales_metrics, per day, with the reason recorded by Dagster.

Every assertion reads what users rely on: rows in the DuckDB file, and the check
evaluations and step failures Dagster recorded in the (real, temporary) instance.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dagster import AssetCheckKey, AssetCheckSeverity, AssetKey, DagsterEventType, DagsterInstance
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionRecordStatus as Status,
)

from sales_assets import transforms
from sales_assets.sources.synthetic import generate_orders

DAY = "2024-03-05"


def check_record(instance, asset: str, check: str, day: str | None):
    """The latest execution of a check for one day (None: unpartitioned), as Dagster stored it."""
    records = instance.event_log_storage.get_asset_check_execution_history(
        AssetCheckKey(AssetKey(asset), check), limit=1, partition_filter=PartitionKeyFilter(key=day)
    )
    return records[0] if records else None


def evaluation(instance, asset: str, check: str, day: str):
    record = check_record(instance, asset, check, day)
    assert record is not None and record.evaluation is not None, (
        f"no evaluation of {check} for {day}"
    )
    return record.evaluation


def step_failures(instance, run_id: str) -> list[str]:
    events = instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE)
    return [e.dagster_event.step_failure_data.error.message for e in events]


def write_day(landing: Path, day: str, rows: int = 1000, dirty_rate: float = 0.015) -> None:
    """A landing CSV for `day`: `dirty_rate` of its rows broken on purpose."""
    folder = landing / day
    folder.mkdir(parents=True, exist_ok=True)
    generate_orders(date.fromisoformat(day), rows, dirty_rate=dirty_rate).to_csv(
        folder / "orders.csv", index=False
    )


def metrics_rows(pipeline, day: str) -> pd.DataFrame:
    return pipeline.query(
        "SELECT * FROM sales.sales_metrics WHERE order_date = ? ORDER BY product, region", [day]
    ).reset_index(drop=True)


def test_a_day_with_40_percent_invalid_rows_is_blocked_and_keeps_its_metrics(pipeline, tmp_path):
    landing = tmp_path / "landing"
    neighbour = "2024-03-04"
    write_day(landing, neighbour)
    write_day(landing, DAY)
    pipeline.configure(landing_dir=landing)
    assert pipeline.run(neighbour).success and pipeline.run(DAY).success
    before, neighbour_before = metrics_rows(pipeline, DAY), metrics_rows(pipeline, neighbour)
    assert len(before) > 0

    write_day(landing, DAY, dirty_rate=0.40)  # the day is reloaded with a noisy file
    result = pipeline.run(DAY)

    assert not result.success
    rate = evaluation(pipeline.instance, "cleaned_sales", "rejection_rate", DAY)
    assert not rate.passed and rate.severity == AssetCheckSeverity.ERROR
    assert 0.35 < rate.metadata["rejection_rate"].value < 0.45
    sample = rate.metadata["sample_rejects"].value
    assert sample.count("\n") == 21 and "reject_reason" in sample  # header, rule, 20 failing rows
    assert "invalid_quantity" in rate.metadata["rejects_by_reason"].value
    # The run says which check blocked which day, and sales_metrics never ran for it.
    [message] = step_failures(pipeline.instance, result.run_id)
    assert "rejection_rate" in message and DAY in message
    never_ran = check_record(pipeline.instance, "sales_metrics", "revenue_reconciles", DAY)
    assert never_ran.run_id == result.run_id and never_ran.status == Status.PLANNED
    pd.testing.assert_frame_equal(metrics_rows(pipeline, DAY), before)
    pd.testing.assert_frame_equal(metrics_rows(pipeline, neighbour), neighbour_before)
    assert evaluation(pipeline.instance, "cleaned_sales", "rejection_rate", neighbour).passed


def test_corrupted_cleaned_output_fails_the_schema_check_and_is_blocked(pipeline, monkeypatch):
    real_clean = transforms.clean_sales

    def corrupted(raw, day):  # test-only path: a bug in the cleaning step
        cleaned, rejected = real_clean(raw, day)
        cleaned.loc[0, "amount"] = -1.0
        cleaned.loc[1, "ticket_size"] = "huge"
        return cleaned, rejected

    monkeypatch.setattr(transforms, "clean_sales", corrupted)
    result = pipeline.configure(synthetic_rows=500).run(DAY)

    assert not result.success
    schema = evaluation(pipeline.instance, "cleaned_sales", "cleaned_sales_schema", DAY)
    assert not schema.passed and schema.severity == AssetCheckSeverity.ERROR
    assert schema.metadata["failing_rows"].value == 2
    assert "huge" in schema.metadata["failure_cases"].value
    assert "greater_than_or_equal_to(0)" in schema.metadata["failures_by_rule"].value
    assert "huge" in schema.metadata["failing_rows_sample"].value
    [message] = step_failures(pipeline.instance, result.run_id)
    assert "cleaned_sales_schema" in message and DAY in message
    assert (
        pipeline.query(
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'sales_metrics'"
        ).n[0]
        == 0
    )
    assert DAY not in pipeline.instance.get_materialized_partitions(AssetKey("sales_metrics"))


def test_rows_accounted_for_catches_one_lost_row(pipeline, monkeypatch):
    real_clean = transforms.clean_sales
    lost = {}

    def losing(raw, day):
        cleaned, rejected = real_clean(raw, day)
        lost["order_id"] = cleaned["order_id"].iloc[7]
        return cleaned.drop(index=7).reset_index(drop=True), rejected

    monkeypatch.setattr(transforms, "clean_sales", losing)
    result = pipeline.configure(synthetic_rows=500).run(DAY)

    assert not result.success
    accounted = evaluation(pipeline.instance, "cleaned_sales", "rows_accounted_for", DAY)
    assert not accounted.passed
    assert accounted.metadata["unaccounted"].value == 1
    assert accounted.metadata["lost_raw_rows"].value == 1
    assert lost["order_id"] in accounted.metadata["lost_raw_rows_sample"].value
    assert evaluation(pipeline.instance, "cleaned_sales", "cleaned_sales_schema", DAY).passed
    assert "rows_accounted_for" in step_failures(pipeline.instance, result.run_id)[0]
    assert DAY not in pipeline.instance.get_materialized_partitions(AssetKey("sales_metrics"))


def test_revenue_reconciles_catches_one_lost_row_and_keeps_previous_metrics(pipeline, monkeypatch):
    pipeline.configure(synthetic_rows=500)
    assert pipeline.run(DAY).success
    before = metrics_rows(pipeline, DAY)
    real_metrics = transforms.daily_metrics
    dropped = []

    def losing(cleaned):  # test-only path: the metrics step loses one order
        dropped.append(cleaned.iloc[0])
        return real_metrics(cleaned.iloc[1:])

    monkeypatch.setattr(transforms, "daily_metrics", losing)
    result = pipeline.run(DAY)

    assert not result.success
    revenue = evaluation(pipeline.instance, "sales_metrics", "revenue_reconciles", DAY)
    assert not revenue.passed and revenue.severity == AssetCheckSeverity.ERROR
    assert revenue.metadata["difference"].value == pytest.approx(dropped[0]["amount"], abs=0.01)
    assert revenue.metadata["differing_groups"].value == 1
    assert f"| {dropped[0]['product']} " in revenue.metadata["differing_groups_sample"].value
    assert evaluation(pipeline.instance, "sales_metrics", "sales_metrics_schema", DAY).passed
    assert "revenue_reconciles" in step_failures(pipeline.instance, result.run_id)[0]
    pd.testing.assert_frame_equal(metrics_rows(pipeline, DAY), before)


def test_daily_volume_warns_at_30_percent_of_the_previous_week_only(pipeline):
    start = date(2024, 3, 1)
    week = [(start + timedelta(days=i)).isoformat() for i in range(7)]
    pipeline.configure(synthetic_rows=1000)
    for day in week:
        assert pipeline.run(day).success
    low_day, normal_day = "2024-03-08", "2024-03-09"

    low = pipeline.configure(synthetic_rows=300).run(low_day)
    normal = pipeline.configure(synthetic_rows=1000).run(normal_day)

    assert low.success and normal.success  # WARN never blocks
    warned = evaluation(pipeline.instance, "cleaned_sales", "daily_volume", low_day)
    assert not warned.passed and warned.severity == AssetCheckSeverity.WARN
    assert 0.25 < warned.metadata["ratio"].value < 0.35
    assert sorted(warned.metadata["compared_with"].value) == week
    assert pipeline.count("sales_metrics", low_day) > 0
    quiet = evaluation(pipeline.instance, "cleaned_sales", "daily_volume", normal_day)
    assert quiet.passed
    assert sorted(quiet.metadata["compared_with"].value) == week[1:] + [low_day]


def test_five_day_range_one_bad_day_blocks_only_itself(pipeline, tmp_path):
    landing = tmp_path / "landing"
    days = [f"2024-03-0{i}" for i in range(1, 6)]
    bad = days[2]
    for day in days:
        write_day(landing, day, rows=800, dirty_rate=0.40 if day == bad else 0.015)
    pipeline.configure(landing_dir=landing)

    outcomes = {day: pipeline.run(day).success for day in days}  # one run per day, as backfills do

    assert outcomes == {day: day != bad for day in days}
    instance = pipeline.instance
    per_day_checks = [
        ("raw_sales", "raw_sales_schema"),
        ("cleaned_sales", "cleaned_sales_schema"),
        ("cleaned_sales", "rows_accounted_for"),
        ("cleaned_sales", "rejection_rate"),
        ("cleaned_sales", "daily_volume"),
        ("sales_metrics", "sales_metrics_schema"),
        ("sales_metrics", "revenue_reconciles"),
    ]
    for day in days:
        if day == bad:
            continue
        for asset, check in per_day_checks:
            assert check_record(instance, asset, check, day).status == Status.SUCCEEDED, (
                day,
                check,
            )
        assert pipeline.count("sales_metrics", day) > 0
    assert check_record(instance, "cleaned_sales", "rejection_rate", bad).status == Status.FAILED
    assert (
        check_record(instance, "sales_metrics", "revenue_reconciles", bad).status
        != Status.SUCCEEDED
    )
    assert pipeline.count("sales_metrics", bad) == 0
    assert instance.get_materialized_partitions(AssetKey("sales_metrics")) == set(days) - {bad}


def test_a_rejection_rate_under_the_limit_warns_without_blocking(pipeline, tmp_path):
    landing = tmp_path / "landing"
    write_day(landing, DAY, dirty_rate=0.05)  # above a fifth of 10 %, within 10 %
    result = pipeline.configure(landing_dir=landing).run(DAY)

    assert result.success
    rate = evaluation(pipeline.instance, "cleaned_sales", "rejection_rate", DAY)
    assert not rate.passed and rate.severity == AssetCheckSeverity.WARN
    assert "warn" in rate.description
    assert pipeline.count("sales_metrics", DAY) > 0


def test_cli_materialize_of_a_noisy_day_exits_non_zero_and_keeps_its_metrics(tmp_path):
    """The issue's acceptance: `dagster asset materialize --select '*' --partition D` as a user runs it."""
    home, landing, warehouse = (
        tmp_path / "home",
        tmp_path / "landing",
        tmp_path / "warehouse.duckdb",
    )
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SALES_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(home), SALES_LANDING_DIR=str(landing), SALES_WAREHOUSE=str(warehouse)
    )
    command = [
        str(Path(sys.executable).parent / "dagster"),
        "asset",
        "materialize",
        "-m",
        "sales_assets.definitions",
        "--select",
        "*",
        "--partition",
        DAY,
    ]

    def materialize_cli():
        return subprocess.run(
            command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
        )

    def metrics():
        with duckdb.connect(str(warehouse), read_only=True) as connection:
            return connection.execute("SELECT * FROM sales.sales_metrics ORDER BY ALL").fetchdf()

    write_day(landing, DAY)
    assert materialize_cli().returncode == 0
    before = metrics()
    write_day(landing, DAY, dirty_rate=0.40)
    noisy = materialize_cli()

    assert noisy.returncode != 0
    assert f"day {DAY} blocked by failed check(s) rejection_rate" in noisy.stdout + noisy.stderr
    pd.testing.assert_frame_equal(metrics(), before)
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        rate = evaluation(instance, "cleaned_sales", "rejection_rate", DAY)
    assert not rate.passed and rate.metadata["sample_rejects"].value.count("\n") == 21
