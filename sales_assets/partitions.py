"""The one daily partitioning: UTC days from SALES_START_DATE to the last complete day."""

from __future__ import annotations

from datetime import date

from dagster import DailyPartitionsDefinition

from .settings import SETTINGS

daily_partitions = DailyPartitionsDefinition(
    start_date=SETTINGS.start_date.isoformat(), timezone="UTC"
)


def partition_day(partition_key: str) -> date:
    """A partition key as a date, refusing keys outside the partitioning with the valid range."""
    keys = daily_partitions.get_partition_keys()
    first, last = (
        (keys[0], keys[-1]) if keys else (daily_partitions.start.date().isoformat(), "(none yet)")
    )
    try:
        day = date.fromisoformat(partition_key)
    except (TypeError, ValueError):
        raise ValueError(
            f"day {partition_key!r} is not a YYYY-MM-DD date; valid days: {first} .. {last}"
        ) from None
    if not daily_partitions.has_partition_key(partition_key):
        raise ValueError(
            f"day {partition_key} is outside the partitions; valid days: {first} .. {last}"
        )
    return day
