"""The report's SQL is portable: the same rows on PostgreSQL give the same ReportData.

A throwaway database `sales_report_test_<uuid>` on 127.0.0.1:5432 (created from database
`test`, trust auth, dropped afterwards) receives every table of the DuckDB warehouse.
"""

from __future__ import annotations

import uuid

import duckdb
import pandas as pd
import psycopg2
import pytest
from psycopg2.errors import UndefinedTable
from psycopg2.extras import execute_values

from sales_assets.report import headline, movers_markdown, report_data

from .report_scenario import FIRST, LAST, REPORT_DAY, ZERO_SALES, build_scenario
from .report_warehouse import query_for


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> duckdb.DuckDBPyConnection:
    connection = build_scenario(tmp_path_factory.mktemp("report") / "warehouse.duckdb")
    yield connection
    connection.close()


PG_TYPES = {"VARCHAR": "text", "DATE": "date", "BIGINT": "bigint", "INTEGER": "integer",
            "DOUBLE": "double precision", "TIMESTAMP WITH TIME ZONE": "timestamptz"}  # fmt: skip


@pytest.fixture
def postgres():
    """A throwaway database on the local PostgreSQL (trust auth), dropped afterwards."""
    name = f"sales_report_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=name)
    connection.autocommit = True
    try:
        yield connection
    finally:
        connection.close()
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


def postgres_query(connection):
    """The report's `query` on PostgreSQL: `?` -> `%s`; a missing table reads as empty."""

    def query(statement: str, params=()) -> pd.DataFrame:
        with connection.cursor() as cursor:
            try:
                cursor.execute(statement.format(schema='"sales"').replace("?", "%s"), list(params))
            except UndefinedTable:
                return pd.DataFrame()
            return pd.DataFrame(cursor.fetchall(), columns=[d.name for d in cursor.description])

    return query


def copy_to_postgres(warehouse, connection) -> None:
    """Every table of the DuckDB warehouse, same columns and rows, into schema sales."""
    tables = [r[0] for r in warehouse.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'sales'"
    ).fetchall()]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("CREATE SCHEMA sales")
        for table in tables:
            described = warehouse.execute(f"DESCRIBE sales.{table}").fetchall()
            names = ", ".join(f'"{c[0]}" {PG_TYPES[c[1]]}' for c in described)
            cursor.execute(f"CREATE TABLE sales.{table} ({names})")
            rows = warehouse.execute(f"SELECT * FROM sales.{table}").fetchall()
            execute_values(cursor, f"INSERT INTO sales.{table} VALUES %s", rows, page_size=2000)


def test_postgres_gives_the_same_report_data(warehouse, postgres):
    on_postgres = postgres_query(postgres)
    assert headline(report_data(on_postgres, REPORT_DAY)) == {"status": "missing"}  # no tables
    copy_to_postgres(warehouse, postgres)
    for day in (REPORT_DAY, LAST, FIRST):
        duck = report_data(query_for(warehouse), day, zero_sales_days={ZERO_SALES})
        pg = report_data(on_postgres, day, zero_sales_days={ZERO_SALES})
        for field in ("days", "rejections", "by_region", "by_product", "movers"):
            pd.testing.assert_frame_equal(getattr(pg, field), getattr(duck, field), obj=field)
        assert (pg.day, pg.compared_with, pg.movers_note) == (
            duck.day, duck.compared_with, duck.movers_note
        )  # fmt: skip
        assert headline(pg) == headline(duck) and movers_markdown(pg) == movers_markdown(duck)
