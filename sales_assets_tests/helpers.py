"""Helpers shared by test files: landing files, what Dagster recorded, commands as users run them.

Test files import from here (or use the fixtures of `conftest.py`), never from each other.
The few Dagster test utilities without a public home are imported here, once.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
from dagster import AssetCheckKey, AssetKey, DagsterEventType, DagsterInstance

# Dagster's own test clock (no public equivalent): freezes what `get_current_datetime` returns.
from dagster._core.test_utils import freeze_time

from sales_assets.checks import DAY_CHECKS
from sales_assets.dagster_internals import PartitionKeyFilter
from sales_assets.settings import REPO_ROOT
from sales_assets.sources.synthetic import generate_orders

BIN = Path(sys.executable).parent


def materialize_day(day: str) -> list[str]:
    """`dagster asset materialize` arguments for every asset of one day, on the code location."""
    return ["asset", "materialize", "-m", "sales_assets.definitions", "--select", "*", "--partition", day]  # fmt: skip


# (asset, check) of every per-day check, in the contract's order.
DAY_CHECK_KEYS = [(check.asset, check.name) for check in DAY_CHECKS]
TABLES = ("raw_sales", "cleaned_sales", "rejected_sales", "sales_metrics")
DAY_COLUMN = {
    "raw_sales": "partition_date",
    "rejected_sales": "partition_date",
    "cleaned_sales": "order_date",
    "sales_metrics": "order_date",
}
ROW_ORDER = {
    "raw_sales": "source_file, source_row",
    "rejected_sales": "source_file, source_row",
    "cleaned_sales": "order_id",
    "sales_metrics": "product, region",
}

__all__ = ["freeze_time"]


def days(first: str, count: int) -> list[str]:
    """`count` consecutive ISO days from `first`."""
    start = date.fromisoformat(first)
    return [(start + timedelta(days=n)).isoformat() for n in range(count)]


# -- landing files -----------------------------------------------------------------------------


def rows(prefix: str, n: int, day: str = "2024-03-01", **extra) -> pd.DataFrame:
    """`n` valid v1 orders of `day` as text, ids `prefix-0..n-1`, plus `extra` columns."""
    frame = pd.DataFrame(
        {
            "order_id": [f"{prefix}-{i}" for i in range(n)],
            "order_ts": [f"{day}T{10 + i % 10:02d}:00:00Z" for i in range(n)],
            "product": ["laptop"] * n,
            "region": ["north"] * n,
            "quantity": ["2"] * n,
            "unit_price": ["10.5"] * n,
            "customer_id": [f"C{i}" for i in range(n)],
        }
    )
    return frame.assign(**extra)


def day_dir(landing: Path, day: str = "2024-03-01") -> Path:
    folder = landing / day
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write(frame: pd.DataFrame, path: Path) -> Path:
    """Write `frame` in the format its name says (.csv, .csv.gz, .parquet, .jsonl)."""
    name = path.name
    if name.endswith(".csv.gz"):
        with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
            frame.to_csv(handle, index=False)
    elif name.endswith(".csv"):
        frame.to_csv(path, index=False)
    elif name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    elif name.endswith(".jsonl"):
        frame.to_json(path, orient="records", lines=True)
    else:
        raise AssertionError(name)
    return path


def write_day(landing: Path, day: str, rows: int = 1000, dirty_rate: float = 0.015) -> Path:
    """A landing CSV for `day` from the generator: `dirty_rate` of its rows broken on purpose."""
    path = day_dir(landing, day) / "orders.csv"
    generate_orders(date.fromisoformat(day), rows, dirty_rate=dirty_rate).to_csv(path, index=False)
    return path


def write_garbage_day(landing: Path, day: str, rows: int = 1000, share: float = 0.40) -> int:
    """A landing CSV for `day` whose first `share` of rows say `quantity=abc`; returns how many."""
    orders = generate_orders(date.fromisoformat(day), rows, dirty_rate=0.0)
    garbage = round(rows * share)
    orders.loc[: garbage - 1, "quantity"] = "abc"
    orders.to_csv(day_dir(landing, day) / "orders.csv", index=False)
    return garbage


# -- what Dagster recorded ---------------------------------------------------------------------


def check_record(instance: DagsterInstance, asset: str, check: str, day: str | None):
    """The latest execution of a check for one day (None: unpartitioned), as Dagster stored it."""
    records = instance.event_log_storage.get_asset_check_execution_history(
        AssetCheckKey(AssetKey(asset), check), limit=1, partition_filter=PartitionKeyFilter(key=day)
    )
    return records[0] if records else None


def check_status(instance: DagsterInstance, asset: str, check: str, day: str | None) -> str:
    """SUCCEEDED, FAILED, PLANNED, ... of the latest execution for the day; "none" if never."""
    record = check_record(instance, asset, check, day)
    return record.status.value if record else "none"


def evaluation(instance: DagsterInstance, asset: str, check: str, day: str | None):
    record = check_record(instance, asset, check, day)
    assert record is not None and record.evaluation is not None, f"no evaluation of {check}"
    assert hasattr(record.evaluation, "passed"), f"{check} for {day} was planned, never evaluated"
    return record.evaluation


def materialization(instance: DagsterInstance, asset: str, day: str):
    """The latest materialization of the asset's day, as the UI's partition panel shows it."""
    from dagster import AssetRecordsFilter

    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[day]), limit=1
    ).records
    return records[0].asset_materialization if records else None


def step_failure(result):
    """The one step failure of an in-process run: its `step_failure_data`."""
    [event] = result.get_step_failure_events()
    return event.step_failure_data


def step_failure_messages(instance: DagsterInstance, run_id: str) -> list[str]:
    """What each failed step said: the Failure's description (else the error's message)."""
    messages = []
    for record in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        data = record.dagster_event.step_failure_data
        user = data.user_failure_data
        messages.append(user.description if user and user.description else data.error.message)
    return messages


def log_messages(instance: DagsterInstance, run_id: str) -> list[str]:
    """Every user log line of the run (`context.log`), as the run's log view shows it."""
    return [r.user_message for r in instance.all_logs(run_id) if not r.is_dagster_event]


# -- the warehouse as an analyst reads it ------------------------------------------------------


def day_rows(pipeline, table: str, day: str) -> pd.DataFrame:
    """A day's rows of a table in a stable order, for comparing snapshots."""
    return pipeline.query(
        f"SELECT * FROM sales.{table} WHERE {DAY_COLUMN[table]} = ? ORDER BY {ROW_ORDER[table]}",
        [day],
    ).reset_index(drop=True)


def comparable(frame: pd.DataFrame) -> list[list]:
    return frame.astype(str).values.tolist()


def snapshot(pipeline, days_: list[str], tables=TABLES) -> dict:
    """Every row of the given days and tables, comparable across runs."""
    return {(t, d): comparable(day_rows(pipeline, t, d)) for t in tables for d in days_}


def tables_agree(pipeline, day: str) -> tuple[int, int]:
    """(cleaned rows, sum of metrics orders) of a day: equal when both come from one load."""
    cleaned = pipeline.count("cleaned_sales", day)
    orders = pipeline.query(
        "SELECT coalesce(sum(orders), 0) FROM sales.sales_metrics WHERE order_date = ?", [day]
    ).iloc[0, 0]
    return cleaned, int(orders)


# -- commands as users run them ----------------------------------------------------------------


def clean_env(home: Path, **settings: str) -> dict[str, str]:
    """The environment of a command run by a user: no SALES_*/DAGSTER_* from this shell, a
    DAGSTER_HOME (created, telemetry off), reports next to it (never in the repo's data/)
    and the given SALES_* settings."""
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SALES_", "DAGSTER_"))}
    return {
        **env,
        "DAGSTER_HOME": str(home),
        "PYTHONUNBUFFERED": "1",
        "SALES_REPORTS_DIR": str(home.parent / "reports"),
        **settings,
    }


def materialize_command(day: str, select: str = "*") -> list[str]:
    """`dagster asset materialize -m sales_assets.definitions --select S --partition D`."""
    return [
        str(BIN / "dagster"),
        *("asset", "materialize", "-m", "sales_assets.definitions"),
        *("--select", select, "--partition", day),
    ]


def run_command(command: list[str], env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout
    )


HOLDER = """
import duckdb, os, sys, time
database, read_only, seconds, release = sys.argv[1], sys.argv[2] == "ro", float(sys.argv[3]), sys.argv[4]
connection = duckdb.connect(database, read_only=read_only)
connection.execute("SELECT count(*) FROM duckdb_tables()").fetchall()
print("held", flush=True)
deadline = time.monotonic() + seconds
while time.monotonic() < deadline and not (release and os.path.exists(release)):
    time.sleep(0.05)
connection.close()
print("released", time.time(), flush=True)
"""


def hold_warehouse(
    database: str, mode: str, seconds: float, release: Path | None = None
) -> subprocess.Popen:
    """Another process holding the DuckDB file open (`ro` or `rw`) for `seconds`, or until the
    file `release` appears; returns once it holds it. Its last line is `released <unix time>`."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, database, mode, str(seconds), str(release or "")],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = holder.stdout.readline()
    assert line.strip() == "held", line
    return holder
