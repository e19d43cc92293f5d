"""SalesWarehouseIOManager: Dagster's own `DbIOManager` over the DuckDB or PostgreSQL warehouse.

`DbIOManager` works out the table and the days (a `TableSlice`) from the asset and its
partitions, and calls a `DbClient` and a `DbTypeHandler`; we supply those two, and they fix
what the stock DuckDB one gets wrong for this project:
- the delete of the days and the insert of the new rows share one transaction, so a crash
  between them leaves the previous rows whole;
- rows are inserted by column name, adding the columns the table lacks (schema v2 files,
  extra raw columns);
- an empty frame still creates its table (a zero-sales first day is stored);
- identifiers are checked and quoted; partition bounds travel as query parameters.
Inputs are read on a read-only connection (DuckDB) or outside any transaction (PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

import pandas as pd
from dagster import (
    ConfigurableIOManagerFactory,
    InputContext,
    MetadataValue,
    OutputContext,
    TableColumn,
    TableSchema,
    TimeWindow,
)
from pydantic import Field

from ..dagster_internals import DbClient, DbIOManager, DbTypeHandler, TableMetadataSet, TableSlice
from .common import client_for, empty_frame, qualified, quoted, quoted_columns, to_arrow, to_frame


def partition_filter(table_slice: TableSlice) -> tuple[str, list]:
    """WHERE clause (with `?` placeholders) and parameters selecting the slice's days, or all."""
    clauses, params = [], []
    for column, start, end in _spans(table_slice):
        clauses.append(f"{quoted(column)} >= ? AND {quoted(column)} < ?")
        params += [start, end]
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _spans(table_slice: TableSlice) -> list[tuple]:
    """(column, first day, day after the last) for each partition dimension of the slice."""
    spans = []
    for dimension in table_slice.partition_dimensions or ():
        window = dimension.partitions
        if not isinstance(window, TimeWindow):
            raise TypeError(f"{table_slice.table}: only daily time partitions are supported")
        quoted(dimension.partition_expr)  # refuse an expression before it gets anywhere
        spans.append((dimension.partition_expr, _day(window.start), _day(window.end)))
    return spans


def _day(moment: datetime):
    return moment.date()


class SalesDbClient(DbClient):
    """Opens a write transaction per output, and a plain reader per input."""

    def __init__(self, client):
        self.client = client

    @contextmanager
    def connect(self, context: OutputContext | InputContext, table_slice: TableSlice) -> Iterator:
        if isinstance(context, InputContext):
            yield self.client
            return
        with self.client.session(context.log) as session:
            yield session

    def ensure_schema_exists(self, context, table_slice: TableSlice, connection) -> None:
        """Done by the type handler, which knows the frame's columns and creates schema,
        table and columns in the same transaction."""

    def delete_table_slice(self, context, table_slice: TableSlice, connection) -> None:
        spans = _spans(table_slice)
        if not spans:
            raise ValueError(f"{table_slice.table}: only daily-partitioned assets are stored")
        for column, start, end in spans:
            connection.delete(table_slice.schema, table_slice.table, column, start, end)

    def get_table_name(self, table_slice: TableSlice) -> str:
        return f"{table_slice.schema}.{table_slice.table}"

    def get_select_statement(self, table_slice: TableSlice) -> str:
        where, params = partition_filter(table_slice)
        columns = quoted_columns(table_slice.columns)
        bounds = ", ".join(str(p) for p in params)
        statement = (
            f"SELECT {columns} FROM {qualified(table_slice.schema, table_slice.table)}{where}"
        )
        return statement + (f" -- parameters: {bounds}" if bounds else "")


class GrowingPandasTypeHandler(DbTypeHandler[pd.DataFrame]):
    """Writes frames by column name (adding new columns) and reads day slices with parameters."""

    def handle_output(
        self, context: OutputContext, table_slice: TableSlice, obj: pd.DataFrame, connection
    ):
        data = to_arrow(obj)
        column = _spans(table_slice)[0][0]
        connection.prepare(table_slice.schema, table_slice.table, data.schema, column)
        if data.num_rows:
            connection.insert(table_slice.schema, table_slice.table, data)
        return {
            **TableMetadataSet(partition_row_count=len(obj), storage_kind=connection.kind),
            "dagster/column_schema": MetadataValue.table_schema(
                TableSchema(
                    columns=[TableColumn(name=str(n), type=str(t)) for n, t in obj.dtypes.items()]
                )
            ),
            # A run that waited for the warehouse says how long (the delete already ran).
            "lock_wait_seconds": round(connection.lock_wait_seconds, 2),
        }

    def load_input(
        self, context: InputContext, table_slice: TableSlice, connection
    ) -> pd.DataFrame:
        if table_slice.partition_dimensions and len(context.asset_partition_keys) == 0:
            return pd.DataFrame()
        spans = _spans(table_slice)
        if len(spans) == 1:
            table = connection.read_days(
                table_slice.schema, table_slice.table, table_slice.columns, *spans[0]
            )
        else:
            columns = quoted_columns(table_slice.columns)
            where, params = partition_filter(table_slice)
            table = connection.read(
                f"SELECT {columns} FROM {qualified(table_slice.schema, table_slice.table)}{where}",
                params,
            )
        return empty_frame(table_slice.columns) if table is None else to_frame(table)

    @property
    def supported_types(self) -> Sequence[type]:
        return [pd.DataFrame]


class SalesWarehouseIOManager(ConfigurableIOManagerFactory):
    """Daily asset tables in the warehouse: DuckDB file or PostgreSQL, one transaction per write."""

    url: str = Field(
        description="A DuckDB file, or postgresql://user@host:port/db (set from SALES_WAREHOUSE by build_resources)."
    )
    schema_name: str = Field(description="The schema holding the asset tables (sales).")
    lock_timeout_seconds: float = Field(
        description="How long to wait for a locked DuckDB file (set from SALES_LOCK_TIMEOUT_SECONDS by build_resources)."
    )

    def create_io_manager(self, context) -> DbIOManager:
        return DbIOManager(
            db_client=SalesDbClient(client_for(self.url, self.lock_timeout_seconds)),
            database="warehouse",  # only ever shown through get_table_name, which leaves it out
            schema=self.schema_name,
            type_handlers=[GrowingPandasTypeHandler()],
            default_load_type=pd.DataFrame,
            io_manager_name="SalesWarehouseIOManager",
        )
