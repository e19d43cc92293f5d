"""One day's load, read top to bottom: read, clean, summarize, judge, then publish.

Nothing here knows Dagster's execution machinery: `stage_day` builds every frame of a day and
judges it with the checks before anything is written; `StagedDay.publishable` says which
tables a blocked day may still write (its raw rows and its quarantine, so people can see why);
the asset function publishes them in one warehouse transaction and records what happened.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from time import perf_counter

import pandas as pd

from . import checks
from .checks import Verdict
from .transforms import apply_cleaning_rules, daily_metrics

RAW, CLEANED, REJECTED, METRICS, REPORT = (
    "raw_sales",
    "cleaned_sales",
    "rejected_sales",
    "sales_metrics",
    "sales_report",
)
TABLES = (RAW, REJECTED, CLEANED, METRICS)  # publish order within the day's transaction
QUARANTINE = (RAW, REJECTED)  # what a blocked day still publishes
METRIC_INPUT_COLUMNS = [
    "order_id",
    "order_date",
    "product",
    "region",
    "quantity",
    "amount",
    "customer_id",
]


@dataclass(frozen=True)
class Plan:
    """What a run computes and publishes, from the assets it selected.

    `cleaned_sales` and `sales_metrics` of a day always come from the same load, so selecting
    cleaned or rejected rows publishes the day's metrics with them; selecting only downstream
    assets reads their inputs back from the warehouse.
    """

    publish: frozenset[str]

    @classmethod
    def for_selection(cls, selected: Iterable[str]) -> Plan:
        chosen = set(selected)
        if chosen & {CLEANED, REJECTED}:
            chosen |= {CLEANED, REJECTED, METRICS}
        return cls(frozenset(chosen))

    @property
    def reads_source(self) -> bool:
        return RAW in self.publish

    @property
    def cleans(self) -> bool:
        return CLEANED in self.publish

    @property
    def summarizes(self) -> bool:
        return METRICS in self.publish

    @property
    def reports(self) -> bool:
        return REPORT in self.publish

    @property
    def needs_stored_raw(self) -> bool:
        return self.cleans and not self.reads_source

    @property
    def needs_stored_cleaned(self) -> bool:
        return self.summarizes and not self.cleans


@dataclass
class StagedDay:
    """A day's frames and verdicts, before anything is written."""

    day: date
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    verdicts: list[Verdict] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def blocking(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.blocks]

    def publishable(self, plan: Plan) -> dict[str, pd.DataFrame]:
        """The tables to write: everything planned, or only the quarantine of a blocked day."""
        allowed = QUARANTINE if self.blocking else TABLES
        return {
            t: self.frames[t]
            for t in TABLES
            if t in allowed and t in plan.publish and t in self.frames
        }

    def timed(self, stage: str, work):
        started = perf_counter()
        result = work()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + perf_counter() - started
        return result


def stage_day(day: date, plan: Plan, source, warehouse, max_reject_rate: float) -> StagedDay:
    """Build and judge every frame of `day` that `plan` needs; write nothing."""
    staged = StagedDay(day)
    raw = None
    if plan.reads_source:
        raw = staged.timed("read", lambda: source.read_day(day))
        staged.frames[RAW] = raw
        staged.verdicts.append(staged.timed("checks", lambda: checks.RAW_SALES_SCHEMA(raw)))
    elif plan.needs_stored_raw:
        raw = staged.timed("read", lambda: warehouse.read_day(RAW, day))
    if staged.blocking:
        return staged
    cleaned = None
    if plan.cleans:
        cleaned = _clean(staged, raw, warehouse, max_reject_rate)
    elif plan.needs_stored_cleaned:
        cleaned = staged.timed(
            "read", lambda: warehouse.read_day(CLEANED, day, METRIC_INPUT_COLUMNS)
        )
    if plan.summarizes and not staged.blocking:
        _summarize(staged, cleaned)
    return staged


def _clean(staged: StagedDay, raw: pd.DataFrame, warehouse, max_reject_rate: float) -> pd.DataFrame:
    """The cleaning rules, then the checks on cleaned_sales."""
    cleaned, rejected = staged.timed("clean", lambda: apply_cleaning_rules(raw, staged.day))
    staged.frames[CLEANED], staged.frames[REJECTED] = cleaned, rejected

    def judge() -> list[Verdict]:
        history = checks.volume_history(warehouse.query, staged.day)
        return [
            checks.CLEANED_SALES_SCHEMA(cleaned),
            checks.ROWS_ACCOUNTED_FOR(raw, cleaned, rejected),
            checks.REJECTION_RATE(len(raw), rejected, max_reject_rate),
            checks.DAILY_VOLUME(len(cleaned), history),
        ]

    staged.verdicts += staged.timed("checks", judge)
    return cleaned


def _summarize(staged: StagedDay, cleaned: pd.DataFrame) -> None:
    """The day's metrics, then the checks on sales_metrics."""
    metrics = staged.timed("metrics", lambda: daily_metrics(cleaned))
    staged.frames[METRICS] = metrics
    staged.verdicts += staged.timed(
        "checks",
        lambda: [checks.SALES_METRICS_SCHEMA(metrics), checks.REVENUE_RECONCILES(metrics, cleaned)],
    )
