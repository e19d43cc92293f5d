"""A real `dagster dev` (webserver + daemon) in its own process group, and a small GraphQL client.

Used by the end-to-end tests. Everything here talks to
the running webserver over HTTP, the way the UI does; nothing is mocked.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
REPO_INSTANCE_YAML = REPO_ROOT / "dagster.yaml"
DONE_RUN_STATUSES = {"SUCCESS", "FAILURE", "CANCELED"}
DONE_BACKFILL_STATUSES = {
    "COMPLETED",
    "COMPLETED_SUCCESS",
    "COMPLETED_FAILED",
    "FAILED",
    "CANCELED",
}
ASSETS = ["raw_sales", "cleaned_sales", "rejected_sales", "sales_metrics", "sales_report"]
POSTGRES = {"hostname": "127.0.0.1", "port": 5432, "username": "postgres", "password": ""}
# SQLAlchemy 2.1 maps plain `postgresql` to psycopg 3; dagster-postgres ships psycopg2.
POSTGRES_SCHEME = "postgresql+psycopg2"


class Timeout(AssertionError):
    """A bounded wait ran out; the message says what we were waiting for and what we saw last."""


def wait_for(what: str, probe: Callable[[], Any], timeout: float, interval: float = 1.0) -> Any:
    """Call `probe` until it returns something truthy; fail after `timeout` seconds naming `what`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise Timeout(f"gave up after {timeout:.0f}s waiting for {what}; last seen: {last!r}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def instance_yaml(
    base: Path | None = REPO_INSTANCE_YAML, storage: dict | None = None, extra: dict | None = None
) -> str:
    """The repo's dagster.yaml (when present), with `storage` replaced and `extra` keys merged in."""
    import yaml

    config = {}
    if base is not None and base.exists():
        config = yaml.safe_load(base.read_text()) or {}
    if storage is not None:
        for key in ("storage", "run_storage", "event_log_storage", "schedule_storage"):
            config.pop(key, None)
        config["storage"] = storage
    config.update(extra or {})
    config.setdefault("telemetry", {"enabled": False})
    return yaml.safe_dump(config, sort_keys=False)


class GraphQL:
    """POST /graphql; raises with the server's message on any GraphQL error."""

    def __init__(self, url: str, timeout: float = 60.0):
        self.url = url
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False  # a local server: never through an HTTP(S)_PROXY

    def __call__(self, query: str, **variables) -> dict:
        # A read is retried when the server drops a kept-alive connection; a mutation never is.
        attempts = 1 if query.lstrip().startswith("mutation") else 3
        for attempt in range(attempts):
            try:
                response = self.session.post(
                    self.url, json={"query": query, "variables": variables}, timeout=self.timeout
                )
                break
            except requests.ConnectionError:
                if attempt + 1 == attempts:
                    raise
                time.sleep(1.0)
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise AssertionError(f"GraphQL errors: {body['errors']}")
        return body["data"]


RUNS_QUERY = """
query Runs($filter: RunsFilter, $limit: Int) {
  runsOrError(filter: $filter, limit: $limit) {
    __typename
    ... on Runs { results { runId jobName status startTime endTime tags { key value } } }
    ... on PythonError { message }
  }
}"""

LAUNCH_RUN = """
mutation LaunchPipelineExecution($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message stack }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""

LAUNCH_BACKFILL = """
mutation LaunchPartitionBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on PartitionSetNotFoundError { message }
    ... on InvalidSubsetError { message }
  }
}"""

BACKFILL_QUERY = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { id status numPartitions endTimestamp error { message } }
    ... on PythonError { message }
  }
}"""

CHECK_EXECUTIONS = """
query Checks($assetKey: AssetKeyInput!, $checkName: String!, $limit: Int!, $partition: String) {
  assetCheckExecutions(
    assetKey: $assetKey, checkName: $checkName, limit: $limit, partition: $partition
  ) {
    runId status partition
    evaluation {
      success severity partition description
      metadataEntries { label ... on MarkdownMetadataEntry { mdStr } }
    }
  }
}"""

# What an asset's Partitions tab and its checks' Partitions view show.
PARTITION_STATUSES = """
query Statuses($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) {
    __typename
    ... on AssetNode {
      assetPartitionStatuses {
        ... on TimePartitionStatuses { ranges { startKey endKey status } }
      }
      assetChecksOrError {
        ... on AssetChecks {
          checks {
            name
            partitionStatuses {
              ... on AssetCheckTimePartitionStatuses { ranges { startKey endKey status } }
            }
          }
        }
      }
    }
  }
}"""

# What a backfill's page counts per asset.
BACKFILL_COUNTS = """
query BackfillCounts($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill {
      assetBackfillData {
        assetBackfillStatuses {
          ... on AssetPartitionsStatusCounts {
            assetKey { path }
            numPartitionsTargeted numPartitionsInProgress numPartitionsMaterialized
            numPartitionsFailed
          }
        }
      }
    }
  }
}"""

STOP_SENSOR = """
mutation Stop($id: String!) {
  stopSensor(id: $id) {
    __typename
    ... on StopSensorMutationResult { instigationState { status } }
    ... on PythonError { message }
  }
}"""

ASSET_CHECKS_QUERY = """
query AssetNodes {
  assetNodes {
    assetKey { path }
    jobNames
    opNames
    assetChecksOrError { ... on AssetChecks { checks { name } } }
  }
}"""

WORKSPACE_QUERY = """
query Workspace {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { repositories { name } }
          ... on PythonError { message }
        }
      }
    }
  }
}"""

INSTIGATORS_QUERY = """
query Instigators($repo: RepositorySelector!) {
  schedulesOrError(repositorySelector: $repo) {
    ... on Schedules { results { name cronSchedule scheduleState { status } } }
  }
  sensorsOrError(repositorySelector: $repo) {
    ... on Sensors { results { name sensorState { id status } } }
  }
}"""

SCHEDULE_TICKS = """
query ScheduleTicks($selector: ScheduleSelector!, $limit: Int) {
  scheduleOrError(scheduleSelector: $selector) {
    __typename
    ... on Schedule { scheduleState { ticks(limit: $limit) { status timestamp runIds skipReason error { message } } } }
  }
}"""


class DagsterDev:
    """`dagster dev` on 127.0.0.1:<free port> in its own session, with its log in a file.

    Started with `start_new_session=True` (and SIGINT/SIGTERM restored to their defaults, see
    `_default_interrupts`) and stopped by signalling the whole group (webserver, daemon, code
    servers and run workers): SIGTERM, then SIGKILL after a bound.
    """

    def __init__(
        self,
        home: Path,
        env: dict[str, str],
        target: list[str] | None = None,
        log_path: Path | None = None,
        cwd: Path = REPO_ROOT,
    ):
        self.home = Path(home)
        self.env = {
            **os.environ,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
        self.env.update(env, DAGSTER_HOME=str(self.home))
        self.env.pop("DAGSTER_CLI_API_GRPC_PORT", None)
        self.target = target or ["-w", str(REPO_ROOT / "workspace.yaml")]
        self.log_path = Path(log_path or self.home / "dagster_dev.log")
        self.cwd = cwd
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.graphql = GraphQL(f"{self.url}/graphql")
        self.process: subprocess.Popen | None = None
        self._log = None

    def start(self, timeout: float = 180.0) -> DagsterDev:
        dagster = Path(sys.executable).with_name("dagster")
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(self.port), *self.target],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_default_interrupts,
        )
        try:
            wait_for(
                f"dagster dev at {self.url} to load its code location",
                self._ready,
                timeout,
                interval=1.0,
            )
        except Timeout as error:
            self.stop()
            raise Timeout(f"{error}\n{self.log_tail()}") from None
        except BaseException:
            self.stop()
            raise
        return self

    def _ready(self):
        if self.process.poll() is not None:
            raise AssertionError(
                f"dagster dev exited with {self.process.returncode}\n{self.log_tail()}"
            )
        try:
            data = self.graphql(WORKSPACE_QUERY)
        except (requests.RequestException, ValueError):
            return None
        entries = data["workspaceOrError"].get("locationEntries", [])
        for entry in entries:
            location = entry["locationOrLoadError"]
            if location and location["__typename"] == "PythonError":
                raise AssertionError(
                    f"code location {entry['name']} failed to load: {location['message']}"
                )
        if entries and all(
            e["loadStatus"] == "LOADED" and e["locationOrLoadError"] for e in entries
        ):
            return entries
        return None

    @property
    def location(self) -> tuple[str, str]:
        """(location name, repository name) of the first code location."""
        entry = self.graphql(WORKSPACE_QUERY)["workspaceOrError"]["locationEntries"][0]
        return entry["name"], entry["locationOrLoadError"]["repositories"][0]["name"]

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None:
            return
        pgid = self.process.pid  # leader of its own session
        for sig, bound in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + bound
            while time.monotonic() < deadline and _group_alive(pgid):
                self.process.poll()
                time.sleep(0.2)
            if not _group_alive(pgid):
                break
        self.process.poll()
        if self._log:
            self._log.close()

    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return f"--- last {lines} lines of {self.log_path} ---\n" + "\n".join(text[-lines:])

    # --- what the UI does -------------------------------------------------------------

    def asset_nodes(self) -> list[dict]:
        return self.graphql(ASSET_CHECKS_QUERY)["assetNodes"]

    def materialize_partition(
        self, day: str, assets: list[str] = ASSETS, job: str = "__ASSET_JOB"
    ) -> str:
        """What the Materialize button sends for one partition: launchPipelineExecution on the
        asset job with the asset and check selection and a `dagster/partition` tag."""
        location, repository = self.location
        nodes = {tuple(n["assetKey"]["path"]): n for n in self.asset_nodes()}
        checks = [
            {"assetKey": {"path": [asset]}, "name": check["name"]}
            for asset in assets
            for check in (nodes[(asset,)]["assetChecksOrError"].get("checks") or [])
        ]
        params = {
            "mode": "default",
            "runConfigData": "{}",
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": day}]},
            "selector": {
                "repositoryLocationName": location,
                "repositoryName": repository,
                "pipelineName": job,
                "assetSelection": [{"path": [a]} for a in assets],
                "assetCheckSelection": checks,
            },
        }
        result = self.graphql(LAUNCH_RUN, executionParams=params)["launchPipelineExecution"]
        assert result["__typename"] == "LaunchRunSuccess", result
        return result["run"]["runId"]

    def launch_backfill(self, days: list[str], assets: list[str] = ASSETS) -> str:
        """What the UI's "Launch backfill" sends for an asset selection and a list of days."""
        params = {
            "assetSelection": [{"path": [a]} for a in assets],
            "partitionNames": days,
            "fromFailure": False,
            "tags": [],
        }
        result = self.graphql(LAUNCH_BACKFILL, backfillParams=params)["launchPartitionBackfill"]
        assert result["__typename"] == "LaunchBackfillSuccess", result
        return result["backfillId"]

    def runs(self, limit: int = 1000, **filter_) -> list[dict]:
        tags = filter_.pop("tags", None)
        if tags:
            filter_["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        result = self.graphql(RUNS_QUERY, filter=filter_, limit=limit)["runsOrError"]
        assert result["__typename"] == "Runs", result
        for run in result["results"]:
            run["tags"] = {t["key"]: t["value"] for t in run["tags"]}
        return result["results"]

    def wait_run(self, run_id: str, timeout: float = 180.0) -> dict:
        def done():
            runs = self.runs(runIds=[run_id])
            return runs[0] if runs and runs[0]["status"] in DONE_RUN_STATUSES else None

        return wait_for(f"run {run_id} to finish", done, timeout)

    def backfill(self, backfill_id: str) -> dict:
        result = self.graphql(BACKFILL_QUERY, id=backfill_id)["partitionBackfillOrError"]
        assert result["__typename"] == "PartitionBackfill", result
        return result

    def wait_backfill(self, backfill_id: str, timeout: float, interval: float = 2.0) -> dict:
        """Wait until the backfill is done and none of its runs is still queued or running."""

        def done():
            backfill = self.backfill(backfill_id)
            if backfill["status"] not in DONE_BACKFILL_STATUSES:
                return None
            runs = self.runs(tags={"dagster/backfill": backfill_id})
            return backfill if all(r["status"] in DONE_RUN_STATUSES for r in runs) else None

        return wait_for(f"backfill {backfill_id} to complete", done, timeout, interval)

    def check_executions(
        self, asset: str, check: str, partition: str | None = None, limit: int = 100
    ) -> list[dict]:
        return self.graphql(
            CHECK_EXECUTIONS,
            assetKey={"path": [asset]},
            checkName=check,
            limit=limit,
            partition=partition,
        )["assetCheckExecutions"]

    def instigators(self) -> dict:
        location, repository = self.location
        data = self.graphql(
            INSTIGATORS_QUERY,
            repo={"repositoryLocationName": location, "repositoryName": repository},
        )
        return {
            "schedules": {s["name"]: s for s in data["schedulesOrError"].get("results", [])},
            "sensors": {s["name"]: s for s in data["sensorsOrError"].get("results", [])},
        }

    def stop_sensor(self, name: str) -> None:
        """What the sensor's toggle in the UI does when switched off."""
        state = self.instigators()["sensors"][name]["sensorState"]
        result = self.graphql(STOP_SENSOR, id=state["id"])["stopSensor"]
        assert result["__typename"] == "StopSensorMutationResult", result
        assert result["instigationState"]["status"] == "STOPPED", result

    def partition_statuses(self, asset: str) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
        """Day -> status as the asset's Partitions tab shows it, and check -> day -> status as
        each check's Partitions view shows it (days never materialized or checked left out)."""
        node = self.graphql(PARTITION_STATUSES, assetKey={"path": [asset]})["assetNodeOrError"]
        assert node["__typename"] == "AssetNode", node
        days = _by_day(node["assetPartitionStatuses"].get("ranges") or [])
        checks = {
            check["name"]: _by_day((check["partitionStatuses"] or {}).get("ranges") or [])
            for check in node["assetChecksOrError"].get("checks") or []
        }
        return days, checks

    def backfill_counts(self, backfill_id: str) -> dict[str, dict[str, int]]:
        """asset -> {targeted, in_progress, materialized, failed}, as the backfill page counts."""
        data = self.graphql(BACKFILL_COUNTS, id=backfill_id)["partitionBackfillOrError"]
        return {
            status["assetKey"]["path"][0]: {
                "targeted": status["numPartitionsTargeted"],
                "in_progress": status["numPartitionsInProgress"],
                "materialized": status["numPartitionsMaterialized"],
                "failed": status["numPartitionsFailed"],
            }
            for status in data["assetBackfillData"]["assetBackfillStatuses"]
            if "assetKey" in status
        }

    def schedule_ticks(self, name: str, limit: int = 20) -> list[dict]:
        """The schedule's ticks, newest first; a tick's timestamp is its scheduled execution time."""
        location, repository = self.location
        selector = {
            "repositoryLocationName": location,
            "repositoryName": repository,
            "scheduleName": name,
        }
        result = self.graphql(SCHEDULE_TICKS, selector=selector, limit=limit)["scheduleOrError"]
        assert result["__typename"] == "Schedule", result
        return result["scheduleState"]["ticks"]


def _by_day(ranges: list[dict]) -> dict[str, str]:
    """Status ranges (startKey..endKey, inclusive daily keys) as one status per day."""
    from datetime import date, timedelta

    found = {}
    for span in ranges:
        day, last = date.fromisoformat(span["startKey"]), date.fromisoformat(span["endKey"])
        while day <= last:
            found[day.isoformat()] = span["status"]
            day += timedelta(days=1)
    return found


def _default_interrupts() -> None:
    """In the child before exec: a shell's background job inherits SIGINT ignored, and
    `dagster dev` maps SIGTERM to its SIGINT handler, so it would ignore both; restore them."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Zombies of our own direct child still count as members until reaped.
    return True


@contextmanager
def postgres_database(prefix: str = "sales_e2e") -> Iterator[dict]:
    """A throwaway database on the PostgreSQL at 127.0.0.1:5432 (trust auth), dropped afterwards.

    Yields the `storage:` section of a dagster.yaml that puts the instance on it."""
    import psycopg2

    try:
        admin = psycopg2.connect(
            host=POSTGRES["hostname"],
            port=POSTGRES["port"],
            user=POSTGRES["username"],
            dbname="test",
            connect_timeout=10,
        )
    except psycopg2.OperationalError as error:
        raise AssertionError(
            f"PostgreSQL is not reachable at {POSTGRES['hostname']}:{POSTGRES['port']} (database `test`, user "
            f"{POSTGRES['username']}, trust auth): {error}. `.ci/run` installs and starts it."
        ) from None
    admin.autocommit = True
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {
            "postgres": {"postgres_db": {**POSTGRES, "db_name": name, "scheme": POSTGRES_SCHEME}}
        }
    finally:
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [name],
            )
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


@contextmanager
def running_dagster_dev(
    tmp: Path, env: dict[str, str], storage: dict | None = None, target: list[str] | None = None
) -> Iterator[DagsterDev]:
    """`dagster dev` on a fresh DAGSTER_HOME (the repo's dagster.yaml, `storage` swapped in) and a
    fresh DuckDB file under `tmp`; the SALES_* settings not given are cleared to their defaults."""
    home = tmp / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(instance_yaml(REPO_INSTANCE_YAML, storage=storage))
    defaults = {
        "SALES_WAREHOUSE": str(tmp / "warehouse.duckdb"),
        "SALES_LANDING_DIR": "",
        "SALES_ALERT_WEBHOOK_URL": "",
        "SALES_START_DATE": "",
        "SALES_SCHEDULE_CRON": "",
        "SALES_MAX_REJECT_RATE": "",
        "SALES_BACKFILL_DAYS_PER_RUN": "",
        "SALES_REPORTS_DIR": str(tmp / "reports"),  # never the repo's data/reports
    }
    dev = DagsterDev(home, {**defaults, **env}, target=target, log_path=tmp / "dagster_dev.log")
    dev.start()
    try:
        yield dev
    finally:
        dev.stop()


def count_rows(warehouse: Path, table: str, day: str) -> int:
    """Rows of one day in a warehouse table, read the way an analyst would (waits out a writer)."""
    from sales_assets.warehouse import connect

    column = "order_date" if table in ("cleaned_sales", "sales_metrics") else "partition_date"
    with connect(str(warehouse), read_only=True, lock_timeout=60) as connection:
        return connection.execute(
            f"SELECT count(*) FROM sales.{table} WHERE {column} = ?", [day]
        ).fetchone()[0]
