"""Whole-table checks on sales_metrics: freshness by a daily deadline, and completeness.

Both look across days rather than at the run's day, so they are asset checks without a
partitions_def. They run:
- after every run that materializes sales_metrics (they belong to `daily_sales_job` and to
  `dagster asset materialize --select '*' --partition D`; Dagster 1.13 records their result
  unpartitioned, as the check's latest result, and leaves behind a PLANNED record stamped
  with the run's day, which the UI resolves from the run's status);
- on demand from the UI (the check's "Execute" button needs no day);
- for freshness, from `sales_metrics_freshness_sensor`, so a missed nightly load shows up
  even when nothing ran.

Freshness is this check plus a sensor that evaluates it in the sensor tick and records the
result as a runless check evaluation. Not `FreshnessPolicy`: in 1.13 a `FreshnessPolicy.cron`
looks at the asset's latest materialization of any partition, so a backfill of an old day
would count as fresh, while the contract asks whether the day that just ended is there. Not
`build_sensor_for_freshness_checks` either: it launches a run per evaluation (which waits
behind backfills in a one-writer run queue), and it never re-evaluates a check whose only
execution was planned in a run that stopped before it (a first nightly run that failed).
"""

from collections.abc import Iterable, Set
from datetime import date, datetime, timedelta

import pandas as pd
from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DefaultSensorStatus,
    MetadataValue,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset_check,
    sensor,
)

from .checks import SAMPLE_ROWS, markdown
from .dagster_internals import (
    get_current_datetime,
    get_latest_completed_cron_tick,
    get_next_cron_tick,
)
from .partitions import daily_partitions
from .settings import SETTINGS
from .warehouse import Warehouse

METRICS = AssetKey("sales_metrics")
FRESHNESS_CHECK = "sales_metrics_fresh"
COMPLETENESS_CHECK = "sales_metrics_complete"
FRESHNESS_SENSOR = "sales_metrics_freshness_sensor"
FRESH_UNTIL = "fresh_until"  # when a passing verdict can next turn: the next deadline


def freshness(instance: DagsterInstance, now: datetime, deadline_cron: str) -> AssetCheckResult:
    """Has sales_metrics been materialized for the day that ended before the last deadline tick?"""
    deadline = get_latest_completed_cron_tick(deadline_cron, now, "UTC")
    recent = daily_partitions.get_partition_keys(current_time=deadline)[-7:]
    expected = recent[-1] if recent else None
    present = instance.get_materialized_partitions(METRICS) & set(recent)
    latest = instance.fetch_materializations(AssetRecordsFilter(asset_key=METRICS), limit=1).records
    days = pd.DataFrame(
        {"day": list(reversed(recent)), "materialized": [d in present for d in reversed(recent)]}
    )
    metadata = {
        "expected_day": expected or "(none yet)",
        "deadline": MetadataValue.timestamp(deadline),
        "deadline_cron": deadline_cron,
        "latest_materialized_day": (latest[0].partition_key or "") if latest else "(never)",
        "recent_days": markdown(days),
    }
    if expected is None:
        passed, summary = (
            True,
            f"no day has ended before the deadline {deadline:%Y-%m-%d %H:%M} UTC yet",
        )
    else:
        passed = expected in present
        summary = (
            f"sales_metrics holds {expected} (due by {deadline:%Y-%m-%d %H:%M} UTC)"
            if passed
            else f"sales_metrics lacks {expected}: it was due by {deadline:%Y-%m-%d %H:%M} UTC, "
            f"{(now - deadline).total_seconds() / 3600:.1f} h ago"
        )
        if not passed:
            metadata["overdue_seconds"] = round((now - deadline).total_seconds())
    if passed:
        metadata[FRESH_UNTIL] = MetadataValue.timestamp(
            get_next_cron_tick(deadline_cron, now, "UTC")
        )
    return AssetCheckResult(
        check_name=FRESHNESS_CHECK,
        asset_key=METRICS,
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        description=summary,
        metadata=metadata,
    )


def completeness(
    expected_days: Iterable[str], with_rows: Set[str], materialized: Set[str]
) -> AssetCheckResult:
    """Every expected day has metrics rows, or was materialized with none (a zero-sales day)."""
    expected = list(expected_days)
    missing = [d for d in expected if d not in with_rows and d not in materialized]
    empty = [d for d in expected if d not in with_rows and d in materialized]
    ranges = _ranges(missing)
    first, last = (expected[0], expected[-1]) if expected else ("", "")
    summary = (
        f"all {len(expected)} days {first}..{last} have metrics"
        + (f" ({len(empty)} of them zero-sales)" if empty else "")
        if not missing
        else f"{len(missing)} of {len(expected)} days {first}..{last} have no metrics: "
        + ", ".join(f"{a}..{b}" if a != b else a for a, b, _ in ranges[:3])
        + (" ..." if len(ranges) > 3 else "")
    )
    return AssetCheckResult(
        check_name=COMPLETENESS_CHECK,
        asset_key=METRICS,
        passed=not missing,
        severity=AssetCheckSeverity.WARN,
        description=summary,
        metadata={
            "first_day": first,
            "last_complete_day": last,
            "expected_days": len(expected),
            "days_with_metrics": len(expected) - len(missing) - len(empty),
            "zero_sales_days": len(empty),
            "missing_days": len(missing),
            "missing_days_sample": markdown(pd.DataFrame({"missing day": missing[:SAMPLE_ROWS]})),
            "missing_ranges": markdown(pd.DataFrame(ranges, columns=["from", "to", "days"])),
            "zero_sales_days_sample": markdown(
                pd.DataFrame({"day materialized without rows": empty[:SAMPLE_ROWS]})
            ),
        },
    )


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


@asset_check(
    asset=METRICS,
    name=FRESHNESS_CHECK,
    blocking=False,
    description=(
        "sales_metrics holds the UTC day that just ended by the deadline SALES_FRESHNESS_DEADLINE_CRON "
        f"(now {SETTINGS.freshness_deadline_cron!r}, UTC): fails with ERROR when the expected day was never "
        "materialized. Evaluated after each run and by sales_metrics_freshness_sensor when nothing ran."
    ),
)
def sales_metrics_fresh(context: AssetCheckExecutionContext) -> AssetCheckResult:
    return freshness(context.instance, get_current_datetime(), SETTINGS.freshness_deadline_cron)


@asset_check(
    asset=METRICS,
    name=COMPLETENESS_CHECK,
    blocking=False,
    description=(
        "Every day from SALES_START_DATE to the last complete UTC day has sales_metrics rows (or was "
        "materialized as a zero-sales day); missing days are counted and listed (WARN). Whole table, "
        "not the run's day: run it after backfills, or from the UI."
    ),
)
def sales_metrics_complete(
    context: AssetCheckExecutionContext, warehouse: Warehouse
) -> AssetCheckResult:
    days = warehouse.query(
        "SELECT DISTINCT strftime(order_date, '%Y-%m-%d') AS day FROM {schema}.sales_metrics"
    )
    with_rows = set(days["day"]) if len(days) else set()
    expected = daily_partitions.get_partition_keys(current_time=get_current_datetime())
    return completeness(expected, with_rows, context.instance.get_materialized_partitions(METRICS))


@sensor(
    name=FRESHNESS_SENSOR,
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        f"Evaluates {FRESHNESS_CHECK} every 5 minutes without launching a run, and records its result "
        "when the verdict or the expected day changes, so a missed nightly load shows up by the deadline "
        "even when nothing ran."
    ),
)
def sales_metrics_freshness_sensor(context: SensorEvaluationContext):
    result = freshness(context.instance, get_current_datetime(), SETTINGS.freshness_deadline_cron)
    key = AssetCheckKey(METRICS, FRESHNESS_CHECK)
    last = context.instance.event_log_storage.get_asset_check_summary_records([key])[key]
    previous = (
        last.last_completed_check_execution_record.evaluation
        if last.last_completed_check_execution_record
        else None
    )
    if (
        previous is not None
        and previous.passed == result.passed
        and previous.metadata.get("expected_day") == result.metadata["expected_day"]
    ):
        return SkipReason(f"unchanged: {result.description}")
    return SensorResult(
        asset_events=[
            AssetCheckEvaluation(
                asset_key=METRICS,
                check_name=FRESHNESS_CHECK,
                passed=result.passed,
                metadata=result.metadata,
                severity=result.severity,
                description=result.description,
                blocking=False,
            )
        ]
    )


TABLE_CHECKS = [sales_metrics_fresh, sales_metrics_complete]
