"""The hand-written alternative: a plain pandas + DuckDB script a cron job would run.

For each day it reads the day's landing files, applies the contract's cleaning rules and
metrics with plain, straightforward pandas (arrow-backed strings, vectorized), and replaces
the day in the four DuckDB tables in one transaction. No Dagster, no checks, no metadata.

It deliberately imports nothing from `sales_assets`: it is an independent statement of the
rules, which the benchmark compares with the project's tables and which
`sales_assets_tests/test_equivalence.py` uses as the reference implementation.

    python -m benchmarks.baseline --landing DIR --warehouse FILE START [END]
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

TEXT = pd.ArrowDtype(pa.string())
REQUIRED = ["order_id", "order_ts", "product", "region", "quantity", "unit_price"]
SOURCE = REQUIRED + ["customer_id", "channel", "discount"]
REASONS = [
    "missing_required",
    "unparseable_timestamp",
    "invalid_quantity",
    "invalid_unit_price",
    "invalid_discount",
    "wrong_partition",
    "duplicate_order_id",
]
ISO_TS = (
    r"^(?P<day>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?))?"
    r"(?P<tz>Z|z|[+-]\d{2}:?\d{2})?$"
)
MAX_QUANTITY = 2**53  # whole numbers above this are not exact in a float64


# ---------------------------------------------------------------------------------- read
def read_file(path: Path) -> pd.DataFrame:
    """One landing file, every column as text exactly as written."""
    if path.name.endswith(".parquet"):
        table = pq.read_table(path)
        table = pa.table({n: table.column(n).cast(pa.string()) for n in table.column_names})
    else:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(io.StringIO(handle.readline())))
        table = pacsv.read_csv(
            path,
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    return table.to_pandas(types_mapper=lambda _: TEXT)


def read_day(landing: Path, day: date) -> pd.DataFrame:
    frames = []
    for path in sorted((landing / day.isoformat()).iterdir()):
        if path.name.startswith((".", "_")):
            continue
        frame = read_file(path)
        frame["partition_date"] = pd.Series(
            day, index=frame.index, dtype=pd.ArrowDtype(pa.date32())
        )
        frame["source_file"] = pd.Series(
            f"{day.isoformat()}/{path.name}", index=frame.index, dtype=TEXT
        )
        frame["source_row"] = np.arange(1, len(frame) + 1, dtype="int64")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------------- rules
def text(raw: pd.DataFrame, column: str) -> pd.Series:
    """Stripped text; absent columns and empty values are NA."""
    if column not in raw.columns:
        return pd.Series(pd.NA, index=raw.index, dtype=TEXT)
    values = raw[column].astype(TEXT).str.strip()
    return values.mask(values == "")


def parse_ts(values: pd.Series) -> pd.Series:
    """ISO-8601 text -> UTC; a naive value is UTC, an offset is subtracted per row."""
    parts = values.str.extract(ISO_TS).replace("", pd.NA)
    naive = pd.to_datetime(
        parts["day"] + "T" + parts["time"].fillna("00:00"), format="ISO8601", errors="coerce"
    )
    tz = parts["tz"].str.replace(":", "")
    has_offset = tz.notna() & ~tz.isin(["Z", "z"])
    hours = pd.to_numeric(tz.str.slice(1, 3).where(has_offset), errors="coerce")
    minutes = pd.to_numeric(tz.str.slice(3, 5).where(has_offset), errors="coerce")
    sign = np.where(tz.str.startswith("-").fillna(False), -1, 1)
    offset = (sign * (hours * 60 + minutes)).fillna(0).astype("float64")
    bad = has_offset & ((hours > 23) | (minutes > 59)).fillna(True)
    utc = (naive - pd.to_timedelta(offset.to_numpy(), unit="min")).mask(bad.to_numpy(dtype=bool))
    return utc.dt.tz_localize("UTC").astype("datetime64[us, UTC]")


def number(values: pd.Series) -> pd.Series:
    """Text -> float64, NaN where not a number; exact like float() (to_numeric can be ulps off)."""
    text = values.astype(object)
    numeric = pd.to_numeric(text, errors="coerce").astype("float64")
    ok = numeric.notna() & ~numeric.abs().eq(float("inf"))
    numeric[ok] = text[ok].astype(float)
    return numeric


def clean(raw: pd.DataFrame, day: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cleaned, rejected): each raw row gets the first reject reason that fits, or is kept."""
    raw = raw.reset_index(drop=True)
    v = pd.DataFrame({c: text(raw, c) for c in SOURCE})
    reason = pd.Series(pd.NA, index=raw.index, dtype=object)
    detail = pd.Series(pd.NA, index=raw.index, dtype=object)

    def reject(code, failed, why):
        hit = reason.isna() & pd.Series(failed, index=raw.index).fillna(True).astype(bool)
        reason[hit] = code
        if hit.any():
            detail[hit] = why if isinstance(why, str) else why(hit).astype(str)

    for column in REQUIRED:
        reject("missing_required", v[column].isna(), column)
    ts = parse_ts(v["order_ts"])
    shown = lambda column: lambda hit: column + "=" + v[column][hit]  # noqa: E731
    reject("unparseable_timestamp", ts.isna(), shown("order_ts"))
    quantity = number(v["quantity"])
    reject(
        "invalid_quantity",
        ~((quantity > 0) & (quantity <= MAX_QUANTITY) & (quantity % 1 == 0)),
        shown("quantity"),
    )
    price = number(v["unit_price"])
    reject(
        "invalid_unit_price", ~((price >= 0) & np.isfinite(price * quantity)), shown("unit_price")
    )
    discount = number(v["discount"]).where(v["discount"].notna(), 0.0)
    reject("invalid_discount", ~((discount >= 0) & (discount < 1)), shown("discount"))
    start = pd.Timestamp(day, tz="UTC")
    reject(
        "wrong_partition",
        (ts < start) | (ts >= start + pd.Timedelta(days=1)),
        lambda hit: "order_ts is on " + ts[hit].dt.strftime("%Y-%m-%d"),
    )

    # Duplicates: among rows still valid the earliest order_ts keeps the id; ties by file, then row.
    keyed = pd.DataFrame(
        {"order_id": v["order_id"], "ts": ts, "file": raw["source_file"], "row": raw["source_row"]}
    )
    ranked = keyed[reason.isna()].sort_values(["ts", "file", "row"], kind="stable")
    later = ranked.duplicated("order_id", keep="first")
    first = ranked[~later]
    where = pd.Series(
        (first["file"].astype(str) + ":" + first["row"].astype(str)).to_numpy(),
        index=first["order_id"].to_numpy(),
    )
    dup = pd.Series(False, index=raw.index)
    dup[ranked.index[later.to_numpy()]] = True
    reject("duplicate_order_id", dup, lambda hit: "first kept at " + v["order_id"][hit].map(where))

    ok = reason.isna().to_numpy()
    amount = (quantity * price * (1 - discount)).round(2)
    cleaned = pd.DataFrame(
        {
            "order_id": v["order_id"],
            "order_ts": ts,
            "order_date": pd.Series(
                pa.array(ts.dt.tz_localize(None).to_numpy().astype("datetime64[D]"), pa.date32()),
                dtype=pd.ArrowDtype(pa.date32()),
            ),
            "customer_id": v["customer_id"],
            "product": v["product"],
            "region": v["region"],
            "channel": v["channel"].fillna("unknown"),
            "quantity": quantity.where(ok, 0).astype("int64"),
            "unit_price": price,
            "discount": discount,
            "amount": amount,
            "ticket_size": pd.cut(
                amount,
                [-np.inf, 100, 500, 1000, np.inf],
                labels=["low", "medium", "high", "very_high"],
            )
            .astype(str)
            .astype(TEXT),
        }
    )[ok].reset_index(drop=True)
    rejected = pd.DataFrame(
        {
            c: raw[c].astype(TEXT) if c in raw else pd.Series(pd.NA, index=raw.index, dtype=TEXT)
            for c in SOURCE
        }
    )
    rejected["reject_reason"] = reason.astype(TEXT)
    rejected["reject_detail"] = detail.astype(TEXT)
    rejected["partition_date"] = pd.Series(day, index=raw.index, dtype=pd.ArrowDtype(pa.date32()))
    rejected["source_file"] = raw["source_file"].astype(TEXT)
    rejected["source_row"] = raw["source_row"].astype("int64")
    return cleaned, rejected[~ok].reset_index(drop=True)


def metrics(cleaned: pd.DataFrame) -> pd.DataFrame:
    """One row per order_date x product x region."""
    out = (
        cleaned.groupby(["order_date", "product", "region"], sort=True, observed=True)
        .agg(
            orders=("order_id", "size"),
            units=("quantity", "sum"),
            revenue=("amount", "sum"),
            customers=("customer_id", "nunique"),
        )
        .reset_index()
    )
    out["orders"] = out["orders"].astype(
        "int64"
    )  # a size over arrow keys is arrow-typed, and arrow rounds differently
    out["revenue"] = out["revenue"].round(2)
    out["avg_order_value"] = (out["revenue"] / out["orders"]).round(2)
    return out[
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


# --------------------------------------------------------------------------------- write
TABLES = {
    "raw_sales": "partition_date",
    "cleaned_sales": "order_date",
    "rejected_sales": "partition_date",
    "sales_metrics": "order_date",
}


def replace_day(connection, day: date, frames: dict[str, pd.DataFrame]) -> None:
    """Delete the day and insert its new rows in every table, in one transaction."""
    connection.execute("BEGIN TRANSACTION")
    try:
        connection.execute("CREATE SCHEMA IF NOT EXISTS sales")
        for table, frame in frames.items():
            connection.register("frame", frame)
            connection.execute(
                f"CREATE TABLE IF NOT EXISTS sales.{table} AS SELECT * FROM frame LIMIT 0"
            )
            connection.execute(f"DELETE FROM sales.{table} WHERE {TABLES[table]} = ?", [day])
            connection.execute(f"INSERT INTO sales.{table} BY NAME SELECT * FROM frame")
            connection.unregister("frame")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def run_day(connection, landing: Path, day: date) -> dict[str, float]:
    """One day end to end; returns seconds per phase."""
    seconds, started = {}, time.perf_counter()
    raw = read_day(landing, day)
    seconds["read"], started = time.perf_counter() - started, time.perf_counter()
    cleaned, rejected = clean(raw, day)
    seconds["clean"], started = time.perf_counter() - started, time.perf_counter()
    daily = metrics(cleaned)
    seconds["metrics"], started = time.perf_counter() - started, time.perf_counter()
    replace_day(
        connection,
        day,
        {
            "raw_sales": raw,
            "cleaned_sales": cleaned,
            "rejected_sales": rejected,
            "sales_metrics": daily,
        },
    )
    seconds["write"] = time.perf_counter() - started
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks.baseline", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("start", type=date.fromisoformat)
    parser.add_argument("end", type=date.fromisoformat, nargs="?")
    args = parser.parse_args(argv)
    totals: dict[str, float] = {}
    with duckdb.connect(args.warehouse) as connection:
        day = args.start
        while day <= (args.end or args.start):
            for phase, value in run_day(connection, args.landing, day).items():
                totals[phase] = totals.get(phase, 0.0) + value
            day += timedelta(days=1)
    print(" ".join(f"{k}={v:.3f}s" for k, v in totals.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
