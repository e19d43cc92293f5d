"""The daily sales report: what it shows, read from the warehouse tables only.

`report_data` reads a day and the days before it from `sales_metrics`, `raw_sales`,
`cleaned_sales` and `rejected_sales` through a `query(sql, params)` callable (portable SQL:
plain aggregates, dates as parameters, conversions in pandas), `render_report` writes the
PNG and the self-contained HTML page, and `headline` / `movers_markdown` give the figures
for a materialization's metadata. No Dagster here, and matplotlib is imported only when a
report is drawn, so importing this module stays cheap.

A day's status in the window, from the tables:
- `blocked`: the day has raw rows and its tables disagree: raw != cleaned + rejected (the
  latest load's cleaned rows were held back, its raw and rejected rows stored), or the
  metrics' orders != cleaned rows (metrics from an earlier load). Metrics shown for it, if
  any, are the last good load's.
- `missing`: no metrics rows (never loaded, or loaded without its metrics).
- `zero_sales`: no raw rows and no metrics, and the caller names it in `zero_sales_days`. A
  day loaded with no rows leaves no row in any table, so the tables alone cannot tell it
  from a day never loaded; without that knowledge it reads as `missing`.
- `ok`: everything else (metrics present, tables consistent).
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from . import report_queries as reads
from .report_queries import Query

WINDOW_DAYS = 28
STATUSES = ("ok", "blocked", "missing", "zero_sales")


@dataclass(frozen=True)
class ReportData:
    """Everything the report draws, as plain frames (days as a DatetimeIndex named `day`).

    days: one row per day of the window: status, revenue, orders, avg_order_value,
        revenue_7d_avg (mean over the trailing 7 days that have metrics), raw_rows,
        cleaned_rows, rejected_rows, rejection_rate (NaN where the day has no raw rows).
    rejections: one row per day, one column per reject reason: share of the day's raw rows.
    by_region, by_product: the day's revenue and orders per region / product, largest first.
    movers: product x region with the largest revenue change against `compared_with` (the
        same weekday a week before): `direction` up or down, revenue, revenue_before,
        change, change_pct (NaN when nothing sold a week before); empty when either day
        has no metrics, and `movers_note` says why.
    """

    day: date
    days: pd.DataFrame
    rejections: pd.DataFrame
    by_region: pd.DataFrame
    by_product: pd.DataFrame
    movers: pd.DataFrame
    compared_with: date
    movers_note: str = ""

    @property
    def today(self) -> pd.Series:
        """The report day's row of `days`."""
        return self.days.iloc[-1]


@dataclass(frozen=True)
class ReportFiles:
    png: Path
    html: Path


def report_data(
    query: Query, day: date, days: int = WINDOW_DAYS, *, zero_sales_days: Collection[date] = ()
) -> ReportData:
    """Read the report of `day` and up to `days - 1` days before it (from the first loaded day).

    `zero_sales_days`: days the caller knows were loaded with no rows (see the module doc).
    """
    start = reads.window_start(query, day, days)
    rejected = reads.read(query, reads.REJECTED_ROWS, [start, day])
    daily = reads.daily(query, start, day, rejected, set(zero_sales_days))
    groups = reads.read(query, reads.GROUPS, [day, day - timedelta(days=7)])
    today = groups[groups["order_date"] == pd.Timestamp(day)]
    movers, note = reads.movers(groups, daily, day)
    return ReportData(
        day=day,
        days=daily,
        rejections=reads.rejections(rejected, daily),
        by_region=reads.breakdown(today, "region"),
        by_product=reads.breakdown(today, "product"),
        movers=movers,
        compared_with=day - timedelta(days=7),
        movers_note=note,
    )


def change_vs_week_before(data: ReportData) -> float:
    """Revenue change of the day against the same weekday a week before, as a fraction (NaN if unknown)."""
    key = pd.Timestamp(data.compared_with)
    if key not in data.days.index:
        return float("nan")
    before = data.days.at[key, "revenue"]
    today = data.today["revenue"]
    return float((today - before) / before) if before and not pd.isna(before) else float("nan")


def headline(data: ReportData) -> dict[str, float | int | str]:
    """The day's headline figures for metadata; figures that cannot be known are left out."""
    today = data.today
    figures = {
        "status": str(today["status"]),
        "revenue": today["revenue"],
        "orders": today["orders"],
        "avg_order_value": today["avg_order_value"],
        "revenue_change_vs_week_before": change_vs_week_before(data),
        "rejection_rate": today["rejection_rate"],
    }
    out: dict[str, float | int | str] = {}
    for name, value in figures.items():
        if isinstance(value, str):
            out[name] = value
        elif not pd.isna(value):
            out[name] = int(value) if name == "orders" else round(float(value), 4)
    return out


def movers_markdown(data: ReportData) -> str:
    """The top-movers table as markdown (or one line saying why there is none)."""
    if data.movers.empty:
        return f"_No movers against {data.compared_with}: {data.movers_note}._"
    lines = [
        f"| | product | region | revenue | {data.compared_with} | change | change % |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for row in data.movers.itertuples(index=False):
        arrow = "▲" if row.direction == "up" else "▼"
        lines.append(
            f"| {arrow} | {row.product} | {row.region} | {row.revenue:,.2f} | "
            f"{row.revenue_before:,.2f} | {row.change:+,.2f} | {percent(row.change_pct, sign=True)} |"
        )
    return "\n".join(lines)


def money(value) -> str:
    """An amount with thousands separators and cents; an en dash when unknown."""
    return "–" if value is None or pd.isna(value) else f"{value:,.2f}"


def count(value) -> str:
    """A whole number with thousands separators; an en dash when unknown."""
    return "–" if value is None or pd.isna(value) else f"{int(value):,}"


def percent(value: float, sign: bool = False) -> str:
    """A fraction as a percentage with one decimal; an en dash when unknown."""
    if value is None or pd.isna(value):
        return "–"
    return f"{value:+.1%}" if sign else f"{value:.1%}"


def report_paths(out_dir: Path, day: date) -> ReportFiles:
    """Where the report of `day` lives in `out_dir`."""
    stem = f"sales_report_{day:%Y-%m-%d}"
    return ReportFiles(png=Path(out_dir) / f"{stem}.png", html=Path(out_dir) / f"{stem}.html")


def render_report(data: ReportData, out_dir: Path) -> ReportFiles:
    """Write the PNG and the HTML page of `data` into `out_dir`, each replaced whole."""
    from .report_chart import draw_png  # matplotlib: imported only when a report is drawn
    from .report_html import html_page

    files = report_paths(out_dir, data.day)
    files.png.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    draw_png(data, buffer)
    png = buffer.getvalue()
    _replace(files.png, png)
    _replace(files.html, html_page(data, png).encode("utf-8"))
    return files


def _replace(path: Path, content: bytes) -> None:
    """Write to a temporary file beside `path`, then rename over it: readers see old or new."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
