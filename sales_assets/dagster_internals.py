"""Every use of Dagster internals (`dagster._...`) in the package, fenced in one module.

Each name below has no public equivalent in Dagster 1.13; `test_dagster_internals.py` pins
the behaviour we rely on, so an upgrade that moves or changes one fails there, loudly, first.
"""

from __future__ import annotations

# The SQL IO manager framework that dagster-duckdb itself is built on: our DuckDB and
# PostgreSQL IO managers subclass its client and type handler instead of re-inventing them.
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    # Points a check evaluation at the materialization it judged; without it the UI clears
    # a per-day result yielded from a step (there is no public constructor argument for it).
    AssetCheckEvaluationTargetMaterializationData,
)

# Standard table metadata keys (`dagster/partition_row_count`, ...), as the stock IO managers set them.
from dagster._core.definitions.metadata import TableMetadataSet

# Per-day check history for the CLI and tests (`get_asset_check_execution_history(partition_filter=...)`).
from dagster._core.event_api import PartitionKeyFilter

# Tells an interrupted run (Ctrl-C) from a failed one in `sales-assets backfill`.
from dagster._core.events import RunFailureReason
from dagster._core.storage.db_io_manager import (
    DbClient,
    DbIOManager,
    DbTypeHandler,
    TablePartitionDimension,
    TableSlice,
)

# "Now" as Dagster sees it (tests freeze it with dagster's own test clock).
from dagster._time import get_current_datetime

# Cron validation and ticks exactly as the schedule daemon computes them.
from dagster._utils.schedules import (
    get_latest_completed_cron_tick,
    get_next_cron_tick,
    is_valid_cron_string,
)

__all__ = [
    "AssetCheckEvaluationTargetMaterializationData",
    "DbClient",
    "DbIOManager",
    "DbTypeHandler",
    "PartitionKeyFilter",
    "RunFailureReason",
    "TableMetadataSet",
    "TablePartitionDimension",
    "TableSlice",
    "get_current_datetime",
    "get_latest_completed_cron_tick",
    "get_next_cron_tick",
    "is_valid_cron_string",
]
