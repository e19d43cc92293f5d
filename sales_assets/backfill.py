"""`sales-assets backfill START END`: load days in order from the terminal, in this process.

The days go through `daily_sales_job` in runs of SALES_BACKFILL_DAYS_PER_RUN days (the same
runs a UI backfill launches), recorded in the instance at DAGSTER_HOME. Every day still gets
its own materializations, check results and blocking; the table printed at the end has one
line per day.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from datetime import timedelta

from dagster import BetaWarning, DagsterInstance, PreviewWarning
from tabulate import tabulate
from tqdm import tqdm

from .assets import BAD_DAYS
from .checks.whole_table import SALES_METRICS_COMPLETE
from .dagster_internals import RunFailureReason

# Keep Dagster's per-event console log out of the terminal: the progress bar and the summary
# say what happened; every event is still written to the instance's event log.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
BACKFILL_TAG = "sales_assets/cli_backfill"
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def chunks(days: list[str], size: int) -> list[list[str]]:
    return [days[i : i + size] for i in range(0, len(days), size)]


def open_instance() -> DagsterInstance:
    if os.environ.get("DAGSTER_HOME"):
        instance = DagsterInstance.get()
    else:
        print(
            "sales-assets backfill: DAGSTER_HOME is not set, so the runs go to a temporary "
            "instance and will not show in the UI; set DAGSTER_HOME to record them (see README).",
            file=sys.stderr,
        )
        instance = DagsterInstance.ephemeral()
    # Hold pooled storage connections across runs, as the webserver does (PostgreSQL otherwise
    # opens a connection per event write). A no-op on SQLite.
    instance.optimize_for_webserver(statement_timeout=60_000, pool_recycle=3600, max_overflow=10)
    return instance


def run_days(job, instance, days: list[str], tags: dict) -> tuple[list[dict], object]:
    """One run over `days`; one summary row per day, read from the run's events."""
    from .workers import execute_run  # in this process, or its step on Celery workers

    started = time.perf_counter()
    result = execute_run(
        job, instance, {**tags, RANGE_START: days[0], RANGE_END: days[-1]}, QUIET_LOGS
    )
    seconds = (time.perf_counter() - started) / len(days)
    return [day_row(day, result, seconds) for day in days], result


def _bad_days(result) -> dict[str, list[str]]:
    for event in result.get_step_failure_events():
        data = event.step_failure_data.user_failure_data
        if data is not None and BAD_DAYS in data.metadata:
            return data.metadata[BAD_DAYS].value
    return {}


def day_row(day: str, result, seconds: float) -> dict:
    """A day's line: status (ok, blocked, failed), rows per table, checks, why."""
    rows = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.partition == day and "rows" in materialization.metadata:
            rows[materialization.asset_key.to_user_string()] = materialization.metadata[
                "rows"
            ].value
    evaluations = [e for e in result.get_asset_check_evaluations() if e.partition == day]
    failed = [e.check_name for e in evaluations if not e.passed]
    status, detail = _bad_days(result).get(day, ("ok", ", ".join(f"{c} (warn)" for c in failed)))
    if not result.success and status == "ok" and "sales_metrics" not in rows:
        status, detail = "failed", _step_error(result)
    return {
        "day": day,
        "status": status,
        "raw": rows.get("raw_sales", "-"),
        "cleaned": rows.get("cleaned_sales", "-"),
        "rejected": rows.get("rejected_sales", "-"),
        "checks ok": len(evaluations) - len(failed),
        "checks failed": len(failed),
        "seconds": round(seconds, 2),
        "detail": detail[:160],
        "run_id": result.run_id,
    }


def _step_error(result) -> str:
    from .alerts import step_error

    errors = [step_error(e) for e in result.get_step_failure_events()]
    return "; ".join(errors) or "run failed"


def _interrupted(result) -> bool:
    return any(
        event.event_type_value == "PIPELINE_FAILURE"
        and event.job_failure_data.failure_reason == RunFailureReason.UNEXPECTED_TERMINATION
        for event in result.all_events
    )


def _completeness(result) -> str | None:
    found = [
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == SALES_METRICS_COMPLETE.name
    ]
    return found[-1].description if found else None


def backfill(start: str, end: str, quiet: bool = False) -> int:
    """Load START..END (inclusive); print one line per day; exit 0 only if every day loaded."""
    for category in (BetaWarning, PreviewWarning):  # about our definitions, not this backfill
        warnings.filterwarnings("ignore", category=category)
    from .definitions import defs
    from .partitions import partition_day
    from .settings import SETTINGS, SettingsError

    try:
        first, last = partition_day(start), partition_day(end)
    except ValueError as error:
        print(f"sales-assets backfill: {error}", file=sys.stderr)
        return 2
    if last < first:
        print(f"sales-assets backfill: END {last} is before START {first}", file=sys.stderr)
        return 2
    days = [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
    job = defs.resolve_job_def("daily_sales_job")
    tags = {BACKFILL_TAG: f"{days[0]}..{days[-1]}@{int(time.time())}"}
    rows, completeness, interrupted = [], None, False
    with open_instance() as instance:
        progress = tqdm(total=len(days), desc="backfill", unit="day", disable=quiet)
        try:
            for run in chunks(days, SETTINGS.backfill_days_per_run):
                progress.set_postfix_str(f"{run[0]}..{run[-1]}")
                summaries, result = run_days(job, instance, run, tags)
                rows += summaries
                completeness = _completeness(result) or completeness
                progress.update(len(run))
                if _interrupted(result):  # Dagster turns Ctrl-C into a failed run and returns
                    raise KeyboardInterrupt
        except KeyboardInterrupt:
            interrupted = True  # the run in progress is recorded as failed; report what is done
        except SettingsError as error:  # celery without a shared instance
            print(f"sales-assets backfill: {error}", file=sys.stderr)
            return 2
        progress.close()
    return report(rows, days, tags, completeness, interrupted)


def report(rows: list[dict], days: list[str], tags: dict, completeness, interrupted: bool) -> int:
    print(
        tabulate(
            [{k: v for k, v in r.items() if k != "run_id"} for r in rows],
            headers="keys",
            tablefmt="github",
        )
    )
    bad = [r for r in rows if r["status"] != "ok"]
    total = sum(r["seconds"] for r in rows)
    print(
        f"\n{len(rows) - len(bad)} of {len(days)} day(s) succeeded in {total:.1f}s "
        f"({total / max(len(rows), 1):.2f}s a day); runs tagged {BACKFILL_TAG}={tags[BACKFILL_TAG]}"
    )
    if completeness:
        print(f"completeness ({SALES_METRICS_COMPLETE.name}): {completeness}")
    for row in bad:
        print(
            f"{row['status'].upper()} {row['day']} (run {row['run_id']}): {row['detail']}",
            file=sys.stderr,
        )
    if interrupted:
        print(f"INTERRUPTED after {len(rows)} of {len(days)} day(s)", file=sys.stderr)
        return 130
    return 1 if bad else 0
