"""The HTML report in a real browser: headless Chromium opens it from disk, with no network.

Fails on any console error or page error, on a request that leaves the file, on a chart
image that did not decode (natural size 0) and on an empty table. The screenshot goes to
test-artifacts/ for a person to look at.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from sales_assets.report import render_report, report_data

from ..report_warehouse import backfill, query_for

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
TABLES = ("movers", "by-region", "by-product", "days", "rejections")


@pytest.fixture
def report_html(tmp_path):
    """The HTML report of the 10th day of a 10-day synthetic warehouse."""
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(10)]
    with backfill(tmp_path / "warehouse.duckdb", days, rows=500) as connection:
        data = report_data(query_for(connection), days[-1])
    return render_report(data, tmp_path / "reports").html


def watch(page) -> list[str]:
    """Collect the page's console errors, page errors and requests that leave the file."""
    problems: list[str] = []

    def console(message) -> None:
        if message.type == "error":
            problems.append(f"console error: {message.text}")

    def request(request) -> None:
        if not request.url.startswith(("file:", "data:")):
            problems.append(f"network request: {request.url}")

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("request", request)
    return problems


@pytest.mark.e2e
def test_headless_chromium_opens_the_html_report(report_html, chromium, artifacts):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            problems = watch(page)
            page.goto(report_html.as_uri(), wait_until="load")
            page.screenshot(path=str(artifacts / "sales_report_browser.png"), full_page=True)
            chart = page.eval_on_selector(
                "#report-chart",
                "img => ({complete: img.complete, width: img.naturalWidth,"
                " height: img.naturalHeight, shown: img.getBoundingClientRect().height})",
            )
            rows = {
                table: page.eval_on_selector_all(
                    f"#{table} tbody tr", "rows => rows.map(r => r.innerText.trim())"
                )
                for table in TABLES
            }
            title = page.title()
        finally:
            browser.close()
    assert not problems, problems
    assert title == "Sales report 2024-01-10"
    assert chart["complete"] and chart["width"] > 1000 and chart["height"] > 1000, chart
    assert chart["shown"] > 500, chart
    for table, texts in rows.items():
        assert texts and all(texts), f"table {table} is empty: {texts}"
    assert len(rows["days"]) == 10 and len(rows["by-product"]) == 10
