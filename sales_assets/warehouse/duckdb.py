"""The DuckDB warehouse (the embedded default): connections that wait out a locked file, aloud.

DuckDB lets one process at a time open a file for writing, and any process holding it open
(even read-only: an analyst's notebook) keeps writers out. So every connection waits with
exponential backoff and jitter while the file is locked, logs who holds it every few seconds,
reports how long it waited, and after `lock_timeout` seconds fails naming the file and holder.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
from dagster import Failure

from .common import LOG, qualified, quoted, quoted_column, quoted_columns

_HOLDER = re.compile(r"Conflicting lock is held in (.*?\(PID \d+\)|.*?(?=\. See also|$))", re.S)
SAY_EVERY_SECONDS = 5.0


class WarehouseLockedError(Failure):
    """Another process kept the DuckDB file locked for longer than we were willing to wait.

    A Failure that RetryPolicy does not retry: the wait already backed off for the whole timeout.
    """

    def __init__(self, message: str):
        super().__init__(description=message, allow_retries=False)


def _holder(error: Exception) -> str:
    found = _HOLDER.search(str(error))
    return found.group(1).strip() if found else "another process"


def connect_waiting(
    database: str, read_only: bool = False, lock_timeout: float = 120.0, log=None
) -> tuple[duckdb.DuckDBPyConnection, float]:
    """Open the warehouse file, waiting while another process holds its lock.

    Says so on `log` (a `logging.Logger` or Dagster's `context.log`) when the wait starts and
    every 5 s; returns the connection and the seconds waited."""
    log = log or LOG
    started = time.monotonic()
    said, delay = None, 0.05
    if not read_only:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            connection = duckdb.connect(database, read_only=read_only)
            return connection, (time.monotonic() - started if said is not None else 0.0)
        except duckdb.IOException as error:
            if "lock" not in str(error).lower():
                raise
            waited = time.monotonic() - started
            if waited + delay > lock_timeout:
                raise WarehouseLockedError(
                    f"warehouse {database} is locked by another process: {_holder(error)}; "
                    f"waited {lock_timeout:g}s (SALES_LOCK_TIMEOUT_SECONDS). Any open connection "
                    "blocks the load, read-only ones too: close it, or query a snapshot "
                    "(README, 'Query the warehouse')."
                ) from None
            if said is None or waited >= said + SAY_EVERY_SECONDS:
                said = SAY_EVERY_SECONDS * (waited // SAY_EVERY_SECONDS)  # 0, 5, 10, ... s
                log.warning(
                    f"waiting for warehouse {database}: locked by {_holder(error)} for "
                    f"{said:.0f} s (timeout {lock_timeout:g} s, SALES_LOCK_TIMEOUT_SECONDS)"
                )
            # Back off, but wake up in time to say the next line.
            next_line = said + SAY_EVERY_SECONDS - waited
            time.sleep(max(0.01, min(delay * random.uniform(0.5, 1.5), next_line)))
            delay = min(delay * 2, 2.0)


def connect(
    database: str, read_only: bool = False, lock_timeout: float = 120.0, log=None
) -> duckdb.DuckDBPyConnection:
    """`connect_waiting` without the waited seconds."""
    return connect_waiting(database, read_only, lock_timeout, log)[0]


def run(connection, sql: str, params: Sequence = ()) -> list[tuple]:
    """Execute and drain a statement (DuckDB refuses new work while a result is pending)."""
    return connection.execute(sql, list(params)).fetchall()


def _unregister(connection, name: str) -> None:
    """Drop a registered frame; after a failed statement the transaction refuses even that,
    and the rollback that follows drops it anyway (the original error must surface)."""
    with suppress(duckdb.TransactionException):
        connection.unregister(name)


class DuckDBSession:
    """One write transaction on the file: schema changes, deletes and inserts commit together."""

    kind = "duckdb"

    def __init__(self, connection: duckdb.DuckDBPyConnection, lock_wait_seconds: float):
        self.connection = connection
        self.lock_wait_seconds = lock_wait_seconds

    def _columns(self, schema: str, table: str) -> set[str] | None:
        """The table's column names, lower-cased (DuckDB names are case-insensitive: `Channel`
        is the column `channel`), or None when there is no such table."""
        rows = run(
            self.connection,
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ?",
            [schema, table],
        )
        return {row[0].lower() for row in rows} or None

    def prepare(self, schema: str, table: str, columns: pa.Schema, partition_column: str) -> None:
        run(self.connection, f"CREATE SCHEMA IF NOT EXISTS {quoted(schema)}")
        have = self._columns(schema, table)
        self.connection.register("_sales_columns", columns.empty_table())
        try:
            if have is None:  # DuckDB types the columns as it would the frame's rows
                run(
                    self.connection,
                    f"CREATE TABLE {qualified(schema, table)} AS SELECT * FROM _sales_columns",
                )
                return
            for name, kind, *_ in run(self.connection, "DESCRIBE SELECT * FROM _sales_columns"):
                if name.lower() not in have:
                    run(
                        self.connection,
                        f"ALTER TABLE {qualified(schema, table)} "
                        f"ADD COLUMN {quoted_column(name)} {kind}",
                    )
        finally:
            _unregister(self.connection, "_sales_columns")

    def schema_ready(self) -> None:
        """Nothing to do: DuckDB's schema changes are part of the same transaction."""

    def delete(self, schema: str, table: str, column: str, start: date, end: date) -> None:
        if self._columns(schema, table) is not None:
            run(
                self.connection,
                f"DELETE FROM {qualified(schema, table)} "
                f"WHERE {quoted(column)} >= ? AND {quoted(column)} < ?",
                [start, end],
            )

    def insert(self, schema: str, table: str, data: pa.Table) -> None:
        self.connection.register("_sales_output", data)
        try:
            run(
                self.connection,
                f"INSERT INTO {qualified(schema, table)} BY NAME SELECT * FROM _sales_output",
            )
        finally:
            _unregister(self.connection, "_sales_output")


class DuckDBClient:
    """The warehouse in one DuckDB file."""

    kind = "duckdb"

    def __init__(self, database: str, lock_timeout: float = 120.0, log=None, on_wait=None):
        self.database = database
        self.lock_timeout = lock_timeout
        self.log, self.on_wait = log, on_wait

    def describe(self) -> str:
        return f"DuckDB file {self.database}"

    @contextmanager
    def session(self, log=None) -> Iterator[DuckDBSession]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        connection, waited = connect_waiting(self.database, lock_timeout=self.lock_timeout, log=log)
        try:
            run(connection, "BEGIN TRANSACTION")
            yield DuckDBSession(connection, waited)
            run(connection, "COMMIT")
        except BaseException:
            run(connection, "ROLLBACK")
            raise
        finally:
            connection.close()

    def read_days(
        self, schema: str, table: str, columns, column: str, start: date, end: date
    ) -> pa.Table | None:
        """Rows whose `column` lies in [start, end); None when the table is missing."""
        return self.read(
            f"SELECT {quoted_columns(columns)} FROM {qualified(schema, table)} "
            f"WHERE {quoted(column)} >= ? AND {quoted(column)} < ?",
            [start, end],
        )

    def read(self, sql: str, params: Sequence = ()) -> pa.Table | None:
        """A read on a read-only connection, as Arrow; None when a table (or the file) is missing."""
        if Path(self.database).exists():
            connection, waited = connect_waiting(
                self.database, read_only=True, lock_timeout=self.lock_timeout, log=self.log
            )
            if waited and self.on_wait:
                self.on_wait(waited)
        else:  # no file yet: an empty warehouse, without creating it
            connection = duckdb.connect(":memory:")
        try:
            return connection.sql(sql, params=list(params)).to_arrow_table()
        except duckdb.CatalogException:
            return None
        finally:
            connection.close()
