"""The warehouse backends side by side: publish and read back one big day on DuckDB and PostgreSQL.

A synthetic day (default 1M raw rows) is cleaned once; then, for each backend in turn (the
order alternates between repetitions), the median of `--repeat` runs of:
- publish raw_sales alone, cleaned_sales alone (each replacing the day: delete + COPY/insert),
- publish the whole day (the four tables in one transaction), the first time (tables created),
  again (replacing the day), and the same rows as the next day (a night's load),
- read_day of raw_sales and of cleaned_sales.
PostgreSQL runs in a throwaway database on the local server (127.0.0.1:5432, as every
benchmark: `benchmarks/postgres.py`), dropped at the end.

    python -m benchmarks.warehouse_backends [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from benchmarks import postgres

DAY, NEXT_DAY = date(2024, 3, 1), date(2024, 3, 2)


def day_frames(rows: int) -> dict:
    """The four tables of a synthetic day, as the daily step publishes them."""
    from sales_assets import transforms
    from sales_assets.sources.synthetic import synthetic_day

    raw = synthetic_day(DAY, rows)
    cleaned, rejected = transforms.apply_cleaning_rules(raw, DAY)
    return {
        "raw_sales": raw,
        "rejected_sales": rejected,
        "cleaned_sales": cleaned,
        "sales_metrics": transforms.daily_metrics(cleaned),
    }


def seconds(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def measure(warehouse, frames: dict, tomorrow: dict) -> dict[str, float]:
    """One repetition on one backend, on a schema of its own (so the first publish creates)."""
    times = {
        "day, first publish": seconds(lambda: warehouse.publish(DAY, frames)),
        "day, replace": seconds(lambda: warehouse.publish(DAY, frames)),
        "next day (nightly)": seconds(lambda: warehouse.publish(NEXT_DAY, tomorrow)),
    }
    for table in ("raw_sales", "cleaned_sales"):
        times[f"{table}, replace"] = seconds(lambda t=table: warehouse.publish(DAY, {t: frames[t]}))
    for table in ("raw_sales", "cleaned_sales"):
        times[f"{table}, read_day"] = seconds(lambda t=table: warehouse.read_day(t, DAY))
    return times


def redated(frames: dict) -> dict:
    """The same rows on the next day, as a new night's load."""
    import pandas as pd
    import pyarrow as pa

    columns = {"raw_sales": "partition_date", "rejected_sales": "partition_date"}
    moved = {}
    for table, frame in frames.items():
        column = columns.get(table, "order_date")
        day = pd.array([NEXT_DAY] * len(frame), dtype=pd.ArrowDtype(pa.date32()))
        moved[table] = frame.assign(**{column: day})
    return moved


def rows_of(step: str, frames: dict) -> int:
    table = step.split(",")[0]
    return len(frames[table]) if table in frames else sum(len(f) for f in frames.values())


def render(results: dict[str, list[dict]], frames: dict) -> str:
    steps = list(results["duckdb"][0])
    median = {
        kind: {s: statistics.median(r[s] for r in runs if s in r) for s in steps}
        for kind, runs in results.items()
    }
    lines = [
        f"{'step':<26} {'rows':>9} {'DuckDB s':>9} {'rows/s':>10} {'PostgreSQL s':>13} "
        f"{'rows/s':>10} {'PG/DuckDB':>9}"
    ]
    for step in steps:
        rows, duck, pg = rows_of(step, frames), median["duckdb"][step], median["postgresql"][step]
        lines.append(
            f"{step:<26} {rows:>9} {duck:>9.2f} {rows / duck:>10,.0f} {pg:>13.2f} "
            f"{rows / pg:>10,.0f} {pg / duck:>9.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    from sales_assets.warehouse import Warehouse

    print(f"building a {args.rows:,}-row day ...", flush=True)
    frames = day_frames(args.rows)
    tomorrow = redated(frames)
    print({t: len(f) for t, f in frames.items()}, flush=True)
    with tempfile.TemporaryDirectory() as folder, postgres.throwaway_database("sales_bench") as db:
        urls = {
            "duckdb": str(Path(folder) / "warehouse.duckdb"),
            "postgresql": postgres.warehouse_url(db),
        }
        results: dict[str, list[dict]] = {kind: [] for kind in urls}
        for rep in range(args.repeat):
            order = list(urls) if rep % 2 == 0 else list(reversed(urls))
            for kind in order:
                warehouse = Warehouse(
                    url=urls[kind], schema_name=f"bench_{rep}", lock_timeout_seconds=60
                )
                results[kind].append(measure(warehouse, frames, tomorrow))
                print(f"rep {rep + 1} {kind}: {results[kind][-1]}", flush=True)
    print(f"\nload average before/after: {os.getloadavg()}; {os.cpu_count()} cores")
    print(render(results, frames))
    return 0


if __name__ == "__main__":
    sys.exit(main())
