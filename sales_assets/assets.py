"""The asset graph: raw_sales -> cleaned_sales + rejected_sales -> sales_metrics -> sales_report.

One step loads the run's days one at a time, in order (a run carries one day, or a range of
days in a backfill): each day is staged and judged before anything is written, published in
one warehouse transaction, then recorded as that day's materializations and check results.
A blocked or failed day is recorded and the next day goes on; the step fails at the end
naming the days that did not load, so only they show as failed.
"""

from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import date
from time import perf_counter

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetSpec,
    BackfillPolicy,
    Backoff,
    Failure,
    Jitter,
    MetadataValue,
    RetryPolicy,
    multi_asset,
)

from . import day_events, report
from .checks import DAY_CHECKS
from .checks.whole_table import (
    SALES_METRICS_COMPLETE,
    SALES_METRICS_FRESH,
    completeness_now,
    freshness,
)
from .contracts import CleanedSales, RawSales, RejectedSales, SalesMetrics, table_schema
from .dagster_internals import get_current_datetime
from .daily_load import CLEANED, METRICS, RAW, REJECTED, REPORT, Plan, StagedDay, stage_day
from .day_figures import day_figures, run_figures
from .memory import release_freed_memory
from .monitoring import push_day, push_run, push_run_failed
from .partitions import daily_partitions
from .resources import Monitoring, QualityPolicy, ReportFolder, SalesSource
from .settings import SETTINGS, WAREHOUSE_SCHEMA
from .sources.landing import LandingError
from .warehouse import RunWarehouse, Warehouse

GROUP = "sales"
BAD_DAYS = "bad_days"  # the step failure's metadata: {day: [status, message]}
# Transient read errors (network shares, object stores) retry the step with backoff; a bad
# file, a blocked day or a locked warehouse fail without retries (Failure(allow_retries=False)).
READ_RETRY = RetryPolicy(
    max_retries=3, delay=2, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)
KINDS = {"postgres" if SETTINGS.warehouse_is_postgres else "duckdb", "pandas"}


def _table_spec(key: str, model, partition_column: str, description: str, deps=()) -> AssetSpec:
    return AssetSpec(
        key,
        deps=list(deps),
        description=description,
        kinds=KINDS,
        group_name=GROUP,
        skippable=True,
        metadata={"partition_expr": partition_column, "dagster/column_schema": table_schema(model)},
    )


SPECS = [
    _table_spec(
        RAW,
        RawSales,
        "partition_date",
        "Every row of the day's source as received (text), with lineage.",
    ),
    _table_spec(
        CLEANED, CleanedSales, "order_date", "The day's valid orders, one row per order_id.", [RAW]
    ),
    _table_spec(
        REJECTED,
        RejectedSales,
        "partition_date",
        "The quarantine: every raw row not in cleaned_sales, with why.",
        [RAW],
    ),
    _table_spec(
        METRICS, SalesMetrics, "order_date", "One row per order_date x product x region.", [CLEANED]
    ),
    AssetSpec(
        REPORT,
        deps=[METRICS, REJECTED],
        description="The day's one-page report (PNG and HTML in SALES_REPORTS_DIR): revenue trend, "
        "regions, products, top movers, data health.",
        kinds={"matplotlib", "html"},
        group_name=GROUP,
        skippable=True,
    ),
]
CHECK_SPECS = [check.spec(daily_partitions) for check in DAY_CHECKS] + [
    SALES_METRICS_COMPLETE.spec(None),
    SALES_METRICS_FRESH.spec(None),
]


@dataclass
class DayOutcome:
    """How a day of the run ended: `ok`, `blocked` by a check, or `failed` (bad input)."""

    day: date
    status: str
    message: str


@dataclass
class Loader:
    """The resources one step needs, and what it has done so far."""

    context: AssetExecutionContext
    plan: Plan
    source: SalesSource
    warehouse: RunWarehouse
    quality: QualityPolicy
    reports: ReportFolder
    monitoring: Monitoring
    outcomes: list[DayOutcome] = field(default_factory=list)


@multi_asset(
    name="daily_sales",
    specs=SPECS,
    check_specs=CHECK_SPECS,
    partitions_def=daily_partitions,
    can_subset=True,
    backfill_policy=BackfillPolicy.multi_run(SETTINGS.backfill_days_per_run),
    retry_policy=READ_RETRY,
)
def daily_sales(
    context: AssetExecutionContext,
    source: SalesSource,
    warehouse: Warehouse,
    quality: QualityPolicy,
    reports: ReportFolder,
    monitoring: Monitoring,
):
    """Load the run's days in order, one at a time; fail at the end naming any bad day."""
    plan = Plan.for_selection(key.to_user_string() for key in context.selected_asset_keys)
    loader = Loader(
        context, plan, source, warehouse.for_run(context.log), quality, reports, monitoring
    )
    started = perf_counter()
    day = None
    try:
        # A run of the whole-table checks alone carries no days (and no partition).
        for day in map(date.fromisoformat, context.partition_keys if plan.publish else ()):
            loader.outcomes.append((yield from load_day(loader, day)))
            release_freed_memory()  # one day's rows in memory at a time
        day = None
        yield from table_checks(loader)
    except Exception:
        # Not a bad day but a crash of the run (warehouse gone, a bug): say so to the dashboard.
        if monitoring.url:
            push_run_failed(
                monitoring.url, context.run.job_name, context.run.run_id, day, context.log
            )
        raise
    if monitoring.url:
        statuses = [outcome.status for outcome in loader.outcomes]
        push_run(
            monitoring.url,
            run_figures(context.run, statuses, perf_counter() - started),
            log=context.log,
        )
    fail_on_bad_days(loader.outcomes)


def load_day(loader: Loader, day: date) -> Generator[object, None, DayOutcome]:
    """Stage, judge, publish and record one day."""
    context, plan, warehouse = loader.context, loader.plan, loader.warehouse
    started, waits_before = perf_counter(), warehouse.lock_wait_seconds
    try:
        staged = stage_day(day, plan, loader.source, warehouse, loader.quality.max_reject_rate)
    except LandingError as error:
        outcome = DayOutcome(day, "failed", f"day {day} failed: {error}")
        return _finish(loader, outcome, None, 0.0, started)
    written = staged.publishable(plan)
    warehouse.publish(day, written)
    waited = warehouse.lock_wait_seconds - waits_before  # reads and the publish
    extra = {"lock_wait_seconds": round(waited, 2)} if waited else {}
    yield from day_events.materializations(
        staged, written, WAREHOUSE_SCHEMA, loader.source.kind, extra
    )
    yield from day_events.evaluations(context.instance, staged.verdicts, day)
    if staged.blocking:
        outcome = DayOutcome(day, "blocked", blocked_message(staged))
        return _finish(loader, outcome, staged, waited, started)
    if plan.reports:
        yield report_materialization(loader, day)
    outcome = DayOutcome(day, "ok", ok_message(staged))
    return _finish(loader, outcome, staged, waited, started)


def blocked_message(staged: StagedDay) -> str:
    reasons = "; ".join(v.line() for v in staged.blocking)
    return (
        f"day {staged.day} blocked by {reasons}. cleaned_sales and sales_metrics keep the day's "
        "previous rows; raw_sales and rejected_sales hold this load, to see why"
    )


def ok_message(staged: StagedDay) -> str:
    rows = ", ".join(f"{name} {len(frame)}" for name, frame in staged.frames.items())
    warned = [v.check.name for v in staged.verdicts if not v.passed]
    return f"day {staged.day} loaded: {rows}" + (
        f" (warnings: {', '.join(warned)})" if warned else ""
    )


def report_materialization(loader: Loader, day: date):
    """Render the day's report from the warehouse and describe it for the UI."""
    started = perf_counter()
    # Days loaded with no rows leave no row in any table; the instance knows they were loaded.
    loaded = loader.context.instance.get_materialized_partitions(AssetKey(RAW))
    data = report.report_data(
        loader.warehouse.query, day, zero_sales_days={date.fromisoformat(d) for d in loaded}
    )
    files = report.render_report(data, loader.reports.folder())
    return AssetMaterialization(
        REPORT,
        partition=day.isoformat(),
        metadata={
            **report.headline(data),
            "top_movers": MetadataValue.md(report.movers_markdown(data)),
            "png": MetadataValue.path(str(files.png)),
            "html": MetadataValue.path(str(files.html)),
            "render_seconds": round(perf_counter() - started, 3),
        },
    )


def _finish(
    loader: Loader, outcome: DayOutcome, staged: StagedDay | None, waited: float, started: float
) -> DayOutcome:
    """Log the day's outcome and push its figures (when a Pushgateway is configured)."""
    log = loader.context.log
    (log.info if outcome.status == "ok" else log.error)(outcome.message)
    frames = staged.publishable(loader.plan) if staged else {}
    figures = day_figures(
        loader.context.run,
        outcome.day,
        outcome.status,
        staged,
        frames,
        waited,
        perf_counter() - started,
        loader.quality.max_reject_rate,
    )
    if loader.monitoring.url:
        push_day(loader.monitoring.url, figures, log=log)
    return outcome


def table_checks(loader: Loader):
    """The whole-table checks selected in this run, judged once, after its days."""
    selected = {key.name for key in loader.context.selected_asset_check_keys}
    instance, now = loader.context.instance, get_current_datetime()
    if SALES_METRICS_COMPLETE.name in selected:
        found = completeness_now(instance, loader.warehouse.query, now)
        yield day_events.table_evaluation(instance, SALES_METRICS_COMPLETE, found)
    if SALES_METRICS_FRESH.name in selected:
        found = freshness(instance, now, SETTINGS.freshness_deadline_cron)
        yield day_events.table_evaluation(instance, SALES_METRICS_FRESH, found)


class DaysNotLoaded(Failure):
    """Some days of the run were blocked or failed; the others stand (never retried).

    Dagster's UI prints the exception's class before its message: this one says what happened
    (`sales_assets.assets.DaysNotLoaded: 1 of 7 day(s) not loaded: ...`), a bare Failure would
    print a framework path there."""


def fail_on_bad_days(outcomes: list[DayOutcome]) -> None:
    """Fail the step when any day was blocked or failed, naming each; the others stand."""
    bad = [o for o in outcomes if o.status != "ok"]
    if not bad:
        return
    shown = "\n".join(o.message for o in bad[:10]) + ("\n..." if len(bad) > 10 else "")
    raise DaysNotLoaded(
        description=f"{len(bad)} of {len(outcomes)} day(s) not loaded:\n{shown}",
        metadata={
            "blocked_days": MetadataValue.json([str(o.day) for o in bad if o.status == "blocked"]),
            "failed_days": MetadataValue.json([str(o.day) for o in bad if o.status == "failed"]),
            BAD_DAYS: MetadataValue.json({str(o.day): [o.status, o.message] for o in bad}),
        },
        allow_retries=False,
    )
