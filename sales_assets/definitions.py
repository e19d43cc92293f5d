"""The code location: assets, checks, job, schedule and resources, configured from SALES_*."""

import os

import pyarrow as pa
from dagster import Definitions, EnvVar, in_process_executor

from .alerts import AlertWebhook
from .assets import clean_sales, raw_sales, sales_metrics
from .orchestration import (
    daily_sales_job,
    daily_sales_schedule,
    landing_zone_sensor,
    run_failure_alert,
)
from .resources import QualityPolicy, SalesSource
from .settings import SETTINGS, WAREHOUSE_SCHEMA
from .table_checks import TABLE_CHECKS, sales_metrics_freshness_sensor
from .warehouse import SalesWarehouseIOManager, Warehouse, is_postgres_url

# Arrow's default allocator (jemalloc) keeps freed buffers for reuse, and a day's run frees
# large transient text columns: with the system allocator the peak RSS of a 1M-row day is
# ~100 MB lower at the same speed (measured by `python -m benchmarks`).
pa.set_memory_pool(pa.system_memory_pool())


def build_resources(settings=SETTINGS) -> dict:
    """Resources for a settings object (tests pass their own warehouse and landing zone).

    The warehouse is a DuckDB file (its folder is created on first write) or a PostgreSQL URL."""
    warehouse = {
        "url": _warehouse_url(settings),
        "schema_name": WAREHOUSE_SCHEMA,
        "lock_timeout_seconds": settings.lock_timeout_seconds,
    }
    return {
        "io_manager": SalesWarehouseIOManager(**warehouse),
        "warehouse": Warehouse(**warehouse),
        "source": SalesSource(
            landing_dir=settings.landing_dir,
            synthetic_rows=settings.synthetic_rows,
        ),
        "quality": QualityPolicy(max_reject_rate=settings.max_reject_rate),
        "alerts": AlertWebhook(url=_webhook_url(settings)),
    }


def _warehouse_url(settings) -> str | EnvVar:
    """A PostgreSQL URL may carry a password: from the environment it goes in as EnvVar, like
    the webhook below, so run snapshots and the UI show only the variable's name."""
    url = str(settings.warehouse)  # tests may hand a Path
    if is_postgres_url(url) and url == (os.environ.get("SALES_WAREHOUSE") or "").strip():
        return EnvVar("SALES_WAREHOUSE")
    return url


def _webhook_url(settings) -> str | EnvVar | None:
    """The webhook URL holds a token. Dagster keeps resource config in every run's snapshot
    and shows it in the UI, so a URL from the environment goes in as EnvVar: only its name
    is stored, and the value is read when the alert sensor runs."""
    url = settings.alert_webhook_url
    if url and url == (os.environ.get("SALES_ALERT_WEBHOOK_URL") or "").strip():
        return EnvVar("SALES_ALERT_WEBHOOK_URL")
    return url


defs = Definitions(
    assets=[raw_sales, clean_sales, sales_metrics],
    asset_checks=TABLE_CHECKS,
    jobs=[daily_sales_job],
    schedules=[daily_sales_schedule],
    sensors=[landing_zone_sensor, run_failure_alert, sales_metrics_freshness_sensor],
    resources=build_resources(),
    # One day of pandas work gains nothing from a subprocess per step.
    executor=in_process_executor,
)
