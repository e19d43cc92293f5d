"""End-to-end fixtures: real `dagster dev` processes, PostgreSQL, Chromium; dagster dev's log on failure."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .dagster_dev import REPO_ROOT, DagsterDev

CHROMIUM = Path(os.environ.get("SALES_E2E_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = REPO_ROOT / "test-artifacts"  # git-ignored; CI keeps it
E2E_DIR = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group markers
def pytest_collection_modifyitems(items):
    """Every test in this folder is end-to-end: `-m "not e2e"` (scripts/test --quick) skips it.

    A module's tests share its module-scoped `dagster dev` and run in file order, so under
    pytest-xdist (`--dist loadgroup`) they stay on one worker. pytest hands this hook the whole
    session's items, so only those under this folder are marked.
    """
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.xdist_group(f"e2e:{item.path.stem}"))


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
