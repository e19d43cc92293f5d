"""What the per-day data-quality checks add to one day: each check timed on a synthetic day.

    python -m benchmarks.check_cost [--rows 1000000] [--repeat 3]

Prints the best of `--repeat` timings per check (seconds), their sum, and beside it the
cleaning rules and metrics the checks guard, so the share is plain. (`daily_volume` is timed
on a week of history given as a frame; its warehouse query is not included.)
"""

from __future__ import annotations

import argparse
from datetime import date
from time import perf_counter

import pandas as pd

from sales_assets import checks
from sales_assets.sources.synthetic import synthetic_day
from sales_assets.transforms import apply_cleaning_rules, daily_metrics

DAY = date(2024, 3, 1)
MAX_REJECT_RATE = 0.10  # SALES_MAX_REJECT_RATE's default


def best(work, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = perf_counter()
        work()
        times.append(perf_counter() - started)
    return min(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    raw = synthetic_day(DAY, args.rows)
    cleaned, rejected = apply_cleaning_rules(raw, DAY)
    metrics = daily_metrics(cleaned)
    history = pd.DataFrame(
        {"order_date": pd.date_range("2024-02-23", periods=7), "n_rows": len(cleaned)}
    )
    inputs = {
        checks.RAW_SALES_SCHEMA: (raw,),
        checks.CLEANED_SALES_SCHEMA: (cleaned,),
        checks.ROWS_ACCOUNTED_FOR: (raw, cleaned, rejected),
        checks.REJECTION_RATE: (len(raw), rejected, MAX_REJECT_RATE),
        checks.DAILY_VOLUME: (len(cleaned), history),
        checks.SALES_METRICS_SCHEMA: (metrics,),
        checks.REVENUE_RECONCILES: (metrics, cleaned),
    }
    print(
        f"{args.rows} raw rows, {len(cleaned)} cleaned, {len(rejected)} rejected, "
        f"{len(metrics)} metrics rows"
    )
    total = 0.0
    for check in checks.DAY_CHECKS:
        seconds = best(lambda check=check: check(*inputs[check]), args.repeat)
        total += seconds
        print(f"  check {check.name:<24} {seconds:7.3f} s")
    print(f"  checks total                   {total:7.3f} s")
    print(
        f"  cleaning rules                 {best(lambda: apply_cleaning_rules(raw, DAY), 1):7.3f} s"
    )
    print(f"  daily metrics                  {best(lambda: daily_metrics(cleaned), 1):7.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
