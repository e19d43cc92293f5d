"""The benchmark: the project beside a hand-written pandas + DuckDB script, in one run.

Scenarios (each variant is a fresh OS process; repeats alternate variants, median reported):
  day     one big day (1M rows): baseline script, `dagster asset materialize` CLI, in-process job
  backfill  many small days (365 x 10k): baseline loop, `sales-assets backfill`, and a
            UI-style daemon backfill of the first days (benchmarks/daemon_backfill.py)
  tiny    a 1k-row day with the CLI, beside a trivial one-asset job run the same way

Peak RSS comes from the OS (wait4 rusage of each child process). The first repetition's
warehouses are compared table by table: the project must write exactly the baseline's
cleaned, rejected and metrics rows, or the benchmark stops.

    python -m benchmarks [--quick] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib import metadata
from pathlib import Path

from benchmarks import daemon_backfill

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
START = date(2024, 1, 1)  # first day of the generated data (and SALES_START_DATE)


@dataclass
class Variant:
    scenario: str
    name: str
    rows: int
    command: list[str]
    home: Path | None = None  # DAGSTER_HOME, kept across repeats
    landing: Path | None = None
    note: str = ""
    runs: list[dict] = field(default_factory=list)


def machine() -> dict:
    memory_kb = next(
        int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")
    )
    versions = {
        p: metadata.version(p)
        for p in (
            "dagster",
            "dagster-duckdb-pandas",
            "pandas",
            "pyarrow",
            "duckdb",
            "pandera",
            "numpy",
        )
    }
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 2**20, 1),
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in open("/proc/cpuinfo")
                if line.startswith("model name")
            ),
            platform.processor(),
        ),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


TIME = Path("/usr/bin/time")


def timed(command: list[str], env: dict, log: Path) -> dict:
    """Run a command to completion: wall seconds, CPU seconds and peak RSS, all from the OS.

    Peak RSS is read by /usr/bin/time when present: a child forked from this (larger) process
    inherits its high-water mark in wait4's ru_maxrss, which would overstate small runs."""
    peak_file = log.with_suffix(".maxrss")
    wrapped = [str(TIME), "-f", "%M", "-o", str(peak_file), *command] if TIME.exists() else command
    with open(log, "w") as out:
        started = time.perf_counter()
        process = subprocess.Popen(wrapped, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    if TIME.exists():
        usage_kb = int(peak_file.read_text().split()[-1])
    else:
        usage_kb = usage.ru_maxrss
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        tail = log.read_text()[-3000:]
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}; log {log}:\n{tail}")
    cpu = usage.ru_utime + usage.ru_stime  # of the child and the processes it waited for
    return {
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "peak_rss_mb": round(usage_kb / 1024, 1),
    }


def environment(variant: Variant, warehouse: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SALES_", "DAGSTER_"))}
    env.update(
        SALES_WAREHOUSE=str(warehouse), SALES_START_DATE=START.isoformat(), PYTHONPATH=str(REPO)
    )
    if variant.landing:
        env["SALES_LANDING_DIR"] = str(variant.landing)
    if variant.home:
        env["DAGSTER_HOME"] = str(variant.home)
    return env


def dagster_home(path: Path) -> Path:
    """A fresh instance directory configured by the repo's dagster.yaml when there is one."""
    path.mkdir(parents=True, exist_ok=True)
    if (REPO / "dagster.yaml").exists():
        shutil.copy(REPO / "dagster.yaml", path / "dagster.yaml")
    return path


def generate(landing: Path, start: date, days: int, rows: int, fmt: str) -> None:
    """Landing files written by the project's own generator command."""
    subprocess.run(
        [
            str(BIN / "sales-assets"),
            "generate",
            "--start",
            start.isoformat(),
            "--days",
            str(days),
            "--rows-per-day",
            str(rows),
            "--format",
            fmt,
            "--out",
            str(landing),
            "--quiet",
        ],
        check=True,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
    )


def compare(
    expected: Path,
    actual: Path,
    tables=("cleaned_sales", "rejected_sales", "sales_metrics"),
    until: date | None = None,
) -> dict:
    """Row-for-row equality (EXCEPT ALL both ways) of the baseline's tables and the project's
    (the baseline's days up to `until` only, when given)."""
    import duckdb

    counts = {}
    with duckdb.connect() as connection:
        connection.execute(f"ATTACH '{expected}' AS expected (READ_ONLY)")
        connection.execute(f"ATTACH '{actual}' AS actual (READ_ONLY)")
        for table in tables:
            columns = [
                r[0]
                for r in connection.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_catalog = 'expected' AND table_schema = 'sales' "
                    "AND table_name = ? ORDER BY ordinal_position",
                    [table],
                ).fetchall()
            ]
            if (
                table == "rejected_sales"
            ):  # the baseline ships no extra landing columns; compare the contract's
                columns = [c for c in columns if c != "reject_detail"] + ["reject_detail"]
            select = ", ".join(f'"{c}"' for c in columns)
            day_column = "partition_date" if table == "rejected_sales" else "order_date"
            where = f" WHERE {day_column} <= DATE '{until.isoformat()}'" if until else ""
            diff = connection.execute(
                f"SELECT (SELECT count(*) FROM (SELECT {select} FROM expected.sales.{table}{where} EXCEPT ALL SELECT {select} FROM actual.sales.{table})),"
                f"       (SELECT count(*) FROM (SELECT {select} FROM actual.sales.{table} EXCEPT ALL SELECT {select} FROM expected.sales.{table}{where})),"
                f"       (SELECT count(*) FROM expected.sales.{table}{where})"
            ).fetchone()
            if diff[0] or diff[1]:
                raise AssertionError(
                    f"{table}: {diff[0]} baseline rows missing from {actual}, {diff[1]} extra rows"
                )
            counts[table] = diff[2]
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 100k-row day, 14 x 2k backfill, 2 repeats"
    )
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument(
        "--repeats", type=int, help="repeats of the day and tiny scenarios (default 3)"
    )
    parser.add_argument(
        "--backfill-repeats",
        type=int,
        help="repeats of each Dagster backfill (default 1: they dominate)",
    )
    parser.add_argument("--day-rows", type=int, help="rows of the big day (default 1,000,000)")
    parser.add_argument("--backfill-days", type=int, help="days of the backfill (default 365)")
    parser.add_argument("--backfill-rows", type=int, help="rows per backfill day (default 10,000)")
    parser.add_argument(
        "--ui-backfill-days",
        type=int,
        help="days of the UI-style daemon backfill (default 14, 0 = skip): "
        "each day is a run worker process, so 365 days take far beyond the time budget "
        "(benchmarks/daemon_backfill.py measures them, with Dagster's floor beside)",
    )
    parser.add_argument(
        "--format",
        default="csv",
        choices=["csv", "parquet"],
        help="landing file format (default csv)",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["day", "backfill", "tiny"],
        help="leave a scenario out",
    )
    parser.add_argument(
        "--workdir", type=Path, help="keep data here (default: a temporary folder, removed)"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    repeats = args.repeats or (2 if quick else 3)
    backfill_repeats = args.backfill_repeats or 1
    day_rows = args.day_rows or (100_000 if quick else 1_000_000)
    backfill_days = args.backfill_days or (14 if quick else 365)
    backfill_rows = args.backfill_rows or (2_000 if quick else 10_000)
    ui_days = min(
        backfill_days,
        args.ui_backfill_days if args.ui_backfill_days is not None else (7 if quick else 14),
    )
    tiny_rows = 1_000

    work = args.workdir or Path(tempfile.mkdtemp(prefix="sales-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report = {
        "machine": machine(),
        "command": "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:]),
        "settings": {
            "repeats": repeats,
            "backfill_repeats": backfill_repeats,
            "day_rows": day_rows,
            "backfill_days": backfill_days,
            "backfill_rows": backfill_rows,
            "ui_backfill_days": ui_days,
            "tiny_rows": tiny_rows,
            "format": args.format,
        },
        "results": [],
        "equivalence": {},
    }
    try:
        python, dagster = str(BIN / "python"), str(BIN / "dagster")

        def materialize(day):
            command = [dagster, "asset", "materialize", "-m", "sales_assets.definitions"]
            return command + ["--select", "*", "--partition", day.isoformat()]

        day = date(2024, 3, 1)
        end = START + timedelta(days=backfill_days - 1)
        groups: list[list[Variant]] = []
        if "day" not in args.skip:
            landing = work / "landing-day"
            generate(landing, day, 1, day_rows, args.format)
            groups.append(
                [
                    Variant(
                        "day",
                        "baseline script",
                        day_rows,
                        [
                            python,
                            "-m",
                            "benchmarks.baseline",
                            "--landing",
                            str(landing),
                            "--warehouse",
                            "{warehouse}",
                            day.isoformat(),
                        ],
                        landing=landing,
                    ),
                    Variant(
                        "day",
                        "dagster asset materialize (CLI)",
                        day_rows,
                        materialize(day),
                        dagster_home(work / "home-day-cli"),
                        landing,
                    ),
                    Variant(
                        "day",
                        "in-process job",
                        day_rows,
                        [python, "-m", "benchmarks.inprocess", day.isoformat()],
                        dagster_home(work / "home-day-inproc"),
                        landing,
                    ),
                ]
            )
        if "tiny" not in args.skip:
            landing = work / "landing-tiny"
            generate(landing, day, 1, tiny_rows, args.format)
            groups.append(
                [
                    Variant(
                        "tiny",
                        "trivial one-asset job (CLI)",
                        1,
                        [
                            dagster,
                            "asset",
                            "materialize",
                            "-m",
                            "benchmarks.trivial",
                            "--select",
                            "*",
                            "--partition",
                            day.isoformat(),
                        ],
                        dagster_home(work / "home-trivial"),
                    ),
                    Variant(
                        "tiny",
                        "dagster asset materialize (CLI)",
                        tiny_rows,
                        materialize(day),
                        dagster_home(work / "home-tiny"),
                        landing,
                    ),
                ]
            )
        backfill_group: list[Variant] = []
        if "backfill" not in args.skip:
            landing = work / "landing-backfill"
            generate(landing, START, backfill_days, backfill_rows, args.format)
            command = [str(BIN / "sales-assets"), "backfill", START.isoformat(), end.isoformat()]
            backfill_group = [
                Variant(
                    "backfill",
                    "baseline script (loop in one process)",
                    backfill_days * backfill_rows,
                    [
                        python,
                        "-m",
                        "benchmarks.baseline",
                        "--landing",
                        str(landing),
                        "--warehouse",
                        "{warehouse}",
                        START.isoformat(),
                        end.isoformat(),
                    ],
                    landing=landing,
                ),
                Variant(
                    "backfill",
                    "command-line backfill",
                    backfill_days * backfill_rows,
                    command,
                    dagster_home(work / "home-backfill"),
                    landing,
                    note="sales-assets backfill START END",
                ),
            ]
        report["settings"]["generate_seconds"] = round(time.perf_counter() - started, 1)

        def execute(variant: Variant, rep: int) -> None:
            warehouse = work / f"{variant.scenario}-{variant.name.split()[0]}-{rep}.duckdb"
            warehouse.unlink(missing_ok=True)
            command = [c.replace("{warehouse}", str(warehouse)) for c in variant.command]
            log = work / f"{variant.scenario}-{variant.name.split()[0]}-{rep}.log"
            result = timed(command, environment(variant, warehouse), log)
            result["warehouse"] = str(warehouse)
            variant.runs.append(result)
            print(
                f"  {variant.scenario:8} {variant.name:40} run {rep + 1}: {result['seconds']:8.2f} s wall {result['cpu_seconds']:8.2f} s cpu {result['peak_rss_mb']:7.0f} MB",
                flush=True,
            )

        def check(group: list[Variant]) -> None:
            baseline = group[0]
            for variant in group[1:]:
                if variant.scenario != "tiny":
                    report["equivalence"][f"{variant.scenario}: {variant.name}"] = compare(
                        Path(baseline.runs[0]["warehouse"]), Path(variant.runs[0]["warehouse"])
                    )

        # Alternate: each repeat runs every variant once, rotating who goes first.
        for group in groups:
            for rep in range(repeats):
                for variant in group[rep % len(group) :] + group[: rep % len(group)]:
                    execute(variant, rep)
                if rep == 0 and group[0].scenario != "tiny":
                    check(group)
        if backfill_group:
            baseline, dagster_backfill = backfill_group
            for rep in range(backfill_repeats):  # the 365-day runs dominate the budget
                execute(baseline, rep)
                execute(dagster_backfill, rep)
                if rep == 0:
                    check(backfill_group)
            groups.append(backfill_group)
            ui_until = START + timedelta(days=ui_days - 1)
            ui = Variant(
                "backfill-ui",
                f"UI-style backfill (dagster dev + daemon), {ui_days} days",
                ui_days * backfill_rows,
                [],
            )
            if ui_days:
                try:
                    figures = daemon_backfill.run(
                        days=ui_days,
                        rows_per_day=backfill_rows,
                        storage="sqlite",
                        start=START.isoformat(),
                        workdir=work / "ui-backfill",
                    )
                    ui.runs.append(
                        {
                            "seconds": figures["wall_seconds"],
                            "cpu_seconds": None,
                            "peak_rss_mb": None,
                            "figures": {k: v for k, v in figures.items() if k != "instance_yaml"},
                        }
                    )
                    ui.note = f"{figures['runs_succeeded']} of {figures['days']} runs succeeded; synthetic source"
                    report["equivalence"]["backfill: UI-style backfill (cleaned, metrics)"] = (
                        compare(
                            Path(baseline.runs[0]["warehouse"]),
                            work / "ui-backfill" / "warehouse.duckdb",
                            ("cleaned_sales", "sales_metrics"),
                            ui_until,
                        )
                    )
                except Exception as error:  # report it, keep the other figures
                    ui.note = f"failed: {type(error).__name__}: {error}"[:300]
            # Its ratio is to the baseline's time for the same number of days.
            baseline_days = Variant(
                "backfill-ui",
                f"baseline script, {ui_days} days (pro rata)",
                ui_days * backfill_rows,
                [],
                runs=[
                    {
                        "seconds": r["seconds"] * ui_days / backfill_days,
                        "cpu_seconds": r["cpu_seconds"] * ui_days / backfill_days,
                        "peak_rss_mb": r["peak_rss_mb"],
                    }
                    for r in baseline.runs
                ],
            )
            if ui_days:
                groups.append([baseline_days, ui])

        targets = {
            ("day", "dagster asset materialize (CLI)"): ("baseline", 1.2),
            ("day", "in-process job"): ("baseline", 1.2),
            ("backfill", "command-line backfill"): ("baseline", 10.0),
            ("tiny", "dagster asset materialize (CLI)"): ("trivial", 1.5),
        }
        for group in groups:
            reference = statistics.median(r["seconds"] for r in group[0].runs)
            for variant in group:
                if not variant.runs:
                    report["results"].append(
                        {
                            "scenario": variant.scenario,
                            "variant": variant.name,
                            "note": variant.note,
                        }
                    )
                    continue
                seconds = statistics.median(r["seconds"] for r in variant.runs)
                target = targets.get((variant.scenario, variant.name), (None, None))[1]
                ratio = seconds / reference
                report["results"].append(
                    {
                        "scenario": variant.scenario,
                        "variant": variant.name,
                        "rows": variant.rows,
                        "runs": len(variant.runs),
                        "seconds_median": round(seconds, 2),
                        "seconds_all": [r["seconds"] for r in variant.runs],
                        "cpu_seconds_median": cpu_median(variant),
                        "cpu_ratio": round(cpu_median(variant) / cpu_median(group[0]), 2)
                        if cpu_median(variant)
                        else None,
                        "rows_per_second": round(variant.rows / seconds)
                        if variant.scenario != "tiny" or variant.rows > 1
                        else None,
                        "peak_rss_mb": max((r["peak_rss_mb"] or 0) for r in variant.runs) or None,
                        "ratio": round(ratio, 2),
                        "ratio_to": group[0].name,
                        "target": target,
                        "meets_target": None if target is None else ratio <= target,
                        "note": variant.note,
                    }
                )
        report["memory_target"] = {
            "limit_mb": 1024,
            "day_peak_rss_mb": {
                r["variant"]: r["peak_rss_mb"]
                for r in report["results"]
                if r["scenario"] == "day" and "peak_rss_mb" in r
            },
        }
        report["total_seconds"] = round(time.perf_counter() - started, 1)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(render(report))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2, default=str))
        print(f"\nwrote {args.out}")
    return 0


def show(value, spec: str, suffix: str = "") -> str:
    return "" if value is None else format(value, spec) + suffix


def cpu_median(variant: Variant) -> float | None:
    values = [r["cpu_seconds"] for r in variant.runs if r.get("cpu_seconds") is not None]
    return round(statistics.median(values), 2) if values else None


def render(report: dict) -> str:
    """The results as a markdown table, with the machine and versions."""
    m = report["machine"]
    lines = [
        f"machine: {m['cores']} cores, {m['memory_gib']} GiB, {m['cpu']}; Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        f"command: {report['command']}   total {report.get('total_seconds', '?')} s (incl. data generation {report['settings'].get('generate_seconds', '?')} s)",
        "",
        "| scenario | variant | rows | runs | wall s (median) | rows/s | peak RSS MB | ratio (wall) | CPU s (median) | ratio (CPU) | target (wall ratio) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in report["results"]:
        if "seconds_median" not in r:
            lines.append(f"| {r['scenario']} | {r['variant']} | | | | | | | | | {r['note']} |")
            continue
        target = (
            ""
            if r["target"] is None
            else f"<= {r['target']}x {r['ratio_to']}: {'met' if r['meets_target'] else 'NOT met'}"
        )
        name = r["variant"] + (f" ({r['note']})" if r["note"] else "")
        lines.append(
            f"| {r['scenario']} | {name} | {r['rows']:,} | {r['runs']} | {r['seconds_median']:.2f} | "
            f"{'' if r['rows_per_second'] is None else format(r['rows_per_second'], ',')} | {show(r['peak_rss_mb'], '.0f')} | {r['ratio']:.2f}x | "
            f"{show(r['cpu_seconds_median'], '.2f')} | {show(r['cpu_ratio'], '.2f', 'x')} | {target} |"
        )
    day_peaks = report.get("memory_target", {}).get("day_peak_rss_mb", {})
    if day_peaks:
        worst = max(v for k, v in day_peaks.items() if k != "baseline script" and v)
        lines.append(
            f"\npeak RSS of the big day (project): {worst:.0f} MB (target <= 1024 MB: {'met' if worst <= 1024 else 'NOT met'})"
        )
    lines.append("equivalence (rows compared, identical): " + json.dumps(report["equivalence"]))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
