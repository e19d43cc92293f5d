"""End to end on PostgreSQL: a UI backfill with the instance on the server at 127.0.0.1:5432.

The repo's dagster.yaml (its run queue) with `storage: postgres` pointing at a throwaway
database created for this module and dropped afterwards. The backfill's runs carry two days
each and go in parallel as far as the run queue allows; nothing may be lost: every day has
its rows and its own check results, and the runs and events are in PostgreSQL itself.
"""

from __future__ import annotations

from datetime import date, timedelta

import psycopg2
import pytest
import yaml

from .dagster_dev import (
    POSTGRES,
    REPO_INSTANCE_YAML,
    count_rows,
    postgres_database,
    running_dagster_dev,
)

ROWS = 500
DAYS = [(date(2024, 4, 1) + timedelta(days=i)).isoformat() for i in range(10)]
DAYS_PER_RUN = 2
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


@pytest.fixture(scope="module")
def database():
    with postgres_database() as storage:
        yield storage


@pytest.fixture(scope="module")
def dev(tmp_path_factory, database):
    tmp = tmp_path_factory.mktemp("e2e_postgres")
    with running_dagster_dev(
        tmp,
        {
            "SALES_SYNTHETIC_ROWS": str(ROWS),
            "SALES_SCHEDULE_CRON": "0 0 1 1 *",
            "SALES_BACKFILL_DAYS_PER_RUN": str(DAYS_PER_RUN),
        },
        storage=database,
    ) as dev:
        dev.warehouse = tmp / "warehouse.duckdb"
        yield dev


def max_concurrent_runs() -> int:
    config = yaml.safe_load(REPO_INSTANCE_YAML.read_text()) if REPO_INSTANCE_YAML.exists() else {}
    runs = (config.get("concurrency") or {}).get("runs") or {}
    queue = config.get("run_queue") or (config.get("run_coordinator") or {}).get("config") or {}
    return int(runs.get("max_concurrent_runs", queue.get("max_concurrent_runs", 10)))


def most_at_once(runs: list[dict]) -> int:
    """The largest number of runs whose [start, end] intervals overlap at one moment."""
    edges = sorted(
        [(r["startTime"], 1) for r in runs] + [(r["endTime"], -1) for r in runs],
        key=lambda e: (e[0], e[1]),
    )
    now = best = 0
    for _, step in edges:
        now += step
        best = max(best, now)
    return best


def test_backfill_on_postgres_runs_in_parallel_and_loses_nothing(dev, database):
    backfill_id = dev.launch_backfill(DAYS)
    backfill = dev.wait_backfill(backfill_id, timeout=480)
    assert backfill["status"] == "COMPLETED_SUCCESS", backfill

    runs = dev.runs(tags={"dagster/backfill": backfill_id})
    ranges = sorted((r["tags"][RANGE_START], r["tags"][RANGE_END]) for r in runs)
    assert ranges == list(zip(DAYS[::2], DAYS[1::2])), "runs of SALES_BACKFILL_DAYS_PER_RUN days"
    assert {r["status"] for r in runs} == {"SUCCESS"}, [(r["tags"], r["status"]) for r in runs]
    limit = max_concurrent_runs()
    at_once = most_at_once(runs)
    assert at_once <= limit, f"{at_once} runs at once, the run queue allows {limit}"
    if limit > 1:
        assert at_once >= 2, "the run queue allows parallel runs but the backfill ran one at a time"

    for day in DAYS:
        assert count_rows(dev.warehouse, "raw_sales", day) == ROWS, day
        assert count_rows(dev.warehouse, "sales_metrics", day) > 0, day
        [execution] = dev.check_executions("cleaned_sales", "rejection_rate", partition=day)
        assert execution["status"] == "SUCCEEDED" and execution["evaluation"]["partition"] == day, (
            day,
            execution,
        )

    # The instance really lives in PostgreSQL: its runs and their materializations are there.
    db = database["postgres"]["postgres_db"]
    with psycopg2.connect(
        host=POSTGRES["hostname"],
        port=POSTGRES["port"],
        user=POSTGRES["username"],
        dbname=db["db_name"],
    ) as conn:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM runs r JOIN run_tags t ON t.run_id = r.run_id "
                "WHERE t.key = 'dagster/backfill' AND t.value = %s AND r.status = 'SUCCESS'",
                [backfill_id],
            )
            assert cursor.fetchone()[0] == len(DAYS) // DAYS_PER_RUN
            cursor.execute(
                "SELECT count(DISTINCT partition) FROM event_logs "
                "WHERE dagster_event_type = 'ASSET_MATERIALIZATION' AND asset_key = %s AND partition = ANY(%s)",
                ['["sales_metrics"]', DAYS],
            )
            assert cursor.fetchone()[0] == len(DAYS)
