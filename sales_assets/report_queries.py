"""The report's reads: portable SQL over the warehouse tables, shaped into plain frames.

Plain SELECT / WHERE / GROUP BY with `?` parameters and `{schema}.table` names, so the same
statements run on DuckDB and PostgreSQL; dates and numbers are normalized in pandas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta

import numpy as np
import pandas as pd

from .contracts import REJECT_REASONS

Query = Callable[[str, Sequence], pd.DataFrame]
TOP_MOVERS = 5

# Each query: SQL over `{schema}.table` with `?` parameters, and the columns it returns.
_DAILY_METRICS = (
    "SELECT order_date, sum(revenue) AS revenue, sum(orders) AS orders"
    " FROM {schema}.sales_metrics WHERE order_date >= ? AND order_date <= ? GROUP BY order_date",
    ("order_date", "revenue", "orders"),
)
_RAW_ROWS = (
    "SELECT partition_date, count(*) AS row_count FROM {schema}.raw_sales"
    " WHERE partition_date >= ? AND partition_date <= ? GROUP BY partition_date",
    ("partition_date", "row_count"),
)
_CLEANED_ROWS = (
    "SELECT order_date, count(*) AS row_count FROM {schema}.cleaned_sales"
    " WHERE order_date >= ? AND order_date <= ? GROUP BY order_date",
    ("order_date", "row_count"),
)
REJECTED_ROWS = (
    "SELECT partition_date, reject_reason, count(*) AS row_count FROM {schema}.rejected_sales"
    " WHERE partition_date >= ? AND partition_date <= ? GROUP BY partition_date, reject_reason",
    ("partition_date", "reject_reason", "row_count"),
)
GROUPS = (
    "SELECT order_date, product, region, sum(revenue) AS revenue, sum(orders) AS orders"
    " FROM {schema}.sales_metrics WHERE order_date = ? OR order_date = ?"
    " GROUP BY order_date, product, region",
    ("order_date", "product", "region", "revenue", "orders"),
)
_FIRST_DAYS = (
    ("SELECT min(partition_date) AS first_day FROM {schema}.raw_sales", ("first_day",)),
    ("SELECT min(order_date) AS first_day FROM {schema}.sales_metrics", ("first_day",)),
)
_NUMBERS = ("revenue", "orders", "row_count")
_DATES = ("order_date", "partition_date", "first_day")


def read(query: Query, statement: tuple[str, tuple[str, ...]], params: list) -> pd.DataFrame:
    """Run a query; dates as Timestamps, numbers as float64, whatever the database's types.

    (PostgreSQL sums come back as Decimal, its dates as `date`; a missing table as no columns.)
    """
    sql, columns = statement
    frame = query(sql, params)
    if frame.empty:
        frame = pd.DataFrame({column: pd.Series(dtype=object) for column in columns})
    for column in columns:
        if column in _NUMBERS:
            frame[column] = pd.to_numeric(frame[column]).astype("float64")
        elif column in _DATES:
            frame[column] = _days(frame[column])
    return frame


def _days(values: pd.Series) -> pd.Series:
    """DATE values (datetime64 from DuckDB, `date` from PostgreSQL) as midnight Timestamps."""
    return pd.to_datetime(values).astype("datetime64[ns]").dt.normalize()


def window_start(query: Query, day: date, days: int) -> date:
    """`day - (days - 1)`, or the first day any table holds when that is later."""
    firsts = pd.concat([read(query, sql, [])["first_day"] for sql in _FIRST_DAYS]).dropna()
    first = firsts.min().date() if len(firsts) else day
    return min(max(day - timedelta(days=days - 1), first), day)


def _by_day(frame: pd.DataFrame, column: str, index: pd.DatetimeIndex) -> pd.Series:
    """Per-day row counts of a (day, ..., row_count) result on `index`, 0 where absent."""
    counts = frame.groupby(column)["row_count"].sum()
    return counts.reindex(index, fill_value=0).astype("int64")


def daily(
    query: Query, start: date, day: date, rejected: pd.DataFrame, zero_sales_days: set[date]
) -> pd.DataFrame:
    """One row per day of [start, day]: status, revenue, orders, AOV, 7-day average, row counts."""
    index = pd.date_range(start, day, freq="D", name="day")
    history = pd.date_range(start - timedelta(days=6), day, freq="D", name="day")
    metrics = read(query, _DAILY_METRICS, [history[0].date(), day]).set_index("order_date")
    revenue = metrics["revenue"].reindex(history)
    orders = metrics["orders"].reindex(index)
    raw = _by_day(read(query, _RAW_ROWS, [start, day]), "partition_date", index)
    cleaned = _by_day(read(query, _CLEANED_ROWS, [start, day]), "order_date", index)
    rejects = _by_day(rejected, "partition_date", index)
    known_zero = index.isin(pd.DatetimeIndex(sorted(zero_sales_days)))
    zero = pd.Series(known_zero, index=index) & (raw == 0) & orders.isna()
    revenue[zero.reindex(history, fill_value=False)] = 0.0
    orders[zero] = 0.0
    disagree = (raw != cleaned + rejects) | (orders.notna() & (orders != cleaned))
    status = np.select(
        [zero, (raw > 0) & disagree, orders.isna()], ["zero_sales", "blocked", "missing"], "ok"
    )
    revenue_today = revenue.reindex(index).round(2)
    return pd.DataFrame(
        {
            "status": status,
            "revenue": revenue_today,
            "orders": orders.astype("Int64"),
            "avg_order_value": (revenue_today / orders.where(orders > 0)).round(2),
            "revenue_7d_avg": revenue.rolling(7, min_periods=1).mean().reindex(index).round(2),
            "raw_rows": raw,
            "cleaned_rows": cleaned,
            "rejected_rows": rejects,
            "rejection_rate": rejects / raw.where(raw > 0),
        },
        index=index,
    )


def rejections(rejected: pd.DataFrame, daily: pd.DataFrame) -> pd.DataFrame:
    """Share of each day's raw rows rejected, per reason (contract order); NaN without raw rows."""
    counts = rejected.groupby(["partition_date", "reject_reason"])["row_count"].sum().unstack()
    seen = [str(reason) for reason in counts.columns]
    reasons = list(REJECT_REASONS) + sorted(set(seen) - set(REJECT_REASONS))
    counts = counts.reindex(index=daily.index, columns=reasons).fillna(0.0)
    counts.columns.name = "reject_reason"
    return counts.div(daily["raw_rows"].where(daily["raw_rows"] > 0), axis=0)


def breakdown(groups: pd.DataFrame, by: str) -> pd.DataFrame:
    """Revenue and orders of the day per `by` value, largest revenue first."""
    totals = groups.groupby(by, as_index=False)[["revenue", "orders"]].sum()
    totals["revenue"] = totals["revenue"].round(2)
    totals["orders"] = totals["orders"].astype("int64")
    return totals.sort_values(["revenue", by], ascending=[False, True], ignore_index=True)


def movers(groups: pd.DataFrame, daily: pd.DataFrame, day: date) -> tuple[pd.DataFrame, str]:
    """Top product x region changes in revenue against the same weekday a week before."""
    columns = ["direction", "product", "region", "revenue", "revenue_before", "change"]
    before = day - timedelta(days=7)
    empty = pd.DataFrame(columns=[*columns, "change_pct"])
    if _has_no_metrics(daily, day):
        return empty, f"{day} has no metrics"
    if _has_no_metrics(daily, before):
        return empty, f"{before} (a week before) has no metrics"
    if groups.empty:
        return empty, "nothing sold on either day"
    pivot = groups.pivot_table(
        index=["product", "region"], columns="order_date", values="revenue", aggfunc="sum"
    )
    pivot = pivot.reindex(columns=[pd.Timestamp(day), pd.Timestamp(before)]).fillna(0.0)
    pivot.columns = ["revenue", "revenue_before"]
    pivot = pivot.reset_index()
    pivot["change"] = (pivot["revenue"] - pivot["revenue_before"]).round(2)
    up = pivot[pivot["change"] > 0].sort_values(
        ["change", "product", "region"], ascending=[False, True, True]
    )
    down = pivot[pivot["change"] < 0].sort_values(["change", "product", "region"])
    movers = pd.concat(
        [up.head(TOP_MOVERS).assign(direction="up"), down.head(TOP_MOVERS).assign(direction="down")]
    )[columns].reset_index(drop=True)
    movers["change_pct"] = movers["change"] / movers["revenue_before"].where(
        movers["revenue_before"] > 0
    )
    return movers, "" if len(movers) else "no product x region changed revenue"


def _has_no_metrics(daily: pd.DataFrame, day: date) -> bool:
    """True when `day` is outside the window or holds no metrics (zero-sales days hold zeros)."""
    key = pd.Timestamp(day)
    return key not in daily.index or pd.isna(daily.at[key, "revenue"])
