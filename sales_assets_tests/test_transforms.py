"""The cleaning rules of contract section 5 as pure pandas, tested without Dagster."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from sales_assets.contracts import REJECT_REASONS, STRING, CleanedSales, RejectedSales, SalesMetrics
from sales_assets.reject_rules import REJECT_RULES, earliest_order_per_id
from sales_assets.sources.synthetic import synthetic_day
from sales_assets.transforms import apply_cleaning_rules, daily_metrics

DAY = date(2024, 3, 1)
GOOD = {
    "order_id": "A1",
    "order_ts": "2024-03-01T10:00:00Z",
    "product": "laptop",
    "region": "north",
    "quantity": "2",
    "unit_price": "10.00",
    "customer_id": "C1",
}


def raw(*rows: dict, files: list[str] | None = None) -> pd.DataFrame:
    """Raw rows as the sources hand them over: text columns plus source_file and source_row.

    Rows are {**GOOD, **row}; a value of None drops that column from the row (missing key).
    `files` gives each row's source_file (default one file); source_row counts within a file.
    """
    records = [{k: v for k, v in {**GOOD, **row}.items() if v is not None} for row in rows]
    frame = pd.DataFrame.from_records(records).astype(STRING)
    frame["source_file"] = pd.Series(files or ["a.csv"] * len(rows), dtype=STRING)
    frame["source_row"] = frame.groupby("source_file").cumcount().astype("int64") + 1
    return frame


def split(*rows: dict, files=None, day: date = DAY):
    cleaned, rejected = apply_cleaning_rules(raw(*rows, files=files), day)
    assert len(cleaned) + len(rejected) == len(rows)
    return cleaned, rejected


def rejection(row: dict) -> tuple[str, str]:
    """The (reason, detail) a single row gets; fails if the row is kept."""
    cleaned, rejected = split(row)
    assert cleaned.empty, f"row was kept: {row}"
    return rejected["reject_reason"].iloc[0], rejected["reject_detail"].iloc[0]


# -- every reject reason, with its detail ---------------------------------------------------


@pytest.mark.parametrize(
    "column", ["order_id", "order_ts", "product", "region", "quantity", "unit_price"]
)
@pytest.mark.parametrize("value", ["", "   ", None])
def test_missing_required_names_the_column(column, value):
    row = {column: value} if value is not None else {}
    frame = raw(GOOD, {**GOOD, **row})
    if value is None:
        frame.loc[1, column] = pd.NA
    cleaned, rejected = apply_cleaning_rules(frame, DAY)
    assert len(cleaned) == 1 and len(rejected) == 1
    assert rejected.loc[0, "reject_reason"] == "missing_required"
    assert rejected.loc[0, "reject_detail"] == column


def test_missing_required_column_absent_from_the_frame():
    frame = raw(GOOD).drop(columns=["region"])
    _, rejected = apply_cleaning_rules(frame, DAY)
    assert rejected[["reject_reason", "reject_detail"]].values.tolist() == [
        ["missing_required", "region"]
    ]


@pytest.mark.parametrize(
    "value",
    [
        "not-a-timestamp",
        "2024-13-45T10:00:00",
        "2024-02-30",
        "2024-03-01T25:00:00",
        "2024-03-01T10:00:00+24:00",
        "01/03/2024 10:00",
        "yesterday",
        "2024-03-01T10:00:00 UTC",
    ],
)
def test_unparseable_timestamp(value):
    assert rejection({"order_ts": value}) == ("unparseable_timestamp", f"order_ts={value}")


@pytest.mark.parametrize("value", ["2.5", "0", "-1", "two", "0.0", "NaN", "inf", "1e300"])
def test_invalid_quantity(value):
    assert rejection({"quantity": value}) == ("invalid_quantity", f"quantity={value}")


@pytest.mark.parametrize("value", ["2", "2.0", " 2 ", "2.000"])
def test_whole_quantities_are_valid(value):
    cleaned, _ = split({"quantity": value})
    assert cleaned["quantity"].tolist() == [2]
    assert cleaned["quantity"].dtype == "int64"


@pytest.mark.parametrize("value", ["-5.00", "abc", "NaN", "-0.01", "inf", "1,50"])
def test_invalid_unit_price(value):
    assert rejection({"unit_price": value}) == ("invalid_unit_price", f"unit_price={value}")


def test_zero_unit_price_is_valid():
    cleaned, _ = split({"unit_price": "0"})
    assert cleaned[["unit_price", "amount", "ticket_size"]].values.tolist() == [[0.0, 0.0, "low"]]


@pytest.mark.parametrize("value", ["1", "1.5", "-0.1", "ten%", "1.0"])
def test_invalid_discount(value):
    assert rejection({"discount": value}) == ("invalid_discount", f"discount={value}")


@pytest.mark.parametrize(("value", "kept"), [("0", 0.0), ("0.999", 0.999), ("0.25", 0.25)])
def test_discount_bounds(value, kept):
    cleaned, _ = split({"discount": value})
    assert cleaned["discount"].tolist() == [kept]


@pytest.mark.parametrize(
    ("order_ts", "shown_day"),
    [
        ("2024-02-29T23:59:59Z", "2024-02-29"),
        ("2024-03-02T00:00:00Z", "2024-03-02"),
        ("2024-03-01T23:30:00-02:00", "2024-03-02"),  # 01:30 UTC on the next day
        ("2024-03-01T00:30:00+01:00", "2024-02-29"),  # 23:30 UTC the day before
        ("2024-03-02", "2024-03-02"),
    ],
)
def test_wrong_partition_is_judged_in_utc(order_ts, shown_day):
    assert rejection({"order_ts": order_ts}) == ("wrong_partition", f"order_ts is on {shown_day}")


def test_duplicate_order_id_names_the_kept_copy():
    cleaned, rejected = split(GOOD, {"quantity": "3"})
    assert cleaned["quantity"].tolist() == [2]
    assert rejected[["reject_reason", "reject_detail", "source_row"]].values.tolist() == [
        ["duplicate_order_id", "first kept at a.csv:1", 2]
    ]


def test_every_reason_is_covered_by_these_tests():
    rows = [
        {"order_id": "r1", "product": ""},
        {"order_id": "r2", "order_ts": "soon"},
        {"order_id": "r3", "quantity": "2.5"},
        {"order_id": "r4", "unit_price": "-1"},
        {"order_id": "r5", "discount": "2"},
        {"order_id": "r6", "order_ts": "2024-03-05T10:00:00Z"},
        {"order_id": "r7"},
        {"order_id": "r7", "order_ts": "2024-03-01T11:00:00Z"},
    ]
    _, rejected = split(*rows)
    assert rejected["reject_reason"].tolist() == list(REJECT_REASONS)
    RejectedSales.validate(rejected)


# -- rule order: the first reason that fits --------------------------------------------------


@pytest.mark.parametrize(
    ("row", "reason", "detail"),
    [
        (
            {"product": "", "order_ts": "bad", "quantity": "0", "unit_price": "x", "discount": "5"},
            "missing_required",
            "product",
        ),
        (
            {"order_id": "", "region": ""},
            "missing_required",
            "order_id",
        ),  # first required column in contract order
        (
            {"order_ts": "bad", "quantity": "0", "unit_price": "x", "discount": "5"},
            "unparseable_timestamp",
            "order_ts=bad",
        ),
        (
            {"quantity": "0", "unit_price": "x", "discount": "5", "order_ts": "2024-01-01"},
            "invalid_quantity",
            "quantity=0",
        ),
        (
            {"unit_price": "x", "discount": "5", "order_ts": "2024-01-01"},
            "invalid_unit_price",
            "unit_price=x",
        ),
        ({"discount": "5", "order_ts": "2024-01-01"}, "invalid_discount", "discount=5"),
    ],
)
def test_a_row_gets_the_first_reason_that_fits(row, reason, detail):
    assert rejection(row) == (reason, detail)


def test_wrong_partition_comes_before_duplicate():
    cleaned, rejected = split(GOOD, {"order_ts": "2024-03-02T10:00:00Z"})
    assert len(cleaned) == 1
    assert rejected["reject_reason"].tolist() == ["wrong_partition"]


def test_a_rejected_copy_does_not_hold_the_order_id():
    """A later valid copy is kept when the earlier copy was rejected for another reason."""
    cleaned, rejected = split({"quantity": "0"}, {"order_ts": "2024-03-01T12:00:00Z"})
    assert cleaned["order_ts"].tolist() == [pd.Timestamp("2024-03-01T12:00:00Z")]
    assert rejected["reject_reason"].tolist() == ["invalid_quantity"]


def test_the_rule_table_follows_the_contract_order():
    """REJECT_RULES lists one function per reason, named after it, in REJECT_REASONS order."""
    assert [reason for reason, _ in REJECT_RULES] == list(REJECT_REASONS)
    assert [rule.__name__ for _, rule in REJECT_RULES] == list(REJECT_REASONS)


# One way to break each rule; a duplicate also needs an earlier valid copy of its order_id.
BREAKS = {
    "missing_required": {"product": ""},
    "unparseable_timestamp": {"order_ts": "soon"},
    "invalid_quantity": {"quantity": "0"},
    "invalid_unit_price": {"unit_price": "-1"},
    "invalid_discount": {"discount": "2"},
    "wrong_partition": {"order_ts": "2024-03-05T10:00:00Z"},
    "duplicate_order_id": {},
}
BOTH_BROKEN = [
    (first, later)
    for position, first in enumerate(REJECT_REASONS)
    for later in REJECT_REASONS[position + 1 :]
    if not BREAKS[first].keys() & BREAKS[later].keys()  # both rules judge order_ts: skip
]


@pytest.mark.parametrize(("first", "later"), BOTH_BROKEN)
def test_a_row_breaking_two_rules_gets_the_earlier_in_contract_order(first, later):
    row = {**BREAKS[first], **BREAKS[later]}
    earlier_copy = {"order_ts": "2024-03-01T09:00:00Z"}  # GOOD's order_id, one hour earlier
    rows = [earlier_copy, row] if later == "duplicate_order_id" else [row]
    cleaned, rejected = split(*rows)
    assert rejected["reject_reason"].tolist() == [first]
    assert len(cleaned) == len(rows) - 1


# -- duplicate tie-break -----------------------------------------------------------------------


def test_earliest_order_ts_wins_even_when_it_comes_later():
    cleaned, rejected = split(
        {"order_ts": "2024-03-01T18:00:00Z", "quantity": "1"},
        {"order_ts": "2024-03-01T09:00:00Z", "quantity": "2"},
        {"order_ts": "2024-03-01T12:00:00Z", "quantity": "3"},
    )
    assert cleaned["quantity"].tolist() == [2]
    assert sorted(rejected["source_row"].tolist()) == [1, 3]
    assert set(rejected["reject_detail"]) == {"first kept at a.csv:2"}


def test_earliest_is_compared_in_utc_not_as_written():
    # 10:00+02:00 is 08:00 UTC: earlier than 09:00Z although it reads later.
    cleaned, _ = split(
        {"order_ts": "2024-03-01T09:00:00Z", "quantity": "1"},
        {"order_ts": "2024-03-01T10:00:00+02:00", "quantity": "2"},
    )
    assert cleaned["quantity"].tolist() == [2]


def test_ties_go_to_the_earlier_file_then_the_earlier_row():
    cleaned, rejected = split(
        {"quantity": "1"},
        {"quantity": "2"},
        {"quantity": "3"},
        {"quantity": "4"},
        files=["2024-03-01/a.csv", "2024-03-01/a.csv", "2024-03-01/b.csv", "2024-03-01/b.csv"],
    )
    assert cleaned["quantity"].tolist() == [1]
    assert rejected["reject_detail"].tolist() == ["first kept at 2024-03-01/a.csv:1"] * 3


def test_ties_follow_file_and_row_even_when_the_frame_is_shuffled():
    """The warehouse returns raw rows in no promised order: the tie-break must not rely on it."""
    frame = raw(
        {"quantity": "1"},
        {"quantity": "2"},
        {"quantity": "3"},
        files=["2024-03-01/a.csv", "2024-03-01/a.csv", "2024-03-01/b.csv"],
    )
    shuffled = frame.iloc[[2, 1, 0]].reset_index(drop=True)
    cleaned, rejected = apply_cleaning_rules(shuffled, DAY)
    assert cleaned["quantity"].tolist() == [1]
    assert sorted(rejected["reject_detail"].tolist()) == ["first kept at 2024-03-01/a.csv:1"] * 2


def test_earliest_order_per_id_maps_each_losing_row_to_the_row_that_keeps_its_id():
    orders = pd.DataFrame(
        {
            "order_id": ["A", "B", "A", "A", "B", "C"],
            "order_ts": pd.to_datetime(
                ["10:00", "08:00", "09:00", "09:00", "08:00", "07:00"], format="%H:%M", utc=True
            ),
            "source_file": ["b.csv", "b.csv", "b.csv", "a.csv", "a.csv", "a.csv"],
            "source_row": [1, 2, 3, 9, 1, 4],
        },
        index=[10, 11, 12, 13, 14, 15],  # the day's row positions, not 0..n
    ).astype({"order_id": STRING, "source_file": STRING})
    kept_at = earliest_order_per_id(orders)
    # A: 09:00 twice, a.csv (13) before b.csv (12); B: 08:00 twice, a.csv:1 (14) first; C alone.
    assert kept_at.to_dict() == {10: 13, 11: 14, 12: 13}


# -- timestamps ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2024-03-01T10:00:00Z", "2024-03-01T10:00:00"),
        ("2024-03-01 10:00:00", "2024-03-01T10:00:00"),
        ("2024-03-01T10:00", "2024-03-01T10:00:00"),
        ("2024-03-01T10:00:00.250Z", "2024-03-01T10:00:00.250"),
        ("2024-03-01T10:00:00.123456+00:00", "2024-03-01T10:00:00.123456"),
        ("2024-03-01", "2024-03-01T00:00:00"),
        ("2024-03-02T01:30:00+02:00", "2024-03-01T23:30:00"),
        ("2024-02-29T22:30:00-05:30", "2024-03-01T04:00:00"),
        ("2024-03-01T12:00:00+0530", "2024-03-01T06:30:00"),
    ],
)
def test_timestamps_are_converted_to_utc(text, utc):
    cleaned, _ = split({"order_ts": text})
    assert cleaned["order_ts"].tolist() == [pd.Timestamp(utc, tz="UTC")]
    assert cleaned["order_date"].astype(str).tolist() == ["2024-03-01"]


def test_offsets_that_move_a_row_to_another_day():
    # 2024-03-02T01:30+02:00 is 2024-03-01 23:30 UTC; 2024-03-01T23:30-02:00 is 2024-03-02 01:30 UTC.
    rows = [
        {"order_id": "x", "order_ts": "2024-03-02T01:30:00+02:00"},
        {"order_id": "y", "order_ts": "2024-03-01T23:30:00-02:00"},
    ]
    first, first_rejected = split(*rows, day=date(2024, 3, 1))
    second, second_rejected = split(*rows, day=date(2024, 3, 2))
    assert first["order_id"].tolist() == ["x"] and first_rejected["order_id"].tolist() == ["y"]
    assert second["order_id"].tolist() == ["y"] and second_rejected["order_id"].tolist() == ["x"]
    assert second["order_date"].astype(str).tolist() == ["2024-03-02"]


def test_naive_and_offset_timestamps_mixed_in_one_column():
    """No row's offset may leak into the naive rows around it (pandas' mixed-offset trap)."""
    texts = [
        "2024-03-01T10:00:00+05:00",
        "2024-03-01T10:00:00",
        "2024-03-01 11:00:00",
        "2024-03-01T10:00:00-03:00",
        "2024-03-01T12:00:00",
        "2024-03-01T12:00:00Z",
        "2024-03-01T13:00:00.5",
    ]
    expected = [
        "05:00:00",
        "10:00:00",
        "11:00:00",
        "13:00:00",
        "12:00:00",
        "12:00:00",
        "13:00:00.500000",
    ]
    rows = [{"order_id": f"o{i}", "order_ts": t} for i, t in enumerate(texts)]
    cleaned, rejected = split(*rows)
    assert rejected.empty
    assert (
        cleaned["order_ts"].dt.strftime("%H:%M:%S.%f").str.replace(".000000", "").tolist()
        == expected
    )
    assert str(cleaned["order_ts"].dt.tz) == "UTC"


# -- defaults, derived columns ---------------------------------------------------------------


def test_v1_rows_get_the_v2_defaults():
    cleaned, _ = split(GOOD)  # no channel, no discount column at all
    assert cleaned[["channel", "discount"]].values.tolist() == [["unknown", 0.0]]


def test_empty_v2_values_get_the_defaults():
    cleaned, _ = split(
        {"order_id": "a", "channel": "", "discount": ""},
        {"order_id": "b", "channel": "app", "discount": "0.1"},
        {"order_id": "c", "channel": "  ", "discount": " "},
    )
    assert cleaned[["order_id", "channel", "discount"]].values.tolist() == [
        ["a", "unknown", 0.0],
        ["b", "app", 0.1],
        ["c", "unknown", 0.0],
    ]


def test_empty_customer_id_is_null():
    cleaned, _ = split({"order_id": "a", "customer_id": ""}, {"order_id": "b", "customer_id": None})
    assert cleaned["customer_id"].isna().tolist() == [True, True]


@pytest.mark.parametrize(
    ("quantity", "unit_price", "discount", "amount"),
    [
        ("3", "19.99", "0.1", 53.97),  # 53.973
        ("1", "10.005", "0", 10.01),  # 10.005 is stored as 10.00500000000000078
        ("7", "0.333", "0", 2.33),  # 2.331
        ("2", "49.995", "0.2", 79.99),  # 79.992
        ("1", "100", "0.5", 50.0),
    ],
)
def test_amount_is_rounded_to_cents(quantity, unit_price, discount, amount):
    cleaned, _ = split({"quantity": quantity, "unit_price": unit_price, "discount": discount})
    assert cleaned["amount"].tolist() == [amount]


@pytest.mark.parametrize(
    ("unit_price", "ticket"),
    [
        ("100", "low"),
        ("100.01", "medium"),
        ("500", "medium"),
        ("500.01", "high"),
        ("1000", "high"),
        ("1000.01", "very_high"),
        ("0.01", "low"),
        ("99999", "very_high"),
    ],
)
def test_ticket_size_edges(unit_price, ticket):
    cleaned, _ = split({"quantity": "1", "unit_price": unit_price})
    assert cleaned["ticket_size"].tolist() == [ticket]


def test_ticket_size_is_banded_on_the_rounded_amount():
    # 3 x 33.335 = 100.005 -> amount 100.0 (rounded) -> low
    cleaned, _ = split({"quantity": "3", "unit_price": "33.335"})
    assert cleaned[["amount", "ticket_size"]].values.tolist() == [[100.0, "low"]]


def test_cleaned_frame_satisfies_its_contract():
    cleaned, _ = split(
        {"order_id": "a", "channel": "web", "discount": "0.2"},
        {"order_id": "b", "order_ts": "2024-03-01T23:59:59.999999Z", "customer_id": ""},
    )
    CleanedSales.validate(cleaned)
    assert list(cleaned.columns) == list(CleanedSales.to_schema().columns)


def test_rejected_rows_keep_values_as_received():
    _, rejected = split({"quantity": " 2.5 ", "unit_price": "10.00"})
    assert rejected[["quantity", "unit_price", "source_file", "source_row"]].values.tolist() == [
        [" 2.5 ", "10.00", "a.csv", 1]
    ]
    assert rejected["partition_date"].astype(str).tolist() == ["2024-03-01"]


def test_empty_day():
    cleaned, rejected = apply_cleaning_rules(raw(GOOD).iloc[:0], DAY)
    assert cleaned.empty and rejected.empty
    CleanedSales.validate(cleaned)
    metrics = daily_metrics(cleaned)
    assert metrics.empty
    SalesMetrics.validate(metrics)


# -- metrics ------------------------------------------------------------------------------------


def test_metrics():
    cleaned, _ = split(
        {
            "order_id": "1",
            "product": "laptop",
            "region": "north",
            "quantity": "1",
            "unit_price": "10.005",
            "customer_id": "C1",
        },
        {
            "order_id": "2",
            "product": "laptop",
            "region": "north",
            "quantity": "2",
            "unit_price": "5.10",
            "customer_id": "C1",
        },
        {
            "order_id": "3",
            "product": "laptop",
            "region": "north",
            "quantity": "1",
            "unit_price": "0.333",
            "customer_id": "",
        },
        {
            "order_id": "4",
            "product": "laptop",
            "region": "north",
            "quantity": "3",
            "unit_price": "1",
            "customer_id": "C2",
        },
        {
            "order_id": "5",
            "product": "laptop",
            "region": "south",
            "quantity": "1",
            "unit_price": "7",
            "customer_id": None,
        },
        {
            "order_id": "6",
            "product": "phone",
            "region": "north",
            "quantity": "4",
            "unit_price": "2.5",
            "discount": "0.5",
            "customer_id": "C9",
        },
    )
    metrics = daily_metrics(cleaned)
    SalesMetrics.validate(metrics)
    assert list(metrics.columns) == [
        "order_date",
        "product",
        "region",
        "orders",
        "units",
        "revenue",
        "avg_order_value",
        "customers",
    ]
    rows = metrics.assign(order_date=metrics["order_date"].astype(str)).values.tolist()
    # laptop/north: amounts 10.01 + 10.20 + 0.33 + 3.00 = 23.54 over 4 orders = 5.885 -> 5.88 or 5.89
    assert rows[0][:6] == ["2024-03-01", "laptop", "north", 4, 7, 23.54]
    assert rows[0][6] == pytest.approx(5.885, abs=0.0051) and round(rows[0][6], 2) == rows[0][6]
    assert rows[0][7] == 2  # C1 twice, an empty one: distinct non-empty
    assert rows[1] == ["2024-03-01", "laptop", "south", 1, 1, 7.0, 7.0, 0]
    assert rows[2] == ["2024-03-01", "phone", "north", 1, 4, 5.0, 5.0, 1]


def test_metrics_revenue_has_two_decimals_and_reconciles():
    rows = [{"order_id": str(i), "quantity": "1", "unit_price": "0.1"} for i in range(10)]
    cleaned, _ = split(*rows)
    metrics = daily_metrics(cleaned)
    assert metrics["revenue"].tolist() == [1.0]
    assert metrics["avg_order_value"].tolist() == [0.1]


# -- the synthetic source ------------------------------------------------------------------------


def test_synthetic_day_is_deterministic_and_has_every_reason():
    first = synthetic_day(DAY, 5000)
    again = synthetic_day(DAY, 5000)
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(synthetic_day(date(2024, 3, 2), 5000))
    cleaned, rejected = apply_cleaning_rules(first, DAY)
    assert len(first) == 5000 == len(cleaned) + len(rejected)
    assert set(rejected["reject_reason"]) == set(REJECT_REASONS)
    assert 0.01 <= len(rejected) / len(first) <= 0.02  # "about 1-2 % in total"
    CleanedSales.validate(cleaned)
    assert set(cleaned["channel"]) <= {"web", "app", "store", "marketplace"}
    assert cleaned["customer_id"].isna().any()  # some orders come without a customer


@pytest.mark.parametrize("rows", [0, 1, 2, 3, 7])
def test_synthetic_small_days(rows):
    """SALES_SYNTHETIC_ROWS accepts any whole number >= 0, including an empty day."""
    raw = synthetic_day(DAY, rows)
    cleaned, rejected = apply_cleaning_rules(raw, DAY)
    assert len(raw) == rows == len(cleaned) + len(rejected)
    assert daily_metrics(cleaned)["orders"].sum() == len(cleaned)
