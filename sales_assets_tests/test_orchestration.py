"""How the days are run (`sales_assets/orchestration.py`): the schedule and the landing-zone
sensor (one day per run), backfills (many days per run), and retries of transient reads,
without `dagster dev`.

Sensors are evaluated with Dagster's own context builders against real folders and a real
temporary instance. The run-failure alert is in test_alerts.py, the freshness sensor in
test_table_checks.py.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dagster import (
    BackfillPolicy,
    DagsterEventType,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    build_schedule_context,
    build_sensor_context,
)

from sales_assets import orchestration
from sales_assets.definitions import build_resources, defs
from sales_assets.orchestration import (
    daily_sales_job,
    daily_sales_schedule,
    landing_zone_sensor,
)
from sales_assets.resources import SalesSource
from sales_assets.settings import SETTINGS
from sales_assets.sources.synthetic import generate_orders

# ---------------------------------------------------------------------------------------------
# Schedule


def _tick(moment: datetime):
    context = build_schedule_context(
        scheduled_execution_time=moment, repository_def=defs.get_repository_def()
    )
    return daily_sales_schedule.evaluate_tick(context)


@pytest.mark.parametrize(
    "moment, day",
    [
        (datetime(2024, 3, 2, 6, 0, tzinfo=UTC), "2024-03-01"),
        # 01:00 in Auckland is still noon of the previous UTC day: that UTC day has not ended yet.
        (datetime(2024, 3, 2, 1, 0, tzinfo=ZoneInfo("Pacific/Auckland")), "2024-02-29"),
        # 23:30 in Los Angeles is already 07:30 UTC the next day.
        (datetime(2024, 3, 1, 23, 30, tzinfo=ZoneInfo("America/Los_Angeles")), "2024-03-01"),
    ],
)
def test_schedule_tick_requests_the_utc_day_that_has_just_ended(moment, day):
    data = _tick(moment)
    assert [(r.partition_key, r.run_key) for r in data.run_requests] == [(day, day)]


def test_schedule_skips_before_the_first_day_and_is_on_by_default():
    data = _tick(datetime(2023, 6, 1, 6, 0, tzinfo=UTC))
    assert not data.run_requests and "no complete day" in data.skip_message
    assert daily_sales_schedule.default_status == DefaultScheduleStatus.RUNNING
    assert daily_sales_schedule.job_name == "daily_sales_job"


def test_schedule_and_backfill_size_come_from_the_settings(tmp_path):
    """A code location loaded with SALES_SCHEDULE_CRON/SALES_TIMEZONE ticks at that local time
    (one day per run), and SALES_BACKFILL_DAYS_PER_RUN sets how many days a backfill run carries."""
    script = (
        "from datetime import datetime; from zoneinfo import ZoneInfo\n"
        "from dagster import AssetKey, build_schedule_context\n"
        "from dagster._utils.schedules import cron_string_iterator\n"
        "from sales_assets.definitions import defs\n"
        "repo = defs.get_repository_def(); s = repo.get_schedule_def('daily_sales_schedule')\n"
        "start = datetime(2024, 3, 1, 12, tzinfo=ZoneInfo('UTC')).timestamp()\n"
        "first = next(cron_string_iterator(start, s.cron_schedule, s.execution_timezone))\n"
        "context = build_schedule_context(scheduled_execution_time=first, repository_def=repo)\n"
        "[request] = s.evaluate_tick(context).run_requests\n"
        "policy = defs.resolve_assets_def(AssetKey('sales_metrics')).backfill_policy\n"
        "print(s.cron_schedule, s.execution_timezone, first.isoformat(), request.partition_key,\n"
        "      policy.policy_type.value, policy.max_partitions_per_run)\n"
    )
    env = {
        **os.environ,
        "SALES_SCHEDULE_CRON": "30 1 * * *",
        "SALES_TIMEZONE": "Europe/Paris",
        "SALES_WAREHOUSE": str(tmp_path / "w.duckdb"),
        "SALES_BACKFILL_DAYS_PER_RUN": "3",
    }
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    # 01:30 in Paris on 2 March is 00:30 UTC: the UTC day 1 March has just ended.
    assert out.stdout.split() == [
        *("30", "1", "*", "*", "*", "Europe/Paris"),
        *("2024-03-02T01:30:00+01:00", "2024-03-01", "MULTI_RUN", "3"),
    ]


def test_backfills_carry_many_days_per_run():
    """Every asset shares the one step, and its backfill policy: SALES_BACKFILL_DAYS_PER_RUN."""
    graph = defs.resolve_asset_graph()
    policies = {
        key.to_user_string(): graph.get(key).backfill_policy for key in graph.get_all_asset_keys()
    }
    assert set(policies.values()) == {BackfillPolicy.multi_run(SETTINGS.backfill_days_per_run)}
    assert SETTINGS.backfill_days_per_run >= 1


# ---------------------------------------------------------------------------------------------
# Landing zone sensor


def _land(landing: Path, day: str, rows: int = 50, name: str = "orders.csv", seed: int = 0) -> Path:
    folder = landing / day
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    generate_orders(date.fromisoformat(day), rows, seed=seed).to_csv(path, index=False)
    return path


def _evaluate(instance, landing: Path | None, cursor: str | None = None):
    source = SalesSource(landing_dir=str(landing) if landing else None, synthetic_rows=0)
    context = build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"source": source},
        repository_def=defs.get_repository_def(),
    )
    return landing_zone_sensor.evaluate_tick(context)


def _requests(data) -> list[tuple[str, str]]:
    return [(r.partition_key, r.run_key) for r in data.run_requests]


def test_new_day_folder_requests_that_day_once(instance, tmp_path):
    landing = tmp_path / "landing"
    _land(landing, "2024-03-01")
    first = _evaluate(instance, landing)
    assert [day for day, _ in _requests(first)] == ["2024-03-01"]
    assert first.run_requests[0].job_name in (None, "daily_sales_job")
    # Next tick with the cursor: nothing new.
    again = _evaluate(instance, landing, first.cursor)
    assert not again.run_requests and "no new or changed" in again.skip_message
    # A fresh cursor (sensor reset) yields the very same run key, which Dagster deduplicates.
    assert _requests(_evaluate(instance, landing)) == _requests(first)


def test_changed_file_gets_a_new_run_key_and_markers_do_not(instance, tmp_path):
    landing = tmp_path / "landing"
    path = _land(landing, "2024-03-01")
    first = _evaluate(instance, landing)
    ((day, key),) = _requests(first)

    (landing / "2024-03-01" / "_SUCCESS").touch()
    (landing / "2024-03-01" / ".DS_Store").touch()
    marker_tick = _evaluate(instance, landing, first.cursor)
    assert _requests(marker_tick) in (
        [],
        [(day, key)],
    )  # same key: deduplicated, never a second run

    generate_orders(date(2024, 3, 1), 60, seed=1).to_csv(
        path, index=False
    )  # a corrected file, in place
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    corrected = _evaluate(instance, landing, marker_tick.cursor)
    assert [d for d, _ in _requests(corrected)] == ["2024-03-01"]
    assert _requests(corrected)[0][1] != key


def test_invalid_folder_names_empty_folders_and_future_days_are_ignored(instance, tmp_path):
    landing = tmp_path / "landing"
    good = _land(tmp_path / "elsewhere", "2024-03-01")
    for name in [
        "2024-13-01",
        "notes",
        "_tmp",
        ".hidden",
        "2023-12-31",
        "2024-3-01",
        "2024-03-01.old",
    ]:
        (landing / name).mkdir(parents=True)
        (landing / name / "orders.csv").write_bytes(good.read_bytes())
    (landing / "2024-03-02").mkdir()  # created, files not arrived yet
    (landing / "README.txt").write_text("not a folder")
    _land(landing, "2999-01-01")
    data = _evaluate(instance, landing)
    assert not data.run_requests
    assert json.loads(data.cursor)["waiting"] == ["2999-01-01"]

    _land(landing, "2024-03-02")  # its files arrive
    assert [d for d, _ in _requests(_evaluate(instance, landing, data.cursor))] == ["2024-03-02"]


def test_copies_keeping_old_modification_times_are_seen(instance, tmp_path):
    """`tar x`, `cp -p`, `rsync -t` restore old mtimes; the sensor still sees the new folder."""
    landing = tmp_path / "landing"
    _land(landing, "2024-03-01")
    first = _evaluate(instance, landing)
    path = _land(tmp_path / "staging", "2024-03-02")
    os.utime(path, ns=(0, 10**18))  # 2001
    os.utime(path.parent, ns=(0, 10**18))
    path.parent.rename(landing / "2024-03-02")
    assert [d for d, _ in _requests(_evaluate(instance, landing, first.cursor))] == ["2024-03-02"]


def test_waiting_day_runs_once_it_becomes_a_partition(instance, tmp_path):
    landing = tmp_path / "landing"
    _land(landing, "2024-03-01")
    cursor = json.dumps(
        {"since_ns": 2**62, "waiting": ["2024-03-01"]}
    )  # seen earlier, as today's folder
    assert [d for d, _ in _requests(_evaluate(instance, landing, cursor))] == ["2024-03-01"]


def test_work_per_tick_is_bounded(instance, tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    for day in ["2024-03-01", "2024-03-02", "2024-03-03"]:
        _land(landing, day)
        time.sleep(
            0.05
        )  # past the file system's clock granularity: each folder has its own change time
    monkeypatch.setattr(orchestration, "MAX_RUN_REQUESTS_PER_TICK", 2)
    first = _evaluate(instance, landing)
    second = _evaluate(instance, landing, first.cursor)
    third = _evaluate(instance, landing, second.cursor)
    assert [d for d, _ in _requests(first)] == ["2024-03-01", "2024-03-02"]
    assert [d for d, _ in _requests(second)] == ["2024-03-03"]
    assert not third.run_requests


def test_waiting_day_cut_by_the_bound_is_not_lost(instance, tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    _land(landing, "2024-03-01")
    time.sleep(0.05)
    _land(landing, "2024-03-02")
    monkeypatch.setattr(orchestration, "MAX_RUN_REQUESTS_PER_TICK", 1)
    # Both folders were future days at the last tick, and nothing changed since.
    first = _evaluate(
        instance, landing, json.dumps({"since_ns": 2**62, "waiting": ["2024-03-01", "2024-03-02"]})
    )
    second = _evaluate(instance, landing, first.cursor)
    assert [d for d, _ in _requests(first) + _requests(second)] == ["2024-03-01", "2024-03-02"]


def test_sensor_without_landing_dir_skips_with_a_reason(instance):
    data = _evaluate(instance, None)
    assert not data.run_requests and "SALES_LANDING_DIR is not set" in data.skip_message
    expected = DefaultSensorStatus.RUNNING if SETTINGS.landing_dir else DefaultSensorStatus.STOPPED
    assert landing_zone_sensor.default_status == expected


# ---------------------------------------------------------------------------------------------
# Retries of transient reads


class FlakySource(SalesSource):
    """The synthetic source behind a share that fails the first read with EIO."""

    marker: str

    def read_day(self, day):
        if not os.path.exists(self.marker):
            Path(self.marker).touch()
            raise OSError(errno.EIO, "Input/output error", "/mnt/share/landing")
        return super().read_day(day)


def _retries(instance, run_id) -> int:
    return len(instance.all_logs(run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY))


def test_transient_read_error_is_retried(pipeline, tmp_path):
    settings = pipeline.configure(synthetic_rows=300).settings
    resources = {
        **build_resources(settings),
        "source": FlakySource(synthetic_rows=300, marker=str(tmp_path / "failed-once")),
    }
    job = Definitions(
        assets=defs.assets,
        asset_checks=defs.asset_checks,
        jobs=[daily_sales_job],
        resources=resources,
    ).resolve_job_def("daily_sales_job")
    result = job.execute_in_process(
        partition_key="2024-03-01", instance=pipeline.instance, raise_on_error=False
    )
    assert result.success
    assert _retries(pipeline.instance, result.run_id) == 1
    assert pipeline.count("raw_sales", "2024-03-01") == 300


def test_bad_landing_file_is_not_retried(pipeline, tmp_path):
    landing = tmp_path / "landing"
    folder = landing / "2024-03-01"
    folder.mkdir(parents=True)
    (folder / "orders.csv").write_text("order_id,product\n1,widget\n")
    result = pipeline.configure(landing_dir=landing).run("2024-03-01")
    assert not result.success
    assert _retries(pipeline.instance, result.run_id) == 0
    (failure,) = result.get_step_failure_events()
    assert "orders.csv" in failure.step_failure_data.user_failure_data.description


def test_transient_landing_read_error_is_retried(pipeline, tmp_path, monkeypatch):
    """An EIO while reading a landing file is the share's fault, not the file's: retried."""
    from sales_assets.sources.landing import LandingFile

    folder = tmp_path / "landing" / "2024-03-01"
    folder.mkdir(parents=True)
    (folder / "orders.csv").write_text(
        "order_id,order_ts,product,region,quantity,unit_price\n"
        "1,2024-03-01T10:00:00Z,widget,north,2,3.50\n"
    )
    real_open, calls = LandingFile.open, []

    def flaky_open(file, compression=None):
        calls.append(file.path)
        if len(calls) == 1:
            raise OSError(errno.EIO, "Input/output error", file.path)
        return real_open(file, compression)

    monkeypatch.setattr(LandingFile, "open", flaky_open)
    result = pipeline.configure(landing_dir=tmp_path / "landing").run("2024-03-01")
    assert result.success
    assert _retries(pipeline.instance, result.run_id) == 1
    assert pipeline.count("cleaned_sales", "2024-03-01") == 1
