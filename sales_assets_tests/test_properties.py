"""Property-based tests of the cleaning rules against a plain per-row oracle.

Hypothesis builds small raw days from a mix of valid and hostile values (column order,
extra columns, whitespace, unicode, huge and tiny numbers, timestamps with and without
offsets around the day's edges). The oracle below restates contract section 5 one row at a
time in plain Python; `transforms.apply_cleaning_rules` must agree with it row for row, and its
outputs must satisfy the contracts and reconcile with `daily_metrics`.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sales_assets import transforms
from sales_assets.contracts import (
    DEFAULT_CHANNEL,
    MAX_QUANTITY,
    REJECT_REASONS,
    REQUIRED_COLUMNS,
    SOURCE_COLUMNS,
    STRING,
    CleanedSales,
    RejectedSales,
    SalesMetrics,
)
from sales_assets.sources import with_lineage

DAY = date(2024, 3, 1)
PROPERTY_SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ---------------------------------------------------------------- the oracle (per row)

_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$", re.ASCII)
_TS = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|z|([+-])(\d{2}):?(\d{2}))?$",
    re.ASCII,
)


def _value(row: dict, column: str) -> str | None:
    value = row.get(column)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _number(text: str | None) -> float | None:
    if text is None or not _NUMBER.match(text):
        return None
    value = float(text)
    return None if math.isnan(value) else value


def _instant(text: str | None) -> pd.Timestamp | None:
    """ISO-8601 as the contract reads it: no offset means UTC, an offset converts to UTC."""
    match = _TS.match(text or "")
    if not match:
        return None
    y, mo, d, h, mi, s, frac, tz, sign, oh, om = match.groups()
    try:
        naive = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0))
    except ValueError:
        return None
    offset = timedelta(0)
    if sign:
        if int(oh) > 23 or int(om) > 59:
            return None
        offset = (1 if sign == "+" else -1) * timedelta(hours=int(oh), minutes=int(om))
    nanos = int((frac or "").ljust(9, "0"))
    return pd.Timestamp(naive.replace(tzinfo=UTC) - offset) + pd.Timedelta(nanoseconds=nanos)


def oracle(rows: list[dict], day: date) -> list[tuple[str | None, dict]]:
    """For each row, (reject reason or None, parsed values), straight from contract section 5."""
    start = pd.Timestamp(day, tz="UTC")
    out = []
    for row in rows:
        values = {c: _value(row, c) for c in SOURCE_COLUMNS}
        parsed = dict(values)
        reason = None
        missing = [c for c in REQUIRED_COLUMNS if values[c] is None]
        instant = _instant(values["order_ts"])
        quantity = _number(values["quantity"])
        price = _number(values["unit_price"])
        discount = 0.0 if values["discount"] is None else _number(values["discount"])
        if missing:
            reason, parsed["detail"] = "missing_required", missing[0]
        elif instant is None:
            reason = "unparseable_timestamp"
        elif (
            quantity is None
            or not (0 < quantity <= MAX_QUANTITY)
            or quantity != math.floor(quantity)
        ):
            reason = "invalid_quantity"
        elif price is None or price < 0 or not math.isfinite(price * quantity):
            reason = "invalid_unit_price"
        elif discount is None or not 0 <= discount < 1:
            reason = "invalid_discount"
        elif not start <= instant < start + pd.Timedelta(days=1):
            reason = "wrong_partition"
        parsed.update(instant=instant, quantity=quantity, price=price, discount=discount)
        out.append((reason, parsed))
    # Duplicates: among rows still valid, the earliest instant keeps the id; ties by position.
    still_valid = sorted((p["instant"], i) for i, (r, p) in enumerate(out) if r is None)
    seen = set()
    for _, i in still_valid:
        order_id = out[i][1]["order_id"]
        if order_id in seen:
            out[i] = ("duplicate_order_id", out[i][1])
        seen.add(order_id)
    return out


# ---------------------------------------------------------------- strategies

PAD = st.sampled_from(["", "", "", " ", "\t", "  ", "\u00a0"])  # NBSP is not stripped by every tool
TRICKY_NUMBERS = [
    "1",
    "2",
    "2.0",
    "2.5",
    "0",
    "-1",
    "+4",
    ".5",
    "5.",
    "1e2",
    "1E-2",
    "0.0",
    "-0",
    "007",
    "1_000",
    "0x10",
    "1,5",
    "inf",
    "-inf",
    "Infinity",
    "nan",
    "NaN",
    "\u0661\u0662",
    "9007199254740992",
    "9007199254740993",
    "1e15",
    "1e308",
    "1e309",
    "1e-320",
    "4.9e-324",
    "0.999999999",
    "0.99",
    "1",
    "abc",
    "",
]
UNICODE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=0,
    max_size=8,
)


@st.composite
def timestamps(draw) -> str:
    """ISO text near the day's edges, in every accepted spelling, plus some garbage."""
    if draw(st.integers(0, 9)) == 0:
        return draw(
            st.sampled_from(
                [
                    "",
                    "yesterday",
                    "2024-13-01",
                    "2024-02-30T10:00",
                    "2024-03-01T25:00",
                    "2024-03-01T10:00+24:00",
                    "2024-03-01T10",
                    "01/03/2024",
                    "2024-03-01T10:00:00+0100x",
                ]
            )
        )
    base = datetime(2024, 3, 1, tzinfo=UTC)
    edge = draw(st.sampled_from([-3600 * 30, -1, 0, 1, 3600, 86399, 86400, 86401, 3600 * 30]))
    jitter = draw(st.integers(-7200, 7200)) * draw(st.sampled_from([0, 1]))
    instant = base + timedelta(seconds=edge + jitter)
    offset_minutes = draw(st.sampled_from([None, 0, 60, -60, 120, -300, 330, 765, -720, 840]))
    local = instant + timedelta(minutes=offset_minutes or 0)
    separator = draw(st.sampled_from(["T", " "]))
    shape = draw(st.sampled_from(["date", "minutes", "seconds", "fraction"]))
    if shape == "date":
        text = local.strftime("%Y-%m-%d")
    else:
        text = local.strftime(f"%Y-%m-%d{separator}%H:%M" + (":%S" if shape != "minutes" else ""))
        if shape == "fraction":
            text += "." + draw(st.from_regex(r"\A[0-9]{1,9}\Z"))
    if offset_minutes is None:
        suffix = draw(st.sampled_from(["", "", "Z", "z"]))
    else:
        sign = "+" if offset_minutes >= 0 else "-"
        hours, minutes = divmod(abs(offset_minutes), 60)
        suffix = f"{sign}{hours:02d}{draw(st.sampled_from([':', '']))}{minutes:02d}"
        if offset_minutes == 0 and draw(st.booleans()):
            suffix = draw(st.sampled_from(["Z", "+00:00", "-00:00"]))
    return text + suffix


def padded(strategy):
    return st.tuples(PAD, strategy, PAD).map("".join)


@st.composite
def raw_days(draw, max_rows: int = 25):
    """A raw day: rows of text, random column order, optional and extra columns, two files."""
    n = draw(st.integers(0, max_rows))
    ids = draw(
        st.lists(
            st.sampled_from(["A1", "A2", "B7", " A1", "ü-9", "x,y", "A1 "]), min_size=n, max_size=n
        )
    )
    value = {
        "order_id": lambda i: st.one_of(st.just(ids[i]), padded(UNICODE)),
        "order_ts": lambda i: padded(timestamps()),
        "product": lambda i: st.one_of(
            st.sampled_from(["laptop", "Ünïcødé ☃", "a\nb", "", " "]), UNICODE
        ),
        "region": lambda i: st.sampled_from(["north", "south", "東京", "", "\t"]),
        "quantity": lambda i: padded(
            st.one_of(st.sampled_from(TRICKY_NUMBERS), st.integers(-3, 10**6).map(str))
        ),
        "unit_price": lambda i: padded(
            st.one_of(
                st.sampled_from(TRICKY_NUMBERS),
                st.floats(-10, 1e6, allow_nan=False).map(repr),
                st.floats(0, 1e-300, allow_nan=False).map(repr),
            )
        ),
        "customer_id": lambda i: st.sampled_from(["C1", "C2", "", "  ", "C1 "]),
        "channel": lambda i: st.sampled_from(["web", "app", "", " "]),
        "discount": lambda i: padded(
            st.one_of(
                st.sampled_from(
                    ["", "0", "0.1", "0.5", "0.999", "1", "1.0", "-0.1", "ten%", "nan", "5e-1"]
                ),
                st.floats(-0.5, 1.5, allow_nan=False).map(repr),
            )
        ),
    }
    optional = [c for c in ("customer_id", "channel", "discount") if draw(st.booleans())]
    # Occasionally a required column is absent altogether: every row then misses it.
    required = [c for c in REQUIRED_COLUMNS if draw(st.integers(0, 30)) != 0]
    extras = draw(
        st.lists(
            st.sampled_from(["note", "Order_ID", "ÿ extra", "discount_v2"]), unique=True, max_size=2
        )
    )
    columns = draw(st.permutations(required + optional + extras))
    rows = []
    for i in range(n):
        row = {c: draw(value[c](i)) if c in value else draw(UNICODE) for c in columns}
        if draw(st.integers(0, 4)) == 0:  # make a likely-valid row now and then
            row.update(
                {
                    c: v
                    for c, v in {
                        "order_id": ids[i],
                        "product": "laptop",
                        "region": "north",
                        "quantity": "2",
                        "unit_price": "9.99",
                    }.items()
                    if c in row
                }
            )
        rows.append(row)
    split = draw(st.integers(0, n))
    files = ["a.csv"] * split + ["b b ü.csv"] * (n - split)
    source_rows = list(range(1, split + 1)) + list(range(1, n - split + 1))
    frame = (
        pd.DataFrame(rows, columns=columns, dtype=object)
        if rows
        else pd.DataFrame(columns=columns, dtype=object)
    )
    raw = with_lineage(frame, DAY, pd.Series(files, dtype=STRING), source_rows)
    return raw, rows


# ---------------------------------------------------------------- properties


def _check_against_oracle(raw: pd.DataFrame, rows: list[dict]) -> None:
    cleaned, rejected = transforms.apply_cleaning_rules(raw, DAY)
    expected = oracle(rows, DAY)

    # Every raw row is in exactly one of cleaned or rejected.
    keys = list(zip(raw["source_file"], raw["source_row"]))
    assert len(set(keys)) == len(raw)
    rejected_keys = list(zip(rejected["source_file"], rejected["source_row"]))
    assert len(set(rejected_keys)) == len(rejected)
    assert len(cleaned) + len(rejected) == len(raw)

    # The same rows are rejected, for the same (first) reason.
    got = dict(zip(rejected_keys, rejected["reject_reason"]))
    want = {keys[i]: reason for i, (reason, _) in enumerate(expected) if reason is not None}
    assert got == want, _diff(rows, keys, got, want)
    details = dict(zip(rejected_keys, rejected["reject_detail"]))
    for i, (reason, parsed) in enumerate(expected):
        if reason == "missing_required":
            assert details[keys[i]] == parsed["detail"]

    # Cleaned rows are the oracle's valid rows, with the oracle's values.
    valid = [parsed for reason, parsed in expected if reason is None]
    assert sorted(cleaned["order_id"]) == sorted(p["order_id"] for p in valid)
    by_id = {p["order_id"]: p for p in valid}
    for row in cleaned.itertuples(index=False):
        p = by_id[row.order_id]
        assert row.order_ts == p["instant"].floor("us")
        assert row.order_date == DAY
        assert row.quantity == p["quantity"]
        # pandas' fast text-to-float parser can be a few ulps off the exact decimal value
        assert math.isclose(row.unit_price, p["price"], rel_tol=1e-14, abs_tol=0.0)
        assert math.isclose(row.discount, p["discount"], rel_tol=1e-14, abs_tol=0.0)
        assert row.product == p["product"] and row.region == p["region"]
        assert row.channel == (p["channel"] or DEFAULT_CHANNEL)
        assert (None if pd.isna(row.customer_id) else row.customer_id) == p["customer_id"]
        exact = p["quantity"] * p["price"] * (1 - p["discount"])
        assert math.isclose(row.amount, exact, rel_tol=1e-9, abs_tol=0.0051)

    CleanedSales.validate(cleaned, lazy=True)
    RejectedSales.validate(rejected, lazy=True)
    assert set(rejected["reject_reason"]) <= set(REJECT_REASONS)

    # Metrics reconcile with cleaned rows: orders, units, revenue per group and in total.
    metrics = transforms.daily_metrics(cleaned)
    SalesMetrics.validate(metrics, lazy=True)
    assert int(metrics["orders"].sum()) == len(cleaned)
    assert int(metrics["units"].sum()) == int(cleaned["quantity"].sum())
    for group in metrics.itertuples(index=False):
        members = cleaned[
            (cleaned["product"] == group.product) & (cleaned["region"] == group.region)
        ]
        assert group.orders == len(members)
        assert math.isclose(group.revenue, members["amount"].sum(), rel_tol=1e-9, abs_tol=0.01)
        customers = {c.strip() for c in members["customer_id"].dropna() if c.strip()}
        assert group.customers == len(customers)


def _diff(rows, keys, got, want) -> str:
    lines = []
    for i, key in enumerate(keys):
        if got.get(key) != want.get(key):
            lines.append(
                f"row {key}: apply_cleaning_rules={got.get(key)} oracle={want.get(key)} values={rows[i]!r}"
            )
    return "\n".join(lines[:10])


@PROPERTY_SETTINGS
@given(raw_days())
def test_cleaning_rules_agree_with_the_per_row_oracle(day):
    raw, rows = day
    _check_against_oracle(raw, rows)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_days(max_rows=6), st.integers(0, 2**32 - 1))
def test_row_order_within_a_file_only_matters_for_duplicate_ties(day, seed):
    """Shuffling rows (keeping each row's source_file/source_row) changes no row's fate."""
    raw, _ = day
    cleaned, rejected = transforms.apply_cleaning_rules(raw, DAY)
    shuffled = raw.sample(frac=1, random_state=np.random.RandomState(seed % 2**32))
    ordered = shuffled.sort_values(["source_file", "source_row"], kind="stable")
    again_cleaned, again_rejected = transforms.apply_cleaning_rules(ordered, DAY)
    pd.testing.assert_frame_equal(cleaned, again_cleaned)
    pd.testing.assert_frame_equal(rejected, again_rejected)


@pytest.mark.parametrize(
    "text, instant",
    [
        ("2024-03-01T00:30:00+01:00", None),  # 2024-02-29 23:30 UTC: previous day
        ("2024-02-29T23:30:00-01:00", "2024-03-01T00:30:00"),
        ("2024-03-01 23:59:59.999999999", "2024-03-01T23:59:59.999999"),
        ("2024-03-02T01:00+01:00", None),  # exactly midnight next day: outside
        ("2024-03-01", "2024-03-01T00:00:00"),
        ("2024-03-01T12:00:00+05:30", "2024-03-01T06:30:00"),
    ],
)
def test_day_edges_with_offsets(text, instant):
    """The examples a reader checks by hand: offsets move rows across the UTC day edge."""
    raw = with_lineage(
        pd.DataFrame(
            [
                {
                    "order_id": "1",
                    "order_ts": text,
                    "product": "p",
                    "region": "r",
                    "quantity": "1",
                    "unit_price": "1",
                }
            ]
        ),
        DAY,
        "f.csv",
        [1],
    )
    cleaned, rejected = transforms.apply_cleaning_rules(raw, DAY)
    if instant is None:
        assert rejected["reject_reason"].tolist() == ["wrong_partition"]
    else:
        assert cleaned["order_ts"].tolist() == [pd.Timestamp(instant, tz="UTC")]
