"""pandas columns as arrow arrays and back, on public pandas and pyarrow APIs only.

The cleaning rules run arrow compute kernels (trims, regexes, casts) over whole
columns. A `string[pyarrow]` column already holds arrow buffers: `pa.array(series)` hands
them over through the `__arrow_array__` protocol and `pd.arrays.ArrowStringArray` wraps the
result back, so neither direction copies the text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .contracts import STRING

LARGE_STRING = pa.large_string()  # what `string[pyarrow]` holds


def to_arrow(values: pd.Series) -> pa.Array | pa.ChunkedArray:
    """A text column as arrow large_string (no copy when it is `string[pyarrow]` already)."""
    text = values.array if values.dtype == STRING else values.astype(STRING).array
    return pa.array(text, type=LARGE_STRING)  # via `ArrowStringArray.__arrow_array__`


def to_flat_arrow(values: pd.Series) -> pa.Array:
    """As `to_arrow`, in one chunk, for kernels that index by position (filter, take)."""
    array = to_arrow(values)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def from_arrow(array: pa.Array | pa.ChunkedArray, index: pd.Index) -> pd.Series:
    """Arrow text as a `string[pyarrow]` column on `index`, without copying."""
    return pd.Series(pd.arrays.ArrowStringArray(array), index=index)


def true_mask(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An arrow boolean array as a numpy mask, null counted as False."""
    return pc.fill_null(array, False).to_numpy(zero_copy_only=False)
