"""Run-failure alerts (`sales_assets/alerts.py`) and the sensor that sends them.

Failed runs are real runs in a real temporary instance; alerts go to a real HTTP server on
127.0.0.1, through `run_failure_alert` evaluated the way the daemon does.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from dagster import (
    DagsterEventType,
    DagsterRunStatus,
    DefaultSensorStatus,
    SensorEvaluationContext,
    build_run_status_sensor_context,
)
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from sales_assets.alerts import AlertWebhook, failed_checks, failure_alert, post_alert, step_error
from sales_assets.definitions import defs
from sales_assets.orchestration import run_failure_alert
from sales_assets.resources import Monitoring

from .helpers import write_day, write_garbage_day

DAY = "2024-03-01"


class Receiver(BaseHTTPRequestHandler):
    """Answers each POST with the next status of `statuses` (200 when none are left)."""

    bodies: list = []
    statuses: list = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        length = int(self.headers["Content-Length"])
        body = json.loads(self.rfile.read(length))
        type(self).bodies.append((self.path, self.headers["Content-Type"], body))
        self.send_response(type(self).statuses.pop(0) if type(self).statuses else 200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    Receiver.bodies, Receiver.statuses = [], []
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/T000/SECRET", Receiver
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def dead_url() -> tuple[str, int]:
    with socket.socket() as probe:  # a port nobody listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks/T000/SECRET", port


def per_day(names: list[str]) -> list[str]:
    """The failed per-day checks (`asset:check@day`); whole-table checks carry no day."""
    return [name for name in names if "@" in name]


def blocked_day_run(pipeline, day: str = DAY):
    """A run of one day whose rejection_rate check blocks it (no rejects allowed)."""
    result = pipeline.configure(synthetic_rows=300, max_reject_rate=0.0).run(day)
    assert not result.success
    return pipeline.instance.get_run_by_id(result.run_id)


def resources(url: str) -> dict:
    """The sensor's resources: the webhook, and no Pushgateway."""
    return {"alerts": AlertWebhook(url=url, timeout_seconds=5), "monitoring": Monitoring(url=None)}


def alert_tick(instance, url: str, cursor: str | None = None) -> str | None:
    """One evaluation of the sensor as the daemon does it: from the code location `sales_assets`,
    read the instance's run failures after `cursor`."""
    repository = defs.get_repository_def()
    context = SensorEvaluationContext(
        instance_ref=None,
        instance=instance,
        cursor=cursor,
        repository_def=repository,
        repository_name=repository.name,
        resources=resources(url),
        code_location_origin=InProcessCodeLocationOrigin(
            LoadableTargetOrigin(python_file=None, module_name="sales_assets.definitions"),
            location_name="sales_assets",
        ),
    )
    run_failure_alert.evaluate_tick(context)
    return context.cursor


def test_a_blocked_day_alert_names_the_step_the_check_and_the_day(pipeline):
    run = blocked_day_run(pipeline)
    failures = [
        r.dagster_event
        for r in pipeline.instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_FAILURE)
    ]
    alert = failure_alert(pipeline.instance, run, failures, "run failed")
    assert alert["run_id"] == run.run_id and alert["job"] == run.job_name
    assert alert["day"] == DAY and alert["failed_steps"] == ["daily_sales"]
    assert per_day(alert["failed_checks"]) == [f"cleaned_sales:rejection_rate@{DAY}"]
    assert alert["error"].startswith("daily_sales: 1 of 1 day(s) not loaded")
    assert f"day {DAY} blocked by rejection_rate" in alert["error"]
    assert alert["text"].startswith(f"Dagster run failed: {run.job_name} for day {DAY}")
    assert "dagster._core" not in alert["error"]  # the sentence, not the framework's trace
    assert step_error(failures[0]) == alert["error"].removeprefix("daily_sales: ")


def test_a_range_runs_alert_names_the_bad_day_and_its_check(pipeline):
    landing = pipeline.root / "landing"
    for day in ("2024-03-01", "2024-03-02", "2024-03-03"):
        write_day(landing, day, rows=200)
    write_garbage_day(landing, "2024-03-02", rows=200)
    result = pipeline.configure(landing_dir=landing).run_range("2024-03-01", "2024-03-03")
    assert not result.success
    run = pipeline.instance.get_run_by_id(result.run_id)
    assert per_day(failed_checks(pipeline.instance, run.run_id)) == [
        "cleaned_sales:rejection_rate@2024-03-02"
    ]
    alert = failure_alert(pipeline.instance, run, result.get_step_failure_events(), "")
    assert alert["error"].startswith("daily_sales: 1 of 3 day(s) not loaded")
    assert "day 2024-03-02 blocked by rejection_rate" in alert["error"]
    assert "2024-03-01" not in alert["error"] and "2024-03-03" not in alert["error"]


def test_a_failed_run_alert_arrives_as_json(pipeline, webhook):
    url, receiver = webhook
    cursor = alert_tick(pipeline.instance, url)  # first tick: starts after the runs already there
    run = blocked_day_run(pipeline)  # executed in-process, as `sales-assets backfill` does
    assert run.status == DagsterRunStatus.FAILURE
    alert_tick(pipeline.instance, url, cursor)
    [(path, content_type, alert)] = receiver.bodies
    assert path == "/hooks/T000/SECRET" and content_type == "application/json"
    assert alert["run_id"] == run.run_id and alert["day"] == DAY
    assert alert["failed_steps"] == ["daily_sales"]
    assert f"cleaned_sales:rejection_rate@{DAY}" in alert["failed_checks"]
    assert DAY in alert["text"] and run.run_id in alert["text"]


def test_post_alert_retries_server_errors_but_not_refusals(webhook):
    url, receiver = webhook
    receiver.statuses = [503, 502]
    assert post_alert(url, {"run_id": "r1", "text": "x"}, timeout=5) is None
    assert len(receiver.bodies) == 3  # two 5xx, then delivered

    receiver.bodies, receiver.statuses = [], [403]
    problem = post_alert(url, {"run_id": "r2", "text": "x"}, timeout=5)
    assert len(receiver.bodies) == 1  # the receiver refused this alert: asking again won't help
    assert "HTTP 403" in problem and "r2" in problem and "SECRET" not in problem


def test_an_undeliverable_alert_is_logged_not_raised(pipeline, capsys):
    url, port = dead_url()
    run = blocked_day_run(pipeline)
    event = pipeline.instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_FAILURE)[0]
    context = build_run_status_sensor_context(
        sensor_name="run_failure_alert",
        dagster_event=event.dagster_event,
        dagster_instance=pipeline.instance,
        dagster_run=run,
        resources=resources(url),
    ).for_run_failure()
    capsys.readouterr()
    run_failure_alert(context)  # must not raise
    logged = capsys.readouterr().err  # the sensor's log (the daemon keeps it with the tick)
    assert "not delivered" in logged and f"127.0.0.1:{port}/***" in logged
    assert "SECRET" not in logged

    problem = post_alert(url, {"run_id": run.run_id, "text": "x"}, timeout=2, attempts=1)
    assert f"127.0.0.1:{port}/***" in problem and "SECRET" not in problem
    assert run.run_id in problem


def test_the_alert_sensor_watches_every_run_and_is_on_by_default():
    sensor = defs.get_repository_def().get_sensor_def("run_failure_alert")
    assert sensor.default_status == DefaultSensorStatus.RUNNING
