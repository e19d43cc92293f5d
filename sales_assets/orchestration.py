"""How the assets run: the daily job, its schedule, the landing-zone sensor and failure alerts."""

from __future__ import annotations

from datetime import date

from dagster import (
    AssetCheckKey,
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    partition_loading_context,
    run_failure_sensor,
    schedule,
    sensor,
)

from .alerts import PARTITION_TAG, AlertWebhook, failure_alert, post_alert
from .assets import BAD_DAYS
from .checks.whole_table import SALES_METRICS_FRESH, freshness
from .dagster_internals import get_current_datetime
from .day_events import table_evaluation
from .monitoring import push_run_failed
from .partitions import daily_partitions
from .resources import Monitoring, SalesSource
from .settings import SETTINGS, redact_url
from .sources.landing_zone import landing_tick

RANGE_START_TAG = "dagster/asset_partition_range_start"

daily_sales_job = define_asset_job(
    "daily_sales_job",
    # Freshness is judged by its sensor against the clock; in a backfill of old days it would
    # only repeat "yesterday is missing" on every run.
    selection=AssetSelection.groups("sales") - AssetSelection.checks(SALES_METRICS_FRESH.key),
    partitions_def=daily_partitions,
    description=(
        "Loads days (one, or a range in a backfill) into raw_sales, cleaned_sales, rejected_sales "
        "and sales_metrics and renders sales_report, with each day's checks, then the "
        "completeness check over all days."
    ),
)


@schedule(
    job=daily_sales_job,
    cron_schedule=SETTINGS.schedule_cron,
    execution_timezone=SETTINGS.timezone,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Each tick runs the UTC day that has just ended (SALES_SCHEDULE_CRON, SALES_TIMEZONE).",
)
def daily_sales_schedule(context: ScheduleEvaluationContext):
    with partition_loading_context(context.scheduled_execution_time):
        day = daily_partitions.get_last_partition_key()
    if day is None:
        return SkipReason(f"no complete day yet since {daily_partitions.start.date()}")
    return RunRequest(run_key=day, partition_key=day)


# ---------------------------------------------------------------------------------------------
# Landing zone

LANDING_SENSOR_INTERVAL_SECONDS = 30
MAX_RUN_REQUESTS_PER_TICK = 100


@sensor(
    job=daily_sales_job,
    minimum_interval_seconds=LANDING_SENSOR_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING
    if SETTINGS.landing_dir
    else DefaultSensorStatus.STOPPED,
    description=(
        "Runs a day when its folder (or S3 prefix) under SALES_LANDING_DIR is new or its files changed. "
        "The run key is the day plus a digest of its files' names, sizes and modification times "
        "(S3: LastModified), read from listings only, so the same files never run twice and a "
        "corrected file runs again. On by default when SALES_LANDING_DIR is set."
    ),
)
def landing_zone_sensor(context: SensorEvaluationContext, source: SalesSource):
    if not source.landing_dir:
        return SkipReason("SALES_LANDING_DIR is not set: the source is synthetic, nothing lands")
    days = (
        daily_partitions.start.date().isoformat(),
        daily_partitions.get_last_partition_key() or "",
    )
    batch, next_cursor = landing_tick(
        source.landing_dir, context.cursor, days, MAX_RUN_REQUESTS_PER_TICK
    )
    requests = [
        RunRequest(
            run_key=folder.run_key,
            partition_key=folder.day,
            tags={"sales_assets/landing_fingerprint": folder.fingerprint},
        )
        for folder in batch
    ]
    if not requests:
        return SensorResult(
            skip_reason=f"no new or changed day folder under {source.landing_dir}",
            cursor=next_cursor,
        )
    context.log.info(f"requesting {len(requests)} day(s): {', '.join(f.day for f in batch[:20])}")
    return SensorResult(run_requests=requests, cursor=next_cursor)


# ---------------------------------------------------------------------------------------------
# Alerts


@run_failure_sensor(
    name="run_failure_alert",
    default_status=DefaultSensorStatus.RUNNING,
    # Every failed run in the instance, including those of `sales-assets backfill`: runs executed
    # in-process carry no code location, so a location-scoped sensor would never see them.
    monitor_all_code_locations=True,
    description="Logs every failed run in the instance and POSTs a JSON alert to SALES_ALERT_WEBHOOK_URL when set.",
)
def run_failure_alert(
    context: RunFailureSensorContext, alerts: AlertWebhook, monitoring: Monitoring
):
    failures = context.get_step_failure_events()
    run = context.dagster_run
    alert = failure_alert(context.instance, run, failures, context.failure_event.message or "")
    context.log.error(alert["text"])
    if monitoring.url and not any(_bad_days(event) for event in failures):
        # Bad days pushed their own figures from the run; a run that crashed or was killed
        # could not, so the dashboard hears of it here.
        day = run.tags.get(PARTITION_TAG) or run.tags.get(RANGE_START_TAG)
        day = date.fromisoformat(day) if day else None
        push_run_failed(monitoring.url, run.job_name, run.run_id, day, log=context.log)
    if not alerts.url:
        return
    problem = post_alert(alerts.url, alert, timeout=alerts.timeout_seconds)
    if problem:
        context.log.warning(problem)
    else:
        context.log.info(f"alert for run {alert['run_id']} sent to {redact_url(alerts.url)}")


def _bad_days(event) -> bool:
    """Did the step fail because some days were blocked or failed (not a crash)?"""
    data = event.step_failure_data.user_failure_data if event.step_failure_data else None
    return data is not None and BAD_DAYS in data.metadata


# ---------------------------------------------------------------------------------------------
# Freshness, judged by the clock


@sensor(
    name="sales_metrics_freshness_sensor",
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        f"Evaluates {SALES_METRICS_FRESH.name} every 5 minutes without launching a run, and "
        "records its result when the verdict or the expected day changes, so a missed nightly "
        "load shows up by the deadline even when nothing ran."
    ),
)
def sales_metrics_freshness_sensor(context: SensorEvaluationContext):
    found = freshness(context.instance, get_current_datetime(), SETTINGS.freshness_deadline_cron)
    key: AssetCheckKey = SALES_METRICS_FRESH.key
    last = context.instance.event_log_storage.get_asset_check_summary_records([key])[key]
    record = last.last_completed_check_execution_record
    previous = record.evaluation if record else None
    if (
        previous is not None
        and previous.passed == found.passed
        and getattr(previous.metadata.get("expected_day"), "value", None)
        == found.metadata["expected_day"]
    ):
        return SkipReason(f"unchanged: {found.summary}")
    evaluation = table_evaluation(context.instance, SALES_METRICS_FRESH, found)
    return SensorResult(asset_events=[evaluation])
