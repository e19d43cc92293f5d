"""Dagster's own floor for a daily backfill on this machine: one trivial daily asset.

Used by benchmarks/daemon_backfill.py beside the real code location. Same partitioning and the
same in-process executor as sales_assets, so the difference is the project's own work.
"""

from dagster import (
    DailyPartitionsDefinition,
    Definitions,
    MaterializeResult,
    asset,
    in_process_executor,
)

days = DailyPartitionsDefinition(start_date="2024-01-01", timezone="UTC")


@asset(partitions_def=days)
def trivial_daily() -> MaterializeResult:
    return MaterializeResult()


defs = Definitions(assets=[trivial_daily], executor=in_process_executor)
