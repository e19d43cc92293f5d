"""The report as one self-contained HTML page: inline CSS, the PNG as a data URI, tables.

Opens with no network and runs no script. Every value is escaped.
"""

from __future__ import annotations

import base64
from html import escape

import pandas as pd

from .report import ReportData, count, headline, money, percent

CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;color:#1f2933;margin:24px auto;max-width:1400px;
padding:0 16px;background:#fff}
h1{font-size:26px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}
p.sub{color:#6b7280;margin:0 0 16px}
.kpis{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0 20px}
.kpi{border:1px solid #e5e7eb;border-radius:8px;padding:10px 16px;min-width:150px}
.kpi b{display:block;font-size:22px}.kpi span{color:#6b7280;font-size:12px;text-transform:uppercase}
img{max-width:100%;height:auto;border:1px solid #e5e7eb}
.cols{display:flex;gap:32px;flex-wrap:wrap}.cols>div{flex:1;min-width:320px}
table{border-collapse:collapse;font-size:14px;margin:4px 0}
th,td{padding:4px 10px;border-bottom:1px solid #e5e7eb;text-align:right}
th{color:#6b7280}td:first-child,th:first-child{text-align:left}
tr.blocked td{background:#fee2e2}tr.missing td{background:#f3f4f6}tr.zero_sales td{background:#fef3c7}
"""


def html_page(data: ReportData, png: bytes) -> str:
    """The page for `data`, with `png` (the drawn report) embedded."""
    day = f"{data.day:%Y-%m-%d}"
    image = base64.b64encode(png).decode("ascii")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',  # no favicon request: the page needs no network
        f"<title>Sales report {day}</title><style>{CSS}</style></head><body>",
        f"<h1>Daily sales report · {data.day:%A %d %B %Y}</h1>",
        f'<p class="sub">{len(data.days)} days to {day}, read from the warehouse tables.</p>',
        _kpis(data),
        f'<img id="report-chart" alt="Sales report chart for {day}" '
        f'src="data:image/png;base64,{image}">',
        f"<h2>Top movers vs the same weekday a week before ({data.compared_with:%Y-%m-%d})</h2>",
        _movers(data),
        '<div class="cols"><div><h2>Revenue by region</h2>',
        _table(_breakdown(data.by_region, "region"), "by-region"),
        "</div><div><h2>Revenue by product</h2>",
        _table(_breakdown(data.by_product, "product"), "by-product"),
        "</div></div>",
        "<h2>Days</h2>",
        _table(_days(data), "days", row_classes=data.days["status"].tolist()),
        "<h2>Rejected share of raw rows, by reason</h2>",
        _table(_rejections(data), "rejections", row_classes=data.days["status"].tolist()),
        "</body></html>",
    ]
    return "\n".join(parts)


def _kpis(data: ReportData) -> str:
    figures = headline(data)
    shown = {
        "status": figures["status"].replace("_", " "),
        "revenue": money(figures.get("revenue")),
        "orders": count(figures.get("orders")),
        "avg order value": money(figures.get("avg_order_value")),
        "vs week before": percent(figures.get("revenue_change_vs_week_before"), sign=True),
        "rejection rate": percent(figures.get("rejection_rate")),
    }
    tiles = "".join(
        f'<div class="kpi"><span>{escape(k)}</span><b>{escape(v)}</b></div>'
        for k, v in shown.items()
    )
    return f'<div class="kpis" id="kpis">{tiles}</div>'


def _table(frame: pd.DataFrame, name: str, row_classes: list[str] | None = None) -> str:
    """An HTML table of text cells; an empty frame becomes one row saying so."""
    head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for i, values in enumerate(frame.itertuples(index=False)):
        css = f' class="{escape(row_classes[i])}"' if row_classes else ""
        rows.append(f"<tr{css}>" + "".join(f"<td>{escape(str(v))}</td>" for v in values) + "</tr>")
    if not rows:
        rows.append(f'<tr><td colspan="{max(len(frame.columns), 1)}">no rows</td></tr>')
    return (
        f'<table id="{name}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _breakdown(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            by: frame[by].astype(str),
            "revenue": frame["revenue"].map(money),
            "orders": frame["orders"].map(count),
        }
    )


def _movers(data: ReportData) -> str:
    if data.movers.empty:
        return f'<p id="movers">No movers: {escape(data.movers_note)}.</p>'
    movers = data.movers
    frame = pd.DataFrame(
        {
            "": movers["direction"].map({"up": "▲ up", "down": "▼ down"}),
            "product": movers["product"],
            "region": movers["region"],
            "revenue": movers["revenue"].map(money),
            "week before": movers["revenue_before"].map(money),
            "change": movers["change"].map(lambda v: f"{v:+,.2f}"),
            "change %": movers["change_pct"].map(lambda v: percent(v, sign=True)),
        }
    )
    return _table(frame, "movers")


def _days(data: ReportData) -> pd.DataFrame:
    days = data.days
    return pd.DataFrame(
        {
            "day": days.index.strftime("%a %Y-%m-%d"),
            "status": days["status"].str.replace("_", " "),
            "revenue": days["revenue"].map(money),
            "7-day average": days["revenue_7d_avg"].map(money),
            "orders": days["orders"].map(count),
            "avg order value": days["avg_order_value"].map(money),
            "raw rows": days["raw_rows"].map(count),
            "rejection rate": days["rejection_rate"].map(percent),
        }
    )


def _rejections(data: ReportData) -> pd.DataFrame:
    frame = data.rejections.apply(lambda column: column.map(percent))
    frame.insert(0, "day", data.rejections.index.strftime("%a %Y-%m-%d"))
    return frame
