"""The per-day checks (`sales_assets/checks/`), each declared once, judged on small frames.

Whole-table checks (freshness, completeness) are in test_table_checks.py; what the checks do
to a real run (blocking, recording per day) in test_blocking.py and test_range_runs.py.
"""

from __future__ import annotations

import re
from datetime import date

import duckdb
import pandas as pd
import pytest
from dagster import AssetCheckSeverity

from sales_assets import checks
from sales_assets.checks import rates, reconcile
from sales_assets.checks import table as markdown_table
from sales_assets.checks.whole_table import SALES_METRICS_COMPLETE, SALES_METRICS_FRESH
from sales_assets.contracts import REQUIRED_COLUMNS
from sales_assets.definitions import defs
from sales_assets.settings import REPO_ROOT
from sales_assets.sources.synthetic import synthetic_day
from sales_assets.transforms import apply_cleaning_rules, daily_metrics
from sales_assets.warehouse import Warehouse

DAY = date(2024, 3, 1)
# contract section 6: check -> (asset, blocks the day)
CONTRACT = {
    "raw_sales_schema": ("raw_sales", True),
    "cleaned_sales_schema": ("cleaned_sales", True),
    "rows_accounted_for": ("cleaned_sales", True),
    "rejection_rate": ("cleaned_sales", True),
    "daily_volume": ("cleaned_sales", False),
    "sales_metrics_schema": ("sales_metrics", True),
    "revenue_reconciles": ("sales_metrics", True),
}
TABLE_CHECKS = (SALES_METRICS_FRESH, SALES_METRICS_COMPLETE)


@pytest.fixture(scope="module")
def day_frames():
    raw = synthetic_day(DAY, 400)
    cleaned, rejected = apply_cleaning_rules(raw, DAY)
    return raw, cleaned, rejected, daily_metrics(cleaned)


def test_every_check_of_the_contract_is_declared_once_with_what_it_guards():
    assert {c.name: (c.asset, c.blocking) for c in checks.DAY_CHECKS} == CONTRACT
    assert list(checks.BY_NAME) == list(CONTRACT)  # the contract's order
    assert all(len(c.description) > 40 for c in checks.DAY_CHECKS + TABLE_CHECKS)
    graph = defs.resolve_asset_graph()
    declared = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    expected = {(c.asset, c.name) for c in checks.DAY_CHECKS + TABLE_CHECKS}
    assert declared == expected
    for check in checks.DAY_CHECKS + TABLE_CHECKS:  # what the UI shows is the declaration
        spec = graph.get_check_spec(check.key)
        assert (spec.description, spec.blocking) == (check.description, check.blocking)


def test_descriptions_are_built_from_the_constants():
    assert f"{rates.WARN_SHARE_OF_LIMIT:.0%} of it" in checks.REJECTION_RATE.description
    low, high = rates.VOLUME_BAND
    assert f"{low:.0%}-{high:.0%}" in checks.DAILY_VOLUME.description
    assert f"previous {rates.VOLUME_DAYS} days" in checks.DAILY_VOLUME.description
    assert f"within {reconcile.REVENUE_TOLERANCE}" in checks.REVENUE_RECONCILES.description
    assert ", ".join(REQUIRED_COLUMNS) in checks.RAW_SALES_SCHEMA.description


def readme_checks() -> dict[str, tuple[str, bool]]:
    """check -> (asset, blocks) from the README's table of checks."""
    rows = re.findall(
        r"^\| `(\w+)` \| (\w*sales\w*) \| (yes|no)\b", (REPO_ROOT / "README.md").read_text(), re.M
    )
    return {name: (asset, blocks == "yes") for name, asset, blocks in rows}


def test_the_readme_table_of_checks_matches_the_declarations():
    declared = {c.name: (c.asset, c.blocking) for c in checks.DAY_CHECKS + TABLE_CHECKS}
    assert readme_checks() == declared


def test_a_clean_day_passes_every_check(day_frames):
    raw, cleaned, rejected, metrics = day_frames
    verdicts = [
        checks.RAW_SALES_SCHEMA(raw),
        checks.CLEANED_SALES_SCHEMA(cleaned),
        checks.ROWS_ACCOUNTED_FOR(raw, cleaned, rejected),
        checks.REJECTION_RATE(len(raw), rejected, 0.10),
        checks.SALES_METRICS_SCHEMA(metrics),
        checks.REVENUE_RECONCILES(metrics, cleaned),
    ]
    assert [v.check.name for v in verdicts if not v.passed] == []
    assert not any(v.blocks for v in verdicts)


def test_a_missing_required_column_is_named(day_frames):
    verdict = checks.RAW_SALES_SCHEMA(day_frames[0].drop(columns=["quantity"]))
    assert not verdict.passed and verdict.blocks
    metadata = verdict.finding.metadata
    assert metadata["missing_column_count"] == 1
    assert "quantity" in metadata["missing_columns"].value
    assert "missing required column(s): quantity" in verdict.finding.summary
    assert verdict.line().startswith("raw_sales_schema: missing required column(s): quantity")


def test_schema_failures_show_at_most_20_failing_rows(day_frames):
    cleaned = day_frames[1].copy()
    cleaned.loc[:29, "quantity"] = 0  # 30 rows break `quantity > 0` and the derived amount
    verdict = checks.CLEANED_SALES_SCHEMA(cleaned)
    assert not verdict.passed and verdict.blocks
    metadata = verdict.finding.metadata
    assert metadata["failing_rows"] == 30
    assert metadata["failing_rows_sample"].value.count("\n") == 21  # header, rule, 20 rows
    assert metadata["failure_cases"].value.count("\n") == 21
    by_rule = metadata["failures_by_rule"].value
    assert "greater_than(0)" in by_rule and "amount != round" in by_rule


def test_rejection_rate_warns_above_a_fifth_and_blocks_above_the_limit(day_frames):
    rejected = day_frames[2]
    n = len(rejected)
    ok = checks.REJECTION_RATE(n * 100, rejected, 0.10)  # 1 %
    warn = checks.REJECTION_RATE(n * 20, rejected, 0.10)  # 5 %
    error = checks.REJECTION_RATE(n * 5, rejected, 0.10)  # 20 %
    assert ok.passed and not ok.blocks
    assert not warn.passed and warn.finding.severity == AssetCheckSeverity.WARN
    assert not warn.blocks  # a warning never blocks
    assert not error.passed and error.finding.severity == AssetCheckSeverity.ERROR
    assert error.blocks
    assert "blocked: above the limit 10.00%" in error.finding.summary


def garbage_rejects(abc: int, zero: int, bad_price: int) -> pd.DataFrame:
    """Rejects as the cleaning rules write them: `abc` x quantity=abc, then a few others."""
    reasons = (
        [("invalid_quantity", "quantity=abc")] * abc
        + [("invalid_quantity", "quantity=0")] * zero
        + [("invalid_unit_price", "unit_price=-5")] * bad_price
    )
    return pd.DataFrame(
        {
            "source_file": "2024-03-01/orders.csv",
            "source_row": range(1, len(reasons) + 1),
            "reject_reason": [r for r, _ in reasons],
            "reject_detail": [d for _, d in reasons],
            "order_id": [f"o-{i}" for i in range(len(reasons))],
        }
    )


def test_the_failing_values_explain_the_verdict():
    """Each reason with its count and top offending values, samples in proportion."""
    rejected = garbage_rejects(abc=1340, zero=30, bad_price=10)
    verdict = checks.REJECTION_RATE(3350, rejected, 0.10)
    assert verdict.blocks
    assert "invalid_quantity 1370 (quantity=abc x1340, quantity=0 x30)" in verdict.finding.summary
    reasons = verdict.finding.metadata["rejects_by_reason"].value
    assert "quantity=abc x1340, quantity=0 x30" in reasons and "unit_price=-5 x10" in reasons
    sample = rates.proportional_sample(rejected)
    assert len(sample) == checks.SAMPLE_ROWS
    shares = sample["reject_reason"].value_counts().to_dict()
    assert shares == {"invalid_quantity": 19, "invalid_unit_price": 1}  # at least one per reason
    assert list(sample.columns) == rates.SAMPLE_COLUMNS  # narrow enough for the UI's dialog


def test_metadata_cells_are_cut_to_stay_readable():
    frame = pd.DataFrame({"detail": ["x" * 200, "a|b\nc"]})
    table = markdown_table(frame).value
    assert "x" * 47 + "…" in table and "x" * 48 not in table
    assert "a/b c" in table


def test_daily_volume_on_an_empty_history_and_zero_days():
    assert checks.DAILY_VOLUME(10, pd.DataFrame(columns=["order_date", "n_rows"])).passed
    zeros = pd.DataFrame({"order_date": ["2024-03-01", "2024-02-29"], "n_rows": [0, 0]})
    assert checks.DAILY_VOLUME(0, zeros).passed
    low = checks.DAILY_VOLUME(5, zeros)
    assert not low.passed and not low.blocks and low.finding.severity == AssetCheckSeverity.WARN


def test_volume_history_reaches_past_gaps_for_the_previous_7_days_present(tmp_path):
    warehouse = Warehouse(
        url=str(tmp_path / "w.duckdb"), schema_name="sales", lock_timeout_seconds=10
    )
    stored = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-03", "2024-01-04"]
    stored += ["2024-01-05", "2024-02-10", "2024-02-11", "2024-02-12"]
    with duckdb.connect(warehouse.url) as connection:
        connection.execute("CREATE SCHEMA sales")
        connection.execute(
            "CREATE TABLE sales.cleaned_sales AS SELECT unnest(?)::DATE AS order_date", [stored]
        )
    history = checks.volume_history(warehouse.query, date(2024, 2, 12))
    days = pd.to_datetime(history["order_date"]).dt.strftime("%Y-%m-%d").tolist()
    assert days == [
        "2024-02-11",
        "2024-02-10",
        "2024-01-05",
        "2024-01-04",
        "2024-01-03",
        "2024-01-02",
        "2024-01-01",
    ]
    assert history["n_rows"].tolist() == [1, 1, 1, 1, 2, 1, 1]
    assert checks.volume_history(warehouse.query, date(2024, 1, 1)).empty
