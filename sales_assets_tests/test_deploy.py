"""deploy/: the Helm values and the Celery environment file set only settings the code
location knows, in the shape they promise (warehouse on PostgreSQL, landing on S3, no volume
for a DuckDB file); the instance files load as real instances on PostgreSQL."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance

from sales_assets.settings import DEFAULTS, Settings

from .e2e.dagster_dev import POSTGRES, postgres_database

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
HELM = DEPLOY / "helm" / "values.yaml"
CELERY_ENV = DEPLOY / "celery" / "sales-assets.env"
WORKER_UNIT = DEPLOY / "celery" / "sales-assets-worker.service"
INSTANCE_FILES = [DEPLOY / "dagster.yaml", DEPLOY / "celery" / "dagster.yaml"]
SECRET_LITERAL = re.compile(r"--from-literal=([A-Z_][A-Z0-9_]*)=(\S+)")


def known_settings() -> set[str]:
    """Every variable the code location reads: the defaults' keys and the optional ones
    Settings.from_env asks for."""
    asked: set[str] = set()

    class Recording(dict):
        def get(self, name, default=None):
            asked.add(name)
            return super().get(name, default)

    Settings.from_env(Recording())
    return set(DEFAULTS) | asked


def helm_values() -> dict:
    return yaml.safe_load(HELM.read_text())


def env_entries(node) -> list[tuple[str, str | None]]:
    """(name, value) of every `env:` entry anywhere in the values (list or mapping form)."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "env" and isinstance(value, list):
                found += [(item["name"], item.get("value")) for item in value]
            elif key == "env" and isinstance(value, dict):
                found += list(value.items())
            else:
                found += env_entries(value)
    elif isinstance(node, list):
        for item in node:
            found += env_entries(item)
    return found


def helm_environment() -> dict[str, str]:
    """What a run pod sees: the plain env entries and the secrets' literals from the header."""
    env = {name: str(value) for name, value in env_entries(helm_values())}
    env.update(SECRET_LITERAL.findall(HELM.read_text()))
    return env


def env_file(path: Path, commented: bool = False) -> dict[str, str]:
    pattern = r"^#?\s*([A-Z_][A-Z0-9_]*)=(.*)$" if commented else r"^([A-Z_][A-Z0-9_]*)=(.*)$"
    return dict(re.findall(pattern, path.read_text(), flags=re.MULTILINE))


def test_known_settings_are_read_from_the_code():
    known = known_settings()
    assert {"SALES_WAREHOUSE", "SALES_LANDING_DIR", "SALES_CELERY_BROKER"} <= known
    assert all(name.startswith("SALES_") for name in known)


@pytest.mark.parametrize(
    "source",
    ["helm values", "helm secrets", "celery env file"],
)
def test_every_sales_variable_set_is_a_known_setting(source):
    if source == "helm values":
        names = {name for name, _ in env_entries(helm_values())}
    elif source == "helm secrets":
        names = {name for name, _ in SECRET_LITERAL.findall(HELM.read_text())}
    else:
        names = set(env_file(CELERY_ENV, commented=True))
    sales = {name for name in names if name.startswith("SALES_")}
    assert sales, f"no SALES_* variable found in the {source}"
    unknown = sales - known_settings()
    assert not unknown, f"{source} set variables the code location never reads: {sorted(unknown)}"


def test_helm_values_load_as_settings_for_postgres_and_s3():
    settings = Settings.from_env(helm_environment())
    assert settings.warehouse_is_postgres, settings.warehouse
    assert settings.landing_is_remote, settings.landing_dir
    assert settings.executor == "in_process"


def test_helm_mounts_no_volume_for_a_duckdb_file():
    values = helm_values()
    [deployment] = values["dagster-user-deployments"]["deployments"]
    mounts = {mount["mountPath"] for mount in deployment.get("volumeMounts", [])}
    assert mounts <= {"/reports"}, mounts
    assert not any(str(value).endswith(".duckdb") for _, value in env_entries(values)), (
        "a DuckDB path is set"
    )
    runner = values["runLauncher"]
    assert runner["type"] == "K8sRunLauncher"
    assert "affinity" not in yaml.safe_dump(runner), "run pods need not share a node any more"


def test_helm_queue_is_the_instance_files_queue():
    queue = helm_values()["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    for path in INSTANCE_FILES:
        runs = yaml.safe_load(path.read_text())["concurrency"]["runs"]
        assert runs["max_concurrent_runs"] == queue["maxConcurrentRuns"], path
        assert runs["tag_concurrency_limits"] == queue["tagConcurrencyLimits"], path


def test_celery_env_file_loads_as_settings():
    settings = Settings.from_env(env_file(CELERY_ENV))
    assert (settings.executor, settings.celery_broker.split(":")[0]) == ("celery", "redis")
    assert settings.warehouse_is_postgres and settings.landing_is_remote


def test_worker_unit_runs_the_worker_with_the_env_file():
    unit = WORKER_UNIT.read_text()
    assert re.search(r"^ExecStart=\S+/sales-assets worker\b", unit, flags=re.MULTILINE)
    assert re.search(r"^EnvironmentFile=\S+/sales-assets\.env$", unit, flags=re.MULTILINE)
    assert re.search(r"^KillSignal=SIGTERM$", unit, flags=re.MULTILINE)


@pytest.fixture(scope="module")
def instance_database():
    with postgres_database("sales_deploy") as storage:
        yield storage["postgres"]["postgres_db"]["db_name"]


@pytest.mark.parametrize("path", INSTANCE_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_instance_file_loads_on_postgres(path, instance_database, tmp_path, monkeypatch):
    for name, value in {
        "DAGSTER_PG_HOST": POSTGRES["hostname"],
        "DAGSTER_PG_PORT": str(POSTGRES["port"]),
        "DAGSTER_PG_USER": POSTGRES["username"],
        "DAGSTER_PG_PASSWORD": POSTGRES["password"],
        "DAGSTER_PG_DB": instance_database,
    }.items():
        monkeypatch.setenv(name, value)
    shutil.copy(path, tmp_path / "dagster.yaml")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        queue = instance.get_concurrency_config().run_queue_config
        assert queue.max_concurrent_runs == 8
        assert [(t["key"], t["limit"]) for t in queue.tag_concurrency_limits] == [
            ("dagster/backfill", 6)
        ]
        assert instance.run_monitoring_enabled and instance.run_retries_enabled
        if "celery" in str(path):
            assert instance.run_monitoring_max_runtime_seconds == 4 * 3600
            assert type(instance.compute_log_manager).__name__ == "NoOpComputeLogManager"
