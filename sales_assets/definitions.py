"""The code location: the asset graph, its checks, job, schedule, sensors and resources.

Resources are built from the SALES_* settings (`settings.py`); tests build their own with
`build_resources(settings)`. Nothing here touches the disk when the module is imported.
"""

from __future__ import annotations

import os

from dagster import Definitions, EnvVar

from .alerts import AlertWebhook
from .assets import daily_sales
from .orchestration import (
    daily_sales_job,
    daily_sales_schedule,
    landing_zone_sensor,
    run_failure_alert,
    sales_metrics_freshness_sensor,
)
from .resources import Monitoring, QualityPolicy, ReportFolder, SalesSource
from .settings import SETTINGS, WAREHOUSE_SCHEMA, Settings
from .warehouse import SalesWarehouseIOManager, Warehouse
from .workers import executor_for


def build_resources(settings: Settings = SETTINGS) -> dict:
    """Resources for a settings object (tests pass their own warehouse and landing zone)."""
    warehouse = {
        # A PostgreSQL URL may carry a password: kept out of run snapshots like the webhook's.
        "url": _from_env("SALES_WAREHOUSE", settings.warehouse)
        if settings.warehouse_is_postgres
        else settings.warehouse,
        "schema_name": WAREHOUSE_SCHEMA,
        "lock_timeout_seconds": settings.lock_timeout_seconds,
    }
    return {
        "io_manager": SalesWarehouseIOManager(**warehouse),
        "warehouse": Warehouse(**warehouse),
        "source": SalesSource(
            landing_dir=settings.landing_dir, synthetic_rows=settings.synthetic_rows
        ),
        "quality": QualityPolicy(max_reject_rate=settings.max_reject_rate),
        "reports": ReportFolder(path=str(settings.reports_dir)),
        "monitoring": Monitoring(url=settings.pushgateway_url),
        "alerts": AlertWebhook(
            url=_from_env("SALES_ALERT_WEBHOOK_URL", settings.alert_webhook_url)
        ),
    }


def _from_env(variable: str, value: str | None) -> str | EnvVar | None:
    """A URL holding a token, as EnvVar when it came from the environment: Dagster keeps
    resource config in every run's snapshot and shows it in the UI, and an EnvVar is stored
    by name only; its value is read when the resource is used."""
    if value and value == (os.environ.get(variable) or "").strip():
        return EnvVar(variable)
    return value


defs = Definitions(
    assets=[daily_sales],
    jobs=[daily_sales_job],
    schedules=[daily_sales_schedule],
    sensors=[landing_zone_sensor, run_failure_alert, sales_metrics_freshness_sensor],
    resources=build_resources(),
    # in_process: a day of pandas work gains nothing from a subprocess per step (see README,
    # Performance). celery (SALES_EXECUTOR): every job's steps run on `sales-assets worker`s.
    executor=executor_for(SETTINGS),
)
