"""End to end: a UI backfill of seven landing days, one of them 40 % garbage, in runs of three
days through a real `dagster dev` and its daemon, asserted on what the UI reads (GraphQL).

Every good day shows materialized with every per-day check passed; the bad day shows failed
on the assets it held back, its rejection_rate failed with the offending values, and only the
run that carried it failed. The landing sensor is switched off first, as a user would, so
only the backfill runs these days.
"""

from __future__ import annotations

import pytest

from sales_assets.checks import DAY_CHECKS

from ..helpers import days, write_day, write_garbage_day
from .dagster_dev import ASSETS, count_rows, running_dagster_dev

DAYS = days("2024-03-01", 7)
BAD = DAYS[4]
ROWS = 300
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
HELD_BACK = ("cleaned_sales", "sales_metrics", "sales_report")


@pytest.fixture(scope="module")
def backfill(tmp_path_factory):
    """dagster dev with a landing zone and runs of 3 days; the backfill launched and done."""
    tmp = tmp_path_factory.mktemp("e2e_range")
    landing = tmp / "landing"
    landing.mkdir()
    env = {
        "SALES_LANDING_DIR": str(landing),
        "SALES_BACKFILL_DAYS_PER_RUN": "3",
        "SALES_SCHEDULE_CRON": "0 0 1 1 *",  # keep the daily schedule out of this module
    }
    with running_dagster_dev(tmp, env) as dev:
        dev.stop_sensor("landing_zone_sensor")
        for day in DAYS:
            write_day(landing, day, rows=ROWS)
        garbage = write_garbage_day(landing, BAD, rows=ROWS)
        backfill_id = dev.launch_backfill(DAYS)
        done = dev.wait_backfill(backfill_id, timeout=600)
        dev.warehouse = tmp / "warehouse.duckdb"
        yield dev, backfill_id, done, garbage


def test_the_backfill_ran_three_days_a_run_and_only_the_bad_days_run_failed(backfill):
    dev, backfill_id, done, _ = backfill
    assert done["status"] == "COMPLETED_FAILED", done  # never "succeeded" with a day failed
    runs = sorted(dev.runs(tags={"dagster/backfill": backfill_id}), key=lambda r: r["startTime"])
    assert [(r["tags"][RANGE_START], r["tags"][RANGE_END]) for r in runs] == [
        (DAYS[0], DAYS[2]),
        (DAYS[3], DAYS[5]),
        (DAYS[6], DAYS[6]),
    ]
    assert [r["status"] for r in runs] == ["SUCCESS", "FAILURE", "SUCCESS"]
    assert not dev.runs(tags={"dagster/sensor_name": "landing_zone_sensor"})


def test_the_backfill_page_counts_the_bad_day_failed_on_the_assets_it_held_back(backfill):
    dev, backfill_id, *_ = backfill
    counts = dev.backfill_counts(backfill_id)
    for asset in ASSETS:
        failed = 1 if asset in HELD_BACK else 0
        assert counts[asset] == {
            "targeted": 7,
            "in_progress": 0,
            "materialized": 7 - failed,
            "failed": failed,
        }, asset


def test_every_assets_partitions_tab_shows_each_days_health(backfill):
    dev, *_ = backfill
    for asset in ASSETS:
        shown, _ = dev.partition_statuses(asset)
        expected = dict.fromkeys(DAYS, "MATERIALIZED")
        if asset in HELD_BACK:
            expected[BAD] = "FAILED"
        assert {day: shown.get(day) for day in DAYS} == expected, asset


def test_every_good_day_shows_every_per_day_check_passed(backfill):
    dev, *_ = backfill
    for check in DAY_CHECKS:
        _, checks = dev.partition_statuses(check.asset)
        good = {day: checks[check.name].get(day) for day in DAYS if day != BAD}
        assert good == dict.fromkeys(good, "SUCCEEDED"), check.name


def test_the_bad_days_check_shows_the_offending_values(backfill):
    dev, _, _, garbage = backfill
    _, checks = dev.partition_statuses("cleaned_sales")
    assert checks["rejection_rate"][BAD] == "FAILED"
    [execution, *_] = dev.check_executions("cleaned_sales", "rejection_rate", partition=BAD)
    assert execution["status"] == "FAILED" and execution["evaluation"]["partition"] == BAD
    entries = {e["label"]: e.get("mdStr") for e in execution["evaluation"]["metadataEntries"]}
    assert f"quantity=abc x{garbage}" in entries["rejects_by_reason"]
    assert "quantity=abc" in entries["sample_rejects"]


def test_the_warehouse_holds_each_days_rows(backfill):
    dev, *_ = backfill
    for day in DAYS:
        assert count_rows(dev.warehouse, "raw_sales", day) == ROWS, day
        metrics = count_rows(dev.warehouse, "sales_metrics", day)
        assert (metrics == 0) == (day == BAD), day
    assert count_rows(dev.warehouse, "cleaned_sales", BAD) == 0  # held back like its metrics
    assert count_rows(dev.warehouse, "rejected_sales", BAD) >= 0.4 * ROWS  # to see why
