"""The asset graph run in-process against a temporary DuckDB file: what lands in the tables."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from dagster import AssetKey

from sales_assets.contracts import REJECT_REASONS
from sales_assets.sources.synthetic import synthetic_day
from sales_assets.transforms import clean_sales, daily_metrics

from .test_landing import day_dir, rows, write

DAYS = ["2024-03-01", "2024-03-02", "2024-03-03"]
TABLES = ("raw_sales", "cleaned_sales", "rejected_sales", "sales_metrics")
ROWS = 1000


def day_rows(pipeline, table: str, day: str) -> pd.DataFrame:
    """A day's rows of a table in a stable order, for comparing snapshots."""
    column = "order_date" if table in ("cleaned_sales", "sales_metrics") else "partition_date"
    key = {
        "raw_sales": "source_file, source_row",
        "rejected_sales": "source_file, source_row",
        "cleaned_sales": "order_id",
        "sales_metrics": "product, region",
    }[table]
    return pipeline.query(f"SELECT * FROM sales.{table} WHERE {column} = ? ORDER BY {key}", [day])


def comparable(frame: pd.DataFrame) -> list[list]:
    return frame.astype(str).values.tolist()


@pytest.fixture
def three_days(pipeline):
    pipeline.configure(synthetic_rows=ROWS)
    for day in DAYS:
        assert pipeline.run(day).success, day
    return pipeline


def test_three_days_hold_exactly_the_contract_rows(three_days):
    pipeline = three_days
    for day in DAYS:
        raw = synthetic_day(date.fromisoformat(day), ROWS)
        cleaned, rejected = clean_sales(raw, date.fromisoformat(day))
        stored_raw = day_rows(pipeline, "raw_sales", day)
        stored_cleaned = day_rows(pipeline, "cleaned_sales", day)
        stored_rejected = day_rows(pipeline, "rejected_sales", day)
        stored_metrics = day_rows(pipeline, "sales_metrics", day)

        assert len(stored_raw) == ROWS
        assert stored_raw["source_row"].tolist() == list(range(1, ROWS + 1))
        assert stored_raw["order_id"].tolist() == raw["order_id"].tolist()
        assert len(stored_cleaned) + len(stored_rejected) == ROWS
        assert stored_cleaned["order_id"].is_unique
        assert set(stored_rejected["reject_reason"]) == set(REJECT_REASONS)
        assert sorted(stored_cleaned["order_id"]) == sorted(cleaned["order_id"])
        assert stored_rejected[["source_row", "reject_reason", "reject_detail"]].astype(
            str
        ).values.tolist() == (
            rejected.sort_values("source_row")[["source_row", "reject_reason", "reject_detail"]]
            .astype(str)
            .values.tolist()
        )
        # typed columns as the contract says, values as the rules computed them
        expected = cleaned.sort_values("order_id").reset_index(drop=True)
        assert (stored_cleaned["order_ts"] == expected["order_ts"]).all()
        assert stored_cleaned["order_date"].astype(str).unique().tolist() == [day]
        assert stored_cleaned["quantity"].tolist() == expected["quantity"].tolist()
        assert stored_cleaned["amount"].tolist() == expected["amount"].tolist()
        assert stored_cleaned["ticket_size"].tolist() == expected["ticket_size"].tolist()
        assert (
            stored_cleaned["customer_id"].isna().sum() == expected["customer_id"].isna().sum() > 0
        )
        # metrics from the stored cleaned rows
        assert stored_metrics["orders"].sum() == len(stored_cleaned)
        assert stored_metrics["units"].sum() == stored_cleaned["quantity"].sum()
        assert stored_metrics["revenue"].sum() == pytest.approx(
            stored_cleaned["amount"].sum(), abs=0.01
        )
        assert comparable(stored_metrics) == comparable(daily_metrics(expected))

    types = dict(
        pipeline.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'sales' AND table_name = 'cleaned_sales'"
        ).values.tolist()
    )
    assert types["order_ts"] == "TIMESTAMP WITH TIME ZONE"
    assert types["order_date"] == "DATE"
    assert types["quantity"] == "BIGINT"
    assert types["amount"] == "DOUBLE"


def test_rerunning_a_day_replaces_only_that_day(three_days):
    pipeline = three_days
    before = {(t, d): comparable(day_rows(pipeline, t, d)) for t in TABLES for d in DAYS}

    assert pipeline.run("2024-03-02").success
    assert pipeline.run("2024-03-02").success

    after = {(t, d): comparable(day_rows(pipeline, t, d)) for t in TABLES for d in DAYS}
    assert after == before
    totals = pipeline.query(
        "SELECT count(*) AS n, count(DISTINCT order_id) AS ids FROM sales.cleaned_sales"
    )
    assert (
        totals["n"][0] == totals["ids"][0] == sum(len(before[("cleaned_sales", d)]) for d in DAYS)
    )
    assert pipeline.query("SELECT count(*) FROM sales.raw_sales").iloc[0, 0] == 3 * ROWS


def test_materialization_metadata(three_days):
    event = three_days.instance.get_latest_materialization_event(AssetKey("rejected_sales"))
    metadata = event.asset_materialization.metadata
    assert event.asset_materialization.partition == "2024-03-03"
    by_reason = metadata["rejects_by_reason"].value
    assert set(by_reason) == set(REJECT_REASONS)
    assert (
        sum(by_reason.values())
        == metadata["rows"].value
        == three_days.count("rejected_sales", "2024-03-03")
    )
    cleaned = three_days.instance.get_latest_materialization_event(
        AssetKey("cleaned_sales")
    ).asset_materialization.metadata
    assert cleaned["rows"].value == three_days.count("cleaned_sales", "2024-03-03")
    assert cleaned["revenue"].value == pytest.approx(
        three_days.query(
            "SELECT sum(amount) FROM sales.cleaned_sales WHERE order_date = '2024-03-03'"
        ).iloc[0, 0],
        abs=0.01,
    )


def test_v2_columns_after_a_v1_day(pipeline, tmp_path):
    landing = tmp_path / "landing"
    write(rows("v1", 3), day_dir(landing, "2024-03-01") / "orders.csv")
    v2 = rows(
        "v2",
        3,
        day="2024-03-02",
        channel=["app", "", "web"],
        discount=["0.5", "", "0.25"],
        coupon=["X", "Y", ""],
        **{"Store ID": ["s1", "s2", "s3"], 'say "hi"': ["a", "b", "c"]},
    )  # extra columns as named in the wild
    write(v2, day_dir(landing, "2024-03-02") / "orders.parquet")
    pipeline.configure(landing_dir=landing)

    assert pipeline.run("2024-03-01").success
    assert pipeline.run("2024-03-02").success
    assert pipeline.run("2024-03-01").success  # a v1 day again, after the tables grew

    raw = pipeline.query(
        "SELECT order_id, channel, discount, coupon FROM sales.raw_sales ORDER BY order_id"
    )
    assert raw.astype(object).where(raw.notna(), None).values.tolist() == [
        ["v1-0", None, None, None],
        ["v1-1", None, None, None],
        ["v1-2", None, None, None],
        ["v2-0", "app", "0.5", "X"],
        ["v2-1", "", "", "Y"],
        ["v2-2", "web", "0.25", ""],
    ]
    odd = pipeline.query(
        'SELECT "Store ID", "say ""hi""" FROM sales.raw_sales WHERE partition_date = \'2024-03-02\' ORDER BY order_id'
    )
    assert odd.values.tolist() == [["s1", "a"], ["s2", "b"], ["s3", "c"]]
    cleaned = pipeline.query(
        "SELECT order_id, channel, discount, amount FROM sales.cleaned_sales ORDER BY order_id"
    )
    assert cleaned.values.tolist() == [
        ["v1-0", "unknown", 0.0, 21.0],
        ["v1-1", "unknown", 0.0, 21.0],
        ["v1-2", "unknown", 0.0, 21.0],
        ["v2-0", "app", 0.5, 10.5],
        ["v2-1", "unknown", 0.0, 21.0],
        ["v2-2", "web", 0.25, 15.75],
    ]
    assert (
        pipeline.count("sales_metrics", "2024-03-01")
        == pipeline.count("sales_metrics", "2024-03-02")
        == 1
    )
    assert pipeline.count("raw_sales", "2024-03-01") == 3


def test_zero_sales_first_day_then_a_normal_day(pipeline, tmp_path):
    landing = tmp_path / "landing"
    write(rows("none", 0), day_dir(landing, "2024-03-01") / "orders.csv")
    write(rows("none", 0), day_dir(landing, "2024-03-01") / "more.parquet")
    write(
        rows("d2", 4, day="2024-03-02", channel=["app"] * 4, discount=["0.1"] * 4),
        day_dir(landing, "2024-03-02") / "orders.jsonl",
    )
    pipeline.configure(landing_dir=landing)

    assert pipeline.run("2024-03-01").success
    tables = set(
        pipeline.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'sales'"
        )["table_name"]
    )
    assert tables == set(TABLES)
    assert {t: pipeline.count(t, "2024-03-01") for t in TABLES} == dict.fromkeys(TABLES, 0)
    types = dict(
        pipeline.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'sales' AND table_name = 'cleaned_sales'"
        ).values.tolist()
    )
    assert types["order_ts"] == "TIMESTAMP WITH TIME ZONE" and types["quantity"] == "BIGINT"

    assert pipeline.run("2024-03-02").success
    assert {t: pipeline.count(t, "2024-03-02") for t in TABLES} == {
        "raw_sales": 4,
        "cleaned_sales": 4,
        "rejected_sales": 0,
        "sales_metrics": 1,
    }
    metrics = pipeline.query(
        "SELECT orders, units, revenue, avg_order_value, customers FROM sales.sales_metrics"
    )
    assert metrics.values.tolist() == [[4, 8, 75.6, 18.9, 4]]


def test_downstream_alone_reads_the_day_back_from_the_warehouse(three_days):
    """Re-running cleaning and metrics without raw_sales reads raw from DuckDB (no in-memory
    hand-off): the stored rows come out identical."""
    from dagster import materialize

    from sales_assets.definitions import build_resources

    from .conftest import ASSETS

    pipeline = three_days
    before = {(t, d): comparable(day_rows(pipeline, t, d)) for t in TABLES for d in DAYS}
    result = materialize(
        ASSETS,
        selection=["cleaned_sales", "rejected_sales", "sales_metrics"],
        partition_key="2024-03-02",
        resources=build_resources(pipeline.settings),
        instance=pipeline.instance,
    )
    assert result.success
    assert {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()} == {
        "cleaned_sales",
        "rejected_sales",
        "sales_metrics",
    }
    assert {(t, d): comparable(day_rows(pipeline, t, d)) for t in TABLES for d in DAYS} == before
