"""The landing zone on S3 behaves as the local folder does, and fails the way S3 fails.

Every test here talks to moto's standalone S3 server (a real HTTP server in its own process,
see `landing_zones.py`): the same days written to a local folder and to an S3 prefix give the
same raw frames, cleaned rows and failures; a missing bucket or denied access fails at once
naming the bucket; a reset, refused or 5xx connection raises the error `raw_sales`' RetryPolicy
retries; the secret key never shows in an error or a log.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from dagster import DagsterEventType

from sales_assets.cli import main
from sales_assets.contracts import REJECT_REASONS
from sales_assets.sources.landing import (
    DayNotArrivedError,
    LandingError,
    LandingUnavailableError,
    landing_day,
)
from sales_assets.sources.synthetic import generate_orders
from sales_assets.transforms import apply_cleaning_rules

from .landing_zones import ResettingProxy, Zone, answering, free_port

pytestmark = pytest.mark.e2e

V1 = ["order_id", "order_ts", "product", "region", "quantity", "unit_price", "customer_id"]


def orders(day: str, rows: int, seed: int = 0, dirty: float = 0.1) -> pd.DataFrame:
    return generate_orders(date.fromisoformat(day), rows, dirty_rate=dirty, seed=seed)


def land_days(zone: Zone) -> None:
    """The same days on any store: every format, v1 and v2 mixed, UTC offsets, duplicates
    across files, every reject reason, a zero-sales day, a missing column, an unknown file."""
    day = orders("2024-03-01", 800)
    zone.put_frame("2024-03-01/a.csv", day.iloc[:200])
    zone.put_frame("2024-03-01/b.csv.gz", day.iloc[200:400][V1])  # schema v1
    zone.put_frame("2024-03-01/c.parquet", day.iloc[400:600])
    zone.put_frame("2024-03-01/d.jsonl", day.iloc[600:])
    zone.put_frame("2024-03-01/e copy ü.csv", day.iloc[:25])  # duplicates of a.csv's orders
    zone.put("2024-03-01/_SUCCESS", b"")
    zone.put("2024-03-01/.DS_Store", b"\x00junk")
    zone.put_frame("2024-03-02/orders.csv", day.iloc[:0])  # header only: zero sales
    zone.put_frame("2024-03-02/orders.parquet", day.iloc[:0])
    zone.put_frame("2024-03-03/ok.csv", orders("2024-03-03", 50))
    zone.put_frame("2024-03-03/broken.jsonl", orders("2024-03-03", 5).drop(columns=["region"]))
    zone.put_frame("2024-03-05/orders.csv", orders("2024-03-05", 50))
    zone.put("2024-03-05/orders.xlsx", b"PK\x03\x04")
    zone.folder("2024-03-06")  # a folder with nothing in it yet: zero sales


def outcome(zone: Zone, day: str):
    """The day's raw frame, or (error type, message with the zone's root written as <root>)."""
    try:
        return landing_day(zone.location, date.fromisoformat(day))
    except LandingError as error:
        return type(error).__name__, str(error).replace(zone.location, "<root>")


@pytest.fixture
def both(tmp_path, aws_env) -> tuple[Zone, Zone]:
    zones = Zone.local(tmp_path / "landing"), Zone.s3(aws_env)
    for zone in zones:
        land_days(zone)
    return zones


def test_the_same_days_give_the_same_rows_and_failures_on_both_stores(both):
    local, s3 = both
    for day in ["2024-03-01", "2024-03-02", "2024-03-06"]:
        expected, got = outcome(local, day), outcome(s3, day)
        pd.testing.assert_frame_equal(got, expected)
        cleaned, rejected = apply_cleaning_rules(got, date.fromisoformat(day))
        expected_cleaned, expected_rejected = apply_cleaning_rules(
            expected, date.fromisoformat(day)
        )
        pd.testing.assert_frame_equal(cleaned, expected_cleaned)
        pd.testing.assert_frame_equal(rejected, expected_rejected)
    raw = outcome(s3, "2024-03-01")
    assert len(raw) == 825 and "channel" in raw and raw["source_file"].nunique() == 5
    assert "2024-03-01/e copy ü.csv" in set(raw["source_file"])
    assert set(apply_cleaning_rules(raw, date(2024, 3, 1))[1]["reject_reason"]) == set(
        REJECT_REASONS
    )
    assert len(outcome(s3, "2024-03-02")) == 0 and len(outcome(s3, "2024-03-06")) == 0

    failures = {day: outcome(s3, day) for day in ["2024-03-03", "2024-03-04", "2024-03-05"]}
    assert failures == {day: outcome(local, day) for day in failures}
    assert failures["2024-03-03"][1].startswith("<root>/2024-03-03/broken.jsonl: missing required")
    assert failures["2024-03-04"][0] == "DayNotArrivedError"
    assert f"{s3.location}/2024-03-04 does not exist" in str(_error(s3, "2024-03-04"))
    assert failures["2024-03-05"][1].startswith("<root>/2024-03-05/orders.xlsx: not a data file")


def _error(zone: Zone, day: str) -> Exception:
    with pytest.raises(LandingError) as failure:
        landing_day(zone.location, date.fromisoformat(day))
    return failure.value


def test_a_missing_bucket_fails_at_once_naming_it(aws_env):
    with pytest.raises(LandingError) as failure:
        landing_day("s3://no-such-landing-bucket/prefix", date(2024, 3, 1))
    assert not isinstance(failure.value, DayNotArrivedError)  # not "wait for the data"
    assert "bucket 'no-such-landing-bucket'" in str(failure.value)
    assert "does not exist" in str(failure.value)


@pytest.mark.parametrize("who", ["unknown key", "user without access"])
def test_denied_access_fails_at_once_naming_the_bucket_without_the_secret(
    aws_env, monkeypatch, caplog, who
):
    zone = Zone.s3(aws_env)
    zone.put_frame("2024-03-01/orders.csv", orders("2024-03-01", 10))
    keys = (
        {"AWS_SECRET_ACCESS_KEY": "wrong-secret-0123456789abcdef"}
        if who == "unknown key"
        else aws_env.iam_user("s3:*", "arn:aws:s3:::other/*")
    )
    for name, value in keys.items():
        monkeypatch.setenv(name, value)
    aws_env.require_auth(True)
    try:
        with pytest.raises(LandingError) as failure:
            landing_day(zone.location, date(2024, 3, 1))
    finally:
        aws_env.require_auth(False)
    message = str(failure.value)
    assert f"access to bucket '{zone.bucket}' denied" in message
    assert keys["AWS_SECRET_ACCESS_KEY"] not in message + caplog.text


@pytest.mark.parametrize("failure", ["connection refused", "connection reset", "HTTP 503"])
def test_transient_errors_raise_the_retryable_error(aws_env, monkeypatch, failure):
    zone = Zone.s3(aws_env)
    zone.put_frame("2024-03-01/orders.csv", orders("2024-03-01", 10))
    if failure == "connection refused":
        endpoint, stop = f"http://127.0.0.1:{free_port()}", lambda: None
    elif failure == "connection reset":
        proxy = ResettingProxy(aws_env.port, resets=10**6)
        endpoint, stop = proxy.endpoint, proxy.close
    else:
        server = answering(503)
        endpoint, stop = f"http://127.0.0.1:{server.server_port}", server.shutdown
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    try:
        with pytest.raises(OSError) as error:
            landing_day(zone.location, date(2024, 3, 1))
    finally:
        stop()
    assert isinstance(error.value, LandingUnavailableError)
    assert not isinstance(error.value, LandingError)  # LandingError fails the day without retry
    assert f"{zone.location}/2024-03-01" in str(error.value)


def _retries(instance, run_id) -> int:
    return len(instance.all_logs(run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY))


def test_raw_sales_retries_a_reset_connection_and_loads_the_day(pipeline, aws_env, monkeypatch):
    zone = Zone.s3(aws_env)
    zone.put_frame("2024-03-01/orders.csv", orders("2024-03-01", 200, dirty=0))
    proxy = ResettingProxy(aws_env.port, resets=3)  # the first read attempt's tries, all reset
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
    try:
        result = pipeline.configure(
            warehouse=str(pipeline.settings.warehouse), landing_dir=zone.location
        ).run("2024-03-01")
    finally:
        proxy.close()
    assert proxy.reset_count == 3
    assert result.success
    assert _retries(pipeline.instance, result.run_id) >= 1
    assert pipeline.count("raw_sales", "2024-03-01") == 200


def test_a_run_on_a_denied_bucket_fails_once_and_logs_no_secret(
    pipeline, aws_env, monkeypatch, caplog, capsys
):
    zone = Zone.s3(aws_env)
    zone.put_frame("2024-03-01/orders.csv", orders("2024-03-01", 20))
    secret = "sales-secret-7f3e9a1c5b2d4e6f"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    aws_env.require_auth(True)
    try:
        result = pipeline.configure(
            warehouse=str(pipeline.settings.warehouse), landing_dir=zone.location
        ).run("2024-03-01")
    finally:
        aws_env.require_auth(False)
    assert not result.success
    assert _retries(pipeline.instance, result.run_id) == 0
    (failure,) = result.get_step_failure_events()
    assert f"bucket '{zone.bucket}'" in failure.step_failure_data.error.message
    logs = [
        str(record.dagster_event or record.user_message)
        for record in pipeline.instance.all_logs(result.run_id)
    ]
    captured = capsys.readouterr()
    assert secret not in "\n".join(logs) + caplog.text + captured.out + captured.err


def test_generate_writes_the_same_files_to_s3(tmp_path, aws_env):
    zone = Zone.s3(aws_env)
    local = tmp_path / "landing"
    for out in (str(local), zone.location):
        args = ["generate", "--start", "2024-02-28", "--days", "2", "--rows-per-day", "300"]
        assert main([*args, "--format", "parquet", "--out", out, "--quiet"]) == 0
    listing = aws_env.client().list_objects_v2(Bucket=zone.bucket)["Contents"]
    assert sorted(o["Key"] for o in listing) == [
        f"{zone.prefix}/2024-02-28/orders.parquet",
        f"{zone.prefix}/2024-02-29/orders.parquet",
    ]  # no temporary object left behind
    for day in (date(2024, 2, 28), date(2024, 2, 29)):
        pd.testing.assert_frame_equal(landing_day(zone.location, day), landing_day(local, day))


def test_generate_to_a_missing_bucket_fails_naming_it(aws_env, capsys):
    out = "s3://no-such-generate-bucket/landing"
    assert main(["generate", "--start", "2024-03-01", "--out", out, "--quiet"]) == 1
    assert "bucket 'no-such-generate-bucket'" in capsys.readouterr().err


TABLES = ("raw_sales", "cleaned_sales", "rejected_sales", "sales_metrics")


def _tables(pipeline) -> dict[str, tuple]:
    """Each table's row count and an order-independent hash of its rows."""
    return {
        table: tuple(
            pipeline.query(
                f"SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0) FROM sales.{table} t"
            ).iloc[0]
        )
        for table in TABLES
    }


def _failure(result) -> str:
    return "\n".join(e.step_failure_data.error.message for e in result.get_step_failure_events())


@pytest.mark.slow  # eight pipeline runs: about 20 s alone, a minute on a busy machine
def test_the_same_days_give_the_same_tables_from_either_store(tmp_path, instance, both):
    from .conftest import Pipeline

    runs = {}
    for zone in both:
        root = tmp_path / ("s3" if zone.is_remote else "local")
        root.mkdir()
        pipeline = Pipeline(root, instance)
        pipeline.configure(
            warehouse=str(root / "warehouse.duckdb"),
            landing_dir=zone.location,
            max_reject_rate=0.2,  # the day's ~13 % of dirty rows do not block its metrics
        )
        results = {
            day: pipeline.run(day)
            for day in ["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04"]
        }
        runs[zone.is_remote] = (
            {day: r.success for day, r in results.items()},
            {day: _failure(r).replace(zone.location, "<root>") for day, r in results.items()},
            _tables(pipeline),
        )
    assert runs[True] == runs[False]
    successes, failures, tables = runs[True]
    assert successes == {
        "2024-03-01": True,
        "2024-03-02": True,
        "2024-03-03": False,
        "2024-03-04": False,
    }
    assert "<root>/2024-03-03/broken.jsonl" in failures["2024-03-03"]
    assert "<root>/2024-03-04 does not exist" in failures["2024-03-04"]
    assert tables["raw_sales"][0] == 825 and tables["cleaned_sales"][0] > 600
    assert tables["sales_metrics"][0] > 0
