"""A small page object for the Dagster 1.13 UI, driven by Playwright on Debian's Chromium.

Every `read_*` method returns what a page renders (text, titles, roles, the pixels of a plot),
the way a person reads the screen; the test compares it with the GraphQL answers the same
pages are built from, so a DOM-reading failure reads differently from a behaviour failure.
Selectors prefer roles and visible text; each one says what it finds. `playwright install`
cannot download browsers here: Playwright drives /usr/bin/chromium.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Locator, Page, expect, sync_playwright

from .ui_js import OVERFLOWS_JS, READ_CHART_JS, ROW_NUMBERS_JS

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# The status filter above an asset's partition list: "Failed (1)", "Materialized (6)", ...
PARTITION_STATUSES = ("Failed", "Materialized", "Materializing", "Missing")
STATUS_FILTER = re.compile(rf"^({'|'.join(PARTITION_STATUSES)}) \((\d+)\)$")
# An asset card's "Asset checks" row on the graph ("[/]": a bare "/" breaks Playwright's selector).
PASSED = re.compile(r"\d+ [/] \d+ Passed")


@contextmanager
def chromium_page(
    executable: Path, width: int = 1600, height: int = 1000, scale: float = 2
) -> Iterator[Page]:
    """A fresh headless Chromium page (drawn at `scale` so small text stays legible in the
    screenshots); the browser is closed afterwards."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            viewport = {"width": width, "height": height}
            yield browser.new_page(viewport=viewport, device_scale_factor=scale)
        finally:
            browser.close()


class DagsterUI:
    """What a user does and reads in `dagster dev` at `url`; screenshots go to `shots`."""

    def __init__(self, page: Page, url: str, shots: Path, timeout_ms: int = 30_000):
        self.page, self.url, self.shots = page, url.rstrip("/"), shots
        page.set_default_timeout(timeout_ms)
        expect.set_options(timeout=timeout_ms)  # expect() has its own 5 s default
        # The first visit opens "Join the Dagster community"; a user clicks Skip.
        page.add_locator_handler(
            page.get_by_text("Join the Dagster community"),
            lambda: page.get_by_role("button", name="Skip").click(),
        )

    def button(self, text: str, scope: Page | Locator | None = None) -> Locator:
        """A button by its visible text (its accessible name starts with its icon's name)."""
        name = re.compile(rf"(^|\s){re.escape(text)}$")
        return (scope or self.page).get_by_role("button", name=name)

    def goto(self, path: str) -> None:
        self.page.goto(self.url + path)

    def shot(
        self, name: str, element: Locator | None = None, around: Locator | None = None
    ) -> Path:
        """Screenshot of the page, of `element`, or of the box around every `around` match;
        dialogs that are still fading in are fast-forwarded."""
        path = self.shots / f"{name}.png"
        if around is not None:
            boxes = [b for b in (e.bounding_box() for e in around.all()) if b]
            left, top = min(b["x"] for b in boxes) - 16, min(b["y"] for b in boxes) - 16
            right = max(b["x"] + b["width"] for b in boxes) + 16
            bottom = max(b["y"] + b["height"] for b in boxes) + 16
            clip = {"x": left, "y": top, "width": right - left, "height": bottom - top}
            self.page.screenshot(path=path, clip=clip, animations="disabled")
        else:
            (element or self.page).screenshot(path=path, animations="disabled")
        return path

    # --- launching ----------------------------------------------------------------------

    def select_days(self, asset: str, first: str, last: str) -> None:
        """On the asset's Partitions tab, type the range into the partition selection box."""
        self.goto(f"/assets/{asset}?view=partitions")
        box = self.page.get_by_placeholder(re.compile(r"^ex: "))  # "ex: 2026-11-08, [..]"
        box.fill(f"[{first}...{last}]")
        box.press("Enter")
        expect(self.page.get_by_text(re.compile(r"^\d+ Partitions? Selected$"))).to_be_visible()

    def open_tab(self, name: str) -> None:
        """An asset page's tab (Overview, Partitions, Events, Checks, Lineage) by its name."""
        self.page.get_by_role("tab", name=name, exact=True).click()

    def graph_cards(self) -> Locator:
        """The asset cards of a lineage graph (SVG foreignObjects)."""
        return self.page.locator("foreignObject")

    def open_graph_node(self, asset: str) -> None:
        """Click an asset's card on a lineage graph."""
        card = self.graph_cards().filter(has=self.page.get_by_text(asset, exact=True))
        card.get_by_text(asset, exact=True).first.click()
        expect(self.page).to_have_url(re.compile(rf"/assets/{asset}\?"))

    def show_all_downstream(self) -> None:
        """On an asset's Lineage tab: the Downstream scope at graph depth All."""
        self.button("Downstream").click()
        self.button("All").click()

    def open_materialize_all(self) -> Locator:
        """Click "Materialize all…" over the graph; returns the launch dialog."""
        self.button("Materialize all…").click()
        dialog = self.page.get_by_role("dialog")
        expect(dialog).to_contain_text("Launch runs to materialize")
        return dialog

    def choose_days(self, dialog: Locator, first: str, last: str, count: int) -> None:
        """Type the range into the launch dialog's partition selection (its first text box)."""
        box = dialog.get_by_role("textbox").first
        box.fill(f"[{first}...{last}]")
        box.press("Enter")
        expect(dialog).to_contain_text(f"{count} partitions")

    def launch_backfill(self, dialog: Locator) -> str:
        """Click "Launch backfill"; returns the id the "Created backfill <id>" toast names."""
        self.button("Launch backfill", dialog).click()
        toast = self.page.get_by_text(re.compile(r"^Created backfill \w+$"))
        expect(toast).to_be_visible()
        return toast.inner_text().split()[-1]

    # --- reading ------------------------------------------------------------------------

    def read_graph_cards(self) -> dict[str, dict[str, str]]:
        """On the global asset lineage: each card's "Asset checks" and "Partitions" rows,
        found as the links to the asset's checks and partitions tabs."""
        self.goto("/asset-groups")
        expect(self.page.get_by_role("link", name=PASSED).first).to_be_visible()
        cards: dict[str, dict[str, str]] = {}
        for kind, name in (("checks", PASSED), ("partitions", re.compile(r"% filled"))):
            for link in self.page.get_by_role("link", name=name).all():
                asset = re.match(r"/assets/([^?]+)\?", link.get_attribute("href")).group(1)
                cards.setdefault(asset, {})[kind] = link.inner_text().strip()
        return cards

    def read_latest_check_results(self, asset: str) -> dict[str, int]:
        """The Overview tab's "Latest check results": icon name -> count, e.g. {"check_circle": 2}."""
        self.goto(f"/assets/{asset}?view=overview")
        tags = self.page.get_by_text("Latest check results", exact=True).locator(
            "xpath=following-sibling::*[1]"
        )
        expect(tags.get_by_role("img").first).to_be_visible()
        return {
            tag.get_by_role("img").get_attribute("aria-label"): int(tag.inner_text().strip())
            for tag in tags.locator("xpath=./*").all()
        }

    def read_status_counts(self) -> dict[str, int]:
        """The partition status filter's counts within the current selection."""
        expect(self.page.get_by_text(STATUS_FILTER).first).to_be_visible()
        texts = self.page.get_by_text(STATUS_FILTER).all_inner_texts()
        return {m.group(1): int(m.group(2)) for m in map(STATUS_FILTER.match, texts)}

    def read_days_with_status(self, status: str) -> list[str]:
        """Leave only `status` ticked in the status filter, then read the partition list (each
        row carries its day as its title; so does a clicked day's pane: read before clicking)."""
        for name in PARTITION_STATUSES:
            pattern = re.compile(rf"^{name} \(\d+\)$")
            box = self.page.get_by_role("checkbox", name=pattern)
            if box.is_checked() != (name == status):
                self.page.get_by_text(pattern).click()  # the box itself is drawn over
                expect(box).to_be_checked(checked=name == status)
        return sorted(self.page.get_by_title(DAY).evaluate_all("els => els.map(e => e.title)"))

    def open_partition_detail(self, day: str) -> Locator:
        """Click a day in the partition list; returns its detail pane (which loads the day's
        latest events after it appears: wait on what it should say)."""
        self.page.get_by_title(day, exact=True).click()
        pane = (
            self.page.locator("div")
            .filter(has=self.page.get_by_text("Latest materialization", exact=True))
            .filter(has=self.page.get_by_text(day, exact=True))
            .last
        )
        expect(pane).to_contain_text(day)
        return pane

    def read_backfill(self, backfill_id: str, assets: list[str]) -> tuple[str, dict]:
        """The backfill page: its status, and per asset the numbers of its row (partitions
        targeted, in progress, succeeded, failed). The table renders its rows lazily: each
        asset's row is awaited by its link (named twice: the truncating label repeats it)."""
        self.goto(f"/runs/b/{backfill_id}")
        rows: dict[str, list[int]] = {}
        for asset in assets:
            link = self.page.get_by_role("link", name=asset)
            expect(link).to_have_attribute("href", f"/assets/{asset}")
            rows[asset] = link.evaluate(ROW_NUMBERS_JS)
        status = self.page.get_by_text("Status", exact=True).locator(
            "xpath=following-sibling::*[1]"
        )
        return status.inner_text().strip(), rows

    def read_check_list(self, asset: str, checks: list[str]) -> dict[str, tuple[str, str]]:
        """The Checks tab's list: per check its icon and status word, both summed up over
        all its days (each item is titled by its check's name)."""
        self.goto(f"/assets/{asset}?view=checks")
        items = {}
        for check in checks:
            title = self.page.get_by_title(check, exact=True).first
            item = title.locator("xpath=ancestor::div[.//*[@role='img']][1]")
            icon = item.get_by_role("img").first.get_attribute("aria-label")
            items[check] = (icon, item.inner_text().split("\n")[-1].strip())
        return items

    def open_check_evaluation(self, asset: str, check: str, day: str) -> Locator:
        """The check's Execution history, the `day` row's metadata button; returns the dialog."""
        self.goto(f"/assets/{asset}?view=checks")
        self.page.get_by_text(check, exact=True).first.click()  # the list on the left
        self.page.get_by_role("tab", name="Execution history").click()
        row = self.page.get_by_role("row").filter(has=self.page.get_by_text(day, exact=True))
        expect(row).to_have_count(1)
        row.get_by_role("button").last.click()  # the "{}" button of the Metadata column
        dialog = self.page.get_by_role("dialog").filter(has_text="Metadata")
        expect(dialog).to_be_visible()
        return dialog

    def read_metadata_dialog(self, dialog: Locator, name: str) -> dict[str, dict]:
        """Each entry of the metadata dialog: its text; entries shown as "[Show Markdown]" or
        "[Show Table]" are opened, read, screenshotted and measured for a horizontal scroll."""
        entries: dict[str, dict] = {}
        for row in dialog.get_by_role("row").all():
            label, value = (c.inner_text().strip() for c in row.get_by_role("cell").all()[:2])
            entries[label] = {"text": value, "overflows": False}
            if re.fullmatch(r"\[Show \w+\]", value):
                row.get_by_text(value).click()
                inner = self.page.get_by_role("dialog").filter(has_text=label).last
                expect(inner).to_be_visible()
                self.shot(f"{name}_{label}", inner)
                entries[label] = {
                    "text": inner.inner_text(),
                    "overflows": inner.evaluate(OVERFLOWS_JS),
                }
                self.button("Close", inner).click()
        return entries

    def read_partition_plots(self, asset: str) -> dict[str, list[dict]]:
        """The asset's Overview > Metadata > Plots, by partition: per plot title, per
        partition the plotted value, whether Chart.js skipped it and whether it is inked."""
        self.goto(f"/assets/{asset}?view=overview")
        self.button("Plots").click()
        self.button("Partitions").click()  # x = partition keys
        canvases = self.page.locator("canvas")
        expect(canvases.first).to_be_visible()
        for _ in range(40):  # each chart attaches to its canvas just after it mounts
            charts = canvases.evaluate_all(f"cs => cs.map({READ_CHART_JS})")
            if all(charts):
                return {chart["label"]: chart["points"] for chart in charts}
            self.page.wait_for_timeout(250)
        raise AssertionError(f"{asset}: a plot canvas has no Chart.js chart behind it")

    def shot_plot(self, label: str, name: str) -> Path:
        """Screenshot of the open plot titled `label` (its title and canvas)."""
        plot = (
            self.page.locator("div")
            .filter(has=self.page.get_by_text(label, exact=True))
            .filter(has=self.page.locator("canvas"))
            .last
        )
        plot.scroll_into_view_if_needed()
        return self.shot(name, plot)
