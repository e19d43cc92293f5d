"""The awkward warehouse the report tests read, and the SQL their expectations come from.

Days FIRST..LAST hold ROWS synthetic rows a day, except: a day never loaded, a zero-sales
day, a day whose metrics were deleted, a good day reloaded and blocked (its metrics stay the
earlier load's), a day blocked on its first load. The queries below are the tests' own,
written apart from the report's SQL, so a figure drawn is checked against the tables.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from .report_warehouse import load_day

FIRST, REPORT_DAY, LAST = date(2024, 3, 1), date(2024, 3, 15), date(2024, 3, 16)
NEVER_LOADED, ZERO_SALES, METRICS_DELETED = date(2024, 3, 5), date(2024, 3, 7), date(2024, 3, 9)
BLOCKED_AFTER_GOOD, BLOCKED_FIRST = date(2024, 3, 11), date(2024, 3, 12)
ROWS = 300
EXPECTED_STATUS = {
    NEVER_LOADED: "missing",
    ZERO_SALES: "zero_sales",
    METRICS_DELETED: "missing",
    BLOCKED_AFTER_GOOD: "blocked",
    BLOCKED_FIRST: "blocked",
}


def days_between(first: date, last: date) -> list[date]:
    """Every day from `first` to `last`, both included."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def build_scenario(path: Path) -> duckdb.DuckDBPyConnection:
    """Days FIRST..LAST of ROWS synthetic rows, with the awkward days of EXPECTED_STATUS."""
    connection = duckdb.connect(str(path))
    for day in days_between(FIRST, LAST):
        if day == NEVER_LOADED:
            continue
        if day == BLOCKED_FIRST:  # too many rejects on its first load: raw + rejected only
            assert load_day(connection, day, ROWS, dirty_rate=0.3) == "blocked"
            continue
        assert load_day(connection, day, 0 if day == ZERO_SALES else ROWS) == "ok"
    # A good day reloaded with other rows and too many rejects: its metrics stay the old ones.
    assert load_day(connection, BLOCKED_AFTER_GOOD, 250, dirty_rate=0.3) == "blocked"
    connection.execute("DELETE FROM sales.sales_metrics WHERE order_date = ?", [METRICS_DELETED])
    return connection


def sql(warehouse, statement: str, params=()) -> pd.DataFrame:
    """A query written by the tests, on the DuckDB warehouse."""
    return warehouse.execute(statement, list(params)).fetchdf()


def sql_daily(warehouse) -> pd.DataFrame:
    """Per day of the metrics table: revenue, orders (independently of the report's SQL)."""
    rows = sql(warehouse, "SELECT order_date, revenue, orders FROM sales.sales_metrics")
    rows["order_date"] = pd.to_datetime(rows["order_date"])
    return rows.groupby("order_date")[["revenue", "orders"]].sum()


def expected_movers(warehouse, day: date) -> pd.DataFrame:
    """product x region revenue change against a week before, in SQL (a full outer join)."""
    return sql(
        warehouse,
        """
        WITH now AS (SELECT product, region, sum(revenue) AS r FROM sales.sales_metrics
                     WHERE order_date = ? GROUP BY product, region),
             before AS (SELECT product, region, sum(revenue) AS r FROM sales.sales_metrics
                        WHERE order_date = ? GROUP BY product, region)
        SELECT product, region, coalesce(now.r, 0) AS revenue,
               coalesce(before.r, 0) AS revenue_before,
               round(coalesce(now.r, 0) - coalesce(before.r, 0), 2) AS change
        FROM now FULL OUTER JOIN before USING (product, region)
        """,
        [day, day - timedelta(days=7)],
    )


def top_movers(warehouse, day: date) -> dict[str, list[list[str]]]:
    """up / down: the 5 largest changes as the tables show them (name, revenues, change, %)."""
    changes = expected_movers(warehouse, day)
    up = changes[changes["change"] > 0].sort_values(
        ["change", "product", "region"], ascending=[False, True, True]
    )
    down = changes[changes["change"] < 0].sort_values(["change", "product", "region"])
    return {
        direction: [
            [
                f"{m.product} · {m.region}",
                f"{m.revenue:,.2f}",
                f"{m.revenue_before:,.2f}",
                f"{m.change:+,.2f}",
                f"{m.change / m.revenue_before:+.1%}" if m.revenue_before else "–",
            ]
            for m in rows.head(5).itertuples()
        ]
        for direction, rows in (("up", up), ("down", down))
    }


def sql_shares(warehouse) -> pd.DataFrame:
    """Per day and reason: rejected rows / raw rows of the day."""
    shares = sql(
        warehouse,
        """
        SELECT r.partition_date AS day, r.reject_reason, count(*) * 1.0 /
               (SELECT count(*) FROM sales.raw_sales w WHERE w.partition_date = r.partition_date)
               AS share
        FROM sales.rejected_sales r GROUP BY r.partition_date, r.reject_reason
        """,
    )
    shares["day"] = pd.to_datetime(shares["day"])
    return shares.pivot(index="day", columns="reject_reason", values="share").fillna(0.0)
