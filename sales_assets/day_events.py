"""What a day's load tells Dagster: one materialization per table written, then one check
evaluation per verdict, recorded for that day against the materialization it judged.

Events are yielded per day (not per run), so a run that carries many days still gives every
day its own materialization, check results and blocking (see DESIGN: range runs).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckEvaluation,
    AssetKey,
    AssetMaterialization,
    AssetRecordsFilter,
    DagsterInstance,
    MetadataValue,
)

from .checks import Check, Finding, Verdict, table
from .dagster_internals import AssetCheckEvaluationTargetMaterializationData, TableMetadataSet
from .daily_load import CLEANED, METRICS, RAW, REJECTED, TABLES, StagedDay

PREVIEW_ROWS = 5


def _rate(rows: int, seconds: float) -> float:
    return round(rows / seconds, 1) if seconds > 0 else 0.0


def table_metadata(staged: StagedDay, asset: str, schema: str) -> dict[str, Any]:
    """What every table's materialization shows: rows (plotted per day), name, preview."""
    frame = staged.frames[asset]
    return {
        **TableMetadataSet(partition_row_count=len(frame)),
        "dagster/table_name": f"{schema}.{asset}",
        "rows": len(frame),
        "preview": table(frame, limit=PREVIEW_ROWS),
    }


def asset_metadata(staged: StagedDay, asset: str, source_kind: str) -> dict[str, Any]:
    """The figures of one table for the day (numbers plot per day in the asset's UI)."""
    frames = staged.frames
    if asset == RAW:
        raw = frames[RAW]
        files = sorted(raw["source_file"].unique().tolist()) if len(raw) else []
        return {
            "source": source_kind,
            "files": MetadataValue.json(files),
            "read_seconds": round(staged.seconds.get("read", 0.0), 3),
            "rows_per_second": _rate(len(raw), staged.seconds.get("read", 0.0)),
        }
    if asset == CLEANED:
        raw_rows = len(frames[CLEANED]) + len(frames[REJECTED])
        return {
            "raw_rows": raw_rows,
            "rejected_rows": len(frames[REJECTED]),
            "rejection_rate": round(len(frames[REJECTED]) / raw_rows, 6) if raw_rows else 0.0,
            "revenue": round(float(frames[CLEANED]["amount"].sum()), 2),
            "clean_seconds": round(staged.seconds.get("clean", 0.0), 3),
            "rows_per_second": _rate(raw_rows, staged.seconds.get("clean", 0.0)),
        }
    if asset == REJECTED:
        counts = rejects_by_reason(frames[REJECTED])
        raw_rows = len(frames[REJECTED]) + len(frames.get(CLEANED, ()))
        return {
            # Plotted per day; a blocked day's share shows here (its cleaned rows are held back).
            "rejection_rate": round(len(frames[REJECTED]) / raw_rows, 6) if raw_rows else 0.0,
            "rejects_by_reason": MetadataValue.json(counts),
            **{f"rejected_{k}": v for k, v in counts.items()},
        }
    metrics = frames[METRICS]
    orders = int(metrics["orders"].sum())
    revenue = round(float(metrics["revenue"].sum()), 2)
    return {
        "orders": orders,
        "revenue": revenue,
        "avg_order_value": round(revenue / orders, 2) if orders else 0.0,
    }


def rejects_by_reason(rejected: pd.DataFrame) -> dict[str, int]:
    if rejected.empty:
        return {}
    return {str(k): int(v) for k, v in rejected["reject_reason"].value_counts().items()}


def materializations(
    staged: StagedDay,
    written: Mapping[str, pd.DataFrame],
    schema: str,
    source_kind: str,
    extra: Mapping[str, Any],
) -> Iterator[AssetMaterialization]:
    """One materialization per table written for the day, in publish order."""
    for asset in TABLES:
        if asset in written:
            metadata = {
                **table_metadata(staged, asset, schema),
                **asset_metadata(staged, asset, source_kind),
                **extra,
            }
            yield AssetMaterialization(asset, partition=staged.day.isoformat(), metadata=metadata)


def evaluations(
    instance: DagsterInstance, verdicts: list[Verdict], day: date
) -> Iterator[AssetCheckEvaluation]:
    """Each verdict recorded for `day`, against the asset's current materialization of it
    (the one just written; for a held-back table, the previous load, which still stands)."""
    partition = day.isoformat()
    targets: dict[str, Any] = {}
    for verdict in verdicts:
        asset = verdict.check.asset
        if asset not in targets:
            targets[asset] = target(instance, AssetKey(asset), partition)
        finding = verdict.finding
        yield AssetCheckEvaluation(
            asset_key=AssetKey(asset),
            check_name=verdict.check.name,
            passed=finding.passed,
            metadata=finding.metadata,
            severity=finding.severity,
            description=finding.summary,
            blocking=verdict.check.blocking,
            partition=partition,
            target_materialization_data=targets[asset],
        )


def table_evaluation(
    instance: DagsterInstance, check: Check, found: Finding
) -> AssetCheckEvaluation:
    """A whole-table check's verdict (no partition), against the asset's latest materialization."""
    asset = check.key.asset_key
    return AssetCheckEvaluation(
        asset_key=asset,
        check_name=check.name,
        passed=found.passed,
        metadata=found.metadata,
        severity=found.severity,
        description=found.summary,
        blocking=False,
        target_materialization_data=target(instance, asset, None),
    )


def target(instance: DagsterInstance, asset: AssetKey, partition: str | None):
    """The latest materialization of the asset's day, as a check evaluation's target."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset, asset_partitions=[partition] if partition else None),
        limit=1,
    ).records
    if not records:
        return None
    record = records[0]
    return AssetCheckEvaluationTargetMaterializationData(
        storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
    )
