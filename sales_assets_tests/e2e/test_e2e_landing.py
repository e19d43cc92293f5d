"""End to end: the daemon's landing-zone sensor and run-failure alert on a real `dagster dev`.

Files dropped into SALES_LANDING_DIR are picked up by `landing_zone_sensor`; a day whose file
lacks a required column fails, and `run_failure_alert` POSTs the alert to a small HTTP server
this module runs on 127.0.0.1; correcting the file runs the day again. One dagster dev serves
the module; both day folders are dropped as soon as it is up, so the sensor intervals overlap.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sales_assets.sources.synthetic import generate_orders

from .dagster_dev import count_rows, running_dagster_dev, wait_for

GOOD_DAY, BAD_DAY = "2024-05-01", "2024-05-02"
ROWS = 600
SENSOR_WAIT = 150  # the sensor ticks every 30 s; a run takes ~10 s


class Webhook:
    """Collects the JSON bodies POSTed to http://127.0.0.1:<port>/alerts."""

    def __init__(self):
        self.received: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.received.append({"path": self.path, "json": json.loads(body)})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def drop_day(landing: Path, day: str, frame) -> None:
    """Write a day folder the way an uploader should: a `_` temp name, then an atomic rename."""
    folder = landing / day
    folder.mkdir(exist_ok=True)
    partial = folder / "_orders.csv.partial"
    frame.to_csv(partial, index=False)
    partial.replace(folder / "orders.csv")


@pytest.fixture(scope="module")
def webhook():
    hook = Webhook()
    yield hook
    hook.server.shutdown()


@pytest.fixture(scope="module")
def dev(tmp_path_factory, webhook):
    tmp = tmp_path_factory.mktemp("e2e_landing")
    landing = tmp / "landing"
    landing.mkdir()
    env = {
        "SALES_LANDING_DIR": str(landing),
        "SALES_ALERT_WEBHOOK_URL": webhook.url,
        "SALES_SCHEDULE_CRON": "0 0 1 1 *",  # keep the daily schedule out of this module
    }
    with running_dagster_dev(tmp, env) as dev:
        dev.warehouse, dev.landing = tmp / "warehouse.duckdb", landing
        # The good day through the project's own generator CLI; the bad day lacks `quantity`.
        subprocess.run(
            [
                str(Path(sys.executable).with_name("sales-assets")),
                "generate",
                "--start",
                GOOD_DAY,
                "--rows-per-day",
                str(ROWS),
                "--out",
                str(landing),
                "--quiet",
            ],
            check=True,
            timeout=120,
        )
        drop_day(
            landing,
            BAD_DAY,
            generate_orders(date.fromisoformat(BAD_DAY), ROWS).drop(columns=["quantity"]),
        )
        yield dev


def sensor_runs(dev, day: str) -> list[dict]:
    return dev.runs(tags={"dagster/sensor_name": "landing_zone_sensor", "dagster/partition": day})


def test_the_sensors_are_on(dev):
    sensors = dev.instigators()["sensors"]
    assert sensors["landing_zone_sensor"]["sensorState"]["status"] == "RUNNING"
    assert sensors["run_failure_alert"]["sensorState"]["status"] == "RUNNING"


def test_a_new_day_folder_is_run_by_the_sensor(dev):
    [run] = wait_for(
        f"landing_zone_sensor to request {GOOD_DAY}",
        lambda: sensor_runs(dev, GOOD_DAY),
        SENSOR_WAIT,
        3,
    )
    done = dev.wait_run(run["runId"], timeout=180)
    assert done["status"] == "SUCCESS", done
    assert count_rows(dev.warehouse, "raw_sales", GOOD_DAY) == ROWS
    assert count_rows(dev.warehouse, "sales_metrics", GOOD_DAY) > 0


def test_a_failed_run_posts_an_alert(dev, webhook):
    [run] = wait_for(
        f"landing_zone_sensor to request {BAD_DAY}",
        lambda: sensor_runs(dev, BAD_DAY),
        SENSOR_WAIT,
        3,
    )
    failed = dev.wait_run(run["runId"], timeout=180)
    assert failed["status"] == "FAILURE", failed

    def alert():
        return [a["json"] for a in webhook.received if a["json"].get("run_id") == run["runId"]]

    [payload] = wait_for(
        f"the alert for run {run['runId']} at {webhook.url}", alert, timeout=120, interval=2
    )
    assert payload["day"] == BAD_DAY and payload["job"] == failed["jobName"]
    assert payload["failed_steps"] == ["daily_sales"], payload
    assert payload["error"].startswith("daily_sales: 1 of 1 day(s) not loaded"), payload["error"]
    assert "quantity" in payload["error"] and "orders.csv" in payload["error"], payload["error"]
    assert run["runId"] in payload["text"] and BAD_DAY in payload["text"]
    assert count_rows(dev.warehouse, "sales_metrics", BAD_DAY) == 0


def test_a_corrected_file_runs_again_and_unchanged_folders_do_not(dev):
    drop_day(dev.landing, BAD_DAY, generate_orders(date.fromisoformat(BAD_DAY), ROWS))

    def rerun():
        runs = sensor_runs(dev, BAD_DAY)
        return runs[0] if len(runs) == 2 else None  # newest first

    run = wait_for(f"landing_zone_sensor to rerun corrected {BAD_DAY}", rerun, SENSOR_WAIT, 3)
    done = dev.wait_run(run["runId"], timeout=180)
    assert done["status"] == "SUCCESS", done
    assert count_rows(dev.warehouse, "raw_sales", BAD_DAY) == ROWS
    assert count_rows(dev.warehouse, "sales_metrics", BAD_DAY) > 0
    # The tick that saw the correction also saw the unchanged good day and left it alone.
    assert len(sensor_runs(dev, GOOD_DAY)) == 1
