"""The environment the tests run in is the lock: every package of requirements.lock that applies
to this Python and platform is installed at exactly its locked version (scripts/test installs it
with `uv pip sync`; the README's commands with `pip install -c requirements.lock`)."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

LOCK = Path(__file__).resolve().parent.parent / "requirements.lock"
PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;]+)\s*(?:;\s*(?P<marker>.+))?$"
)


def locked_here() -> dict[str, str]:
    """name -> version of the lock's pins whose environment marker holds on this machine."""
    pins = {}
    for line in LOCK.read_text().splitlines():
        found = PIN.match(line.strip())
        if found and (not found["marker"] or Marker(found["marker"]).evaluate()):
            pins[canonicalize_name(found["name"])] = found["version"]
    return pins


def test_every_locked_package_is_installed_at_its_locked_version():
    pins = locked_here()
    assert len(pins) > 100, f"{LOCK} looks truncated: {len(pins)} pins apply here"
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    wrong = {
        n: (v, installed.get(n, "not installed")) for n, v in pins.items() if installed.get(n) != v
    }
    assert not wrong, f"installed versions differ from {LOCK.name} (locked, installed): {wrong}"


def test_the_lock_pins_every_dependency_pyproject_names():
    """A quick offline check; `scripts/lock --check` (run by scripts/test) compares versions."""
    project = tomllib.loads((LOCK.parent / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + sum(project["optional-dependencies"].values(), [])
    names = {canonicalize_name(Requirement(r).name) for r in declared}
    missing = names - set(locked_here())
    assert not missing, f"pyproject.toml names packages {LOCK.name} does not pin: {sorted(missing)}"
