"""SALES_EXECUTOR=celery: the settings it refuses, the worker command's checks, the lease that
keeps a long step from running twice on Redis, and steps sent to a real worker (one machine:
SALES_CELERY_SINGLE_MACHINE=1, a SQLite instance and a DuckDB warehouse) whose broker is
down, whose pool process is killed mid-step, or which outlives the redelivery timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterEventType, DagsterInstance, in_process_executor

from sales_assets.lease import renew
from sales_assets.settings import Settings, SettingsError
from sales_assets.workers import celery_settings, executor_for, result_backend

from .e2e.celery_parts import SALES_ASSETS, RedisServer, Worker
from .e2e.dagster_dev import free_port, wait_for

PG = "postgresql://postgres@127.0.0.1:5432/test"
BROKER = "redis://127.0.0.1:6379/0"


def settings(tmp_path: Path, **env: str) -> Settings:
    base = {"SALES_EXECUTOR": "celery", "SALES_CELERY_BROKER": BROKER, "SALES_WAREHOUSE": PG}
    return Settings.from_env({**base, **env})


# --- settings -------------------------------------------------------------------------------


def test_celery_refuses_a_duckdb_file_naming_the_variable(tmp_path):
    with pytest.raises(SettingsError, match="SALES_WAREHOUSE=.*warehouse.duckdb.*DuckDB file"):
        settings(tmp_path, SALES_WAREHOUSE=str(tmp_path / "warehouse.duckdb"))


def test_celery_refuses_a_local_landing_folder_naming_the_variable(tmp_path):
    with pytest.raises(SettingsError, match=f"SALES_LANDING_DIR={tmp_path}.*local folder"):
        settings(tmp_path, SALES_LANDING_DIR=str(tmp_path))


def test_celery_needs_a_broker():
    with pytest.raises(SettingsError, match="SALES_CELERY_BROKER"):
        Settings.from_env({"SALES_EXECUTOR": "celery", "SALES_WAREHOUSE": PG})


def test_single_machine_allows_local_files(tmp_path):
    found = settings(
        tmp_path,
        SALES_WAREHOUSE=str(tmp_path / "warehouse.duckdb"),
        SALES_LANDING_DIR=str(tmp_path),
        SALES_CELERY_SINGLE_MACHINE="1",
    )
    assert found.executor == "celery" and found.celery_single_machine


def test_celery_with_postgres_and_s3_loads(tmp_path):
    found = settings(tmp_path, SALES_LANDING_DIR="s3://landing-bucket/sales")
    assert (found.executor, found.celery_broker) == ("celery", BROKER)


# --- executor and Celery settings -----------------------------------------------------------


def test_in_process_stays_the_default(tmp_path):
    assert executor_for(Settings.from_env({})) is in_process_executor


def test_celery_executor_acks_late_and_requeues_lost_steps(tmp_path):
    executor = executor_for(settings(tmp_path))
    assert executor.name == "celery"
    config = celery_settings(BROKER, redeliver_after=45)
    assert config["task_acks_late"] and config["task_reject_on_worker_lost"]
    assert config["worker_prefetch_multiplier"] == 1
    assert config["broker_transport_options"]["visibility_timeout"] == 45
    # RabbitMQ sees a dead consumer itself: no Redis-only option goes to it.
    amqp = celery_settings("amqp://guest@127.0.0.1:5672//")["broker_transport_options"]
    assert "visibility_timeout" not in amqp


def test_result_backend_per_broker():
    assert result_backend(BROKER) == BROKER
    assert result_backend("amqp://guest:guest@rabbit:5672//") == "rpc://"
    with pytest.raises(SettingsError, match="SALES_CELERY_BROKER=.*result backend") as error:
        result_backend("sqs://AKIA:secret@")
    assert "secret" not in str(error.value)


# --- the worker command refuses what could only fail ------------------------------------------


def worker_command(env: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SALES_", "DAGSTER_"))}
    return subprocess.run(
        [str(SALES_ASSETS), "worker"],
        env={**clean, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_worker_refuses_in_process(tmp_path):
    done = worker_command({}, tmp_path)
    assert done.returncode == 2 and "SALES_EXECUTOR=in_process" in done.stderr, done.stderr


def test_worker_refuses_a_duckdb_warehouse_naming_the_variable(tmp_path):
    env = {"SALES_EXECUTOR": "celery", "SALES_CELERY_BROKER": BROKER}
    done = worker_command({**env, "SALES_WAREHOUSE": str(tmp_path / "w.duckdb")}, tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(
        "sales-assets worker: SALES_EXECUTOR=celery with SALES_WAREHOUSE="
    )


def test_worker_needs_dagster_home(tmp_path):
    env = {"SALES_EXECUTOR": "celery", "SALES_CELERY_BROKER": BROKER, "SALES_WAREHOUSE": PG}
    done = worker_command(env, tmp_path)
    assert done.returncode == 2 and "DAGSTER_HOME is not set" in done.stderr, done.stderr


def test_worker_refuses_a_sqlite_instance_unless_single_machine(tmp_path):
    env = {"SALES_EXECUTOR": "celery", "SALES_CELERY_BROKER": BROKER, "SALES_WAREHOUSE": PG}
    done = worker_command({**env, "DAGSTER_HOME": str(tmp_path)}, tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"DAGSTER_HOME={tmp_path}" in done.stderr and "PostgreSQL" in done.stderr


# --- the lease, on a real Redis ---------------------------------------------------------------


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.mark.e2e
def test_a_renewed_lease_keeps_a_message_from_redelivery(redis_server):
    """kombu puts a held message back once its delivery is older than the visibility timeout;
    renewing it keeps it held, and it comes back only after renewals stop."""
    import redis
    from kombu import Connection, Queue

    options = {"visibility_timeout": 1}
    queue = Queue("lease-test", routing_key="lease-test")
    client = redis.Redis.from_url(redis_server.url)
    with (
        Connection(redis_server.url, transport_options=options) as holder,
        Connection(redis_server.url, transport_options=options) as other,
    ):
        holder.Producer().publish({"day": "2024-05-01"}, routing_key="lease-test", declare=[queue])
        held = queue(holder.channel()).get(no_ack=False)
        assert held is not None
        sweeper = other.channel()
        for _ in range(8):  # 4 s, four times the visibility timeout
            assert renew(client, [held.delivery_tag]) == 1
            time.sleep(0.5)
            sweeper.qos.restore_visible(num=100, interval=1)
            assert queue(sweeper).get(no_ack=True) is None, "a renewed message came back"
        time.sleep(1.5)  # no renewal: the holder counts as dead
        sweeper.qos.restore_visible(num=100, interval=1)
        back = queue(sweeper).get(no_ack=True)
        assert back is not None and back.payload == {"day": "2024-05-01"}
        assert renew(client, [held.delivery_tag]) == 0, "a restored message cannot be renewed"


# --- steps on a real worker (one machine) ---------------------------------------------------

ROWS = 200_000  # four such days in one step outlive REDELIVER_AFTER several times over
REDELIVER_AFTER = 2
DAY = "2024-03-05"
# The tests of one worker share it and its day, in file order, on one xdist worker.
ONE_MACHINE = pytest.mark.xdist_group("test_workers:one_machine")


@pytest.fixture(scope="module")
def machine(tmp_path_factory, redis_server):
    """One worker beside this process: SQLite instance and DuckDB warehouse, single machine."""
    tmp = tmp_path_factory.mktemp("one_machine")
    home = tmp / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {
        "SALES_EXECUTOR": "celery",
        "SALES_CELERY_BROKER": redis_server.url,
        "SALES_CELERY_SINGLE_MACHINE": "1",
        "SALES_WAREHOUSE": str(tmp / "warehouse.duckdb"),
        "SALES_SYNTHETIC_ROWS": str(ROWS),
        "SALES_START_DATE": "2024-03-01",
        "DAGSTER_HOME": str(home),
    }
    worker = Worker(tmp / "w1", "w1", env, None, redeliver_after=REDELIVER_AFTER)
    try:
        worker.wait_ready()
        with DagsterInstance.from_config(str(home)) as instance:
            yield {"tmp": tmp, "env": env, "worker": worker, "instance": instance}
    finally:
        worker.stop()


def run_day(machine: dict, last: str = DAY, **env: str) -> subprocess.Popen:
    """What `sales-assets backfill` does for one run of DAY..last (workers.execute_run), in a
    process of its own; prints the run id and whether it succeeded."""
    tags = {"dagster/partition": DAY}
    if last != DAY:
        tags = {
            "dagster/asset_partition_range_start": DAY,
            "dagster/asset_partition_range_end": last,
        }
    script = (
        "from dagster import DagsterInstance\n"
        "from sales_assets.workers import daily_sales_job, execute_run\n"
        f"tags = {tags!r}\n"
        "with DagsterInstance.get() as instance:\n"
        "    result = execute_run(daily_sales_job(), instance, tags, {})\n"
        "print(result.run_id, result.success)\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SALES_", "DAGSTER_"))}
    return subprocess.Popen(
        [sys.executable, "-c", script],
        env={
            **clean,
            **machine["env"],
            "SALES_REPORTS_DIR": str(machine["tmp"] / "reports"),
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen, timeout: float = 300) -> tuple[str, bool]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    run_id, success = out.split()[-2:]
    return run_id, success == "True"


def steps(instance: DagsterInstance, run_id: str) -> dict[str, list]:
    found = {"starts": [], "successes": [], "workers": []}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            found["starts"].append((event.pid, entry.timestamp))
        elif event.event_type == DagsterEventType.STEP_SUCCESS:
            found["successes"].append((event.pid, entry.timestamp))
        elif "in celery worker" in (entry.message or ""):
            found["workers"].append(entry.timestamp)
    return found


def day_rows(machine: dict) -> tuple[int, int]:
    """raw_sales rows of DAY, and distinct (source_file, source_row) among them."""
    with duckdb.connect(machine["env"]["SALES_WAREHOUSE"], read_only=True) as connection:
        return connection.execute(
            "SELECT count(*), count(DISTINCT (source_file, source_row)) FROM sales.raw_sales "
            "WHERE partition_date = ?",
            [DAY],
        ).fetchone()


@pytest.mark.e2e
@pytest.mark.slow
@ONE_MACHINE
def test_a_step_longer_than_the_redelivery_timeout_runs_once(machine):
    run_id, success = finish(run_day(machine, last="2024-03-08"))  # four days in one step
    assert success
    found = steps(machine["instance"], run_id)
    assert len(found["starts"]) == 1, f"the step ran {len(found['starts'])} times: {found}"
    [(pid, started)], [(_, ended)] = found["starts"], found["successes"]
    assert ended - started > 3 * REDELIVER_AFTER, "the step was too short to test the lease"
    assert pid in machine["worker"].pids()
    assert day_rows(machine) == (ROWS, ROWS)


@pytest.mark.e2e
@pytest.mark.slow
@ONE_MACHINE
def test_a_killed_pool_process_hands_its_step_back(machine):
    """SIGKILL the process running the step: the worker rejects the message back to the
    queue (task_reject_on_worker_lost), a fresh pool process runs the step again, the run
    succeeds and the day holds its rows once."""
    before = {r.run_id for r in machine["instance"].get_runs()}
    process = run_day(machine)

    def step_pid():
        runs = [r for r in machine["instance"].get_runs() if r.run_id not in before]
        starts = steps(machine["instance"], runs[0].run_id)["starts"] if runs else []
        return starts[0][0] if starts else None

    victim = wait_for("the step to start", step_pid, timeout=120, interval=0.2)
    os.kill(victim, signal.SIGKILL)
    run_id, success = finish(process)
    assert success
    found = steps(machine["instance"], run_id)
    pids = [pid for pid, _ in found["starts"]]
    assert len(pids) == 2 and pids[0] == victim and pids[1] != victim, pids
    assert pids[1] in machine["worker"].pids()
    assert day_rows(machine) == (ROWS, ROWS)


@pytest.mark.e2e
@pytest.mark.slow
@ONE_MACHINE
def test_a_broker_that_is_down_fails_the_run_clearly_and_keeps_the_day(machine):
    try:
        before = day_rows(machine)
    except (duckdb.IOException, duckdb.CatalogException):  # run alone: load the day first
        finish(run_day(machine, SALES_EXECUTOR="in_process"))
        before = day_rows(machine)
    assert before == (ROWS, ROWS)
    port = free_port()  # nothing listens there
    started = time.monotonic()
    run_id, success = finish(
        run_day(machine, SALES_CELERY_BROKER=f"redis://127.0.0.1:{port}/0"), timeout=120
    )
    assert not success
    assert time.monotonic() - started < 90, "the run waited instead of failing"
    text = "\n".join(describe(entry) for entry in machine["instance"].all_logs(run_id))
    assert f"127.0.0.1:{port}" in text, text[-3000:]
    # Not a step failure: the daemon's run retries (retry_on_asset_or_op_failure: false) retry it.
    run = machine["instance"].get_run_by_id(run_id)
    assert run.tags.get("dagster/failure_reason") != "STEP_FAILURE", run.tags
    assert day_rows(machine) == before


def describe(entry) -> str:
    event = entry.dagster_event
    error = getattr(getattr(event, "event_specific_data", None), "error", None)
    return f"{entry.message} {error.to_string() if error else ''}"
