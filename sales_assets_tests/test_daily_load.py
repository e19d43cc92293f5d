"""One day's load without Dagster (`sales_assets/daily_load.py`): what a selection publishes,
what a blocked day may still write, and that staging a day writes nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from sales_assets.daily_load import CLEANED, METRICS, RAW, REJECTED, REPORT, Plan, stage_day
from sales_assets.resources import SalesSource
from sales_assets.warehouse import Warehouse

DAY = date(2024, 3, 1)


@pytest.mark.parametrize(
    ("selected", "published"),
    [
        ({RAW, CLEANED, REJECTED, METRICS, REPORT}, {RAW, CLEANED, REJECTED, METRICS, REPORT}),
        ({RAW}, {RAW}),
        # cleaned_sales and sales_metrics of a day always come from the same load
        ({CLEANED}, {CLEANED, REJECTED, METRICS}),
        ({REJECTED}, {CLEANED, REJECTED, METRICS}),
        ({METRICS}, {METRICS}),
        ({REPORT}, {REPORT}),
        (set(), set()),
    ],
)
def test_a_selection_publishes_its_assets_and_what_must_come_from_the_same_load(
    selected, published
):
    assert Plan.for_selection(selected).publish == published


def test_what_a_plan_reads_back_from_the_warehouse():
    assert Plan.for_selection({CLEANED}).needs_stored_raw  # no raw_sales: stored raw rows
    assert not Plan.for_selection({RAW, CLEANED}).needs_stored_raw
    assert Plan.for_selection({METRICS}).needs_stored_cleaned
    assert not Plan.for_selection({CLEANED}).needs_stored_cleaned


@pytest.fixture
def tools(tmp_path) -> tuple[SalesSource, Warehouse, Path]:
    database = tmp_path / "warehouse.duckdb"
    warehouse = Warehouse(url=str(database), schema_name="sales", lock_timeout_seconds=10)
    return SalesSource(synthetic_rows=300), warehouse, database


def test_a_good_day_is_staged_whole_and_nothing_is_written(tools):
    source, warehouse, database = tools
    plan = Plan.for_selection({RAW, CLEANED, REJECTED, METRICS, REPORT})
    staged = stage_day(DAY, plan, source, warehouse, max_reject_rate=0.10)
    assert not database.exists()  # judged before anything is written
    assert not staged.blocking and all(v.passed for v in staged.verdicts)
    assert [v.check.name for v in staged.verdicts] == [
        "raw_sales_schema",
        "cleaned_sales_schema",
        "rows_accounted_for",
        "rejection_rate",
        "daily_volume",
        "sales_metrics_schema",
        "revenue_reconciles",
    ]
    written = staged.publishable(plan)
    assert list(written) == [RAW, REJECTED, CLEANED, METRICS]  # the publish order
    assert len(written[CLEANED]) + len(written[REJECTED]) == len(written[RAW]) == 300
    assert set(staged.seconds) >= {"read", "clean", "metrics", "checks"}


def test_a_blocked_day_may_write_only_its_raw_rows_and_quarantine(tools):
    source, warehouse, database = tools
    plan = Plan.for_selection({RAW, CLEANED, REJECTED, METRICS, REPORT})
    staged = stage_day(DAY, plan, source, warehouse, max_reject_rate=0.0)
    assert [v.check.name for v in staged.blocking] == ["rejection_rate"]
    assert METRICS not in staged.frames  # never computed: judged before summing
    assert list(staged.publishable(plan)) == [RAW, REJECTED]
    assert not database.exists()
