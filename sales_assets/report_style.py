"""The report's colours, status bands and matplotlib style, shared by the PNG and the HTML page."""

INK, MUTED, GRID = "#1f2933", "#6b7280", "#e5e7eb"
REVENUE, AVERAGE, ORDERS, AOV = "#2563eb", "#f59e0b", "#0d9488", "#7c3aed"
UP, DOWN = "#15803d", "#b91c1c"
REASON_COLOURS = ("#4e79a7", "#f28e2b", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7")
EXTRA_COLOUR = "#9c755f"
# status -> (colour, hatch of its band on the day charts, label, note under the headline)
STATUS_LOOK = {
    "ok": (UP, "", "ok", "tables agree"),
    "blocked": ("#dc2626", "///", "blocked", "latest load held back"),
    "missing": ("#6b7280", "xxx", "missing", "no metrics for the day"),
    "zero_sales": ("#d97706", "...", "no sales", "loaded with no rows"),
}
BANDS = {status: look for status, look in STATUS_LOOK.items() if status != "ok"}
STYLE = {
    "font.family": "DejaVu Sans", "font.size": 10.5, "text.color": INK,
    "axes.titlesize": 12.5, "axes.titleweight": "bold", "axes.titlelocation": "left",
    "axes.titlepad": 10, "axes.edgecolor": "#9ca3af", "axes.labelcolor": INK,
    "axes.spines.top": False, "axes.spines.right": False,
    "xtick.color": MUTED, "ytick.color": MUTED, "hatch.linewidth": 0.8,
}  # fmt: skip
