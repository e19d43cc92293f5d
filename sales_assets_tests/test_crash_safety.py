"""Crash safety: a run killed with SIGKILL while writing leaves the day whole.

A day's tables are published in ONE transaction, so after a kill every table holds either
all of the day's previous rows or all of its new rows, and all four tables the same load:
never a mix, never nothing. The next run must open the file (replaying or discarding
DuckDB's WAL) and succeed. Two kinds of kill:
- deterministic: a subprocess whose warehouse session kills itself inside the transaction,
  right after a table's delete or insert, or right after COMMIT (the rows only in the WAL);
- realistic: `dagster asset materialize` on a large landing day, killed as its log shows
  each table's write starting, and once the day is loaded.
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
from dagster import DagsterEventType

from sales_assets.sources.synthetic import generate_orders

from .helpers import DAY_COLUMN, TABLES, clean_env, materialize_command

REPO = Path(__file__).resolve().parent.parent
DAY = "2024-03-01"


def fingerprints(database: Path) -> dict[str, tuple]:
    """Each table's rows for DAY: count and an order-independent hash of every row."""
    with duckdb.connect(str(database), read_only=True) as connection:
        return {
            table: tuple(
                connection.execute(
                    f"SELECT count(*), sum(hash(t)::HUGEINT) FROM sales.{table} t "
                    f"WHERE {DAY_COLUMN[table]} = ?",
                    [DAY],
                ).fetchone()
            )
            for table in TABLES
        }


# -- deterministic: SIGKILL inside the publish transaction ------------------------------------

KILLER = textwrap.dedent(
    """
    import dataclasses, os, signal, sys
    from pathlib import Path
    from dagster import DagsterInstance, materialize
    from sales_assets.assets import daily_sales
    from sales_assets.definitions import build_resources
    from sales_assets.settings import SETTINGS
    from sales_assets.warehouse import duckdb as warehouse

    table, moment, database, rows, day, reports = sys.argv[1:7]
    session = warehouse.DuckDBSession
    delete, insert, execute = session.delete, session.insert, warehouse.run

    def kill():
        os.kill(os.getpid(), signal.SIGKILL)

    def deleting(self, schema, name, *args):
        delete(self, schema, name, *args)
        if (name, moment) == (table, "after_delete"):
            kill()

    def inserting(self, schema, name, data):
        insert(self, schema, name, data)
        if (name, moment) == (table, "after_insert"):
            kill()

    def run(connection, sql, params=()):
        # After COMMIT, before the connection closes (and checkpoints): the new rows live
        # only in the WAL, which the next open must replay.
        result = execute(connection, sql, params)
        if sql == "COMMIT" and moment == "after_commit":
            kill()
        return result

    session.delete, session.insert, warehouse.run = deleting, inserting, run
    settings = dataclasses.replace(
        SETTINGS, warehouse=database, landing_dir=None, synthetic_rows=int(rows),
        reports_dir=Path(reports),
    )
    materialize([daily_sales], partition_key=day, resources=build_resources(settings),
                instance=DagsterInstance.ephemeral())
    """
)


@pytest.mark.parametrize(
    ("table", "moment"),
    [
        ("raw_sales", "after_delete"),
        ("rejected_sales", "after_insert"),
        ("sales_metrics", "after_insert"),  # the last statement before COMMIT
        ("sales_metrics", "after_commit"),
    ],
)
def test_sigkill_inside_the_publish_transaction_keeps_the_day_whole(pipeline, table, moment):
    pipeline.configure(synthetic_rows=1000)
    assert pipeline.run(DAY).success
    old = fingerprints(pipeline.database)

    command = [sys.executable, "-c", KILLER, table, moment, str(pipeline.database), "1500", DAY]
    killed = subprocess.run(
        [*command, str(pipeline.root / "reports")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]

    wal = pipeline.database.with_name(pipeline.database.name + ".wal")
    committed = moment == "after_commit"
    if committed:
        assert wal.exists() and wal.stat().st_size > 0  # the commit is only in the WAL
    after = fingerprints(pipeline.database)  # a read-only open replays it
    if committed:  # every table holds the new load whole
        assert all(after[t] != old[t] for t in TABLES) and after["raw_sales"][0] == 1500
    else:  # every table holds the previous load whole
        assert after == old

    assert pipeline.configure(synthetic_rows=1500).run(DAY).success  # a rerun opens the file
    new = fingerprints(pipeline.database)
    assert new["raw_sales"][0] == 1500
    if committed:
        assert new == after


@pytest.mark.slow
def test_a_failing_insert_rolls_back_every_table_of_the_day(pipeline, monkeypatch):
    """The same transaction, without a kill: an insert that fails undoes the day's deletes and
    inserts in every table, those written before it included. The step retries it (3 times,
    with backoff: a full disk may clear), each attempt rolled back whole."""
    from sales_assets.warehouse.duckdb import DuckDBSession

    pipeline.configure(synthetic_rows=1000)
    assert pipeline.run(DAY).success
    old = fingerprints(pipeline.database)
    insert = DuckDBSession.insert

    def failing(self, schema, table, data):
        insert(self, schema, table, data)
        if table == "cleaned_sales":
            raise OSError("disk full (simulated) after the insert")

    monkeypatch.setattr(DuckDBSession, "insert", failing)
    result = pipeline.configure(synthetic_rows=1500).run(DAY)
    assert not result.success
    assert fingerprints(pipeline.database) == old
    retries = pipeline.instance.all_logs(result.run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY)
    assert len(retries) == 3


# -- realistic: the CLI on a large day, killed while writing ---------------------------------

OLD_ROWS, NEW_ROWS = 60_000, 66_000
# (log line that announces a step of the day's publish, seconds to wait after it)
KILL_POINTS = [
    ("of sales.raw_sales with", 0.0),
    ("of sales.cleaned_sales with", 0.0),
    ("of sales.sales_metrics with", 0.05),
    (f"day {DAY} loaded", 0.0),  # committed and recorded: the new load stands
]


def _landing_day(landing: Path, rows: int, seed: int) -> None:
    folder = landing / DAY
    folder.mkdir(parents=True, exist_ok=True)
    orders = generate_orders(date.fromisoformat(DAY), rows, seed=seed)
    orders.to_parquet(folder / "_orders.parquet.partial", index=False)
    (folder / "_orders.parquet.partial").replace(folder / "orders.parquet")


def _cli(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        materialize_command(DAY),
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _kill_when(
    process: subprocess.Popen, marker: str, delay: float, timeout: float = 600.0
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


@pytest.mark.slow
def test_cli_run_killed_while_writing_never_leaves_a_mixed_day(tmp_path):
    landing, database = tmp_path / "landing", tmp_path / "wh" / "warehouse.duckdb"
    home = tmp_path / "dagster_home"
    home.mkdir()
    # The per-table lines are the warehouse logger's DEBUG lines: Dagster shows them in the
    # run's log when the instance manages that logger.
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        "python_logs:\n  managed_python_loggers: [sales_assets.warehouse]\n"
        "  python_log_level: DEBUG\n"
    )
    env = clean_env(
        home,
        SALES_LANDING_DIR=str(landing),
        SALES_WAREHOUSE=str(database),
        SALES_REPORTS_DIR=str(tmp_path / "reports"),
    )

    _landing_day(landing, OLD_ROWS, seed=1)
    first = _cli(env)
    output = first.communicate(timeout=600)[0]
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
    output = rerun.communicate(timeout=600)[0]
    assert rerun.returncode == 0, output[-3000:]
    new = fingerprints(database)
    assert new["raw_sales"][0] == NEW_ROWS and all(new[t] != old[t] for t in TABLES)

    for marker, delay, wal, state in observed:
        assert state in (old, new), (  # all four tables from one load, old or new
            f"after a kill at {marker!r}+{delay}s (WAL left: {wal}) the day mixes loads: "
            + str(
                {
                    t: "new" if state[t] == new[t] else "old" if state[t] == old[t] else "neither"
                    for t in TABLES
                }
            )
        )
    assert observed[-1][3] == new  # killed after the commit: the new load stands
    print(
        "\n".join(f"{m!r}+{d}s WAL={w}: {'new' if s == new else 'old'}" for m, d, w, s in observed)
    )
