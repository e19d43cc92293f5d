"""How much was rejected and why, and whether the day's volume looks like the week before."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
from dagster import AssetCheckSeverity, MetadataValue

from ..contracts import REJECT_REASONS
from .base import SAMPLE_ROWS, Check, Finding, table

WARN_SHARE_OF_LIMIT = 0.2  # WARN once the rejected share passes a fifth of the limit
TOP_VALUES = 3  # offending values shown per reason
VOLUME_BAND = (0.5, 2.0)  # share of the median of the previous days present
VOLUME_DAYS = 7
SAMPLE_COLUMNS = ["source_file", "source_row", "reject_reason", "reject_detail", "order_id"]


def reasons_table(rejected: pd.DataFrame, raw_rows: int) -> pd.DataFrame:
    """Per reason: rows, share of the raw rows, and the top offending values with counts
    (`quantity=abc x1340`), most frequent reason first."""
    if rejected.empty:
        return pd.DataFrame(columns=["reason", "rows", "share", "top values"])
    counts = rejected.groupby(["reject_reason", "reject_detail"], dropna=False).size()
    rows = []
    for reason, per_value in counts.groupby(level=0, sort=False):
        top = per_value.droplevel(0).sort_values(ascending=False).head(TOP_VALUES)
        values = ", ".join(f"{value} x{n}" for value, n in top.items())
        total = int(per_value.sum())
        rows.append((reason, total, f"{total / raw_rows:.2%}", values))
    frame = pd.DataFrame(rows, columns=["reason", "rows", "share", "top values"])
    return frame.sort_values("rows", ascending=False, kind="stable")


def proportional_sample(rejected: pd.DataFrame, size: int = SAMPLE_ROWS) -> pd.DataFrame:
    """Up to `size` rejects, each reason's share of the sample following its share of the
    rejects (at least one row per reason while room is left), in a few narrow columns."""
    if rejected.empty:
        return rejected.reindex(columns=SAMPLE_COLUMNS)
    counts = rejected["reject_reason"].value_counts()
    quota = np.maximum(1, np.floor(counts / counts.sum() * size)).astype(int)
    while quota.sum() > size:
        quota[quota.idxmax()] -= 1
    picked = [rejected[rejected["reject_reason"] == r].head(int(n)) for r, n in quota.items()]
    sample = pd.concat(picked)
    return sample.reindex(columns=[c for c in SAMPLE_COLUMNS if c in sample.columns])


def rejection_rate(raw_rows: int, rejected: pd.DataFrame, max_rate: float) -> Finding:
    """ERROR (blocks) above `max_rate`, WARN above a fifth of it, else passes."""
    rate = len(rejected) / raw_rows if raw_rows else 0.0
    warn_above = round(max_rate * WARN_SHARE_OF_LIMIT, 6)
    # A pass is recorded at ERROR, the check's own level: the UI colours a check by its latest
    # evaluation's severity, and a blocked day must then show red, not a warning.
    warns = warn_above < rate <= max_rate
    severity = AssetCheckSeverity.WARN if warns else AssetCheckSeverity.ERROR
    if rate > max_rate:
        verdict = "blocked: above"
    elif rate > warn_above:
        verdict = "warn: above a fifth of"
    else:
        verdict = "within"
    reasons = reasons_table(rejected, raw_rows)
    top = "; ".join(
        f"{reason} {rows} ({values})"
        for reason, rows, values in reasons.head(2)[["reason", "rows", "top values"]].itertuples(
            index=False
        )
    )
    return Finding(
        rate <= warn_above,
        f"{len(rejected)} of {raw_rows} raw rows rejected ({rate:.2%}), {verdict} the limit "
        f"{max_rate:.2%}" + (f"; {top}" if top else ""),
        {
            "rejection_rate": round(rate, 6),
            "max_reject_rate": max_rate,
            "warn_above": warn_above,
            "raw_rows": raw_rows,
            "rejected_rows": len(rejected),
            "rejects_by_reason": table(reasons, limit=len(REJECT_REASONS)),
            "sample_rejects": table(proportional_sample(rejected)),
        },
        severity,
    )


def volume_history(query, day: date) -> pd.DataFrame:
    """order_date, n_rows of the (up to) 7 days present in cleaned_sales before `day`.

    `query` is `Warehouse.query`. Looks one week back first and widens only when days are
    missing: counting every earlier day of a year at 1M rows a day takes ~5 s, a week ~0.1 s.
    """
    sql = "SELECT order_date, count(*) AS n_rows FROM {schema}.cleaned_sales WHERE order_date < ?"
    for lookback in (VOLUME_DAYS, 31, 366, None):
        window, params = (
            (" AND order_date >= ?", [day - timedelta(days=lookback)]) if lookback else ("", [])
        )
        history = query(
            sql + window + " GROUP BY order_date ORDER BY order_date DESC LIMIT ?",
            [day, *params, VOLUME_DAYS],
        )
        if len(history) >= VOLUME_DAYS:
            break
    return history


def daily_volume(rows: int, history: pd.DataFrame) -> Finding:
    """`history`: order_date, n_rows of up to 7 earlier days present in the warehouse."""
    warn = AssetCheckSeverity.WARN
    if history.empty:
        return Finding(
            True,
            f"{rows} rows; no earlier day to compare with",
            {"rows": rows, "compared_with": MetadataValue.json([])},
            warn,
        )
    days = pd.to_datetime(history["order_date"]).dt.strftime("%Y-%m-%d").tolist()
    median = float(history["n_rows"].median())
    ratio = rows / median if median else (1.0 if rows == 0 else float("inf"))
    low, high = VOLUME_BAND
    passed = low <= ratio <= high
    return Finding(
        passed,
        f"{rows} rows = {ratio:.0%} of the median {median:g} of {', '.join(days)}"
        + ("" if passed else f" (outside {low:.0%}-{high:.0%})"),
        {
            "rows": rows,
            "median_previous": median,
            "ratio": round(ratio, 4),
            "compared_with": MetadataValue.json(days),
            "previous_days": table(history.assign(order_date=days)),
        },
        warn,
    )


REJECTION_RATE = Check(
    "rejection_rate",
    "cleaned_sales",
    blocking=True,
    description=(
        "The share of the day's raw rows sent to rejected_sales stays within "
        "SALES_MAX_REJECT_RATE: ERROR and blocked above it, WARN above "
        f"{WARN_SHARE_OF_LIMIT:.0%} of it. Shows each reason's count and top offending values."
    ),
    evaluate=rejection_rate,
)

DAILY_VOLUME = Check(
    "daily_volume",
    "cleaned_sales",
    blocking=False,
    description=(
        f"The day's cleaned rows lie within {VOLUME_BAND[0]:.0%}-{VOLUME_BAND[1]:.0%} of the "
        f"median of the previous {VOLUME_DAYS} days present in cleaned_sales (WARN only, never "
        "blocks)."
    ),
    evaluate=daily_volume,
)
