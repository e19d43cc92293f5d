"""Crash safety: a run killed with SIGKILL while writing leaves each table's day whole.

Each table must hold either all of the day's previous rows or all of its new rows, never a
mix or nothing, and the next run must open the file (replaying or discarding DuckDB's WAL)
and succeed. Two kinds of kill:
- deterministic: a subprocess whose IO manager kills itself inside the write transaction,
  right after the delete of the day's slice or right after the insert, before COMMIT;
- realistic: `dagster asset materialize` on a large landing day, killed as the log shows each
  table's write starting.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest

from sales_assets.sources.synthetic import generate_orders

REPO = Path(__file__).resolve().parent.parent
DAY = "2024-03-01"
TABLES = {
    "raw_sales": "partition_date",
    "cleaned_sales": "order_date",
    "rejected_sales": "partition_date",
    "sales_metrics": "order_date",
}
WRITE_ORDER = list(TABLES)  # the order the run writes them in


def fingerprints(database: Path) -> dict[str, tuple]:
    """Each table's rows for DAY: count and an order-independent hash of every row."""
    with duckdb.connect(str(database), read_only=True) as connection:
        return {
            table: tuple(
                connection.execute(
                    f"SELECT count(*), sum(hash(t)::HUGEINT) FROM sales.{table} t WHERE {column} = ?",
                    [DAY],
                ).fetchone()
            )
            for table, column in TABLES.items()
        }


# -- deterministic: SIGKILL inside the IO manager's transaction ------------------------------

KILLER = textwrap.dedent(
    """
    import dataclasses, os, signal, sys
    from pathlib import Path
    from dagster import DagsterInstance, materialize
    from sales_assets.warehouse import duckdb as warehouse, io_manager
    from sales_assets.assets import clean_sales, raw_sales, sales_metrics
    from sales_assets.definitions import build_resources
    from sales_assets.settings import SETTINGS

    table, moment, database, rows = sys.argv[1:5]
    insert = io_manager.GrowingPandasTypeHandler.handle_output

    def handle_output(self, context, table_slice, obj, connection):
        # DbIOManager calls this after delete_table_slice, on the same connection.
        if table_slice.table == table and moment == "after_delete":
            os.kill(os.getpid(), signal.SIGKILL)
        result = insert(self, context, table_slice, obj, connection)
        if table_slice.table == table and moment == "before_commit":
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    def run(connection, sql, params=()):
        # After the target table's COMMIT, before the connection closes (and checkpoints):
        # the new rows live only in the WAL, which the next open must replay.
        result = execute(connection, sql, params)
        if sql == "COMMIT" and moment == "after_commit" and target_written:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    def handle_output_then_flag(self, context, table_slice, obj, connection):
        global target_written
        result = handle_output(self, context, table_slice, obj, connection)
        target_written = table_slice.table == table
        return result

    target_written = False
    execute = warehouse.run
    warehouse.run = run
    io_manager.GrowingPandasTypeHandler.handle_output = handle_output_then_flag
    settings = dataclasses.replace(SETTINGS, warehouse=Path(database), landing_dir=None, synthetic_rows=int(rows))
    materialize([raw_sales, clean_sales, sales_metrics], partition_key=sys.argv[5],
                resources=build_resources(settings), instance=DagsterInstance.ephemeral())
    """
)


@pytest.mark.parametrize(
    ("table", "moment"),
    [
        ("raw_sales", "after_delete"),
        ("rejected_sales", "before_commit"),
        ("sales_metrics", "before_commit"),
        ("cleaned_sales", "after_commit"),
    ],
)
def test_sigkill_inside_the_write_transaction_keeps_the_previous_rows(pipeline, table, moment):
    pipeline.configure(synthetic_rows=2000)
    assert pipeline.run(DAY).success
    old = fingerprints(pipeline.settings.warehouse)

    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            KILLER,
            table,
            moment,
            str(pipeline.settings.warehouse),
            "3000",
            DAY,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]

    wal = pipeline.settings.warehouse.with_name(pipeline.settings.warehouse.name + ".wal")
    if moment == "after_commit":
        assert wal.exists() and wal.stat().st_size > 0  # the commit is only in the WAL
    after = fingerprints(pipeline.settings.warehouse)  # a read-only open replays it
    done = WRITE_ORDER[
        : WRITE_ORDER.index(table) + (moment == "after_commit")
    ]  # committed before the kill
    assert {t: after[t] for t in WRITE_ORDER if t not in done} == {
        t: old[t] for t in WRITE_ORDER if t not in done
    }
    assert all(after[t] != old[t] for t in done)  # the earlier tables hold the new rows whole
    if "raw_sales" in done:
        assert after["raw_sales"][0] == 3000

    assert (
        pipeline.configure(synthetic_rows=3000).run(DAY).success
    )  # a rerun opens the file and succeeds
    new = fingerprints(pipeline.settings.warehouse)
    assert new["raw_sales"][0] == 3000
    assert all(after[t] == new[t] for t in done)


def test_a_failing_insert_rolls_back_the_delete(pipeline, monkeypatch):
    """The same transaction, without a kill: an insert that fails after the delete undoes it."""
    from sales_assets.warehouse import io_manager

    pipeline.configure(synthetic_rows=2000)
    assert pipeline.run(DAY).success
    old = fingerprints(pipeline.settings.warehouse)
    insert = io_manager.GrowingPandasTypeHandler.handle_output

    def failing(self, context, table_slice, obj, connection):
        insert(self, context, table_slice, obj, connection)
        if table_slice.table == "cleaned_sales":
            raise OSError("disk full (simulated) after the insert")

    monkeypatch.setattr(io_manager.GrowingPandasTypeHandler, "handle_output", failing)
    result = pipeline.configure(synthetic_rows=3000).run(DAY)
    assert not result.success
    after = fingerprints(pipeline.settings.warehouse)
    assert after["raw_sales"][0] == 3000  # written before the failure
    assert {t: after[t] for t in ("cleaned_sales", "rejected_sales", "sales_metrics")} == {
        t: old[t] for t in ("cleaned_sales", "rejected_sales", "sales_metrics")
    }


# -- realistic: the CLI on a large day, killed while writing ---------------------------------

OLD_ROWS, NEW_ROWS = 300_000, 320_000
# (log line that announces a table's write, seconds to wait after it)
KILL_POINTS = [
    ('raw_sales - STEP_OUTPUT - Yielded output "result"', 0.0),
    ('Yielded output "cleaned_sales"', 0.0),
    ('Yielded output "rejected_sales"', 0.05),
    ('sales_metrics - STEP_OUTPUT - Yielded output "result"', 0.0),
]


def _landing_day(landing: Path, rows: int, seed: int) -> None:
    folder = landing / DAY
    folder.mkdir(parents=True, exist_ok=True)
    orders = generate_orders(date.fromisoformat(DAY), rows, seed=seed)
    orders.to_parquet(folder / "_orders.parquet.partial", index=False)
    (folder / "_orders.parquet.partial").replace(folder / "orders.parquet")


def _cli(env: dict) -> subprocess.Popen:
    dagster = Path(sys.executable).with_name("dagster")
    return subprocess.Popen(
        [
            str(dagster),
            "asset",
            "materialize",
            "-m",
            "sales_assets.definitions",
            "--select",
            "*",
            "--partition",
            DAY,
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _kill_when(
    process: subprocess.Popen, marker: str, delay: float, timeout: float = 180.0
) -> list[str]:
    """SIGKILL the run `delay` s after `marker` shows in its log; return the log read so far."""
    lines = []
    watchdog = threading.Timer(
        timeout, os.killpg, (process.pid, signal.SIGKILL)
    )  # bounds a silent hang
    watchdog.start()
    try:
        for line in process.stdout:  # the run logs every event as it happens (PYTHONUNBUFFERED)
            lines.append(line)
            if marker in line:
                time.sleep(delay)
                os.killpg(process.pid, signal.SIGKILL)
                break
        else:
            pytest.fail("the run ended before the kill point:\n" + "".join(lines[-40:]))
    finally:
        watchdog.cancel()
    process.wait(timeout=30)
    process.stdout.close()
    return lines


def test_cli_run_killed_while_writing_never_leaves_a_mixed_day(tmp_path):
    landing, database, home = (
        tmp_path / "landing",
        tmp_path / "wh" / "warehouse.duckdb",
        tmp_path / "dagster_home",
    )
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "SALES_LANDING_DIR": str(landing),
        "SALES_WAREHOUSE": str(database),
        "PYTHONUNBUFFERED": "1",
    }

    _landing_day(landing, OLD_ROWS, seed=1)
    first = _cli(env)
    output = first.communicate(timeout=300)[0]
    assert first.returncode == 0, output[-3000:]
    old = fingerprints(database)
    assert old["raw_sales"][0] == OLD_ROWS

    _landing_day(landing, NEW_ROWS, seed=2)
    observed = []
    for marker, delay in KILL_POINTS:
        _kill_when(_cli(env), marker, delay)
        wal = database.with_name(database.name + ".wal").exists()
        state = fingerprints(database)  # a read-only open must cope with a leftover WAL
        observed.append((marker, delay, wal, state))

    rerun = _cli(env)
    output = rerun.communicate(timeout=300)[0]
    assert rerun.returncode == 0, output[-3000:]
    new = fingerprints(database)
    assert new["raw_sales"][0] == NEW_ROWS and all(new[t] != old[t] for t in TABLES)

    for marker, delay, wal, state in observed:
        for table in TABLES:
            assert state[table] in (old[table], new[table]), (
                f"{table} after a kill at {marker!r}+{delay}s (WAL left: {wal}) holds neither the old "
                f"nor the new day: {state[table]} vs old {old[table]} / new {new[table]}"
            )
    summary = [
        (m, d, w, {t: "new" if s[t] == new[t] else "old" for t in TABLES})
        for m, d, w, s in observed
    ]
    print("\n".join(map(str, summary)))
