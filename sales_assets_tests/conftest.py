"""Shared fixtures: a temporary warehouse and instance, a way to run days in-process, and
landing zones on a local folder or a real S3-compatible server."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dagster import DagsterInstance, materialize

from sales_assets.assets import clean_sales, raw_sales, sales_metrics
from sales_assets.definitions import build_resources
from sales_assets.settings import SETTINGS

from .landing_zones import MotoServer, Zone, aws_environment

ASSETS = [raw_sales, clean_sales, sales_metrics]


class Pipeline:
    """Runs days of the asset graph in-process against one temporary warehouse and instance."""

    def __init__(self, root: Path, instance: DagsterInstance):
        self.root = root
        self.instance = instance
        self.settings = dataclasses.replace(
            SETTINGS, warehouse=root / "warehouse.duckdb", landing_dir=None
        )

    def configure(self, **changes) -> Pipeline:
        """Change settings for the next runs, e.g. landing_dir=..., synthetic_rows=..."""
        self.settings = dataclasses.replace(self.settings, **changes)
        return self

    def run(self, day: str, raise_on_error: bool = False):
        return materialize(
            ASSETS,
            partition_key=day,
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
