"""The SALES_* settings (contract section 2): defaults, and bad values named with their variable."""

from __future__ import annotations

from datetime import date

import pytest

from sales_assets.settings import REPO_ROOT, Settings, SettingsError


def test_defaults():
    settings = Settings.from_env({})
    assert settings.landing_dir is None  # synthetic source
    assert settings.warehouse == str(REPO_ROOT / "data" / "warehouse.duckdb")
    assert not settings.warehouse_is_postgres
    assert settings.start_date == date(2024, 1, 1)
    assert settings.synthetic_rows == 5000
    assert settings.schedule_cron == "0 6 * * *"
    assert settings.timezone == "UTC"
    assert settings.max_reject_rate == 0.10
    assert settings.alert_webhook_url is None
    assert settings.freshness_deadline_cron == "0 8 * * *"
    assert settings.lock_timeout_seconds == 120
    assert settings.executor == "in_process"
    assert settings.pushgateway_url is None
    assert settings.reports_dir == REPO_ROOT / "data" / "reports"
    assert settings.backfill_days_per_run == 30


def test_reading_the_settings_creates_nothing(tmp_path):
    Settings.from_env(
        {
            "SALES_WAREHOUSE": str(tmp_path / "wh" / "warehouse.duckdb"),
            "SALES_REPORTS_DIR": str(tmp_path / "reports"),
        }
    )
    assert list(tmp_path.iterdir()) == []  # folders are made when first written to


def test_empty_values_mean_the_default():
    assert Settings.from_env(
        {"SALES_START_DATE": "", "SALES_MAX_REJECT_RATE": "  "}
    ) == Settings.from_env({})


def test_good_values(tmp_path):
    settings = Settings.from_env(
        {
            "SALES_LANDING_DIR": str(tmp_path),
            "SALES_WAREHOUSE": str(tmp_path / "wh.duckdb"),
            "SALES_START_DATE": "2023-06-15",
            "SALES_SYNTHETIC_ROWS": "0",
            "SALES_SCHEDULE_CRON": "30 2 * * 1-5",
            "SALES_TIMEZONE": "Europe/Paris",
            "SALES_MAX_REJECT_RATE": "1",
            "SALES_ALERT_WEBHOOK_URL": "https://hooks.example.com/T000/B000/XXX",
            "SALES_BACKFILL_DAYS_PER_RUN": "7",
            "SALES_LOCK_TIMEOUT_SECONDS": "2.5",
            "SALES_PUSHGATEWAY_URL": "http://127.0.0.1:9091",
        }
    )
    assert settings.landing_dir == str(tmp_path.resolve())
    assert settings.warehouse == str((tmp_path / "wh.duckdb").resolve())
    assert settings.backfill_days_per_run == 7
    assert settings.lock_timeout_seconds == 2.5
    assert settings.pushgateway_url == "http://127.0.0.1:9091"
    assert settings.start_date == date(2023, 6, 15)
    assert settings.synthetic_rows == 0
    assert settings.schedule_cron == "30 2 * * 1-5"
    assert settings.timezone == "Europe/Paris"
    assert settings.max_reject_rate == 1.0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SALES_START_DATE", "2024-13-01"),
        ("SALES_START_DATE", "2024-02-30"),
        ("SALES_START_DATE", "yesterday"),
        ("SALES_SCHEDULE_CRON", "every day at 6"),
        ("SALES_SCHEDULE_CRON", "0 25 * * *"),
        ("SALES_SCHEDULE_CRON", "0 6 * *"),
        ("SALES_MAX_REJECT_RATE", "1.5"),
        ("SALES_MAX_REJECT_RATE", "-0.1"),
        ("SALES_MAX_REJECT_RATE", "ten percent"),
        ("SALES_MAX_REJECT_RATE", "nan"),
        ("SALES_SYNTHETIC_ROWS", "-5"),
        ("SALES_SYNTHETIC_ROWS", "5k"),
        ("SALES_TIMEZONE", "Mars/Olympus"),
        ("SALES_BACKFILL_DAYS_PER_RUN", "0"),
        ("SALES_BACKFILL_DAYS_PER_RUN", "a month"),
        ("SALES_FRESHNESS_DEADLINE_CRON", "at eight"),
        ("SALES_EXECUTOR", "threads"),
    ],
)
def test_bad_value_fails_naming_variable_and_value(variable, value):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({variable: value})
    assert variable in str(error.value) and value in str(error.value)


@pytest.mark.parametrize(
    ("variable", "value", "why"),
    [
        ("SALES_LANDING_DIR", "ftp://example.com/landing", "unknown URL scheme"),
        ("SALES_LANDING_DIR", "s3://A_Bucket/landing", "'A_Bucket' is not an S3 bucket name"),
        ("SALES_WAREHOUSE", "mysql://db.example.com/sales", "unknown URL scheme"),
        ("SALES_WAREHOUSE", "postgresql://db.example.com:port/sales", "port is not a number"),
        ("SALES_PUSHGATEWAY_URL", "pushgateway:9091", "must be an http:// or https:// URL"),
    ],
)
def test_a_bad_url_fails_naming_the_variable_and_why(variable, value, why):
    """URLs are named redacted (scheme and host): a path or a query may hold a token."""
    with pytest.raises(SettingsError, match=variable) as error:
        Settings.from_env({variable: value})
    assert why in str(error.value)


def test_urls_pick_the_postgresql_warehouse_and_an_s3_landing_zone():
    settings = Settings.from_env(
        {
            "SALES_WAREHOUSE": "postgresql://sales@db.example.com:5432/warehouse",
            "SALES_LANDING_DIR": "s3://sales-landing/daily/",
        }
    )
    assert settings.warehouse_is_postgres and settings.landing_is_remote
    assert settings.landing_dir == "s3://sales-landing/daily"


def test_a_bad_postgresql_url_never_shows_its_password():
    with pytest.raises(SettingsError, match="SALES_WAREHOUSE") as error:
        Settings.from_env({"SALES_WAREHOUSE": "postgresql://sales:hunter2-secret@db:port/x"})
    assert "hunter2-secret" not in str(error.value)


def test_landing_dir_that_is_not_a_folder(tmp_path):
    a_file = tmp_path / "landing.csv"
    a_file.write_text("x")
    for value in (str(a_file), str(tmp_path / "missing")):
        with pytest.raises(SettingsError, match=f"SALES_LANDING_DIR='{value}'.*not a folder"):
            Settings.from_env({"SALES_LANDING_DIR": value})


def test_warehouse_that_is_a_folder(tmp_path):
    with pytest.raises(SettingsError, match="SALES_WAREHOUSE"):
        Settings.from_env({"SALES_WAREHOUSE": str(tmp_path)})


def test_warehouse_named_like_the_schema(tmp_path):
    """DuckDB cannot tell catalog `sales` from schema `sales`: refuse it up front."""
    with pytest.raises(SettingsError, match="SALES_WAREHOUSE.*sales"):
        Settings.from_env({"SALES_WAREHOUSE": str(tmp_path / "sales.duckdb")})


def test_bad_webhook_names_the_variable_but_never_echoes_it():
    with pytest.raises(SettingsError, match="SALES_ALERT_WEBHOOK_URL") as error:
        Settings.from_env({"SALES_ALERT_WEBHOOK_URL": "hooks.example.com/secret-token"})
    assert "secret-token" not in str(error.value)
