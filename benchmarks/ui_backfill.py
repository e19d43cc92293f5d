"""A UI-style backfill: `dagster dev` and its daemon, launched over GraphQL like "Launch backfill".

On a fresh DAGSTER_HOME configured by the repo's dagster.yaml (two runs at once), the days
are backfilled either in sales_assets (all five assets; the daemon cuts the days into runs
by the assets' backfill policy, SALES_BACKFILL_DAYS_PER_RUN days a run) or in Dagster's floor
(benchmarks/floor_location.py: one trivial daily asset, one run per day). The time runs from
the launch until the backfill and every run of it are done. The source is synthetic
(SALES_SYNTHETIC_ROWS rows a day): no landing folder, so no landing sensor run interferes.

    python -m benchmarks.ui_backfill [--days 365] [--rows-per-day 10000] [--floor]
                                     [--storage sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path

from benchmarks import postgres
from benchmarks.dagster_dev import DagsterDev
from benchmarks.measure import START, clean_environment, fresh_home

HERE = Path(__file__).resolve().parent
ASSETS = ["raw_sales", "cleaned_sales", "rejected_sales", "sales_metrics", "sales_report"]


def settings(work: Path, rows_per_day: int) -> dict[str, str]:
    return {
        "SALES_WAREHOUSE": str(work / "warehouse.duckdb"),
        "SALES_SYNTHETIC_ROWS": str(rows_per_day),
        "SALES_REPORTS_DIR": str(work / "reports"),
        # A yearly tick: the daily schedule must not add a run to the measured window.
        "SALES_SCHEDULE_CRON": "0 6 1 1 *",
    }


def run(
    days: int,
    rows_per_day: int,
    work: Path,
    floor: bool = False,
    storage: str = "sqlite",
    timeout: float = 4 * 3600,
) -> dict:
    """Backfill `days` days from START through a fresh `dagster dev`; the figures as a dict."""
    keys = [(START + timedelta(days=n)).isoformat() for n in range(days)]
    work.mkdir(parents=True, exist_ok=True)
    pg = storage == "postgresql"
    with postgres.throwaway_database("sales_bench_ui") if pg else nullcontext() as name:
        home = fresh_home(work / "home", postgres.instance_storage(name) if pg else None)
        target = ["-f", str(HERE / "floor_location.py")] if floor else ["-w", "workspace.yaml"]
        env = clean_environment(settings(work, rows_per_day))
        load = os.getloadavg()[0]
        with DagsterDev(home, env, target, work / "dagster_dev.log") as dev:
            started = time.monotonic()
            backfill = dev.launch_backfill(keys, ["trivial_daily"] if floor else ASSETS)
            status = dev.wait_backfill(backfill, timeout)
            wall = time.monotonic() - started
            runs = dev.runs(backfill)
    found = figures(runs, days, wall, status, floor, work)
    found["load_average"] = round((load + os.getloadavg()[0]) / 2, 1)
    if found["runs_succeeded"] != found["runs"] or not runs:
        raise RuntimeError(f"the backfill's runs did not all succeed: {found}")
    return found


def figures(runs: list[dict], days: int, wall: float, status: str, floor: bool, work) -> dict:
    durations = [r["endTime"] - r["startTime"] for r in runs if r["startTime"] and r["endTime"]]
    succeeded = sum(1 for r in runs if r["status"] == "SUCCESS")
    return {
        "location": "floor (one trivial daily asset)" if floor else "sales_assets",
        "days": days,
        "backfill_status": status,
        "seconds": round(wall, 1),
        "runs": len(runs),
        "runs_succeeded": succeeded,
        "run_seconds_median": round(statistics.median(durations), 2) if durations else None,
        # the runs' own span, without the daemon's first and last iteration
        "first_start_to_last_end_seconds": round(
            max(r["endTime"] for r in runs) - min(r["startTime"] for r in runs), 1
        )
        if durations
        else None,
        "warehouse": str(work / "warehouse.duckdb"),
        "log": str(work / "dagster_dev.log"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ui_backfill", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--rows-per-day", type=int, default=10_000)
    parser.add_argument("--floor", action="store_true", help="backfill Dagster's floor instead")
    parser.add_argument("--storage", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--workdir", type=Path, help="keep the instance and warehouse here")
    args = parser.parse_args(argv)
    # Stop dagster dev's process group on `kill` too, not only on Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sales-ui-backfill-"))
    print(json.dumps(run(args.days, args.rows_per_day, work, args.floor, args.storage), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
