"""The optimized transforms give exactly the rows of a straightforward statement of the rules.

The reference is `benchmarks/baseline.py` (plain pandas: `str.extract`, `to_datetime`,
`to_numeric`, `sort_values` + `duplicated`, `groupby`), which the benchmark also runs. Every
fast path of the project's rules (arrow regexes and casts in `parsing.py`, the numeric
duplicate search in `reject_rules.py`, details built only for rejected rows) must agree with
it row for row on mixed, hostile data.
"""

from __future__ import annotations

import random
from datetime import date

import numpy as np
import pandas as pd
import pytest

from benchmarks import baseline
from sales_assets import transforms
from sales_assets.contracts import STRING
from sales_assets.sources import with_lineage
from sales_assets.sources.synthetic import generate_orders

DAY = date(2024, 3, 1)

TIMESTAMPS = [
    "2024-03-01",
    "2024-03-01T10:00",
    "2024-03-01 10:00:00",
    "2024-03-01T10:00:00.5Z",
    "2024-03-01T10:00:00.123456789Z",
    "2024-03-01T23:59:59.9999999Z",
    "2024-03-01T01:00:00+02:00",
    "2024-03-01T22:00:00-0530",
    "2024-03-01T10:00:00+24:00",
    "2024-03-01T10:00:00+23:60",
    "2024-03-01T10:00:00+00:00",
    "2024-03-01T10:00:00-00:00",
    "2024-03-01T10:00:00z",
    "2024-03-01T10:00-01:00",
    "2024-03-02T01:30:00+02:00",
    "2024-02-29T23:30:00Z",
    "2024-02-29T23:30:00-01:00",
    "2024-02-30T00:00:00",
    "2024-13-01",
    "2024-03-01T24:00:00",
    "2024-03-01T23:59:60",
    "2024-03-01T10",
    "20240301",
    "2024-03-01T10:00:00+02",
    "2024-03-01Z",
    "2024-03-01T10:00:00.Z",
    " 2024-03-01T12:00:00Z ",
    "yesterday",
    "9999-12-31",
    "0001-01-01T00:00:00Z",
    "",
    "   ",
]
NUMBERS = [
    "1",
    "2",
    "2.0",
    "2.5",
    "3.",
    ".5",
    "0",
    "-0",
    "-0.0",
    "+4",
    "-1",
    "1e3",
    "1E-2",
    "0x10",
    "1_000",
    "1,000",
    "inf",
    "-inf",
    "Infinity",
    "nan",
    "NaN",
    "abc",
    "",
    " 7 ",
    "\t7\n",
    "00012",
    "123456789",
    "1234567890",
    "12345678901234567890",
    "999999999.999999",
    "0.1234567",
    "3.14159265358979323846",
    "1e400",
    "9007199254740993",
    "٣",
    "１",
    "12.30",
    "0.05",
    "0.999999",
    "1.0000001",
]
TEXT = ["", " ", "a", " b ", "laptop", "phone", "north", "ümlaut", "C1", "C2", "  C1  ", "web"]


def reference(raw: pd.DataFrame, day: date = DAY):
    cleaned, rejected = baseline.clean(raw, day)
    return cleaned, rejected, baseline.metrics(cleaned)


def project(raw: pd.DataFrame, day: date = DAY):
    cleaned, rejected = transforms.apply_cleaning_rules(raw, day)
    return cleaned, rejected, transforms.daily_metrics(cleaned)


def assert_same_rows(expected: pd.DataFrame, actual: pd.DataFrame) -> None:
    """Same columns, same rows in the same order, same values (text compared as text)."""
    assert list(expected.columns) == list(actual.columns)
    cast = {c: actual[c].dtype for c in actual.columns}
    pd.testing.assert_frame_equal(expected.astype(cast), actual, check_dtype=True, check_exact=True)


def assert_equivalent(raw: pd.DataFrame, day: date = DAY) -> None:
    expected, actual = reference(raw, day), project(raw, day)
    for name, want, got in zip(("cleaned", "rejected", "metrics"), expected, actual):
        assert len(want) == len(got), name
        assert_same_rows(want, got)


def hostile_day(rows: int, seed: int) -> pd.DataFrame:
    """Rows drawn from good and bad values of every column, in three files, shuffled."""
    rng = random.Random(seed)
    ids = [f"O{rng.randrange(rows // 2)}" for _ in range(rows)]
    good_ts = [
        f"2024-03-01T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z"
        for _ in range(rows)
    ]
    frame = pd.DataFrame(
        {
            "order_id": [rng.choice(["", " ", i, i]) if rng.random() < 0.05 else i for i in ids],
            "order_ts": [rng.choice(TIMESTAMPS) if rng.random() < 0.3 else t for t in good_ts],
            "product": [rng.choice(TEXT) for _ in range(rows)],
            "region": [rng.choice(TEXT[1:]) for _ in range(rows)],
            "quantity": [
                rng.choice(NUMBERS) if rng.random() < 0.3 else str(rng.randint(1, 9))
                for _ in range(rows)
            ],
            "unit_price": [
                rng.choice(NUMBERS)
                if rng.random() < 0.3
                else f"{rng.uniform(0, 2000):.{rng.randint(0, 4)}f}"
                for _ in range(rows)
            ],
            "customer_id": [rng.choice(TEXT) for _ in range(rows)],
            "channel": [rng.choice(TEXT) for _ in range(rows)],
            "discount": [rng.choice(NUMBERS + ["0.1", "0.2", ""]) for _ in range(rows)],
        }
    )
    files = np.array([f"{DAY}/part-{rng.choice('abc')}.csv" for _ in range(rows)])
    raw = with_lineage(frame, DAY, pd.Series(files), np.zeros(rows, dtype="int64"))
    raw["source_row"] = raw.groupby("source_file").cumcount().to_numpy() + 1
    return raw.sample(frac=1, random_state=seed).reset_index(
        drop=True
    )  # the warehouse promises no order


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hostile_rows_match_the_reference(seed):
    raw = hostile_day(4000, seed)
    cleaned, rejected, _ = project(raw)
    assert (
        len(cleaned) > 100 and rejected["reject_reason"].nunique() == 7
    )  # every rule is exercised
    assert_equivalent(raw)


def test_every_edge_value_alone_matches_the_reference():
    """Each edge timestamp and number in its own row, so none hides behind another rule."""
    rows = []
    for ts in TIMESTAMPS:
        rows.append({"order_ts": ts, "quantity": "1", "unit_price": "1"})
    for value in NUMBERS:
        rows.append({"order_ts": "2024-03-01T10:00:00Z", "quantity": value, "unit_price": "1"})
        rows.append({"order_ts": "2024-03-01T10:00:00Z", "quantity": "1", "unit_price": value})
        rows.append(
            {
                "order_ts": "2024-03-01T10:00:00Z",
                "quantity": "1",
                "unit_price": "1",
                "discount": value,
            }
        )
    frame = pd.DataFrame(rows).fillna("")
    frame.insert(0, "order_id", [f"E{i}" for i in range(len(frame))])
    frame["product"], frame["region"] = "p", "r"
    raw = with_lineage(frame, DAY, f"{DAY}/edges.csv", np.arange(1, len(frame) + 1))
    assert_equivalent(raw)


def test_duplicates_tie_on_timestamp_then_file_then_row():
    frame = pd.DataFrame(
        {
            "order_id": ["A", "A", "A", "B", "B", "C"],
            "order_ts": [
                "2024-03-01T10:00:00Z",
                "2024-03-01T12:00:00+02:00",
                "2024-03-01T09:00:00Z",
            ]
            + ["2024-03-01T05:00:00Z"] * 3,
            "product": "p",
            "region": "r",
            "quantity": "1",
            "unit_price": "2.5",
        }
    )
    raw = with_lineage(
        frame,
        DAY,
        pd.Series(["b.csv", "a.csv", "c.csv", "b.csv", "a.csv", "a.csv"]),
        [1, 1, 1, 2, 2, 3],
    )
    assert_equivalent(raw.iloc[::-1].reset_index(drop=True))
    _, rejected, _ = project(raw)  # A: 09:00Z in c.csv wins; B: a tie at 05:00, a.csv before b.csv
    assert sorted(rejected["reject_detail"].tolist()) == [
        "first kept at a.csv:2",
        "first kept at c.csv:1",
        "first kept at c.csv:1",
    ]


def test_schema_v1_without_optional_columns_matches_the_reference():
    frame = generate_orders(DAY, 2000).drop(columns=["channel", "discount", "customer_id"])
    assert_equivalent(with_lineage(frame, DAY, f"{DAY}/v1.csv", np.arange(1, 2001)))


def test_a_synthetic_day_matches_the_reference():
    assert_equivalent(
        with_lineage(generate_orders(DAY, 50_000), DAY, f"{DAY}/orders.csv", np.arange(1, 50_001))
    )


def test_empty_day_matches_the_reference():
    frame = pd.DataFrame({c: pd.Series(dtype=STRING) for c in baseline.SOURCE})
    cleaned, rejected, metrics = project(with_lineage(frame, DAY, "", []))
    assert len(cleaned) == len(rejected) == len(metrics) == 0


def test_in_memory_handoff_never_crosses_runs(pipeline):
    """A frame kept for the next step of one run is never served to another run."""
    import duckdb
    from dagster import materialize

    from sales_assets.definitions import build_resources
    from sales_assets_tests.conftest import ASSETS

    day = "2024-03-01"
    pipeline.configure(synthetic_rows=2000)
    resources = build_resources(pipeline.settings)
    first = materialize(
        ASSETS,
        partition_key=day,
        resources=resources,
        instance=pipeline.instance,
        selection=["raw_sales", "cleaned_sales", "rejected_sales"],
    )
    assert first.success  # cleaned_sales is now held for a sales_metrics step that never came
    with duckdb.connect(str(pipeline.settings.warehouse)) as connection:
        connection.execute(
            "UPDATE sales.cleaned_sales SET quantity = quantity + 1 WHERE order_date = ?", [day]
        )
    second = materialize(
        ASSETS,
        partition_key=day,
        resources=resources,
        instance=pipeline.instance,
        selection=["sales_metrics"],
    )
    assert second.success
    units = pipeline.query(
        "SELECT sum(units) FROM sales.sales_metrics WHERE order_date = ?", [day]
    ).iloc[0, 0]
    stored = pipeline.query(
        "SELECT sum(quantity) FROM sales.cleaned_sales WHERE order_date = ?", [day]
    ).iloc[0, 0]
    assert units == stored  # read from the warehouse as it is now, not the first run's frame
