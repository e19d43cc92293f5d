"""Where a day's rows come from: the synthetic generator or the landing zone."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from ..contracts import STRING
from ..transforms import day_column


def with_lineage(
    rows: pd.DataFrame, day: date, source_file: str | pd.Series, source_row
) -> pd.DataFrame:
    """Rows as received (every column text) plus partition_date, source_file, source_row."""
    raw = rows.astype(STRING)
    raw["partition_date"] = day_column(day, raw.index)
    raw["source_file"] = pd.Series(source_file, index=raw.index, dtype=STRING)
    raw["source_row"] = pd.Series(np.asarray(source_row, dtype="int64"), index=raw.index)
    return raw
