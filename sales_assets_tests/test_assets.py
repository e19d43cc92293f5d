"""The asset graph run in-process against a temporary DuckDB file: what lands in the tables,
what each materialization says, and what a run that selects only some assets publishes."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from sales_assets.contracts import REJECT_REASONS
from sales_assets.sources.synthetic import synthetic_day
from sales_assets.transforms import apply_cleaning_rules, daily_metrics

from .conftest import shared_pipeline
from .helpers import (
    TABLES,
    comparable,
    day_dir,
    day_rows,
    materialization,
    rows,
    snapshot,
    tables_agree,
    write,
)

DAYS = ["2024-03-01", "2024-03-02", "2024-03-03"]
ROWS = 1000
DAY = "2024-03-01"
SHARED = pytest.mark.xdist_group("three_days")  # the tests of `three_days` share one worker


@pytest.fixture(scope="module")
def three_days(tmp_path_factory):
    """Three synthetic days loaded one run each; the tests using it only read."""
    with shared_pipeline(tmp_path_factory, "three_days") as pipeline:
        pipeline.configure(synthetic_rows=ROWS)
        for day in DAYS:
            assert pipeline.run(day).success, day
        yield pipeline


@SHARED
def test_three_days_hold_exactly_the_contract_rows(three_days):
    pipeline = three_days
    for day in DAYS:
        raw = synthetic_day(date.fromisoformat(day), ROWS)
        cleaned, rejected = apply_cleaning_rules(raw, date.fromisoformat(day))
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
        columns = ["source_row", "reject_reason", "reject_detail"]
        assert comparable(stored_rejected[columns]) == comparable(
            rejected.sort_values("source_row")[columns]
        )
        # typed columns as the contract says, values as the rules computed them
        expected = cleaned.sort_values("order_id").reset_index(drop=True)
        assert (stored_cleaned["order_ts"] == expected["order_ts"]).all()
        assert stored_cleaned["order_date"].astype(str).unique().tolist() == [day]
        for column in ("quantity", "amount", "ticket_size"):
            assert stored_cleaned[column].tolist() == expected[column].tolist(), column
        nulls = stored_cleaned["customer_id"].isna().sum()
        assert nulls == expected["customer_id"].isna().sum() > 0
        # metrics from the stored cleaned rows
        assert stored_metrics["orders"].sum() == len(stored_cleaned)
        assert stored_metrics["units"].sum() == stored_cleaned["quantity"].sum()
        assert stored_metrics["revenue"].sum() == pytest.approx(
            stored_cleaned["amount"].sum(), abs=0.01
        )
        assert comparable(stored_metrics) == comparable(daily_metrics(expected))

    types = column_types(pipeline, "cleaned_sales")
    assert types["order_ts"] == "TIMESTAMP WITH TIME ZONE"
    assert types["order_date"] == "DATE"
    assert types["quantity"] == "BIGINT"
    assert types["amount"] == "DOUBLE"


def column_types(pipeline, table: str) -> dict[str, str]:
    return dict(
        pipeline.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'sales' AND table_name = ?",
            [table],
        ).values.tolist()
    )


@SHARED
def test_every_day_has_its_materializations_with_the_days_figures(three_days):
    pipeline, day = three_days, "2024-03-03"
    rejected = materialization(pipeline.instance, "rejected_sales", day).metadata
    by_reason = rejected["rejects_by_reason"].value
    assert set(by_reason) == set(REJECT_REASONS)
    assert (
        sum(by_reason.values()) == rejected["rows"].value == pipeline.count("rejected_sales", day)
    )
    assert rejected["dagster/partition_row_count"].value == rejected["rows"].value
    assert rejected["dagster/table_name"].value == "sales.rejected_sales"

    cleaned = materialization(pipeline.instance, "cleaned_sales", day).metadata
    assert cleaned["rows"].value == pipeline.count("cleaned_sales", day)
    stored = pipeline.query(
        "SELECT sum(amount) FROM sales.cleaned_sales WHERE order_date = ?", [day]
    ).iloc[0, 0]
    assert cleaned["revenue"].value == pytest.approx(stored, abs=0.01)
    assert cleaned["raw_rows"].value == ROWS
    assert cleaned["rejection_rate"].value == pytest.approx(sum(by_reason.values()) / ROWS)

    metrics = materialization(pipeline.instance, "sales_metrics", day).metadata
    assert metrics["orders"].value == pipeline.count("cleaned_sales", day)
    raw = materialization(pipeline.instance, "raw_sales", day).metadata
    assert raw["rows"].value == ROWS and raw["source"].value == "synthetic"
    report = materialization(pipeline.instance, "sales_report", day)
    assert report is not None and report.metadata["png"].value.endswith(f"{day}.png")


def test_rerunning_a_day_replaces_only_that_day(pipeline):
    pipeline.configure(synthetic_rows=300)
    both = DAYS[:2]
    assert pipeline.run_range(both[0], both[1]).success
    before = snapshot(pipeline, both)

    assert pipeline.run(DAYS[1]).success

    assert snapshot(pipeline, both) == before
    totals = pipeline.query(
        "SELECT count(*) AS n, count(DISTINCT order_id) AS ids FROM sales.cleaned_sales"
    )
    cleaned = sum(len(before[("cleaned_sales", d)]) for d in both)
    assert totals["n"][0] == totals["ids"][0] == cleaned
    assert pipeline.query("SELECT count(*) FROM sales.raw_sales").iloc[0, 0] == 2 * 300


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
        'SELECT "Store ID", "say ""hi""" FROM sales.raw_sales '
        "WHERE partition_date = '2024-03-02' ORDER BY order_id"
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
    types = column_types(pipeline, "cleaned_sales")
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


# -- runs that select only some assets ---------------------------------------------------------


@pytest.fixture
def one_day(pipeline):
    """A pipeline with DAY loaded from 300 synthetic rows."""
    assert pipeline.configure(synthetic_rows=300).run(DAY).success
    return pipeline


def materialized(result) -> list[str]:
    return sorted({e.asset_key.to_user_string() for e in result.get_asset_materialization_events()})


def test_only_sales_metrics_recomputes_the_metrics_from_the_stored_cleaned_rows(one_day):
    pipeline = one_day
    before = snapshot(pipeline, [DAY], ("raw_sales", "cleaned_sales", "rejected_sales"))
    # An analyst deletes some cleaned rows by hand: the metrics must follow what is stored.
    with duckdb.connect(pipeline.settings.warehouse) as connection:
        connection.execute(
            "DELETE FROM sales.cleaned_sales WHERE order_id IN (SELECT order_id "
            "FROM sales.cleaned_sales ORDER BY order_id LIMIT 10)"
        )
    left = pipeline.count("cleaned_sales", DAY)

    result = pipeline.run(DAY, selection=["sales_metrics"])

    assert result.success and materialized(result) == ["sales_metrics"]
    assert tables_agree(pipeline, DAY) == (left, left)
    stored = day_rows(pipeline, "cleaned_sales", DAY)
    assert comparable(day_rows(pipeline, "sales_metrics", DAY)) == comparable(daily_metrics(stored))
    after = snapshot(pipeline, [DAY], ("raw_sales", "rejected_sales"))
    assert after == {k: v for k, v in before.items() if k[0] != "cleaned_sales"}


def test_only_raw_sales_publishes_raw_rows_only(one_day):
    pipeline = one_day
    held = snapshot(pipeline, [DAY], ("cleaned_sales", "rejected_sales", "sales_metrics"))

    result = pipeline.configure(synthetic_rows=500).run(DAY, selection=["raw_sales"])

    assert result.success and materialized(result) == ["raw_sales"]
    assert pipeline.count("raw_sales", DAY) == 500
    assert snapshot(pipeline, [DAY], ("cleaned_sales", "rejected_sales", "sales_metrics")) == held
    assert {e.check_name for e in result.get_asset_check_evaluations()} == {"raw_sales_schema"}


def test_cleaned_sales_alone_publishes_its_metrics_from_the_same_load(one_day):
    """cleaned_sales and sales_metrics of a day always come from one load: selecting cleaned
    rows reads the stored raw rows back and publishes cleaned, rejected and metrics."""
    pipeline = one_day
    assert pipeline.configure(synthetic_rows=500).run(DAY, selection=["raw_sales"]).success

    result = pipeline.run(DAY, selection=["cleaned_sales"])

    assert result.success
    assert materialized(result) == ["cleaned_sales", "rejected_sales", "sales_metrics"]
    assert pipeline.count("cleaned_sales", DAY) + pipeline.count("rejected_sales", DAY) == 500
    cleaned, orders = tables_agree(pipeline, DAY)
    assert cleaned == orders > 0
    checked = {
        (e.asset_key.to_user_string(), e.check_name, e.passed, e.partition)
        for e in result.get_asset_check_evaluations()
    }
    assert ("sales_metrics", "revenue_reconciles", True, DAY) in checked


def test_downstream_alone_reads_the_day_back_from_the_warehouse(one_day):
    """Re-running cleaning and metrics without raw_sales reads raw from the warehouse (no
    in-memory hand-off): the stored rows come out identical."""
    pipeline = one_day
    before = snapshot(pipeline, [DAY])
    result = pipeline.run(DAY, selection=["cleaned_sales", "rejected_sales", "sales_metrics"])
    assert result.success
    assert materialized(result) == ["cleaned_sales", "rejected_sales", "sales_metrics"]
    assert snapshot(pipeline, [DAY]) == before
    partitions = {
        e.step_materialization_data.materialization.partition
        for e in result.get_asset_materialization_events()
    }
    assert partitions == {DAY}
