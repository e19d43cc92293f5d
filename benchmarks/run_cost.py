"""Where a range run's time goes, per day: staging, publishing, Dagster's event writes, the report.

Runs `daily_sales_job` in this process over `--days` landing days of `--rows` rows in ONE run,
after a one-day warm-up run (tables created, libraries loaded). The stages are timed by
wrapping the functions that do them (nothing else changes): each stage's wall and CPU
seconds are its own, without the stages nested in it, so a log line written while publishing
counts as an event write, not as publishing. What no stage claims is Dagster's run and step
machinery. calls/day counts how often a stage was entered (each step of a generator counts;
for the event writes, it is the number of events written). `--html` also records the run
with pyinstrument, to look further.

    python -m benchmarks.run_cost [--days 10] [--rows 10000] [--warehouse duckdb|postgresql]
                                  [--html profile.html]
"""

from __future__ import annotations

import argparse
import inspect
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from datetime import date, timedelta
from functools import wraps
from importlib import import_module
from pathlib import Path

from benchmarks import postgres

START = date(2024, 1, 1)
OTHER = "Dagster: run and step machinery, other"
# (module, attribute) -> stage. Patched where the step looks them up.
STAGES = {
    ("sales_assets.resources", "SalesSource.read_day"): "stage_day: read the landing files",
    ("sales_assets.daily_load", "apply_cleaning_rules"): "stage_day: cleaning rules",
    ("sales_assets.daily_load", "daily_metrics"): "stage_day: metrics",
    ("sales_assets.assets", "stage_day"): "stage_day: checks and the rest",
    ("sales_assets.warehouse", "Warehouse.publish"): "publish: one warehouse transaction",
    ("sales_assets.day_events", "materializations"): "events: build materializations",
    ("sales_assets.day_events", "evaluations"): "events: build check evaluations",
    ("dagster", "DagsterInstance.handle_new_event"): "Dagster: event writes (incl. log lines)",
    ("sales_assets.report", "report_data"): "report: queries",
    ("sales_assets.report", "render_report"): "report: render PNG + HTML",
    ("sales_assets.assets", "report_materialization"): "report: the rest (loaded days, metadata)",
    ("sales_assets.assets", "_finish"): "the day's log line and figures",
    ("sales_assets.assets", "table_checks"): "whole-table checks (once a run)",
}


class Clock:
    """Exclusive wall and CPU seconds per stage: entering a stage pauses the enclosing one."""

    def __init__(self):
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.stack: list[list] = []

    def _charge(self) -> None:
        stage, wall, cpu = self.stack[-1]
        now_wall, now_cpu = time.perf_counter(), time.thread_time()
        self.wall[stage] = self.wall.get(stage, 0.0) + now_wall - wall
        self.cpu[stage] = self.cpu.get(stage, 0.0) + now_cpu - cpu
        self.stack[-1][1:] = [now_wall, now_cpu]

    def enter(self, stage: str) -> None:
        self.calls[stage] = self.calls.get(stage, 0) + 1
        if self.stack:
            self._charge()
        self.stack.append([stage, time.perf_counter(), time.thread_time()])

    def leave(self) -> None:
        self._charge()
        self.stack.pop()
        if self.stack:
            self.stack[-1][1:] = [time.perf_counter(), time.thread_time()]


def timed(function, stage: str, clock: Clock):
    """`function`, charging its time to `stage`; a generator is charged for each step."""
    if inspect.isgeneratorfunction(function):

        @wraps(function)
        def generator(*args, **kwargs):
            inner = function(*args, **kwargs)
            while True:
                clock.enter(stage)
                try:
                    item = next(inner)
                except StopIteration as stop:
                    return stop.value
                finally:
                    clock.leave()
                yield item

        return generator

    @wraps(function)
    def plain(*args, **kwargs):
        clock.enter(stage)
        try:
            return function(*args, **kwargs)
        finally:
            clock.leave()

    return plain


def instrument(clock: Clock) -> None:
    for (module, path), stage in STAGES.items():
        owner = import_module(module)
        *outer, name = path.split(".")
        for part in outer:
            owner = getattr(owner, part)
        setattr(owner, name, timed(getattr(owner, name), stage, clock))


def prepare(work: Path, days: int, rows: int, warehouse: str) -> None:
    """Landing files, a fresh instance and the SALES_* settings, before sales_assets loads."""
    generate = [str(Path(sys.executable).with_name("sales-assets")), "generate", "--quiet"]
    subprocess.run(
        [*generate, "--start", START.isoformat(), "--days", str(days + 1)]
        + ["--rows-per-day", str(rows), "--out", str(work / "landing")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    home = work / "home"
    home.mkdir()
    shutil.copy(Path(__file__).resolve().parent.parent / "dagster.yaml", home / "dagster.yaml")
    for name in [k for k in os.environ if k.startswith("SALES_")]:
        del os.environ[name]
    os.environ.update(
        DAGSTER_HOME=str(home),
        SALES_WAREHOUSE=warehouse,
        SALES_LANDING_DIR=str(work / "landing"),
        SALES_REPORTS_DIR=str(work / "reports"),
        SALES_START_DATE=START.isoformat(),
        SALES_BACKFILL_DAYS_PER_RUN=str(days),
    )


def measure(days: int, html: Path | None) -> tuple[Clock, float, float]:
    """Warm up with the first day, then one run over the next `days` days:
    (the clock of the stages, wall seconds, CPU seconds of the process)."""
    from benchmarks.inprocess import main as run_days

    if run_days([START.isoformat()]):
        raise RuntimeError("the warm-up run failed")
    clock = Clock()
    instrument(clock)
    profiler = None
    if html:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.002)
        profiler.start()
    before, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    clock.enter(OTHER)
    first, last = START + timedelta(days=1), START + timedelta(days=days)
    failed = run_days([first.isoformat(), last.isoformat()])
    clock.leave()
    wall, after = time.perf_counter() - wall, resource.getrusage(resource.RUSAGE_SELF)
    if profiler:
        profiler.stop()
        html.write_text(profiler.output_html())
    if failed:
        raise RuntimeError("the measured run failed")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return clock, wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run_cost", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--warehouse", choices=["duckdb", "postgresql"], default="duckdb")
    parser.add_argument("--html", type=Path, help="also write a pyinstrument profile here")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="sales-run-cost-"))
    pg = args.warehouse == "postgresql"
    try:
        with postgres.throwaway_database("sales_run_cost") if pg else nullcontext() as name:
            url = postgres.warehouse_url(name) if pg else str(work / "warehouse.duckdb")
            prepare(work, args.days, args.rows, url)
            clock, wall, cpu = measure(args.days, args.html)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(render(clock, wall, cpu, args))
    return 0


def render(clock: Clock, wall: float, cpu: float, args) -> str:
    days = args.days
    lines = [
        f"one run of {days} days x {args.rows:,} rows, {args.warehouse} warehouse: {wall:.1f} s "
        f"wall ({wall / days:.3f} s a day), {cpu:.1f} s CPU ({cpu / days:.3f} s a day); "
        f"load average {os.getloadavg()[0]:.1f}",
        "",
        "| stage | calls/day | wall s/day | CPU s/day | share of CPU |",
        "|---|---:|---:|---:|---:|",
    ]
    for stage, seconds in sorted(clock.cpu.items(), key=lambda item: -item[1]):
        lines.append(
            f"| {stage} | {clock.calls[stage] / days:.1f} | {clock.wall[stage] / days:.3f} | "
            f"{seconds / days:.3f} | {seconds / cpu:.1%} |"
        )
    lines.append(
        "\nCPU is this thread's time (time.thread_time); the process's total above also counts "
        "Dagster's other threads."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
