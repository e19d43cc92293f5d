"""The reject rules of contract section 5, one function each, in the contract's order.

A rule reads the parsed day and the rows no earlier rule rejected, and returns the rows it
rejects with their `reject_detail` (built for those rows only). `REJECT_RULES` lists them in
the order of `contracts.REJECT_REASONS`: a row gets the first reason that fits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd

from .contracts import MAX_QUANTITY, REQUIRED_COLUMNS, STRING
from .parsing import ParsedDay


class Rejection(NamedTuple):
    """The rows a rule rejects (a mask over the day) and their reject_detail, in row order."""

    hit: np.ndarray
    detail: np.ndarray


_NO_DETAIL = np.empty(0, dtype=object)  # a rule that hits no row skips building details

# A rule sees the day and the rows no earlier rule rejected, and rejects some of those.
Rule = Callable[[ParsedDay, np.ndarray], Rejection]


def missing_required(parsed: ParsedDay, open_rows: np.ndarray) -> Rejection:
    """A required column is absent or empty; the detail names the first such column."""
    hit = np.zeros(len(open_rows), dtype=bool)
    detail = np.empty(len(open_rows), dtype=object)
    for column in REQUIRED_COLUMNS:  # in contract order: the first missing column is named
        missing = open_rows & ~hit & parsed.source[column].isna().to_numpy()
        detail[missing] = column
        hit |= missing
    return Rejection(hit, detail[hit])


def unparseable_timestamp(parsed: ParsedDay, open_rows: np.ndarray) -> Rejection:
    """order_ts is not ISO-8601, or names an impossible date, time or offset."""
    return _reject(parsed, open_rows & parsed.order_ts.isna().to_numpy(), "order_ts")


def invalid_quantity(parsed: ParsedDay, open_rows: np.ndarray) -> Rejection:
    """quantity is not a whole number from 1 to MAX_QUANTITY."""
    quantity = parsed.quantity
    whole = (quantity > 0) & (quantity <= MAX_QUANTITY) & (quantity == np.floor(quantity))
    return _reject(parsed, open_rows & ~whole.to_numpy(), "quantity")


def invalid_unit_price(parsed: ParsedDay, open_rows: np.ndarray) -> Rejection:
    """unit_price is negative or not a number, or quantity * unit_price overflows."""
    price = parsed.unit_price
    valid = (price >= 0) & np.isfinite(price * parsed.quantity)
    return _reject(parsed, open_rows & ~valid.to_numpy(), "unit_price")


def invalid_discount(parsed: ParsedDay, open_rows: np.ndarray) -> Rejection:
    """discount (0 when absent) is not a fraction in [0, 1)."""
    discount = parsed.discount
    valid = (discount >= 0) & (discount < 1)
    return _reject(parsed, open_rows & ~valid.to_numpy(), "discount")


def wrong_partition(parsed: ParsedDay, open_rows: np.ndarray) -> Rejection:
    """order_ts, in UTC, is not on the partition's day; the detail names its day."""
    start = pd.Timestamp(parsed.day, tz="UTC")
    order_ts = parsed.order_ts
    outside = (order_ts < start) | (order_ts >= start + pd.Timedelta(days=1))
    hit = open_rows & outside.to_numpy()
    if not hit.any():
        return Rejection(hit, _NO_DETAIL)
    detail = "order_ts is on " + order_ts[hit].dt.strftime("%Y-%m-%d")
    return Rejection(hit, detail.astype(object).to_numpy())


def duplicate_order_id(parsed: ParsedDay, open_rows: np.ndarray) -> Rejection:
    """Another open row keeps this order_id (see `earliest_order_per_id`); detail names it."""
    candidates = pd.DataFrame(
        {
            "order_id": parsed.source["order_id"],
            "order_ts": parsed.order_ts,
            "source_file": parsed.source_file,
            "source_row": parsed.source_row,
        }
    )[open_rows]
    kept_at = earliest_order_per_id(candidates)
    hit = np.zeros(len(open_rows), dtype=bool)
    hit[kept_at.index] = True
    kept = kept_at.to_numpy()
    where = (
        parsed.source_file.iloc[kept].astype(STRING)
        + ":"
        + parsed.source_row.iloc[kept].astype(STRING)
    )
    return Rejection(hit, ("first kept at " + where).astype(object).to_numpy())


# Among copies of an order_id the first in this order keeps it.
TIE_BREAK = ["order_ts", "source_file", "source_row"]


def earliest_order_per_id(orders: pd.DataFrame) -> pd.Series:
    """Which row keeps each order_id: the earliest order_ts, ties by source_file then source_row.

    `orders` holds order_id, order_ts, source_file and source_row (none missing); its integer
    index names the rows. Returns, for every row that loses, the index of the row that keeps its
    id (indexed by the losing rows, ascending). File and row are read from the columns,
    never from the frame's order: the warehouse promises no row order.
    """
    id_number, distinct_ids = pd.factorize(orders["order_id"])  # equal ids, equal numbers
    best_first = _sort_order(orders, TIE_BREAK)  # positions: an id's keeper before its copies
    ranked_ids, rows = id_number[best_first], orders.index[best_first]
    later = pd.Series(ranked_ids).duplicated(keep="first").to_numpy()  # not the first copy
    keeper_of = np.empty(len(distinct_ids), dtype=np.int64)  # id number -> the row keeping it
    keeper_of[ranked_ids[~later]] = rows[~later]
    return pd.Series(keeper_of[ranked_ids[later]], index=rows[later]).sort_index()


def _sort_order(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """The row positions that sort `frame` by `columns`, ascending and stable."""
    keys = [_ordered_integers(frame[column]) for column in columns]
    return np.lexsort(keys[::-1])  # lexsort sorts by its last key first


def _ordered_integers(values: pd.Series) -> np.ndarray:
    """`values` as integers in the same order: times and whole numbers as such, text by rank.

    `np.lexsort` over such integers is 4-8x faster than `DataFrame.sort_values` on a 1M-row day.
    """
    if values.dtype.kind in "iuM":
        return values.astype("int64").to_numpy()
    return pd.factorize(values, sort=True)[0]


def _reject(parsed: ParsedDay, hit: np.ndarray, column: str) -> Rejection:
    """Reject the `hit` rows showing the offending value: `column=value` as received."""
    if not hit.any():
        return Rejection(hit, _NO_DETAIL)
    shown = column + "=" + parsed.source[column][hit]
    return Rejection(hit, shown.astype(object).to_numpy())


# The contract's order (`contracts.REJECT_REASONS`): a row gets the first reason that fits.
REJECT_RULES: tuple[tuple[str, Rule], ...] = (
    ("missing_required", missing_required),
    ("unparseable_timestamp", unparseable_timestamp),
    ("invalid_quantity", invalid_quantity),
    ("invalid_unit_price", invalid_unit_price),
    ("invalid_discount", invalid_discount),
    ("wrong_partition", wrong_partition),
    ("duplicate_order_id", duplicate_order_id),
)
