"""Run the project's `daily_sales_job` in this process over a range of days, as the CLI does.

The days go through the job in runs of `--days-per-run` days (default
SALES_BACKFILL_DAYS_PER_RUN, as `sales-assets backfill` and UI backfills do), recorded in the
instance at DAGSTER_HOME with the CLI's tags and quiet console log. A single day runs with
`partition_key`, as the schedule's run does. `--without-report` leaves `sales_report` out of
the selection: the hand-written loop renders no report, so this is the like-for-like backfill.
Exits 1 if any run fails.

    python -m benchmarks.inprocess START [END] [--days-per-run N] [--without-report]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from datetime import date, timedelta


def days_between(start: date, end: date) -> list[str]:
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def daily_sales_job(without_report: bool):
    """The project's job; without the report, the same job's selection less `sales_report`
    (a subset by asset keys alone would add the freshness check the job leaves out)."""
    from dagster import AssetSelection, Definitions, define_asset_job

    from sales_assets import orchestration
    from sales_assets.definitions import defs

    if not without_report:
        return defs.resolve_job_def("daily_sales_job")
    job = orchestration.daily_sales_job
    tables_only = define_asset_job(
        job.name,
        selection=job.selection - AssetSelection.assets("sales_report"),
        partitions_def=job.partitions_def,
    )
    subset = Definitions(
        assets=defs.assets, jobs=[tables_only], resources=defs.resources, executor=defs.executor
    )
    return subset.resolve_job_def(job.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.inprocess", description=__doc__.splitlines()[0]
    )
    parser.add_argument("start", type=date.fromisoformat)
    parser.add_argument("end", type=date.fromisoformat, nargs="?")
    parser.add_argument("--days-per-run", type=int, help="default SALES_BACKFILL_DAYS_PER_RUN")
    parser.add_argument("--without-report", action="store_true", help="leave sales_report out")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # Beta/Preview notices about our definitions

    from sales_assets.backfill import QUIET_LOGS, RANGE_END, RANGE_START, chunks, open_instance
    from sales_assets.settings import SETTINGS

    job = daily_sales_job(args.without_report)
    days = days_between(args.start, args.end or args.start)
    failed = []
    with open_instance() as instance:
        for run in chunks(days, args.days_per_run or SETTINGS.backfill_days_per_run):
            where = (
                {"partition_key": run[0]}
                if len(days) == 1
                else {"tags": {RANGE_START: run[0], RANGE_END: run[-1]}}
            )
            result = job.execute_in_process(
                instance=instance,
                raise_on_error=False,
                run_config=QUIET_LOGS,
                **where,
            )
            if not result.success:
                failed.append(f"{run[0]}..{run[-1]}")
    if failed:
        print(f"failed runs: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
