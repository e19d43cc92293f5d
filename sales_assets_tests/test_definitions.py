"""The code location as users load it: names of the contract, and the CLIs of the README."""

from __future__ import annotations

import os
import subprocess
from datetime import date
from pathlib import Path

import duckdb
import pytest
from dagster import AssetKey, DailyPartitionsDefinition, DefaultScheduleStatus

from sales_assets.definitions import defs
from sales_assets.settings import REPO_ROOT, SETTINGS
from sales_assets.sources.synthetic import synthetic_day
from sales_assets.transforms import apply_cleaning_rules

from .helpers import BIN, day_dir, materialize_day, rows, write

ASSETS = {"raw_sales", "cleaned_sales", "rejected_sales", "sales_metrics", "sales_report"}


def test_assets_and_lineage():
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == ASSETS
    parents = {k: {p.to_user_string() for p in graph.get(AssetKey(k)).parent_keys} for k in ASSETS}
    assert parents == {
        "raw_sales": set(),
        "cleaned_sales": {"raw_sales"},
        "rejected_sales": {"raw_sales"},
        "sales_metrics": {"cleaned_sales"},
        "sales_report": {"sales_metrics", "rejected_sales"},
    }
    for key in ASSETS:
        partitions = graph.get(AssetKey(key)).partitions_def
        assert isinstance(partitions, DailyPartitionsDefinition)
        assert partitions.timezone == "UTC"
        assert partitions.start.date() == SETTINGS.start_date


def test_one_step_loads_every_asset_and_can_run_a_subset():
    """The graph is one multi-asset step (a day is published in one transaction); a run may
    select any of its assets (see test_assets for what each subset publishes)."""
    graph = defs.resolve_asset_graph()
    steps = {graph.get(AssetKey(key)).assets_def for key in ASSETS}
    assert [step.node_def.name for step in steps] == ["daily_sales"]
    assert steps.pop().can_subset


def test_job_and_schedule():
    job = defs.resolve_job_def("daily_sales_job")
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == ASSETS
    assert isinstance(job.partitions_def, DailyPartitionsDefinition)
    schedule = defs.resolve_schedule_def("daily_sales_schedule")
    assert schedule.job_name == "daily_sales_job"
    assert schedule.cron_schedule == SETTINGS.schedule_cron
    assert schedule.execution_timezone == SETTINGS.timezone
    assert schedule.default_status == DefaultScheduleStatus.RUNNING


def test_resources_follow_the_settings():
    resources = defs.resources
    for name in ("io_manager", "warehouse"):
        assert resources[name].url == SETTINGS.warehouse
        assert resources[name].schema_name == "sales"
        assert resources[name].lock_timeout_seconds == SETTINGS.lock_timeout_seconds
    assert resources["source"].synthetic_rows == SETTINGS.synthetic_rows
    assert resources["source"].landing_dir == SETTINGS.landing_dir
    assert resources["quality"].max_reject_rate == SETTINGS.max_reject_rate
    assert resources["reports"].path == str(SETTINGS.reports_dir)


# -- the command lines of the README, as subprocesses (each ~3-5 s) --------------------------------


def cli(args: list[str], tmp_path: Path, **env) -> subprocess.CompletedProcess:
    """Run a console script of the venv from the repo root with a temporary home and warehouse."""
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SALES_")}
    environment.update(
        DAGSTER_HOME=str(home),
        SALES_WAREHOUSE=str(tmp_path / "warehouse.duckdb"),
        SALES_REPORTS_DIR=str(tmp_path / "reports"),
        **env,
    )
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def stored(tmp_path: Path) -> dict[str, int]:
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as connection:
        return {
            table: connection.execute(f"SELECT count(*) FROM sales.{table}").fetchone()[0]
            for table in ("raw_sales", "cleaned_sales", "rejected_sales", "sales_metrics")
        }


def expected_synthetic(day: str, rows: int) -> dict[str, int]:
    cleaned, rejected = apply_cleaning_rules(
        synthetic_day(date.fromisoformat(day), rows), date.fromisoformat(day)
    )
    metrics = cleaned.groupby(["product", "region"]).ngroups
    return {
        "raw_sales": rows,
        "cleaned_sales": len(cleaned),
        "rejected_sales": len(rejected),
        "sales_metrics": metrics,
    }


@pytest.mark.slow
def test_dagster_asset_materialize_on_the_embedded_defaults(tmp_path):
    result = cli(
        ["dagster", *materialize_day("2024-03-01")],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert stored(tmp_path) == expected_synthetic("2024-03-01", 5000)
    assert "RUN_SUCCESS" in result.stderr + result.stdout


@pytest.mark.slow
def test_dg_check_defs_and_dg_launch(tmp_path):
    check = cli(["dg", "check", "defs"], tmp_path)
    assert check.returncode == 0, check.stderr[-3000:] + check.stdout[-3000:]
    assert "All definitions loaded successfully" in check.stdout + check.stderr

    launch = cli(
        ["dg", "launch", "--assets", "*", "--partition", "2024-03-02"],
        tmp_path,
        SALES_SYNTHETIC_ROWS="300",
    )
    assert launch.returncode == 0, launch.stderr[-3000:] + launch.stdout[-3000:]
    assert stored(tmp_path) == expected_synthetic("2024-03-02", 300)


@pytest.mark.parametrize(
    ("variable", "value"), [("SALES_LANDING_DIR", "/no/such/folder")]
)  # one subprocess is enough
def test_bad_setting_reaches_the_user_of_the_cli(tmp_path, variable, value):
    result = cli(
        ["dagster", "definitions", "validate", "-m", "sales_assets.definitions"],
        tmp_path,
        **{variable: value},
    )
    assert result.returncode != 0
    assert f"{variable}='{value}'" in result.stdout + result.stderr


@pytest.mark.slow
def test_dagster_asset_materialize_on_a_landing_folder(tmp_path):
    """The README's CLI on a landing day mixing formats, schemas and dirty rows."""
    landing = tmp_path / "landing"
    folder = day_dir(landing)
    write(rows("c", 4, store=["1", "2", "3", "4"]), folder / "a.csv")
    dirty = rows("p", 4, channel=["app", "", "web", "web"], discount=["0.5", "", "1.5", "0"])
    dirty.loc[3, "order_ts"] = "2024-03-02T01:30:00+02:00"  # 2024-03-01 23:30 UTC: kept
    dirty.loc[2, "order_id"] = "c-0"  # invalid discount comes first
    write(dirty, folder / "b.parquet")
    late = rows("j", 2)
    late.loc[0, "order_id"] = "c-1"  # a later copy of c-1: duplicate
    late.loc[0, "order_ts"] = "2024-03-01T23:00:00Z"
    late.loc[1, "order_ts"] = "2024-03-01T23:30:00-02:00"  # 2024-03-02 01:30 UTC: wrong day
    write(late, folder / "c.jsonl")
    (folder / "_SUCCESS").write_text("")

    result = cli(
        ["dagster", *materialize_day("2024-03-01")],
        tmp_path,
        SALES_LANDING_DIR=str(landing),
        SALES_MAX_REJECT_RATE="0.5",
    )
    assert result.returncode == 0, result.stderr[-3000:]

    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as connection:
        cleaned = connection.execute(
            "SELECT order_id, strftime(order_ts AT TIME ZONE 'UTC', '%H:%M'), channel, discount, amount, ticket_size "
            "FROM sales.cleaned_sales ORDER BY order_id"
        ).fetchall()
        rejected = connection.execute(
            "SELECT source_file, source_row, reject_reason, reject_detail FROM sales.rejected_sales ORDER BY source_file"
        ).fetchall()
        metrics = connection.execute(
            "SELECT orders, units, revenue, avg_order_value, customers FROM sales.sales_metrics"
        ).fetchall()
        raw = connection.execute("SELECT count(*), count(store) FROM sales.raw_sales").fetchone()
    assert cleaned == [
        ("c-0", "10:00", "unknown", 0.0, 21.0, "low"),
        ("c-1", "11:00", "unknown", 0.0, 21.0, "low"),
        ("c-2", "12:00", "unknown", 0.0, 21.0, "low"),
        ("c-3", "13:00", "unknown", 0.0, 21.0, "low"),
        ("p-0", "10:00", "app", 0.5, 10.5, "low"),
        ("p-1", "11:00", "unknown", 0.0, 21.0, "low"),
        ("p-3", "23:30", "web", 0.0, 21.0, "low"),
    ]
    assert rejected == [
        ("2024-03-01/b.parquet", 3, "invalid_discount", "discount=1.5"),
        ("2024-03-01/c.jsonl", 1, "duplicate_order_id", "first kept at 2024-03-01/a.csv:2"),
        ("2024-03-01/c.jsonl", 2, "wrong_partition", "order_ts is on 2024-03-02"),
    ]
    assert metrics == [(7, 14, 136.5, 19.5, 4)]  # customers C0..C3 across files
    assert raw == (10, 4)
