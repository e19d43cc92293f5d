"""Deterministic synthetic orders: same date, same rows, with every reject reason present."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from ..contracts import REJECT_REASONS, SOURCE_COLUMNS, STRING
from . import with_lineage

PRODUCTS = (
    "laptop",
    "phone",
    "tablet",
    "headphones",
    "monitor",
    "keyboard",
    "mouse",
    "camera",
    "speaker",
    "watch",
)
PRICES = (899.0, 649.0, 329.0, 89.0, 219.0, 49.0, 25.0, 549.0, 119.0, 279.0)
REGIONS = ("north", "south", "east", "west", "central", "online")
CHANNELS = ("web", "app", "store", "marketplace")
DEFAULT_DIRTY_RATE = 0.015

# One broken value per reason, applied to rows chosen as dirty (in REJECT_REASONS order).
_DIRTY_QUANTITY = np.array(["0", "2.5", "-1", "two"], dtype=object)
_DIRTY_PRICE = np.array(["-5.00", "abc", "NaN"], dtype=object)
_DIRTY_DISCOUNT = np.array(["1.5", "-0.1", "ten%"], dtype=object)
_DIRTY_TS = np.array(["not-a-timestamp", "2024-13-45T10:00:00", "yesterday"], dtype=object)


def generate_orders(
    day: date, rows: int, dirty_rate: float = DEFAULT_DIRTY_RATE, seed: int = 0
) -> pd.DataFrame:
    """`rows` orders of `day` as text source columns, `dirty_rate` of them broken on purpose."""
    rng = np.random.default_rng([day.toordinal(), seed])
    product = rng.integers(0, len(PRODUCTS), rows)
    seconds = np.sort(rng.integers(0, 86_400, rows))
    utc = np.datetime64(day, "s") + seconds.astype("timedelta64[s]")
    ts = _iso_text(rng, utc)
    price = np.asarray(PRICES)[product] * rng.uniform(0.8, 1.2, rows)
    discount = np.where(rng.random(rows) < 0.3, rng.choice([0.05, 0.1, 0.2], rows), 0.0)
    customer = np.char.add("C", rng.integers(1, max(rows // 3, 2), rows).astype(str)).astype(object)
    customer[rng.random(rows) < 0.05] = ""
    orders = pd.DataFrame(
        {
            "order_id": np.char.add(f"{day:%Y%m%d}-", np.arange(rows).astype(str)).astype(object),
            "order_ts": ts,
            "product": np.asarray(PRODUCTS, dtype=object)[product],
            "region": np.asarray(REGIONS, dtype=object)[rng.integers(0, len(REGIONS), rows)],
            "quantity": rng.integers(1, 6, rows).astype(str).astype(object),
            "unit_price": price.round(2).astype(str).astype(object),
            "customer_id": customer,
            "channel": np.asarray(CHANNELS, dtype=object)[rng.integers(0, len(CHANNELS), rows)],
            "discount": discount.astype(str).astype(object),
        }
    )
    _make_dirty(orders, rng, day, dirty_rate)
    return orders[list(SOURCE_COLUMNS)].astype(STRING)


def _iso_text(rng: np.random.Generator, utc: np.ndarray) -> np.ndarray:
    """ISO-8601 text in the forms sources send: Z, naive with space, offsets, fractions."""
    style = rng.integers(0, 4, len(utc))
    text = np.char.add(np.datetime_as_string(utc, unit="s"), "Z").astype(object)
    naive = style == 1
    if naive.any():  # np.char.replace fails on an empty array (a day of 0 or few rows)
        text[naive] = np.char.replace(np.datetime_as_string(utc[naive], unit="s"), "T", " ")
    plus2 = style == 2  # same instant written in UTC+02:00: may show the next local day
    text[plus2] = np.char.add(
        np.datetime_as_string(utc[plus2] + np.timedelta64(2, "h"), unit="s"), "+02:00"
    )
    frac = style == 3
    text[frac] = np.char.add(np.datetime_as_string(utc[frac], unit="ms"), "Z")
    return text


def _make_dirty(
    orders: pd.DataFrame, rng: np.random.Generator, day: date, dirty_rate: float
) -> None:
    """Break `dirty_rate` of the rows, cycling through every reject reason in contract order."""
    rows = len(orders)
    dirty = int(round(rows * dirty_rate))
    if rows < 4 or dirty == 0:
        return
    # Dirty rows sit in the second half; duplicates copy an id from the clean first half.
    picks = rng.choice(np.arange(rows // 2, rows), size=min(dirty, rows - rows // 2), replace=False)
    for k, reason in enumerate(REJECT_REASONS):
        at = picks[k :: len(REJECT_REASONS)]
        if reason == "missing_required":
            orders.loc[at, "product"] = ""
        elif reason == "unparseable_timestamp":
            orders.loc[at, "order_ts"] = _DIRTY_TS[np.arange(len(at)) % len(_DIRTY_TS)]
        elif reason == "invalid_quantity":
            orders.loc[at, "quantity"] = _DIRTY_QUANTITY[np.arange(len(at)) % len(_DIRTY_QUANTITY)]
        elif reason == "invalid_unit_price":
            orders.loc[at, "unit_price"] = _DIRTY_PRICE[np.arange(len(at)) % len(_DIRTY_PRICE)]
        elif reason == "invalid_discount":
            orders.loc[at, "discount"] = _DIRTY_DISCOUNT[np.arange(len(at)) % len(_DIRTY_DISCOUNT)]
        elif reason == "wrong_partition":
            orders.loc[at, "order_ts"] = f"{day - pd.Timedelta(days=1):%Y-%m-%d}T23:30:00Z"
        elif reason == "duplicate_order_id":
            # Same id as an earlier row, written at the end of the day: the earlier one wins.
            orders.loc[at, "order_id"] = orders["order_id"].to_numpy()[
                rng.integers(0, rows // 2, len(at))
            ]
            orders.loc[at, "order_ts"] = f"{day:%Y-%m-%d}T23:59:59Z"


def synthetic_day(day: date, rows: int) -> pd.DataFrame:
    """The synthetic source's raw frame for `day`."""
    orders = generate_orders(day, rows)
    return with_lineage(orders, day, "synthetic", np.arange(1, len(orders) + 1))
