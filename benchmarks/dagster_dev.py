"""A `dagster dev` (webserver + daemon) for the benchmark, driven over GraphQL like the UI.

Only what the UI-style backfill needs: start `dagster dev` on a free 127.0.0.1 port in its own
process group, launch a partition backfill the way the UI's "Launch backfill" does, wait
for it, list its runs, stop the whole group. (The end-to-end tests have a fuller client of
their own; the benchmarks do not import the test package.)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
import yaml

REPO = Path(__file__).resolve().parent.parent
DONE_RUNS = {"SUCCESS", "FAILURE", "CANCELED"}
DONE_BACKFILLS = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}

WORKSPACE = """query { workspaceOrError { ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
LAUNCH_BACKFILL = """mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename ... on LaunchBackfillSuccess { backfillId } ... on Error { message } } }"""
BACKFILL = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  __typename ... on PartitionBackfill { status } ... on Error { message } } }"""
RUNS = """query($filter: RunsFilter, $limit: Int) { runsOrError(filter: $filter, limit: $limit) {
  __typename ... on Runs { results { runId status startTime endTime tags { key value } } }
  ... on Error { message } } }"""


def instance_yaml(storage: dict | None = None) -> str:
    """The repo's dagster.yaml, with its storage replaced by `storage` when given."""
    config = yaml.safe_load((REPO / "dagster.yaml").read_text()) or {}
    if storage is not None:
        for key in ("storage", "run_storage", "event_log_storage", "schedule_storage"):
            config.pop(key, None)
        config["storage"] = storage
    return yaml.safe_dump(config, sort_keys=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _default_signals() -> None:
    # A background job inherits SIGINT ignored, and `dagster dev` maps SIGTERM onto SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class DagsterDev:
    """`dagster dev -f/-w TARGET` in environment `env` (the whole of it) with
    DAGSTER_HOME=`home`, its output in `log`."""

    def __init__(self, home: Path, env: dict[str, str], target: list[str], log: Path):
        self.env = {**env, "DAGSTER_HOME": str(home), "NO_PROXY": "127.0.0.1"}
        self.target, self.log = target, log
        self.url = f"http://127.0.0.1:{free_port()}/graphql"
        self.session = requests.Session()
        self.session.trust_env = False  # a local server: never through an HTTP proxy
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> DagsterDev:
        port = self.url.split(":")[2].split("/")[0]
        dagster = Path(sys.executable).with_name("dagster")
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [str(dagster), "dev", "-h", "127.0.0.1", "-p", port, *self.target],
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_default_signals,
            )
        try:
            self.wait("the code location to load", self._loaded, timeout=300)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """SIGTERM to the whole process group (webserver, daemon, code servers, run workers),
        SIGKILL after 30 s."""
        if self.process is None or self.process.poll() is not None:
            return
        for sig, bound in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(bound)
                return
            except subprocess.TimeoutExpired:
                continue

    def query(self, text: str, **variables) -> dict:
        response = self.session.post(
            self.url, json={"query": text, "variables": variables}, timeout=60
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors from {self.url}: {body['errors']}")
        return body["data"]

    def wait(self, what: str, probe, timeout: float, interval: float = 1.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = probe()
            if found:
                return found
            time.sleep(interval)
        raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what} ({self.log})")

    def _loaded(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"dagster dev exited with {self.process.returncode}; see {self.log}")
        try:
            entries = self.query(WORKSPACE)["workspaceOrError"].get("locationEntries", [])
        except (requests.RequestException, ValueError):
            return False
        for entry in entries:
            if (entry["locationOrLoadError"] or {}).get("__typename") == "PythonError":
                raise RuntimeError(f"code location {entry['name']} failed to load; see {self.log}")
        return bool(entries) and all(e["loadStatus"] == "LOADED" for e in entries)

    def launch_backfill(self, days: list[str], assets: list[str]) -> str:
        """What the UI's "Launch backfill" sends for an asset selection and a list of days."""
        params = {
            "assetSelection": [{"path": [asset]} for asset in assets],
            "partitionNames": days,
            "fromFailure": False,
            "tags": [],
        }
        result = self.query(LAUNCH_BACKFILL, params=params)["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise RuntimeError(f"launching the backfill failed: {result}")
        return result["backfillId"]

    def runs(self, backfill_id: str) -> list[dict]:
        """The backfill's runs: id, status, start and end times, tags as a dict."""
        tags = [{"key": "dagster/backfill", "value": backfill_id}]
        result = self.query(RUNS, filter={"tags": tags}, limit=100_000)["runsOrError"]
        if result["__typename"] != "Runs":
            raise RuntimeError(f"listing the runs failed: {result}")
        for run in result["results"]:
            run["tags"] = {t["key"]: t["value"] for t in run["tags"]}
        return result["results"]

    def wait_backfill(self, backfill_id: str, timeout: float) -> str:
        """Wait until the backfill is done and none of its runs is queued or running; its status."""

        def done():
            found = self.query(BACKFILL, id=backfill_id)["partitionBackfillOrError"]
            if found.get("status") not in DONE_BACKFILLS:
                return None
            runs = self.runs(backfill_id)
            return found["status"] if all(r["status"] in DONE_RUNS for r in runs) else None

        return self.wait(f"backfill {backfill_id}", done, timeout, interval=2.0)
