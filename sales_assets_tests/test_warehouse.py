"""The warehouse on both backends (a DuckDB file, and PostgreSQL at 127.0.0.1:5432): a day
published and read back exactly, replace-by-day, growing tables, zero-sales days, the IO
manager, one transaction for all tables of a day, portable queries, and what a caller is told
when the server is unreachable or the DuckDB file is locked."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import textwrap
import time
from datetime import date

import pandas as pd
import pytest
from dagster import (
    AllPartitionMapping,
    AssetIn,
    BackfillPolicy,
    DailyPartitionsDefinition,
    Definitions,
    asset,
    materialize,
)

from sales_assets import transforms
from sales_assets.warehouse import (
    SalesWarehouseIOManager,
    Warehouse,
    WarehouseLockedError,
    WarehouseUnavailableError,
)
from sales_assets.warehouse.common import numbered_placeholders
from sales_assets_tests.warehouse_days import (
    DATE,
    ODD_COLUMNS,
    TABLES,
    by_key,
    day_frames,
    fingerprints,
)

DAY, BEFORE, AFTER = date(2024, 3, 2), date(2024, 3, 1), date(2024, 3, 3)
EXPECTED_TYPES = {  # what each backend stores a frame's columns as
    "duckdb": {"order_id": "VARCHAR", "order_ts": "TIMESTAMP WITH TIME ZONE", "order_date": "DATE",
               "quantity": "BIGINT", "amount": "DOUBLE"},
    "postgresql": {"order_id": "text", "order_ts": "timestamp with time zone", "order_date": "date",
                   "quantity": "bigint", "amount": "double precision"},
}  # fmt: skip


def kind(warehouse: Warehouse) -> str:
    return "postgresql" if warehouse.url.startswith("postgresql://") else "duckdb"


def changed(warehouse: Warehouse, **changes) -> Warehouse:
    fields = ("url", "schema_name", "lock_timeout_seconds")
    return Warehouse(**{**{f: getattr(warehouse, f) for f in fields}, **changes})


def column_types(warehouse: Warehouse, table: str) -> dict[str, str]:
    types = warehouse.query(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ?",
        [warehouse.schema_name, table],
    )
    return dict(zip(types["column_name"], types["data_type"]))


def test_a_published_day_reads_back_with_the_same_types_and_values(warehouse):
    frames = day_frames(DAY, 3000)
    assert frames["cleaned_sales"]["customer_id"].isna().any()  # NULL text goes through too
    result = warehouse.publish(DAY, frames)
    assert result.rows == {t: len(f) for t, f in frames.items()}
    assert result.seconds > 0 and result.lock_wait_seconds < 1

    for table, frame in frames.items():
        back = warehouse.read_day(table, DAY)[list(frame.columns)]
        assert back.dtypes.to_dict() == frame.dtypes.to_dict(), table
        pd.testing.assert_frame_equal(by_key(back, table), by_key(frame, table))
    raw = warehouse.read_day("raw_sales", DAY, columns=list(ODD_COLUMNS))
    assert raw["Store ID"].eq("S-01").all() and raw['note "quoted"'].isna().all()
    pd.testing.assert_frame_equal(
        by_key(transforms.daily_metrics(warehouse.read_day("cleaned_sales", DAY)), "sales_metrics"),
        by_key(frames["sales_metrics"], "sales_metrics"),
    )
    stored = column_types(warehouse, "cleaned_sales")
    assert {c: stored[c] for c in EXPECTED_TYPES[kind(warehouse)]} == EXPECTED_TYPES[
        kind(warehouse)
    ]


def test_replacing_a_day_touches_no_other_day(warehouse):
    for day in (BEFORE, DAY, AFTER):
        warehouse.publish(day, day_frames(day, 1000))
    others = {day: fingerprints(warehouse, day) for day in (BEFORE, AFTER)}

    new = day_frames(DAY, 400)
    warehouse.publish(DAY, new)
    assert {day: fingerprints(warehouse, day) for day in (BEFORE, AFTER)} == others
    for table, frame in new.items():
        assert len(warehouse.read_day(table, DAY)) == len(frame), table
    counts = warehouse.query("SELECT count(*) AS n FROM {schema}.cleaned_sales")
    assert counts["n"].iloc[0] == sum(
        len(warehouse.read_day("cleaned_sales", d)) for d in (BEFORE, DAY, AFTER)
    )


def test_tables_grow_the_columns_that_arrive_later(warehouse):
    v1 = day_frames(BEFORE, 500, odd_columns=False)
    v1["raw_sales"] = v1["raw_sales"].drop(columns=["channel", "discount"])  # a schema v1 file
    warehouse.publish(BEFORE, {"raw_sales": v1["raw_sales"]})
    v2 = day_frames(DAY, 500)  # channel, discount and two odd columns arrive
    warehouse.publish(DAY, {"raw_sales": v2["raw_sales"]})

    old = warehouse.read_day("raw_sales", BEFORE)
    assert {"channel", "discount", *ODD_COLUMNS} <= set(old.columns)
    assert old["channel"].isna().all() and old["Store ID"].isna().all()
    assert len(old) == 500
    new = warehouse.read_day("raw_sales", DAY)
    assert new["Store ID"].eq("S-01").all() and new["channel"].notna().any()


def test_a_zero_sales_first_day_creates_the_tables(warehouse):
    empty = {t: f.iloc[0:0] for t, f in day_frames(DAY, 50).items()}
    assert warehouse.publish(BEFORE, empty).rows == dict.fromkeys(TABLES, 0)
    for table, frame in empty.items():
        back = warehouse.read_day(table, BEFORE)
        assert back.empty and list(back.columns) == list(frame.columns), table
        assert back.dtypes.to_dict() == frame.dtypes.to_dict(), table
    assert column_types(warehouse, "cleaned_sales")["order_date"] in ("DATE", "date")
    warehouse.publish(DAY, day_frames(DAY, 50))
    assert len(warehouse.read_day("raw_sales", DAY)) == 50


def test_an_error_in_the_second_table_leaves_both_tables_whole(warehouse):
    warehouse.publish(DAY, day_frames(DAY, 800))
    before = fingerprints(warehouse, DAY)

    new = day_frames(DAY, 900)
    broken = new["cleaned_sales"].assign(quantity="not a number")  # the table's column is bigint
    with pytest.raises(Exception, match=r"(?i)conver|binary|invalid|cast"):
        warehouse.publish(DAY, {"raw_sales": new["raw_sales"], "cleaned_sales": broken})
    assert fingerprints(warehouse, DAY) == before  # raw_sales's new rows were rolled back too


def test_unknown_tables_and_bad_schema_names_are_refused(warehouse):
    with pytest.raises(ValueError, match="unknown warehouse table 'orders'"):
        warehouse.publish(DAY, {"orders": pd.DataFrame({"x": [1]})})
    evil = changed(warehouse, schema_name='sales"; DROP TABLE x; --')
    with pytest.raises(ValueError, match="refusing SQL identifier"):
        evil.read_day("raw_sales", DAY)


def test_queries_read_the_same_on_both_backends(warehouse):
    assert warehouse.query("SELECT * FROM {schema}.cleaned_sales").empty  # no table yet
    assert warehouse.read_day("cleaned_sales", DAY, ["order_id"]).columns.tolist() == ["order_id"]
    for day in (BEFORE, DAY):
        warehouse.publish(day, day_frames(day, 300))
    history = warehouse.query(
        "SELECT order_date, count(*) AS n_rows, '?' AS mark FROM {schema}.cleaned_sales "
        "WHERE order_date <= ? GROUP BY order_date ORDER BY order_date DESC LIMIT ?",
        [DAY, 7],
    )
    assert history["order_date"].tolist() == [DAY, BEFORE] and history["mark"].eq("?").all()
    assert history["order_date"].dtype == DATE and history["n_rows"].dtype == "int64"
    assert history["n_rows"].tolist() == [
        len(warehouse.read_day("cleaned_sales", d)) for d in (DAY, BEFORE)
    ]
    total = warehouse.query("SELECT sum(quantity) AS units FROM {schema}.cleaned_sales")
    assert total["units"].iloc[0] == sum(
        warehouse.read_day("cleaned_sales", d)["quantity"].sum() for d in (BEFORE, DAY)
    )


def test_question_marks_become_numbered_parameters_outside_quotes():
    sql = """SELECT '?', "a?b", x FROM t WHERE a = ? AND b = 'it''s ?' AND c < ?"""
    assert numbered_placeholders(sql) == (
        """SELECT '?', "a?b", x FROM t WHERE a = $1 AND b = 'it''s ?' AND c < $2"""
    )


# -- the IO manager: Dagster's DbIOManager on either backend ---------------------------------

WEEK = DailyPartitionsDefinition(start_date="2024-03-01", end_date="2024-03-04")


def cleaned_day(day: date) -> pd.DataFrame:
    return day_frames(day, 200)["cleaned_sales"]


def io_assets():
    @asset(
        key="cleaned_sales",
        partitions_def=WEEK,
        metadata={"partition_expr": "order_date"},
        backfill_policy=BackfillPolicy.single_run(),
    )
    def cleaned(context) -> pd.DataFrame:
        days = [date.fromisoformat(k) for k in context.partition_keys]
        return pd.concat([cleaned_day(d) for d in days], ignore_index=True)

    loaded = []

    @asset(ins={"cleaned_sales": AssetIn(partition_mapping=AllPartitionMapping())})
    def units(cleaned_sales: pd.DataFrame) -> None:
        loaded.append(cleaned_sales)  # every day of the partitions, read as one range

    return cleaned, units, loaded


def test_the_io_manager_writes_and_reads_a_day_and_a_range(warehouse):
    io_manager = SalesWarehouseIOManager(
        url=warehouse.url, schema_name=warehouse.schema_name, lock_timeout_seconds=30
    )
    cleaned, units, loaded = io_assets()
    resources = {"io_manager": io_manager}
    one = materialize([cleaned], partition_key="2024-03-02", resources=resources)
    [event] = one.get_asset_materialization_events()
    metadata = event.materialization.metadata
    rows = {d: len(cleaned_day(date(2024, 3, d))) for d in (1, 2, 3)}
    assert metadata["dagster/partition_row_count"].value == rows[2]
    assert metadata["dagster/storage_kind"].value == kind(warehouse)
    assert metadata["dagster/table_name"].value == f"{warehouse.schema_name}.cleaned_sales"
    assert metadata["lock_wait_seconds"].value == 0

    tags = {"dagster/asset_partition_range_start": "2024-03-01",
            "dagster/asset_partition_range_end": "2024-03-03"}  # fmt: skip
    assert materialize([cleaned], resources=resources, tags=tags).success  # replaces all 3 days
    assert materialize([cleaned], partition_key="2024-03-02", resources=resources).success

    defs = Definitions(assets=[cleaned, units], resources=resources)
    day = defs.load_asset_value("cleaned_sales", partition_key="2024-03-02")
    assert len(day) == rows[2] and day["order_date"].eq(DAY).all()
    assert day["order_date"].dtype == DATE
    stored = [warehouse.read_day("cleaned_sales", date(2024, 3, d)) for d in (1, 2, 3)]
    assert [len(f) for f in stored] == list(rows.values())  # no day doubled, none lost
    assert materialize([cleaned, units], selection=["units"], resources=resources).success
    [every_day] = loaded
    assert len(every_day) == sum(rows.values())
    assert every_day["quantity"].sum() == sum(f["quantity"].sum() for f in stored)


# -- what a caller is told ------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once the probe closes


def test_an_unreachable_postgresql_fails_at_once_naming_host_port_and_variable():
    port = closed_port()
    warehouse = Warehouse(
        url=f"postgresql://sales:pa55-SECRET@127.0.0.1:{port}/warehouse",
        schema_name="sales",
        lock_timeout_seconds=30,
    )
    assert "pa55-SECRET" not in warehouse.describe() and f"127.0.0.1:{port}" in warehouse.describe()
    for attempt in (
        lambda: warehouse.publish(DAY, day_frames(DAY, 10)),
        lambda: warehouse.read_day("raw_sales", DAY),
        lambda: warehouse.query("SELECT 1 AS x"),
    ):
        started = time.monotonic()
        with pytest.raises(WarehouseUnavailableError) as error:
            attempt()
        assert time.monotonic() - started < 5
        message = str(error.value)
        assert f"host 127.0.0.1, port {port}" in message and "SALES_WAREHOUSE=" in message
        assert "pa55-SECRET" not in message and "pa55-SECRET" not in repr(error.value)


HOLDER = textwrap.dedent(
    """
    import duckdb, sys, time
    connection = duckdb.connect(sys.argv[1])
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    """
)


def test_a_locked_duckdb_file_is_waited_for_aloud(tmp_path, caplog):
    warehouse = Warehouse(
        url=str(tmp_path / "warehouse.duckdb"), schema_name="sales", lock_timeout_seconds=30
    )
    warehouse.publish(BEFORE, day_frames(BEFORE, 100))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, warehouse.url, "7"], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    log = logging.getLogger("test.warehouse.lock")
    with caplog.at_level(logging.INFO, logger=log.name):
        result = warehouse.publish(DAY, day_frames(DAY, 100), log=log)
    holder.wait(timeout=30)
    waits = [r.getMessage() for r in caplog.records if r.getMessage().startswith("waiting")]
    prefix = f"waiting for warehouse {warehouse.url}: locked by "
    assert len(waits) >= 2 and all(w.startswith(prefix) for w in waits), waits
    assert f"(PID {holder.pid})" in waits[0] and waits[0].endswith(
        "for 0 s (timeout 30 s, SALES_LOCK_TIMEOUT_SECONDS)"
    )
    assert " for 5 s " in waits[1]
    assert 5 < result.lock_wait_seconds < 15 and result.seconds >= result.lock_wait_seconds
    assert len(warehouse.read_day("raw_sales", DAY)) == 100

    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, warehouse.url, "60"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        impatient = changed(warehouse, lock_timeout_seconds=1.0)
        with pytest.raises(WarehouseLockedError, match=rf"\(PID {holder.pid}\); waited 1s"):
            impatient.publish(DAY, day_frames(DAY, 10))
    finally:
        holder.kill()
        holder.wait()
