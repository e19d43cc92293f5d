"""Whole-table checks on sales_metrics: freshness by a daily deadline, and completeness.

They look across days rather than at one day, so they have no partitions. Completeness is
judged once at the end of every run that loads metrics (and from the UI's Execute button);
freshness is judged by the clock, by `sales_metrics_freshness_sensor` without a run (and from
the UI): a re-run of an old day never changes its verdict, and it is left out of the job.

Not `FreshnessPolicy`: in 1.13 it looks at the latest materialization of any partition, so a
backfill of an old day would count as fresh, while the contract asks whether the day that just
ended is there. Not `build_sensor_for_freshness_checks` either: it launches a run per
evaluation, which waits behind backfills in a one-writer run queue.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from datetime import date, datetime, timedelta

import pandas as pd
from dagster import AssetCheckSeverity, AssetKey, DagsterInstance, MetadataValue

from ..dagster_internals import get_latest_completed_cron_tick, get_next_cron_tick
from ..partitions import daily_partitions
from .base import SAMPLE_ROWS, Check, Finding, table

METRICS = AssetKey("sales_metrics")
FRESH_UNTIL = "fresh_until"  # when a passing verdict can next turn: the next deadline


def newest_day_loaded(materialized: Set[str]) -> str:
    """The newest day materialized (not the latest run: a re-run of an old day is not new)."""
    return max(materialized) if materialized else "(none)"


def freshness(instance: DagsterInstance, now: datetime, deadline_cron: str) -> Finding:
    """Has sales_metrics been materialized for the day that ended before the last deadline?"""
    deadline = get_latest_completed_cron_tick(deadline_cron, now, "UTC")
    recent = daily_partitions.get_partition_keys(current_time=deadline)[-7:]
    expected = recent[-1] if recent else None
    materialized = instance.get_materialized_partitions(METRICS)
    days = pd.DataFrame(
        {"day": recent[::-1], "materialized": [d in materialized for d in recent[::-1]]}
    )
    metadata = {
        "expected_day": expected or "(none yet)",
        "deadline": MetadataValue.timestamp(deadline),
        "deadline_cron": deadline_cron,
        "newest_day_loaded": newest_day_loaded(materialized),
        "recent_days": table(days),
    }
    if expected is None:
        return Finding(
            True,
            f"no day has ended before the deadline {deadline:%Y-%m-%d %H:%M} UTC yet",
            metadata,
        )
    passed = expected in materialized
    if passed:
        metadata[FRESH_UNTIL] = MetadataValue.timestamp(
            get_next_cron_tick(deadline_cron, now, "UTC")
        )
        return Finding(
            True, f"sales_metrics holds {expected} (due by {deadline:%Y-%m-%d %H:%M} UTC)", metadata
        )
    overdue = (now - deadline).total_seconds()
    metadata["overdue_seconds"] = round(overdue)
    return Finding(
        False,
        f"sales_metrics lacks {expected}: it was due by {deadline:%Y-%m-%d %H:%M} UTC, "
        f"{overdue / 3600:.1f} h ago; newest day loaded: {metadata['newest_day_loaded']}",
        metadata,
    )


def completeness(
    expected_days: Iterable[str], with_rows: Set[str], materialized: Set[str]
) -> Finding:
    """Every expected day has metrics rows, or was materialized with none (a zero-sales day)."""
    expected = list(expected_days)
    missing = [d for d in expected if d not in with_rows and d not in materialized]
    empty = [d for d in expected if d not in with_rows and d in materialized]
    ranges = _ranges(missing)
    first, last = (expected[0], expected[-1]) if expected else ("", "")
    newest = newest_day_loaded(set(with_rows) | set(materialized))
    if missing:
        shown = ", ".join(f"{a}..{b}" if a != b else a for a, b, _ in ranges[:3])
        summary = (
            f"{len(missing)} of {len(expected)} days {first}..{last} have no metrics: {shown}"
            + (" ..." if len(ranges) > 3 else "")
            + f"; newest day loaded: {newest}"
        )
    else:
        zero = f" ({len(empty)} of them zero-sales)" if empty else ""
        summary = f"all {len(expected)} days {first}..{last} have metrics{zero}"
    return Finding(
        not missing,
        summary,
        {
            "first_day": first,
            "last_complete_day": last,
            "newest_day_loaded": newest,
            "expected_days": len(expected),
            "days_with_metrics": len(expected) - len(missing) - len(empty),
            "zero_sales_days": len(empty),
            "missing_days": len(missing),
            "missing_ranges": table(pd.DataFrame(ranges, columns=["from", "to", "days"])),
            "zero_sales_days_sample": table(pd.DataFrame({"zero-sales day": empty[:SAMPLE_ROWS]})),
        },
        AssetCheckSeverity.WARN,
    )


def completeness_now(instance: DagsterInstance, query, now: datetime) -> Finding:
    """Completeness of sales_metrics from SALES_START_DATE to the last complete day."""
    days = query("SELECT DISTINCT order_date FROM {schema}.sales_metrics")
    with_rows = (
        set(pd.to_datetime(days["order_date"]).dt.strftime("%Y-%m-%d")) if len(days) else set()
    )
    expected = daily_partitions.get_partition_keys(current_time=now)
    return completeness(expected, with_rows, instance.get_materialized_partitions(METRICS))


def _ranges(days: list[str]) -> list[tuple[str, str, int]]:
    """Consecutive ISO days folded into (from, to, count)."""
    ranges: list[tuple[str, str, int]] = []
    for day in days:
        if ranges and date.fromisoformat(ranges[-1][1]) + timedelta(days=1) == date.fromisoformat(
            day
        ):
            ranges[-1] = (ranges[-1][0], day, ranges[-1][2] + 1)
        else:
            ranges.append((day, day, 1))
    return ranges


SALES_METRICS_FRESH = Check(
    "sales_metrics_fresh",
    "sales_metrics",
    blocking=False,
    description=(
        "sales_metrics holds the UTC day that just ended by the deadline "
        "SALES_FRESHNESS_DEADLINE_CRON (UTC): ERROR when that day was never materialized. Judged "
        "by the clock (sales_metrics_freshness_sensor, every 5 minutes, without a run); loading an "
        "old day never changes it."
    ),
    evaluate=freshness,
)

SALES_METRICS_COMPLETE = Check(
    "sales_metrics_complete",
    "sales_metrics",
    blocking=False,
    description=(
        "Every day from SALES_START_DATE to the last complete UTC day has sales_metrics rows (or "
        "was materialized as a zero-sales day); missing days are counted and listed (WARN). "
        "Judged once at the end of every run that loads metrics, and from the UI."
    ),
    evaluate=completeness_now,
)
