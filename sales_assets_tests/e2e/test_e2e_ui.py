"""End to end on a real `dagster dev` (webserver + daemon, SQLite instance from the repo's dagster.yaml).

Everything goes through the webserver's GraphQL API as the UI sends it, and is asserted on
the DuckDB file and on the run and check records Dagster keeps. One dagster dev serves the
whole module; its schedule ticks every minute so the daemon's scheduled run happens meanwhile.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, date, datetime, timedelta

import pytest

from sales_assets.checks import DAY_CHECKS

from .dagster_dev import ASSETS, count_rows, running_dagster_dev, wait_for

ROWS = 500
DAYS_PER_RUN = 4
CONTRACT_CHECKS: dict[str, list[str]] = {}  # per-day checks of contract section 6, by asset
for _check in DAY_CHECKS:
    CONTRACT_CHECKS.setdefault(_check.asset, []).append(_check.name)
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e_ui")
    env = {
        "SALES_SYNTHETIC_ROWS": str(ROWS),
        "SALES_SCHEDULE_CRON": "* * * * *",
        "SALES_BACKFILL_DAYS_PER_RUN": str(DAYS_PER_RUN),
        "SALES_REPORTS_DIR": str(tmp / "reports"),
    }
    with running_dagster_dev(tmp, env) as dev:
        dev.warehouse = tmp / "warehouse.duckdb"
        yield dev


def assert_day_loaded(dev, day: str, rows: int = ROWS):
    raw = count_rows(dev.warehouse, "raw_sales", day)
    assert raw == rows, f"{day}: raw_sales holds {raw} rows, expected {rows}"
    cleaned, rejected = (
        count_rows(dev.warehouse, "cleaned_sales", day),
        count_rows(dev.warehouse, "rejected_sales", day),
    )
    assert cleaned + rejected == raw and 0 < rejected < raw, (day, cleaned, rejected)
    assert count_rows(dev.warehouse, "sales_metrics", day) > 0, f"{day}: no sales_metrics rows"


def check_results(dev, day: str, run_id: str) -> dict[str, str]:
    """'asset:check' -> status of the check's execution for `day` in run `run_id`."""
    out = {}
    for asset, names in CONTRACT_CHECKS.items():
        for name in names:
            executions = [
                e for e in dev.check_executions(asset, name, partition=day) if e["runId"] == run_id
            ]
            assert len(executions) == 1, f"{asset}:{name} for {day} in run {run_id}: {executions}"
            execution = executions[0]
            assert execution["partition"] == day and execution["evaluation"]["partition"] == day, (
                execution
            )
            out[f"{asset}:{name}"] = execution["status"]
    return out


def test_the_code_location_serves_the_contract(dev):
    nodes = {n["assetKey"]["path"][0]: n for n in dev.asset_nodes()}
    assert set(ASSETS) <= set(nodes)
    for asset, names in CONTRACT_CHECKS.items():
        declared = {c["name"] for c in nodes[asset]["assetChecksOrError"]["checks"]}
        assert set(names) <= declared, (asset, declared)
    assert "daily_sales_job" in nodes["sales_metrics"]["jobNames"]
    schedule = dev.instigators()["schedules"]["daily_sales_schedule"]
    assert schedule["scheduleState"]["status"] == "RUNNING", "the schedule is on by default"
    assert schedule["cronSchedule"] == "* * * * *"


def test_materialize_one_day_like_the_ui_button(dev):
    day = "2024-03-01"
    run_id = dev.materialize_partition(day)
    run = dev.wait_run(run_id, timeout=180)
    assert run["status"] == "SUCCESS", run
    assert run["tags"]["dagster/partition"] == day
    assert_day_loaded(dev, day)
    statuses = check_results(dev, day, run_id)
    assert set(statuses.values()) == {"SUCCEEDED"}, statuses

    # Materializing the day again replaces its rows: no duplicates.
    again = dev.wait_run(dev.materialize_partition(day), timeout=180)
    assert again["status"] == "SUCCESS", again
    assert_day_loaded(dev, day)


def test_ui_backfill_of_ten_days_runs_in_ranges_with_each_days_own_checks(dev):
    days = [(date(2024, 2, 1) + timedelta(days=i)).isoformat() for i in range(10)]
    backfill_id = dev.launch_backfill(days)
    backfill = dev.wait_backfill(backfill_id, timeout=600)
    assert backfill["status"] == "COMPLETED_SUCCESS", backfill
    assert backfill["numPartitions"] == 10

    runs = sorted(
        dev.runs(tags={"dagster/backfill": backfill_id}), key=lambda r: r["tags"][RANGE_START]
    )
    assert [(r["tags"][RANGE_START], r["tags"][RANGE_END]) for r in runs] == [
        (days[0], days[3]),
        (days[4], days[7]),
        (days[8], days[9]),
    ], "runs of SALES_BACKFILL_DAYS_PER_RUN days"
    assert {r["status"] for r in runs} == {"SUCCESS"}, runs
    run_of = {
        day: run["runId"]
        for run in runs
        for day in days
        if run["tags"][RANGE_START] <= day <= run["tags"][RANGE_END]
    }
    for day in days:
        assert_day_loaded(dev, day)
        statuses = check_results(dev, day, run_of[day])
        assert set(statuses.values()) == {"SUCCEEDED"}, (day, statuses)
    counts = dev.backfill_counts(backfill_id)
    assert {asset: counts[asset]["materialized"] for asset in ASSETS} == dict.fromkeys(ASSETS, 10)
    for asset in CONTRACT_CHECKS:
        shown, checks = dev.partition_statuses(asset)
        assert {day: shown.get(day) for day in days} == dict.fromkeys(days, "MATERIALIZED")
        for name in CONTRACT_CHECKS[asset]:
            assert {d: checks[name].get(d) for d in days} == dict.fromkeys(days, "SUCCEEDED")


def test_the_daemon_runs_the_schedule_for_the_day_that_just_ended(dev):
    def scheduled_run():
        runs = dev.runs(tags={"dagster/schedule_name": "daily_sales_schedule"})
        return runs[-1] if runs else None

    # The cron ticks every minute; the first tick after start-up launches the run.
    run = wait_for(
        "the daemon to launch daily_sales_schedule's run", scheduled_run, timeout=150, interval=3
    )

    def tick_of_run():  # the tick records its run ids just after it submits the run
        return [
            t for t in dev.schedule_ticks("daily_sales_schedule") if run["runId"] in t["runIds"]
        ]

    ticks = wait_for("the schedule tick that launched the run", tick_of_run, timeout=60, interval=2)
    assert len(ticks) == 1, ticks
    tick = ticks[0]
    day = (datetime.fromtimestamp(tick["timestamp"], UTC).date() - timedelta(days=1)).isoformat()
    assert run["tags"]["dagster/partition"] == day, run["tags"]
    done = dev.wait_run(run["runId"], timeout=180)
    assert done["status"] == "SUCCESS", done
    assert_day_loaded(dev, day)
    # The test cron ticks every minute, so later ticks may run the same day again; each tick
    # launches exactly one run (run key = the day), always of the day before the tick.
    for tick in dev.schedule_ticks("daily_sales_schedule"):
        assert len(tick["runIds"]) <= 1, tick
        tick_day = datetime.fromtimestamp(tick["timestamp"], UTC).date() - timedelta(days=1)
        for tick_run in dev.runs(runIds=tick["runIds"]) if tick["runIds"] else []:
            assert tick_run["tags"]["dagster/partition"] == tick_day.isoformat(), tick


def test_headless_chromium_shows_the_asset_graph_and_checks(dev, chromium, artifacts, tmp_path):
    dev.graphql("mutation { setNuxSeen }")  # what clicking "Skip" on the first-visit dialog does
    browser = [
        str(chromium),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium'}",
        "--window-size=1600,1000",
        "--virtual-time-budget=15000",
    ]

    def page(path: str, *args: str) -> str:
        done = subprocess.run(
            [*browser, *args, f"{dev.url}{path}"], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"chromium failed on {path}: {done.stderr[-2000:]}"
        return done.stdout

    screenshot = artifacts / "asset_graph.png"
    screenshot.unlink(missing_ok=True)
    page("/asset-groups", f"--screenshot={screenshot}")
    print(f"asset graph screenshot: {screenshot}")
    assert screenshot.stat().st_size > 20_000, "the screenshot is (nearly) blank"

    graph = page("/asset-groups", "--dump-dom")
    for asset in ASSETS:
        assert asset in graph, f"{asset} is not on the asset graph page"
    for asset in CONTRACT_CHECKS:
        assert f'href="/assets/{asset}?view=checks"' in graph, (
            f"{asset}'s asset checks are not on its graph node"
        )
        checks_page = page(f"/assets/{asset}?view=checks", "--dump-dom")
        for name in CONTRACT_CHECKS[asset]:
            assert name in checks_page, f"check {name} is not on {asset}'s checks page"
