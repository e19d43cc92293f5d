"""What the data-quality checks add to one day: each check function timed on a synthetic day.

    .venv/bin/python -m benchmarks.check_cost [--rows 1000000] [--repeat 3]

Prints the best of `--repeat` timings per check (seconds), their sum, and beside it the
cleaning and metrics transforms the checks guard, so the share is plain.
"""

from __future__ import annotations

import argparse
from datetime import date
from time import perf_counter

import pandas as pd

from sales_assets import checks, transforms
from sales_assets.contracts import CleanedSales, SalesMetrics
from sales_assets.sources.synthetic import synthetic_day

DAY = date(2024, 3, 1)


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = perf_counter()
        fn()
        times.append(perf_counter() - started)
    return min(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    raw = synthetic_day(DAY, args.rows)
    cleaned, rejected = transforms.clean_sales(raw, DAY)
    metrics = transforms.daily_metrics(cleaned)
    history = pd.DataFrame(
        {"order_date": pd.date_range("2024-02-23", periods=7), "rows": len(cleaned)}
    )
    work = {
        "clean_sales (transform)": lambda: transforms.clean_sales(raw, DAY),
        "daily_metrics (transform)": lambda: transforms.daily_metrics(cleaned),
    }
    per_check = {
        "raw_sales_schema": lambda: checks.raw_schema(raw),
        "cleaned_sales_schema": lambda: checks.pandera_check(
            "cleaned_sales_schema", CleanedSales, cleaned
        ),
        "rows_accounted_for": lambda: checks.rows_accounted_for(raw, cleaned, rejected),
        "rejection_rate": lambda: checks.rejection_rate(len(raw), rejected, 0.10),
        "daily_volume": lambda: checks.daily_volume(len(cleaned), history),
        "sales_metrics_schema": lambda: checks.pandera_check(
            "sales_metrics_schema", SalesMetrics, metrics
        ),
        "revenue_reconciles": lambda: checks.revenue_reconciles(metrics, cleaned),
    }
    print(
        f"{args.rows} raw rows, {len(cleaned)} cleaned, {len(rejected)} rejected, {len(metrics)} metrics rows"
    )
    total = 0.0
    for name, fn in per_check.items():
        seconds = best(fn, args.repeat)
        total += seconds
        print(f"  check {name:<24} {seconds:7.3f} s")
    print(f"  checks total                   {total:7.3f} s")
    for name, fn in work.items():
        print(f"  {name:<30} {best(fn, 1):7.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
