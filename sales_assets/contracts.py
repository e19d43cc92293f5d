"""Column contracts of every table: the one home for column names, types and value rules.

The pandera models below validate the frames (as asset checks) and document the tables'
schemas in the UI (see `table_schema`).
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
from dagster import TableColumn, TableSchema
from pandera.typing import Series

STRING = pd.StringDtype("pyarrow")
DATE = pd.ArrowDtype(pa_arrow.date32())
UTC_TS = pd.DatetimeTZDtype("us", "UTC")

REQUIRED_COLUMNS = ("order_id", "order_ts", "product", "region", "quantity", "unit_price")
OPTIONAL_COLUMNS = ("customer_id", "channel", "discount")
SOURCE_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
LINEAGE_COLUMNS = ("partition_date", "source_file", "source_row")

# The contract's order: a row gets the first reason that fits.
REJECT_REASONS = (
    "missing_required",
    "unparseable_timestamp",
    "invalid_quantity",
    "invalid_unit_price",
    "invalid_discount",
    "wrong_partition",
    "duplicate_order_id",
)
TICKET_SIZES = ("low", "medium", "high", "very_high")
TICKET_BOUNDS = (100.0, 500.0, 1000.0)  # amount <= bound -> low, medium, high; above -> very_high
DEFAULT_CHANNEL = "unknown"
MAX_QUANTITY = 2**53  # larger whole numbers are not exact in a float64


class RawSales(pa.DataFrameModel):
    """A day's rows as received: source columns as text, extra columns kept, plus lineage."""

    order_id: Series[STRING] = pa.Field(nullable=True, description="as received")
    order_ts: Series[STRING] = pa.Field(nullable=True, description="as received")
    product: Series[STRING] = pa.Field(nullable=True, description="as received")
    region: Series[STRING] = pa.Field(nullable=True, description="as received")
    quantity: Series[STRING] = pa.Field(nullable=True, description="as received")
    unit_price: Series[STRING] = pa.Field(nullable=True, description="as received")
    partition_date: Series[DATE] = pa.Field(description="the day this row was loaded for")
    source_file: Series[STRING] = pa.Field(description="landing file (or 'synthetic')")
    source_row: Series[int] = pa.Field(ge=1, description="1-based data row within the file")

    class Config:
        strict = False  # extra source columns are kept in raw


class CleanedSales(pa.DataFrameModel):
    """One valid order per row, typed and derived (contract section 5)."""

    order_id: Series[STRING] = pa.Field(unique=True, description="order identifier")
    order_ts: Series[UTC_TS] = pa.Field(description="order time in UTC")
    order_date: Series[DATE] = pa.Field(description="UTC day of order_ts")
    customer_id: Series[STRING] = pa.Field(nullable=True, description="may be empty")
    product: Series[STRING] = pa.Field(str_length={"min_value": 1})
    region: Series[STRING] = pa.Field(str_length={"min_value": 1})
    channel: Series[STRING] = pa.Field(
        str_length={"min_value": 1}, description="'unknown' when absent"
    )
    quantity: Series[int] = pa.Field(gt=0, description="whole units")
    unit_price: Series[float] = pa.Field(ge=0)
    discount: Series[float] = pa.Field(ge=0, lt=1, description="fraction, 0 when absent")
    amount: Series[float] = pa.Field(
        ge=0, description="round(quantity * unit_price * (1 - discount), 2)"
    )
    ticket_size: Series[STRING] = pa.Field(isin=list(TICKET_SIZES), description="band of amount")

    class Config:
        strict = True

    @pa.dataframe_check(error="amount != round(quantity * unit_price * (1 - discount), 2)")
    def amount_is_derived(cls, df: pd.DataFrame) -> pd.Series:
        expected = (df["quantity"] * df["unit_price"] * (1 - df["discount"])).round(2)
        return (df["amount"] - expected).abs() <= 0.005

    @pa.dataframe_check(error="order_date != UTC day of order_ts")
    def order_date_matches_ts(cls, df: pd.DataFrame) -> pd.Series:
        # Compare as numpy days: casting the arrow dates through pandas loops per row (~2 s a 1M-row day).
        ts_day = (
            df["order_ts"]
            .dt.tz_convert("UTC")
            .dt.tz_localize(None)
            .to_numpy()
            .astype("datetime64[D]")
        )
        order_day = (
            pa_arrow.array(df["order_date"]).to_numpy(zero_copy_only=False).astype("datetime64[D]")
        )
        return pd.Series(ts_day == order_day, index=df.index)


class RejectedSales(pa.DataFrameModel):
    """Every raw row not in cleaned_sales, with the first reason that fits."""

    reject_reason: Series[STRING] = pa.Field(isin=list(REJECT_REASONS))
    reject_detail: Series[STRING] = pa.Field(nullable=True)
    partition_date: Series[DATE]
    source_file: Series[STRING]
    source_row: Series[int] = pa.Field(ge=1)

    class Config:
        strict = False  # the source columns ride along as text


class SalesMetrics(pa.DataFrameModel):
    """One row per order_date x product x region."""

    order_date: Series[DATE]
    product: Series[STRING]
    region: Series[STRING]
    orders: Series[int] = pa.Field(gt=0, description="count of orders")
    units: Series[int] = pa.Field(gt=0, description="sum of quantity")
    revenue: Series[float] = pa.Field(ge=0, description="sum of amount, 2 decimals")
    avg_order_value: Series[float] = pa.Field(ge=0, description="revenue / orders, 2 decimals")
    customers: Series[int] = pa.Field(ge=0, description="distinct non-empty customer_id")

    class Config:
        strict = True
        unique = ["order_date", "product", "region"]

    @pa.dataframe_check(error="customers > orders")
    def customers_within_orders(cls, df: pd.DataFrame) -> pd.Series:
        return df["customers"] <= df["orders"]


def table_schema(model: type[pa.DataFrameModel]) -> TableSchema:
    """The model's columns as a Dagster TableSchema, so the UI documents each table."""
    columns = model.to_schema().columns.values()
    return TableSchema(
        columns=[
            TableColumn(name=c.name, type=str(c.dtype), description=c.description or "")
            for c in columns
        ]
    )
