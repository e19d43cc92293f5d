"""The `sales-assets` command: write landing files, backfill days from the terminal, write a
day's report, and run a Celery worker (SALES_EXECUTOR=celery)."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date, timedelta
from pathlib import Path

from tqdm import tqdm

from .sources.landing_store import LandingError, LandingUnavailableError, landing_writer
from .sources.synthetic import DEFAULT_DIRTY_RATE, generate_orders

WRITERS = {
    "csv": lambda frame, path: frame.to_csv(path, index=False),
    "parquet": lambda frame, path: frame.to_parquet(path, index=False),
    "jsonl": lambda frame, path: frame.to_json(
        path, orient="records", lines=True, force_ascii=False
    ),
}


def generate(args: argparse.Namespace) -> int:
    """Write `--days` day folders of realistic landing files under `--out` (a folder or
    s3://bucket/prefix); each file appears whole or not at all."""
    for offset in tqdm(range(args.days), desc="generate", unit="day", disable=args.quiet):
        day = args.start + timedelta(days=offset)
        orders = generate_orders(day, args.rows_per_day, dirty_rate=args.dirty_rate, seed=args.seed)
        try:
            with landing_writer(args.out, f"{day.isoformat()}/orders.{args.format}") as path:
                WRITERS[args.format](orders, path)
        except (LandingError, LandingUnavailableError) as error:
            print(f"sales-assets generate: {error}", file=sys.stderr)
            return 1
    print(f"wrote {args.days} day(s) x {args.rows_per_day} rows as {args.format} under {args.out}")
    return 0


def backfill(args: argparse.Namespace) -> int:
    """Load START..END in order, in this process (see backfill.py)."""
    from .backfill import backfill as run

    return run(args.start, args.end, quiet=args.quiet)


def report(args: argparse.Namespace) -> int:
    """Write the day's report from the warehouse, as the sales_report asset does."""
    from . import report as sales_report
    from .settings import SETTINGS, WAREHOUSE_SCHEMA
    from .warehouse import Warehouse

    warehouse = Warehouse(
        url=SETTINGS.warehouse,
        schema_name=WAREHOUSE_SCHEMA,
        lock_timeout_seconds=SETTINGS.lock_timeout_seconds,
    )
    data = sales_report.report_data(warehouse.query, args.day)
    files = sales_report.render_report(data, Path(args.out) if args.out else SETTINGS.reports_dir)
    status = sales_report.headline(data)["status"]
    print(f"report of {args.day} ({status}): {files.png} and {files.html}")
    return 0


def worker(args: argparse.Namespace) -> int:
    """Run a Celery worker for this code location (SALES_EXECUTOR=celery) until stopped."""
    try:
        # Importing the settings validates the SALES_* environment (SettingsError, a ValueError).
        from .workers import start_worker

        return start_worker(
            args.concurrency, args.queue, args.name, args.loglevel, args.redeliver_after
        )
    except ValueError as error:
        if type(error).__name__ != "SettingsError":
            raise
        print(f"sales-assets worker: {error}", file=sys.stderr)
        return 2


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in YYYY-MM-DD form") from None


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")
    return int(text)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return int(text)


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--dirty-rate {text} is not a number") from None
    # The generator breaks rows of the day's second half only (duplicates copy a clean id
    # from the first half), so it cannot honour more than half.
    if not 0 <= value <= 0.5:
        raise argparse.ArgumentTypeError(f"--dirty-rate {text} must lie in [0, 0.5]")
    return value


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="sales-assets", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    for add in (_generate_command, _backfill_command, _report_command, _worker_command):
        add(commands)
    return root


def _generate_command(commands) -> None:
    gen = commands.add_parser("generate", help="write landing files for a date range")
    gen.add_argument("--start", type=_date, required=True, help="first day, YYYY-MM-DD")
    gen.add_argument("--days", type=_count, default=1, help="number of days (default 1)")
    gen.add_argument(
        "--rows-per-day", type=_count, default=5000, help="rows per day (default 5000)"
    )
    gen.add_argument("--format", choices=sorted(WRITERS), default="csv")
    gen.add_argument(
        "--dirty-rate", type=_rate, default=DEFAULT_DIRTY_RATE, help="share of broken rows"
    )
    gen.add_argument(
        "--seed", type=int, default=0, help="vary the data while staying deterministic"
    )
    gen.add_argument(
        "--out", required=True, help="landing folder or s3://bucket/prefix (SALES_LANDING_DIR)"
    )
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    gen.set_defaults(run=generate)


def _backfill_command(commands) -> None:
    fill = commands.add_parser(
        "backfill",
        help="load the days START..END (inclusive) in order, in this process",
        description="Runs daily_sales_job over the days in order, SALES_BACKFILL_DAYS_PER_RUN days "
        "a run, records every run in the instance at DAGSTER_HOME, prints one line per day (each "
        "day with its own checks and blocking) and exits 0 only if every day succeeded.",
    )
    fill.add_argument("start", help="first day, YYYY-MM-DD")
    fill.add_argument("end", help="last day, YYYY-MM-DD (inclusive)")
    fill.add_argument("--quiet", action="store_true", help="no progress bar")
    fill.set_defaults(run=backfill)


def _report_command(commands) -> None:
    out = commands.add_parser(
        "report",
        help="write a day's report (PNG and HTML) from the warehouse tables",
        description="Renders the day's one-page report, the same as the sales_report asset, from "
        "the tables in SALES_WAREHOUSE, into --out (default SALES_REPORTS_DIR) as "
        "sales_report_YYYY-MM-DD.png and .html.",
    )
    out.add_argument("--day", type=_date, required=True, help="the day, YYYY-MM-DD")
    out.add_argument("--out", help="folder to write to (default SALES_REPORTS_DIR)")
    out.set_defaults(run=report)


def _worker_command(commands) -> None:
    work = commands.add_parser(
        "worker",
        help="run a Celery worker that executes the steps of runs (SALES_EXECUTOR=celery)",
        description="Starts a Celery worker on SALES_CELERY_BROKER for this code location; run "
        "the same command on every worker machine, with the same SALES_* and AWS_* environment "
        "as the daemon and DAGSTER_HOME holding the shared (PostgreSQL) instance's dagster.yaml. "
        "SIGTERM stops it after its running steps (warm shutdown). See deploy/celery/.",
    )
    work.add_argument(
        "--concurrency",
        type=_positive,
        default=os.cpu_count() or 1,
        help="steps run at once, each in its own process (default: the number of CPUs)",
    )
    work.add_argument(
        "--queue",
        action="append",
        help="queue to take steps from; repeat for several (default: dagster-celery's queue "
        "`dagster`; a step tagged dagster-celery/queue goes to that queue)",
    )
    work.add_argument("--name", help="worker name (default sales-assets-PID@HOSTNAME)")
    work.add_argument("--loglevel", default="INFO", help="Celery log level (default INFO)")
    work.add_argument(
        "--redeliver-after",
        type=_positive,
        default=60,
        metavar="SECONDS",
        help="Redis broker: a step whose worker stopped renewing its lease (died, or lost the "
        "broker) goes back to the queue after this many seconds (default 60); RabbitMQ requeues "
        "it as soon as the worker's connection drops",
    )
    work.set_defaults(run=worker)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
