"""The landing zone: every data file in `<landing>/YYYY-MM-DD/` is that day's data.

The landing zone is a local folder or `s3://bucket/prefix` (see `landing_store`); the same
rules hold on both. Formats: .csv, .csv.gz, .parquet, .jsonl. Names starting with `.` or `_`
are markers and ignored; anything else fails the day, so no data is skipped silently. Values
are kept as received (text); the cleaning rules judge them later.
"""

from __future__ import annotations

import csv
import io
import os
import zlib
from dataclasses import dataclass
from datetime import date

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from ..contracts import LINEAGE_COLUMNS, REQUIRED_COLUMNS, STRING
from . import with_lineage
from .landing_store import (
    REMOTE_BUFFER_BYTES,
    TRANSIENT_ERRNOS,
    DayNotArrivedError,
    LandingError,
    LandingStore,
    LandingUnavailableError,
    local_copy,
    open_landing,
    problem,
)

__all__ = [
    "TRANSIENT_ERRNOS",
    "DayNotArrivedError",
    "LandingError",
    "LandingFile",
    "LandingUnavailableError",
    "day_files",
    "landing_day",
    "read_file",
]

FORMATS = (".csv.gz", ".csv", ".parquet", ".jsonl")


@dataclass(frozen=True)
class LandingFile:
    """One file of the landing zone: its store and its path there."""

    store: LandingStore
    path: str

    @property
    def name(self) -> str:
        """The file as messages name it (local path or s3:// URL)."""
        return self.store.name(self.path)

    @property
    def kind(self) -> str:
        lowered = self.path.lower()
        return next(f for f in FORMATS if lowered.endswith(f)).lstrip(".").upper()

    def open(self, compression: str | None = None) -> pa.NativeFile:
        buffer = REMOTE_BUFFER_BYTES if self.store.is_remote else None
        return self.store.fs.open_input_stream(
            self.path, compression=compression, buffer_size=buffer
        )


def day_folder(store: LandingStore, day: date) -> str:
    return store.path(day.isoformat())


def day_files(store: LandingStore, day: date) -> list[LandingFile]:
    """The day's data files in name order; refuses unknown types and links leaving the zone."""
    folder = day_folder(store, day)
    if store.info(folder).type != pafs.FileType.Directory:
        store.check_bucket()
        raise DayNotArrivedError(  # on S3 the "folder" is the day's prefix
            f"landing folder {store.name(folder)} does not exist: the data for {day} has not arrived"
        )
    entries = store.listing(folder)
    _refuse_broken_links(store, folder, entries)
    files = []
    for entry in sorted(entries, key=lambda e: e.base_name):
        if entry.base_name.startswith((".", "_")):
            continue
        name = store.name(entry.path)
        if not store.is_inside(entry.path):
            raise LandingError(f"{name}: links outside the landing zone {store.location}; refused")
        if not entry.is_file or not entry.base_name.lower().endswith(FORMATS):
            raise LandingError(
                f"{name}: not a data file of a supported type ({', '.join(FORMATS)})"
            )
        files.append(LandingFile(store, entry.path))
    return files


def _refuse_broken_links(store: LandingStore, folder: str, entries: list[pafs.FileInfo]) -> None:
    """pyarrow's local listing leaves out links to nothing; name them, as no file may be skipped."""
    if store.is_remote:
        return
    listed = {entry.base_name for entry in entries}
    for name in sorted(set(os.listdir(folder)) - listed):
        if not name.startswith((".", "_")):
            raise LandingError(
                f"{folder}/{name}: a link to nothing (its target is missing); refused"
            )


def read_file(file: LandingFile) -> pa.Table:
    """One landing file as an Arrow table of text columns; fails naming the file."""
    name = file.path.lower()
    try:
        if name.endswith((".csv", ".csv.gz")):
            table = _read_csv(file)
        elif name.endswith(".parquet"):
            table = pq.read_table(file.path, filesystem=file.store.fs)
        else:
            table = _read_jsonl(file)
    except (LandingError, LandingUnavailableError):
        raise
    except OSError as error:
        # A hiccup of the share or the store is retried by raw_sales' RetryPolicy; a denied
        # bucket fails at once; anything else is the file's own problem.
        raise problem(file.store, error, file.name) or LandingError(
            f"{file.name}: cannot be read as {file.kind}: {error}"
        ) from None
    except (
        pa.ArrowException,
        duckdb.Error,
        EOFError,
        UnicodeDecodeError,
        csv.Error,
        ValueError,
        zlib.error,
    ) as error:
        raise LandingError(f"{file.name}: cannot be read as {file.kind}: {error}") from None
    return _checked(file, table)


def _checked(file: LandingFile, table: pa.Table) -> pa.Table:
    """The table with every column as text, once its column names pass the rules."""
    names = table.column_names
    lowered = [n.lower() for n in names]  # the warehouse, like SQL, ignores case in names
    duplicated = sorted({n for n in names if lowered.count(n.lower()) > 1})
    if duplicated:
        raise LandingError(
            f"{file.name}: duplicate column names {duplicated} (names are compared ignoring case)"
        )
    reserved = sorted(set(lowered) & set(LINEAGE_COLUMNS))
    if reserved:
        raise LandingError(
            f"{file.name}: column(s) {reserved} are reserved for the lineage the loader adds"
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing and table.num_columns:
        raise LandingError(f"{file.name}: missing required column(s) {missing}")
    if missing:
        raise LandingError(
            f"{file.name}: empty file (no header); missing required column(s) {missing}"
        )
    return pa.table({n: _as_text(table.column(n)) for n in names})


def _read_jsonl(file: LandingFile) -> pa.Table:
    """JSON Lines as text columns, each value as written (numbers, nested values as JSON text).

    pyarrow's JSON reader infers one type per column, so a file whose `quantity` is 2 on one
    line and "two" on another would fail as a whole, and it rewrites offset timestamps;
    DuckDB extracts every key's value as text instead, keeping dirty rows for the rules.
    """
    with local_copy(file.store, file.path) as path, duckdb.connect() as connection:
        connection.execute("SET enable_progress_bar = false")
        key_lists = connection.sql(
            "SELECT keys, kind, min(line) FROM (SELECT json_keys(json) AS keys, json_type(json) AS kind, "
            "row_number() OVER () AS line FROM read_ndjson_objects(?)) GROUP BY keys, kind ORDER BY min(line)",
            params=[str(path)],
        ).fetchall()
        not_objects = [(line, kind) for _, kind, line in key_lists if kind != "OBJECT"]
        if not_objects:  # a record that is not an object would otherwise become an all-empty row
            line, kind = min(not_objects)
            raise LandingError(
                f"{file.name}: record {line} (blank lines not counted) is a JSON {kind}, not a JSON object"
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


def _read_csv(file: LandingFile) -> pa.Table:
    compression = "gzip" if file.path.lower().endswith(".gz") else None
    with file.open(compression) as handle:
        head = handle.read(1 << 16)
    text = head.decode("utf-8-sig", errors="strict") if head else ""
    header = next(csv.reader(io.StringIO(text)), [])
    if not header:
        return pa.table({})
    with file.open(compression) as handle:
        return pacsv.read_csv(
            handle,
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


def landing_day(landing: str | os.PathLike | LandingStore, day: date) -> pd.DataFrame:
    """The day's raw frame: every row of every file, text columns, with lineage.

    `landing` is a local folder, an s3://bucket/prefix URL or an open store; `source_file` is
    the file's name relative to the landing root (`2024-03-01/orders.csv`) on either."""
    store = landing if isinstance(landing, LandingStore) else open_landing(landing)
    frames = []
    for file in day_files(store, day):
        try:
            table = read_file(file)
        except LandingError as error:
            if str(error).startswith(file.name):
                raise
            raise LandingError(f"{file.name}: {error}") from None
        rows = table.to_pandas(types_mapper=lambda _: STRING)
        source_file = store.relative(file.path)
        frames.append(with_lineage(rows, day, source_file, range(1, len(rows) + 1)))
    if not frames:
        return with_lineage(
            pd.DataFrame({c: pd.Series(dtype=STRING) for c in REQUIRED_COLUMNS}), day, "", []
        )
    return pd.concat(frames, ignore_index=True)
