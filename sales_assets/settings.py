"""The SALES_* settings: read from the environment and validated once, in one place."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dagster._utils.schedules import is_valid_cron_string

REPO_ROOT = Path(__file__).resolve().parent.parent
if not (REPO_ROOT / "pyproject.toml").is_file():  # installed without -e: no repo around the package
    REPO_ROOT = Path.cwd()
WAREHOUSE_SCHEMA = "sales"


class SettingsError(ValueError):
    """A SALES_* variable holds a value we cannot use; the message names it."""


@dataclass(frozen=True)
class Settings:
    landing_dir: Path | None
    warehouse: Path
    start_date: date
    synthetic_rows: int
    schedule_cron: str
    timezone: str
    max_reject_rate: float
    alert_webhook_url: str | None
    freshness_deadline_cron: str
    lock_timeout_seconds: float = 120.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        get = lambda name: (env.get(name) or "").strip() or None  # noqa: E731
        return cls(
            landing_dir=_folder("SALES_LANDING_DIR", get("SALES_LANDING_DIR")),
            warehouse=_warehouse(get("SALES_WAREHOUSE")),
            start_date=_date("SALES_START_DATE", get("SALES_START_DATE") or "2024-01-01"),
            synthetic_rows=_int("SALES_SYNTHETIC_ROWS", get("SALES_SYNTHETIC_ROWS") or "5000"),
            schedule_cron=_cron("SALES_SCHEDULE_CRON", get("SALES_SCHEDULE_CRON") or "0 6 * * *"),
            timezone=_timezone(get("SALES_TIMEZONE") or "UTC"),
            max_reject_rate=_rate(get("SALES_MAX_REJECT_RATE") or "0.10"),
            alert_webhook_url=_url(get("SALES_ALERT_WEBHOOK_URL")),
            freshness_deadline_cron=_cron(
                "SALES_FRESHNESS_DEADLINE_CRON", get("SALES_FRESHNESS_DEADLINE_CRON") or "0 8 * * *"
            ),
            lock_timeout_seconds=_seconds(
                "SALES_LOCK_TIMEOUT_SECONDS", get("SALES_LOCK_TIMEOUT_SECONDS") or "120"
            ),
        )


def _bad(name: str, value: str, why: str) -> SettingsError:
    return SettingsError(f"{name}={value!r}: {why}")


def _folder(name: str, value: str | None) -> Path | None:
    if value is None:
        return None
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        raise _bad(name, value, f"{path} is not a folder")
    return path


def _warehouse(value: str | None) -> Path:
    name = "SALES_WAREHOUSE"
    path = Path(value).expanduser() if value else REPO_ROOT / "data" / "warehouse.duckdb"
    path = path.resolve()
    if path.is_dir():
        raise _bad(name, str(value), f"{path} is a folder; give the path of a .duckdb file")
    if path.stem == WAREHOUSE_SCHEMA:
        # DuckDB cannot tell the catalog `sales` from the schema `sales` in that case.
        raise _bad(
            name, str(value), f"a file named '{WAREHOUSE_SCHEMA}.*' clashes with the schema name"
        )
    return path


def _date(name: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _bad(name, value, "not a date in YYYY-MM-DD form") from None


def _int(name: str, value: str) -> int:
    if not re.fullmatch(r"\d+", value):
        raise _bad(name, value, "not a whole number >= 0")
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
        raise _bad(
            "SALES_TIMEZONE", value, "not an IANA time zone such as UTC or Europe/Paris"
        ) from None
    return value


def _url(value: str | None) -> str | None:
    if value is not None and not re.match(r"https?://", value):
        raise SettingsError("SALES_ALERT_WEBHOOK_URL: must start with http:// or https://")
    return value


def redact_url(url: str | None) -> str:
    """Scheme and host only: webhook paths, queries and user:password@ carry tokens and must
    never reach a log."""
    if not url:
        return "(unset)"
    match = re.match(r"(https?://)(?:[^/?#@]*@)?([^/?#@]+)", url)
    return f"{match.group(1)}{match.group(2)}/***" if match else "***"


SETTINGS = Settings.from_env()
