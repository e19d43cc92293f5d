"""Row-for-row equality of the project's tables and the baseline's (EXCEPT ALL both ways).

The baseline always writes a DuckDB file; the project's tables are in a DuckDB file or in a
PostgreSQL database (read over ADBC into an in-memory DuckDB, so the same SQL compares both).
A difference stops the benchmark: a faster run that writes other rows proves nothing.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from benchmarks import postgres

TABLES = ("cleaned_sales", "rejected_sales", "sales_metrics")
DAY_COLUMN = {"cleaned_sales": "order_date", "sales_metrics": "order_date"}  # else partition_date


def _attach(connection, actual: str, tables) -> None:
    """`actual.sales.<table>` for a DuckDB path, or a copy of the PostgreSQL tables."""
    if not actual.startswith("postgresql://"):
        connection.execute(f"ATTACH '{actual}' AS actual (READ_ONLY)")
        return
    connection.execute("ATTACH ':memory:' AS actual")
    connection.execute("CREATE SCHEMA actual.sales")
    for table in tables:
        arrow = postgres.read_table(actual, "sales", table)  # noqa: F841 (read by DuckDB below)
        connection.execute(f"CREATE TABLE actual.sales.{table} AS SELECT * FROM arrow")


def _columns(connection, table: str) -> list[str]:
    rows = connection.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = 'expected' "
        "AND schema_name = 'sales' AND table_name = ? ORDER BY column_index",
        [table],
    ).fetchall()
    return [row[0] for row in rows]


def compare(expected: Path, actual: str, tables=TABLES, until: date | None = None) -> dict:
    """Rows compared per table; raises AssertionError naming the table on any difference.

    `until`: only the days up to it, on both sides (the project loaded fewer or more days)."""
    counts = {}
    with duckdb.connect() as connection:
        connection.execute(f"ATTACH '{expected}' AS expected (READ_ONLY)")
        _attach(connection, str(actual), tables)
        for table in tables:
            select = ", ".join(f'"{c}"' for c in _columns(connection, table))
            day = DAY_COLUMN.get(table, "partition_date")
            where = f" WHERE {day} <= DATE '{until.isoformat()}'" if until else ""
            ours, theirs = f"expected.sales.{table}{where}", f"actual.sales.{table}{where}"
            missing, extra, total = connection.execute(
                f"SELECT (SELECT count(*) FROM (SELECT {select} FROM {ours} "
                f"EXCEPT ALL SELECT {select} FROM {theirs})), "
                f"(SELECT count(*) FROM (SELECT {select} FROM {theirs} "
                f"EXCEPT ALL SELECT {select} FROM {ours})), (SELECT count(*) FROM {ours})"
            ).fetchone()
            if missing or extra:
                raise AssertionError(
                    f"{table}: {missing} baseline rows missing from {actual}, {extra} extra rows"
                )
            counts[table] = total
    return counts
