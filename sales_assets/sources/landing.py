"""The landing zone: every data file in `<landing>/YYYY-MM-DD/` is that day's data.

Formats: .csv, .csv.gz, .parquet, .jsonl. Names starting with `.` or `_` are markers and
ignored; anything else fails the day, so no data is skipped silently. Values are kept as
received (text); the cleaning rules judge them later.
"""

from __future__ import annotations

import csv
import errno
import gzip
import io
import zlib
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..contracts import LINEAGE_COLUMNS, REQUIRED_COLUMNS, STRING
from . import with_lineage

FORMATS = (".csv.gz", ".csv", ".parquet", ".jsonl")


# OS errors worth another try: the file system or network share failed, not the file.
TRANSIENT_ERRNOS = frozenset(
    {
        errno.EIO,
        errno.EAGAIN,
        errno.EBUSY,
        errno.ETIMEDOUT,
        errno.ESTALE,
        errno.ECONNRESET,
        errno.ENETDOWN,
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
    }
)


class LandingError(ValueError):
    """A landing file or folder that cannot be loaded; the message names it."""


class DayNotArrivedError(LandingError):
    """The day's folder does not exist yet: the data has not arrived."""


def day_folder(landing_dir: Path, day: date) -> Path:
    return Path(landing_dir) / day.isoformat()


def day_files(landing_dir: Path, day: date) -> list[Path]:
    """The day's data files in name order; refuses unknown types and links leaving the zone."""
    root = Path(landing_dir).resolve()
    folder = day_folder(root, day)
    if not folder.is_dir():
        raise DayNotArrivedError(
            f"landing folder {folder} does not exist: the data for {day} has not arrived"
        )
    files = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.name.startswith((".", "_")):
            continue
        if not path.resolve().is_relative_to(root):
            raise LandingError(f"{path}: links outside the landing zone {root}; refused")
        if not path.is_file() or not path.name.lower().endswith(FORMATS):
            raise LandingError(
                f"{path}: not a data file of a supported type ({', '.join(FORMATS)})"
            )
        files.append(path)
    return files


def read_file(path: Path) -> pa.Table:
    """One landing file as an Arrow table of text columns; fails naming the file."""
    name = path.name.lower()
    try:
        if name.endswith((".csv", ".csv.gz")):
            table = _read_csv(path)
        elif name.endswith(".parquet"):
            table = pq.read_table(path)
        else:
            table = _read_jsonl(path)
    except LandingError:
        raise
    except OSError as error:
        if error.errno in TRANSIENT_ERRNOS:
            raise  # the share or disk hiccuped: raw_sales' RetryPolicy tries again with backoff
        raise LandingError(f"{path}: cannot be read as {_kind(name)}: {error}") from None
    except (
        pa.ArrowException,
        duckdb.Error,
        EOFError,
        UnicodeDecodeError,
        csv.Error,
        ValueError,
        zlib.error,
    ) as error:
        raise LandingError(f"{path}: cannot be read as {_kind(name)}: {error}") from None
    names = table.column_names
    lowered = [n.lower() for n in names]  # the warehouse, like SQL, ignores case in names
    duplicated = sorted({n for n in names if lowered.count(n.lower()) > 1})
    if duplicated:
        raise LandingError(
            f"{path}: duplicate column names {duplicated} (names are compared ignoring case)"
        )
    reserved = sorted(set(lowered) & set(LINEAGE_COLUMNS))
    if reserved:
        raise LandingError(
            f"{path}: column(s) {reserved} are reserved for the lineage the loader adds"
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing and table.num_columns:
        raise LandingError(f"{path}: missing required column(s) {missing}")
    if missing:
        raise LandingError(f"{path}: empty file (no header); missing required column(s) {missing}")
    return pa.table({n: _as_text(table.column(n)) for n in names})


def _kind(name: str) -> str:
    return next(f for f in FORMATS if name.endswith(f)).lstrip(".").upper()


def _read_jsonl(path: Path) -> pa.Table:
    """JSON Lines as text columns, each value as written (numbers, nested values as JSON text).

    pyarrow's JSON reader infers one type per column, so a file whose `quantity` is 2 on one
    line and "two" on another would fail as a whole, and it rewrites offset timestamps;
    DuckDB extracts every key's value as text instead, keeping dirty rows for the rules.
    """
    with duckdb.connect() as connection:
        key_lists = connection.sql(
            "SELECT keys, kind, min(line) FROM (SELECT json_keys(json) AS keys, json_type(json) AS kind, "
            "row_number() OVER () AS line FROM read_ndjson_objects(?)) GROUP BY keys, kind ORDER BY min(line)",
            params=[str(path)],
        ).fetchall()
        not_objects = [(line, kind) for _, kind, line in key_lists if kind != "OBJECT"]
        if not_objects:  # a record that is not an object would otherwise become an all-empty row
            line, kind = min(not_objects)
            raise LandingError(
                f"{path}: record {line} (blank lines not counted) is a JSON {kind}, not a JSON object"
            )
        keys = list(dict.fromkeys(key for row_keys, _, _ in key_lists for key in row_keys or ()))
        if not keys:
            return pa.table({})
        pointers = ["/" + key.replace("~", "~0").replace("/", "~1") for key in keys]  # JSON Pointer
        columns = ", ".join(f"json_extract_string(json, ?) AS c{i}" for i in range(len(keys)))
        table = connection.sql(
            f"SELECT {columns} FROM read_ndjson_objects(?)", params=[*pointers, str(path)]
        ).to_arrow_table()
    return table.rename_columns(keys)


def _read_csv(path: Path) -> pa.Table:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as handle:
        head = handle.read(1 << 16)
    text = head.decode("utf-8-sig", errors="strict") if head else ""
    header = next(csv.reader(io.StringIO(text)), [])
    if not header:
        return pa.table({})
    return pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(use_threads=True),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.large_string() for name in header},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Values as text, as received; timestamps written out in ISO-8601 (UTC with Z)."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        utc = column if kind.tz is None else pc.cast(column, pa.timestamp(kind.unit))
        return (
            pc.strftime(utc, format="%Y-%m-%dT%H:%M:%S")
            if kind.tz is None
            else pc.binary_join_element_wise(
                pc.strftime(utc, format="%Y-%m-%dT%H:%M:%S"), pa.scalar("Z"), ""
            )
        )
    if pa.types.is_date(kind):
        return pc.strftime(column, format="%Y-%m-%d")
    if pa.types.is_nested(kind):
        raise LandingError(f"nested values in column of type {kind}")
    return pc.cast(column, pa.large_string())


def landing_day(landing_dir: Path, day: date) -> pd.DataFrame:
    """The day's raw frame: every row of every file, text columns, with lineage."""
    frames = []
    for path in day_files(landing_dir, day):
        try:
            table = read_file(path)
        except LandingError as error:
            if str(error).startswith(str(path)):
                raise
            raise LandingError(f"{path}: {error}") from None
        rows = table.to_pandas(types_mapper=lambda _: STRING)
        frames.append(
            with_lineage(rows, day, str(path.relative_to(landing_dir)), range(1, len(rows) + 1))
        )
    if not frames:
        return with_lineage(
            pd.DataFrame({c: pd.Series(dtype=STRING) for c in REQUIRED_COLUMNS}), day, "", []
        )
    return pd.concat(frames, ignore_index=True)
