"""How the assets run: the daily job, its schedule, the landing-zone sensor and failure alerts."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from dagster import (
    AssetCheckEvaluation,
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

from .alerts import AlertWebhook, failure_alert, post_alert
from .checks.table import SALES_METRICS_FRESH, freshness
from .dagster_internals import get_current_datetime
from .partitions import daily_partitions
from .resources import SalesSource
from .settings import SETTINGS, redact_url

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


@dataclass(frozen=True)
class DayFolder:
    day: str
    fingerprint: str  # digest of the data files' names, sizes and modification times
    changed_ns: int  # newest change (mtime or ctime) of the folder and its files

    @property
    def run_key(self) -> str:
        return f"{self.day}:{self.fingerprint}"


def scan_day_folder(folder: Path) -> DayFolder | None:
    """The folder's content fingerprint, or None when it holds no data files yet.

    Marker names (`.`/`_`, as the loader ignores them) are left out, so a `_SUCCESS` file or an
    in-progress `_x.partial` never changes the key; every other entry counts, including ones the
    loader will refuse (the run then fails naming them)."""
    entries = []
    stat = folder.stat()
    # ctime too: `tar x`, `cp -p` and `rsync -t` restore old mtimes, but the inode change time is now.
    newest = max(stat.st_mtime_ns, stat.st_ctime_ns)
    with os.scandir(folder) as scan:
        for entry in scan:
            if entry.name.startswith((".", "_")):
                continue
            stat = entry.stat()
            entries.append((entry.name, stat.st_size, stat.st_mtime_ns))
            newest = max(newest, stat.st_mtime_ns, stat.st_ctime_ns)
    if not entries:
        return None
    digest = hashlib.sha256(json.dumps(sorted(entries)).encode()).hexdigest()[:16]
    return DayFolder(folder.name, digest, newest)


def _is_day_name(name: str) -> bool:
    try:
        return len(name) == 10 and date.fromisoformat(name).isoformat() == name
    except ValueError:
        return False


def scan_landing_zone(
    landing_dir: Path, since_ns: int, waiting: set[str]
) -> tuple[list[DayFolder], set[str]]:
    """Day folders changed after `since_ns` (or still waiting to become partitions), oldest change first.

    Returns the changed folders whose names are partition keys, and the names of folders for
    days that are not partitions yet (today, or later): those are looked at again next tick
    whatever their modification time. Costs one stat per folder and file, no file reads."""
    changed, not_yet = [], set()
    first = daily_partitions.start.date().isoformat()
    last = daily_partitions.get_last_partition_key() or ""  # ISO dates compare as text
    with os.scandir(landing_dir) as scan:
        for entry in scan:
            name = entry.name
            if (
                name.startswith((".", "_"))
                or not _is_day_name(name)
                or name < first
                or not entry.is_dir()
            ):
                continue
            if name > last:
                not_yet.add(name)  # a day not complete yet: run it once it is a partition
                continue
            folder = scan_day_folder(Path(entry.path))
            if folder and (folder.changed_ns > since_ns or name in waiting):
                changed.append(folder)
    changed.sort(key=lambda f: (f.changed_ns, f.day))
    return changed, not_yet


@sensor(
    job=daily_sales_job,
    minimum_interval_seconds=LANDING_SENSOR_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING
    if SETTINGS.landing_dir
    else DefaultSensorStatus.STOPPED,
    description=(
        "Runs a day when its folder under SALES_LANDING_DIR is new or its files changed. The run key is "
        "the day plus a digest of its files' names, sizes and modification times, so the same files "
        "never run twice and a corrected file runs again. On by default when SALES_LANDING_DIR is set."
    ),
)
def landing_zone_sensor(context: SensorEvaluationContext, source: SalesSource):
    if not source.landing_dir:
        return SkipReason("SALES_LANDING_DIR is not set: the source is synthetic, nothing lands")
    cursor = json.loads(context.cursor) if context.cursor else {}
    since_ns, waiting = int(cursor.get("since_ns", 0)), set(cursor.get("waiting", []))
    changed, not_yet = scan_landing_zone(Path(source.landing_dir), since_ns, waiting)
    batch = changed[:MAX_RUN_REQUESTS_PER_TICK]
    # Advance the high-water mark only over what is requested, ties included, so nothing is skipped.
    while len(batch) < len(changed) and changed[len(batch)].changed_ns == batch[-1].changed_ns:
        batch.append(changed[len(batch)])
    if batch:
        since_ns = max(since_ns, batch[-1].changed_ns)
    # Days that just became partitions but did not fit in this tick stay waiting for the next.
    not_yet |= {folder.day for folder in changed[len(batch) :] if folder.day in waiting}
    next_cursor = json.dumps({"since_ns": since_ns, "waiting": sorted(not_yet)})
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
def run_failure_alert(context: RunFailureSensorContext, alerts: AlertWebhook):
    alert = failure_alert(
        context.instance,
        context.dagster_run,
        context.get_step_failure_events(),
        context.failure_event.message or "",
    )
    context.log.error(alert["text"])
    if not alerts.url:
        return
    problem = post_alert(alerts.url, alert, timeout=alerts.timeout_seconds)
    if problem:
        context.log.warning(problem)
    else:
        context.log.info(f"alert for run {alert['run_id']} sent to {redact_url(alerts.url)}")


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
    evaluation = AssetCheckEvaluation(
        asset_key=key.asset_key,
        check_name=key.name,
        passed=found.passed,
        metadata=found.metadata,
        severity=found.severity,
        description=found.summary,
        blocking=False,
    )
    return SensorResult(asset_events=[evaluation])
