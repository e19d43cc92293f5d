"""What both warehouse backends share: checked identifiers, frames as Arrow, the per-day write.

A write of a day (or of a range of days) to a table is always the same four steps on an open
transaction: make sure the schema and table exist with every column of the frame, delete the
days' rows, insert the frame by column name. Each backend supplies a `Session` that knows its
own SQL; `write_tables` runs the steps so the backends cannot drift apart.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import pandas as pd
import pyarrow as pa

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A `?` placeholder outside quoted literals and quoted identifiers.
_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\?")
LOG = logging.getLogger("sales_assets.warehouse")


class WarehouseUnavailableError(ConnectionError):
    """The PostgreSQL warehouse could not be reached or refused us; the message names host,
    port and SALES_WAREHOUSE, never the password."""


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def client_for(url: str, lock_timeout: float, log=None, on_wait=None):
    """The backend client for a warehouse URL: PostgreSQL for postgresql://, else a DuckDB file.

    `log` hears of lock waits as they happen, `on_wait(seconds)` of each read's wait (DuckDB:
    a writer elsewhere holds the file; PostgreSQL reads never wait, MVCC).

    Imported here, on first use, so a DuckDB-only deployment never loads the ADBC driver."""
    if is_postgres_url(url):
        from .postgres import PostgresClient

        return PostgresClient(url)
    from .duckdb import DuckDBClient

    return DuckDBClient(url, lock_timeout, log, on_wait)


def quoted(identifier: str) -> str:
    """A schema, table or column name checked against a strict pattern, then quoted."""
    if not isinstance(identifier, str) or not _IDENTIFIER.match(identifier):
        raise ValueError(f"refusing SQL identifier {identifier!r}")
    return f'"{identifier}"'


def quoted_column(name: str) -> str:
    """A column name as received in a source file ("Store ID"), quoted with SQL's `""` escaping
    (the same in DuckDB and PostgreSQL)."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise ValueError(f"refusing column name {name!r}")
    return '"' + name.replace('"', '""') + '"'


def quoted_columns(columns: Sequence[str] | None) -> str:
    """A select list of quoted column names, or `*` for every column."""
    return ", ".join(map(quoted_column, columns)) if columns else "*"


def qualified(schema: str, table: str) -> str:
    """`"schema"."table"`, both checked."""
    return f"{quoted(schema)}.{quoted(table)}"


def numbered_placeholders(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2, ...` (quoted text and names left alone)."""
    count = 0

    def number(match: re.Match) -> str:
        nonlocal count
        if match.group(0) != "?":
            return match.group(0)
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(number, sql)


def to_arrow(frame: pd.DataFrame) -> pa.Table:
    """A frame as the Arrow table both backends ingest: microsecond timestamps (what both store),
    64-bit numbers, text for all-null or categorical columns, string column names."""
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate column names in frame: {names}")
    table = pa.Table.from_pandas(frame.set_axis(names, axis=1), preserve_index=False)
    fields = [_storable(field) for field in table.schema]
    return table.cast(pa.schema(fields)) if fields != list(table.schema) else table


def _storable(field: pa.Field) -> pa.Field:
    kind = field.type
    if pa.types.is_null(kind):
        return field.with_type(pa.string())
    if pa.types.is_dictionary(kind):
        return _storable(field.with_type(kind.value_type))
    if pa.types.is_timestamp(kind) and kind.unit == "ns":
        return field.with_type(pa.timestamp("us", tz=kind.tz))
    # PostgreSQL's binary COPY wants each column's exact width: one width per kind of number.
    if pa.types.is_integer(kind):
        return field.with_type(pa.int64())
    if pa.types.is_floating(kind):
        return field.with_type(pa.float64())
    return field.with_metadata(None)


def to_frame(table: pa.Table) -> pd.DataFrame:
    """A result as the transforms type their frames: text as `string[pyarrow]`, dates as Arrow
    `date32`, timestamps tz-aware UTC, integers int64, decimals (sums) as float64."""
    columns = [_readable(column) for column in table.columns]
    table = pa.Table.from_arrays(columns, names=table.column_names)
    return table.to_pandas(types_mapper=_pandas_type)


def _readable(column: pa.ChunkedArray) -> pa.ChunkedArray:
    kind = column.type
    if isinstance(kind, pa.BaseExtensionType):  # PostgreSQL numeric arrives as opaque text
        column = pa.chunked_array([c.storage for c in column.chunks], kind.storage_type)
        return column.cast(pa.float64()) if pa.types.is_string(kind.storage_type) else column
    if pa.types.is_decimal(kind):
        return column.cast(pa.float64())
    if pa.types.is_timestamp(kind) and kind.tz is not None:
        return column.cast(pa.timestamp("us", tz="UTC"))
    return column


def _pandas_type(kind: pa.DataType):
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pd.StringDtype("pyarrow")
    if pa.types.is_date32(kind):
        return pd.ArrowDtype(kind)
    return None


def empty_frame(columns: Sequence[str] | None) -> pd.DataFrame:
    """What a missing table reads as."""
    return pd.DataFrame(columns=list(columns or []))


@dataclass(frozen=True)
class TableWrite:
    """The rows of `data` replace those of `table` whose `column` lies in [start, end)."""

    table: str
    data: pa.Table
    column: str
    start: date
    end: date


class Session(Protocol):
    """An open write transaction on one backend (commit and rollback belong to its context)."""

    lock_wait_seconds: float

    def prepare(self, schema: str, table: str, columns: pa.Schema, partition_column: str) -> None:
        """Create the schema and table if missing; add the columns the table lacks."""

    def schema_ready(self) -> None:
        """All `prepare` calls are done; data statements follow."""

    def delete(self, schema: str, table: str, column: str, start: date, end: date) -> None:
        """Delete the rows whose `column` lies in [start, end), if the table exists."""

    def insert(self, schema: str, table: str, data: pa.Table) -> None:
        """Insert by column name, in bulk."""


def write_tables(session: Session, schema: str, writes: Sequence[TableWrite]) -> None:
    """Replace each write's days in its table, on one open transaction.

    The per-table lines go to this module's logger only: in a run's log each line would be
    an event written to the instance (four a day)."""
    for write in writes:
        session.prepare(schema, write.table, write.data.schema, write.column)
    session.schema_ready()
    for write in writes:
        LOG.debug(
            f"warehouse: replacing {write.start}..{write.end} (exclusive) of "
            f"{schema}.{write.table} with {write.data.num_rows} rows"
        )
        session.delete(schema, write.table, write.column, write.start, write.end)
        if write.data.num_rows:
            session.insert(schema, write.table, write.data)
