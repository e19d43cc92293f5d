"""The scenarios: groups of variants measured side by side, each with its reference and targets.

A group's first variant is its reference unless a variant names another. Variants run as a
command in a fresh process (`command`, `{warehouse}` filled in) or measure themselves
(`call`: the UI-style backfills, which start their own `dagster dev`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial
from pathlib import Path

from benchmarks import ui_backfill
from benchmarks.measure import BIN, START

DAY = date(2024, 3, 1)  # the big day, the tiny day, and the first day of the memory range
PYTHON, DAGSTER, SALES = sys.executable, str(BIN / "dagster"), str(BIN / "sales-assets")
CLI_DAY = "dagster asset materialize (CLI)"
CLI_BACKFILL = "sales-assets backfill"


@dataclass(frozen=True)
class Target:
    """`wall`: wall time <= limit x the reference's; `rss`: peak RSS <= limit x the
    reference's; `rss_mb`: peak RSS <= limit MB."""

    kind: str
    limit: float

    def describe(self, reference: str) -> str:
        if self.kind == "rss_mb":
            return f"peak RSS <= {self.limit:.0f} MB"
        what = "wall" if self.kind == "wall" else "peak RSS"
        return f"{what} <= {self.limit:g}x {reference}"


FITS_1GB = Target("rss_mb", 1024)


@dataclass
class Variant:
    name: str
    rows: int
    command: list[str] | None = None
    call: Callable[[Path], dict] | None = None
    settings: dict[str, str] = field(default_factory=dict)
    warehouse: str | None = "duckdb"  # or "postgresql" (a throwaway database); None: none
    reference: str | None = None  # the variant its ratios are to (default: the group's first)
    targets: tuple[Target, ...] = ()
    compare: bool = True  # compare its tables with the baseline's
    scale: float = 1.0  # measured on fewer days: figures scaled pro rata
    note: str = ""
    runs: list[dict] = field(default_factory=list)


@dataclass
class Group:
    scenario: str
    variants: list[Variant]
    repeats: int
    tables: tuple[str, ...] = ("cleaned_sales", "rejected_sales", "sales_metrics")
    # The baseline warehouse to compare with, when not the group's first variant's.
    expected: Callable[[], str | None] | None = None
    until: date | None = None  # compare the days up to this one only

    def reference_of(self, variant: Variant) -> Variant:
        names = {v.name: v for v in self.variants}
        return names[variant.reference] if variant.reference else self.variants[0]


def baseline(name: str, landing: Path, start: date, end: date, rows: int) -> Variant:
    command = [PYTHON, "-m", "benchmarks.baseline", "--landing", str(landing)]
    command += ["--warehouse", "{warehouse}", start.isoformat(), end.isoformat()]
    return Variant(name, rows, command, compare=False)


def materialize(module: str, day: date) -> list[str]:
    return [DAGSTER, "asset", "materialize", "-m", module, "--select", "*", "--partition", str(day)]


def inprocess(start: date, end: date, *flags: str) -> list[str]:
    return [PYTHON, "-m", "benchmarks.inprocess", start.isoformat(), end.isoformat(), *flags]


def day_group(landing: Path, rows: int, repeats: int, postgresql: bool) -> Group:
    """One big day: the baseline script, the CLI and the in-process job; and the CLI on a
    PostgreSQL warehouse beside the same on DuckDB."""
    land = {"SALES_LANDING_DIR": str(landing)}
    cli = materialize("sales_assets.definitions", DAY)
    variants = [
        baseline("baseline script", landing, DAY, DAY, rows),
        Variant(CLI_DAY, rows, cli, settings=land, targets=(Target("wall", 1.2), FITS_1GB)),
        Variant(
            "in-process job",
            rows,
            inprocess(DAY, DAY),
            settings=land,
            targets=(Target("wall", 1.2), FITS_1GB),
        ),
    ]
    if postgresql:
        variants.append(
            Variant(
                f"{CLI_DAY}, PostgreSQL warehouse",
                rows,
                cli,
                settings=land,
                warehouse="postgresql",
                reference=CLI_DAY,
                targets=(Target("wall", 2.0), FITS_1GB),
            )
        )
    return Group("day", variants, repeats)


def tiny_group(landing: Path, rows: int, repeats: int) -> Group:
    """A tiny day with the CLI beside Dagster's fixed cost of a run (a trivial one-asset job)."""
    return Group(
        "tiny",
        [
            Variant(
                "trivial one-asset job (CLI)",
                0,
                materialize("benchmarks.trivial", DAY),
                warehouse=None,
                compare=False,
            ),
            Variant(
                CLI_DAY,
                rows,
                materialize("sales_assets.definitions", DAY),
                settings={"SALES_LANDING_DIR": str(landing)},
                targets=(Target("wall", 1.5),),
                compare=False,
            ),
        ],
        repeats,
    )


def backfill_group(landing: Path, days: int, rows: int, repeats: int) -> Group:
    """The command-line backfill as it is, and without the report the loop does not render,
    against the hand-written loop over the same days in one process."""
    end = START + timedelta(days=days - 1)
    land = {"SALES_LANDING_DIR": str(landing)}
    twice = (Target("wall", 2.0),)
    return Group(
        "backfill",
        [
            baseline("baseline loop (one process)", landing, START, end, days * rows),
            Variant(
                CLI_BACKFILL,
                days * rows,
                [SALES, "backfill", START.isoformat(), end.isoformat(), "--quiet"],
                settings=land,
                targets=twice,
            ),
            Variant(
                f"{CLI_BACKFILL} without sales_report",
                days * rows,
                inprocess(START, end, "--without-report"),
                settings=land,
                targets=twice,
                note="the same runs in-process, report left out",
            ),
        ],
        repeats,
    )


def postgresql_backfill_group(landing: Path, days: int, rows: int, repeats: int) -> Group:
    """The command-line backfill on a PostgreSQL warehouse beside the same on DuckDB."""
    end = START + timedelta(days=days - 1)
    command = [SALES, "backfill", START.isoformat(), end.isoformat(), "--quiet"]
    land = {"SALES_LANDING_DIR": str(landing)}
    return Group(
        "backfill-postgresql",
        [
            baseline("baseline loop (one process)", landing, START, end, days * rows),
            Variant(f"{CLI_BACKFILL}, DuckDB warehouse", days * rows, command, settings=land),
            Variant(
                f"{CLI_BACKFILL}, PostgreSQL warehouse",
                days * rows,
                command,
                settings=land,
                warehouse="postgresql",
                reference=f"{CLI_BACKFILL}, DuckDB warehouse",
            ),
        ],
        repeats,
    )


def ui_group(days: int, floor_days: int, rows: int, expected, compare_days: int) -> Group:
    """A UI-style backfill through `dagster dev` and its daemon, against the same backfill
    of Dagster's floor (one trivial asset, one run per day), measured over `floor_days`."""
    floor = Variant(
        "Dagster's floor (a trivial daily asset, a run a day)",
        0,
        call=partial(ui_backfill.run, floor_days, rows, floor=True),
        warehouse=None,
        compare=False,
        scale=days / floor_days,
        note="" if floor_days == days else f"measured over {floor_days} days, pro rata",
    )
    ours = Variant(
        "UI backfill (dagster dev + its daemon)",
        days * rows,
        call=partial(ui_backfill.run, days, rows),
        warehouse=None,
        targets=(Target("wall", 0.2),),
        note="synthetic source, all five assets",
    )
    until = START + timedelta(days=min(days, compare_days) - 1) if compare_days else None
    tables = ("cleaned_sales", "sales_metrics")  # raw and rejected name their source files
    return Group("backfill-ui", [floor, ours], 1, tables, expected, until)


def memory_group(days: int, rows: int) -> Group:
    """Peak memory of one run carrying `days` big days against one such day alone."""
    end = DAY + timedelta(days=days - 1)
    synthetic = {"SALES_SYNTHETIC_ROWS": str(rows)}
    return Group(
        "memory",
        [
            Variant(
                "in-process job, one day",
                rows,
                inprocess(DAY, DAY),
                settings=synthetic,
                compare=False,
            ),
            Variant(
                f"in-process job, {days} days in one run",
                days * rows,
                inprocess(DAY, end, "--days-per-run", str(days)),
                settings=synthetic,
                targets=(Target("rss", 1.05),),
                compare=False,
                note="synthetic source",
            ),
        ],
        1,
    )
