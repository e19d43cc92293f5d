"""The daily report: every figure drawn equals a SQL query on the warehouse tables.

One real DuckDB warehouse (synthetic days through the project's cleaning rules) holds the
awkward days a report must survive inside its window: a day never loaded, a zero-sales day,
a day whose metrics are missing, a day blocked after a good load, a day blocked on its first
load. The figure is read back from matplotlib's artists, not from the ReportData it was
drawn from, and compared with queries written here, independently of the report's own SQL.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
import time
import uuid
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from sales_assets import report_chart
from sales_assets.report import (
    headline,
    movers_markdown,
    render_report,
    report_data,
)

from .report_warehouse import load_day, query_for

FIRST, REPORT_DAY, LAST = date(2024, 3, 1), date(2024, 3, 15), date(2024, 3, 16)
NEVER_LOADED, ZERO_SALES, METRICS_DELETED = date(2024, 3, 5), date(2024, 3, 7), date(2024, 3, 9)
BLOCKED_AFTER_GOOD, BLOCKED_FIRST = date(2024, 3, 11), date(2024, 3, 12)
ROWS = 300
EXPECTED_STATUS = {
    NEVER_LOADED: "missing",
    ZERO_SALES: "zero_sales",
    METRICS_DELETED: "missing",
    BLOCKED_AFTER_GOOD: "blocked",
    BLOCKED_FIRST: "blocked",
}


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def build_warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    """Days FIRST..LAST of ROWS synthetic rows, with the awkward days of EXPECTED_STATUS."""
    connection = duckdb.connect(str(path))
    for day in _days(FIRST, LAST):
        if day == NEVER_LOADED:
            continue
        if day == BLOCKED_FIRST:  # too many rejects on its first load: raw + rejected only
            assert load_day(connection, day, ROWS, dirty_rate=0.3) == "blocked"
            continue
        assert load_day(connection, day, 0 if day == ZERO_SALES else ROWS) == "ok"
    # A good day reloaded with other rows and too many rejects: its metrics stay the old ones.
    assert load_day(connection, BLOCKED_AFTER_GOOD, 250, dirty_rate=0.3) == "blocked"
    connection.execute("DELETE FROM sales.sales_metrics WHERE order_date = ?", [METRICS_DELETED])
    return connection


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> duckdb.DuckDBPyConnection:
    connection = build_warehouse(tmp_path_factory.mktemp("report") / "warehouse.duckdb")
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def data(warehouse):
    return report_data(query_for(warehouse), REPORT_DAY, zero_sales_days={ZERO_SALES})


@pytest.fixture(scope="module")
def drawn(data) -> dict:
    """The report's axes by label, as drawn."""
    return {ax.get_label(): ax for ax in report_chart.build_figure(data).axes}


def sql(warehouse, statement: str, params=()) -> pd.DataFrame:
    return warehouse.execute(statement, list(params)).fetchdf()


def sql_daily(warehouse) -> pd.DataFrame:
    """Per day of the metrics table: revenue, orders (independently of the report's SQL)."""
    rows = sql(warehouse, "SELECT order_date, revenue, orders FROM sales.sales_metrics")
    rows["order_date"] = pd.to_datetime(rows["order_date"])
    return rows.groupby("order_date")[["revenue", "orders"]].sum()


def line(ax, label: str) -> pd.Series:
    """A drawn line's y values by day."""
    (found,) = [artist for artist in ax.get_lines() if artist.get_label() == label]
    days = pd.DatetimeIndex([d.replace(tzinfo=None) for d in mdates.num2date(found.get_xdata())])
    return pd.Series(np.asarray(found.get_ydata(), dtype=float), index=days.normalize())


def columns(ax, label: str) -> pd.DataFrame:
    """A drawn bar collection's bars: day -> bottom, height."""
    (found,) = [c for c in ax.collections if c.get_label() == label]
    rows = []
    for path in found.get_paths():
        xs, ys = path.vertices[:, 0], path.vertices[:, 1]
        day = mdates.num2date((xs.min() + xs.max()) / 2).replace(tzinfo=None)
        rows.append((pd.Timestamp(day).normalize(), ys.min(), ys.max() - ys.min()))
    return pd.DataFrame(rows, columns=["day", "bottom", "height"]).set_index("day")


def test_every_day_has_the_status_its_tables_show(data):
    statuses = {d.date(): s for d, s in data.days["status"].items()}
    assert list(statuses) == _days(FIRST, REPORT_DAY)
    expected = {d: EXPECTED_STATUS.get(d, "ok") for d in _days(FIRST, REPORT_DAY)}
    assert statuses == expected


def test_zero_sales_reads_as_missing_without_the_callers_word(warehouse):
    data = report_data(query_for(warehouse), REPORT_DAY)
    assert data.days.loc[pd.Timestamp(ZERO_SALES), "status"] == "missing"
    assert pd.isna(data.days.loc[pd.Timestamp(ZERO_SALES), "revenue"])


def test_revenue_orders_and_aov_lines_equal_the_metrics_table(warehouse, data, drawn):
    expected = sql_daily(warehouse).reindex(data.days.index)
    expected.loc[pd.Timestamp(ZERO_SALES)] = [0.0, 0]
    revenue = line(drawn["revenue"], "revenue")
    np.testing.assert_allclose(revenue, expected["revenue"], atol=0.005)
    assert revenue.isna().tolist() == expected["revenue"].isna().tolist()
    bars = columns(drawn["orders"], "orders")
    assert bars["bottom"].eq(0).all()
    pd.testing.assert_series_equal(
        bars["height"], expected["orders"].dropna().astype(float), check_names=False
    )
    aov = line(drawn["aov"], "avg_order_value")
    np.testing.assert_allclose(aov, (expected["revenue"] / expected["orders"]).round(2))
    # Where the tables agree, revenue is also the sum of the cleaned orders' amounts.
    cleaned = sql(
        warehouse,
        "SELECT order_date, sum(amount) AS amount FROM sales.cleaned_sales GROUP BY order_date",
    ).set_index("order_date")["amount"]
    for day, status in data.days["status"].items():
        if status == "ok" and day != pd.Timestamp(ZERO_SALES):
            assert revenue[day] == pytest.approx(cleaned[day], abs=0.01), day


def test_seven_day_average_equals_the_trailing_week_of_metrics(warehouse, data, drawn):
    drawn_average = line(drawn["revenue"], "7-day average")
    for day in data.days.index:
        start = (day - pd.Timedelta(days=6)).date()
        total, days_with_rows = sql(
            warehouse,
            "SELECT sum(revenue), count(DISTINCT order_date) FROM sales.sales_metrics "
            "WHERE order_date BETWEEN ? AND ?",
            [start, day.date()],
        ).iloc[0]
        zero_days = int(start <= ZERO_SALES <= day.date())  # counts as a day of 0 revenue
        assert drawn_average[day] == pytest.approx(
            total / (days_with_rows + zero_days), abs=0.005
        ), day


def test_region_and_product_bars_equal_the_days_metrics(warehouse, drawn):
    for by in ("region", "product"):
        expected = sql(
            warehouse,
            f"SELECT {by}, sum(revenue) AS revenue FROM sales.sales_metrics "
            f"WHERE order_date = ? GROUP BY {by}",
            [REPORT_DAY],
        ).set_index(by)["revenue"]
        ax = drawn[by]
        names = [label.get_text() for label in ax.get_yticklabels()]
        widths = [bar.get_width() for bar in ax.patches]
        assert sorted(names) == sorted(expected.index)
        np.testing.assert_allclose(widths, expected[names].to_numpy(), atol=0.005)
        assert widths == sorted(widths), "largest on top"
        written = {t.get_text().strip() for t in ax.texts}
        assert {f"{v:,.0f}" for v in expected} <= written


def expected_movers(warehouse, day: date) -> pd.DataFrame:
    """product x region revenue change against a week before, in SQL (a full outer join)."""
    return sql(
        warehouse,
        """
        WITH now AS (SELECT product, region, sum(revenue) AS r FROM sales.sales_metrics
                     WHERE order_date = ? GROUP BY product, region),
             before AS (SELECT product, region, sum(revenue) AS r FROM sales.sales_metrics
                        WHERE order_date = ? GROUP BY product, region)
        SELECT product, region, coalesce(now.r, 0) AS revenue,
               coalesce(before.r, 0) AS revenue_before,
               round(coalesce(now.r, 0) - coalesce(before.r, 0), 2) AS change
        FROM now FULL OUTER JOIN before USING (product, region)
        """,
        [day, day - timedelta(days=7)],
    )


def top_movers(warehouse, day: date) -> dict[str, list[list[str]]]:
    """up / down: the 5 largest changes as the tables show them (name, revenues, change, %)."""
    changes = expected_movers(warehouse, day)
    up = changes[changes["change"] > 0].sort_values(
        ["change", "product", "region"], ascending=[False, True, True]
    )
    down = changes[changes["change"] < 0].sort_values(["change", "product", "region"])
    return {
        direction: [
            [
                f"{m.product} · {m.region}",
                f"{m.revenue:,.2f}",
                f"{m.revenue_before:,.2f}",
                f"{m.change:+,.2f}",
                f"{m.change / m.revenue_before:+.1%}" if m.revenue_before else "–",
            ]
            for m in rows.head(5).itertuples()
        ]
        for direction, rows in (("up", up), ("down", down))
    }


def test_movers_tables_equal_a_week_over_week_query(warehouse, drawn):
    for direction, expected in top_movers(warehouse, REPORT_DAY).items():
        cells = {t.get_gid(): t.get_text() for t in drawn[f"movers_{direction}"].texts}
        shown = [[cells[f"cell:{r}:{c}"] for c in range(5)] for r in range(1, 6)]
        assert shown == expected, direction


def sql_shares(warehouse) -> pd.DataFrame:
    """Per day and reason: rejected rows / raw rows of the day."""
    shares = sql(
        warehouse,
        """
        SELECT r.partition_date AS day, r.reject_reason, count(*) * 1.0 /
               (SELECT count(*) FROM sales.raw_sales w WHERE w.partition_date = r.partition_date)
               AS share
        FROM sales.rejected_sales r GROUP BY r.partition_date, r.reject_reason
        """,
    )
    shares["day"] = pd.to_datetime(shares["day"])
    return shares.pivot(index="day", columns="reject_reason", values="share").fillna(0.0)


def test_rejection_bars_equal_rejected_over_raw_rows(warehouse, data, drawn):
    shares = sql_shares(warehouse)
    ax = drawn["rejections"]
    gaps = {pd.Timestamp(d) for d in (NEVER_LOADED, ZERO_SALES, BLOCKED_AFTER_GOOD, BLOCKED_FIRST)}
    for reason in data.rejections.columns:
        bars = columns(ax, reason)
        assert set(bars.index) == set(data.days.index) - gaps, reason
        expected = shares[reason] if reason in shares else pd.Series(0.0, index=shares.index)
        np.testing.assert_allclose(bars["height"], expected.reindex(bars.index), atol=1e-12)
    stacked = sum(columns(ax, r)["height"] for r in data.rejections.columns)
    np.testing.assert_allclose(stacked, shares.sum(axis=1).reindex(stacked.index), atol=1e-12)
    # A blocked day is a labelled gap carrying the share its blocked load rejected.
    labels = {t.get_gid(): t.get_text() for t in ax.texts if t.get_gid()}
    for day in (BLOCKED_AFTER_GOOD, BLOCKED_FIRST):
        assert labels[f"blocked_rate:{day}"] == f"{shares.loc[pd.Timestamp(day)].sum():.1%}"


def test_days_that_are_not_ok_are_marked_on_every_day_chart(drawn):
    for name in ("revenue", "orders", "aov", "rejections"):
        bands = {
            p.get_gid() for p in drawn[name].patches if (p.get_gid() or "").startswith("band:")
        }
        assert bands == {f"band:{s}:{d}" for d, s in EXPECTED_STATUS.items()}, name
    labels = {t.get_gid() for t in drawn["revenue"].texts}
    assert {f"band_label:{s}:{d}" for d, s in EXPECTED_STATUS.items()} <= labels
    # A day without metrics is a gap in the revenue line, never a zero.
    revenue = line(drawn["revenue"], "revenue")
    for day in (NEVER_LOADED, METRICS_DELETED, BLOCKED_FIRST):
        assert np.isnan(revenue[pd.Timestamp(day)]), day
    assert revenue[pd.Timestamp(ZERO_SALES)] == 0.0


def test_headline_and_movers_markdown(warehouse, data, drawn):
    metrics = sql_daily(warehouse)
    today, before = (
        metrics.loc[pd.Timestamp(REPORT_DAY)],
        metrics.loc[pd.Timestamp(date(2024, 3, 8))],
    )
    raw, rejected = (
        sql(warehouse, f"SELECT count(*) FROM sales.{t} WHERE partition_date = ?", [REPORT_DAY]).iloc[0, 0]
        for t in ("raw_sales", "rejected_sales")
    )  # fmt: skip
    assert headline(data) == {
        "status": "ok",
        "revenue": round(today["revenue"], 2),
        "orders": today["orders"],
        "avg_order_value": round(today["revenue"] / today["orders"], 2),
        "revenue_change_vs_week_before": round(today["revenue"] / before["revenue"] - 1, 4),
        "rejection_rate": round(rejected / raw, 4),
    }
    kpis = {t.get_text() for t in drawn["kpis"].texts}
    assert {
        f"{today['revenue']:,.2f}",
        f"{int(today['orders']):,}",
        f"{rejected / raw:.1%}",
        "ok",
    } <= kpis
    table = movers_markdown(data).splitlines()
    assert len(table) == 2 + len(data.movers) == 12
    assert all(row.count("|") == 8 for row in table)


def test_first_days_show_a_shorter_window(warehouse):
    for day, length in ((FIRST, 1), (date(2024, 3, 3), 3)):
        data = report_data(query_for(warehouse), day)
        assert len(data.days) == length and data.days.index[0] == pd.Timestamp(FIRST)
        assert (data.days["status"] == "ok").all()
        assert data.movers.empty and "a week before" in data.movers_note
        assert "revenue_change_vs_week_before" not in headline(data)
        assert report_chart.build_figure(data)


@pytest.mark.parametrize("day", [NEVER_LOADED, ZERO_SALES, BLOCKED_FIRST])
def test_a_report_of_a_day_without_metrics(warehouse, tmp_path, day):
    data = report_data(query_for(warehouse), day, zero_sales_days={ZERO_SALES})
    figures = headline(data)
    assert figures["status"] == EXPECTED_STATUS[day]
    assert data.by_region.empty and data.by_product.empty and data.movers.empty
    if day == ZERO_SALES:
        assert figures["revenue"] == 0.0 and figures["orders"] == 0
    else:
        assert "revenue" not in figures and "orders" not in figures
    files = render_report(data, tmp_path)
    assert files.png.stat().st_size > 10_000 and "no rows" in files.html.read_text()


def test_a_warehouse_without_tables_reads_as_missing(tmp_path):
    with duckdb.connect() as empty:
        data = report_data(query_for(empty), REPORT_DAY)
    assert list(data.days["status"]) == ["missing"] and headline(data) == {"status": "missing"}
    assert render_report(data, tmp_path / "new" / "folder").png.exists()


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
    assert list(days) == [f"{d}" for d in _days(FIRST, REPORT_DAY)]
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


def test_report_costs_under_a_second_a_day(warehouse, tmp_path):
    """CPU time, not wall time: on a busy shared machine the wall clock measures the others."""
    render_report(report_data(query_for(warehouse), FIRST), tmp_path)  # warm: imports
    days = [BLOCKED_AFTER_GOOD, BLOCKED_FIRST, REPORT_DAY, LAST]  # bands, gaps, movers
    started = time.process_time()
    for day in days:
        render_report(report_data(query_for(warehouse), day), tmp_path)
    per_day = (time.process_time() - started) / len(days)
    assert per_day < 1.0, f"{per_day:.2f} s of CPU a day"


PG_TYPES = {"VARCHAR": "text", "DATE": "date", "BIGINT": "bigint", "INTEGER": "integer",
            "DOUBLE": "double precision", "TIMESTAMP WITH TIME ZONE": "timestamptz"}  # fmt: skip


@pytest.fixture
def postgres():
    """A throwaway database on the local PostgreSQL (trust auth), dropped afterwards."""
    import psycopg2

    name = f"sales_report_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=name)
    connection.autocommit = True
    try:
        yield connection
    finally:
        connection.close()
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


def postgres_query(connection):
    """The report's `query` on PostgreSQL: `?` -> `%s`; a missing table reads as empty."""
    from psycopg2.errors import UndefinedTable

    def query(statement: str, params=()) -> pd.DataFrame:
        with connection.cursor() as cursor:
            try:
                cursor.execute(statement.format(schema='"sales"').replace("?", "%s"), list(params))
            except UndefinedTable:
                return pd.DataFrame()
            return pd.DataFrame(cursor.fetchall(), columns=[d.name for d in cursor.description])

    return query


def copy_to_postgres(warehouse, connection) -> None:
    """Every table of the DuckDB warehouse, same columns and rows, into schema sales."""
    from psycopg2.extras import execute_values

    tables = [r[0] for r in warehouse.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'sales'"
    ).fetchall()]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("CREATE SCHEMA sales")
        for table in tables:
            described = warehouse.execute(f"DESCRIBE sales.{table}").fetchall()
            names = ", ".join(f'"{c[0]}" {PG_TYPES[c[1]]}' for c in described)
            cursor.execute(f"CREATE TABLE sales.{table} ({names})")
            rows = warehouse.execute(f"SELECT * FROM sales.{table}").fetchall()
            execute_values(cursor, f"INSERT INTO sales.{table} VALUES %s", rows, page_size=2000)


def test_postgres_gives_the_same_report_data(warehouse, postgres):
    on_postgres = postgres_query(postgres)
    assert headline(report_data(on_postgres, REPORT_DAY)) == {"status": "missing"}  # no tables
    copy_to_postgres(warehouse, postgres)
    for day in (REPORT_DAY, LAST, FIRST):
        duck = report_data(query_for(warehouse), day, zero_sales_days={ZERO_SALES})
        pg = report_data(on_postgres, day, zero_sales_days={ZERO_SALES})
        for field in ("days", "rejections", "by_region", "by_product", "movers"):
            pd.testing.assert_frame_equal(getattr(pg, field), getattr(duck, field), obj=field)
        assert (pg.day, pg.compared_with, pg.movers_note) == (
            duck.day, duck.compared_with, duck.movers_note
        )  # fmt: skip
        assert headline(pg) == headline(duck) and movers_markdown(pg) == movers_markdown(duck)


def test_importing_the_report_does_not_import_matplotlib():
    code = "import sys, sales_assets.report; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
