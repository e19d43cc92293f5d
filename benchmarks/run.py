"""The benchmark: the project beside a hand-written pandas + DuckDB script and beside Dagster's
own floor, side by side in one run.

Scenarios (benchmarks/scenarios.py): one big day (CLI, in-process, and on a PostgreSQL
warehouse); a tiny day against a trivial job; the command-line backfill (as it is, and
without the report) against the hand-written loop; a backfill on PostgreSQL; a UI-style
backfill through `dagster dev` against Dagster's floor; the peak memory of a run carrying
many big days. Every variant is a fresh OS process; repeats alternate the variants; the
table shows medians. After the first repeat, the project's tables are compared row for row
with the baseline's, and the benchmark stops on a difference.

    python -m benchmarks [--quick] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import postgres
from benchmarks.equivalence import compare
from benchmarks.measure import (
    KEPT_SETTINGS,
    START,
    clean_environment,
    fresh_home,
    generate,
    machine,
    timed,
)
from benchmarks.results import render, summary
from benchmarks.scenarios import (
    DAY,
    Group,
    Variant,
    backfill_group,
    day_group,
    memory_group,
    postgresql_backfill_group,
    tiny_group,
    ui_group,
)

SCENARIOS = ["day", "tiny", "backfill", "postgresql", "ui", "memory"]
# (full run, --quick)
DEFAULTS = {
    "repeats": (3, 2),
    "day_rows": (1_000_000, 100_000),
    "backfill_days": (365, 14),
    "backfill_rows": (10_000, 2_000),
    "postgresql_days": (60, 7),
    "ui_days": (365, 7),
    "ui_floor_days": (60, 7),
    "memory_days": (30, 3),
}
TINY_ROWS = 1_000


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a few minutes")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    for name, (full, quick) in DEFAULTS.items():
        flag = "--" + name.replace("_", "-")
        parser.add_argument(flag, type=int, help=f"default {full:,} ({quick:,} with --quick)")
    parser.add_argument(
        "--backfill-repeats", type=int, default=1, help="repeats of the backfills (default 1)"
    )
    parser.add_argument("--format", default="csv", choices=["csv", "parquet"])
    parser.add_argument("--skip", action="append", default=[], choices=SCENARIOS)
    parser.add_argument("--workdir", type=Path, help="keep the data here (default: removed)")
    args = parser.parse_args(argv)
    for name, (full, quick) in DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    args.ui_floor_days = min(args.ui_floor_days, args.ui_days)
    return args


def build(args: argparse.Namespace, work: Path) -> list[Group]:
    """Landing files for the scenarios that read them, and the groups, in the order they run."""
    skip, groups = set(args.skip), []
    if "day" not in skip:
        generate(work / "landing-day", DAY, 1, args.day_rows, args.format)
        groups.append(
            day_group(work / "landing-day", args.day_rows, args.repeats, "postgresql" not in skip)
        )
    if "tiny" not in skip:
        generate(work / "landing-tiny", DAY, 1, TINY_ROWS, args.format)
        groups.append(tiny_group(work / "landing-tiny", TINY_ROWS, args.repeats))
    landing, days = work / "landing-backfill", max(args.backfill_days, args.postgresql_days)
    if not skip >= {"backfill", "postgresql"}:
        generate(landing, START, days, args.backfill_rows, args.format)
    backfill = backfill_group(
        landing, args.backfill_days, args.backfill_rows, args.backfill_repeats
    )
    if "backfill" not in skip:
        groups.append(backfill)
    if "postgresql" not in skip:
        groups.append(
            postgresql_backfill_group(
                landing, args.postgresql_days, args.backfill_rows, args.backfill_repeats
            )
        )
    if "ui" not in skip:
        loop = backfill.variants[0]
        expected = lambda: loop.runs[0]["warehouse"] if loop.runs else None  # noqa: E731
        compared = 0 if "backfill" in skip else args.backfill_days
        groups.append(
            ui_group(args.ui_days, args.ui_floor_days, args.backfill_rows, expected, compared)
        )
    if "memory" not in skip:
        groups.append(memory_group(args.memory_days, args.day_rows))
    return groups


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


def execute(group: Group, variant: Variant, rep: int, work: Path, databases: list[str]) -> None:
    """Measure `variant` once in a fresh process, on a fresh instance and warehouse."""
    place = work / f"{group.scenario}-{slug(variant.name)}-{rep}"
    place.mkdir(parents=True)
    if variant.call:
        result = {"cpu_seconds": None, "peak_rss_mb": None, **variant.call(place)}
    else:
        if variant.warehouse == "postgresql":
            databases.append(postgres.create_database("sales_bench"))
            warehouse = postgres.warehouse_url(databases[-1])
        else:
            warehouse = str(place / "warehouse.duckdb")
        settings = {
            "SALES_WAREHOUSE": warehouse,
            "SALES_REPORTS_DIR": str(place / "reports"),
            "DAGSTER_HOME": str(fresh_home(place / "home")),
            **variant.settings,
        }
        command = [part.replace("{warehouse}", warehouse) for part in variant.command]
        result = timed(command, clean_environment(settings), place / "output.log")
        result["warehouse"] = warehouse if variant.warehouse else None
    shutil.rmtree(place / "reports", ignore_errors=True)
    if variant.scale != 1.0:
        result["measured_seconds"] = result["seconds"]
        result["seconds"] = round(result["seconds"] * variant.scale, 1)
    variant.runs.append(result)
    cpu, peak = result["cpu_seconds"], result["peak_rss_mb"]
    print(
        f"  {group.scenario:20} {variant.name[:48]:48} #{rep + 1}: {result['seconds']:8.2f} s wall"
        + (f"  {cpu:8.2f} s CPU  {peak:6.0f} MB" if cpu is not None else "")
        + f"  (load {os.getloadavg()[0]:.1f})",
        flush=True,
    )


def check_tables(group: Group, equivalence: dict) -> None:
    """Compare every variant's tables of the first repeat with the baseline's (raises)."""
    expected = group.expected() if group.expected else group.variants[0].runs[0]["warehouse"]
    if not expected:
        return
    for variant in group.variants:
        if variant.compare and variant.runs and variant.runs[0].get("warehouse"):
            counts = compare(
                Path(expected), variant.runs[0]["warehouse"], group.tables, group.until
            )
            equivalence[f"{group.scenario}: {variant.name}"] = counts


def measure(group: Group, work: Path, equivalence: dict) -> None:
    """Every repeat runs each variant once, rotating who goes first; tables checked after
    the first repeat; the warehouses of later repeats are dropped as soon as measured."""
    databases: list[str] = []
    try:
        for rep in range(group.repeats):
            turn = rep % len(group.variants)
            for variant in group.variants[turn:] + group.variants[:turn]:
                execute(group, variant, rep, work, databases)
                if rep > 0:
                    discard(variant.runs[-1].get("warehouse"), databases)
            if rep == 0:
                check_tables(group, equivalence)
    finally:
        for name in databases:
            postgres.drop_database(name)


def discard(warehouse: str | None, databases: list[str]) -> None:
    """Remove a warehouse no comparison needs (a DuckDB file or a throwaway database)."""
    if not warehouse:
        return
    if warehouse.startswith("postgresql://"):
        name = warehouse.rsplit("/", 1)[1]
        postgres.drop_database(name)
        databases.remove(name)
    else:
        Path(warehouse).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sales-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report = {
        "machine": machine(),
        "command": "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv),
        "settings": {name: getattr(args, name) for name in DEFAULTS}
        | {"format": args.format, "quick": args.quick}
        | {name: os.environ[name] for name in KEPT_SETTINGS if name in os.environ},
        "load_average": {"start": round(os.getloadavg()[0], 1)},
        "results": [],
        "equivalence": {},
        "errors": [],
    }
    status = 0
    try:
        groups = build(args, work)
        report["settings"]["generate_seconds"] = round(time.perf_counter() - started, 1)
        status = run_groups(groups, work, report)
    finally:
        report["load_average"]["end"] = round(os.getloadavg()[0], 1)
        report["total_seconds"] = round(time.perf_counter() - started, 1)
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
        print("\n" + render(report))
        if args.out:
            args.out.write_text(json.dumps(report, indent=2, default=str))
            print(f"\nwrote {args.out}")
    return status


def run_groups(groups: list[Group], work: Path, report: dict) -> int:
    """Measure the groups in order. A variant that fails is reported and its group left;
    tables that differ from the baseline's stop the benchmark."""
    status = 0
    for group in groups:
        try:
            measure(group, work, report["equivalence"])
        except AssertionError as difference:
            report["errors"].append(f"STOP: {group.scenario}: {difference}")
            print(f"STOP: {group.scenario}: tables differ from the baseline's: {difference}")
            report["results"] += [summary(group, v) for v in group.variants if v.runs]
            return 1
        except Exception as error:  # report it, keep the other figures
            print(f"FAILED: {group.scenario}: {type(error).__name__}: {error}", flush=True)
            report["errors"].append(f"{group.scenario}: {type(error).__name__}: {error}"[:2000])
            status = 1
        report["results"] += [summary(group, v) for v in group.variants if v.runs]
    return status
