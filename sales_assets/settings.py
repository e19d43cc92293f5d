"""The SALES_* settings: read from the environment and validated once, in one place.

Everything else receives values from the `Settings` object (resources take no defaults of
their own). Reading the environment has no side effects: folders are created when the
resources that need them are set up.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .dagster_internals import is_valid_cron_string

REPO_ROOT = Path(__file__).resolve().parent.parent
if not (REPO_ROOT / "pyproject.toml").is_file():  # installed without -e: no repo around it
    REPO_ROOT = Path.cwd()
WAREHOUSE_SCHEMA = "sales"
EXECUTORS = ("in_process", "celery")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_TRUE = {"1", "true", "yes", "on"}

# The defaults, by variable: the one place they are written down.
DEFAULTS = {
    "SALES_WAREHOUSE": str(REPO_ROOT / "data" / "warehouse.duckdb"),
    "SALES_START_DATE": "2024-01-01",
    "SALES_SYNTHETIC_ROWS": "5000",
    "SALES_SCHEDULE_CRON": "0 6 * * *",
    "SALES_TIMEZONE": "UTC",
    "SALES_MAX_REJECT_RATE": "0.10",
    "SALES_FRESHNESS_DEADLINE_CRON": "0 8 * * *",
    "SALES_LOCK_TIMEOUT_SECONDS": "120",
    "SALES_EXECUTOR": "in_process",
    "SALES_REPORTS_DIR": str(REPO_ROOT / "data" / "reports"),
    "SALES_BACKFILL_DAYS_PER_RUN": "30",
}


class SettingsError(ValueError):
    """A SALES_* variable holds a value we cannot use; the message names it."""


@dataclass(frozen=True)
class Settings:
    landing_dir: str | None  # a local folder (absolute path) or s3://bucket/prefix; None: synthetic
    warehouse: str  # a DuckDB file (absolute path) or postgresql://user@host:port/dbname
    start_date: date
    synthetic_rows: int
    schedule_cron: str
    timezone: str
    max_reject_rate: float
    alert_webhook_url: str | None
    freshness_deadline_cron: str
    lock_timeout_seconds: float
    executor: str
    celery_broker: str | None
    celery_single_machine: bool
    pushgateway_url: str | None
    reports_dir: Path
    backfill_days_per_run: int

    @property
    def warehouse_is_postgres(self) -> bool:
        return self.warehouse.startswith(("postgresql://", "postgres://"))

    @property
    def landing_is_remote(self) -> bool:
        return bool(self.landing_dir) and bool(_URL.match(self.landing_dir))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            return (env.get(name) or "").strip() or DEFAULTS.get(name)

        settings = cls(
            landing_dir=_landing(get("SALES_LANDING_DIR")),
            warehouse=_warehouse(get("SALES_WAREHOUSE")),
            start_date=_date("SALES_START_DATE", get("SALES_START_DATE")),
            synthetic_rows=_count("SALES_SYNTHETIC_ROWS", get("SALES_SYNTHETIC_ROWS"), least=0),
            schedule_cron=_cron("SALES_SCHEDULE_CRON", get("SALES_SCHEDULE_CRON")),
            timezone=_timezone(get("SALES_TIMEZONE")),
            max_reject_rate=_rate(get("SALES_MAX_REJECT_RATE")),
            alert_webhook_url=_http_url("SALES_ALERT_WEBHOOK_URL", get("SALES_ALERT_WEBHOOK_URL")),
            freshness_deadline_cron=_cron(
                "SALES_FRESHNESS_DEADLINE_CRON", get("SALES_FRESHNESS_DEADLINE_CRON")
            ),
            lock_timeout_seconds=_seconds(
                "SALES_LOCK_TIMEOUT_SECONDS", get("SALES_LOCK_TIMEOUT_SECONDS")
            ),
            executor=_choice("SALES_EXECUTOR", get("SALES_EXECUTOR"), EXECUTORS),
            celery_broker=_broker(get("SALES_CELERY_BROKER")),
            celery_single_machine=(get("SALES_CELERY_SINGLE_MACHINE") or "").lower() in _TRUE,
            pushgateway_url=_http_url("SALES_PUSHGATEWAY_URL", get("SALES_PUSHGATEWAY_URL")),
            reports_dir=_reports_dir(get("SALES_REPORTS_DIR")),
            backfill_days_per_run=_count(
                "SALES_BACKFILL_DAYS_PER_RUN", get("SALES_BACKFILL_DAYS_PER_RUN"), least=1
            ),
        )
        _check_celery(settings)
        return settings


def _bad(name: str, value: str, why: str) -> SettingsError:
    return SettingsError(f"{name}={redact_url(value) if _URL.match(value) else value!r}: {why}")


def _landing(value: str | None) -> str | None:
    name = "SALES_LANDING_DIR"
    if value is None:
        return None
    if _URL.match(value):
        parts = urlsplit(value)
        if parts.scheme != "s3":
            raise _bad(name, value, "unknown URL scheme; use a folder or s3://bucket/prefix")
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", parts.netloc):
            raise _bad(name, value, f"{parts.netloc!r} is not an S3 bucket name")
        return f"s3://{parts.netloc}/{parts.path.strip('/')}".rstrip("/")
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        raise _bad(name, value, f"{path} is not a folder")
    return str(path)


def _warehouse(value: str) -> str:
    name = "SALES_WAREHOUSE"
    if _URL.match(value):
        parts = urlsplit(value)
        if parts.scheme not in ("postgresql", "postgres"):
            raise _bad(name, value, "unknown URL scheme; use a .duckdb path or postgresql://...")
        try:
            port = parts.port
        except ValueError:
            raise _bad(name, value, "the port is not a number") from None
        if not parts.hostname or not parts.path.strip("/") or port == 0:
            raise _bad(name, value, "expected postgresql://user[:password]@host:port/dbname")
        return value
    path = Path(value).expanduser().resolve()
    if path.is_dir():
        raise _bad(name, value, f"{path} is a folder; give the path of a .duckdb file")
    if path.stem == WAREHOUSE_SCHEMA:
        # DuckDB cannot tell the catalog `sales` from the schema `sales` in that case.
        raise _bad(name, value, f"a file named '{WAREHOUSE_SCHEMA}.*' clashes with the schema")
    return str(path)


def _date(name: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _bad(name, value, "not a date in YYYY-MM-DD form") from None


def _count(name: str, value: str, least: int) -> int:
    if not re.fullmatch(r"\d+", value) or int(value) < least:
        raise _bad(name, value, f"not a whole number >= {least}")
    return int(value)


def _seconds(name: str, value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise _bad(name, value, "not a number of seconds") from None
    if not 0 < seconds < float("inf"):
        raise _bad(name, value, "must be a number of seconds > 0")
    return seconds


def _rate(value: str) -> float:
    name = "SALES_MAX_REJECT_RATE"
    try:
        rate = float(value)
    except ValueError:
        raise _bad(name, value, "not a number") from None
    if not 0.0 <= rate <= 1.0:
        raise _bad(name, value, "must lie in [0, 1]")
    return rate


def _cron(name: str, value: str) -> str:
    if not is_valid_cron_string(value):
        raise _bad(name, value, "not a valid cron expression")
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise _bad("SALES_TIMEZONE", value, "not an IANA time zone such as UTC") from None
    return value


def _choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise _bad(name, value, f"must be one of {', '.join(choices)}")
    return value


def _http_url(name: str, value: str | None) -> str | None:
    if value is not None and not re.match(r"https?://[^/?#\s]+", value):
        raise SettingsError(f"{name}: must be an http:// or https:// URL")
    return value


def _broker(value: str | None) -> str | None:
    schemes = ("redis", "rediss", "amqp", "amqps", "pyamqp", "sqs")
    if value is not None and urlsplit(value).scheme not in schemes:
        raise _bad("SALES_CELERY_BROKER", value, f"scheme must be one of {', '.join(schemes)}")
    return value


def _reports_dir(value: str) -> Path:
    path = Path(value).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise _bad("SALES_REPORTS_DIR", value, f"{path} exists and is not a folder")
    return path


def _check_celery(settings: Settings) -> None:
    """Celery workers may run on other machines: they must reach the warehouse and landing zone."""
    if settings.executor != "celery":
        return
    if not settings.celery_broker:
        raise SettingsError(
            "SALES_EXECUTOR=celery needs SALES_CELERY_BROKER (e.g. redis://host:6379/0)"
        )
    if settings.celery_single_machine:
        return
    if not settings.warehouse_is_postgres:
        raise SettingsError(
            f"SALES_EXECUTOR=celery with SALES_WAREHOUSE={settings.warehouse}: a worker on another "
            "machine cannot reach a DuckDB file; use postgresql://..., or set "
            "SALES_CELERY_SINGLE_MACHINE=1 when every worker runs on this machine"
        )
    if settings.landing_dir and not settings.landing_is_remote:
        raise SettingsError(
            f"SALES_EXECUTOR=celery with SALES_LANDING_DIR={settings.landing_dir}: a worker on another "
            "machine cannot read a local folder; use s3://bucket/prefix, or set "
            "SALES_CELERY_SINGLE_MACHINE=1 when every worker runs on this machine"
        )


def redact_url(url: str | None) -> str:
    """Scheme, user, host and port only: passwords, paths and queries can carry secrets."""
    if not url:
        return "(unset)"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "***"
    user = f"{parts.username}@" if parts.username else ""
    tail = "/***" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{user}{host}{port}{tail}" if parts.scheme and host else "***"


SETTINGS = Settings.from_env()
