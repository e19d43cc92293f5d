"""How one variant is measured: a fresh OS process, timed by the OS, in a clean environment.

Wall time from the parent; CPU time (user + system) and peak RSS of the child from the OS:
/usr/bin/time's `%M` when present (a child forked from this larger process inherits its
high-water mark in wait4's ru_maxrss, which would overstate small runs), wait4 otherwise.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from datetime import date
from importlib import metadata
from pathlib import Path

from benchmarks.dagster_dev import instance_yaml

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
START = date(2024, 1, 1)  # first day of the generated data and SALES_START_DATE
TIME = Path("/usr/bin/time")
# The one setting taken from the caller's environment (every other SALES_* is cleared): the
# size of a backfill's runs, to measure another choice than the default.
KEPT_SETTINGS = ("SALES_BACKFILL_DAYS_PER_RUN",)
VERSIONS = ("dagster", "pandas", "pyarrow", "duckdb", "pandera", "numpy", "adbc-driver-postgresql")


def machine() -> dict:
    """Cores, memory, CPU model, Python and library versions: what the figures depend on."""
    memory_kb = next(
        int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")
    )
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line),
        platform.processor(),
    )
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 2**20, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "versions": {name: metadata.version(name) for name in VERSIONS},
    }


def clean_environment(settings: dict[str, str]) -> dict[str, str]:
    """This process's environment without any SALES_* (but KEPT_SETTINGS) or DAGSTER_*
    variable, plus `settings`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k in KEPT_SETTINGS or not k.startswith(("SALES_", "DAGSTER_"))
    }
    env.update(PYTHONPATH=str(REPO), SALES_START_DATE=START.isoformat(), **settings)
    return env


def fresh_home(path: Path, storage: dict | None = None) -> Path:
    """A new DAGSTER_HOME configured by the repo's dagster.yaml (storage swapped when given)."""
    path.mkdir(parents=True)
    (path / "dagster.yaml").write_text(instance_yaml(storage))
    return path


def timed(command: list[str], env: dict[str, str], log: Path) -> dict:
    """Run `command` to completion: wall and CPU seconds, peak RSS, the load around it."""
    peak_file = log.with_suffix(".maxrss")
    wrapped = [str(TIME), "-f", "%M", "-o", str(peak_file), *command] if TIME.exists() else command
    load_before = os.getloadavg()[0]
    with open(log, "w") as out:
        started = time.perf_counter()
        process = subprocess.Popen(wrapped, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(command)} exited {code}; log {log}:\n{tail}")
    peak_kb = int(peak_file.read_text().split()[-1]) if TIME.exists() else usage.ru_maxrss
    return {
        "seconds": round(seconds, 3),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "load_average": round((load_before + os.getloadavg()[0]) / 2, 1),
    }


def generate(landing: Path, start: date, days: int, rows: int, fmt: str) -> None:
    """Landing files written by the project's own generator command."""
    subprocess.run(
        [str(BIN / "sales-assets"), "generate", "--start", start.isoformat()]
        + ["--days", str(days), "--rows-per-day", str(rows), "--format", fmt]
        + ["--out", str(landing), "--quiet"],
        check=True,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
    )
