"""Bad days are judged before anything is written and held back, per day, with the reason
recorded by Dagster.

A blocked day publishes only its raw rows and its quarantine (`raw_sales`, `rejected_sales`,
to see why); `cleaned_sales` and `sales_metrics` keep the previous load's rows, so the two
always agree. Every assertion reads what users rely on: rows in the DuckDB file, and the
check evaluations and step failures Dagster recorded in the (real, temporary) instance.
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from dagster import AssetCheckSeverity, AssetKey, DagsterInstance

from sales_assets import daily_load

from .helpers import (
    check_status,
    clean_env,
    day_rows,
    days,
    evaluation,
    materialization,
    materialize_command,
    run_command,
    step_failure_messages,
    tables_agree,
    write_day,
    write_garbage_day,
)

DAY = "2024-03-05"
HELD_BACK = ("cleaned_sales", "sales_metrics")


def held_back_rows(pipeline, day: str) -> dict[str, list]:
    return {t: day_rows(pipeline, t, day).astype(str).values.tolist() for t in HELD_BACK}


def test_a_day_of_40_percent_garbage_is_blocked_and_keeps_its_previous_cleaned_rows_and_metrics(
    pipeline, tmp_path
):
    landing = tmp_path / "landing"
    neighbour = "2024-03-04"
    write_day(landing, neighbour, rows=500)
    write_day(landing, DAY, rows=500)
    pipeline.configure(landing_dir=landing)
    assert pipeline.run(neighbour).success
    good = pipeline.run(DAY)
    assert good.success
    before, neighbour_before = held_back_rows(pipeline, DAY), held_back_rows(pipeline, neighbour)

    garbage = write_garbage_day(landing, DAY, rows=500)  # the day is reloaded with a noisy file
    result = pipeline.run(DAY)

    assert not result.success
    rate = evaluation(pipeline.instance, "cleaned_sales", "rejection_rate", DAY)
    assert not rate.passed and rate.severity == AssetCheckSeverity.ERROR
    assert 0.39 < rate.metadata["rejection_rate"].value < 0.45
    assert f"quantity=abc x{garbage}" in rate.metadata["rejects_by_reason"].value
    sample = rate.metadata["sample_rejects"].value
    assert sample.count("\n") == 21 and "quantity=abc" in sample  # header, rule, 20 rejects
    # The check is recorded against the cleaned_sales that still stands: the previous load's.
    assert rate.target_materialization_data.run_id == good.run_id
    # The run says which check blocked which day; the metrics checks never ran for it.
    [message] = step_failure_messages(pipeline.instance, result.run_id)
    assert message.startswith("1 of 1 day(s) not loaded")
    assert f"day {DAY} blocked by rejection_rate" in message
    for check in ("sales_metrics_schema", "revenue_reconciles"):
        assert check_status(pipeline.instance, "sales_metrics", check, DAY) == "PLANNED"
    # raw_sales and the quarantine hold this load; cleaned rows and metrics the previous one.
    assert pipeline.count("raw_sales", DAY) == 500
    assert pipeline.count("rejected_sales", DAY) >= garbage
    assert held_back_rows(pipeline, DAY) == before
    assert held_back_rows(pipeline, neighbour) == neighbour_before
    cleaned, orders = tables_agree(pipeline, DAY)
    assert cleaned == orders > 0
    assert (
        materialization(pipeline.instance, "cleaned_sales", DAY).metadata["rows"].value == cleaned
    )
    assert evaluation(pipeline.instance, "cleaned_sales", "rejection_rate", neighbour).passed


def test_corrupted_cleaned_output_fails_the_schema_check_and_is_held_back(pipeline, monkeypatch):
    real_clean = daily_load.apply_cleaning_rules

    def corrupted(raw, day):  # test-only path: a bug in the cleaning step
        cleaned, rejected = real_clean(raw, day)
        cleaned.loc[0, "amount"] = -1.0
        cleaned.loc[1, "ticket_size"] = "huge"
        return cleaned, rejected

    monkeypatch.setattr(daily_load, "apply_cleaning_rules", corrupted)
    result = pipeline.configure(synthetic_rows=500).run(DAY)

    assert not result.success
    schema = evaluation(pipeline.instance, "cleaned_sales", "cleaned_sales_schema", DAY)
    assert not schema.passed and schema.severity == AssetCheckSeverity.ERROR
    assert schema.metadata["failing_rows"].value == 2
    assert "huge" in schema.metadata["failure_cases"].value
    assert "greater_than_or_equal_to(0)" in schema.metadata["failures_by_rule"].value
    assert "huge" in schema.metadata["failing_rows_sample"].value
    [message] = step_failure_messages(pipeline.instance, result.run_id)
    assert f"day {DAY} blocked by cleaned_sales_schema" in message
    tables = set(
        pipeline.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'sales'"
        )["table_name"]
    )
    assert tables == {"raw_sales", "rejected_sales"}  # the first load of the day held back
    for asset in HELD_BACK:
        assert DAY not in pipeline.instance.get_materialized_partitions(AssetKey(asset))


def test_rows_accounted_for_catches_one_lost_row(pipeline, monkeypatch):
    real_clean = daily_load.apply_cleaning_rules
    lost = {}

    def losing(raw, day):
        cleaned, rejected = real_clean(raw, day)
        lost["order_id"] = cleaned["order_id"].iloc[7]
        return cleaned.drop(index=7).reset_index(drop=True), rejected

    monkeypatch.setattr(daily_load, "apply_cleaning_rules", losing)
    result = pipeline.configure(synthetic_rows=500).run(DAY)

    assert not result.success
    accounted = evaluation(pipeline.instance, "cleaned_sales", "rows_accounted_for", DAY)
    assert not accounted.passed
    assert accounted.metadata["unaccounted"].value == 1
    assert accounted.metadata["lost_raw_rows"].value == 1
    assert lost["order_id"] in accounted.metadata["lost_raw_rows_sample"].value
    assert evaluation(pipeline.instance, "cleaned_sales", "cleaned_sales_schema", DAY).passed
    assert "rows_accounted_for" in step_failure_messages(pipeline.instance, result.run_id)[0]
    assert DAY not in pipeline.instance.get_materialized_partitions(AssetKey("sales_metrics"))


def test_revenue_reconciles_catches_one_lost_row_and_keeps_the_previous_load(pipeline, monkeypatch):
    pipeline.configure(synthetic_rows=500)
    assert pipeline.run(DAY).success
    before = held_back_rows(pipeline, DAY)
    real_metrics = daily_load.daily_metrics
    dropped = []

    def losing(cleaned):  # test-only path: the metrics step loses one order
        dropped.append(cleaned.iloc[0])
        return real_metrics(cleaned.iloc[1:])

    monkeypatch.setattr(daily_load, "daily_metrics", losing)
    result = pipeline.run(DAY)

    assert not result.success
    revenue = evaluation(pipeline.instance, "sales_metrics", "revenue_reconciles", DAY)
    assert not revenue.passed and revenue.severity == AssetCheckSeverity.ERROR
    assert revenue.metadata["difference"].value == pytest.approx(dropped[0]["amount"], abs=0.01)
    assert revenue.metadata["differing_groups"].value == 1
    assert f"| {dropped[0]['product']} " in revenue.metadata["differing_groups_sample"].value
    assert evaluation(pipeline.instance, "sales_metrics", "sales_metrics_schema", DAY).passed
    assert "revenue_reconciles" in step_failure_messages(pipeline.instance, result.run_id)[0]
    # Judged before writing: neither the new metrics nor the new cleaned rows were published.
    assert held_back_rows(pipeline, DAY) == before


def test_daily_volume_warns_at_30_percent_of_the_previous_week_only(pipeline):
    week = days("2024-03-01", 7)
    pipeline.configure(synthetic_rows=300)
    assert pipeline.run_range(week[0], week[-1]).success  # each day sees the days before it
    low_day, normal_day = "2024-03-08", "2024-03-09"

    low = pipeline.configure(synthetic_rows=90).run(low_day)
    normal = pipeline.configure(synthetic_rows=300).run(normal_day)

    assert low.success and normal.success  # WARN never blocks
    warned = evaluation(pipeline.instance, "cleaned_sales", "daily_volume", low_day)
    assert not warned.passed and warned.severity == AssetCheckSeverity.WARN
    assert 0.25 < warned.metadata["ratio"].value < 0.35
    assert sorted(warned.metadata["compared_with"].value) == week
    assert pipeline.count("sales_metrics", low_day) > 0
    quiet = evaluation(pipeline.instance, "cleaned_sales", "daily_volume", normal_day)
    assert quiet.passed
    assert sorted(quiet.metadata["compared_with"].value) == week[1:] + [low_day]
    first = evaluation(pipeline.instance, "cleaned_sales", "daily_volume", week[0])
    assert first.passed and "no earlier day" in first.description


def test_a_rejection_rate_under_the_limit_warns_without_blocking(pipeline, tmp_path):
    landing = tmp_path / "landing"
    write_day(landing, DAY, dirty_rate=0.05)  # above a fifth of 10 %, within 10 %
    result = pipeline.configure(landing_dir=landing).run(DAY)

    assert result.success
    rate = evaluation(pipeline.instance, "cleaned_sales", "rejection_rate", DAY)
    assert not rate.passed and rate.severity == AssetCheckSeverity.WARN
    assert "warn" in rate.description
    assert pipeline.count("sales_metrics", DAY) > 0


@pytest.mark.slow
def test_cli_materialize_of_a_noisy_day_exits_non_zero_and_keeps_its_metrics(tmp_path):
    """`dagster asset materialize --select '*' --partition D` as a user runs it."""
    home, landing, warehouse = tmp_path / "home", tmp_path / "landing", tmp_path / "w.duckdb"
    env = clean_env(home, SALES_LANDING_DIR=str(landing), SALES_WAREHOUSE=str(warehouse))

    def metrics():
        with duckdb.connect(str(warehouse), read_only=True) as connection:
            return connection.execute("SELECT * FROM sales.sales_metrics ORDER BY ALL").fetchdf()

    write_day(landing, DAY)
    first = run_command(materialize_command(DAY), env)
    assert first.returncode == 0, first.stderr[-3000:]
    before = metrics()
    write_garbage_day(landing, DAY)
    noisy = run_command(materialize_command(DAY), env)

    assert noisy.returncode != 0
    output = noisy.stdout + noisy.stderr
    assert "1 of 1 day(s) not loaded" in output and f"day {DAY} blocked by rejection_rate" in output
    pd.testing.assert_frame_equal(metrics(), before)
    with DagsterInstance.from_config(str(home)) as instance:
        rate = evaluation(instance, "cleaned_sales", "rejection_rate", DAY)
    assert not rate.passed and rate.metadata["sample_rejects"].value.count("\n") == 21
