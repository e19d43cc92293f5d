"""The rules of contract section 5: raw rows -> (cleaned, rejected) -> metrics.

Read top to bottom: `apply_cleaning_rules` parses the day once (`parsing.parse_day`), runs
`reject_rules.REJECT_RULES` in the contract's order (a row gets the first rule it fails),
then builds the cleaned rows (`cleaned_rows`) and the rejected ones (`rejected_rows`);
`daily_metrics` sums the cleaned rows. Nothing here knows Dagster; every rule is vectorized
over the whole day.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from .contracts import DATE, DEFAULT_CHANNEL, SOURCE_COLUMNS, STRING
from .parsing import ParsedDay, day_column, number, parse_day, parse_utc, text, ticket_size
from .reject_rules import REJECT_RULES, Rejection

# Public here for the modules and tests that call them; the parsers live in `parsing`.
__all__ = ["apply_cleaning_rules", "daily_metrics"]
__all__ += ["day_column", "number", "parse_utc", "text", "ticket_size"]

KEPT = -1  # a row's failed rule when no rule rejects it


def apply_cleaning_rules(raw: pd.DataFrame, day: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a day's raw rows into (cleaned, rejected); every raw row lands in exactly one.

    `raw` holds the source columns as text plus `source_file` and `source_row`, in any row
    order (the duplicate tie-break reads file then row from those two columns).
    """
    raw = raw.reset_index(drop=True)
    parsed = parse_day(raw, day)
    failed_rule, rejections = first_failed_rule(parsed)
    cleaned = cleaned_rows(parsed, failed_rule == KEPT)
    return cleaned, rejected_rows(raw, day, failed_rule, rejections)


def first_failed_rule(parsed: ParsedDay) -> tuple[np.ndarray, list[Rejection]]:
    """Run REJECT_RULES in order, each on the rows no earlier rule rejected.

    Returns each row's first failed rule (its position in REJECT_RULES, KEPT if none) and
    every rule's rejection.
    """
    failed_rule = np.full(len(parsed.source_row), KEPT, dtype=np.int8)
    rejections = []
    for position, (_, rule) in enumerate(REJECT_RULES):
        rejection = rule(parsed, failed_rule == KEPT)
        failed_rule[rejection.hit] = position
        rejections.append(rejection)
    return failed_rule, rejections


def cleaned_rows(parsed: ParsedDay, kept: np.ndarray) -> pd.DataFrame:
    """The kept rows, typed, with the contract's defaults and derived columns."""
    source = parsed.source
    order_ts = parsed.order_ts[kept]
    amount = (parsed.quantity * parsed.unit_price * (1 - parsed.discount)).round(2)[kept]
    cleaned = pd.DataFrame(
        {
            "order_id": source["order_id"][kept],
            "order_ts": order_ts,
            "order_date": order_ts.dt.floor("D")
            .dt.tz_localize(None)
            .astype("datetime64[s]")
            .astype(DATE),
            "customer_id": source["customer_id"][kept],
            "product": source["product"][kept],
            "region": source["region"][kept],
            "channel": source["channel"][kept].fillna(DEFAULT_CHANNEL),
            "quantity": parsed.quantity[kept].astype("int64"),
            "unit_price": parsed.unit_price[kept],
            "discount": parsed.discount[kept],
            "amount": amount,
            "ticket_size": ticket_size(amount),
        }
    )
    cleaned.index = pd.RangeIndex(len(cleaned))  # as reset_index(drop=True), without a copy
    return cleaned


def rejected_rows(
    raw: pd.DataFrame, day: date, failed_rule: np.ndarray, rejections: list[Rejection]
) -> pd.DataFrame:
    """The rejected rows as received, with their reason, detail and lineage, in row order."""
    rows = failed_rule != KEPT
    rejected = pd.DataFrame(
        {
            column: raw[column][rows].astype(STRING)
            if column in raw
            else pd.Series(pd.NA, index=raw.index[rows], dtype=STRING)
            for column in SOURCE_COLUMNS
        }
    )
    reasons = np.asarray([reason for reason, _ in REJECT_RULES], dtype=object)
    rejected["reject_reason"] = pd.Series(
        reasons[failed_rule[rows]], index=rejected.index, dtype=STRING
    )
    detail = np.full(len(rejected), None, dtype=object)
    positions = rejected.index.to_numpy()  # ascending: rejection.detail follows row order too
    for rejection in rejections:
        detail[np.searchsorted(positions, np.flatnonzero(rejection.hit))] = rejection.detail
    rejected["reject_detail"] = pd.Series(detail, index=rejected.index, dtype=STRING)
    rejected["partition_date"] = day_column(day, rejected.index)
    rejected["source_file"] = raw["source_file"][rows].astype(STRING)
    rejected["source_row"] = raw["source_row"][rows].astype("int64")
    return rejected.reset_index(drop=True)


def daily_metrics(cleaned: pd.DataFrame) -> pd.DataFrame:
    """One row per order_date x product x region with orders, units, revenue, AOV, customers."""
    customer = cleaned["customer_id"].astype(STRING)
    frame = cleaned.assign(customer_id=customer.mask(customer.str.strip() == ""))
    grouped = frame.groupby(
        ["order_date", "product", "region"], sort=True, observed=True, dropna=False
    )
    metrics = grouped.agg(
        orders=("order_id", "size"),
        units=("quantity", "sum"),
        revenue=("amount", "sum"),
        customers=("customer_id", "nunique"),
    ).reset_index()
    metrics["revenue"] = metrics["revenue"].astype("float64").round(2)
    metrics["avg_order_value"] = (metrics["revenue"] / metrics["orders"].astype("float64")).round(2)
    return metrics.astype(
        {
            "order_date": DATE,
            "product": STRING,
            "region": STRING,
            "orders": "int64",
            "units": "int64",
            "customers": "int64",
            "avg_order_value": "float64",
        }
    )[
        [
            "order_date",
            "product",
            "region",
            "orders",
            "units",
            "revenue",
            "avg_order_value",
            "customers",
        ]
    ]
