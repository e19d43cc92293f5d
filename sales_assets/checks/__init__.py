"""The data-quality checks of contract section 6, each declared once.

Per-day checks (judged on the day's staged frames, before anything is written):
raw columns, cleaned rows, accounting, rejection rate, volume, metrics rows, revenue.
Whole-table checks on sales_metrics (freshness, completeness) live in `whole_table.py`.
"""

from .base import SAMPLE_ROWS, Check, Finding, Verdict, table
from .rates import DAILY_VOLUME, REJECTION_RATE, volume_history
from .reconcile import REVENUE_RECONCILES, ROWS_ACCOUNTED_FOR
from .schemas import CLEANED_SALES_SCHEMA, RAW_SALES_SCHEMA, SALES_METRICS_SCHEMA

# In the contract's order; the asset graph declares their specs from this tuple.
DAY_CHECKS: tuple[Check, ...] = (
    RAW_SALES_SCHEMA,
    CLEANED_SALES_SCHEMA,
    ROWS_ACCOUNTED_FOR,
    REJECTION_RATE,
    DAILY_VOLUME,
    SALES_METRICS_SCHEMA,
    REVENUE_RECONCILES,
)
BY_NAME = {check.name: check for check in DAY_CHECKS}

__all__ = [
    "BY_NAME",
    "CLEANED_SALES_SCHEMA",
    "DAILY_VOLUME",
    "DAY_CHECKS",
    "RAW_SALES_SCHEMA",
    "REJECTION_RATE",
    "REVENUE_RECONCILES",
    "ROWS_ACCOUNTED_FOR",
    "SALES_METRICS_SCHEMA",
    "SAMPLE_ROWS",
    "Check",
    "Finding",
    "Verdict",
    "table",
    "volume_history",
]
