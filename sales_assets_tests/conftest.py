"""Shared fixtures: a temporary warehouse and instance, and a way to run days in-process."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dagster import AssetSelection, DagsterInstance, materialize

from sales_assets.assets import daily_sales
from sales_assets.checks.table import SALES_METRICS_FRESH
from sales_assets.definitions import build_resources
from sales_assets.settings import SETTINGS
from sales_assets.warehouse import Warehouse

POSTGRES_ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}

ASSETS = [daily_sales]
# What daily_sales_job runs: every asset and check but freshness (judged by the clock).
JOB_SELECTION = AssetSelection.all() - AssetSelection.checks(SALES_METRICS_FRESH.key)
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


class Pipeline:
    """Runs days of the asset graph in-process against one temporary warehouse and instance."""

    def __init__(self, root: Path, instance: DagsterInstance):
        self.root = root
        self.instance = instance
        self.settings = dataclasses.replace(
            SETTINGS,
            warehouse=str(root / "warehouse.duckdb"),
            landing_dir=None,
            reports_dir=root / "reports",
        )

    def configure(self, **changes) -> Pipeline:
        """Change settings for the next runs, e.g. landing_dir=..., synthetic_rows=..."""
        self.settings = dataclasses.replace(self.settings, **changes)
        return self

    def run(self, day: str, raise_on_error: bool = False, selection=JOB_SELECTION):
        """One run of one day, as the schedule and the Materialize button launch it."""
        return materialize(
            ASSETS,
            selection=selection,
            partition_key=day,
            resources=build_resources(self.settings),
            instance=self.instance,
            raise_on_error=raise_on_error,
        )

    def run_range(self, first: str, last: str, raise_on_error: bool = False):
        """One run carrying the days first..last, as a backfill launches it."""
        return materialize(
            ASSETS,
            selection=JOB_SELECTION,
            tags={RANGE_START: first, RANGE_END: last},
            resources=build_resources(self.settings),
            instance=self.instance,
            raise_on_error=raise_on_error,
        )

    def query(self, sql: str, params=()) -> pd.DataFrame:
        """Read the warehouse file (what an analyst sees)."""
        with duckdb.connect(str(self.settings.warehouse), read_only=True) as connection:
            return connection.execute(sql, list(params)).fetchdf()

    def count(self, table: str, day: str) -> int:
        column = {"raw_sales": "partition_date", "rejected_sales": "partition_date"}.get(
            table, "order_date"
        )
        return int(
            self.query(f"SELECT count(*) FROM sales.{table} WHERE {column} = ?", [day]).iloc[0, 0]
        )


@pytest.fixture
def instance(tmp_path) -> DagsterInstance:
    """A real, persistent (SQLite) Dagster instance in a temporary DAGSTER_HOME."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as instance:
        yield instance


@pytest.fixture
def pipeline(tmp_path, instance) -> Pipeline:
    return Pipeline(tmp_path, instance)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway database on the PostgreSQL at 127.0.0.1:5432 (trust auth) for this test
    session, one per xdist worker, dropped at the end."""
    import psycopg2

    try:
        admin = psycopg2.connect(**POSTGRES_ADMIN, connect_timeout=10)
    except psycopg2.OperationalError as error:
        raise AssertionError(
            f"PostgreSQL is not reachable at {POSTGRES_ADMIN['host']}:{POSTGRES_ADMIN['port']} "
            f"(database test, user postgres, trust auth): {error}"
        ) from None
    admin.autocommit = True
    name = f"sales_wh_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://{POSTGRES_ADMIN['user']}@{POSTGRES_ADMIN['host']}:{POSTGRES_ADMIN['port']}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["duckdb", "postgresql"])
def warehouse_url(request, tmp_path) -> str:
    """The warehouse URL of each backend: a DuckDB file in tmp_path, or the session's database."""
    if request.param == "duckdb":
        return str(tmp_path / "wh" / "warehouse.duckdb")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def warehouse(warehouse_url) -> Warehouse:
    """A Warehouse on each backend, with a schema of its own (tests share the session database)."""
    return Warehouse(
        url=warehouse_url, schema_name=f"sales_{uuid.uuid4().hex[:8]}", lock_timeout_seconds=30
    )
