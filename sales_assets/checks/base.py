"""What a check is: one declaration (name, asset, blocking, description, evaluation).

An evaluation is a plain function of one day's frames that returns a `Finding`; calling a
`Check` with those frames gives a `Verdict` that knows its check. Verdicts are decided before
anything is written (so a blocked day never reaches the tables), and recorded afterwards,
against the materialization they judged (see `day_events.py`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from dagster import AssetCheckKey, AssetCheckSeverity, AssetCheckSpec, AssetKey, MetadataValue

SAMPLE_ROWS = 20  # failing rows or values shown per table in the UI
MAX_CELL = 48  # characters per cell, so metadata tables stay readable in the UI's dialog


@dataclass(frozen=True)
class Finding:
    """What an evaluation found: its verdict, a one-line summary and the values that explain it."""

    passed: bool
    summary: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    severity: AssetCheckSeverity = AssetCheckSeverity.ERROR


@dataclass(frozen=True)
class Check:
    """A data-quality rule of one asset, declared once: the specs, the UI and the CLI read it."""

    name: str
    asset: str
    blocking: bool
    description: str
    evaluate: Callable[..., Finding] = field(repr=False)

    def __call__(self, *args, **kwargs) -> Verdict:
        return Verdict(self, self.evaluate(*args, **kwargs))

    @property
    def key(self) -> AssetCheckKey:
        return AssetCheckKey(AssetKey(self.asset), self.name)

    def spec(self, partitions_def) -> AssetCheckSpec:
        # partitions_def makes Dagster plan and record the check per day. Dagster 1.13 flags
        # it as preview on every load; we rely on it deliberately (tests pin it), so hush it.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Specifying a partitions_def")
            return AssetCheckSpec(
                self.name,
                asset=self.asset,
                blocking=self.blocking,
                description=self.description,
                partitions_def=partitions_def,
            )


@dataclass(frozen=True)
class Verdict:
    """A check's finding on one day."""

    check: Check
    finding: Finding

    @property
    def passed(self) -> bool:
        return self.finding.passed

    @property
    def blocks(self) -> bool:
        """A failed blocking check at ERROR: the day's downstream tables are held back."""
        failed = not self.finding.passed and self.finding.severity == AssetCheckSeverity.ERROR
        return failed and self.check.blocking

    def line(self) -> str:
        return f"{self.check.name}: {self.finding.summary}"


def table(frame: pd.DataFrame, limit: int = SAMPLE_ROWS) -> MetadataValue:
    """Up to `limit` rows as a markdown table, each cell cut to MAX_CELL characters."""
    if frame.empty:
        return MetadataValue.md("_none_")
    shown = frame.head(limit).astype(str).map(_cut)
    return MetadataValue.md(shown.to_markdown(index=False))


def _cut(text: str) -> str:
    text = text.replace("|", "/").replace("\n", " ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"
