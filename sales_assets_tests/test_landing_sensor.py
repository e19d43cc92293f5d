"""The landing sensor keys a day by its listing: on S3 (moto's standalone server) and in the
cursor logic both stores share (whole-second and out-of-order modification times)."""

from __future__ import annotations

import time
from datetime import date

import pytest
from dagster import build_sensor_context

from sales_assets.definitions import defs
from sales_assets.orchestration import landing_zone_sensor
from sales_assets.resources import SalesSource
from sales_assets.sources.landing import LandingError, landing_day
from sales_assets.sources.landing_zone import DayFolder, LandingCursor, next_requests
from sales_assets.sources.synthetic import generate_orders

from .landing_zones import Zone

S = 10**9  # one second in ns


def _evaluate(instance, location: str, cursor: str | None = None):
    context = build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"source": SalesSource(landing_dir=location, synthetic_rows=0)},
        repository_def=defs.get_repository_def(),
    )
    return landing_zone_sensor.evaluate_tick(context)


def _requests(data) -> list[tuple[str, str]]:
    return [(r.partition_key, r.run_key) for r in data.run_requests]


def _orders(day: str, rows: int = 40, seed: int = 0) -> bytes:
    return generate_orders(date.fromisoformat(day), rows, seed=seed).to_csv(index=False).encode()


@pytest.mark.e2e
def test_s3_day_is_keyed_by_its_listing(instance, aws_env):
    zone = Zone.s3(aws_env)
    zone.put("2024-03-01/orders.csv", _orders("2024-03-01"))
    zone.put("notes/2024-03-02/orders.csv", _orders("2024-03-02"))  # not a day prefix
    zone.put("2024-03-03/_SUCCESS", b"")  # markers only: nothing to run yet

    first = _evaluate(instance, zone.location)
    ((day, key),) = _requests(first)
    assert day == "2024-03-01" and key.startswith("2024-03-01:")
    again = _evaluate(instance, zone.location, first.cursor)
    assert not again.run_requests and "no new or changed" in again.skip_message
    assert _requests(_evaluate(instance, zone.location)) == [(day, key)]  # same files, same key

    zone.put("2024-03-01/_SUCCESS", b"")
    marker = _evaluate(instance, zone.location, again.cursor)
    assert _requests(marker) == []

    zone.put("2024-03-01/orders.csv", _orders("2024-03-01", rows=41))  # corrected: new size
    corrected = _evaluate(instance, zone.location, marker.cursor)
    ((_, new_key),) = _requests(corrected)
    assert new_key != key

    time.sleep(1.1)  # LastModified has whole seconds: a same-size rewrite a second later
    zone.put("2024-03-01/orders.csv", _orders("2024-03-01", rows=41, seed=1))
    rewritten = _evaluate(instance, zone.location, corrected.cursor)
    ((_, rewritten_key),) = _requests(rewritten)
    assert rewritten_key not in (key, new_key)


@pytest.mark.e2e
def test_s3_scan_reads_listings_only(instance, aws_env):
    """With list rights and no read rights, the sensor still keys the day; the loader cannot."""
    zone = Zone.s3(aws_env)
    zone.put("2024-03-01/orders.csv", _orders("2024-03-01"))
    keys = aws_env.iam_user("s3:ListBucket", f"arn:aws:s3:::{zone.bucket}")
    with pytest.MonkeyPatch.context() as env:
        for name, value in keys.items():
            env.setenv(name, value)
        aws_env.require_auth(True)
        try:
            _server_authorizes_listing_as_aws_does(aws_env, zone.bucket)
            requested = _requests(_evaluate(instance, zone.location))
            with pytest.raises(LandingError, match=f"access to bucket '{zone.bucket}' denied"):
                landing_day(zone.location, date(2024, 3, 1))
        finally:
            aws_env.require_auth(False)
    assert [day for day, _ in requested] == ["2024-03-01"]


def _server_authorizes_listing_as_aws_does(aws_env, bucket: str) -> None:
    """AWS authorizes ListObjectsV2 with the IAM action s3:ListBucket; moto 5.2.6 asks for
    s3:ListObjectsV2, an action AWS does not have, and refuses the listing (pyproject.toml
    excludes it). Fail naming the test server, not the sensor, if a version does so again."""
    import boto3
    import botocore.exceptions

    client = boto3.session.Session().client("s3", endpoint_url=aws_env.endpoint)
    try:
        client.list_objects_v2(Bucket=bucket)
    except botocore.exceptions.ClientError as error:
        pytest.fail(f"the S3 test server refuses ListObjectsV2 to an s3:ListBucket grant: {error}")


@pytest.mark.e2e
def test_s3_sensor_on_a_missing_bucket_fails_naming_it(instance, aws_env):
    with pytest.raises(Exception, match="bucket 'no-such-sensor-bucket'.*does not exist"):
        _evaluate(instance, "s3://no-such-sensor-bucket/landing")


# -- the cursor: a high-water mark over change times, a lookback, the keys already requested ----

DAYS = ("2024-01-01", "2024-12-31")


def _plan(folders, cursor: LandingCursor | None = None, lookback=2 * S, limit=100):
    batch, following = next_requests(folders, cursor or LandingCursor(), DAYS, limit, lookback)
    return [f.day for f in batch], following


def test_a_day_landing_in_the_same_second_after_a_tick_is_not_lost():
    a = DayFolder("2024-03-01", "k1", changed_ns=100 * S)
    days, cursor = _plan([a])
    assert days == ["2024-03-01"]
    b = DayFolder("2024-03-02", "k2", changed_ns=100 * S)  # LastModified truncated to the mark
    assert _plan([a, b], cursor)[0] == ["2024-03-02"]
    days, cursor = _plan([a, b], cursor)
    assert _plan([a, b], cursor)[0] == []  # each requested once
    assert LandingCursor.parse(cursor.dumps()) == cursor


def test_an_object_stamped_before_the_mark_is_seen_within_the_lookback():
    """A multipart upload is stamped with its start: it may appear after newer objects."""
    a = DayFolder("2024-03-01", "k1", changed_ns=100 * S)
    _, cursor = _plan([a], lookback=900 * S)
    late = DayFolder("2024-03-02", "k2", changed_ns=40 * S)
    assert _plan([a, late], cursor, lookback=900 * S)[0] == ["2024-03-02"]
    assert _plan([a, late], cursor, lookback=30 * S)[0] == []  # beyond the lookback: not seen


def test_a_changed_key_near_the_mark_runs_again_and_old_keys_are_forgotten():
    a = DayFolder("2024-03-01", "k1", changed_ns=100 * S)
    _, cursor = _plan([a])
    assert dict(cursor.recent) == {"2024-03-01": "k1"}
    edited = DayFolder("2024-03-01", "k2", changed_ns=100 * S)  # e.g. a file deleted on S3
    days, cursor = _plan([edited], cursor)
    assert days == ["2024-03-01"] and dict(cursor.recent) == {"2024-03-01": "k2"}
    b = DayFolder("2024-03-02", "k3", changed_ns=200 * S)
    _, cursor = _plan([edited, b], cursor)
    assert dict(cursor.recent) == {"2024-03-02": "k3"}  # 2024-03-01 is behind the lookback


def test_future_days_wait_and_the_bound_keeps_the_rest_for_later():
    folders = [DayFolder(f"2024-03-0{i}", f"k{i}", changed_ns=i * S) for i in range(1, 5)]
    folders.append(DayFolder("2025-01-01", "k9", changed_ns=S))
    days, cursor = _plan(folders, limit=2)
    assert days == ["2024-03-01", "2024-03-02"] and cursor.waiting == {"2025-01-01"}
    assert _plan(folders, cursor, limit=2)[0] == ["2024-03-03", "2024-03-04"]


def test_a_landing_folder_gone_since_loading_fails_the_tick_naming_it(instance, tmp_path):
    with pytest.raises(Exception, match=f"landing folder {tmp_path / 'gone'} does not exist"):
        _evaluate(instance, str(tmp_path / "gone"))
