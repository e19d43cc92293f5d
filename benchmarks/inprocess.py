"""Run the project's `daily_sales_job` in-process for each day of a range, one Python process.

Settings come from the SALES_* environment and the instance from DAGSTER_HOME, as for the
CLI. Exits 1 if any day's run fails.

    python -m benchmarks.inprocess START [END]
"""

from __future__ import annotations

import sys
from datetime import date, timedelta


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    start = date.fromisoformat(argv[0])
    end = date.fromisoformat(argv[1]) if len(argv) > 1 else start

    from dagster import DagsterInstance

    from sales_assets.definitions import defs

    job = defs.resolve_job_def("daily_sales_job")
    failed = []
    with DagsterInstance.get() as instance:
        day = start
        while day <= end:
            result = job.execute_in_process(
                partition_key=day.isoformat(), instance=instance, raise_on_error=False
            )
            if not result.success:
                failed.append(day.isoformat())
            day += timedelta(days=1)
    if failed:
        print(f"failed days: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
