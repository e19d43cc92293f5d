"""pandas <-> arrow plumbing of the cleaning rules: no copies, no private pandas attributes."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from sales_assets.arrow_columns import from_arrow, to_arrow, to_flat_arrow, true_mask
from sales_assets.contracts import STRING


def _data_address(array: pa.Array | pa.ChunkedArray) -> int:
    chunk = array.chunk(0) if isinstance(array, pa.ChunkedArray) else array
    return chunk.buffers()[2].address  # large_string: validity, offsets, data


def test_arrow_text_round_trips_without_copying():
    column = pd.Series(["a", None, "ümlaut"], dtype=STRING, index=[5, 6, 7])
    array = to_arrow(column)
    assert array.type == pa.large_string()
    back = from_arrow(array, column.index)
    assert _data_address(to_arrow(back)) == _data_address(array)
    pd.testing.assert_series_equal(back, column)


@pytest.mark.parametrize(
    "column",
    [
        pd.Series(["x", None], dtype=object),
        pd.Series(["x", None], dtype=pd.ArrowDtype(pa.string())),
        pd.Series([], dtype=STRING),
    ],
)
def test_other_text_columns_become_large_string(column):
    array = to_flat_arrow(column)
    assert isinstance(array, pa.Array) and array.type == pa.large_string()
    assert array.to_pylist() == [None if pd.isna(v) else v for v in column]


def test_to_flat_arrow_joins_chunks():
    chunked = pa.chunked_array([["a"], ["b", None]], type=pa.large_string())
    column = from_arrow(chunked, pd.RangeIndex(3))
    assert to_flat_arrow(column).to_pylist() == ["a", "b", None]


def test_true_mask_counts_null_as_false():
    mask = true_mask(pa.array([True, None, False]))
    assert mask.dtype == bool and mask.tolist() == [True, False, False]
