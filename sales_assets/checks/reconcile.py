"""Nothing lost, nothing invented: raw rows are accounted for, and revenue adds up."""

from __future__ import annotations

import pandas as pd

from ..transforms import text
from .base import Check, Finding, table

REVENUE_TOLERANCE = 0.01  # sum(revenue) may differ from sum(amount) by rounding, never more
GROUP_TOLERANCE = 0.005  # half a cent: a group's revenue is rounded to cents once
LINEAGE = ["source_file", "source_row"]


def _lost_and_extra(raw, cleaned, rejected) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Raw rows found in neither table, and cleaned rows that come from no raw row
    (matched by source_file/source_row for rejects, then by order_id)."""
    flagged = raw[LINEAGE].merge(
        rejected[LINEAGE].drop_duplicates(), how="left", on=LINEAGE, indicator=True
    )
    kept = raw[(flagged["_merge"] == "left_only").to_numpy()]
    kept_ids = text(kept, "order_id")
    cleaned_ids = cleaned["order_id"].astype("string[pyarrow]")
    lost = kept[~kept_ids.isin(cleaned_ids).to_numpy()]
    extra = cleaned[~cleaned_ids.isin(kept_ids.dropna()).to_numpy()]
    return lost, extra


def rows_accounted_for(raw: pd.DataFrame, cleaned: pd.DataFrame, rejected: pd.DataFrame) -> Finding:
    """raw = cleaned + rejected; on a mismatch, list the rows lost and the rows invented."""
    unaccounted = len(raw) - len(cleaned) - len(rejected)
    passed = unaccounted == 0
    lost, extra = (
        (pd.DataFrame(), pd.DataFrame()) if passed else _lost_and_extra(raw, cleaned, rejected)
    )
    summary = (
        f"all {len(raw)} raw rows accounted for ({len(cleaned)} cleaned + {len(rejected)} rejected)"
        if passed
        else f"raw {len(raw)} != cleaned {len(cleaned)} + rejected {len(rejected)} "
        f"({unaccounted:+d} unaccounted)"
    )
    return Finding(
        passed,
        summary,
        {
            "raw_rows": len(raw),
            "cleaned_rows": len(cleaned),
            "rejected_rows": len(rejected),
            "unaccounted": unaccounted,
            "lost_raw_rows": len(lost),
            "lost_raw_rows_sample": table(lost),
            "unexpected_cleaned_rows": len(extra),
            "unexpected_cleaned_rows_sample": table(extra),
        },
    )


def _differing_groups(metrics: pd.DataFrame, cleaned: pd.DataFrame) -> pd.DataFrame:
    keys = ["order_date", "product", "region"]
    expected = (
        cleaned.groupby(keys, observed=True)["amount"].sum().round(2).rename("cleaned_amount")
    )
    joined = (
        metrics[keys + ["revenue"]]
        .merge(expected.reset_index(), how="outer", on=keys)
        .fillna({"revenue": 0.0, "cleaned_amount": 0.0})
    )
    joined["difference"] = (joined["revenue"] - joined["cleaned_amount"]).round(2)
    differing = joined[joined["difference"].abs() > GROUP_TOLERANCE]
    return differing.sort_values("difference", key=abs, ascending=False)


def revenue_reconciles(metrics: pd.DataFrame, cleaned: pd.DataFrame) -> Finding:
    """sum(metrics revenue) vs sum(cleaned amount); on a gap, the groups that differ."""
    metrics_revenue = float(metrics["revenue"].sum())
    cleaned_amount = float(cleaned["amount"].sum())
    difference = abs(metrics_revenue - cleaned_amount)
    passed = difference <= REVENUE_TOLERANCE
    differing = pd.DataFrame() if passed else _differing_groups(metrics, cleaned)
    return Finding(
        passed,
        f"metrics revenue {metrics_revenue:.2f} vs cleaned amount {cleaned_amount:.2f} "
        f"(difference {difference:.2f}, tolerance {REVENUE_TOLERANCE})",
        {
            "metrics_revenue": round(metrics_revenue, 2),
            "cleaned_amount": round(cleaned_amount, 2),
            "difference": round(difference, 6),
            "differing_groups": len(differing),
            "differing_groups_sample": table(differing),
        },
    )


ROWS_ACCOUNTED_FOR = Check(
    "rows_accounted_for",
    "cleaned_sales",
    blocking=True,
    description=(
        "No raw row is lost or invented: raw rows = cleaned rows + rejected rows for the day. "
        "Blocks the day."
    ),
    evaluate=rows_accounted_for,
)

REVENUE_RECONCILES = Check(
    "revenue_reconciles",
    "sales_metrics",
    blocking=True,
    description=(
        "sum(revenue) of the day's metrics equals sum(amount) of its cleaned rows within "
        f"{REVENUE_TOLERANCE}. Blocks the day (judged before writing)."
    ),
    evaluate=revenue_reconciles,
)
