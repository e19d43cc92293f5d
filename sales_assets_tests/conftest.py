"""Shared fixtures: a temporary warehouse and instance, a way to run days in-process, and
landing zones on a local folder or a real S3-compatible server."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dagster import AssetSelection, DagsterInstance, materialize

from sales_assets.assets import daily_sales
from sales_assets.checks.whole_table import SALES_METRICS_FRESH
from sales_assets.definitions import build_resources
from sales_assets.settings import SETTINGS
from sales_assets.warehouse import Warehouse

from .landing_zones import MotoServer, Zone, aws_environment

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

    @property
    def database(self) -> Path:
        """The warehouse's DuckDB file."""
        return Path(self.settings.warehouse)

    def configure(self, **changes) -> Pipeline:
        """Change settings for the next runs, e.g. landing_dir=..., synthetic_rows=...
        (paths may be given as Path; settings hold them as text, as read from the environment)."""
        for name in ("landing_dir", "warehouse"):
            if isinstance(changes.get(name), Path):
                changes[name] = str(changes[name])
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

    def run_range(
        self, first: str, last: str, raise_on_error: bool = False, selection=JOB_SELECTION
    ):
        """One run carrying the days first..last, as a backfill launches it."""
        return materialize(
            ASSETS,
            selection=selection,
            tags={RANGE_START: first, RANGE_END: last},
            resources=build_resources(self.settings),
            instance=self.instance,
            raise_on_error=raise_on_error,
        )

    def query(self, sql: str, params=()) -> pd.DataFrame:
        """Read the warehouse file (what an analyst sees)."""
        with duckdb.connect(self.settings.warehouse, read_only=True) as connection:
            return connection.execute(sql, list(params)).fetchdf()

    def count(self, table: str, day: str) -> int:
        column = {"raw_sales": "partition_date", "rejected_sales": "partition_date"}.get(
            table, "order_date"
        )
        return int(
            self.query(f"SELECT count(*) FROM sales.{table} WHERE {column} = ?", [day]).iloc[0, 0]
        )


@contextmanager
def temporary_instance(root: Path) -> Iterator[DagsterInstance]:
    """A real, persistent (SQLite) Dagster instance in `root`/dagster_home."""
    home = root / "dagster_home"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as instance:
        yield instance


@contextmanager
def shared_pipeline(tmp_path_factory, name: str) -> Iterator[Pipeline]:
    """A pipeline of its own for a module-scoped fixture whose tests only read what it loaded."""
    root = tmp_path_factory.mktemp(name)
    with temporary_instance(root) as instance:
        yield Pipeline(root, instance)


@pytest.fixture
def instance(tmp_path) -> DagsterInstance:
    """A real, persistent (SQLite) Dagster instance in a temporary DAGSTER_HOME."""
    with temporary_instance(tmp_path) as instance:
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


# ---------------------------------------------------------------------------------------------
# Landing zones: a local folder, or a prefix in a real S3-compatible server (moto's standalone
# server, one per test session, i.e. one per xdist worker, stopped by its pid at the end).


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory) -> MotoServer:
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def aws_env(monkeypatch, moto_server) -> MotoServer:
    """The standard AWS variables aimed at the test server, for this test only."""
    for name, value in aws_environment(moto_server.endpoint).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    return moto_server


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.e2e)])
def zone(request, tmp_path) -> Zone:
    """The same test on a local landing folder and on an S3 prefix (own bucket per test)."""
    if request.param == "local":
        return Zone.local(tmp_path / "landing")
    return Zone.s3(request.getfixturevalue("aws_env"))
