"""Pins the Dagster behaviour the project relies on, so an upgrade that changes it fails here.

`sales_assets/dagster_internals.py` is the one module importing `dagster._...`; these tests
exercise each name it exports and the facts about range runs the daily step is built on
(DESIGN: per-day results in runs that carry many days).
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

import pytest
from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSpec,
    AssetKey,
    AssetMaterialization,
    AssetSpec,
    DagsterInstance,
    DailyPartitionsDefinition,
    Failure,
    materialize,
    multi_asset,
)
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionRecordStatus as Status,
)

from sales_assets import dagster_internals as internals
from sales_assets.day_events import target

DAYS = DailyPartitionsDefinition(start_date="2024-01-01")
RANGE = {
    "dagster/asset_partition_range_start": "2024-01-01",
    "dagster/asset_partition_range_end": "2024-01-03",
}
KEY = AssetCheckKey(AssetKey("toy"), "toy_ok")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    SPEC = AssetCheckSpec("toy_ok", asset="toy", partitions_def=DAYS)


def _history(instance: DagsterInstance, day: str):
    return instance.event_log_storage.get_asset_check_execution_history(
        KEY, limit=1, partition_filter=internals.PartitionKeyFilter(key=day)
    )


@multi_asset(
    specs=[AssetSpec("toy", skippable=True)],
    check_specs=[SPEC],
    partitions_def=DAYS,
    name="per_day",
)
def per_day(context):
    """Per day: a materialization, then an evaluation aimed at it; the third day fails."""
    for day in context.partition_keys:
        if day == "2024-01-03":
            raise Failure("third day fails", allow_retries=False)
        yield AssetMaterialization("toy", partition=day)
        yield internals_evaluation(context.instance, day)


def internals_evaluation(instance, day):
    from dagster import AssetCheckEvaluation

    return AssetCheckEvaluation(
        asset_key=AssetKey("toy"),
        check_name="toy_ok",
        passed=True,
        partition=day,
        target_materialization_data=target(instance, AssetKey("toy"), day),
    )


@multi_asset(specs=[AssetSpec("toy")], check_specs=[SPEC], partitions_def=DAYS, name="per_range")
def per_range(context):
    yield AssetCheckResult(check_name="toy_ok", asset_key="toy", passed=True)
    yield AssetMaterialization("toy", partition=context.partition_keys[0])
    from dagster import Output

    yield Output(None, output_name="toy")


def test_a_range_run_records_each_days_evaluation_and_materialization(tmp_path):
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        result = materialize([per_day], instance=instance, tags=RANGE, raise_on_error=False)
        assert not result.success
        assert instance.get_materialized_partitions(AssetKey("toy")) == {"2024-01-01", "2024-01-02"}
        for day in ("2024-01-01", "2024-01-02"):
            (record,) = _history(instance, day)
            assert record.evaluation.passed and record.evaluation.partition == day
            assert record.evaluation.target_materialization_data is not None
            assert record.status == Status.SUCCEEDED


def test_the_days_after_a_raise_show_failed_and_the_finished_ones_materialized(tmp_path):
    """What each asset's Partitions tab shows (the status cache the UI reads)."""
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        materialize([per_day], instance=instance, tags=RANGE, raise_on_error=False)
        days = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]
        statuses = instance.get_status_by_partition(AssetKey("toy"), days, DAYS)
        assert {day: status and status.value for day, status in statuses.items()} == {
            "2024-01-01": "MATERIALIZED",
            "2024-01-02": "MATERIALIZED",
            "2024-01-03": "FAILED",  # planned by the run, never materialized
            "2024-01-04": None,  # outside the run
        }
        current = {
            info.partition_key: info.is_current
            for info in instance.event_log_storage.get_asset_check_partition_info([KEY])
        }
        assert current == {"2024-01-01": True, "2024-01-02": True, "2024-01-03": True}


@multi_asset(
    specs=[AssetSpec("toy", skippable=True)],
    check_specs=[SPEC],
    partitions_def=DAYS,
    can_subset=True,  # as daily_sales: its outputs are optional, events say what happened
    name="per_day_untargeted",
)
def per_day_untargeted(context):
    """Per day: a materialization, then an evaluation that does not say what it judged."""
    from dagster import AssetCheckEvaluation

    for day in context.partition_keys:
        yield AssetMaterialization("toy", partition=day)
        yield AssetCheckEvaluation(
            asset_key=AssetKey("toy"), check_name="toy_ok", passed=True, partition=day
        )


def test_an_evaluation_without_its_target_does_not_count_for_the_day(tmp_path):
    """Why every per-day evaluation carries target_materialization_data: without it, the day's
    result is not current for the day's materialization, and the UI shows the check missing."""
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        assert materialize([per_day_untargeted], instance=instance, tags=RANGE).success
        infos = instance.event_log_storage.get_asset_check_partition_info([KEY])
        assert {i.partition_key: i.latest_execution_status for i in infos} == dict.fromkeys(
            ["2024-01-01", "2024-01-02", "2024-01-03"], Status.SUCCEEDED
        )
        assert not any(info.is_current for info in infos)


def test_a_check_result_in_a_range_run_is_recorded_for_no_day(tmp_path):
    """Why the daily step yields AssetCheckEvaluation per day instead of AssetCheckResult."""
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        result = materialize([per_range], instance=instance, tags=RANGE)
        assert [e.partition for e in result.get_asset_check_evaluations()] == [None]
        for day in ("2024-01-01", "2024-01-02"):
            assert all(r.status != Status.SUCCEEDED for r in _history(instance, day))


def test_cron_helpers():
    assert internals.is_valid_cron_string("0 6 * * *")
    assert not internals.is_valid_cron_string("61 * * * *")
    now = datetime(2024, 3, 2, 7, 0, tzinfo=UTC)
    assert internals.get_latest_completed_cron_tick("0 6 * * *", now, "UTC").hour == 6
    assert internals.get_next_cron_tick("0 6 * * *", now, "UTC").day == 3
    assert internals.get_current_datetime().tzinfo is not None


@pytest.mark.parametrize(
    "name",
    ["DbClient", "DbIOManager", "DbTypeHandler", "TableSlice", "TablePartitionDimension"],
)
def test_the_sql_io_manager_framework_is_where_we_import_it(name):
    assert isinstance(getattr(internals, name), type)


def test_table_metadata_keys():
    metadata = internals.TableMetadataSet(partition_row_count=3)
    assert dict(metadata) == {"dagster/partition_row_count": 3}


def test_run_failure_reason_for_an_interrupted_run():
    assert internals.RunFailureReason.UNEXPECTED_TERMINATION.value == "UNEXPECTED_TERMINATION"
