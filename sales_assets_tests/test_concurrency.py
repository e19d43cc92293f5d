"""Concurrency: runs that share one DuckDB file wait for each other instead of failing, and
say so while they wait.

DuckDB lets one process write a file at a time, and a process holding it open (even
read-only) keeps writers out. Every warehouse connection of the pipeline waits with
exponential backoff while the file is locked, logging who holds it every few seconds, up to
SALES_LOCK_TIMEOUT_SECONDS, then fails with a message naming the file and the process
holding it; a run that waited records the seconds waited on its materializations.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance

from .helpers import (
    clean_env,
    hold_warehouse,
    log_messages,
    materialization,
    materialize_command,
)

REPO = Path(__file__).resolve().parent.parent
ROWS = 1_000
WAITING = "waiting for warehouse"


@pytest.fixture
def env(tmp_path) -> dict:
    env = clean_env(
        tmp_path / "dagster_home",
        SALES_WAREHOUSE=str(tmp_path / "wh" / "warehouse.duckdb"),
        SALES_SYNTHETIC_ROWS=str(ROWS),
        SALES_REPORTS_DIR=str(tmp_path / "reports"),
    )
    # Create the instance's SQLite storage once, as a deployment does: several processes
    # creating a fresh DAGSTER_HOME at the same moment race on its schema migration.
    with DagsterInstance.from_config(env["DAGSTER_HOME"]):
        pass
    return env


def materialize(env: dict, day: str) -> subprocess.Popen:
    return subprocess.Popen(
        materialize_command(day),
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    try:
        output = process.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        process.kill()
        output = process.communicate()[0]
        pytest.fail("run did not finish in time:\n" + output[-3000:])
    return process.returncode, output


def finished_at(output: str) -> float:
    """When the run logged RUN_SUCCESS (its log lines start with a second-resolution time)."""
    line = next(line for line in output.splitlines() if "RUN_SUCCESS" in line)
    return datetime.strptime(line[:25], "%Y-%m-%d %H:%M:%S %z").timestamp()


def day_is_whole(database: str, day: str) -> None:
    """Every raw row of the day is in cleaned or rejected, and metrics add up to cleaned."""
    with duckdb.connect(database, read_only=True) as connection:
        one = lambda sql: connection.execute(sql, [day]).fetchone()[0]  # noqa: E731
        raw = one("SELECT count(*) FROM sales.raw_sales WHERE partition_date = ?")
        cleaned = one("SELECT count(*) FROM sales.cleaned_sales WHERE order_date = ?")
        rejected = one("SELECT count(*) FROM sales.rejected_sales WHERE partition_date = ?")
        orders = one("SELECT sum(orders) FROM sales.sales_metrics WHERE order_date = ?")
    assert (raw, cleaned + rejected, orders) == (ROWS, ROWS, cleaned), day


@pytest.mark.slow
def test_four_days_at_once_against_one_file(env):
    days = ["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04"]
    runs = {day: materialize(env, day) for day in days}
    for day, process in runs.items():
        code, output = finish(process)
        assert code == 0, f"{day}:\n{output[-3000:]}"
    for day in days:
        day_is_whole(env["SALES_WAREHOUSE"], day)


@pytest.mark.slow
def test_a_run_waits_while_another_process_holds_the_file(env, tmp_path):
    """One file held read-only, another read-write, for 12 s each while a day runs on it: the
    runs wait for the file instead of failing, and write the day whole once it is let go."""
    envs = {
        mode: {**env, "SALES_WAREHOUSE": str(tmp_path / mode / "warehouse.duckdb")}
        for mode in ("ro", "rw")
    }
    for mode_env in envs.values():  # an (empty) warehouse file for the holders to open
        Path(mode_env["SALES_WAREHOUSE"]).parent.mkdir()
        duckdb.connect(mode_env["SALES_WAREHOUSE"]).close()
    holders = {mode: hold_warehouse(envs[mode]["SALES_WAREHOUSE"], mode, 12) for mode in envs}
    runs = {mode: materialize(envs[mode], "2024-03-02") for mode in envs}
    for mode in envs:
        code, output = finish(runs[mode])
        released = float(holders[mode].communicate(timeout=60)[0].split()[-1])
        assert code == 0, f"{mode}:\n{output[-3000:]}"
        # The run could only write once the holder let go.
        assert finished_at(output) >= int(released), mode
        day_is_whole(envs[mode]["SALES_WAREHOUSE"], "2024-03-02")


def release_when_waiting(instance, release: Path, at_most: float) -> threading.Thread:
    """Touch `release` once the newest run of `instance` logs that it waits for the warehouse
    (or after `at_most` seconds): the holder lets go only once the wait was said out loud."""

    def watch():
        deadline = time.monotonic() + at_most
        while time.monotonic() < deadline:
            runs = instance.get_runs(limit=1)
            if runs and any(WAITING in line for line in log_messages(instance, runs[0].run_id)):
                break
            time.sleep(0.2)
        release.touch()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("mode", ["ro", "rw"])  # an analyst's notebook, another writer
def test_a_run_waiting_for_the_warehouse_says_who_holds_it_and_records_the_wait(pipeline, mode):
    pipeline.configure(synthetic_rows=200, lock_timeout_seconds=90)
    assert pipeline.run("2024-03-01").success  # a file for the holder to open
    release = pipeline.root / "release"
    holder = hold_warehouse(pipeline.settings.warehouse, mode, 90, release)
    watcher = release_when_waiting(pipeline.instance, release, at_most=30)
    try:
        result = pipeline.run("2024-03-02")
    finally:
        release.touch()
        watcher.join(timeout=30)
        holder.communicate(timeout=60)
    assert result.success

    said = [line for line in log_messages(pipeline.instance, result.run_id) if WAITING in line]
    assert said, f"the run waited for the {mode} holder without saying so in its log"
    assert said[0].startswith(f"{WAITING} {pipeline.database}: locked by ")
    assert f"(PID {holder.pid})" in said[0] and "SALES_LOCK_TIMEOUT_SECONDS" in said[0]
    for table in ("raw_sales", "cleaned_sales", "rejected_sales", "sales_metrics"):
        metadata = materialization(pipeline.instance, table, "2024-03-02").metadata
        assert metadata["lock_wait_seconds"].value > 0, table


def test_a_lock_held_past_the_timeout_fails_naming_the_holder(env):
    Path(env["SALES_WAREHOUSE"]).parent.mkdir()
    holder = hold_warehouse(env["SALES_WAREHOUSE"], "rw", 120)
    try:
        code, output = finish(materialize({**env, "SALES_LOCK_TIMEOUT_SECONDS": "1"}, "2024-03-01"))
    finally:
        holder.kill()
        holder.wait()
    assert code != 0
    assert f"warehouse {env['SALES_WAREHOUSE']} is locked by another process: " in output
    assert f"(PID {holder.pid}); waited 1s (SALES_LOCK_TIMEOUT_SECONDS)" in output
    with duckdb.connect(env["SALES_WAREHOUSE"], read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM duckdb_tables()").fetchone()[0] == 0


def test_the_readme_snapshot_recipe_copies_everything_and_releases_the_lock(tmp_path):
    """The README's way to query without blocking the load, run as written (paths swapped)."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### Query without blocking the nightly load") :]
    recipe = section[section.index("```python") + len("```python") :]
    recipe = recipe[: recipe.index("```")]
    warehouse, snapshot = tmp_path / "warehouse.duckdb", tmp_path / "snapshot.duckdb"
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute(
            "CREATE SCHEMA sales; CREATE TABLE sales.raw_sales AS SELECT range AS x FROM range(1000)"
        )
    assert "'data/warehouse.duckdb'" in recipe and "'data/snapshot.duckdb'" in recipe
    exec(
        recipe.replace("data/warehouse.duckdb", str(warehouse)).replace(
            "data/snapshot.duckdb", str(snapshot)
        ),
        {},
    )

    with duckdb.connect(str(snapshot), read_only=True) as connection:
        assert connection.execute("SELECT count(*), sum(x) FROM sales.raw_sales").fetchone() == (
            1000,
            499500,
        )
        # While the analyst sits in the snapshot, a writer in another process gets the warehouse.
        writer = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import duckdb; duckdb.connect({str(warehouse)!r}).execute('CREATE TABLE t (x INT)')",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert writer.returncode == 0, writer.stderr
