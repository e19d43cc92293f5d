"""Data-quality rules as asset check results (contract section 6).

Each function takes frames (or counts) of one day and returns an `AssetCheckResult` with a
one-line verdict, counts and up to 20 failing rows or values as markdown tables, so the UI
shows why a day passed or was blocked. The assets evaluate these inline for the run's day
(see assets.py); the whole-table checks on sales_metrics live in table_checks.py.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
import pandera.pandas as pa
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, Failure, MetadataValue
from pandera.errors import SchemaErrors

from .contracts import REQUIRED_COLUMNS, RawSales
from .partitions import daily_partitions
from .transforms import text

SAMPLE_ROWS = 20
REVENUE_TOLERANCE = 0.01
VOLUME_BAND = (0.5, 2.0)  # share of the median of the previous days present
VOLUME_DAYS = 7


@dataclass(frozen=True)
class Rule:
    asset: str
    blocking: bool
    guards: str


RULES = {
    "raw_sales_schema": Rule(
        "raw_sales",
        True,
        "Every required source column (order_id, order_ts, product, region, quantity, unit_price) and the "
        "lineage columns are present, as text (pandera model RawSales). Blocks the day.",
    ),
    "cleaned_sales_schema": Rule(
        "cleaned_sales",
        True,
        "Cleaned rows satisfy the CleanedSales pandera model: types, value ranges, unique order_id, "
        "amount = round(quantity * unit_price * (1 - discount), 2), order_date = UTC day of order_ts. Blocks the day.",
    ),
    "rows_accounted_for": Rule(
        "cleaned_sales",
        True,
        "No raw row is lost or invented: raw rows = cleaned rows + rejected rows for the day. Blocks the day.",
    ),
    "rejection_rate": Rule(
        "cleaned_sales",
        True,
        "The share of the day's raw rows sent to rejected_sales stays within SALES_MAX_REJECT_RATE "
        "(ERROR and blocked above it, WARN above a fifth of it).",
    ),
    "daily_volume": Rule(
        "cleaned_sales",
        False,
        "The day's cleaned rows lie within 50%-200% of the median of the previous 7 days present in "
        "cleaned_sales (WARN only, never blocks).",
    ),
    "sales_metrics_schema": Rule(
        "sales_metrics",
        True,
        "Metrics rows satisfy the SalesMetrics pandera model: one row per order_date x product x region, "
        "positive counts, customers <= orders. Blocks the day (checked before writing).",
    ),
    "revenue_reconciles": Rule(
        "sales_metrics",
        True,
        "sum(revenue) of the day's metrics equals sum(amount) of its cleaned rows within 0.01. "
        "Blocks the day (checked before writing).",
    ),
}


def specs_for(asset: str) -> list[AssetCheckSpec]:
    """The check specs one asset declares (and reports inline for the run's day)."""
    # partitions_def: without it Dagster records the result with no day (the day's planned
    # execution then reads SKIPPED in the UI and in per-day queries). Dagster 1.13 flags it as
    # preview on every load; we rely on it deliberately (tests pin the behaviour), so say it once.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Specifying a partitions_def on an AssetCheckSpec"
        )
        return [
            AssetCheckSpec(
                name,
                asset=rule.asset,
                blocking=rule.blocking,
                description=rule.guards,
                partitions_def=daily_partitions,
            )
            for name, rule in RULES.items()
            if rule.asset == asset
        ]


def markdown(frame: pd.DataFrame) -> MetadataValue:
    """Up to SAMPLE_ROWS rows as a markdown table."""
    if frame.empty:
        return MetadataValue.md("_none_")
    return MetadataValue.md(frame.head(SAMPLE_ROWS).astype(str).to_markdown(index=False))


def _result(
    name: str, passed: bool, summary: str, severity=AssetCheckSeverity.ERROR, **metadata
) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=name,
        asset_key=RULES[name].asset,
        passed=bool(passed),
        severity=severity,
        description=summary,
        metadata=metadata,
    )


def pandera_check(
    name: str, model: type[pa.DataFrameModel], frame: pd.DataFrame
) -> AssetCheckResult:
    """Validate lazily so every failure is counted; show failures per rule, cases and rows."""
    try:
        model.validate(frame, lazy=True)
        failures = pd.DataFrame(
            columns=["schema_context", "column", "check", "failure_case", "index"]
        )
    except SchemaErrors as errors:
        failures = errors.failure_cases
    # A frame-wide check reports every column of a failing row: keep one case per row.
    frame_wide = (failures["schema_context"] == "DataFrameSchema") & failures["index"].notna()
    cases = pd.concat(
        [
            failures[~frame_wide],
            failures[frame_wide].drop_duplicates(["check", "index"]).assign(column="*"),
        ]
    )
    by_rule = (
        cases.assign(column=cases["column"].fillna("*"))
        .groupby(["column", "check"], dropna=False)
        .size()
        .rename("failures")
        .reset_index()
        .sort_values("failures", ascending=False)
    )
    bad_index = pd.unique(cases["index"].dropna())
    failing_rows = (
        frame.loc[bad_index[:SAMPLE_ROWS]] if len(bad_index) and len(frame) else frame.head(0)
    )
    passed = cases.empty
    summary = (
        f"{len(frame)} rows satisfy {model.__name__}"
        if passed
        else f"{len(cases)} violation(s) of {model.__name__} in {len(bad_index)} of {len(frame)} rows: "
        + "; ".join(f"{r.column}: {r.check} ({r.failures})" for r in by_rule.head(3).itertuples())
    )
    return _result(
        name,
        passed,
        summary,
        model=model.__name__,
        rows=len(frame),
        failing_rows=len(bad_index),
        failure_count=len(cases),
        failures_by_rule=markdown(by_rule),
        failure_cases=markdown(
            cases[["column", "check", "failure_case", "index"]].sort_values(
                "index", na_position="first"
            )
        ),
        failing_rows_sample=markdown(failing_rows.reset_index(names="row")),
    )


def raw_schema(raw: pd.DataFrame, required: tuple[str, ...] = REQUIRED_COLUMNS) -> AssetCheckResult:
    """RawSales pandera model, plus the missing required columns spelled out."""
    result = pandera_check("raw_sales_schema", RawSales, raw)
    missing = [c for c in required if c not in raw.columns]
    summary = (
        f"missing required column(s): {', '.join(missing)}; " + result.description
        if missing
        else result.description
    )
    return _result(
        "raw_sales_schema",
        result.passed and not missing,
        summary,
        **result.metadata,
        columns=MetadataValue.json([str(c) for c in raw.columns]),
        missing_columns=markdown(pd.DataFrame({"missing column": missing})),
        missing_column_count=len(missing),
    )


def rows_accounted_for(
    raw: pd.DataFrame, cleaned: pd.DataFrame, rejected: pd.DataFrame
) -> AssetCheckResult:
    """raw = cleaned + rejected; on a mismatch, list the raw rows found in neither and the
    cleaned rows that come from no raw row (matched by source_file/source_row, then order_id)."""
    unaccounted = len(raw) - len(cleaned) - len(rejected)
    passed = unaccounted == 0
    lost = extra = pd.DataFrame()
    if not passed:
        lineage = ["source_file", "source_row"]
        flagged = raw[lineage].merge(
            rejected[lineage].drop_duplicates(), how="left", on=lineage, indicator=True
        )
        kept = raw[(flagged["_merge"] == "left_only").to_numpy()]
        kept_ids = text(kept, "order_id")
        cleaned_ids = cleaned["order_id"].astype("string[pyarrow]")
        lost = kept[~kept_ids.isin(cleaned_ids).to_numpy()]
        extra = cleaned[~cleaned_ids.isin(kept_ids.dropna()).to_numpy()]
    summary = (
        f"all {len(raw)} raw rows accounted for ({len(cleaned)} cleaned + {len(rejected)} rejected)"
        if passed
        else f"raw {len(raw)} != cleaned {len(cleaned)} + rejected {len(rejected)} ({unaccounted:+d} unaccounted)"
    )
    return _result(
        "rows_accounted_for",
        passed,
        summary,
        raw_rows=len(raw),
        cleaned_rows=len(cleaned),
        rejected_rows=len(rejected),
        unaccounted=unaccounted,
        lost_raw_rows=len(lost),
        lost_raw_rows_sample=markdown(lost),
        unexpected_cleaned_rows=len(extra),
        unexpected_cleaned_rows_sample=markdown(extra),
    )


def rejection_rate(raw: int, rejected: pd.DataFrame, max_rate: float) -> AssetCheckResult:
    """ERROR (blocks) above `max_rate`, WARN above a fifth of it, else passes."""
    rate = len(rejected) / raw if raw else 0.0
    warn_above = max_rate / 5
    severity = AssetCheckSeverity.ERROR if rate > max_rate else AssetCheckSeverity.WARN
    by_reason = (
        rejected["reject_reason"]
        .value_counts()
        .rename_axis("reject_reason")
        .rename("rows")
        .reset_index()
        if len(rejected)
        else pd.DataFrame(columns=["reject_reason", "rows"])
    )
    verdict = (
        "blocked: above"
        if rate > max_rate
        else "warn: above a fifth of"
        if rate > warn_above
        else "within"
    )
    return _result(
        "rejection_rate",
        rate <= warn_above,
        f"{len(rejected)} of {raw} raw rows rejected ({rate:.2%}), {verdict} the limit {max_rate:.2%}",
        severity,
        rejection_rate=round(rate, 6),
        max_reject_rate=max_rate,
        warn_above=warn_above,
        raw_rows=raw,
        rejected_rows=len(rejected),
        rejects_by_reason=markdown(by_reason),
        sample_rejects=markdown(rejected),
    )


def volume_history(query, day: date) -> pd.DataFrame:
    """order_date, rows of the (up to) 7 days present in cleaned_sales before `day`.

    `query` is `Warehouse.query`. Looks one week back first and widens only when days are
    missing: counting every earlier day of a year at 1M rows a day takes ~5 s, a week ~0.1 s.
    """
    sql = "SELECT order_date, count(*) AS rows FROM {schema}.cleaned_sales WHERE order_date < ?"
    for lookback in (VOLUME_DAYS, 31, 366, None):
        window, params = (
            (" AND order_date >= ?", [day, day - timedelta(days=lookback)])
            if lookback
            else ("", [day])
        )
        history = query(
            sql + window + " GROUP BY order_date ORDER BY order_date DESC LIMIT ?",
            [*params, VOLUME_DAYS],
        )
        if len(history) >= VOLUME_DAYS:
            break
    return history


def daily_volume(rows: int, history: pd.DataFrame) -> AssetCheckResult:
    """`history`: columns order_date, rows for up to 7 earlier days present in the warehouse."""
    if len(history):
        history = history.assign(
            order_date=pd.to_datetime(history["order_date"]).dt.strftime("%Y-%m-%d")
        )
    compared_with = history["order_date"].tolist() if len(history) else []
    if history.empty:
        return _result(
            "daily_volume",
            True,
            f"{rows} rows; no earlier day to compare with",
            AssetCheckSeverity.WARN,
            rows=rows,
            compared_with=MetadataValue.json([]),
            previous_days=markdown(history),
        )
    median = float(history["rows"].median())
    ratio = rows / median if median else (1.0 if rows == 0 else float("inf"))
    low, high = VOLUME_BAND
    passed = low <= ratio <= high
    return _result(
        "daily_volume",
        passed,
        f"{rows} rows = {ratio:.0%} of the median {median:g} of {', '.join(compared_with)}"
        + ("" if passed else f" (outside {low:.0%}-{high:.0%})"),
        AssetCheckSeverity.WARN,
        rows=rows,
        median_previous=median,
        ratio=round(ratio, 4),
        compared_with=MetadataValue.json(compared_with),
        previous_days=markdown(history),
    )


def revenue_reconciles(metrics: pd.DataFrame, cleaned: pd.DataFrame) -> AssetCheckResult:
    """sum(metrics revenue) vs sum(cleaned amount); on a gap, the groups that differ."""
    metrics_revenue = float(metrics["revenue"].sum())
    cleaned_amount = float(cleaned["amount"].sum())
    difference = abs(metrics_revenue - cleaned_amount)
    passed = difference <= REVENUE_TOLERANCE
    differing = pd.DataFrame()
    if not passed:
        keys = ["order_date", "product", "region"]
        expected = (
            cleaned.groupby(keys, observed=True)["amount"]
            .sum()
            .round(2)
            .rename("cleaned_amount")
            .reset_index()
        )
        joined = (
            metrics[keys + ["revenue"]]
            .merge(expected, how="outer", on=keys)
            .fillna({"revenue": 0.0, "cleaned_amount": 0.0})
        )
        joined["difference"] = (joined["revenue"] - joined["cleaned_amount"]).round(2)
        differing = joined[joined["difference"].abs() > 0.005].sort_values(
            "difference", key=abs, ascending=False
        )
    return _result(
        "revenue_reconciles",
        passed,
        f"metrics revenue {metrics_revenue:.2f} vs cleaned amount {cleaned_amount:.2f} (difference {difference:.2f}, "
        f"tolerance {REVENUE_TOLERANCE})",
        metrics_revenue=round(metrics_revenue, 2),
        cleaned_amount=round(cleaned_amount, 2),
        difference=round(difference, 6),
        differing_groups=len(differing),
        differing_groups_sample=markdown(differing),
    )


def raise_if_blocked(results: list[AssetCheckResult], day: date) -> None:
    """Fail the step when a blocking check failed with ERROR, naming the check and the day."""
    failed = [
        r
        for r in results
        if not r.passed and r.severity == AssetCheckSeverity.ERROR and RULES[r.check_name].blocking
    ]
    if failed:
        names = ", ".join(r.check_name for r in failed)
        reasons = "; ".join(f"{r.check_name}: {r.description}" for r in failed)
        raise Failure(
            description=(
                f"day {day} blocked by failed check(s) {names} ({reasons}); "
                f"downstream rows for {day} were left as they were"
            ),
            metadata={"blocked_day": str(day), "failed_checks": names},
            allow_retries=False,
        )
