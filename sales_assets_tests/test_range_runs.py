"""Runs that carry many days (backfills): every day its own materializations, its own check
results and its own blocking, and a bad day fails alone while the rest of the range loads.

The scenario of the module: seven landing days loaded in ONE run; the fourth day was loaded
good once before, and now holds 40 % `quantity=abc` rows. The tests only read what it left.
"""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
import pytest
from dagster import AssetKey

from sales_assets.partitions import daily_partitions

from .conftest import shared_pipeline
from .helpers import (
    DAY_CHECK_KEYS,
    check_record,
    check_status,
    days,
    evaluation,
    snapshot,
    step_failure,
    tables_agree,
    write,
    write_day,
    write_garbage_day,
)

pytestmark = pytest.mark.xdist_group("range_runs")  # one worker loads the scenario once

DAYS = days("2024-03-01", 7)
BAD = DAYS[3]
GOOD = [day for day in DAYS if day != BAD]
ROWS = 400
ASSETS = ("raw_sales", "cleaned_sales", "rejected_sales", "sales_metrics", "sales_report")
HELD_BACK = ("cleaned_sales", "sales_metrics")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    with shared_pipeline(tmp_path_factory, "range_runs") as pipeline:
        landing = pipeline.root / "landing"
        for day in DAYS:
            write_day(landing, day, rows=ROWS)
        pipeline.configure(landing_dir=landing)
        first = pipeline.run(BAD)  # the bad day's previous, good load
        assert first.success
        previous = snapshot(pipeline, [BAD], HELD_BACK)
        garbage = write_garbage_day(landing, BAD, rows=ROWS)
        result = pipeline.run_range(DAYS[0], DAYS[-1])
        yield pipeline, result, previous, garbage, first.run_id


def materialized_days(result) -> dict[str, set[str]]:
    """asset -> days materialized by the run."""
    found = defaultdict(set)
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        found[materialization.asset_key.to_user_string()].add(materialization.partition)
    return found


def test_the_run_carries_the_seven_days_and_fails_naming_the_bad_one(scenario):
    pipeline, result, *_ = scenario
    assert not result.success
    tags = result.dagster_run.tags
    assert tags["dagster/asset_partition_range_start"] == DAYS[0]
    assert tags["dagster/asset_partition_range_end"] == DAYS[-1]
    data = step_failure(result)
    failure = data.user_failure_data
    assert failure.description.startswith("1 of 7 day(s) not loaded")
    # The error's first line, what the UI shows first: the sentence, not a framework path.
    headline = data.error.message.splitlines()[0]
    assert headline.endswith(": 1 of 7 day(s) not loaded:") and "dagster._" not in headline
    assert f"day {BAD} blocked by rejection_rate" in failure.description
    assert set(failure.metadata["bad_days"].value) == {BAD}
    status, message = failure.metadata["bad_days"].value[BAD]
    assert status == "blocked" and "quantity=abc" in message


def test_every_good_day_has_its_own_materialization_of_every_asset(scenario):
    pipeline, result, *_ = scenario
    found = materialized_days(result)
    assert {asset: found[asset] for asset in ASSETS} == {
        "raw_sales": set(DAYS),
        "rejected_sales": set(DAYS),  # the bad day's quarantine is stored, to see why
        "cleaned_sales": set(GOOD),
        "sales_metrics": set(GOOD),
        "sales_report": set(GOOD),
    }
    for day in GOOD:
        assert pipeline.count("raw_sales", day) == ROWS
        cleaned, orders = tables_agree(pipeline, day)
        assert cleaned == orders > ROWS * 0.9, day


def test_the_partitions_tabs_show_the_bad_day_failed_on_the_assets_it_held_back(scenario):
    """What each asset's Partitions tab shows (the instance's status by partition)."""
    pipeline, *_ = scenario
    shown = {
        asset: {
            day: status and status.value
            for day, status in pipeline.instance.get_status_by_partition(
                AssetKey(asset), DAYS, daily_partitions
            ).items()
        }
        for asset in ASSETS
    }
    for asset in ASSETS:
        held_back = asset in (*HELD_BACK, "sales_report")
        expected = {day: "MATERIALIZED" for day in DAYS} | {
            BAD: "FAILED" if held_back else "MATERIALIZED"
        }
        assert shown[asset] == expected, asset


def test_every_good_day_has_a_passed_result_for_every_per_day_check(scenario):
    pipeline, result, *_ = scenario
    for day in GOOD:
        for asset, check in DAY_CHECK_KEYS:
            record = check_record(pipeline.instance, asset, check, day)
            assert record.status.value == "SUCCEEDED", (day, asset, check, record.status)
            assert record.run_id == result.run_id
            assert record.evaluation.target_materialization_data.run_id == result.run_id


def test_the_bad_day_stores_its_raw_rows_and_quarantine_and_keeps_the_previous_load(scenario):
    pipeline, result, previous, garbage, _ = scenario
    assert pipeline.count("raw_sales", BAD) == ROWS
    reasons = pipeline.query(
        "SELECT reject_detail, count(*) AS n FROM sales.rejected_sales "
        "WHERE partition_date = ? GROUP BY 1",
        [BAD],
    )
    assert dict(reasons.values.tolist())["quantity=abc"] == garbage
    assert snapshot(pipeline, [BAD], HELD_BACK) == previous
    cleaned, orders = tables_agree(pipeline, BAD)
    assert cleaned == orders > 0  # both from the previous load: they agree


def test_the_bad_day_records_its_failed_check_with_the_offending_values(scenario):
    pipeline, result, _, garbage, first_run = scenario
    assert check_status(pipeline.instance, "cleaned_sales", "rejection_rate", BAD) == "FAILED"
    rate = evaluation(pipeline.instance, "cleaned_sales", "rejection_rate", BAD)
    assert f"quantity=abc x{garbage}" in rate.metadata["rejects_by_reason"].value
    assert rate.metadata["rejected_rows"].value >= garbage
    assert rate.target_materialization_data.run_id == first_run  # the cleaned rows that stand
    for check in ("sales_metrics_schema", "revenue_reconciles"):  # never judged: held back
        assert check_status(pipeline.instance, "sales_metrics", check, BAD) != "SUCCEEDED"


def test_whole_table_checks_run_once_per_run_after_its_days(scenario):
    pipeline, result, *_ = scenario
    table_checks = [e for e in result.get_asset_check_evaluations() if e.partition is None]
    assert [e.check_name for e in table_checks] == ["sales_metrics_complete"]
    [complete] = table_checks
    assert complete.metadata["newest_day_loaded"].value == DAYS[-1]
    record = check_record(pipeline.instance, "sales_metrics", "sales_metrics_complete", None)
    assert record.run_id == result.run_id
    per_day = [e for e in result.get_asset_check_evaluations() if e.partition is not None]
    assert len(per_day) == len(GOOD) * len(DAY_CHECK_KEYS) + 5  # the bad day: 5 of 7 judged


def test_each_day_compares_its_volume_with_the_days_before_it_in_the_same_run(scenario):
    pipeline, *_ = scenario
    last = evaluation(pipeline.instance, "cleaned_sales", "daily_volume", DAYS[-1])
    assert sorted(last.metadata["compared_with"].value) == DAYS[:-1]


# -- a range with a missing landing day and a bad file ---------------------------------------


def test_a_missing_day_and_a_bad_file_fail_alone_and_the_rest_of_the_range_loads(pipeline):
    landing = pipeline.root / "landing"
    five = days("2024-04-01", 5)
    missing, bad_file = five[1], five[3]
    for day in five:
        if day != missing:
            write_day(landing, day, rows=200)
    broken = write(
        pd.read_csv(landing / bad_file / "orders.csv").drop(columns="quantity"),
        landing / bad_file / "orders.csv",
    )
    result = pipeline.configure(landing_dir=landing).run_range(five[0], five[-1])

    assert not result.success
    failure = step_failure(result).user_failure_data
    assert failure.description.startswith("2 of 5 day(s) not loaded")
    bad_days = failure.metadata["bad_days"].value
    assert set(bad_days) == {missing, bad_file}
    assert bad_days[missing][0] == "failed" and f"{missing} does not exist" in bad_days[missing][1]
    assert bad_days[bad_file][0] == "failed"
    assert f"{bad_file}/{broken.name}: missing required column(s)" in bad_days[bad_file][1]
    assert "quantity" in bad_days[bad_file][1]
    loaded = [day for day in five if day not in (missing, bad_file)]
    assert materialized_days(result)["sales_metrics"] == set(loaded)
    for day in loaded:
        cleaned, orders = tables_agree(pipeline, day)
        assert cleaned == orders > 0, day
    for day in (missing, bad_file):
        assert pipeline.count("raw_sales", day) == 0 and pipeline.count("sales_metrics", day) == 0
