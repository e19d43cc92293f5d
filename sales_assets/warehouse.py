"""The DuckDB warehouse: connections that wait out a locked file, and the IO manager.

The IO manager is the stock `DuckDBPandasIOManager` with three fixes this project needs:
- the delete of a day's slice and the insert of its new rows share one transaction, so a
  crash between them leaves the day's previous rows whole;
- rows are inserted by column name, and columns the table lacks are added first, so
  tables may grow (schema v2 files, extra raw columns);
- empty frames still create their table, so a zero-sales first day is stored.
Partition bounds travel as query parameters, identifiers are checked, never formatted text.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

import duckdb
import pandas as pd
from dagster import (
    ConfigurableResource,
    Failure,
    InputContext,
    MetadataValue,
    OutputContext,
    TableColumn,
    TableSchema,
)
from dagster._core.definitions.metadata import TableMetadataSet
from dagster._core.definitions.partitions.utils import TimeWindow
from dagster._core.errors import DagsterInvariantViolationError
from dagster._core.storage.db_io_manager import DbIOManager, DbTypeHandler, TableSlice
from dagster_duckdb.io_manager import DuckDbClient
from dagster_duckdb_pandas import DuckDBPandasIOManager
from pydantic import Field

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HOLDER = re.compile(r"Conflicting lock is held in (.*?\(PID \d+\)|.*?(?=\. See also|$))", re.S)


class WarehouseLockedError(Failure):
    """Another process kept the DuckDB file locked for longer than we were willing to wait.

    A Failure that RetryPolicy does not retry: the wait already backed off for the whole timeout.
    """

    def __init__(self, message: str):
        super().__init__(description=message, allow_retries=False)


def quoted(identifier: str) -> str:
    """A schema, table or column name checked against a strict pattern, then quoted."""
    if not _IDENTIFIER.match(identifier):
        raise ValueError(f"refusing SQL identifier {identifier!r}")
    return f'"{identifier}"'


def quoted_column(name: str) -> str:
    """A column name as received in a source file ("Store ID"), quoted with DuckDB's escaping."""
    if not name or "\x00" in name:
        raise ValueError(f"refusing column name {name!r}")
    return '"' + name.replace('"', '""') + '"'


def connect(
    database: str, read_only: bool = False, lock_timeout: float = 120.0, config: dict | None = None
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, waiting with exponential backoff and jitter while another process
    holds its lock; after `lock_timeout` seconds, fail naming the file and the holder."""
    deadline = time.monotonic() + lock_timeout
    delay = 0.05
    while True:
        try:
            return duckdb.connect(database, read_only=read_only, config=config or {})
        except duckdb.IOException as error:
            if "lock" not in str(error).lower():
                raise
            if time.monotonic() + delay > deadline:
                holder = _HOLDER.search(str(error))
                raise WarehouseLockedError(
                    f"warehouse {database} is locked by another process: "
                    f"{holder.group(1).strip() if holder else 'unknown holder'}; "
                    f"waited {lock_timeout:g}s (SALES_LOCK_TIMEOUT_SECONDS). Any open connection blocks "
                    "the load, read-only ones too: close it, or query a snapshot (README, 'Query the warehouse')."
                ) from None
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 2.0)


def run(connection, sql: str, params: Sequence = ()) -> list[tuple]:
    """Execute and drain a statement (DuckDB refuses new work while a result is pending)."""
    return connection.execute(sql, list(params)).fetchall()


def partition_filter(table_slice: TableSlice) -> tuple[str, list]:
    """WHERE clause and parameters selecting the slice's days (or everything)."""
    clauses, params = [], []
    for dimension in table_slice.partition_dimensions or ():
        window = dimension.partitions
        if not isinstance(window, TimeWindow):
            raise TypeError(f"{table_slice.table}: only daily time partitions are supported")
        column = quoted(dimension.partition_expr)
        clauses.append(f"{column} >= ? AND {column} < ?")
        params += [_day(window.start), _day(window.end)]
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _day(moment: datetime):
    return moment.date()


def _table(table_slice: TableSlice) -> str:
    return f"{quoted(table_slice.schema)}.{quoted(table_slice.table)}"


def _table_exists(connection, table_slice: TableSlice) -> bool:
    return bool(
        run(
            connection,
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",  # 3x faster than information_schema
            [table_slice.schema, table_slice.table],
        )[0][0]
    )


class TransactionalDuckDbClient(DuckDbClient):
    """Opens one transaction per IO call: delete + insert commit together or not at all."""

    @staticmethod
    @contextmanager
    def connect(context, _table_slice) -> Iterator[duckdb.DuckDBPyConnection]:
        config = context.resource_config
        connection = connect(
            config["database"],
            lock_timeout=config.get("lock_timeout_seconds", 120.0),
            config=config.get("connection_config") or {},
        )
        try:
            run(connection, "BEGIN TRANSACTION")
            yield connection
            run(connection, "COMMIT")
        except BaseException:
            run(connection, "ROLLBACK")
            raise
        finally:
            connection.close()

    @staticmethod
    def ensure_schema_exists(context, table_slice: TableSlice, connection) -> None:
        run(connection, f"CREATE SCHEMA IF NOT EXISTS {quoted(table_slice.schema)}")

    @staticmethod
    def delete_table_slice(context, table_slice: TableSlice, connection) -> None:
        if _table_exists(connection, table_slice):
            where, params = partition_filter(table_slice)
            run(connection, f"DELETE FROM {_table(table_slice)}{where}", params)


class GrowingPandasTypeHandler(DbTypeHandler[pd.DataFrame]):
    """Writes frames by column name (adding new columns) and reads day slices with parameters."""

    def handle_output(
        self, context: OutputContext, table_slice: TableSlice, obj: pd.DataFrame, connection
    ):
        table = _table(table_slice)
        connection.register("_sales_output", obj)
        try:
            if not _table_exists(connection, table_slice):
                run(connection, f"CREATE TABLE {table} AS SELECT * FROM _sales_output")
            else:
                have = {  # DuckDB names are case-insensitive: `Channel` is the column `channel`
                    row[0].lower()
                    for row in run(
                        connection,
                        "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ?",
                        [table_slice.schema, table_slice.table],
                    )
                }
                for name, kind, *_ in run(connection, "DESCRIBE SELECT * FROM _sales_output"):
                    if name.lower() not in have:
                        run(
                            connection,
                            f"ALTER TABLE {table} ADD COLUMN {quoted_column(name)} {kind}",
                        )
                run(connection, f"INSERT INTO {table} BY NAME SELECT * FROM _sales_output")
        finally:
            connection.unregister("_sales_output")
        context.add_output_metadata(
            {
                **TableMetadataSet(partition_row_count=len(obj), storage_kind="duckdb"),
                "dagster/table_name": f"{table_slice.schema}.{table_slice.table}",
                "dagster/column_schema": MetadataValue.table_schema(
                    TableSchema(
                        columns=[
                            TableColumn(name=str(n), type=str(t)) for n, t in obj.dtypes.items()
                        ]
                    )
                ),
            }
        )

    def load_input(
        self, context: InputContext, table_slice: TableSlice, connection
    ) -> pd.DataFrame:
        if table_slice.partition_dimensions and len(context.asset_partition_keys) == 0:
            return pd.DataFrame()
        columns = ", ".join(quoted(c) for c in table_slice.columns) if table_slice.columns else "*"
        where, params = partition_filter(table_slice)
        return (
            connection.sql(f"SELECT {columns} FROM {_table(table_slice)}{where}", params=params)
            .to_arrow_table()
            .to_pandas(types_mapper=_arrow_types)
        )

    @property
    def supported_types(self) -> Sequence[type]:
        return [pd.DataFrame]


def _arrow_types(arrow_type):
    """Keep text and dates arrow-backed when reading back, as the transforms produce them."""
    import pyarrow as pa

    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return pd.StringDtype("pyarrow")
    if pa.types.is_date32(arrow_type):
        return pd.ArrowDtype(arrow_type)
    return None


class HandoffDbIOManager(DbIOManager):
    """DbIOManager that hands a frame it has just committed to the next step of the same run.

    The in-process executor runs every step of a run in one process, so the step reading
    raw_sales (or cleaned_sales) can take the frame the previous step wrote instead of
    reading a million rows back from DuckDB. Frames are keyed by run id, asset and
    partitions, taken once, and dropped when another run writes; any miss (another process,
    another run, a retry, a column the frame lacks) reads the warehouse as before.
    """

    _frames: dict[tuple, pd.DataFrame] = {}
    _lock = threading.Lock()

    def handle_output(self, context: OutputContext, obj) -> None:
        super().handle_output(context, obj)  # committed: the warehouse holds exactly `obj`
        if isinstance(obj, pd.DataFrame) and context.has_asset_key:
            key = self._key(context.run_id, context)
            with self._lock:
                for stale in [k for k in self._frames if k[0] != context.run_id]:
                    del self._frames[stale]
                self._frames[key] = obj

    @staticmethod
    def _key(run_id: str, context: OutputContext | InputContext) -> tuple:
        """What a handed-over frame is: this run's slice of this asset."""
        return (
            run_id,
            context.asset_key,
            tuple(context.asset_partition_keys) if context.has_asset_partitions else (),
        )

    def load_input(self, context: InputContext):
        frame = self._take(context)
        return super().load_input(context) if frame is None else frame

    def _take(self, context: InputContext) -> pd.DataFrame | None:
        if not context.has_asset_key or not self._frames:
            return None
        try:
            run_id = context.step_context.run_id
        except DagsterInvariantViolationError:  # loaded outside a run (tests, notebooks)
            return None
        key = self._key(run_id, context)
        with self._lock:
            frame = self._frames.pop(key, None)
        columns = (context.definition_metadata or {}).get("columns")
        if frame is None or (columns and not set(columns) <= set(frame.columns)):
            return None
        return frame[list(columns)] if columns else frame


class SalesWarehouseIOManager(DuckDBPandasIOManager):
    """DuckDBPandasIOManager with one transaction per write, growing tables, empty days kept."""

    lock_timeout_seconds: float = Field(
        default=120.0, description="How long to wait for a locked warehouse."
    )

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        return [GrowingPandasTypeHandler()]

    def create_io_manager(self, context) -> DbIOManager:
        return HandoffDbIOManager(
            db_client=TransactionalDuckDbClient(),
            database=self.database,
            schema=self.schema_,
            type_handlers=self.type_handlers(),
            default_load_type=pd.DataFrame,
            io_manager_name="SalesWarehouseIOManager",
        )


class Warehouse(ConfigurableResource):
    """Read access to the warehouse for checks (history, completeness)."""

    database: str
    schema_name: str = "sales"
    lock_timeout_seconds: float = 120.0

    def query(self, sql: str, params: Sequence = ()) -> pd.DataFrame:
        """Run a read query; tables are named `{schema}.x` in `sql`. Missing tables read as empty."""
        connection = connect(self.database, lock_timeout=self.lock_timeout_seconds)
        try:
            return connection.execute(
                sql.format(schema=quoted(self.schema_name)), list(params)
            ).fetchdf()
        except duckdb.CatalogException:
            return pd.DataFrame()
        finally:
            connection.close()
