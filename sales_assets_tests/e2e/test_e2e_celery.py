"""End to end with SALES_EXECUTOR=celery: every step of every run on `sales-assets worker`s.

Real parts only: a scratch `redis-server` as the broker; two workers, each started from an
empty folder with its own HOME, TMPDIR and DAGSTER_HOME (a copy of deploy/celery/dagster.yaml)
as separate machines would be; the instance and the warehouse on the local PostgreSQL
(throwaway databases); the landing zone on moto's S3 server; `dagster dev` (webserver and
daemon) launching UI backfills, SALES_BACKFILL_DAYS_PER_RUN=2 so a 7-day backfill makes 4
runs. The tables must equal an in-process load of the same days (a second warehouse), and a
worker killed with SIGKILL in the middle of a backfill must cost no day and double none.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import date, timedelta

import pandas as pd
import pytest
from dagster import DagsterEventType, DagsterInstance, RunsFilter

from sales_assets.warehouse import Warehouse

from ..landing_zones import aws_environment
from .celery_parts import CELERY_INSTANCE_YAML, SALES_ASSETS, RedisServer, Worker
from .dagster_dev import POSTGRES, DagsterDev, instance_yaml, postgres_database, wait_for
from .ui_facts import stop_automations

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1500)]

ROWS = 6000  # a step of two such days takes longer than REDELIVER_AFTER on this machine
DAYS_PER_RUN = 2
REDELIVER_AFTER = 10
FIRST = [(date(2024, 5, 1) + timedelta(days=i)).isoformat() for i in range(7)]
SECOND = [(date(2024, 5, 8) + timedelta(days=i)).isoformat() for i in range(7)]
TABLES = {  # table: (day column, ordering key)
    "raw_sales": ("partition_date", ["source_file", "source_row"]),
    "cleaned_sales": ("order_date", ["order_id"]),
    "rejected_sales": ("partition_date", ["source_file", "source_row"]),
    "sales_metrics": ("order_date", ["order_date", "product", "region"]),
}
CELERY_WORKER_EVENT = "in celery worker"


def pg_url(storage: dict) -> str:
    db = storage["postgres"]["postgres_db"]
    return f"postgresql://{POSTGRES['username']}@{POSTGRES['hostname']}:{POSTGRES['port']}/{db['db_name']}"


@pytest.fixture(scope="module")
def parts(tmp_path_factory, moto_server):
    """Broker, databases, landing bucket, two workers and dagster dev, all on 127.0.0.1."""
    tmp = tmp_path_factory.mktemp("e2e_celery")
    with ExitStack() as stack:
        aws = stack.enter_context(pytest.MonkeyPatch.context())
        for name, value in aws_environment(moto_server.endpoint).items():
            aws.setenv(name, value)  # for this process's own S3 client
        instance_db = stack.enter_context(postgres_database("sales_celery_instance"))
        warehouse_db = stack.enter_context(postgres_database("sales_celery_wh"))
        reference_db = stack.enter_context(postgres_database("sales_inprocess_wh"))
        redis = RedisServer(tmp / "redis")
        stack.callback(redis.stop)
        bucket = moto_server.new_bucket()
        env = celery_environment(moto_server, redis, bucket, warehouse_db, instance_db)
        yaml_text = CELERY_INSTANCE_YAML.read_text()
        workers = []
        for name in ("w1", "w2"):
            workers.append(
                Worker(tmp / name, name, env, yaml_text, redeliver_after=REDELIVER_AFTER)
            )
            stack.callback(workers[-1].stop)
        (tmp / "dagster_home").mkdir()
        (tmp / "dagster_home" / "dagster.yaml").write_text(yaml_text)
        dev = DagsterDev(
            tmp / "dagster_home",
            {**env, "SALES_REPORTS_DIR": str(tmp / "reports")},
            log_path=tmp / "dagster_dev.log",
        )
        stack.callback(dev.stop)
        # The test reads the instance with the same storage, written out literally.
        (tmp / "reader").mkdir()
        (tmp / "reader" / "dagster.yaml").write_text(instance_yaml(None, storage=instance_db))
        reader = stack.enter_context(DagsterInstance.from_config(str(tmp / "reader")))
        for worker in workers:
            worker.wait_ready()
        dev.start()
        # The landing sensor would load every day on its own: stopped before the data lands.
        stop_automations(dev)
        generate(env, bucket, FIRST[0], len(FIRST) + len(SECOND))
        yield {
            "tmp": tmp,
            "env": env,
            "dev": dev,
            "workers": workers,
            "instance": reader,
            "warehouse": Warehouse(
                url=env["SALES_WAREHOUSE"], schema_name="sales", lock_timeout_seconds=60
            ),
            "reference": Warehouse(
                url=pg_url(reference_db), schema_name="sales", lock_timeout_seconds=60
            ),
            "reference_url": pg_url(reference_db),
        }


def celery_environment(moto_server, redis, bucket, warehouse_db, instance_db) -> dict:
    """What every machine sets: the SALES_* settings, the AWS variables, the instance's database."""
    db = instance_db["postgres"]["postgres_db"]
    return {
        **aws_environment(moto_server.endpoint),
        "SALES_EXECUTOR": "celery",
        "SALES_CELERY_BROKER": redis.url,
        "SALES_WAREHOUSE": pg_url(warehouse_db),
        "SALES_LANDING_DIR": f"s3://{bucket}/landing",
        "SALES_START_DATE": "2024-04-01",
        "SALES_BACKFILL_DAYS_PER_RUN": str(DAYS_PER_RUN),
        "SALES_SCHEDULE_CRON": "0 0 1 1 *",  # keep the daily schedule out of this module
        "DAGSTER_PG_HOST": POSTGRES["hostname"],
        "DAGSTER_PG_PORT": str(POSTGRES["port"]),
        "DAGSTER_PG_USER": POSTGRES["username"],
        "DAGSTER_PG_PASSWORD": POSTGRES["password"],
        "DAGSTER_PG_DB": db["db_name"],
    }


def generate(env: dict, bucket: str, start: str, days: int) -> None:
    """The days' landing files in S3, written by the project's own generator."""
    subprocess.run(
        [str(SALES_ASSETS), "generate", "--start", start, "--days", str(days)]
        + ["--rows-per-day", str(ROWS), "--out", f"s3://{bucket}/landing", "--quiet"],
        env={**os.environ, **env},
        check=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def reference(parts):
    """The same 14 days loaded in-process (`sales-assets backfill`, the default executor) into a
    second warehouse, from the same landing zone."""
    home = parts["tmp"] / "reference_home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SALES_", "DAGSTER_"))}
    env.update(
        {k: v for k, v in parts["env"].items() if k.startswith(("AWS_", "SALES_"))},
        SALES_EXECUTOR="in_process",
        SALES_WAREHOUSE=parts["reference_url"],
        SALES_REPORTS_DIR=str(parts["tmp"] / "reference_reports"),
        DAGSTER_HOME=str(home),
    )
    env.pop("SALES_CELERY_BROKER")
    done = subprocess.run(
        [str(SALES_ASSETS), "backfill", FIRST[0], SECOND[-1], "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return parts["reference"]


def day_range(days: list[str]) -> tuple[date, date]:
    return date.fromisoformat(days[0]), date.fromisoformat(days[-1])


def table(warehouse: Warehouse, name: str, days: list[str]) -> pd.DataFrame:
    column, order = TABLES[name]
    frame = warehouse.query(
        f"SELECT * FROM {{schema}}.{name} WHERE {column} BETWEEN ? AND ?", day_range(days)
    )
    return frame.sort_values(order).reset_index(drop=True)


def assert_same_tables(parts, reference: Warehouse, days: list[str]) -> None:
    for name in TABLES:
        loaded, expected = table(parts["warehouse"], name, days), table(reference, name, days)
        assert len(loaded) > 0, f"{name} holds nothing for {days[0]}..{days[-1]}"
        pd.testing.assert_frame_equal(loaded, expected, check_like=True, obj=name)


def assert_each_day_once(parts, days: list[str]) -> None:
    """raw_sales holds every landing row of every day exactly once, and each raw row is in
    exactly one of cleaned_sales and rejected_sales."""
    query = parts["warehouse"].query
    first, last = day_range(days)
    per_day = query(
        "SELECT partition_date, count(*) AS n, count(DISTINCT (source_file, source_row)) AS d "
        "FROM {schema}.raw_sales WHERE partition_date BETWEEN ? AND ? GROUP BY 1",
        [first, last],
    )
    counts = {str(row.partition_date)[:10]: (row.n, row.d) for row in per_day.itertuples()}
    assert counts == {day: (ROWS, ROWS) for day in days}, counts
    split = query(
        "SELECT (SELECT count(*) FROM {schema}.cleaned_sales WHERE order_date BETWEEN ? AND ?) "
        "+ (SELECT count(*) FROM {schema}.rejected_sales WHERE partition_date BETWEEN ? AND ?) AS n",
        [first, last, first, last],
    )
    assert int(split["n"].iloc[0]) == ROWS * len(days)


def backfill_runs(instance: DagsterInstance, backfill_id: str):
    return instance.get_runs(filters=RunsFilter(tags={"dagster/backfill": backfill_id}))


def executions(instance: DagsterInstance, run_id: str) -> dict:
    """Who did what in a run: the orchestrator's pid, and per step start its pid and worker."""
    found = {"orchestrator": None, "starts": [], "workers": [], "successes": []}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.RUN_START:
            found["orchestrator"] = event.pid
        elif event.event_type == DagsterEventType.STEP_START:
            found["starts"].append((event.pid, entry.timestamp))
        elif event.event_type == DagsterEventType.STEP_SUCCESS:
            found["successes"].append((event.pid, entry.timestamp))
        elif event.event_type == DagsterEventType.ENGINE_EVENT and CELERY_WORKER_EVENT in (
            entry.message or ""
        ):
            worker = event.engine_event_data.metadata["Celery worker"].value
            found["workers"].append((worker.split("@")[0], entry.timestamp))
    return found


def test_backfill_runs_every_step_on_the_workers(parts, reference):
    dev, instance, workers = parts["dev"], parts["instance"], parts["workers"]
    started = time.monotonic()
    backfill_id = dev.launch_backfill(FIRST)
    backfill = dev.wait_backfill(backfill_id, timeout=900)
    print(f"\n7-day backfill on 2 workers: {time.monotonic() - started:.0f} s")
    assert backfill["status"] == "COMPLETED_SUCCESS", backfill

    runs = backfill_runs(instance, backfill_id)
    assert len(runs) == -(-len(FIRST) // DAYS_PER_RUN), [r.tags for r in runs]
    assert {r.status.value for r in runs} == {"SUCCESS"}
    pids = {worker.name: worker.pids() for worker in workers}
    used, seconds = set(), []
    for run in runs:
        found = executions(instance, run.run_id)
        seconds += [
            end - start for (_, start), (_, end) in zip(found["starts"], found["successes"])
        ]
        # One execution per step: a step longer than REDELIVER_AFTER was not handed out twice.
        assert len(found["starts"]) == 1 and len(found["workers"]) == 1, (run.run_id, found)
        [(pid, _)], [(name, _)] = found["starts"], found["workers"]
        assert pid in pids[name], f"step of run {run.run_id} ran in pid {pid}, not in {name}"
        assert pid != found["orchestrator"], "the step ran in the run's own process"
        used.add(name)
    assert used == {"w1", "w2"}, f"only {used} did work"
    print(f"steps took {', '.join(f'{s:.0f}' for s in sorted(seconds))} s")
    assert_each_day_once(parts, FIRST)
    assert_same_tables(parts, reference, FIRST)


def test_a_worker_killed_mid_backfill_loses_no_day(parts, reference):
    dev, instance, workers = parts["dev"], parts["instance"], parts["workers"]
    backfill_id = dev.launch_backfill(SECOND)
    victim, run_id, into_step = wait_for(
        "a worker to be half-way through a step (one day published)",
        lambda: half_way(instance, backfill_id, workers),
        timeout=600,
        interval=0.5,
    )
    victim.kill()
    killed_at = time.time()
    survivor = next(w for w in workers if w is not victim)
    backfill = dev.wait_backfill(backfill_id, timeout=900)
    assert backfill["status"] == "COMPLETED_SUCCESS", backfill
    assert {r.status.value for r in backfill_runs(instance, backfill_id)} == {"SUCCESS"}

    found = executions(instance, run_id)
    names = [name for name, _ in found["workers"]]
    assert names == [victim.name, survivor.name], found
    [(pid, succeeded_at)] = found["successes"]
    assert pid in survivor.pids()
    redelivered_at = found["workers"][1][1]
    print(
        f"\nkilled {victim.name} {into_step:.1f} s into its step of run {run_id}; "
        f"{survivor.name} took the step {redelivered_at - killed_at:.1f} s after the kill and "
        f"finished it {succeeded_at - redelivered_at:.1f} s later"
    )
    assert_each_day_once(parts, SECOND)
    assert_same_tables(parts, reference, SECOND)


def half_way(instance: DagsterInstance, backfill_id: str, workers: list[Worker]):
    """(worker, run id, seconds into the step) once a worker's step has published a day and
    not yet ended; None before."""
    for run in backfill_runs(instance, backfill_id):
        found = executions(instance, run.run_id)
        if len(found["starts"]) != 1 or found["successes"]:
            continue
        materialized = instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
        if not materialized:
            continue
        [(name, _)], [(_, step_started)] = found["workers"], found["starts"]
        worker = next(w for w in workers if w.name == name)
        return worker, run.run_id, time.time() - step_started
    return None


def test_cli_path_sends_the_steps_to_the_workers(parts, reference):
    """What `sales-assets backfill` calls for each run (workers.execute_run): with celery, the
    process orchestrates and the step runs on the surviving worker."""
    home = parts["tmp"] / "cli_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(CELERY_INSTANCE_YAML.read_text())
    script = (
        "import sys\n"
        "from dagster import DagsterInstance\n"
        "from sales_assets.workers import daily_sales_job, execute_run\n"
        "tags = {'dagster/asset_partition_range_start': sys.argv[1],\n"
        "        'dagster/asset_partition_range_end': sys.argv[2]}\n"
        "with DagsterInstance.get() as instance:\n"
        "    result = execute_run(daily_sales_job(), instance, tags, {})\n"
        "print(result.run_id, result.success)\n"
    )
    env = {**os.environ, **parts["env"], "DAGSTER_HOME": str(home)}
    env["SALES_REPORTS_DIR"] = str(parts["tmp"] / "cli_reports")
    done = subprocess.run(
        [sys.executable, "-c", script, FIRST[0], FIRST[1]],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run_id, success = done.stdout.split()[-2:]
    assert success == "True", done.stderr[-3000:]
    found = executions(parts["instance"], run_id)
    [(pid, _)] = found["starts"]
    alive = [w for w in parts["workers"] if w.process.poll() is None]
    assert any(pid in w.pids() for w in alive), f"step pid {pid} is no worker's"
    assert found["orchestrator"] != pid
    assert_each_day_once(parts, FIRST)
    assert_same_tables(parts, reference, FIRST)
