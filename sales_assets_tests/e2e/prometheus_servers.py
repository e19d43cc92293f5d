"""Real Debian `prometheus-pushgateway` and `prometheus` on free 127.0.0.1 ports, for tests.

Each server runs in its own process group with its data and log in a given temporary folder,
and is stopped by its process id. A missing binary raises `MissingBinary` naming the Debian
package (scripts/test installs them); tests turn that into a failure, never a skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import requests
import yaml

from .dagster_dev import free_port, wait_for

PUSHGATEWAY = os.environ.get("SALES_E2E_PUSHGATEWAY", "/usr/bin/prometheus-pushgateway")
PROMETHEUS = os.environ.get("SALES_E2E_PROMETHEUS", "/usr/bin/prometheus")
PROMTOOL = os.environ.get("SALES_E2E_PROMTOOL", "promtool")
PACKAGES = {PUSHGATEWAY: "prometheus-pushgateway", PROMETHEUS: "prometheus", PROMTOOL: "prometheus"}


class MissingBinary(RuntimeError):
    pass


def binary(name: str) -> str:
    """The absolute path of a server binary, or MissingBinary naming its Debian package."""
    found = shutil.which(name)
    if not found:
        package = PACKAGES.get(name, name)
        raise MissingBinary(
            f"{name} not found: install Debian package {package} (`apt-get install -y {package}`; "
            "scripts/test does it)"
        )
    return found


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # local servers: never through an HTTP(S)_PROXY
    return session


class Server:
    """One server process: started in its own session, ready when `ready_path` answers 200."""

    def __init__(
        self, name: str, argv: Sequence[str], port: int, workdir: Path, auth: tuple | None = None
    ):
        self.name, self.argv, self.port, self.workdir = name, list(argv), port, workdir
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = workdir / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self.http = _session()
        self.http.auth = auth  # (user, password) when the server wants basic auth

    def start(self, ready_path: str = "/-/ready", timeout: float = 30.0) -> Server:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        wait_for(f"{self.name} at {self.url}", lambda: self._ready(ready_path), timeout, 0.05)
        return self

    def _ready(self, path: str) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited ({self.process.returncode}):\n{self.log_tail()}"
            )
        try:
            return self.http.get(self.url + path, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group this server leads (its pid), then SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _start(make, attempts: int = 3) -> Server:
    """Start `make(port)` on a free port; a port taken between choice and bind gets a retry."""
    for attempt in range(attempts):
        server = make(free_port())
        try:
            return server.start()
        except BaseException:  # exited early or never ready: never leave the process behind
            server.stop()
            if attempt + 1 == attempts or "address already in use" not in server.log_tail():
                raise
    raise AssertionError("unreachable")


@contextmanager
def running_pushgateway(
    workdir: Path, extra_args: Sequence[str] = (), auth: tuple | None = None
) -> Iterator[Server]:
    """A Pushgateway with its persistence file in `workdir`; `auth` for its own HTTP calls."""
    workdir.mkdir(parents=True, exist_ok=True)
    exe = binary(PUSHGATEWAY)

    def make(port: int) -> Server:
        argv = [exe, f"--web.listen-address=127.0.0.1:{port}",
                f"--persistence.file={workdir / 'pushgateway.data'}", *extra_args]  # fmt: skip
        return Server("pushgateway", argv, port, workdir, auth)

    server = _start(make)
    try:
        yield server
    finally:
        server.stop()


def prometheus_config(targets: Sequence[str], rule_files: Sequence[Path] = ()) -> dict:
    """Scrape the Pushgateway(s) every second, keeping the pushed job labels (honor_labels)."""
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {
                "job_name": "pushgateway",
                "honor_labels": True,
                "static_configs": [{"targets": list(targets)}],
            }
        ],
    }


class Prometheus(Server):
    """A Prometheus server and the bits of its HTTP API the tests use."""

    def api(self, path: str, **params) -> dict | list:
        """GET /api/v1/<path>; raises with Prometheus's own error text when it reports one."""
        response = self.http.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = response.json()
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict]:
        """An instant query: [{"metric": {...}, "value": float}] (a scalar comes back as one)."""
        data = self.api("query", query=expr, **({"time": at} if at is not None else {}))
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": float(data["result"][1])}]
        return [{"metric": r["metric"], "value": float(r["value"][1])} for r in data["result"]]

    def wait_until(self, expr: str, timeout: float = 30.0) -> float:
        """Poll until `expr` returns a series; the evaluation time at which it did (unix time)."""

        def probe():
            at = time.time()
            return self.query(expr, at) and at

        return wait_for(f"Prometheus to answer {expr!r}", probe, timeout, interval=0.2)


@contextmanager
def running_prometheus(
    workdir: Path, targets: Sequence[str], rule_files: Sequence[Path] = ()
) -> Iterator[Prometheus]:
    """Prometheus scraping `targets` (host:port) every second, its TSDB in `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    exe = binary(PROMETHEUS)
    config = workdir / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(targets, rule_files), sort_keys=False))

    def make(port: int) -> Prometheus:
        argv = [exe, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}"]  # fmt: skip
        return Prometheus("prometheus", argv, port, workdir)

    server = _start(make)
    try:
        yield server
    finally:
        server.stop()


# Grafana fills these in before a query reaches Prometheus; values a 7-day dashboard would get.
GRAFANA_VARIABLES = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "7d",
    "__range_s": "604800",
}


def rule_expressions(path: Path) -> dict[str, str]:
    """alert name -> PromQL expression, from a Prometheus rules file."""
    groups = yaml.safe_load(path.read_text())["groups"]
    return {
        rule.get("alert") or rule["record"]: rule["expr"] for g in groups for rule in g["rules"]
    }


def dashboard_expressions(path: Path) -> dict[str, str]:
    """ "panel title / refId" -> PromQL with Grafana's variables replaced, from a dashboard JSON."""
    dashboard = json.loads(path.read_text())
    variables = dict(GRAFANA_VARIABLES)
    for var in dashboard.get("templating", {}).get("list", []):
        variables[var["name"]] = var.get("current", {}).get("value", "")
    names = "|".join(re.escape(name) for name in sorted(variables, key=len, reverse=True))
    pattern = re.compile(r"\$\{(" + names + r")\}|\$(" + names + r")\b")
    found = {}
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = pattern.sub(lambda m: variables[m.group(1) or m.group(2)], target["expr"])
            found[f"{panel['title']} / {target['refId']}"] = expr
    return found
