"""A real DuckDB warehouse for the report tests, loaded day by day as the daily step publishes.

Each day: the synthetic source, the project's cleaning rules and metrics (`transforms`), the
rejection-rate verdict, then one transaction replacing the day's rows: all four tables for a
good day, only `raw_sales` and `rejected_sales` for a blocked one (its cleaned rows and
metrics are held back, contract section 6). Built from the stable transforms, not through
the asset layer, so these tests do not depend on how the step is wired.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from sales_assets import transforms
from sales_assets.sources import with_lineage
from sales_assets.sources.synthetic import generate_orders

SCHEMA = '"sales"'
DAY_COLUMN = {
    "raw_sales": "partition_date",
    "rejected_sales": "partition_date",
    "cleaned_sales": "order_date",
    "sales_metrics": "order_date",
}


def load_day(
    connection: duckdb.DuckDBPyConnection,
    day: date,
    rows: int,
    dirty_rate: float = 0.015,
    max_reject_rate: float = 0.10,
) -> str:
    """Load one synthetic day; returns `ok` or `blocked` (rejected share above the limit)."""
    orders = generate_orders(day, rows, dirty_rate=dirty_rate)
    raw = with_lineage(orders, day, "synthetic", np.arange(1, len(orders) + 1))
    cleaned, rejected = transforms.apply_cleaning_rules(raw, day)
    blocked = len(raw) > 0 and len(rejected) / len(raw) > max_reject_rate
    tables = {"raw_sales": raw, "rejected_sales": rejected}
    if not blocked:
        tables |= {"cleaned_sales": cleaned, "sales_metrics": transforms.daily_metrics(cleaned)}
    publish(connection, day, tables)
    return "blocked" if blocked else "ok"


def publish(connection: duckdb.DuckDBPyConnection, day: date, tables: dict) -> None:
    """Replace `day`'s rows of each table with the frame given, in one transaction."""
    connection.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    connection.begin()
    for table, frame in tables.items():
        connection.register("day_rows", frame)
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{table} AS SELECT * FROM day_rows LIMIT 0"
        )
        connection.execute(f"DELETE FROM {SCHEMA}.{table} WHERE {DAY_COLUMN[table]} = ?", [day])
        connection.execute(f"INSERT INTO {SCHEMA}.{table} BY NAME SELECT * FROM day_rows")
        connection.unregister("day_rows")
    connection.commit()


def query_for(connection: duckdb.DuckDBPyConnection):
    """The report's `query(sql, params)` on a DuckDB connection; a missing table reads as empty."""

    def query(sql: str, params=()) -> pd.DataFrame:
        try:
            return connection.execute(sql.format(schema=SCHEMA), list(params)).fetchdf()
        except duckdb.CatalogException:
            return pd.DataFrame()

    return query


def backfill(path: Path, days: list[date], rows: int) -> duckdb.DuckDBPyConnection:
    """A warehouse file at `path` holding `days`, each loaded with `rows` synthetic rows."""
    connection = duckdb.connect(str(path))
    for day in days:
        load_day(connection, day, rows)
    return connection


def main() -> None:
    """Write docs/report.png: a 28-day synthetic backfill (5,000 rows a day), report of day 28.

    `.venv/bin/python -m sales_assets_tests.report_warehouse [OUT_DIR]`
    """
    import shutil
    import sys
    import tempfile
    from datetime import timedelta

    from sales_assets.report import render_report, report_data

    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(28)]
    with tempfile.TemporaryDirectory() as tmp:
        connection = backfill(Path(tmp) / "warehouse.duckdb", days, rows=5000)
        files = render_report(report_data(query_for(connection), days[-1]), Path(tmp))
        out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(files.png, out / "report.png")
        print(out / "report.png")


if __name__ == "__main__":
    main()
