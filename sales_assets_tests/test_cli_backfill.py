"""`sales-assets backfill START END` as a user runs it: a subprocess on a real instance and
DuckDB file, in runs of SALES_BACKFILL_DAYS_PER_RUN days, one line per day in its table."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from sales_assets.cli import main
from sales_assets.settings import REPO_ROOT

from .helpers import (
    DAY_CHECK_KEYS,
    check_record,
    clean_env,
    days,
    run_command,
    write_day,
    write_garbage_day,
)

CLI = [sys.executable, "-m", "sales_assets.cli", "backfill"]
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


@pytest.fixture
def env(tmp_path) -> dict:
    """DAGSTER_HOME with the repo's dagster.yaml, and a warehouse, under tmp_path."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    return clean_env(
        home, SALES_WAREHOUSE=str(tmp_path / "warehouse.duckdb"), SALES_SYNTHETIC_ROWS="200"
    )


def backfill(env: dict, *days_: str):
    return run_command([*CLI, *days_, "--quiet"], env, timeout=600)


def stored_days(env: dict, table: str, column: str) -> dict[str, int]:
    with duckdb.connect(env["SALES_WAREHOUSE"], read_only=True) as connection:
        pairs = connection.execute(
            f"SELECT {column}::VARCHAR, count(*) FROM sales.{table} GROUP BY 1"
        ).fetchall()
    return dict(pairs)


def day_lines(stdout: str) -> dict[str, list[str]]:
    """The per-day table: day -> its cells (status, raw, cleaned, rejected, ...)."""
    found = {}
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", cells[0]):
            found[cells[0]] = cells[1:]
    return found


def runs(env: dict) -> list:
    """The backfill's runs, oldest first."""
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        return list(reversed(instance.get_runs(RunsFilter(job_name="daily_sales_job"))))


@pytest.mark.slow
def test_the_backfill_loads_every_day_in_one_run_with_each_days_checks(env):
    three = days("2024-03-01", 3)
    done = backfill(env, three[0], three[-1])
    assert done.returncode == 0, done.stderr
    assert {day: cells[0] for day, cells in day_lines(done.stdout).items()} == dict.fromkeys(
        three, "ok"
    )
    assert "3 of 3 day(s) succeeded" in done.stdout

    [run] = runs(env)  # three days, SALES_BACKFILL_DAYS_PER_RUN=30 by default: one run
    assert run.status == DagsterRunStatus.SUCCESS
    assert (run.tags[RANGE_START], run.tags[RANGE_END]) == (three[0], three[-1])
    assert run.tags["sales_assets/cli_backfill"].startswith("2024-03-01..2024-03-03@")
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        for day in three:  # every day has its own check results, all passed
            for asset, check in DAY_CHECK_KEYS:
                record = check_record(instance, asset, check, day)
                assert record.run_id == run.run_id and record.evaluation.passed, (day, check)
        complete = check_record(instance, "sales_metrics", "sales_metrics_complete", None)
    assert complete.run_id == run.run_id  # once, after the run's days
    summary = f"completeness (sales_metrics_complete): {complete.evaluation.description}"
    assert summary in done.stdout
    assert stored_days(env, "raw_sales", "partition_date") == dict.fromkeys(three, 200)
    assert set(stored_days(env, "sales_metrics", "order_date")) == set(three)


@pytest.mark.slow
def test_seven_days_three_a_run_with_one_bad_day(env, tmp_path):
    landing = tmp_path / "landing"
    seven = days("2024-03-01", 7)
    bad = seven[4]
    for day in seven:
        write_day(landing, day, rows=200)
    garbage = write_garbage_day(landing, bad, rows=200)
    env = {**env, "SALES_LANDING_DIR": str(landing), "SALES_BACKFILL_DAYS_PER_RUN": "3"}

    done = backfill(env, seven[0], seven[-1])

    assert done.returncode == 1, done.stderr
    table = day_lines(done.stdout)
    assert {day: cells[0] for day, cells in table.items()} == {
        day: "blocked" if day == bad else "ok" for day in seven
    }
    assert table[bad][1] == "200" and int(table[bad][3]) >= garbage  # raw, rejected rows
    assert "6 of 7 day(s) succeeded" in done.stdout
    assert f"BLOCKED {bad}" in done.stderr and "rejection_rate" in done.stderr
    assert f"invalid_quantity {garbage} (quantity=abc x{garbage})" in done.stderr

    recorded = runs(env)
    assert [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in recorded] == [
        (seven[0], seven[2]),
        (seven[3], seven[5]),
        (seven[6], seven[6]),
    ]
    assert [r.status for r in recorded] == [
        DagsterRunStatus.SUCCESS,
        DagsterRunStatus.FAILURE,
        DagsterRunStatus.SUCCESS,
    ]
    assert set(stored_days(env, "sales_metrics", "order_date")) == set(seven) - {bad}
    assert stored_days(env, "raw_sales", "partition_date") == dict.fromkeys(seven, 200)


@pytest.mark.slow
def test_a_blocked_day_and_a_bad_file_fail_alone_with_their_message(env, tmp_path):
    landing = tmp_path / "landing"
    ok, blocked, bad_file = days("2024-03-01", 3)
    for day in (ok, blocked):
        write_day(landing, day, rows=200)
    write_garbage_day(landing, blocked, rows=200)
    (landing / bad_file).mkdir()
    (landing / bad_file / "orders.txt").write_text("not data")

    done = backfill({**env, "SALES_LANDING_DIR": str(landing)}, ok, bad_file)
    assert done.returncode == 1
    assert f"BLOCKED {blocked}" in done.stderr and "rejection_rate" in done.stderr
    assert f"FAILED {bad_file}" in done.stderr and "orders.txt" in done.stderr
    assert "1 of 3 day(s) succeeded" in done.stdout
    assert set(stored_days(env, "sales_metrics", "order_date")) == {ok}


def test_a_day_outside_the_partitions_is_refused_and_nothing_is_written(env):
    done = backfill(env, "2023-12-31", "2024-01-02")  # before SALES_START_DATE
    assert done.returncode == 2
    assert "2023-12-31" in done.stderr and "valid days: 2024-01-01 .." in done.stderr
    assert not Path(env["SALES_WAREHOUSE"]).exists()
    assert not runs(env)


@pytest.mark.parametrize(
    "days_, named",
    [
        (("2024-03-01", "2999-01-01"), "2999-01-01"),  # not a complete day yet
        (("2024-02-30", "2024-03-01"), "2024-02-30"),  # not a date
    ],
)
def test_unknown_days_are_refused_naming_the_key_and_the_range(capsys, days_, named):
    assert main(["backfill", *days_, "--quiet"]) == 2
    refused = capsys.readouterr().err
    assert named in refused and "valid days: 2024-01-01 .." in refused


def test_end_before_start_is_refused(capsys):
    assert main(["backfill", "2024-03-02", "2024-03-01", "--quiet"]) == 2
    assert "before START" in capsys.readouterr().err
