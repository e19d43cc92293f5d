"""A UI backfill in-process and on Celery workers, side by side, and what a step costs on Celery.

Each variant gets a fresh `dagster dev` (webserver + daemon) with its instance on a throwaway
PostgreSQL database (deploy/dagster.yaml for in-process, deploy/celery/dagster.yaml for
Celery: same storage, same run queue), a fresh PostgreSQL warehouse, and the same landing
files on moto's S3 server (generated once, copied into the variant's bucket after its landing
sensor is stopped). The backfill is launched over GraphQL as the UI does; with
SALES_BACKFILL_DAYS_PER_RUN=5 a 30-day backfill is 6 runs, so two workers have work to share.

    .venv/bin/python -m sales_assets_tests.e2e.celery_cost --days 30 --rows-per-day 10000

It lives beside the end-to-end harness it drives (Redis, workers, `dagster dev`, moto), which
the benchmarks package does not import.

Per variant: wall time from launch to the backfill's end; per run (medians): the step's own
time (STEP_START -> STEP_SUCCESS), and around it what this mode adds: dispatch (the run sends the
step -> a worker has taken it from the broker, loaded the job and the run and starts it;
the median includes waiting for a free worker, the minimum is an idle worker's pickup),
worker setup (-> STEP_START: resources), return (STEP_SUCCESS -> the run ends: the result
travels back through the result backend, polled every second). In-process, setup is
RUN_START -> STEP_START. "runs span" is the first run's start to the last run's end, without
the backfill daemon's own iterations before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, RunsFilter
from tabulate import tabulate

from sales_assets_tests.e2e.celery_parts import (
    CELERY_INSTANCE_YAML,
    SALES_ASSETS,
    RedisServer,
    Worker,
)
from sales_assets_tests.e2e.dagster_dev import (
    POSTGRES,
    DagsterDev,
    instance_yaml,
    postgres_database,
)
from sales_assets_tests.e2e.ui_facts import stop_automations
from sales_assets_tests.landing_zones import MotoServer, aws_environment

REPO_ROOT = Path(__file__).resolve().parents[2]
INPROCESS_INSTANCE_YAML = REPO_ROOT / "deploy" / "dagster.yaml"
RESULTS = REPO_ROOT / "benchmarks" / "results"
RUN_START, RUN_SUCCESS, RUN_FAILURE, STEP_START, STEP_SUCCESS, STEP_FAILURE = (
    t.value
    for t in (
        DagsterEventType.RUN_START,
        DagsterEventType.RUN_SUCCESS,
        DagsterEventType.RUN_FAILURE,
        DagsterEventType.STEP_START,
        DagsterEventType.STEP_SUCCESS,
        DagsterEventType.STEP_FAILURE,
    )
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rows-per-day", type=int, default=10_000)
    parser.add_argument("--days-per-run", type=int, default=5)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2], help="0: in-process")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="celery_cost_"))
    load_before = round(os.getloadavg()[0], 1)
    days = [(date(2024, 1, 1) + timedelta(days=i)).isoformat() for i in range(args.days)]
    rows = []
    with ExitStack() as stack:
        moto = MotoServer(work)
        stack.callback(moto.stop)
        os.environ.update(aws_environment(moto.endpoint))
        master = moto.new_bucket()
        generate(master, days[0], args.days, args.rows_per_day)
        redis = RedisServer(work / "redis")
        stack.callback(redis.stop)
        for workers in args.workers:
            label = "in-process" if workers == 0 else f"celery, {workers} worker(s)"
            print(f"--- {label} ---", flush=True)
            figures = run_variant(work / f"w{workers}", workers, days, master, moto, redis, args)
            rows.append({"variant": label, **figures})
            print(json.dumps(rows[-1]), flush=True)
    print(tabulate(rows, headers="keys", tablefmt="github"))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"celery_cost_{int(time.time())}.json"
    out.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    print(f"\nload average (1 min) before: {load_before}; written to {out}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


def generate(bucket: str, start: str, days: int, rows: int) -> None:
    subprocess.run(
        [str(SALES_ASSETS), "generate", "--start", start, "--days", str(days)]
        + ["--rows-per-day", str(rows), "--out", f"s3://{bucket}/landing", "--quiet"],
        check=True,
    )


def run_variant(tmp: Path, workers: int, days, master, moto, redis, args) -> dict:
    tmp.mkdir(parents=True)
    with ExitStack() as stack:
        instance_db = stack.enter_context(postgres_database("sales_bench_instance"))
        warehouse_db = stack.enter_context(postgres_database("sales_bench_wh"))
        db = instance_db["postgres"]["postgres_db"]
        bucket = moto.new_bucket()  # empty until the landing sensor is stopped
        env = {
            **aws_environment(moto.endpoint),
            "SALES_WAREHOUSE": f"postgresql://{POSTGRES['username']}@{POSTGRES['hostname']}:"
            f"{POSTGRES['port']}/{warehouse_db['postgres']['postgres_db']['db_name']}",
            "SALES_LANDING_DIR": f"s3://{bucket}/landing",
            "SALES_START_DATE": days[0],
            "SALES_BACKFILL_DAYS_PER_RUN": str(args.days_per_run),
            "SALES_SCHEDULE_CRON": "0 0 1 1 *",
            "DAGSTER_PG_HOST": POSTGRES["hostname"],
            "DAGSTER_PG_PORT": str(POSTGRES["port"]),
            "DAGSTER_PG_USER": POSTGRES["username"],
            "DAGSTER_PG_PASSWORD": POSTGRES["password"],
            "DAGSTER_PG_DB": db["db_name"],
        }
        yaml_path = INPROCESS_INSTANCE_YAML
        if workers:
            env.update(SALES_EXECUTOR="celery", SALES_CELERY_BROKER=redis.url)
            yaml_path = CELERY_INSTANCE_YAML
            for n in range(workers):
                worker = Worker(tmp / f"worker{n}", f"bench{n}", env, yaml_path.read_text())
                stack.callback(worker.stop)
                worker.wait_ready()
        home = tmp / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text(yaml_path.read_text())
        dev = DagsterDev(home, {**env, "SALES_REPORTS_DIR": str(tmp / "reports")})
        stack.callback(dev.stop)
        dev.start()
        stop_automations(dev)
        _copy_into(moto, master, bucket)
        started = time.monotonic()
        backfill_id = dev.launch_backfill(days)
        backfill = dev.wait_backfill(backfill_id, timeout=4 * 3600, interval=2.0)
        wall = time.monotonic() - started
        (tmp / "reader").mkdir()
        (tmp / "reader" / "dagster.yaml").write_text(instance_yaml(None, storage=instance_db))
        with DagsterInstance.from_config(str(tmp / "reader")) as instance:
            timings = run_timings(instance, backfill_id)
    return {
        "status": backfill["status"],
        "days": len(days),
        "rows/day": args.rows_per_day,
        "wall s": round(wall, 1),
        "s/day": round(wall / len(days), 2),
        **timings,
        "load avg (1 min)": round(os.getloadavg()[0], 1),
    }


def _copy_into(moto: MotoServer, source: str, target: str) -> None:
    client = moto.client()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=source):
        for item in page.get("Contents", []):
            client.copy_object(
                Bucket=target, Key=item["Key"], CopySource={"Bucket": source, "Key": item["Key"]}
            )


def run_timings(instance: DagsterInstance, backfill_id: str) -> dict:
    """Medians over the backfill's runs (seconds)."""
    runs = instance.get_runs(filters=RunsFilter(tags={"dagster/backfill": backfill_id}))
    found = {"run": [], "step": [], "dispatch": [], "worker setup": [], "return": []}
    for run in runs:
        at = {}
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is None:
                continue
            message = entry.message or ""
            if event.event_type == DagsterEventType.ENGINE_EVENT:
                key = "sent" if "Submitting celery task" in message else None
                key = "in worker" if "in celery worker" in message else key
            else:
                key = event.event_type.value
            if key and key not in at:  # the first of each (a redelivered step starts twice)
                at[key] = entry.timestamp
        start, step = at[RUN_START], at[STEP_START]
        end = at.get(RUN_SUCCESS) or at[RUN_FAILURE]
        step_end = at.get(STEP_SUCCESS) or at[STEP_FAILURE]
        found["run"].append(end - start)
        found["step"].append(step_end - step)
        if "in worker" in at:
            found["dispatch"].append(at["in worker"] - at["sent"])
            found["worker setup"].append(step - at["in worker"])
        else:
            found["worker setup"].append(step - start)
        found["return"].append(end - step_end)
    medians = {f"{k} s": round(statistics.median(v), 2) if v else "-" for k, v in found.items()}
    # The first step sent to an idle worker waits for nobody: the broker's own latency.
    medians["dispatch min s"] = round(min(found["dispatch"]), 2) if found["dispatch"] else "-"
    records = instance.get_run_records(RunsFilter(tags={"dagster/backfill": backfill_id}))
    span = max(r.end_time for r in records) - min(r.start_time for r in records)
    return {"runs": len(runs), "runs span s": round(span, 1), **medians}


if __name__ == "__main__":
    sys.exit(main())
