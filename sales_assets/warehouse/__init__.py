"""The warehouse: the day's tables in a DuckDB file (the embedded default) or in PostgreSQL.

`SALES_WAREHOUSE` picks the backend: a path means a DuckDB file, `postgresql://...` a server.
- `Warehouse`, the resource the daily step publishes a day with (every table of the day in
  one transaction) and the checks read through;
- `SalesWarehouseIOManager`, the IO manager that loads asset tables as inputs
  (`load_asset_value`, downstream assets) on Dagster's own `DbIOManager`.
Modules: `duckdb` (the file and its lock), `postgres` (ADBC, bulk COPY), `io_manager`,
`common` (identifiers, frames as Arrow, the per-day write both backends share).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from time import perf_counter

import pandas as pd
from dagster import ConfigurableResource
from pydantic import Field

from .common import (
    LOG,
    TableWrite,
    WarehouseUnavailableError,
    client_for,
    empty_frame,
    is_postgres_url,
    quoted,
    quoted_column,
    to_arrow,
    to_frame,
    write_tables,
)
from .duckdb import WarehouseLockedError, connect
from .io_manager import SalesWarehouseIOManager, partition_filter

__all__ = [
    "PARTITION_COLUMNS",
    "PublishResult",
    "RunWarehouse",
    "SalesWarehouseIOManager",
    "Warehouse",
    "WarehouseLockedError",
    "WarehouseUnavailableError",
    "connect",
    "is_postgres_url",
    "partition_filter",
    "quoted",
    "quoted_column",
]

# The column each table's rows are partitioned by: a day's rows are those with column = day.
PARTITION_COLUMNS = {
    "raw_sales": "partition_date",
    "rejected_sales": "partition_date",
    "cleaned_sales": "order_date",
    "sales_metrics": "order_date",
}


@dataclass(frozen=True)
class PublishResult:
    """What a publish took: wall seconds, seconds of it spent waiting for a lock, rows by table."""

    seconds: float
    lock_wait_seconds: float
    rows: Mapping[str, int]


class Warehouse(ConfigurableResource):
    """The day's tables: publish a day in one transaction, read a day back, run read queries."""

    url: str = Field(
        description="A DuckDB file, or postgresql://user@host:port/db (set from SALES_WAREHOUSE by build_resources)."
    )
    schema_name: str = Field(description="The schema holding the asset tables (sales).")
    lock_timeout_seconds: float = Field(
        description="How long to wait for a locked DuckDB file (set from SALES_LOCK_TIMEOUT_SECONDS by build_resources)."
    )

    def _client(self, log=None, on_wait=None):
        quoted(self.schema_name)  # refuse a bad schema before any connection
        return client_for(self.url, self.lock_timeout_seconds, log, on_wait)

    def for_run(self, log) -> RunWarehouse:
        """This warehouse as one run's step uses it: waits said on the run's log, added up."""
        return RunWarehouse(self, log)

    def describe(self) -> str:
        """Where the tables live, safe for logs (never a password)."""
        return f"{self._client().describe()}, schema {self.schema_name}"

    def connection_info(self) -> str:
        return self.describe()

    def publish(self, day: date, frames: Mapping[str, pd.DataFrame], log=None) -> PublishResult:
        """Replace `day` in every table of `frames` in ONE transaction: all commit or none.

        Creates schema and tables (also for a 0-row frame, with its column types), adds the
        columns a table lacks, deletes the day's rows, inserts each frame by column name."""
        day = _as_date(day)
        writes = [
            TableWrite(table, to_arrow(frame), _partition_column(table), day, day + timedelta(1))
            for table, frame in frames.items()
        ]
        started = perf_counter()
        with self._client().session(log) as session:
            write_tables(session, self.schema_name, writes)
        result = PublishResult(
            seconds=perf_counter() - started,
            lock_wait_seconds=session.lock_wait_seconds,
            rows={table: len(frame) for table, frame in frames.items()},
        )
        # The run's own log says it when the publish waited; otherwise the day's summary line
        # says enough (each line a run logs is an event write, ~10 ms on SQLite).
        (log if log is not None and result.lock_wait_seconds >= 1 else LOG).info(
            f"published {day} to {self.describe()}: {dict(result.rows)} rows in "
            f"{result.seconds:.2f} s (waited {result.lock_wait_seconds:.2f} s for locks)"
        )
        return result

    def read_day(
        self, table: str, day: date, columns: Sequence[str] | None = None, log=None, on_wait=None
    ) -> pd.DataFrame:
        """The day's rows of `table`, typed as the transforms type them; empty if no table."""
        column, day = _partition_column(table), _as_date(day)
        result = self._client(log, on_wait).read_days(
            self.schema_name, table, columns, column, day, day + timedelta(1)
        )
        return empty_frame(columns) if result is None else to_frame(result)

    def query(self, sql: str, params: Sequence = (), log=None, on_wait=None) -> pd.DataFrame:
        """Run a read query, the same text on both backends: tables written `{schema}.table`,
        values as `?` parameters. A missing table reads as an empty frame."""
        client = self._client(log, on_wait)
        result = client.read(sql.format(schema=quoted(self.schema_name)), params)
        return pd.DataFrame() if result is None else to_frame(result)


class RunWarehouse:
    """The warehouse as one run's step uses it: every lock wait, of reads and of publishes,
    is said on the run's log as it happens and added to `lock_wait_seconds`."""

    def __init__(self, warehouse: Warehouse, log):
        self.warehouse, self.log = warehouse, log
        self.lock_wait_seconds = 0.0

    def _waited(self, seconds: float) -> None:
        self.lock_wait_seconds += seconds

    def publish(self, day: date, frames: Mapping[str, pd.DataFrame]) -> PublishResult:
        result = self.warehouse.publish(day, frames, log=self.log)
        self._waited(result.lock_wait_seconds)
        return result

    def read_day(self, table: str, day: date, columns: Sequence[str] | None = None) -> pd.DataFrame:
        return self.warehouse.read_day(table, day, columns, self.log, self._waited)

    def query(self, sql: str, params: Sequence = ()) -> pd.DataFrame:
        return self.warehouse.query(sql, params, self.log, self._waited)


def _partition_column(table: str) -> str:
    try:
        return PARTITION_COLUMNS[table]
    except KeyError:
        raise ValueError(
            f"unknown warehouse table {table!r}; known: {', '.join(PARTITION_COLUMNS)}"
        ) from None


def _as_date(day) -> date:
    if isinstance(day, datetime):
        return day.date()
    return day if isinstance(day, date) else date.fromisoformat(str(day))
