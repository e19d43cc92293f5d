"""The report's files: a real picture, a self-contained page whose tables equal the
warehouse, replaced whole when a day is corrected, cheap enough for a backfill."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
from datetime import date
from html.parser import HTMLParser

import duckdb
import pandas as pd
import pytest
from PIL import Image

from sales_assets.report import render_report, report_data

from .report_scenario import (
    FIRST,
    REPORT_DAY,
    ROWS,
    ZERO_SALES,
    build_scenario,
    days_between,
    sql,
    sql_daily,
    sql_shares,
    top_movers,
)
from .report_warehouse import load_day, query_for


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> duckdb.DuckDBPyConnection:
    connection = build_scenario(tmp_path_factory.mktemp("report") / "warehouse.duckdb")
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def data(warehouse):
    return report_data(query_for(warehouse), REPORT_DAY, zero_sales_days={ZERO_SALES})


def test_png_and_html_are_a_real_self_contained_report(data, tmp_path):
    files = render_report(data, tmp_path)
    assert files.png.name == "sales_report_2024-03-15.png"
    assert files.html.name == "sales_report_2024-03-15.html"
    with Image.open(files.png) as image:
        width, height = image.size
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert width > 1000 and height > 1000
    big = [c for n, c in colours if n > 500]  # colours that fill an area, not anti-aliasing
    assert len(big) >= 10, big
    page = files.html.read_text(encoding="utf-8")
    embedded = re.search(r'src="data:image/png;base64,([^"]+)"', page).group(1)
    assert base64.b64decode(embedded) == files.png.read_bytes()
    assert not re.search(r"(?:src|href)=\"(?!data:)", page), "the page loads nothing"
    assert "http://" not in page and "https://" not in page and "<script" not in page
    for table in ("movers", "by-region", "by-product", "days", "rejections"):
        assert f'<table id="{table}">' in page
    assert page.count("<tr") > 40


class Tables(HTMLParser):
    """The cells of every <table id=...> of a page, as text rows."""

    def __init__(self, page: str):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table, self._cell = None, None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs)["id"], [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_data(self, text):
        if self._cell is not None:
            self._cell += text

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._table[-1].append(self._cell)
            self._cell = None
        elif tag == "table":
            self._table = None


def test_html_tables_equal_the_warehouse(warehouse, data, tmp_path):
    tables = Tables(render_report(data, tmp_path).html.read_text(encoding="utf-8")).tables
    metrics = sql_daily(warehouse)
    days = {row[0][4:]: row for row in tables["days"][1:]}  # "Fri 2024-03-15" -> cells
    assert list(days) == [f"{d}" for d in days_between(FIRST, REPORT_DAY)]
    for day, row in days.items():
        key = pd.Timestamp(day)
        expected = ("–", "–") if key not in metrics.index else (
            f"{metrics.at[key, 'revenue']:,.2f}", f"{int(metrics.at[key, 'orders']):,}"
        )  # fmt: skip
        if date.fromisoformat(day) == ZERO_SALES:
            expected = ("0.00", "0")
        assert (row[2], row[4]) == expected, day
    for by in ("region", "product"):
        expected = sql(
            warehouse,
            f"SELECT {by}, sum(revenue) AS revenue, sum(orders) AS orders FROM sales.sales_metrics"
            f" WHERE order_date = ? GROUP BY {by} ORDER BY revenue DESC",
            [REPORT_DAY],
        )
        shown = tables[f"by-{by}"][1:]
        assert shown == [[n, f"{r:,.2f}", f"{int(o):,}"] for n, r, o in expected.itertuples(False)]
    movers = top_movers(warehouse, REPORT_DAY)
    shown = [[f"{r[1]} · {r[2]}", *r[3:]] for r in tables["movers"][1:]]
    assert shown == movers["up"] + movers["down"]
    shares = sql_shares(warehouse)
    reasons = tables["rejections"][0][1:]
    for row in tables["rejections"][1:]:
        key = pd.Timestamp(row[0][4:])
        if key in shares.index:
            assert row[1:] == [f"{shares.at[key, r]:.1%}" for r in reasons], row
        else:
            assert set(row[1:]) == {"–"}, row


def test_a_corrected_day_replaces_the_report_whole(warehouse, tmp_path):
    copy = tmp_path / "warehouse.duckdb"
    warehouse.execute("CHECKPOINT")
    shutil.copyfile(warehouse.execute("PRAGMA database_list").fetchall()[0][2], copy)
    out = tmp_path / "reports"
    with duckdb.connect(str(copy)) as connection:
        first = render_report(report_data(query_for(connection), REPORT_DAY), out)
        old_png, old_inode = first.png.read_bytes(), first.png.stat().st_ino
        load_day(connection, REPORT_DAY, ROWS + 100)  # the day corrected: another load
        corrected = report_data(query_for(connection), REPORT_DAY)
        second = render_report(corrected, out)
        revenue = sql_daily(connection).loc[pd.Timestamp(REPORT_DAY), "revenue"]
    assert second == first and sorted(p.name for p in out.iterdir()) == [
        "sales_report_2024-03-15.html",
        "sales_report_2024-03-15.png",
    ], "no temporary files left"
    new_png = second.png.read_bytes()
    assert new_png != old_png and second.png.stat().st_ino != old_inode, "replaced, not rewritten"
    assert corrected.today["revenue"] == pytest.approx(revenue, abs=0.005)
    assert corrected.today["orders"] > ROWS  # 400 rows loaded, fewer than 2 % rejected
    page = second.html.read_text(encoding="utf-8")
    assert base64.b64encode(new_png).decode() in page, "the page embeds the new picture"
    assert f"{corrected.today['revenue']:,.2f}" in page


def test_importing_the_report_does_not_import_matplotlib():
    code = "import sys, sales_assets.report; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
