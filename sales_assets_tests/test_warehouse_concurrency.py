"""The warehouse's promises under crashes, concurrent writers and open readers, on both backends.

- SIGKILL while a day is being written (PostgreSQL: while its COPY into cleaned_sales is
  running; DuckDB: as that table's write starts): every table keeps the day's previous rows
  whole, and the next publish succeeds.
- 8 processes publish 8 different days at once: none fails, no row is lost; on PostgreSQL no
  session ever waits on a row, table or advisory lock (sampled from pg_stat_activity), on
  DuckDB they queue for the file and each says how long it waited.
- A reader inside an open REPEATABLE READ transaction: on PostgreSQL the load does not wait
  and the reader keeps its snapshot until it commits; on DuckDB (one process at a time per
  file) the load waits for the reader, says so, and reports the seconds waited.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest

from sales_assets.warehouse import Warehouse
from sales_assets_tests.warehouse_days import counts, day_frames, fingerprints, redated, save

REPO = Path(__file__).resolve().parent.parent
DAY = date(2024, 3, 2)

PUBLISHER = textwrap.dedent(
    """
    import json, logging, sys, time
    from datetime import date
    from pathlib import Path
    from sales_assets.warehouse import Warehouse
    from sales_assets_tests.warehouse_days import load, redated

    url, schema, day, folder = sys.argv[1], sys.argv[2], date.fromisoformat(sys.argv[3]), Path(sys.argv[4])
    frames = redated(load(folder), day)
    log = logging.getLogger("sales_assets.warehouse")  # the per-table lines the test waits for
    log.addHandler(logging.StreamHandler(sys.stdout))
    log.setLevel(logging.DEBUG)
    print("ready", flush=True)
    sys.stdin.readline()  # go
    started = time.time()
    result = Warehouse(url=url, schema_name=schema, lock_timeout_seconds=300).publish(day, frames, log=log)
    print("result", json.dumps({"day": str(day), "seconds": result.seconds, "started": started,
                                "ended": time.time(), "lock_wait_seconds": result.lock_wait_seconds,
                                "rows": dict(result.rows)}), flush=True)
    """
)


def publisher(warehouse: Warehouse, day: date, folder: Path) -> subprocess.Popen:
    """A process that loads the frames in `folder`, says `ready`, and publishes on a line."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            PUBLISHER,
            warehouse.url,
            warehouse.schema_name,
            str(day),
            str(folder),
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    line = child.stdout.readline()
    assert line.strip() == "ready", line + child.stdout.read()
    return child


def go(child: subprocess.Popen) -> None:
    child.stdin.write("go\n")
    child.stdin.flush()


def result_of(child: subprocess.Popen, timeout: float = 300) -> dict:
    output = child.communicate(timeout=timeout)[0]
    assert child.returncode == 0, output[-3000:]
    line = next(line for line in output.splitlines() if line.startswith("result "))
    return json.loads(line.removeprefix("result "))


def is_postgres(warehouse: Warehouse) -> bool:
    return warehouse.url.startswith("postgresql://")


def admin(warehouse: Warehouse):
    """A plain psycopg2 connection to the warehouse database (what an analyst would use)."""
    import psycopg2

    parts = urlsplit(warehouse.url)
    return psycopg2.connect(
        host=parts.hostname, port=parts.port, user=parts.username, dbname=parts.path.lstrip("/")
    )


def big(frames: dict[str, pd.DataFrame], times: int) -> dict[str, pd.DataFrame]:
    """Each frame repeated: many rows fast (the warehouse enforces no keys)."""
    return {t: pd.concat([f] * times, ignore_index=True) for t, f in frames.items()}


# -- SIGKILL mid-write ---------------------------------------------------------------------


def copy_running(cursor, warehouse: Warehouse, table: str) -> bool:
    """Is a COPY into `table` under way and past its first rows? (PostgreSQL's progress view)"""
    cursor.execute(
        "SELECT coalesce(max(tuples_processed), 0) FROM pg_stat_progress_copy "
        "WHERE relid = to_regclass(%s)",
        [f'"{warehouse.schema_name}"."{table}"'],
    )
    return cursor.fetchone()[0] > 0


def kill_mid_write(child: subprocess.Popen, warehouse: Warehouse, table: str) -> list[str]:
    """SIGKILL the publisher while it writes `table`; return what it printed."""
    lines = []
    for line in child.stdout:
        lines.append(line)
        if f"{warehouse.schema_name}.{table} with" in line:  # the write of `table` starts
            break
    if is_postgres(warehouse):  # wait until its COPY is really moving rows
        watcher = admin(warehouse)
        watcher.autocommit = True
        deadline = time.monotonic() + 60
        with watcher.cursor() as cursor:
            while not copy_running(cursor, warehouse, table):
                assert time.monotonic() < deadline and child.poll() is None, "".join(lines)
                time.sleep(0.005)
        watcher.close()
    child.send_signal(signal.SIGKILL)
    lines += child.communicate(timeout=60)[0].splitlines(keepends=True)
    assert child.returncode == -signal.SIGKILL, "".join(lines)
    return lines


@pytest.mark.slow
def test_sigkill_mid_write_keeps_every_table_of_the_day_whole(warehouse, tmp_path):
    warehouse.publish(DAY, day_frames(DAY, 5000))
    before = fingerprints(warehouse, DAY)
    new = big(day_frames(DAY, 50_000), 8)  # 400k raw rows: a COPY that lasts
    child = publisher(warehouse, DAY, save(new, tmp_path / "new"))
    go(child)
    printed = kill_mid_write(child, warehouse, "cleaned_sales")

    assert not any(line.startswith("result") for line in printed)  # it never committed
    assert any(".raw_sales with 400000 rows" in line for line in printed)  # written before the kill
    assert fingerprints(warehouse, DAY) == before  # raw_sales's new rows went with the rest
    started = time.monotonic()
    warehouse.publish(DAY, new)  # no lock, WAL or half-written row left behind
    assert time.monotonic() - started < 60
    assert counts(warehouse, DAY) == {t: len(f) for t, f in new.items()}


# -- 8 writers of 8 days at once -----------------------------------------------------------


class LockWatch(threading.Thread):
    """Samples PostgreSQL every 10 ms for sessions of the database waiting on a lock."""

    def __init__(self, warehouse: Warehouse):
        super().__init__(daemon=True)
        self.connection = admin(warehouse)
        self.connection.autocommit = True
        self.database = urlsplit(warehouse.url).path.lstrip("/")
        self.samples, self.waiting = 0, []
        self.done = threading.Event()

    def run(self) -> None:
        with self.connection.cursor() as cursor:
            while not self.done.is_set():
                cursor.execute(
                    "SELECT pid, wait_event FROM pg_stat_activity "
                    "WHERE datname = %s AND wait_event_type = 'Lock'",
                    [self.database],
                )
                self.waiting += cursor.fetchall()
                self.samples += 1
                time.sleep(0.01)
        self.connection.close()

    def kinds(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for _, event in self.waiting:
            found[event] = found.get(event, 0) + 1
        return found

    def blocking(self) -> list[tuple]:
        return [(pid, event) for pid, event in self.waiting if event != "extend"]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_eight_processes_publish_eight_days_at_once(warehouse, tmp_path):
    base = day_frames(DAY, 30_000)
    folder = save(base, tmp_path / "frames")
    warehouse.publish(DAY, base)  # the tables exist, as on every night but the first
    solo = warehouse.publish(DAY, base).seconds
    before = fingerprints(warehouse, DAY)
    days = [date(2024, 4, 1) + timedelta(days=i) for i in range(8)]
    children = [publisher(warehouse, day, folder) for day in days]  # each loaded and ready
    watch = LockWatch(warehouse) if is_postgres(warehouse) else None
    if watch:
        watch.start()
    for child in children:
        go(child)
    results = [result_of(child) for child in children]
    wall = max(r["ended"] for r in results) - min(r["started"] for r in results)
    if watch:
        watch.done.set()
        watch.join()

    for day, result in zip(days, results):
        assert result["rows"] == {t: len(f) for t, f in base.items()}
        assert counts(warehouse, day) == result["rows"], day  # none lost
    assert fingerprints(warehouse, DAY) == before  # no other day touched
    waits = [r["lock_wait_seconds"] for r in results]
    print(
        f"\n{'PostgreSQL' if watch else 'DuckDB'}: 8 days x {sum(results[0]['rows'].values())} "
        f"rows at once in {wall:.1f} s; each publish {min(r['seconds'] for r in results):.2f}-"
        f"{max(r['seconds'] for r in results):.2f} s (alone {solo:.2f} s); lock waits "
        f"{min(waits):.3f}-{max(waits):.3f} s"
        + (f"; {watch.samples} samples, waits seen: {watch.kinds()}" if watch else "")
    )
    if watch:
        # No session waited on a row, table or advisory lock of another. `extend` is
        # PostgreSQL's own short lock for growing a table's file, which concurrent COPYs into
        # one table take in turn: reported above, not a wait for another load's data.
        assert watch.samples > 10 and watch.blocking() == []
        assert max(waits) < 0.5
    else:
        assert max(waits) > 0  # one writer at a time: the others queued, and say how long


# -- readers never block the load (PostgreSQL) ----------------------------------------------

DUCKDB_READER = textwrap.dedent(
    """
    import duckdb, sys, time
    connection = duckdb.connect(sys.argv[1], read_only=True)
    connection.execute("BEGIN TRANSACTION")
    count = lambda: connection.execute(sys.argv[2]).fetchone()[0]
    print(count(), flush=True)
    time.sleep(float(sys.argv[3]))
    print(count(), flush=True)
    connection.execute("COMMIT")
    """
)


def test_a_reader_in_an_open_transaction_and_the_load(warehouse):
    old, new = day_frames(DAY, 20_000), day_frames(DAY, 25_000)
    warehouse.publish(DAY, old)
    count = (
        f'SELECT count(*) FROM "{warehouse.schema_name}".cleaned_sales '
        f"WHERE order_date = DATE '{DAY}'"
    )
    rows = {"old": len(old["cleaned_sales"]), "new": len(new["cleaned_sales"])}
    if not is_postgres(warehouse):
        return duckdb_reader_makes_the_load_wait(warehouse, count, new, rows)

    reader = admin(warehouse)
    reader.set_session(isolation_level="REPEATABLE READ")
    with reader.cursor() as cursor:
        cursor.execute(count)  # the snapshot is taken here, and held
        assert cursor.fetchone()[0] == rows["old"]
        started = time.monotonic()
        result = warehouse.publish(DAY, new)
        took = time.monotonic() - started
        print(f"\npublish while a REPEATABLE READ reader holds the table: {took:.2f} s")
        assert took < 5 and result.lock_wait_seconds < 0.5  # the load did not wait
        cursor.execute(count)
        assert cursor.fetchone()[0] == rows["old"]  # the reader keeps its snapshot
        assert len(warehouse.read_day("cleaned_sales", DAY)) == rows["new"]  # others see new
        reader.commit()
        cursor.execute(count)
        assert cursor.fetchone()[0] == rows["new"]
    reader.close()


def duckdb_reader_makes_the_load_wait(warehouse, count: str, new, rows: dict) -> None:
    """DuckDB admits one process per file: a reader elsewhere holds the load back (the
    embedded default's limit; README: query a snapshot instead)."""
    reader = subprocess.Popen(
        [sys.executable, "-c", DUCKDB_READER, warehouse.url, count, "3"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert int(reader.stdout.readline()) == rows["old"]
    result = warehouse.publish(DAY, new)
    assert int(reader.stdout.readline()) == rows["old"]  # it read old rows to its end
    reader.wait(timeout=30)
    assert result.lock_wait_seconds > 1  # the load waited for the reader, and says so
    assert len(warehouse.read_day("cleaned_sales", DAY)) == rows["new"]


def test_two_loads_of_the_same_day_at_once_take_turns(postgres_url):
    """PostgreSQL: a second load of a day waits for the first (an advisory lock per day), so
    the day ends up holding one load's rows, never both; the wait is reported."""
    warehouse = Warehouse(url=postgres_url, schema_name="sales_same_day", lock_timeout_seconds=30)
    first, second = day_frames(DAY, 30_000), day_frames(DAY, 20_000)
    warehouse.publish(DAY, first)
    results = {}
    threads = [
        threading.Thread(target=lambda n=n, f=f: results.update({n: warehouse.publish(DAY, f)}))
        for n, f in (("first", first), ("second", second))
    ]
    threads[0].start()
    watcher = admin(warehouse)
    watcher.autocommit = True
    with watcher.cursor() as cursor:
        deadline = time.monotonic() + 60
        while not day_locked(cursor):  # the first load holds the day: now start the second
            assert time.monotonic() < deadline and threads[0].is_alive()
            time.sleep(0.002)
    watcher.close()
    threads[1].start()
    for thread in threads:
        thread.join(timeout=120)
    assert set(results) == {"first", "second"}
    assert counts(warehouse, DAY) in (
        {t: len(f) for t, f in first.items()},
        {t: len(f) for t, f in second.items()},
    )
    assert max(r.lock_wait_seconds for r in results.values()) > 0  # one waited for the other


def day_locked(cursor) -> bool:
    cursor.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    return cursor.fetchone()[0] > 0


def test_eight_first_loads_at_once_create_each_table_once(postgres_url):
    """PostgreSQL, the first night of a parallel backfill: 8 loads find no tables and create
    them at once; schema changes take turns (an advisory lock), so none fails."""
    warehouse = Warehouse(url=postgres_url, schema_name="sales_cold_start", lock_timeout_seconds=30)
    frames = day_frames(DAY, 500)
    days = [DAY + timedelta(days=i) for i in range(8)]
    failures, threads = [], []
    for day in days:
        work = lambda day=day: warehouse.publish(day, redated(frames, day))  # noqa: E731
        threads.append(threading.Thread(target=lambda w=work: _record_failure(w, failures)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    for day in days:
        assert counts(warehouse, day) == {t: len(f) for t, f in frames.items()}, day


def _record_failure(work, failures: list) -> None:
    try:
        work()
    except Exception as error:  # reported by the test, with its type
        failures.append(repr(error))
