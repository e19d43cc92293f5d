"""`sales-assets generate`: landing files the landing zone reads back, row for row."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from sales_assets.cli import main
from sales_assets.contracts import REJECT_REASONS
from sales_assets.sources.landing import landing_day
from sales_assets.sources.synthetic import generate_orders
from sales_assets.transforms import apply_cleaning_rules


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_generate_every_format_reads_back_exactly(tmp_path, fmt):
    out = tmp_path / "landing"
    assert (
        main(
            [
                "generate",
                "--start",
                "2024-02-28",
                "--days",
                "3",
                "--rows-per-day",
                "700",
                "--format",
                fmt,
                "--dirty-rate",
                "0.04",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )

    assert sorted(p.name for p in out.iterdir()) == ["2024-02-28", "2024-02-29", "2024-03-01"]
    for folder in out.iterdir():
        assert [p.name for p in folder.iterdir()] == [
            f"orders.{fmt}"
        ]  # no partial file left behind
        day = date.fromisoformat(folder.name)
        raw = landing_day(out, day)
        assert len(raw) == 700
        expected = generate_orders(day, 700, dirty_rate=0.04)
        assert raw["order_id"].tolist() == expected["order_id"].tolist()
        assert raw["order_ts"].tolist() == expected["order_ts"].tolist()
        assert raw["unit_price"].tolist() == expected["unit_price"].tolist()
        cleaned, rejected = apply_cleaning_rules(raw, day)
        assert len(rejected) == 28  # exactly the dirty rows: round(700 * 0.04)
        assert set(rejected["reject_reason"]) == set(REJECT_REASONS)
        assert len(cleaned) == 672


def test_dirty_rate_zero_gives_clean_files(tmp_path):
    main(
        [
            "generate",
            "--start",
            "2024-03-01",
            "--rows-per-day",
            "500",
            "--dirty-rate",
            "0",
            "--out",
            str(tmp_path),
            "--quiet",
        ]
    )
    cleaned, rejected = apply_cleaning_rules(
        landing_day(tmp_path, date(2024, 3, 1)), date(2024, 3, 1)
    )
    assert (len(cleaned), len(rejected)) == (500, 0)


def test_seed_varies_the_data_deterministically(tmp_path):
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        main(
            [
                "generate",
                "--start",
                "2024-03-01",
                "--rows-per-day",
                "50",
                "--seed",
                seed,
                "--out",
                str(tmp_path / name),
                "--quiet",
            ]
        )
    read = {name: (tmp_path / name / "2024-03-01" / "orders.csv").read_text() for name in "abc"}
    assert read["a"] == read["b"] != read["c"]


@pytest.mark.parametrize(
    "args",
    [
        ["--start", "2024-02-30"],
        ["--start", "2024-03-01", "--dirty-rate", "1.5"],
        ["--start", "2024-03-01", "--dirty-rate", "0.8"],
        ["--start", "2024-03-01", "--dirty-rate", "lots"],
        ["--start", "2024-03-01", "--format", "xlsx"],
    ],
)
def test_bad_arguments_are_refused(tmp_path, args, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["generate", *args, "--out", str(tmp_path)])
    assert exit_.value.code == 2
    assert args[-1] in capsys.readouterr().err


def test_console_script(tmp_path):
    script = Path(sys.executable).parent / "sales-assets"
    result = subprocess.run(
        [
            str(script),
            "generate",
            "--start",
            "2024-03-01",
            "--days",
            "2",
            "--rows-per-day",
            "100",
            "--format",
            "parquet",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "wrote 2 day(s) x 100 rows as parquet" in result.stdout
    assert "generate" in result.stderr  # the progress bar
    assert [len(landing_day(tmp_path, date(2024, 3, d))) for d in (1, 2)] == [100, 100]
