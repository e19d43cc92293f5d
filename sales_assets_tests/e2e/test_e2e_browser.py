"""A user's walk through `dagster dev` in a real browser (Playwright on Debian's Chromium).

Seven recent landing days, one of them 40 % garbage (`quantity=abc`), backfilled from the UI:
from cleaned_sales's Partitions tab to the lineage, "Materialize all…" over the five assets,
the days typed into the launch dialog. Then every place that tells a day's health is read off
the page and compared with the GraphQL answer it is built from (a mismatch there is a
DOM-reading or rendering failure) and with what the days must show (a behaviour failure).
Screenshots of each page land in test-artifacts/browser/.

By default this runs the project's code location on landing files made by
`sales-assets generate`. SALES_E2E_UI_TOY=/path/to/toy.py runs it against a toy code location
shaped like the project's step instead (its bad days listed in the file $TOY_BAD_FILE).
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .dagster_dev import DagsterDev, running_dagster_dev
from .ui import DagsterUI, chromium_page
from .ui_facts import (
    asset_truth,
    backfill_counts,
    check_list_item,
    graph_passed,
    latest_icons,
    stop_automations,
)

pytestmark = pytest.mark.slow

ASSETS = ["raw_sales", "cleaned_sales", "rejected_sales", "sales_metrics", "sales_report"]
KEPT_ON_BAD_DAY = {"raw_sales", "rejected_sales"}  # stored so people can see why it was blocked
CHECKS = {
    "raw_sales": ["raw_sales_schema"],
    "cleaned_sales": [
        "cleaned_sales_schema",
        "rows_accounted_for",
        "rejection_rate",
        "daily_volume",
    ],
    "sales_metrics": ["sales_metrics_schema", "revenue_reconciles"],
}
ROWS_PER_DAY, GARBAGE_ROWS = 2000, 800  # 40 % of the bad day's rows get quantity=abc
TOY = os.environ.get("SALES_E2E_UI_TOY")


@dataclass
class Walk:
    """Where the walk happens: the code location, its settings, and the days it lands."""

    tmp: Path
    days: list[str]
    bad_day: str
    env: dict[str, str]
    target: list[str] | None = None  # dagster dev's target; None: the repo's workspace.yaml
    landing: Path | None = None  # the project's landing folder, filled once dagster dev is up

    @property
    def good_days(self) -> list[str]:
        return [d for d in self.days if d != self.bad_day]


@pytest.fixture(scope="module")
def walk(tmp_path_factory) -> Walk:
    """Seven complete days ending yesterday (UTC), partitions from three weeks back, the fifth
    day bad: the UI's partition plots show the newest 120 partitions up to yesterday."""
    tmp = tmp_path_factory.mktemp("e2e_browser")
    today = datetime.now(UTC).date()
    days = [(today - timedelta(days=7 - i)).isoformat() for i in range(7)]
    env = {
        "SALES_START_DATE": (today - timedelta(days=21)).isoformat(),
        "SALES_BACKFILL_DAYS_PER_RUN": "3",
    }
    if TOY:
        bad_days = tmp / "bad_days.txt"
        bad_days.write_text(days[4])
        env["TOY_BAD_FILE"] = str(bad_days)
        return Walk(tmp, days, days[4], env, target=["-f", TOY])
    landing = tmp / "landing"
    landing.mkdir()
    env.update(
        SALES_LANDING_DIR=str(landing),
        SALES_WAREHOUSE=str(tmp / "warehouse.duckdb"),
        SALES_REPORTS_DIR=str(tmp / "reports"),
    )
    return Walk(tmp, days, days[4], env, landing=landing)


def land_days(dev: DagsterDev, walk: Walk) -> None:
    """The project's landing files: `sales-assets generate`, then garbage in the bad day. The
    landing sensor and the schedule are stopped first, so only the user's backfill runs."""
    stop_automations(dev)
    cli = Path(sys.executable).with_name("sales-assets")
    subprocess.run(
        [str(cli), "generate", "--start", walk.days[0], "--days", str(len(walk.days))]
        + ["--rows-per-day", str(ROWS_PER_DAY), "--out", str(walk.landing), "--quiet"],
        check=True,
        env=dev.env,
    )
    [orders] = (walk.landing / walk.bad_day).glob("*.csv")
    with orders.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for i, row in enumerate(rows):
        if i % 5 < 2:
            row["quantity"] = "abc"
    with orders.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def dev(walk):
    with running_dagster_dev(walk.tmp, walk.env, target=walk.target) as dev:
        if walk.landing is not None:
            land_days(dev, walk)
        yield dev


@pytest.fixture(scope="module")
def ui(dev, chromium, artifacts):
    shots = artifacts / "browser"
    shots.mkdir(exist_ok=True)
    for old in shots.glob("*.png"):
        old.unlink()
    with chromium_page(chromium) as page:
        yield DagsterUI(page, dev.url, shots)


@pytest.fixture(scope="module")
def backfill(dev, ui, walk) -> dict:
    """What the user clicks, from cleaned_sales's Partitions tab to "Launch backfill"; then the
    backfill is polled over GraphQL until it and its runs are done."""
    first, last = walk.days[0], walk.days[-1]
    ui.select_days("cleaned_sales", first, last)
    assert ui.read_status_counts() == {
        "Failed": 0,
        "Materialized": 0,
        "Materializing": 0,
        "Missing": 7,
    }
    ui.shot("01_cleaned_sales_partitions_7_days_selected")
    # cleaned_sales's own "Materialize…" runs it alone (Dagster warns its upstream is missing),
    # and its Lineage tab shows its ancestors and descendants, not its sibling rejected_sales:
    # the whole graph is raw_sales and everything downstream of it.
    ui.open_tab("Lineage")
    ui.open_graph_node("raw_sales")
    ui.show_all_downstream()
    dialog = ui.open_materialize_all()
    expect(dialog).to_contain_text(f"Launch runs to materialize {len(ASSETS)} assets")
    ui.choose_days(dialog, first, last, len(walk.days))
    ui.shot("02_launch_dialog_5_assets_7_days")
    backfill_id = ui.launch_backfill(dialog)
    return dev.wait_backfill(backfill_id, timeout=300)


def test_the_backfill_page_counts_the_blocked_day_failed_on_the_held_back_assets(
    dev, ui, walk, backfill
):
    status, rows = ui.read_backfill(backfill["id"], ASSETS)
    ui.shot("03_backfill_page_per_asset_counts")
    truth = backfill_counts(dev, backfill["id"])
    assert rows == truth, f"backfill page shows {rows}, GraphQL says {truth}"
    expected = {a: [7, 0, 7, 0] if a in KEPT_ON_BAD_DAY else [7, 0, 6, 1] for a in ASSETS}
    assert truth == expected, "per asset [targeted, in progress, succeeded, failed]"
    assert status == "Failed", f"backfill status shown: {status!r} ({backfill['status']})"


def test_the_graph_counts_checks_and_failed_partitions_as_the_instance_holds_them(
    dev, ui, walk, backfill
):
    cards = ui.read_graph_cards()
    ui.shot("04_asset_graph_check_counts_and_partitions", around=ui.graph_cards())
    for asset in ASSETS:
        truth = asset_truth(dev, asset, walk.days)
        for name in CHECKS.get(asset, []):
            days = truth["checks"][name]
            assert all(days[d] == "SUCCEEDED" for d in walk.good_days), (asset, name, days)
        if truth["latest"]:
            expected = f"{graph_passed(truth)} / {len(truth['latest'])} Passed"
            assert cards[asset]["checks"] == expected, f"{asset}: {cards[asset]}, GraphQL {truth}"
        held_back = asset not in KEPT_ON_BAD_DAY
        assert ("(1 failed)" in cards[asset]["partitions"]) == held_back, (asset, cards[asset])
    cleaned, raw = (
        asset_truth(dev, a, walk.days)["checks"] for a in ("cleaned_sales", "raw_sales")
    )
    assert cleaned["rejection_rate"][walk.bad_day] == "FAILED", cleaned
    assert raw["raw_sales_schema"][walk.bad_day] == "SUCCEEDED", raw
    assert cards["raw_sales"]["checks"] == "1 / 1 Passed", cards


def test_each_asset_overview_shows_its_latest_day_checks_passed(dev, ui, walk, backfill):
    for asset, names in CHECKS.items():
        shown = ui.read_latest_check_results(asset)
        ui.shot(f"05_overview_latest_check_results_{asset}")
        truth = asset_truth(dev, asset, walk.days)
        assert shown == latest_icons(truth), f"{asset}: shown {shown}, GraphQL {truth['latest']}"
        for name in names:  # the per-day checks judged the latest materialization's day
            latest = truth["latest"][name]
            assert latest["status"] == "SUCCEEDED", (asset, name, latest)
            assert latest["partition"] in walk.good_days, (asset, name, latest)


@pytest.mark.parametrize("asset", ASSETS)
def test_every_partitions_tab_shows_the_bad_day_as_the_instance_holds_it(
    dev, ui, walk, backfill, asset
):
    ui.select_days(asset, walk.days[0], walk.days[-1])
    counts = ui.read_status_counts()
    shown = {s: ui.read_days_with_status(s) for s in ("Failed", "Materialized")}
    ui.select_days(asset, walk.days[0], walk.days[-1])  # every status ticked again
    pane = ui.open_partition_detail(walk.bad_day)
    truth = asset_truth(dev, asset, walk.days)["partitions"]
    by_status = {s: sorted(d for d, v in truth.items() if v == s.upper()) for s in shown}
    assert shown == by_status, f"{asset}: the list shows {shown}, GraphQL {truth}"
    assert counts["Failed"] == len(shown["Failed"]) and counts["Missing"] == 0, counts
    if asset in KEPT_ON_BAD_DAY:
        assert shown == {"Failed": [], "Materialized": walk.days}, shown
        expect(pane.get_by_text("rows", exact=True)).to_be_visible()  # its metadata
    else:
        assert shown == {"Failed": [walk.bad_day], "Materialized": walk.good_days}, shown
        expect(pane).to_contain_text("failed, and did not materialize this asset")
    ui.shot(f"06_partitions_{asset}_bad_day")


def test_the_checks_list_draws_the_blocking_failure_red(dev, ui, walk, backfill):
    listed = ui.read_check_list("cleaned_sales", CHECKS["cleaned_sales"])
    ui.shot("07_cleaned_sales_checks_list")
    truth = asset_truth(dev, "cleaned_sales", walk.days)
    expected = {name: check_list_item(truth, name) for name in listed}
    assert listed == expected, f"the list shows {listed}, GraphQL {truth['latest']}"
    # A blocking failure is drawn red: the list takes the severity of the latest evaluation.
    assert listed["rejection_rate"] == ("cancel", "Failed"), truth["latest"]["rejection_rate"]


def test_the_check_metadata_shows_the_failing_values_in_a_readable_dialog(dev, ui, walk, backfill):
    [execution] = dev.check_executions("cleaned_sales", "rejection_rate", partition=walk.bad_day)
    assert execution["status"] == "FAILED", execution
    dialog = ui.open_check_evaluation("cleaned_sales", "rejection_rate", walk.bad_day)
    ui.shot("08_rejection_rate_bad_day_metadata")
    entries = ui.read_metadata_dialog(dialog, "08_rejection_rate_bad_day")
    text = "\n".join(e["text"] for e in entries.values())
    found = [int(n) for n in re.findall(r"quantity=abc x(\d+)", text)]
    assert found and GARBAGE_ROWS * 0.95 <= max(found) <= GARBAGE_ROWS, text
    wide = [label for label, e in entries.items() if e["overflows"]]
    assert not wide, f"metadata needing a horizontal scroll in the dialog: {wide}"


def test_the_partition_plots_show_one_point_per_loaded_day(dev, ui, walk, backfill):
    plotted = {}
    for asset, label, loaded in [
        ("cleaned_sales", "rows", walk.good_days),  # the blocked day is held back: a gap
        ("sales_metrics", "revenue", walk.good_days),
        ("rejected_sales", "rejection_rate", walk.days),  # its quarantine is kept: a peak
    ]:
        plots = ui.read_partition_plots(asset)
        assert label in plots, f"{asset} plots {sorted(plots)}: no numeric {label!r} metadata"
        ui.shot_plot(label, f"09_plot_{asset}_{label}")
        points = {p["day"]: p for p in plots[label]}
        truth = asset_truth(dev, asset, walk.days)["metadata"]
        for day in walk.days:
            point, value = points[day], truth.get(day, {}).get(label)
            drawn = not point["skipped"] and point["inked"]
            assert drawn == (day in loaded), f"{asset} {label} {day}: {point}, GraphQL {value}"
            if day in loaded:
                assert point["value"] == pytest.approx(value), (asset, label, day, point, value)
        plotted[label] = {day: points[day]["value"] for day in loaded}
    rates = plotted["rejection_rate"]
    assert max(rates, key=rates.get) == walk.bad_day, rates
