"""SALES_EXECUTOR=celery: the executor every job uses, and the Celery worker that runs the steps.

The run (launched by the daemon, the UI, a sensor or `sales-assets backfill`) stays on the
machine that launched it and only orchestrates: it sends each step as a Celery task to the
broker (SALES_CELERY_BROKER), and `sales-assets worker`, started on any number of machines,
runs the step against the shared PostgreSQL instance, warehouse and S3 landing zone.

A day is never lost to a dead worker or a broker hiccup:
- a step's message is acknowledged only when the step has ended (`task_acks_late`), and a
  worker whose pool process dies rejects it back to the queue (`task_reject_on_worker_lost`);
- a worker machine that dies holds its message unacknowledged: RabbitMQ requeues it when the
  connection drops; Redis, which cannot see a dead consumer, requeues it once nobody renewed
  its lease for `redeliver_after` seconds (see `lease.py`), so a long step is never run twice;
- the step publishes each day in one warehouse transaction, and two loads of one day queue on
  an advisory lock, so a step run again after a crash replaces its days whole.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit

from dagster import DagsterInstance, ExecutorDefinition, in_process_executor

from .settings import SETTINGS, Settings, SettingsError, redact_url

JOB_NAME = "daily_sales_job"
# dagster-celery's queue; a step tagged `dagster-celery/queue` goes to the queue it names.
DEFAULT_QUEUE = "dagster"
REDELIVER_AFTER_SECONDS = 60.0
# Publishing a step fails within about a second when the broker is down, so the run fails
# (and is retried by the run retry policy) instead of hanging.
PUBLISH_RETRIES = {"max_retries": 3, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def is_redis(broker: str) -> bool:
    return urlsplit(broker).scheme in ("redis", "rediss")


def celery_settings(broker: str, redeliver_after: float = REDELIVER_AFTER_SECONDS) -> dict:
    """The Celery settings (dagster-celery's `config_source`) of the executor and the workers."""
    transport = dict(PUBLISH_RETRIES)
    if is_redis(broker):
        transport.update(
            visibility_timeout=redeliver_after,
            # Sweep for expired leases every few seconds (kombu's default is every 100 s).
            unacked_restore_interval=max(1, min(5, int(redeliver_after // 2))),
            unacked_restore_throttle=1,
        )
    return {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # One step at a time per pool process: a busy worker never sits on a second step.
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        # A step's result (its events) waits here for the run that sent it.
        "result_expires": 7 * 24 * 3600,
    }


def result_backend(broker: str) -> str:
    """Where a worker leaves a step's events for the run: the Redis itself, or RabbitMQ's RPC."""
    scheme = urlsplit(broker).scheme
    if scheme in ("redis", "rediss"):
        return broker
    if scheme in ("amqp", "amqps", "pyamqp"):
        return "rpc://"
    raise SettingsError(
        f"SALES_CELERY_BROKER={redact_url(broker)}: dagster-celery needs a result backend, "
        "which this broker does not offer; use redis://... or amqp://... (RabbitMQ)"
    )


def executor_for(settings: Settings = SETTINGS) -> ExecutorDefinition:
    """in_process_executor, or with SALES_EXECUTOR=celery dagster-celery's executor on the broker."""
    if settings.executor != "celery":
        return in_process_executor
    from dagster_celery import celery_executor

    url = settings.celery_broker
    backend = result_backend(url)  # refuses a broker without one when the location loads
    # The URL may carry a password: when it came from the environment, each process reads it
    # from there (StringSource), so no config value ever holds it.
    broker = url
    if url == (os.environ.get("SALES_CELERY_BROKER") or "").strip():
        broker = {"env": "SALES_CELERY_BROKER"}
    return celery_executor.configured(
        {
            "broker": broker,
            "backend": broker if is_redis(url) else backend,  # Redis: results in the broker
            "config_source": celery_settings(url),
        },
        name="celery",
    )


def worker_app(settings: Settings = SETTINGS, redeliver_after: float = REDELIVER_AFTER_SECONDS):
    """The Celery app of `sales-assets worker`: dagster-celery's app and step task, built from
    the same settings as the executor, so both sides agree on broker, backend and queue."""
    from dagster_celery.executor import CeleryExecutor
    from dagster_celery.make_app import make_app
    from dagster_celery.tasks import create_task

    broker = settings.celery_broker
    args = CeleryExecutor.for_cli(
        broker=broker,
        backend=result_backend(broker),
        config_source=celery_settings(broker, redeliver_after),
    ).app_args()
    app = make_app(args)
    create_task(app)
    return app


def daily_sales_job():
    """The daily job, for `reconstructable()`: a worker loads it by this module and name."""
    from .definitions import defs

    return defs.resolve_job_def(JOB_NAME)


def execute_run(job, instance: DagsterInstance, tags: dict, run_config: dict):
    """One run of `job` from this process (`sales-assets backfill`).

    in_process: the steps run here. celery: this process orchestrates the run as the daemon's
    run worker would, and the steps go to the Celery workers (`execute_in_process` would always
    run them here, whatever the job's executor)."""
    if SETTINGS.executor != "celery":
        return job.execute_in_process(
            instance=instance, raise_on_error=False, tags=tags, run_config=run_config
        )
    from dagster import execute_job, reconstructable

    if instance.is_ephemeral:
        raise SettingsError(
            "SALES_EXECUTOR=celery: set DAGSTER_HOME to the instance the workers share "
            "(storage on PostgreSQL); a temporary instance cannot hand steps to other machines"
        )
    return execute_job(
        reconstructable(daily_sales_job), instance=instance, tags=tags, run_config=run_config
    )


def check_worker_environment(settings: Settings = SETTINGS) -> DagsterInstance:
    """Refuse to start a worker that could only fail its steps; returns the instance."""
    if settings.executor != "celery":
        raise SettingsError(
            f"SALES_EXECUTOR={settings.executor}: runs execute their steps themselves and send "
            "none to workers; set SALES_EXECUTOR=celery and SALES_CELERY_BROKER here and where "
            "runs are launched (dagster daemon, webserver, code location)"
        )
    if not os.environ.get("DAGSTER_HOME"):
        raise SettingsError(
            "DAGSTER_HOME is not set: a worker records its steps' events in the instance the "
            "daemon uses; point DAGSTER_HOME at a folder holding that dagster.yaml (see deploy/celery)"
        )
    try:
        instance = DagsterInstance.get()
    except Exception as error:  # a missing folder, a bad dagster.yaml, PostgreSQL unreachable
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise SettingsError(
            f"DAGSTER_HOME={os.environ['DAGSTER_HOME']}: the instance does not load: {first_line}"
        ) from None
    storage = type(instance.run_storage).__name__
    if "Sqlite" in storage and not settings.celery_single_machine:
        raise SettingsError(
            f"DAGSTER_HOME={os.environ['DAGSTER_HOME']}: the instance keeps its runs in SQLite "
            "files on this machine; workers on other machines need it on PostgreSQL "
            "(deploy/celery/dagster.yaml), or set SALES_CELERY_SINGLE_MACHINE=1"
        )
    return instance


def start_worker(
    concurrency: int,
    queues: list[str] | None = None,
    name: str | None = None,
    loglevel: str = "INFO",
    redeliver_after: float = REDELIVER_AFTER_SECONDS,
) -> int:
    """Run a Celery worker for this code location until it is stopped (SIGTERM: warm shutdown)."""
    from celery.signals import worker_ready
    from celery.utils.nodenames import host_format

    from .lease import start_lease_renewal

    check_worker_environment().dispose()
    app = worker_app(SETTINGS, redeliver_after)
    # Loaded before the pool forks, so each pool process starts with the code location imported
    # (and a bad setting stops the worker here, naming the variable).
    from . import definitions  # noqa: F401

    if is_redis(SETTINGS.celery_broker):
        renew = start_lease_renewal(SETTINGS.celery_broker, every=redeliver_after / 4)
        worker_ready.connect(lambda **_: renew(), weak=False)
    queues = queues or [DEFAULT_QUEUE]
    node = host_format(name or f"sales-assets-{os.getpid()}@%h")
    print(
        f"sales-assets worker {node}: broker {redact_url(SETTINGS.celery_broker)}, "
        f"queues {','.join(queues)}, concurrency {concurrency}",
        file=sys.stderr,
        flush=True,
    )
    argv = ["worker", f"--concurrency={concurrency}", "--prefetch-multiplier=1"]
    argv += ["--queues", ",".join(queues), "--hostname", node, f"--loglevel={loglevel}"]
    app.worker_main(argv)
    return 0
