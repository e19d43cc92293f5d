"""The PostgreSQL warehouse: many writers and readers at once, Arrow in and out over ADBC.

ADBC's PostgreSQL driver moves Arrow tables both ways with binary COPY: `adbc_ingest` is
`COPY ... FROM STDIN (FORMAT binary)` by column name, and `fetch_arrow_table` reads a result
straight into Arrow. Writers of different days never wait for each other (MVCC, row-level
deletes); two loads of the same day take turns on an advisory lock for that day, so the day
never ends up holding both loads' rows. Readers never block a load, nor a load a reader.

Schema changes (a new table, a new column) run in their own short transaction before the data
one, serialized by an advisory lock per schema: ALTER TABLE takes an exclusive lock, and held
across a long COPY it would stop every reader of the table until the load commits.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import adbc_driver_manager
import adbc_driver_postgresql.dbapi as adbc_postgresql
import pyarrow as pa

from .common import (
    WarehouseUnavailableError,
    numbered_placeholders,
    qualified,
    quoted,
    quoted_column,
    quoted_columns,
)

CONNECT_TIMEOUT_SECONDS = 10
_MISSING = {"42P01", "3F000"}  # undefined table, undefined schema
# Advisory locks, (try, wait): key (schema, -1) serializes schema changes, (schema, day number)
# the loads of one day; a range takes its days in order, so two ranges cannot deadlock.
_DAY_KEYS = "FROM generate_series(?::date, ?::date - 1, interval '1 day') AS d"
_DAY_KEY = "(d::date - DATE '2000-01-01')::int"
_LOCKS = {
    "ddl": (
        "SELECT pg_try_advisory_xact_lock(hashtext(?), -1)",
        "SELECT pg_advisory_xact_lock(hashtext(?), -1)",
    ),
    "days": (
        "SELECT bool_and(pg_try_advisory_xact_lock(hashtext(?), " + _DAY_KEY + ")) " + _DAY_KEYS,
        "SELECT pg_advisory_xact_lock(hashtext(?), " + _DAY_KEY + ") " + _DAY_KEYS,
    ),
}


def describe_url(url: str) -> str:
    """`postgresql://user@host:port/dbname`: no password, no query."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    return f"postgresql://{user}{parts.hostname}:{parts.port or 5432}{parts.path}"


def _with_timeout(url: str) -> str:
    """libpq waits forever for a host that drops packets: give up after a few seconds."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("connect_timeout", str(CONNECT_TIMEOUT_SECONDS))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _connect(url: str, autocommit: bool = False):
    try:
        return adbc_postgresql.connect(_with_timeout(url), autocommit=autocommit)
    except adbc_driver_manager.Error as error:
        parts = urlsplit(url)
        reason = str(error).replace("IO: [libpq] Failed to connect: ", "").strip()
        if parts.password:
            reason = reason.replace(parts.password, "***")
        raise WarehouseUnavailableError(
            f"cannot connect to the PostgreSQL warehouse at host {parts.hostname}, port "
            f"{parts.port or 5432} (SALES_WAREHOUSE={describe_url(url)}): {reason}"
        ) from None


def pg_type(name: str, kind: pa.DataType) -> str:
    """The PostgreSQL column type for an Arrow type."""
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "text"
    if pa.types.is_integer(kind):
        return "bigint"
    if pa.types.is_floating(kind):
        return "double precision"
    if pa.types.is_boolean(kind):
        return "boolean"
    if pa.types.is_date(kind):
        return "date"
    if pa.types.is_timestamp(kind):
        return "timestamptz" if kind.tz else "timestamp"
    if pa.types.is_decimal(kind):
        return "numeric"
    raise TypeError(f"column {name!r}: no PostgreSQL type for Arrow type {kind}")


def column_definitions(columns: pa.Schema) -> str:
    """`"name" type, ...` for CREATE TABLE."""
    return ", ".join(f"{quoted_column(f.name)} {pg_type(f.name, f.type)}" for f in columns)


class PostgresSession:
    """One write transaction (plus, before it, one for schema changes when there are any)."""

    kind = "postgresql"

    def __init__(self, connection):
        self.connection = connection
        self.cursor = connection.cursor()
        self.lock_wait_seconds = 0.0
        self._schema_changed = False

    def _run(self, sql: str, params: Sequence = ()) -> None:
        self.cursor.execute(numbered_placeholders(sql), parameters=tuple(params) or None)

    def _rows(self, sql: str, params: Sequence = ()) -> list[tuple]:
        self._run(sql, params)
        return self.cursor.fetchall()

    def _lock(self, what: str, params: Sequence) -> None:
        """Take advisory locks `what` ("ddl" or "days"); count only the time spent waiting."""
        try_sql, wait_sql = _LOCKS[what]
        if self._rows(try_sql, params)[0][0]:
            return
        started = time.monotonic()
        self._rows(wait_sql, params)
        self.lock_wait_seconds += time.monotonic() - started

    def _columns(self, schema: str, table: str) -> set[str] | None:
        rows = self._rows(
            "SELECT column_name::text FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ?",
            [schema, table],
        )
        return {row[0] for row in rows} or None

    def _changes(self, schema: str, table: str, columns: pa.Schema, index: str) -> list[str]:
        """The DDL that gives `table` every column of `columns` (none when it has them)."""
        have = self._columns(schema, table)
        if have is None:
            return [
                f"CREATE SCHEMA IF NOT EXISTS {quoted(schema)}",
                f"CREATE TABLE {qualified(schema, table)} ({column_definitions(columns)})",
                # The load deletes a day and readers read days: without an index, a scan of
                # every day. A B-tree finds a day wherever a reload put its rows (a BRIN index
                # only while days sit in order on disk); its upkeep measured within the noise
                # of a 1M-row COPY here (median 3.5 s vs 3.2 s without, BRIN 4.5 s).
                f"CREATE INDEX ON {qualified(schema, table)} ({quoted(index)})",
            ]
        return [
            f"ALTER TABLE {qualified(schema, table)} "
            f"ADD COLUMN IF NOT EXISTS {quoted_column(f.name)} {pg_type(f.name, f.type)}"
            for f in columns
            if f.name not in have
        ]

    def prepare(self, schema: str, table: str, columns: pa.Schema, partition_column: str) -> None:
        if not self._changes(schema, table, columns, partition_column):
            return
        self._lock("ddl", [schema])
        for statement in self._changes(schema, table, columns, partition_column):  # after the lock
            self._run(statement)
        self._schema_changed = True

    def schema_ready(self) -> None:
        """Commit the schema changes (and their lock) before the long data transaction."""
        if self._schema_changed:
            self.connection.commit()
            self._schema_changed = False

    def delete(self, schema: str, table: str, column: str, start: date, end: date) -> None:
        if self._columns(schema, table) is None:
            return
        # One writer per day at a time: a second load of the same day waits for the first.
        self._lock("days", [schema, start, end])
        self._run(
            f"DELETE FROM {qualified(schema, table)} "
            f"WHERE {quoted(column)} >= ? AND {quoted(column)} < ?",
            [start, end],
        )

    def insert(self, schema: str, table: str, data: pa.Table) -> None:
        self.cursor.adbc_ingest(table, data, mode="append", db_schema_name=schema)


class PostgresClient:
    """The warehouse in a PostgreSQL database."""

    kind = "postgresql"

    def __init__(self, url: str):
        self.url = url

    def describe(self) -> str:
        return f"PostgreSQL {describe_url(self.url)}"

    @contextmanager
    def session(self, log=None) -> Iterator[PostgresSession]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        connection = _connect(self.url)
        try:
            session = PostgresSession(connection)
            yield session
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            connection.close()

    def read(self, sql: str, params: Sequence = (), settings: Sequence = ()) -> pa.Table | None:
        """A read as Arrow; None when a table (or the schema) is missing. `settings`: (name,
        value) pairs set for the session first, as parameters."""
        connection = _connect(self.url, autocommit=True)
        try:
            with connection.cursor() as cursor:
                for name, value in settings:
                    cursor.execute("SELECT set_config($1, $2, false)", parameters=(name, value))
                    cursor.fetchall()
                cursor.execute(numbered_placeholders(sql), parameters=tuple(params) or None)
                return cursor.fetch_arrow_table()
        except adbc_driver_manager.ProgrammingError as error:
            if getattr(error, "sqlstate", None) in _MISSING:
                return None
            raise
        finally:
            connection.close()

    def read_days(
        self, schema: str, table: str, columns, column: str, start: date, end: date
    ) -> pa.Table | None:
        """Rows whose `column` lies in [start, end). The driver streams a query without bind
        parameters as binary COPY, and fetches one with them row by row, 4x slower on a
        1M-row day (measured): so the bounds go in as session settings, set as parameters."""
        return self.read(
            f"SELECT {quoted_columns(columns)} FROM {qualified(schema, table)} "
            f"WHERE {quoted(column)} >= current_setting('sales_assets.start')::date "
            f"AND {quoted(column)} < current_setting('sales_assets.end')::date",
            settings=[
                ("sales_assets.start", start.isoformat()),
                ("sales_assets.end", end.isoformat()),
            ],
        )
