"""The daily report: every figure drawn equals a SQL query on the warehouse tables.

One real DuckDB warehouse (report_scenario: synthetic days through the project's cleaning
rules) holds the awkward days a report must survive inside its window. The figure is read back from matplotlib's artists, not from the ReportData it was
drawn from, and compared with queries written here, independently of the report's own SQL.
"""

from __future__ import annotations

from datetime import date

import duckdb
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest

from sales_assets import report_chart
from sales_assets.report import headline, movers_markdown, render_report, report_data

from .report_scenario import (
    BLOCKED_AFTER_GOOD,
    BLOCKED_FIRST,
    EXPECTED_STATUS,
    FIRST,
    METRICS_DELETED,
    NEVER_LOADED,
    REPORT_DAY,
    ZERO_SALES,
    build_scenario,
    days_between,
    sql,
    sql_daily,
    sql_shares,
    top_movers,
)
from .report_warehouse import query_for


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> duckdb.DuckDBPyConnection:
    connection = build_scenario(tmp_path_factory.mktemp("report") / "warehouse.duckdb")
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def data(warehouse):
    return report_data(query_for(warehouse), REPORT_DAY, zero_sales_days={ZERO_SALES})


@pytest.fixture(scope="module")
def drawn(data) -> dict:
    """The report's axes by label, as drawn."""
    return {ax.get_label(): ax for ax in report_chart.build_figure(data).axes}


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
    assert list(statuses) == days_between(FIRST, REPORT_DAY)
    expected = {d: EXPECTED_STATUS.get(d, "ok") for d in days_between(FIRST, REPORT_DAY)}
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


def test_movers_tables_equal_a_week_over_week_query(warehouse, drawn):
    for direction, expected in top_movers(warehouse, REPORT_DAY).items():
        cells = {t.get_gid(): t.get_text() for t in drawn[f"movers_{direction}"].texts}
        shown = [[cells[f"cell:{r}:{c}"] for c in range(5)] for r in range(1, 6)]
        assert shown == expected, direction


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
