"""Operations figures of each day's load, pushed to a Prometheus Pushgateway.

Dagster open source has no metrics endpoint; Prometheus's answer for batch work is the
Pushgateway. A run pushes one day's figures right after it decides that day (ok, blocked or
failed), from inside the run, so no daemon is needed. Nothing here imports Dagster.

Grouping: every push goes to job `sales_assets` and one of a few fixed groups (label `group`),
each replaced whole by a PUT, so nothing stale survives inside a group:

- `last_day`: every figure of the day pushed last, whatever its status. The day itself is a
  value (`sales_day_timestamp_seconds`), never a label: a label per day would add series for
  ever. A held-back table or a missing revenue is absent, not a stale number.
- `last_success`, `last_blocked`, `last_failure`: when the newest day of that status was
  pushed, and which day. Only a push of that status replaces its group, so a blocked or
  failed day never wipes `sales_last_success_timestamp_seconds`.
- `last_run`: a run as a whole (duration, days by status), from `push_run`.

Pushed batch figures are gauges (a snapshot of one day), so no name ends in `_total`.
A Pushgateway that is down or slow never fails a load and delays it little (see
`pushgateway.py`).
"""

from __future__ import annotations

import calendar
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from prometheus_client import CollectorRegistry, Gauge

from .pushgateway import push_groups

STATUSES = ("ok", "blocked", "failed")
SEVERITIES = ("ERROR", "WARN")
STATUS_WORD = {"ok": "success", "blocked": "blocked", "failed": "failure"}  # in names and groups

# name -> (help, label names); one table so both push paths send identical HELP text.
METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "sales_day_timestamp_seconds": ("The day (00:00 UTC, unix time) the sales_day_* figures describe.", ()),
    "sales_day_status": ("1 for the status of the day pushed last (ok, blocked, failed), 0 for the others.", ("status",)),
    "sales_day_info": ("1; the Dagster job that ran the day pushed last.", ("dagster_job",)),
    "sales_day_rows": ("Rows of the day written per table; a table held back by a blocked day is absent.", ("table",)),
    "sales_day_rejected_rows": ("Rows of the day rejected, by reject_reason.", ("reason",)),
    "sales_day_revenue": ("Sum of the day's cleaned amount (absent when the day was not published).", ()),
    "sales_day_duration_seconds": ("Wall time of the day's work.", ()),
    "sales_day_stage_duration_seconds": ("Wall time of each stage of the day's work.", ("stage",)),
    "sales_day_rows_per_second": ("Raw rows of the day per second of the day's work.", ()),
    "sales_day_check_passed": ("1 if the check passed for the day, 0 if it failed.", ("check", "asset", "severity")),
    "sales_day_checks_failed": ("Checks of the day that failed, by severity.", ("severity",)),
    "sales_day_lock_wait_seconds": ("Time the day waited for the warehouse lock.", ()),
    "sales_day_finished_timestamp_seconds": ("When the day's work finished (unix time).", ()),
    "sales_max_reject_rate": ("SALES_MAX_REJECT_RATE: rejected share that blocks a day (a fifth of it warns).", ()),
    "sales_last_push_timestamp_seconds": ("When a day's figures were last pushed (unix time).", ()),
    "sales_last_success_timestamp_seconds": ("When a day was last loaded ok (unix time).", ()),
    "sales_last_success_day_timestamp_seconds": ("The day (00:00 UTC) last loaded ok.", ()),
    "sales_last_blocked_timestamp_seconds": ("When a day was last blocked by a failed check (unix time).", ()),
    "sales_last_blocked_day_timestamp_seconds": ("The day (00:00 UTC) last blocked.", ()),
    "sales_last_failure_timestamp_seconds": ("When a run last failed on a day or crashed (unix time).", ()),
    "sales_last_failure_day_timestamp_seconds": ("The day (00:00 UTC) that last failed, when known.", ()),
    "sales_run_duration_seconds": ("Wall time of the last run that reported itself.", ()),
    "sales_run_days": ("Days of the last run that reported itself, by status.", ("status",)),
    "sales_run_finished_timestamp_seconds": ("When the last run that reported itself finished (unix time).", ()),
}  # fmt: skip


@dataclass(frozen=True)
class CheckOutcome:
    """One check's verdict on one day."""

    check: str
    asset: str
    severity: str  # "ERROR" | "WARN"
    passed: bool

    def __post_init__(self):
        if self.severity not in SEVERITIES:
            raise ValueError(f"check {self.check}: severity {self.severity!r} not in {SEVERITIES}")


@dataclass(frozen=True)
class DayFigures:
    """What one day's load did, as the run saw it.

    `rows`: table -> rows written for the day (raw_sales, cleaned_sales, rejected_sales,
    sales_metrics); leave out a table the day did not publish. `rejects_by_reason`: pass
    every reason (zeros included) to keep each reason's series continuous.
    `max_reject_rate` is SALES_MAX_REJECT_RATE, exported so alert rules need no copy of it.
    """

    day: date
    status: str  # "ok" | "blocked" | "failed"
    job: str
    run_id: str
    rows: Mapping[str, int]
    rejects_by_reason: Mapping[str, int]
    revenue: float | None
    day_seconds: float
    stage_seconds: Mapping[str, float]
    checks: Sequence[CheckOutcome]
    lock_wait_seconds: float
    finished_at: float
    max_reject_rate: float

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"day {self.day}: status {self.status!r} not in {STATUSES}")


@dataclass(frozen=True)
class RunFigures:
    """A run as a whole: its wall time and how many of its days ended in each status."""

    job: str
    run_id: str
    duration_seconds: float
    days: Mapping[str, int] = field(default_factory=dict)  # status -> days
    finished_at: float = 0.0


def day_timestamp(day: date) -> int:
    """00:00 UTC of `day` as unix time: how a day travels as a value."""
    return calendar.timegm(day.timetuple())


class _Figures:
    """A registry being filled, with the gauges' HELP and labels taken from METRICS."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.gauges: dict[str, Gauge] = {}

    def set(self, name: str, value: float, **labels: str) -> None:
        help_text, label_names = METRICS[name]
        if name not in self.gauges:
            self.gauges[name] = Gauge(name, help_text, label_names, registry=self.registry)
        gauge = self.gauges[name]
        (gauge.labels(**labels) if label_names else gauge).set(value)


def day_figures(figures: DayFigures, pushed_at: float) -> CollectorRegistry:
    """The `last_day` group: every figure of one day."""
    out = _Figures()
    out.set("sales_day_timestamp_seconds", day_timestamp(figures.day))
    for status in STATUSES:
        out.set("sales_day_status", float(status == figures.status), status=status)
    out.set("sales_day_info", 1, dagster_job=figures.job)
    for table, rows in figures.rows.items():
        out.set("sales_day_rows", rows, table=table)
    for reason, rows in figures.rejects_by_reason.items():
        out.set("sales_day_rejected_rows", rows, reason=reason)
    if figures.revenue is not None:
        out.set("sales_day_revenue", figures.revenue)
    out.set("sales_day_duration_seconds", figures.day_seconds)
    for stage, seconds in figures.stage_seconds.items():
        out.set("sales_day_stage_duration_seconds", seconds, stage=stage)
    raw = figures.rows.get("raw_sales")
    if raw is not None and figures.day_seconds > 0:
        out.set("sales_day_rows_per_second", raw / figures.day_seconds)
    for severity in SEVERITIES:
        failed = [c for c in figures.checks if c.severity == severity and not c.passed]
        out.set("sales_day_checks_failed", len(failed), severity=severity)
    for c in figures.checks:
        out.set("sales_day_check_passed", float(c.passed), check=c.check, asset=c.asset, severity=c.severity)  # fmt: skip
    out.set("sales_day_lock_wait_seconds", figures.lock_wait_seconds)
    out.set("sales_day_finished_timestamp_seconds", figures.finished_at)
    out.set("sales_max_reject_rate", figures.max_reject_rate)
    out.set("sales_last_push_timestamp_seconds", pushed_at)
    return out.registry


def status_figures(status: str, day: date | None, at: float) -> CollectorRegistry:
    """The group of one status (`last_success`, ...): when, and which day when known."""
    name = STATUS_WORD[status]
    out = _Figures()
    out.set(f"sales_last_{name}_timestamp_seconds", at)
    if day is not None:
        out.set(f"sales_last_{name}_day_timestamp_seconds", day_timestamp(day))
    return out.registry


def run_figures(run: RunFigures) -> CollectorRegistry:
    """The `last_run` group."""
    out = _Figures()
    out.set("sales_run_duration_seconds", run.duration_seconds)
    for status in STATUSES:
        out.set("sales_run_days", run.days.get(status, 0), status=status)
    out.set("sales_run_finished_timestamp_seconds", run.finished_at or time.time())
    return out.registry


def push_day(
    url: str,
    figures: DayFigures,
    log: logging.Logger | None = None,
    timeout: float = 5.0,
    attempts: int = 3,
) -> bool:
    """Push one day's figures (`last_day` and its status group). True when the gateway took
    them; False (logged) when not. Never raises; `timeout` bounds the whole call."""
    what = f"figures of day {figures.day} ({figures.status}, run {figures.run_id})"
    status = figures.status
    groups = [
        ("last_day", lambda: day_figures(figures, time.time())),
        (f"last_{STATUS_WORD[status]}", lambda: status_figures(status, figures.day, figures.finished_at)),
    ]  # fmt: skip
    return push_groups(url, groups, what, log, timeout, attempts)


def push_run_failed(
    url: str,
    job: str,
    run_id: str,
    day: date | None,
    log: logging.Logger | None = None,
    timeout: float = 5.0,
    attempts: int = 3,
) -> bool:
    """Record a run that failed outside a day's own handling (a crash), for the failure alert.

    Touches only the `last_failure` group, so the figures a run already pushed for its
    days stay as they are."""
    what = f"failure of run {run_id} ({job}" + (f", day {day})" if day else ")")
    groups = [("last_failure", lambda: status_figures("failed", day, time.time()))]
    return push_groups(url, groups, what, log, timeout, attempts)


def push_run(
    url: str,
    run: RunFigures,
    log: logging.Logger | None = None,
    timeout: float = 5.0,
    attempts: int = 3,
) -> bool:
    """Push a run's own figures (the `last_run` group)."""
    what = f"figures of run {run.run_id} ({run.job})"
    return push_groups(url, [("last_run", lambda: run_figures(run))], what, log, timeout, attempts)
