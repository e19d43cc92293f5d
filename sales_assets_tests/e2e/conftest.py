"""End-to-end fixtures: real `dagster dev` processes, PostgreSQL, Chromium; dagster dev's log on failure."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .dagster_dev import REPO_ROOT, DagsterDev

CHROMIUM = Path(os.environ.get("SALES_E2E_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = REPO_ROOT / "test-artifacts"  # git-ignored; CI keeps it


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing end-to-end test shows the tail of its dagster dev log (webserver, daemon, runs)."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, DagsterDev):
                report.sections.append((f"dagster dev log {value.log_path}", value.log_tail(120)))


@pytest.fixture(scope="session")
def chromium() -> Path:
    """The Debian chromium binary; missing is a failure (CI installs it), never a skip."""
    if not CHROMIUM.exists() or not shutil.which(str(CHROMIUM)):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install it with `apt-get install -y chromium` (.ci/run does)"
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
