"""Whole-table checks on sales_metrics (`sales_assets/checks/table.py`): freshness judged by
the clock and its sensor, completeness once per run; both against a real instance."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import UTC, datetime

import pytest
from dagster import (
    AssetCheckSeverity,
    AssetMaterialization,
    AssetSelection,
    DagsterInstance,
    SensorResult,
    SkipReason,
    build_sensor_context,
    materialize,
)

from sales_assets.checks.whole_table import (
    SALES_METRICS_COMPLETE,
    SALES_METRICS_FRESH,
    completeness,
    freshness,
)
from sales_assets.contracts import REQUIRED_COLUMNS
from sales_assets.definitions import build_resources, defs
from sales_assets.orchestration import sales_metrics_freshness_sensor

from .conftest import ASSETS
from .helpers import BIN, check_record, clean_env, day_dir, freeze_time, write_day

UTC = UTC
DEADLINE = "0 8 * * *"  # the default SALES_FRESHNESS_DEADLINE_CRON: 08:00 UTC
LATE = datetime(2024, 3, 2, 9, 0, tzinfo=UTC)  # an hour past the deadline for 1 March
FRESH, COMPLETE = SALES_METRICS_FRESH.name, SALES_METRICS_COMPLETE.name


def loaded(instance: DagsterInstance, *days: str) -> None:
    """Record sales_metrics as materialized for `days`, as a run of each day would."""
    for day in days:
        instance.report_runless_asset_event(AssetMaterialization("sales_metrics", partition=day))


def latest(instance: DagsterInstance, check: str):
    return check_record(instance, "sales_metrics", check, None).evaluation


# -- freshness, by the clock -------------------------------------------------------------------


def test_freshness_expects_the_day_that_ended_before_the_last_deadline(instance):
    stale = freshness(instance, LATE, DEADLINE)
    assert not stale.passed and stale.severity == AssetCheckSeverity.ERROR
    assert stale.metadata["expected_day"] == "2024-03-01"
    assert stale.metadata["overdue_seconds"] == 3600
    assert "| 2024-03-01 | False" in stale.metadata["recent_days"].value
    assert stale.summary.startswith(
        "sales_metrics lacks 2024-03-01: it was due by 2024-03-02 08:00"
    )
    before_deadline = freshness(instance, datetime(2024, 3, 2, 7, 59, tzinfo=UTC), DEADLINE)
    assert before_deadline.metadata["expected_day"] == "2024-02-29"


def test_freshness_names_the_newest_day_loaded(instance):
    loaded(instance, "2024-02-27", "2024-02-28")
    stale = freshness(instance, LATE, DEADLINE)
    assert not stale.passed
    assert stale.metadata["newest_day_loaded"] == "2024-02-28"
    assert stale.summary.endswith("newest day loaded: 2024-02-28")


def test_a_rerun_of_an_old_day_does_not_change_the_freshness_verdict(instance):
    loaded(instance, "2024-02-29")
    stale = freshness(instance, LATE, DEADLINE)
    loaded(instance, "2024-02-10")  # re-run of an old day: the latest materialization now
    assert freshness(instance, LATE, DEADLINE) == stale
    loaded(instance, "2024-03-01")  # the nightly load lands
    fresh = freshness(instance, LATE, DEADLINE)
    assert fresh.passed, fresh.summary
    assert fresh.metadata["fresh_until"].value == datetime(2024, 3, 3, 8, tzinfo=UTC).timestamp()
    loaded(instance, "2024-02-10")
    again = freshness(instance, LATE, DEADLINE)
    assert again.passed and again.metadata["newest_day_loaded"] == "2024-03-01"


def test_freshness_before_the_first_day_has_ended_passes_saying_so(instance):
    early = freshness(instance, datetime(2024, 1, 1, 9, tzinfo=UTC), DEADLINE)
    assert early.passed and "no day has ended before the deadline" in early.summary


def test_freshness_is_left_out_of_the_daily_job():
    job = defs.resolve_job_def("daily_sales_job")
    names = {key.name for key in job.asset_layer.asset_graph.asset_check_keys}
    assert COMPLETE in names and FRESH not in names


# -- the freshness sensor ------------------------------------------------------------------


def tick(instance: DagsterInstance, now: datetime):
    """One sensor tick at `now`, handled as the daemon does: its check results are recorded."""
    with freeze_time(now):
        outcome = sales_metrics_freshness_sensor(build_sensor_context(instance=instance))
    if isinstance(outcome, SensorResult):
        for event in outcome.asset_events:
            instance.report_runless_asset_event(event)
        assert not outcome.run_requests  # evaluated in the tick: no run to queue behind backfills
    return outcome


def test_freshness_sensor_flags_a_missed_nightly_load_and_clears_once_it_lands(pipeline):
    instance = pipeline.configure(synthetic_rows=200).instance
    assert sales_metrics_freshness_sensor.default_status.value == "RUNNING"

    assert isinstance(tick(instance, LATE), SensorResult)  # nothing ever ran
    assert not latest(instance, FRESH).passed
    assert isinstance(tick(instance, LATE), SkipReason)  # same verdict: nothing new recorded

    assert pipeline.run("2024-02-29").success  # an older day does not make it fresh
    assert isinstance(tick(instance, LATE), SkipReason)
    assert not latest(instance, FRESH).passed

    assert pipeline.run("2024-03-01").success  # the nightly load lands
    assert isinstance(tick(instance, LATE), SensorResult)
    assert latest(instance, FRESH).passed
    assert isinstance(tick(instance, datetime(2024, 3, 3, 7, 59, tzinfo=UTC)), SkipReason)

    next_deadline_passed = datetime(2024, 3, 3, 8, 5, tzinfo=UTC)  # no run on the 3rd
    assert isinstance(tick(instance, next_deadline_passed), SensorResult)
    overdue = latest(instance, FRESH)
    assert not overdue.passed and overdue.metadata["expected_day"].value == "2024-03-02"
    history = instance.event_log_storage.get_asset_check_execution_history(
        SALES_METRICS_FRESH.key, limit=10
    )
    assert [r.evaluation.passed for r in history] == [False, True, False]
    assert {r.run_id for r in history} == {""}  # judged in the sensor's tick, never in a run


def test_the_freshness_check_run_from_the_ui_agrees_with_the_sensor(pipeline):
    assert pipeline.configure(synthetic_rows=200).run("2024-03-01").success
    with freeze_time(datetime(2024, 3, 2, 8, 30, tzinfo=UTC)):
        result = materialize(
            ASSETS,
            selection=AssetSelection.checks(SALES_METRICS_FRESH.key),
            resources=build_resources(pipeline.settings),
            instance=pipeline.instance,
        )
    assert result.success
    assert latest(pipeline.instance, FRESH).passed
    later = datetime(2024, 3, 2, 8, 35, tzinfo=UTC)
    assert isinstance(tick(pipeline.instance, later), SkipReason)


@pytest.mark.e2e
@pytest.mark.slow
def test_the_daemon_runs_the_freshness_sensor_by_default(tmp_path):
    """A real `dagster-daemon` with the repo's dagster.yaml, no click: the sensor records a verdict."""
    from sales_assets.settings import REPO_ROOT

    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    env = clean_env(home, SALES_WAREHOUSE=str(tmp_path / "warehouse.duckdb"))
    with DagsterInstance.from_config(str(home)):  # storage created once, before the daemon
        pass
    log = (tmp_path / "daemon.log").open("wb")
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-m", "sales_assets.definitions"],
        env=env,
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        with DagsterInstance.from_config(str(home)) as instance:
            deadline = time.monotonic() + 180
            while not (record := check_record(instance, "sales_metrics", FRESH, None)):
                tail = (tmp_path / "daemon.log").read_text(errors="replace")[-3000:]
                assert daemon.poll() is None, f"dagster-daemon exited:\n{tail}"
                assert time.monotonic() < deadline, f"no freshness verdict in 180 s:\n{tail}"
                time.sleep(2)
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)
        log.close()
    assert record.run_id == ""  # evaluated in the sensor tick, no run launched
    assert not record.evaluation.passed  # nothing was ever loaded into this warehouse
    assert "sales_metrics lacks" in record.evaluation.description


# -- completeness ------------------------------------------------------------------------------


def test_completeness_lists_missing_days_and_ranges():
    days = [f"2024-01-{d:02d}" for d in range(1, 31)]
    with_rows = set(days) - {"2024-01-03", "2024-01-05"} - {f"2024-01-{d}" for d in range(10, 31)}
    found = completeness(days, with_rows, materialized={"2024-01-05"})
    assert not found.passed and found.severity == AssetCheckSeverity.WARN
    assert found.metadata["missing_days"] == 22
    assert found.metadata["zero_sales_days"] == 1
    assert found.metadata["days_with_metrics"] == 7
    assert found.metadata["newest_day_loaded"] == "2024-01-09"
    ranges = found.metadata["missing_ranges"].value
    assert "| 2024-01-03 | 2024-01-03 |      1 |" in ranges
    assert "| 2024-01-10 | 2024-01-30 |     21 |" in ranges
    assert found.summary.startswith("22 of 30 days 2024-01-01..2024-01-30 have no metrics")
    assert found.summary.endswith("newest day loaded: 2024-01-09")
    whole = completeness(days, set(days) - {"2024-01-05"}, materialized={"2024-01-05"})
    assert whole.passed and whole.summary == (
        "all 30 days 2024-01-01..2024-01-30 have metrics (1 of them zero-sales)"
    )


def test_completeness_once_per_run_counts_gaps_and_zero_sales_days(pipeline):
    landing = pipeline.root / "landing"
    for day in ("2024-01-01", "2024-01-02", "2024-01-04"):
        write_day(landing, day, rows=200)
    zero = day_dir(landing, "2024-01-05") / "orders.csv"
    zero.write_text(",".join(REQUIRED_COLUMNS) + "\n")  # a real zero-sales day
    pipeline.configure(landing_dir=landing)

    with freeze_time(datetime(2024, 1, 6, 9, 0, tzinfo=UTC)):
        gap = pipeline.run_range("2024-01-01", "2024-01-05")  # 2024-01-03 has not arrived
        assert not gap.success
        found = latest(pipeline.instance, COMPLETE)
        assert not found.passed and found.severity == AssetCheckSeverity.WARN
        assert found.metadata["missing_days"].value == 1
        assert "| 2024-01-03 | 2024-01-03 |" in found.metadata["missing_ranges"].value
        assert found.metadata["zero_sales_days"].value == 1
        assert found.metadata["days_with_metrics"].value == 3
        assert [e.check_name for e in gap.get_asset_check_evaluations() if not e.partition] == [
            COMPLETE
        ]

        write_day(landing, "2024-01-03", rows=200)
        assert pipeline.run("2024-01-03").success
    closed = latest(pipeline.instance, COMPLETE)
    assert closed.passed and closed.metadata["expected_days"].value == 5, closed.description


def test_completeness_can_run_alone_as_from_the_ui(pipeline):
    assert pipeline.configure(synthetic_rows=200).run("2024-01-01").success
    with freeze_time(datetime(2024, 1, 3, 12, tzinfo=UTC)):
        result = materialize(
            ASSETS,
            selection=AssetSelection.checks(SALES_METRICS_COMPLETE.key),
            resources=build_resources(pipeline.settings),
            instance=pipeline.instance,
        )
    assert result.success
    assert result.get_asset_materialization_events() == []  # judged only: nothing loaded
    alone = latest(pipeline.instance, COMPLETE)
    assert not alone.passed and alone.metadata["missing_days"].value == 1
    assert "2024-01-02" in alone.metadata["missing_ranges"].value
