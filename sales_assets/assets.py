"""The asset graph: raw_sales -> cleaned_sales + rejected_sales -> sales_metrics.

Thin wiring: read the inputs, call the pure transforms, attach metadata, report the
checks. Each day is one partition; each asset's checks are evaluated for that day.
"""

from datetime import date
from time import perf_counter

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetOut,
    Backoff,
    Failure,
    Jitter,
    MetadataValue,
    Output,
    RetryPolicy,
    asset,
    multi_asset,
)

from . import checks, transforms
from .contracts import (
    REQUIRED_COLUMNS,
    CleanedSales,
    RawSales,
    RejectedSales,
    SalesMetrics,
    table_schema,
)
from .partitions import daily_partitions
from .resources import QualityPolicy, SalesSource
from .sources.landing import LandingError
from .warehouse import Warehouse

GROUP = "sales"
# Transient read errors (network shares, object stores) retry; bad files fail at once.
READ_RETRY = RetryPolicy(
    max_retries=3, delay=2, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)
METRIC_INPUT_COLUMNS = [
    "order_id",
    "order_date",
    "product",
    "region",
    "quantity",
    "amount",
    "customer_id",
]


def _table_metadata(model, partition_expr: str) -> dict:
    return {"partition_expr": partition_expr, "dagster/column_schema": table_schema(model)}


def _preview(frame: pd.DataFrame) -> MetadataValue:
    return (
        MetadataValue.md(frame.head(5).astype(str).to_markdown(index=False))
        if len(frame)
        else MetadataValue.md("_no rows_")
    )


def _rate(rows: int, seconds: float) -> float:
    return round(rows / seconds, 1) if seconds > 0 else 0.0


@asset(
    partitions_def=daily_partitions,
    group_name=GROUP,
    kinds={"duckdb", "pandas"},
    metadata=_table_metadata(RawSales, "partition_date"),
    check_specs=checks.specs_for("raw_sales"),
    retry_policy=READ_RETRY,
)
def raw_sales(context: AssetExecutionContext, source: SalesSource):
    """Every row of the day's source as received (text), with partition_date, source_file, source_row."""
    day = date.fromisoformat(context.partition_key)
    started = perf_counter()
    try:
        raw = source.read_day(day)
    except LandingError as error:
        raise Failure(description=f"day {day}: {error}", allow_retries=False) from None
    seconds = perf_counter() - started
    yield Output(
        raw,
        metadata={
            "rows": len(raw),
            "source": source.kind,
            "files": MetadataValue.json(
                sorted(raw["source_file"].unique().tolist()) if len(raw) else []
            ),
            "columns": MetadataValue.json([str(c) for c in raw.columns]),
            "read_seconds": round(seconds, 3),
            "rows_per_second": _rate(len(raw), seconds),
            "preview": _preview(raw),
        },
    )
    result = checks.raw_schema(raw, REQUIRED_COLUMNS)
    yield result
    checks.raise_if_blocked([result], day)


@multi_asset(
    name="clean_sales",
    partitions_def=daily_partitions,
    group_name=GROUP,
    outs={
        "cleaned_sales": AssetOut(
            kinds={"duckdb", "pandas"},
            metadata=_table_metadata(CleanedSales, "order_date"),
            description="The day's valid orders, one row per order_id.",
        ),
        "rejected_sales": AssetOut(
            kinds={"duckdb", "pandas"},
            metadata=_table_metadata(RejectedSales, "partition_date"),
            description="The quarantine: every raw row not in cleaned_sales, with reject_reason and reject_detail.",
        ),
    },
    check_specs=checks.specs_for("cleaned_sales"),
)
def clean_sales(
    context: AssetExecutionContext,
    raw_sales: pd.DataFrame,
    warehouse: Warehouse,
    quality: QualityPolicy,
):
    """Apply the cleaning rules: each raw row goes to cleaned_sales or rejected_sales."""
    day = date.fromisoformat(context.partition_key)
    started = perf_counter()
    cleaned, rejected = transforms.clean_sales(raw_sales, day)
    seconds = perf_counter() - started
    by_reason = rejected["reject_reason"].value_counts().to_dict() if len(rejected) else {}
    yield Output(
        cleaned,
        output_name="cleaned_sales",
        metadata={
            "rows": len(cleaned),
            "raw_rows": len(raw_sales),
            "revenue": round(float(cleaned["amount"].sum()), 2),
            "clean_seconds": round(seconds, 3),
            "rows_per_second": _rate(len(raw_sales), seconds),
            "preview": _preview(cleaned),
        },
    )
    yield Output(
        rejected,
        output_name="rejected_sales",
        metadata={
            "rows": len(rejected),
            "rejects_by_reason": MetadataValue.json({str(k): int(v) for k, v in by_reason.items()}),
            "preview": _preview(rejected),
        },
    )
    history = checks.volume_history(warehouse.query, day)
    results = [
        checks.pandera_check("cleaned_sales_schema", CleanedSales, cleaned),
        checks.rows_accounted_for(raw_sales, cleaned, rejected),
        checks.rejection_rate(len(raw_sales), rejected, quality.max_reject_rate),
        checks.daily_volume(len(cleaned), history),
    ]
    yield from results
    checks.raise_if_blocked(results, day)


@asset(
    partitions_def=daily_partitions,
    group_name=GROUP,
    kinds={"duckdb", "pandas"},
    ins={"cleaned_sales": AssetIn(metadata={"columns": METRIC_INPUT_COLUMNS})},
    metadata=_table_metadata(SalesMetrics, "order_date"),
    check_specs=checks.specs_for("sales_metrics"),
)
def sales_metrics(context: AssetExecutionContext, cleaned_sales: pd.DataFrame):
    """One row per order_date x product x region; written only when its checks pass."""
    day = date.fromisoformat(context.partition_key)
    started = perf_counter()
    metrics = transforms.daily_metrics(cleaned_sales)
    seconds = perf_counter() - started
    results = [
        checks.pandera_check("sales_metrics_schema", SalesMetrics, metrics),
        checks.revenue_reconciles(metrics, cleaned_sales),
    ]
    yield from results
    checks.raise_if_blocked(results, day)  # a blocked day keeps its previous metrics rows
    yield Output(
        metrics,
        metadata={
            "rows": len(metrics),
            "orders": int(metrics["orders"].sum()),
            "revenue": round(float(metrics["revenue"].sum()), 2),
            "metrics_seconds": round(seconds, 3),
            "preview": _preview(metrics),
        },
    )
