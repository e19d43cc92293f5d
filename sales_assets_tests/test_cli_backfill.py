"""`sales-assets backfill START END` as a user runs it: a subprocess on a real instance and DuckDB file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from sales_assets.settings import REPO_ROOT
from sales_assets.sources.synthetic import generate_orders

CONTRACT_CHECKS = {
    "raw_sales_schema",
    "cleaned_sales_schema",
    "rows_accounted_for",
    "rejection_rate",
    "daily_volume",
    "sales_metrics_schema",
    "revenue_reconciles",
}
CLI = [sys.executable, "-m", "sales_assets.cli", "backfill"]


@pytest.fixture
def env(tmp_path) -> dict:
    """DAGSTER_HOME with the repo's dagster.yaml, and a warehouse, under tmp_path."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("SALES_", "DAGSTER_"))}
    return {
        **environment,
        "DAGSTER_HOME": str(home),
        "SALES_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
        "SALES_SYNTHETIC_ROWS": "400",
    }


def _backfill(env: dict, *days: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *days, "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )


def _rows(env: dict, table: str, column: str) -> dict[str, int]:
    with duckdb.connect(env["SALES_WAREHOUSE"], read_only=True) as connection:
        pairs = connection.execute(
            f"SELECT {column}::VARCHAR, count(*) FROM sales.{table} GROUP BY 1"
        ).fetchall()
    return dict(pairs)


def _runs(env: dict):
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        # the days' runs; the run of the completeness check after them has no day
        runs = [
            r
            for r in instance.get_runs(RunsFilter(job_name="daily_sales_job"))
            if "dagster/partition" in r.tags
        ]
        checks = {
            run.tags["dagster/partition"]: {
                (
                    e.dagster_event.event_specific_data.check_name,
                    e.dagster_event.event_specific_data.passed,
                )
                for e in instance.all_logs(
                    run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
                )
            }
            for run in runs
        }
        return {run.tags["dagster/partition"]: run.status for run in runs}, checks


def test_backfill_records_one_run_per_day_and_loads_every_day(env):
    done = _backfill(env, "2024-03-01", "2024-03-03")
    assert done.returncode == 0, done.stderr
    days = ["2024-03-01", "2024-03-02", "2024-03-03"]
    for day in days:
        assert any(line.startswith(f"| {day} | ok") for line in done.stdout.splitlines()), (
            done.stdout
        )
    assert "3 of 3 day(s) succeeded" in done.stdout

    statuses, checks = _runs(env)
    assert statuses == {day: DagsterRunStatus.SUCCESS for day in days}
    for day in days:  # every day has its own check results, all passed
        assert CONTRACT_CHECKS <= {name for name, _ in checks[day]}
        assert all(passed for name, passed in checks[day] if name in CONTRACT_CHECKS), checks[day]
    assert _rows(env, "raw_sales", "partition_date") == {day: 400 for day in days}
    assert set(_rows(env, "sales_metrics", "order_date")) == set(days)
    # completeness is evaluated once, after the days, in a run of its own that the backfill prints
    assert all("sales_metrics_complete" not in {name for name, _ in checks[day]} for day in days)
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        (run,) = [
            r
            for r in instance.get_runs(RunsFilter(job_name="daily_sales_job"))
            if "dagster/partition" not in r.tags
        ]
        (evaluation,) = instance.all_logs(
            run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
        )
    assert evaluation.dagster_event.event_specific_data.check_name == "sales_metrics_complete"
    assert (
        f"completeness (sales_metrics_complete): {evaluation.dagster_event.event_specific_data.description}"
        in done.stdout
    )


def test_a_blocked_day_fails_the_backfill_and_only_itself(env, tmp_path):
    landing = tmp_path / "landing"
    for day, dirty in [("2024-03-01", 0.01), ("2024-03-02", 0.5), ("2024-03-03", 0.01)]:
        (landing / day).mkdir(parents=True)
        generate_orders(date.fromisoformat(day), 400, dirty_rate=dirty).to_csv(
            landing / day / "orders.csv", index=False
        )
    (landing / "2024-03-04").mkdir()
    (landing / "2024-03-04" / "orders.txt").write_text("not data")

    done = _backfill({**env, "SALES_LANDING_DIR": str(landing)}, "2024-03-01", "2024-03-04")
    assert done.returncode == 1
    assert "BLOCKED 2024-03-02" in done.stderr and "rejection_rate" in done.stderr
    assert "FAILED 2024-03-04" in done.stderr and "orders.txt" in done.stderr
    assert "2 of 4 day(s) succeeded" in done.stdout

    statuses, _ = _runs(env)
    assert statuses["2024-03-01"] == statuses["2024-03-03"] == DagsterRunStatus.SUCCESS
    assert statuses["2024-03-02"] == statuses["2024-03-04"] == DagsterRunStatus.FAILURE
    assert set(_rows(env, "sales_metrics", "order_date")) == {"2024-03-01", "2024-03-03"}


@pytest.mark.parametrize(
    "days, named",
    [
        (("2023-12-31", "2024-01-02"), "2023-12-31"),  # before SALES_START_DATE
        (("2024-03-01", "2999-01-01"), "2999-01-01"),  # not a complete day yet
        (("2024-02-30", "2024-03-01"), "2024-02-30"),  # not a date
    ],
)
def test_unknown_days_are_refused_naming_the_key_and_the_range(env, days, named):
    done = _backfill(env, *days)
    assert done.returncode == 2
    assert named in done.stderr and "valid days: 2024-01-01 .." in done.stderr
    assert not Path(env["SALES_WAREHOUSE"]).exists()


def test_end_before_start_is_refused(env):
    done = _backfill(env, "2024-03-02", "2024-03-01")
    assert done.returncode == 2 and "before START" in done.stderr
