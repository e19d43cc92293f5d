"""Source text as values: stripped text, UTC timestamps, numbers, ticket bands, day columns.

Each parser works on a whole column in arrow (regexes and casts) and leaves only what arrow
cannot do to pandas. `parse_day` runs them over a day's raw rows once; the reject rules
(`reject_rules`) read the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .arrow_columns import LARGE_STRING, from_arrow, to_arrow, to_flat_arrow, true_mask
from .contracts import DATE, SOURCE_COLUMNS, STRING, TICKET_BOUNDS, TICKET_SIZES, UTC_TS

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
_CHUNK = 1 << 17  # rows parsed per to_datetime call


@dataclass(frozen=True)
class ParsedDay:
    """A day's raw rows with every source column parsed once, for the rules to read."""

    day: date
    source: dict[str, pd.Series]  # each source column as stripped text, NA when empty
    order_ts: pd.Series  # UTC; NaT where not a valid ISO-8601 time
    quantity: pd.Series  # float64; NaN where not a number
    unit_price: pd.Series  # float64; NaN where not a number
    discount: pd.Series  # float64; 0.0 when absent, NaN where not a number
    source_file: pd.Series  # lineage: the landing file of each row
    source_row: pd.Series  # lineage: the row's 1-based data row within its file


def parse_day(raw: pd.DataFrame, day: date) -> ParsedDay:
    """Strip and parse the source columns of `raw` (which has a RangeIndex)."""
    source = {column: text(raw, column) for column in SOURCE_COLUMNS}
    discount = number(source["discount"]).where(source["discount"].notna(), 0.0)
    return ParsedDay(
        day=day,
        source=source,
        order_ts=parse_utc(source["order_ts"]),
        quantity=number(source["quantity"]),
        unit_price=number(source["unit_price"]),
        discount=discount,
        source_file=raw["source_file"],
        source_row=raw["source_row"],
    )


def text(raw: pd.DataFrame, column: str) -> pd.Series:
    """A source column as stripped text; absent columns and empty values become NA.

    Works on the arrow chunks and keeps a changed copy only for a column that needs one
    (most columns of a day hold no padding and no empty values): -150 MB on a 1M-row day.
    """
    if column not in raw.columns:
        return pd.Series(pd.NA, index=raw.index, dtype=STRING)
    values = to_arrow(raw[column])
    stripped = pc.utf8_trim_whitespace(values)  # what `Series.str.strip()` does on arrow text
    if not pc.all(pc.equal(stripped, values)).as_py():
        values = stripped
    del stripped
    empty = pc.equal(values, "")
    if pc.any(empty).as_py():
        values = pc.if_else(empty, pa.scalar(None, values.type), values)
    return from_arrow(values, raw.index)


def parse_utc(values: pd.Series) -> pd.Series:
    """ISO-8601 text -> UTC timestamps; NaT where unparseable.

    Offsets are applied per row after parsing the naive part, so a row's offset can never
    leak into its neighbours (as it can in a single `to_datetime` over mixed text). The
    regex checks the form in arrow; pandas parses only the naive text.
    """
    source = to_flat_arrow(values)
    matched = pc.fill_null(pc.match_substring_regex(source, _ISO_TS), False)
    naive = pd.Series(_naive_times(source, matched), index=values.index)
    offsets = _utc_offsets(source, matched)
    if offsets is None:
        return naive.dt.tz_localize("UTC").astype(UTC_TS)
    minutes, impossible = offsets
    utc = naive - pd.to_timedelta(minutes, unit="min")
    return utc.mask(impossible).dt.tz_localize("UTC").astype(UTC_TS)


def _naive_times(source: pa.Array, matched: pa.Array) -> np.ndarray:
    """The date-time part of each ISO row as datetime64[ns]; NaT if not ISO or impossible."""
    naive_text = pc.if_else(
        matched, pc.replace_substring_regex(source, _TZ, ""), pa.scalar(None, LARGE_STRING)
    )
    naive = np.empty(len(source), dtype="datetime64[ns]")
    for start in range(0, len(source), _CHUNK):  # bounded: to_datetime needs Python strings
        chunk = naive_text.slice(start, _CHUNK).to_numpy(zero_copy_only=False)
        naive[start : start + len(chunk)] = pd.to_datetime(
            chunk, format="ISO8601", errors="coerce"
        ).to_numpy("datetime64[ns]")
    return naive


def _utc_offsets(source: pa.Array, matched: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """Each row's offset east of UTC in minutes (0 if none) and where it is impossible.

    None when no row carries a numeric offset (`Z` and naive text are UTC already).
    """
    zone = pc.extract_regex(source, f"(?P<tz>{_TZ})").field("tz")
    zone = pc.replace_substring(zone, ":", "")  # +hhmm, Z, z or null
    has_offset = pc.and_(matched, pc.fill_null(pc.match_substring_regex(zone, r"^[+-]"), False))
    if not pc.any(has_offset).as_py():
        return None
    zone = pc.if_else(has_offset, zone, pa.scalar("+0000", zone.type))
    hours = pc.cast(pc.utf8_slice_codeunits(zone, 1, 3), pa.int64()).to_numpy()
    minutes = pc.cast(pc.utf8_slice_codeunits(zone, 3, 5), pa.int64()).to_numpy()
    sign = np.where(true_mask(pc.starts_with(zone, "-")), -1, 1)
    impossible = true_mask(has_offset) & ((hours > 23) | (minutes > 59))
    return sign * (hours * 60 + minutes), impossible


def number(values: pd.Series) -> pd.Series:
    """Text -> float64, NaN where not a number (the rule of `pd.to_numeric`).

    Decimal and exponent syntax is cast by arrow, vectorized and correctly rounded (to_numeric
    can be ulps off on long decimals); only the rest ("inf", "NaN") goes through `to_numeric`.
    """
    array = to_flat_arrow(values)
    plain = true_mask(pc.match_substring_regex(array, _PLAIN_NUMBER))
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
    band = np.searchsorted(np.asarray(TICKET_BOUNDS), amount.to_numpy(), side="left")
    return from_arrow(pa.array(TICKET_SIZES, type=LARGE_STRING).take(band), amount.index)


def day_column(day: date, index: pd.Index) -> pd.Series:
    """A DATE column holding `day` on every row of `index`."""
    days = pa.array(np.full(len(index), np.datetime64(day, "D")), type=pa.date32())
    return pd.Series(days, index=index, dtype=DATE)
