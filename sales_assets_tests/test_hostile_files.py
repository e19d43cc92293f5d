"""Hostile landing files fail the day with an error naming the file, and lose nothing.

One warehouse holds a day materialized from good files. Each case then drops one hostile
file into that day's folder (or replaces the good file with it), reruns the day through
Dagster, and asserts the run failed naming the file and that every table's rows for the
day (raw, cleaned, rejected, metrics) are exactly as before, compared by row fingerprints.
"""

from __future__ import annotations

import gzip
import io
import os
import random
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance

from sales_assets.sources.landing import LandingError, landing_day
from sales_assets.sources.synthetic import generate_orders

from .conftest import Pipeline
from .landing_zones import Zone

DAY = "2024-03-01"
TABLES = {
    "raw_sales": "partition_date",
    "cleaned_sales": "order_date",
    "rejected_sales": "partition_date",
    "sales_metrics": "order_date",
}


def good_orders(rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    return generate_orders(pd.Timestamp(DAY).date(), rows, seed=seed)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink)
    return sink.getvalue()


def _junk(size: int) -> bytes:
    return random.Random(6).randbytes(size)


def _symlink_outside(folder: Path, name: str) -> None:
    outside = folder.parent.parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "orders.csv").write_bytes(csv_bytes(good_orders(10, seed=9)))
    (folder / name).symlink_to(outside / "orders.csv")


CSV = csv_bytes(good_orders())
GZ = gzip.compress(CSV)
PARQUET = parquet_bytes(good_orders())
HEADER = b"order_id,order_ts,product,region,quantity,unit_price\n"

# name -> bytes to write (or a callable making the file), and words the error must contain
CASES = {
    "binary junk named .csv": ("junk.csv", _junk(4096), ["cannot be read"]),
    "NUL bytes named .csv": ("nul.csv", b"\x00" * 2048, ["cannot be read"]),
    "truncated parquet": (
        "cut.parquet",
        PARQUET[: len(PARQUET) // 2],
        ["cannot be read as PARQUET"],
    ),
    "parquet magic then junk": (
        "fake.parquet",
        b"PAR1" + _junk(2000) + b"PAR1",
        ["cannot be read as PARQUET"],
    ),
    "truncated csv.gz": ("cut.csv.gz", GZ[: len(GZ) // 2], ["cannot be read"]),
    "gzip header then junk": ("bad.csv.gz", GZ[:10] + _junk(500), ["cannot be read"]),
    "plain text named .csv.gz": ("plain.csv.gz", CSV[:500], ["cannot be read"]),
    "invalid JSON line": (
        "bad.jsonl",
        b'{"order_id": "1", "order_ts": "2024-03-01T10:00:00Z"}\n{"order_id": 2,\n',
        ["cannot be read as JSONL"],
    ),
    "JSON line that is not an object": (
        "array.jsonl",
        b'{"order_id": "1", "order_ts": "2024-03-01", "product": "p", "region": "r", "quantity": "1", "unit_price": "1"}\n[1, 2]\n',
        ["record 2", "not a JSON object"],
    ),
    "duplicate column names": (
        "dup.csv",
        HEADER.rstrip(b"\n") + b",order_id\n1,2024-03-01,p,r,1,1,2\n",
        ["duplicate column names", "order_id"],
    ),
    "0-byte csv": ("empty.csv", b"", ["empty file"]),
    "0-byte csv.gz": ("empty.csv.gz", b"", ["empty file"]),
    "0-byte parquet": ("empty.parquet", b"", ["cannot be read as PARQUET"]),
    "0-byte jsonl": ("empty.jsonl", b"", ["empty file"]),
    "only some required columns": (
        "some.csv",
        b"order_id,order_ts,product\n1,2024-03-01,p\n",
        ["missing required", "region", "quantity", "unit_price"],
    ),
    "a row with more fields than the header": (
        "ragged.csv",
        HEADER + b"1,2024-03-01,p,r,1,1\n2,2024-03-01,p,r,1,1,extra\n",
        ["cannot be read"],
    ),
    "latin-1 text": ("latin1.csv", HEADER + b"1,2024-03-01,caf\xe9,r,1,1\n", ["cannot be read"]),
    "unsupported type": (
        "orders.xlsx",
        b"PK\x03\x04 not really a workbook",
        ["not a data file of a supported type"],
    ),
    "data file with a wrong extension": (
        "orders.csv.bak",
        CSV[:200],
        ["not a data file of a supported type"],
    ),
    "symlink pointing outside the landing zone": (
        "link.csv",
        _symlink_outside,
        ["outside the landing zone", "refused"],
    ),
}


class Day:
    """One warehouse and landing zone, with the day materialized from good files."""

    def __init__(self, root: Path, instance: DagsterInstance):
        self.landing = root / "landing"
        self.folder = self.landing / DAY
        self.folder.mkdir(parents=True)
        (self.folder / "orders.csv").write_bytes(CSV)
        (self.folder / "more.parquet").write_bytes(
            parquet_bytes(good_orders(500, seed=1).assign(order_id=lambda f: "p-" + f["order_id"]))
        )
        self.pipeline = Pipeline(root, instance).configure(landing_dir=self.landing)
        assert self.pipeline.run(DAY).success
        self.state = self.fingerprints()
        assert all(rows > 0 for rows, _ in self.state.values()), self.state

    def fingerprints(self) -> dict[str, tuple]:
        """Each table's rows for the day: count and an order-independent hash of every row."""
        return {
            table: tuple(
                self.pipeline.query(
                    f"SELECT count(*), sum(hash(t)::HUGEINT) FROM sales.{table} t WHERE {column} = ?",
                    [DAY],
                ).iloc[0]
            )
            for table, column in TABLES.items()
        }


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    home = root / "dagster_home"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as instance:
        yield Day(root, instance)


def failure_message(result) -> str:
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failures, "the run should have failed"
    return "\n".join(e.step_failure_data.error.message for e in failures)


# Every case replaces the day's files; a few are also added next to the good files, which
# shows one bad file fails the whole day even when the good ones were read first.
ADDED = [
    "binary junk named .csv",
    "truncated parquet",
    "invalid JSON line",
    "symlink pointing outside the landing zone",
]


@pytest.mark.parametrize(
    ("case", "replace"),
    [(case, True) for case in CASES] + [(case, False) for case in ADDED],
    ids=[f"{case}-replacing" for case in CASES] + [f"{case}-added" for case in ADDED],
)
def test_hostile_file_fails_the_day_naming_it_and_keeps_every_table(day, case, replace):
    name, content, words = CASES[case]
    path = day.folder / name
    moved = day.folder.parent / "_good"
    if replace:  # the hostile file is the day's only file
        shutil.move(day.folder, moved)
        day.folder.mkdir()
    try:
        if callable(content):
            content(day.folder, name)
        else:
            path.write_bytes(content)

        result = day.pipeline.run(DAY)

        assert not result.success
        message = failure_message(result)
        assert str(path) in message, message
        for word in words:
            assert word in message, message
        assert "Traceback" not in message
        assert day.fingerprints() == day.state
    finally:
        if replace:
            shutil.rmtree(day.folder)
            shutil.move(moved, day.folder)
        else:
            path.unlink()
        if day.fingerprints() != day.state:  # keep later cases meaningful after a failure here
            day.pipeline.run(DAY)


@pytest.mark.parametrize("case", [case for case in CASES if not callable(CASES[case][1])])
def test_hostile_file_fails_the_same_on_a_local_folder_and_on_s3(zone: Zone, case):
    """The reader alone, on both stores: the same bytes give the same failure, naming the file."""
    name, content, words = CASES[case]
    zone.put(f"{DAY}/more.parquet", PARQUET)
    zone.put(f"{DAY}/{name}", content)
    with pytest.raises(LandingError) as failure:
        landing_day(zone.location, pd.Timestamp(DAY).date())
    message = str(failure.value)
    assert message.startswith(zone.name(f"{DAY}/{name}") + ": "), message
    for word in words:
        assert word in message, message


def test_the_day_still_loads_once_the_hostile_file_is_gone(day):
    """The failures above left nothing behind: the good files rerun to the same rows."""
    assert not any(p.name not in {"orders.csv", "more.parquet"} for p in day.folder.iterdir())
    assert day.pipeline.run(DAY).success
    assert day.fingerprints() == day.state


def test_a_day_folder_symlinked_outside_the_zone_is_refused(tmp_path, pipeline):
    landing = tmp_path / "landing"
    landing.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "orders.csv").write_bytes(csv_bytes(good_orders(10)))
    os.symlink(elsewhere, landing / DAY)
    result = pipeline.configure(landing_dir=landing).run(DAY)
    assert not result.success
    assert "outside the landing zone" in failure_message(result)
    assert (
        not pipeline.database.exists()
        or "raw_sales" not in pipeline.query("SHOW ALL TABLES")["name"].tolist()
    )
