"""Pure pandas rules of contract section 5: raw rows -> (cleaned, rejected) -> metrics.

Nothing here knows Dagster. Every rule is vectorized over the whole day.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .contracts import (
    DATE,
    DEFAULT_CHANNEL,
    MAX_QUANTITY,
    REJECT_REASONS,
    REQUIRED_COLUMNS,
    SOURCE_COLUMNS,
    STRING,
    TICKET_BOUNDS,
    TICKET_SIZES,
    UTC_TS,
)

# ISO-8601 date or date-time: `T` or space, optional seconds and fraction, `Z` or +hh:mm.
_ISO_TS = (
    r"^(?P<day>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?))?"
    r"(?P<tz>Z|z|[+-]\d{2}:?\d{2})?$"
)
_TZ = r"(?:Z|z|[+-]\d{2}:?\d{2})$"  # the zone suffix of a value that matches _ISO_TS
# Decimal and exponent syntax, which arrow casts vectorized and correctly rounded; anything
# else ("inf", "NaN", junk) goes through `pd.to_numeric`.
_PLAIN_NUMBER = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"
_LARGE = pa.large_string()
_CHUNK = 1 << 17  # rows parsed per to_datetime call


def text(raw: pd.DataFrame, column: str) -> pd.Series:
    """A source column as stripped text; absent columns and empty values become NA.

    Works on the arrow chunks and keeps a changed copy only for a column that needs one
    (most columns of a day hold no padding and no empty values): -150 MB on a 1M-row day.
    """
    if column not in raw.columns:
        return pd.Series(pd.NA, index=raw.index, dtype=STRING)
    values = raw[column].astype(STRING).array._pa_array
    stripped = pc.utf8_trim_whitespace(values)  # what `Series.str.strip()` does on arrow text
    if not pc.all(pc.equal(stripped, values)).as_py():
        values = stripped
    del stripped
    empty = pc.equal(values, "")
    if pc.any(empty).as_py():
        values = pc.if_else(empty, pa.scalar(None, values.type), values)
    return pd.Series(pd.arrays.ArrowStringArray(values), index=raw.index)


def _arrow(values: pd.Series) -> pa.Array:
    """A text column as one arrow large_string array (no copy when already arrow-backed)."""
    array = values.astype(STRING).array._pa_array
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _mask(array) -> np.ndarray:
    """An arrow boolean array as numpy, null as False."""
    return pc.fill_null(array, False).to_numpy(zero_copy_only=False)


def parse_utc(values: pd.Series) -> pd.Series:
    """ISO-8601 text -> UTC timestamps; NaT where unparseable.

    Offsets are applied per row after parsing the naive part, so a row's offset can never
    leak into its neighbours (as it can in a single `to_datetime` over mixed text). The
    regex checks the form in arrow; pandas parses only the naive text.
    """
    text = _arrow(values)
    matched = pc.fill_null(pc.match_substring_regex(text, _ISO_TS), False)
    naive_text = pc.if_else(
        matched, pc.replace_substring_regex(text, _TZ, ""), pa.scalar(None, _LARGE)
    )
    naive = np.empty(len(text), dtype="datetime64[ns]")
    for start in range(
        0, len(text), _CHUNK
    ):  # bounded: to_datetime needs the text as Python objects
        chunk = naive_text.slice(start, _CHUNK).to_numpy(zero_copy_only=False)
        naive[start : start + len(chunk)] = pd.to_datetime(
            chunk, format="ISO8601", errors="coerce"
        ).to_numpy("datetime64[ns]")
    naive = pd.Series(naive, index=values.index)
    zone = pc.replace_substring(
        pc.extract_regex(text, f"(?P<tz>{_TZ})").field("tz"), ":", ""
    )  # +hhmm, Z, ""
    has_offset = pc.and_(matched, pc.fill_null(pc.match_substring_regex(zone, r"^[+-]"), False))
    if not pc.any(has_offset).as_py():
        return naive.dt.tz_localize("UTC").astype(UTC_TS)
    zone = pc.if_else(has_offset, zone, pa.scalar("+0000", zone.type))
    hours = pc.cast(pc.utf8_slice_codeunits(zone, 1, 3), pa.int64()).to_numpy()
    minutes = pc.cast(pc.utf8_slice_codeunits(zone, 3, 5), pa.int64()).to_numpy()
    sign = np.where(_mask(pc.starts_with(zone, "-")), -1, 1)
    bad_offset = _mask(has_offset) & ((hours > 23) | (minutes > 59))
    utc = naive - pd.to_timedelta(sign * (hours * 60 + minutes), unit="min")
    return utc.mask(bad_offset).dt.tz_localize("UTC").astype(UTC_TS)


def number(values: pd.Series) -> pd.Series:
    """Text -> float64, NaN where not a number (the rule of `pd.to_numeric`).

    Decimal and exponent syntax is cast by arrow, vectorized and correctly rounded (to_numeric
    can be ulps off on long decimals); only the rest ("inf", "NaN") goes through `to_numeric`.
    """
    array = _arrow(values)
    plain = _mask(pc.match_substring_regex(array, _PLAIN_NUMBER))
    out = np.full(len(array), np.nan)
    out[plain] = pc.cast(array.filter(plain), pa.float64()).to_numpy()
    other = ~plain & array.is_valid().to_numpy(zero_copy_only=False)
    if other.any():
        out[other] = pd.to_numeric(
            array.filter(other).to_numpy(zero_copy_only=False), errors="coerce"
        ).astype("float64")
    return pd.Series(out, index=values.index)


def ticket_size(amount: pd.Series) -> pd.Series:
    """low (<= 100), medium (<= 500), high (<= 1000), very_high (> 1000)."""
    index = np.searchsorted(np.asarray(TICKET_BOUNDS), amount.to_numpy(), side="left")
    return pd.Series(
        pd.arrays.ArrowStringArray(pa.array(TICKET_SIZES, type=_LARGE).take(index)),
        index=amount.index,
    )


def clean_sales(raw: pd.DataFrame, day: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a day's raw rows into (cleaned, rejected); every raw row lands in exactly one.

    `raw` holds the source columns as text plus `source_file` and `source_row`, in any row
    order (the duplicate tie-break reads file then row from those two columns).
    """
    raw = raw.reset_index(drop=True)
    values = {column: text(raw, column) for column in SOURCE_COLUMNS}
    reason = np.zeros(len(raw), dtype=np.int8)  # 0 = valid; k = REJECT_REASONS[k - 1]
    details: list[
        tuple[np.ndarray, object]
    ] = []  # (rows, their detail), built only for the rows hit

    def reject(code: str, failed, why) -> None:
        """Give `code` to the still-valid rows where `failed`; `why(rows)` builds their detail."""
        hit = (reason == 0) & np.asarray(failed, dtype=bool)
        if hit.any():
            reason[hit] = REJECT_REASONS.index(code) + 1
            details.append(
                (
                    np.flatnonzero(hit),
                    why if isinstance(why, str) else why(hit).astype(object).to_numpy(),
                )
            )

    def shown(column: str):
        return lambda hit: column + "=" + values[column][hit]

    for column in REQUIRED_COLUMNS:
        reject("missing_required", values[column].isna(), column)

    order_ts = parse_utc(values["order_ts"])
    reject("unparseable_timestamp", order_ts.isna(), shown("order_ts"))

    quantity = number(values["quantity"])
    whole = (quantity > 0) & (quantity <= MAX_QUANTITY) & (quantity == np.floor(quantity))
    reject("invalid_quantity", ~whole, shown("quantity"))

    unit_price = number(values["unit_price"])
    price_ok = (unit_price >= 0) & np.isfinite(unit_price * quantity.where(whole, 1))
    reject("invalid_unit_price", ~price_ok, shown("unit_price"))

    discount = number(values["discount"]).where(values["discount"].notna(), 0.0)
    reject("invalid_discount", ~((discount >= 0) & (discount < 1)), shown("discount"))

    start = pd.Timestamp(day, tz="UTC")
    outside = (order_ts < start) | (order_ts >= start + pd.Timedelta(days=1))
    reject(
        "wrong_partition",
        outside,
        lambda hit: "order_ts is on " + order_ts[hit].dt.strftime("%Y-%m-%d"),
    )

    # Among rows still valid, the earliest order_ts keeps an order_id; ties by file then row
    # (read from source_file/source_row: the warehouse promises no row order).
    valid = np.flatnonzero(reason == 0)
    instants = order_ts.to_numpy(dtype="datetime64[ns]")
    files = pc.dictionary_encode(_arrow(raw["source_file"]).take(valid))
    file_rank = pc.rank(files.dictionary, sort_keys="ascending").to_numpy()[
        files.indices.to_numpy()
    ]
    row = raw["source_row"].to_numpy(dtype="int64")[valid]
    ranked = valid[np.lexsort((row, file_rank, instants[valid]))]
    ids = pc.dictionary_encode(
        _arrow(values["order_id"]).take(ranked)
    ).indices.to_numpy()  # numbered by first sight
    first = np.zeros(len(ranked) and ids.max() + 1, dtype=np.int64)
    first[ids[::-1]] = np.arange(len(ids) - 1, -1, -1)  # rank of each id's first (kept) row
    later = first[ids] != np.arange(len(ids))
    duplicate = np.zeros(len(raw), dtype=bool)
    duplicate[ranked[later]] = True

    def first_kept(hit: np.ndarray) -> pd.Series:
        rows, kept = ranked[later], ranked[first[ids[later]]]  # each duplicate and the row kept
        where = (
            raw["source_file"].iloc[kept].astype(STRING)
            + ":"
            + raw["source_row"].iloc[kept].astype(STRING)
        )
        order = np.argsort(rows)  # `hit` is `duplicate`: the same rows, in row order
        return "first kept at " + pd.Series(
            where.to_numpy()[order], index=rows[order], dtype=STRING
        )

    reject("duplicate_order_id", duplicate, first_kept)

    ok = reason == 0
    order_ts = order_ts[ok]
    amount = (quantity * unit_price * (1 - discount)).round(2)[ok]
    cleaned = pd.DataFrame(
        {
            "order_id": values["order_id"][ok],
            "order_ts": order_ts,
            "order_date": order_ts.dt.floor("D")
            .dt.tz_localize(None)
            .astype("datetime64[s]")
            .astype(DATE),
            "customer_id": values["customer_id"][ok],
            "product": values["product"][ok],
            "region": values["region"][ok],
            "channel": values["channel"][ok].fillna(DEFAULT_CHANNEL),
            "quantity": quantity[ok].astype("int64"),
            "unit_price": unit_price[ok],
            "discount": discount[ok],
            "amount": amount,
            "ticket_size": ticket_size(amount),
        }
    )
    cleaned.index = pd.RangeIndex(
        len(cleaned)
    )  # as reset_index(drop=True), without copying the columns

    rejected = pd.DataFrame(
        {
            column: raw[column][~ok].astype(STRING)
            if column in raw
            else pd.Series(pd.NA, index=raw.index[~ok], dtype=STRING)
            for column in SOURCE_COLUMNS
        }
    )
    codes = np.asarray(REJECT_REASONS, dtype=object)[reason[~ok] - 1]
    rejected["reject_reason"] = pd.Series(codes, index=rejected.index, dtype=STRING)
    detail = np.full(len(rejected), None, dtype=object)
    for rows, why in details:
        detail[np.searchsorted(rejected.index.to_numpy(), rows)] = why
    rejected["reject_detail"] = pd.Series(detail, index=rejected.index, dtype=STRING)
    rejected["partition_date"] = day_column(day, rejected.index)
    rejected["source_file"] = raw["source_file"][~ok].astype(STRING)
    rejected["source_row"] = raw["source_row"][~ok].astype("int64")
    return cleaned, rejected.reset_index(drop=True)


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


def day_column(day: date, index: pd.Index) -> pd.Series:
    """A DATE column holding `day` on every row of `index`."""
    days = pa.array(np.full(len(index), np.datetime64(day, "D")), type=pa.date32())
    return pd.Series(days, index=index, dtype=DATE)
