"""Resources: the day's source (synthetic or landing zone) and the quality thresholds."""

from __future__ import annotations

from datetime import date

import pandas as pd
from dagster import ConfigurableResource
from pydantic import Field

from .sources.landing import landing_day
from .sources.synthetic import synthetic_day


class SalesSource(ConfigurableResource):
    """A day's raw rows: from `landing_dir` when set, else the deterministic generator.

    `landing_dir` is a local folder or an s3://bucket/prefix URL (credentials from the
    standard AWS environment, never from this config)."""

    landing_dir: str | None = Field(default=None, description="SALES_LANDING_DIR")
    synthetic_rows: int = Field(default=5000, description="SALES_SYNTHETIC_ROWS")

    @property
    def kind(self) -> str:
        return f"landing zone {self.landing_dir}" if self.landing_dir else "synthetic"

    def read_day(self, day: date) -> pd.DataFrame:
        if self.landing_dir:
            return landing_day(self.landing_dir, day)
        return synthetic_day(day, self.synthetic_rows)


class QualityPolicy(ConfigurableResource):
    """Thresholds of the data-quality checks."""

    max_reject_rate: float = Field(default=0.10, description="SALES_MAX_REJECT_RATE")
