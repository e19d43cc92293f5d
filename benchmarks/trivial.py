"""A trivial one-asset Dagster code location: the fixed cost of any `dagster asset materialize` run.

dagster asset materialize -m benchmarks.trivial --select '*' --partition 2024-03-01
"""

from dagster import DailyPartitionsDefinition, Definitions, asset, in_process_executor


@asset(partitions_def=DailyPartitionsDefinition(start_date="2024-01-01"))
def trivial() -> int:
    """Does nothing; stored by the default filesystem IO manager."""
    return 1


defs = Definitions(assets=[trivial], executor=in_process_executor)
