"""Test helpers for the warehouse: a day's frames as the daily step publishes them, frames
saved for child processes, and a day's rows reduced to a comparable fingerprint."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa

from sales_assets import transforms
from sales_assets.sources.synthetic import synthetic_day
from sales_assets.warehouse import PARTITION_COLUMNS, Warehouse

TABLES = list(PARTITION_COLUMNS)
DATE = pd.ArrowDtype(pa.date32())
# Raw columns as received from an odd source file: kept in raw_sales under their own names.
ODD_COLUMNS = {"Store ID": "S-01", 'note "quoted"': None}


def clean(raw: pd.DataFrame, day: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cleaning transform (its name changed once; accept either)."""
    rules = transforms.apply_cleaning_rules
    return rules(raw, day)


def day_frames(day: date, rows: int, odd_columns: bool = True) -> dict[str, pd.DataFrame]:
    """The four tables of a synthetic day, built by the real transforms."""
    raw = synthetic_day(day, rows)
    if odd_columns:
        raw = raw.assign(
            **{k: pd.array([v] * len(raw), dtype="string[pyarrow]") for k, v in ODD_COLUMNS.items()}
        )
    cleaned, rejected = clean(raw, day)
    return {
        "raw_sales": raw,
        "rejected_sales": rejected,
        "cleaned_sales": cleaned,
        "sales_metrics": transforms.daily_metrics(cleaned),
    }


def redated(frames: dict[str, pd.DataFrame], day: date) -> dict[str, pd.DataFrame]:
    """The same rows moved to another day (every row of a day carries that day)."""
    moved = {}
    for table, frame in frames.items():
        frame = frame.copy()
        shift = day - frame[PARTITION_COLUMNS[table]].iloc[0] if len(frame) else timedelta(0)
        frame[PARTITION_COLUMNS[table]] = pd.array([day] * len(frame), dtype=DATE)
        if "order_ts" in frame and pd.api.types.is_datetime64_any_dtype(frame["order_ts"]):
            frame["order_ts"] = frame["order_ts"] + shift
        moved[table] = frame
    return moved


def save(frames: dict[str, pd.DataFrame], folder: Path) -> Path:
    """Frames as parquet files a child process can load quickly."""
    folder.mkdir(parents=True, exist_ok=True)
    for table, frame in frames.items():
        frame.to_parquet(folder / f"{table}.parquet", index=False)
    return folder


def load(folder: Path) -> dict[str, pd.DataFrame]:
    return {
        t: pd.read_parquet(folder / f"{t}.parquet")
        for t in TABLES
        if (folder / f"{t}.parquet").exists()
    }


def fingerprint(warehouse: Warehouse, table: str, day: date) -> tuple[int, int]:
    """Row count and an order-independent hash of every row of the day."""
    frame = warehouse.read_day(table, day)
    frame = frame.reindex(sorted(frame.columns), axis=1).astype(str)
    return len(frame), int(pd.util.hash_pandas_object(frame, index=False).sum())


def fingerprints(warehouse: Warehouse, day: date, tables=TABLES) -> dict[str, tuple[int, int]]:
    return {table: fingerprint(warehouse, table, day) for table in tables}


def counts(warehouse: Warehouse, day: date) -> dict[str, int]:
    """Rows of the day in each table (counted by the database)."""
    found = {}
    for table, column in PARTITION_COLUMNS.items():
        sql = f"SELECT count(*) AS n FROM {{schema}}.{table} WHERE {column} = ?"
        result = warehouse.query(sql, [day])
        found[table] = int(result["n"].iloc[0]) if len(result) else 0
    return found


def by_key(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Rows in a fixed order, to compare a frame with what was read back."""
    keys = {
        "raw_sales": ["source_file", "source_row"],
        "rejected_sales": ["source_file", "source_row"],
        "cleaned_sales": ["order_id"],
        "sales_metrics": ["product", "region"],
    }[table]
    return frame.sort_values(keys).reset_index(drop=True)
