"""Awkward but valid landing files parse exactly: BOM, CRLF, quoted newlines and
delimiters, file names with spaces or unicode, gzip; on a local folder and on S3."""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from sales_assets.sources.landing import landing_day

from .landing_zones import Zone

DAY = date(2024, 3, 1)
HEADER = "order_id,order_ts,product,region,quantity,unit_price,customer_id"
ROWS = [
    # quoted delimiter and quote, quoted newline, unicode, padded value
    ("o1", "2024-03-01T10:00:00Z", 'Laptop, 15" screen', "north", "2", "10.50", "C1"),
    ("o2", "2024-03-01 11:00:00+01:00", "two\nline product", "Zürich", "1", "3", ""),
    ("o3", "2024-03-01T23:59:59.5Z", "東京 ☃ café", " south ", "3.0", "0", "C2"),
]


def _csv(rows, newline: str) -> str:
    def field(value: str) -> str:
        if any(ch in value for ch in ',"\n\r'):
            return '"' + value.replace('"', '""').replace("\n", newline) + '"'
        return value

    return newline.join([HEADER, *(",".join(field(v) for v in row) for row in rows)]) + newline


def _day(tmp_path: Path) -> Path:
    folder = tmp_path / "landing" / DAY.isoformat()
    folder.mkdir(parents=True)
    return folder


def _expected(newline: str) -> list[tuple]:
    return [tuple(v.replace("\n", newline) for v in row) for row in ROWS]


def _rows(raw: pd.DataFrame, file: str) -> list[tuple]:
    part = raw[raw["source_file"] == file].sort_values("source_row")
    columns = ["order_id", "order_ts", "product", "region", "quantity", "unit_price", "customer_id"]
    return [tuple(r) for r in part[columns].itertuples(index=False)]


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["LF", "CRLF"])
@pytest.mark.parametrize("bom", [False, True], ids=["plain", "BOM"])
@pytest.mark.parametrize(
    "name",
    [
        "orders.csv",
        "orders with spaces.csv",
        "ventes-été ☃.csv",
        "orders.csv.gz",
        "ünï cødé.csv.gz",
    ],
)
def test_awkward_csv_parses_exactly(zone: Zone, name, bom, newline):
    data = (b"\xef\xbb\xbf" if bom else b"") + _csv(ROWS, newline).encode("utf-8")
    zone.put(f"{DAY}/{name}", gzip.compress(data) if name.endswith(".gz") else data)

    raw = landing_day(zone.location, DAY)

    assert list(raw.columns[:7]) == HEADER.split(",")  # the BOM is not part of `order_id`
    assert _rows(raw, f"{DAY}/{name}") == _expected(newline)
    assert raw["source_row"].tolist() == [1, 2, 3]


def test_awkward_files_run_end_to_end(pipeline, tmp_path):
    """A day made only of awkward files loads, and cleaned values are the received ones."""
    folder = _day(tmp_path)
    (folder / "a b ☃.csv").write_bytes(b"\xef\xbb\xbf" + _csv(ROWS[:2], "\r\n").encode())
    renamed = [("o9", *row[1:]) for row in ROWS[2:]]
    (folder / "zürich.csv.gz").write_bytes(gzip.compress(_csv(renamed, "\n").encode()))
    pipeline.configure(landing_dir=tmp_path / "landing")

    assert pipeline.run(DAY.isoformat()).success

    cleaned = pipeline.query(
        "SELECT order_id, product, region, quantity FROM sales.cleaned_sales ORDER BY order_id"
    )
    assert cleaned.values.tolist() == [
        ["o1", 'Laptop, 15" screen', "north", 2],
        ["o2", "two\r\nline product", "Zürich", 1],
        ["o9", "東京 ☃ café", "south", 3],
    ]
    files = pipeline.query("SELECT DISTINCT source_file FROM sales.raw_sales ORDER BY 1")[
        "source_file"
    ].tolist()
    assert files == [f"{DAY}/a b ☃.csv", f"{DAY}/zürich.csv.gz"]
    assert pipeline.count("rejected_sales", DAY.isoformat()) == 0
