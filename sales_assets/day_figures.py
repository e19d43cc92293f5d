"""What a day's load tells the operations dashboard: its figures, for `monitoring.push_day`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from time import time

import pandas as pd

from .contracts import REJECT_REASONS
from .daily_load import CLEANED, REJECTED, StagedDay
from .day_events import rejects_by_reason
from .monitoring import CheckOutcome, DayFigures, RunFigures


def day_figures(
    run,
    day: date,
    status: str,
    staged: StagedDay | None,
    written: Mapping[str, pd.DataFrame],
    waited: float,
    seconds: float,
    max_reject_rate: float,
) -> DayFigures:
    """The figures of one day of `run` (a DagsterRun): rows written, rejects, revenue, checks."""
    return DayFigures(
        day=day,
        status=status,
        job=run.job_name,
        run_id=run.run_id,
        rows={name: len(frame) for name, frame in written.items()},
        rejects_by_reason=rejects_of_every_reason(written),
        revenue=round(float(written[CLEANED]["amount"].sum()), 2) if CLEANED in written else None,
        day_seconds=seconds,
        stage_seconds=dict(staged.seconds) if staged else {},
        checks=[
            CheckOutcome(v.check.name, v.check.asset, v.finding.severity.value, v.passed)
            for v in (staged.verdicts if staged else [])
        ],
        lock_wait_seconds=waited,
        finished_at=time(),
        max_reject_rate=max_reject_rate,
    )


def rejects_of_every_reason(written: Mapping[str, pd.DataFrame]) -> dict[str, int]:
    """Rejects by reason, zeros included, so each reason's series stays continuous."""
    if REJECTED not in written:
        return {}
    counts = rejects_by_reason(written[REJECTED])
    return {reason: counts.get(reason, 0) for reason in REJECT_REASONS}


def run_figures(run, statuses: Sequence[str], seconds: float) -> RunFigures:
    """The run as a whole: its duration and how many of its days ended ok, blocked, failed."""
    days: dict[str, int] = {}
    for status in statuses:
        days[status] = days.get(status, 0) + 1
    return RunFigures(
        job=run.job_name, run_id=run.run_id, duration_seconds=seconds, days=days, finished_at=time()
    )
