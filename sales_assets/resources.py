"""Resources: the day's source, the quality thresholds, the report folder, the Pushgateway."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
from dagster import ConfigurableResource
from pydantic import Field

from .memory import compact_malloc
from .sources.landing import landing_day
from .sources.synthetic import synthetic_day


class SalesSource(ConfigurableResource):
    """A day's raw rows: from `landing_dir` when set, else the deterministic generator.

    `landing_dir` is a local folder or an s3://bucket/prefix URL (credentials from the
    standard AWS environment, never from this config)."""

    landing_dir: str | None = Field(
        default=None,
        description="Landing folder or s3://bucket/prefix; None: the synthetic source (set from SALES_LANDING_DIR by build_resources).",
    )
    synthetic_rows: int = Field(
        description="Rows a day of the synthetic source (set from SALES_SYNTHETIC_ROWS by build_resources)."
    )

    @property
    def kind(self) -> str:
        return f"landing zone {self.landing_dir}" if self.landing_dir else "synthetic"

    def setup_for_execution(self, context) -> None:
        # Arrow's default allocator (jemalloc) keeps freed buffers for reuse, and a day's load
        # frees large transient text columns: with the system allocator the peak RSS of a
        # 1M-row day is ~100 MB lower at the same speed (measured by `python -m benchmarks`).
        pa.set_memory_pool(pa.system_memory_pool())
        compact_malloc()  # and a range run of many days stays at one day's memory

    def read_day(self, day: date) -> pd.DataFrame:
        if self.landing_dir:
            return landing_day(self.landing_dir, day)
        return synthetic_day(day, self.synthetic_rows)


class QualityPolicy(ConfigurableResource):
    """Thresholds of the data-quality checks."""

    max_reject_rate: float = Field(
        description="Rejected share of a day's raw rows above which the day is blocked (set from SALES_MAX_REJECT_RATE by build_resources)."
    )


class ReportFolder(ConfigurableResource):
    """Where sales_report writes `sales_report_YYYY-MM-DD.png` and `.html` (SALES_REPORTS_DIR)."""

    path: str

    def folder(self) -> Path:
        """The folder, created when first written to (never when the code location loads)."""
        folder = Path(self.path)
        folder.mkdir(parents=True, exist_ok=True)
        return folder


class Monitoring(ConfigurableResource):
    """The Prometheus Pushgateway every run of a day pushes its figures to (unset: none)."""

    url: str | None = Field(
        default=None,
        description="Pushgateway URL; None: no push (set from SALES_PUSHGATEWAY_URL by build_resources).",
    )
