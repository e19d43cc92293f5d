"""The pandera contracts as checks: raw columns, cleaned rows, metrics rows.

Validation is lazy, so every failure is counted; the UI shows failures per rule, the failure
cases and the failing rows (the pattern PUDL uses for its pandera asset checks).
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from dagster import MetadataValue
from pandera.errors import SchemaErrors

from ..contracts import (
    LINEAGE_COLUMNS,
    REQUIRED_COLUMNS,
    CleanedSales,
    RawSales,
    SalesMetrics,
)
from .base import SAMPLE_ROWS, Check, Finding, table

_NO_FAILURES = pd.DataFrame(columns=["schema_context", "column", "check", "failure_case", "index"])


def failure_cases(model: type[pa.DataFrameModel], frame: pd.DataFrame) -> pd.DataFrame:
    """One row per failure of `model` on `frame`; a frame-wide rule counts once per row."""
    try:
        model.validate(frame, lazy=True)
        return _NO_FAILURES
    except SchemaErrors as errors:
        failures = errors.failure_cases
    frame_wide = (failures["schema_context"] == "DataFrameSchema") & failures["index"].notna()
    per_row = failures[frame_wide].drop_duplicates(["check", "index"]).assign(column="*")
    cases = pd.concat([failures[~frame_wide], per_row])
    return cases.assign(column=cases["column"].fillna("*"))


def conforms(model: type[pa.DataFrameModel], frame: pd.DataFrame) -> Finding:
    """Does `frame` satisfy `model`? On failure: counts by rule, cases and failing rows."""
    cases = failure_cases(model, frame)
    by_rule = (
        cases.groupby(["column", "check"], dropna=False)
        .size()
        .rename("failures")
        .reset_index()
        .sort_values("failures", ascending=False)
    )
    bad_index = pd.unique(cases["index"].dropna())
    failing = frame.loc[bad_index[:SAMPLE_ROWS]] if len(bad_index) and len(frame) else frame.head(0)
    name = model.__name__
    summary = (
        f"{len(frame)} rows satisfy {name}"
        if cases.empty
        else f"{len(cases)} violation(s) of {name} in {len(bad_index)} of {len(frame)} rows: "
        + "; ".join(f"{r.column}: {r.check} ({r.failures})" for r in by_rule.head(3).itertuples())
    )
    ordered = cases[["column", "check", "failure_case", "index"]].sort_values(
        "index", na_position="first"
    )
    return Finding(
        cases.empty,
        summary,
        {
            "model": name,
            "rows": len(frame),
            "failing_rows": len(bad_index),
            "failure_count": len(cases),
            "failures_by_rule": table(by_rule),
            "failure_cases": table(ordered),
            "failing_rows_sample": table(failing.reset_index(names="row")),
        },
    )


def raw_columns(raw: pd.DataFrame) -> Finding:
    """RawSales, plus the missing required columns spelled out."""
    found = conforms(RawSales, raw)
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    summary = found.summary
    if missing:
        summary = f"missing required column(s): {', '.join(missing)}; {summary}"
    return Finding(
        found.passed and not missing,
        summary,
        {
            **found.metadata,
            "columns": MetadataValue.json([str(c) for c in raw.columns]),
            "missing_columns": table(pd.DataFrame({"missing column": missing})),
            "missing_column_count": len(missing),
        },
    )


RAW_SALES_SCHEMA = Check(
    "raw_sales_schema",
    "raw_sales",
    blocking=True,
    description=(
        f"Every required source column ({', '.join(REQUIRED_COLUMNS)}) and the lineage columns "
        f"({', '.join(LINEAGE_COLUMNS)}) are present, as text (pandera model RawSales). "
        "Blocks the day."
    ),
    evaluate=raw_columns,
)

CLEANED_SALES_SCHEMA = Check(
    "cleaned_sales_schema",
    "cleaned_sales",
    blocking=True,
    description=(
        "Cleaned rows satisfy the CleanedSales pandera model: types, value ranges, unique "
        "order_id, amount = round(quantity * unit_price * (1 - discount), 2), order_date = UTC "
        "day of order_ts. Blocks the day."
    ),
    evaluate=lambda cleaned: conforms(CleanedSales, cleaned),
)

SALES_METRICS_SCHEMA = Check(
    "sales_metrics_schema",
    "sales_metrics",
    blocking=True,
    description=(
        "Metrics rows satisfy the SalesMetrics pandera model: one row per order_date x product x "
        "region, positive counts, customers <= orders. Blocks the day (judged before writing)."
    ),
    evaluate=lambda metrics: conforms(SalesMetrics, metrics),
)
