"""Real parts of a Celery deployment for tests and benchmarks: a scratch `redis-server` and
`sales-assets worker` processes, each in a folder of its own as on a machine of its own.

Every process is started in its own session and stopped by its process group id.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from .dagster_dev import free_port, wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
CELERY_INSTANCE_YAML = REPO_ROOT / "deploy" / "celery" / "dagster.yaml"
SALES_ASSETS = Path(sys.executable).with_name("sales-assets")


class RedisServer:
    """`redis-server` on 127.0.0.1:<free port>, no snapshots, no append-only file."""

    def __init__(self, folder: Path):
        binary = shutil.which("redis-server")
        if binary is None:
            raise AssertionError(
                "redis-server not found: install the Debian package redis-server "
                "(scripts/test does when it is missing)"
            )
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = folder / f"redis-{self.port}.log"
        args = [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        args += ["--appendonly", "no", "--dir", str(folder), "--logfile", str(self.log_path)]
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_for(f"redis-server on {self.url}", self._answers, timeout=30, interval=0.2)
        except BaseException:
            self.stop()
            raise

    def _answers(self) -> bool:
        import redis

        if self.process.poll() is not None:
            raise AssertionError(f"redis-server exited: {self.log_path.read_text()[-2000:]}")
        try:
            return redis.Redis.from_url(self.url, socket_timeout=1).ping()
        except redis.RedisError:
            return False

    def stop(self) -> None:
        stop_group(self.process)


class Worker:
    """`sales-assets worker` started from an empty folder with its own HOME, TMPDIR,
    DAGSTER_HOME (holding a copy of `instance_yaml`) and reports folder.

    With `instance_yaml=None` the worker keeps the DAGSTER_HOME of `env` (one machine)."""

    def __init__(
        self,
        root: Path,
        name: str,
        env: dict[str, str],
        instance_yaml: str | None,
        concurrency: int = 1,
        redeliver_after: int = 60,
    ):
        self.name, self.root = name, root
        for folder in ("cwd", "home", "tmp", "dagster_home", "reports"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        machine = {k: v for k, v in os.environ.items() if not k.startswith(("SALES_", "DAGSTER_"))}
        machine.update(
            env,
            HOME=str(root / "home"),
            TMPDIR=str(root / "tmp"),
            SALES_REPORTS_DIR=str(root / "reports"),
        )
        if instance_yaml is not None:
            (root / "dagster_home" / "dagster.yaml").write_text(instance_yaml)
            machine["DAGSTER_HOME"] = str(root / "dagster_home")
        self.log_path = root / "worker.log"
        args = [str(SALES_ASSETS), "worker", "--concurrency", str(concurrency)]
        args += ["--name", f"{name}@%h", "--redeliver-after", str(redeliver_after)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                args,
                cwd=root / "cwd",
                env=machine,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.known_pids: set[int] = set()

    def wait_ready(self, timeout: float = 120) -> Worker:
        def ready():
            if self.process.poll() is not None:
                raise AssertionError(f"worker {self.name} exited:\n{self.log_tail()}")
            return " ready." in self.log_path.read_text(errors="replace")

        wait_for(f"worker {self.name} to be ready", ready, timeout, interval=0.5)
        self.pids()
        return self

    def pids(self) -> set[int]:
        """The worker's processes (main and pool), including every one seen before."""
        self.known_pids |= process_tree(self.process.pid)
        return self.known_pids

    def kill(self) -> None:
        """SIGKILL the worker's whole process group, as if its machine died."""
        self.pids()
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        stop_group(self.process)

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return f"--- last {lines} lines of {self.log_path} ---\n" + "\n".join(text[-lines:])


def process_tree(root: int) -> set[int]:
    """`root` and its descendants, read from /proc (Linux)."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children[parent].append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, []))
    return found


def stop_group(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM the process's group, SIGKILL it after `timeout` s; reap the leader."""
    for sig, bound in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            process.poll()
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            continue
        break
    process.poll()
