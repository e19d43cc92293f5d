"""The SALES_* settings (contract section 2): defaults, and bad values named with their variable."""

from __future__ import annotations

from datetime import date

import pytest

from sales_assets.settings import REPO_ROOT, Settings, SettingsError


def test_defaults():
    settings = Settings.from_env({})
    assert settings.landing_dir is None  # synthetic source
    assert settings.warehouse == REPO_ROOT / "data" / "warehouse.duckdb"
    assert settings.start_date == date(2024, 1, 1)
    assert settings.synthetic_rows == 5000
    assert settings.schedule_cron == "0 6 * * *"
    assert settings.timezone == "UTC"
    assert settings.max_reject_rate == 0.10
    assert settings.alert_webhook_url is None


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
        }
    )
    assert settings.landing_dir == tmp_path.resolve()
    assert settings.warehouse == (tmp_path / "wh.duckdb").resolve()
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
    ],
)
def test_bad_value_fails_naming_variable_and_value(variable, value):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({variable: value})
    assert variable in str(error.value) and value in str(error.value)


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
