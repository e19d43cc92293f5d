"""Where a small day's run time goes: the same in-process runs on different instance storages.

Runs `daily_sales_job` for a few small days in one process (as `sales-assets backfill` does)
with the instance on SQLite under DAGSTER_HOME on disk, on SQLite in /dev/shm (no fsync
cost), and on PostgreSQL at 127.0.0.1:5432 (a throwaway database), and prints seconds per day
(wall and CPU) beside the number of events each run writes.

    python -m benchmarks.run_cost [--days 6] [--rows 10000] [--storage sqlite shm postgres]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import nullcontext
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sales_assets_tests.e2e.dagster_dev import instance_yaml, postgres_database  # noqa: E402

CHILD = """
import sys, time
from dagster import DagsterInstance
from sales_assets.definitions import defs
job = defs.resolve_job_def("daily_sales_job")
days = int(sys.argv[1])
with DagsterInstance.get() as instance:
    job.execute_in_process(partition_key="2024-01-01", instance=instance)  # warm: tables exist
    wall, cpu = time.perf_counter(), time.process_time()
    for n in range(2, days + 2):
        result = job.execute_in_process(partition_key=f"2024-01-{n:02d}", instance=instance)
    wall, cpu = (time.perf_counter() - wall) / days, (time.process_time() - cpu) / days
    print(f"{wall:.2f} {cpu:.2f} {len(instance.all_logs(result.run_id))}")
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run_cost", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--days", type=int, default=6)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument(
        "--storage",
        nargs="+",
        default=["sqlite", "shm", "postgres"],
        choices=["sqlite", "shm", "postgres"],
    )
    args = parser.parse_args(argv)
    bin_dir = Path(sys.executable).parent
    work = Path(tempfile.mkdtemp(prefix="run-cost-"))
    try:
        landing = work / "landing"
        subprocess.run(
            [
                str(bin_dir / "sales-assets"),
                "generate",
                "--start",
                "2024-01-01",
                "--days",
                str(args.days + 1),
                "--rows-per-day",
                str(args.rows),
                "--out",
                str(landing),
                "--quiet",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(
            f"{args.days} days x {args.rows} rows, in-process runs in one process; seconds per day"
        )
        print(
            "| instance storage | wall s/day | CPU s/day | events per run |\n|---|---:|---:|---:|"
        )
        for storage in args.storage:
            home = Path(
                tempfile.mkdtemp(prefix="home-", dir="/dev/shm" if storage == "shm" else work)
            )
            env = {k: v for k, v in os.environ.items() if not k.startswith(("SALES_", "DAGSTER_"))}
            env.update(
                DAGSTER_HOME=str(home),
                SALES_WAREHOUSE=str(work / f"{storage}.duckdb"),
                SALES_LANDING_DIR=str(landing),
                SALES_START_DATE="2024-01-01",
                PYTHONPATH=str(REPO),
            )
            try:
                with (
                    postgres_database("sales_run_cost")
                    if storage == "postgres"
                    else nullcontext() as pg_storage
                ):
                    if pg_storage:
                        (home / "dagster.yaml").write_text(instance_yaml(None, storage=pg_storage))
                    child = subprocess.run(
                        [sys.executable, "-c", CHILD, str(args.days)],
                        env=env,
                        cwd=REPO,
                        capture_output=True,
                        text=True,
                    )
                if child.returncode:
                    raise RuntimeError(f"{storage}: runs failed:\n{child.stderr[-2000:]}")
                out = child.stdout.split()
                label = {
                    "sqlite": "SQLite, DAGSTER_HOME on disk (default)",
                    "shm": "SQLite, DAGSTER_HOME in /dev/shm (no fsync)",
                    "postgres": "PostgreSQL 127.0.0.1",
                }[storage]
                print(f"| {label} | {out[0]} | {out[1]} | {out[2]} |", flush=True)
            finally:
                shutil.rmtree(home, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
