"""Wall time of a UI-style partition backfill on a running `dagster dev` (webserver + daemon).

Launches the backfill over GraphQL exactly as the UI's "Launch backfill" does (one run per day,
each tagged `dagster/partition`), on a fresh DAGSTER_HOME configured from the repo's
dagster.yaml, with the instance storage on SQLite (default) or on the PostgreSQL at
127.0.0.1:5432 (a throwaway database, dropped afterwards). Beside it, the same backfill of a
trivial one-asset daily code location (benchmarks/floor_location.py) gives Dagster's own floor.
With `--cli STORAGE...`, the same days also go through `sales-assets backfill` on that storage.

    .venv/bin/python benchmarks/daemon_backfill.py --days 365 --rows-per-day 10000 --storage sqlite postgres --cli postgres

`run(days, rows_per_day, ...)` returns the figures as a dict (used by the other benchmarks).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from sales_assets_tests.e2e.dagster_dev import ASSETS, DagsterDev, instance_yaml, postgres_database  # noqa: E402

FLOOR_LOCATION = Path(__file__).resolve().with_name("floor_location.py")
RESULTS = REPO_ROOT / "benchmarks" / "results"

FAILURE_EVENTS = """
query Failures($runId: ID!) {
  logsForRun(runId: $runId, limit: 5000) {
    ... on EventConnection {
      events {
        __typename
        ... on ExecutionStepFailureEvent { stepKey error { message } }
        ... on RunFailureEvent { message }
      }
    }
  }
}"""


def _day_keys(start: date, days: int) -> list[str]:
    return [(start + timedelta(days=i)).isoformat() for i in range(days)]


def _failure_messages(dev: DagsterDev, run_id: str) -> list[str]:
    events = dev.graphql(FAILURE_EVENTS, runId=run_id)["logsForRun"].get("events", [])
    out = []
    for event in events:
        if event["__typename"] == "ExecutionStepFailureEvent":
            out.append(f"{event['stepKey']}: {event['error']['message'].strip()[:300]}")
        elif event["__typename"] == "RunFailureEvent":
            out.append(event["message"][:300])
    return out


def run(
    days: int = 365,
    rows_per_day: int = 10000,
    storage: str = "sqlite",
    floor: bool = False,
    start: str = "2024-01-01",
    base_yaml: Path | None = REPO_ROOT / "dagster.yaml",
    timeout: float = 4 * 3600,
    workdir: Path | None = None,
    log=print,
) -> dict:
    """Backfill `days` days from `start` through a fresh `dagster dev`; return the figures.

    `floor=True` backfills the trivial location instead of sales_assets. `storage` is "sqlite"
    (files under DAGSTER_HOME) or "postgres" (a throwaway database on 127.0.0.1:5432)."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="daemon_backfill_"))
    keys = _day_keys(date.fromisoformat(start), days)
    with _fresh_instance(workdir, storage, base_yaml, rows_per_day, start, "sales_bench") as (
        home,
        env,
    ):
        env["SALES_SCHEDULE_CRON"] = (
            "0 6 1 1 *"  # keep the daily schedule from adding a run to the measured window
        )
        target = ["-f", str(FLOOR_LOCATION)] if floor else None
        dev = DagsterDev(home, env, target=target, log_path=workdir / "dagster_dev.log")
        dev.start()
        try:
            assets = ["trivial_daily"] if floor else ASSETS
            started = time.monotonic()
            backfill_id = dev.launch_backfill(keys, assets=assets)
            backfill = dev.wait_backfill(backfill_id, timeout=timeout, interval=5.0)
            wall = time.monotonic() - started
            runs = dev.runs(limit=days * 3, tags={"dagster/backfill": backfill_id})
            failed = [r for r in runs if r["status"] != "SUCCESS"]
            failures = {r["runId"]: _failure_messages(dev, r["runId"]) for r in failed}
        except BaseException:
            log(dev.log_tail())
            raise
        finally:
            dev.stop()
    durations = [r["endTime"] - r["startTime"] for r in runs if r["startTime"] and r["endTime"]]
    partitions = sorted(r["tags"].get("dagster/partition", "") for r in runs)
    lock_failures = sum(1 for msgs in failures.values() if any("lock" in m.lower() for m in msgs))
    figures = {
        "location": "floor (one trivial daily asset)" if floor else "sales_assets",
        "storage": storage,
        "days": days,
        "rows_per_day": 0 if floor else rows_per_day,
        "backfill_status": backfill["status"],
        "wall_seconds": round(wall, 1),
        "seconds_per_day": round(wall / days, 2),
        "runs": len(runs),
        "runs_succeeded": len(runs) - len(failed),
        "runs_failed": len(failed),
        "runs_failed_on_duckdb_lock": lock_failures,
        "every_day_one_run": partitions == keys,
        # runs' own span, without the backfill daemon's first and last iteration
        "first_start_to_last_end_seconds": round(
            max(r["endTime"] for r in runs) - min(r["startTime"] for r in runs), 1
        )
        if durations
        else None,
        "run_seconds_median": round(statistics.median(durations), 2) if durations else None,
        "run_seconds_max": round(max(durations), 2) if durations else None,
        "failures": failures,
        # the machine's 1-minute load at the end: figures on a busy 2-core box are inflated
        "load_average_end": round(os.getloadavg()[0], 1),
        "dagster_dev_log": str(workdir / "dagster_dev.log"),
        "instance_yaml": (home / "dagster.yaml").read_text(),
    }
    log(
        json.dumps({k: v for k, v in figures.items() if k not in ("failures", "instance_yaml")}),
        flush=True,
    )
    return figures


def cli_run(
    days: int = 365,
    rows_per_day: int = 10000,
    storage: str = "sqlite",
    start: str = "2024-01-01",
    base_yaml: Path | None = REPO_ROOT / "dagster.yaml",
    log=print,
) -> dict:
    """The same days through `sales-assets backfill` on a fresh instance of that storage."""
    workdir = Path(tempfile.mkdtemp(prefix="cli_backfill_"))
    keys = _day_keys(date.fromisoformat(start), days)
    with _fresh_instance(workdir, storage, base_yaml, rows_per_day, start, "sales_cli") as (
        home,
        env,
    ):
        command = [
            str(Path(sys.executable).with_name("sales-assets")),
            "backfill",
            keys[0],
            keys[-1],
        ]
        started, before = time.monotonic(), os.times()
        done = subprocess.run(
            command,
            env={**os.environ, "DAGSTER_HOME": str(home), **env},
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        )
        wall, after = time.monotonic() - started, os.times()
    (workdir / "backfill.log").write_text(done.stdout + done.stderr)
    figures = {
        "location": "sales-assets backfill",
        "storage": storage,
        "days": days,
        "rows_per_day": rows_per_day,
        "exit_code": done.returncode,
        "wall_seconds": round(wall, 1),
        "seconds_per_day": round(wall / days, 2),
        "cpu_seconds": round(
            after.children_user
            + after.children_system
            - before.children_user
            - before.children_system,
            1,
        ),
        "load_average_end": round(os.getloadavg()[0], 1),
        "log": str(workdir / "backfill.log"),
    }
    log(json.dumps(figures), flush=True)
    return figures


@contextmanager
def _fresh_instance(
    workdir: Path,
    storage: str,
    base_yaml: Path | None,
    rows_per_day: int,
    start: str,
    db_prefix: str,
):
    """A new DAGSTER_HOME under `workdir` on `storage` (a throwaway PostgreSQL database, dropped
    on exit, or SQLite files), and the SALES_* settings of a synthetic backfill: (home, env)."""
    home = workdir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    with postgres_database(db_prefix) if storage == "postgres" else _nothing() as pg_storage:
        (home / "dagster.yaml").write_text(instance_yaml(base_yaml, storage=pg_storage))
        yield (
            home,
            {
                "SALES_WAREHOUSE": str(workdir / "warehouse.duckdb"),
                "SALES_SYNTHETIC_ROWS": str(rows_per_day),
                "SALES_START_DATE": start,
                "SALES_LANDING_DIR": "",
                "SALES_ALERT_WEBHOOK_URL": "",
            },
        )


@contextmanager
def _nothing():
    yield None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--rows-per-day", type=int, default=10000)
    parser.add_argument("--start", default="2024-01-01")
    parser.add_argument(
        "--storage", nargs="+", choices=["sqlite", "postgres"], default=["sqlite", "postgres"]
    )
    parser.add_argument("--no-floor", action="store_true", help="skip the trivial-location floor")
    parser.add_argument("--floor-only", action="store_true", help="measure only the floor")
    parser.add_argument(
        "--cli",
        nargs="*",
        choices=["sqlite", "postgres"],
        default=[],
        help="also run sales-assets backfill on these storages",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "daemon_backfill.json")
    args = parser.parse_args(argv)
    # Stop dagster dev's process group on `kill` too, not only on Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    rows = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for storage in args.storage:
        row = {"storage": storage, "sales_assets": None, "floor": None, "cli": None}
        rows.append(row)
        if not args.floor_only:
            row["sales_assets"] = run(args.days, args.rows_per_day, storage, start=args.start)
            args.out.write_text(json.dumps(rows, indent=2))
        if not args.no_floor:
            row["floor"] = run(args.days, args.rows_per_day, storage, floor=True, start=args.start)
            args.out.write_text(json.dumps(rows, indent=2))
        if storage in args.cli:
            row["cli"] = cli_run(args.days, args.rows_per_day, storage, start=args.start)
            args.out.write_text(json.dumps(rows, indent=2))

    print(
        f"\nUI-style backfill of {args.days} days at {args.rows_per_day} rows/day (dagster dev + daemon, repo dagster.yaml)"
    )
    print(
        f"{'storage':9} {'sales_assets s':>14} {'floor s':>9} {'ratio':>6} {'s/day':>6} {'failed':>6} {'lock':>5} {'CLI backfill s':>14}"
    )
    ok = True
    for row in rows:
        real, low = row["sales_assets"], row["floor"]
        ratio = real["wall_seconds"] / low["wall_seconds"] if real and low else None
        print(
            f"{row['storage']:9} {real['wall_seconds'] if real else '-':>14} {low['wall_seconds'] if low else '-':>9} "
            f"{f'{ratio:.2f}' if ratio else '-':>6} {real['seconds_per_day'] if real else '-':>6} "
            f"{real['runs_failed'] if real else '-':>6} {real['runs_failed_on_duckdb_lock'] if real else '-':>5} "
            f"{row['cli']['wall_seconds'] if row['cli'] else '-':>14}"
        )
        ok &= bool(real is None or (real["runs_failed"] == 0 and real["every_day_one_run"]))
        ok &= bool(row["cli"] is None or row["cli"]["exit_code"] == 0)
    print(f"figures: {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
