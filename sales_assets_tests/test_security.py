"""Security: the UI stays on loopback, secrets stay out of code, logs and the instance,
setting paths are resolved and checked, and nothing from outside reaches SQL as text."""

from __future__ import annotations

import ast
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import zlib
from datetime import UTC
from pathlib import Path

import pytest
from dagster import EnvVar

from sales_assets.alerts import AlertWebhook
from sales_assets.settings import Settings, SettingsError, redact_url
from sales_assets.warehouse import partition_filter, quoted

from .helpers import BIN, materialize_day

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "sales_assets"
SECRET = "T0K3N-do-not-leak-9f8e7d"
WEBHOOK = f"https://hooks.example.com/services/T000/B000/{SECRET}"


# -- the webserver binds 127.0.0.1 unless told otherwise -------------------------------------


def _listening(port: int) -> set[str]:
    """Local addresses with a socket listening on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                found.add(address)
    return found


@pytest.mark.e2e
def test_dagster_dev_serves_the_ui_on_loopback_only(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "SALES_WAREHOUSE": str(tmp_path / "w.duckdb")}
    dev = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("dagster")),
            "dev",
            "-p",
            str(port),
        ],  # no --host: the default
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not _listening(port) and time.monotonic() < deadline and dev.poll() is None:
            time.sleep(0.5)
        addresses = _listening(port)
    finally:
        os.killpg(dev.pid, signal.SIGKILL)
        dev.wait(timeout=30)
    assert addresses == {"0100007F"}, addresses  # 127.0.0.1 in /proc's little-endian hex


def test_docs_and_config_never_bind_the_ui_to_every_interface():
    for path in [
        REPO / "README.md",
        REPO / "dagster.yaml",
        REPO / "workspace.yaml",
        *(REPO / "deploy").rglob("*.yaml"),
    ]:
        text = path.read_text()
        assert not re.search(r"(-h|--host)\s+0\.0\.0\.0|host:\s*['\"]?0\.0\.0\.0", text), path


# -- no secret or token in code, logs or the instance ----------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (WEBHOOK, "https://hooks.example.com/***"),
        (f"https://hooks.example.com?token={SECRET}", "https://hooks.example.com/***"),
        (f"https://user:{SECRET}@hooks.example.com/x", "https://user@hooks.example.com/***"),
        (f"http://127.0.0.1:8080/alerts#{SECRET}", "http://127.0.0.1:8080/***"),
        (
            f"postgresql://sales:{SECRET}@db.internal:5432/dw",
            "postgresql://sales@db.internal:5432/***",
        ),
        (f"hooks.example.com/{SECRET}", "***"),  # not a URL: nothing of it is shown
        (None, "(unset)"),
    ],
)
def test_redact_url_keeps_scheme_user_host_and_port_only(url, shown):
    assert redact_url(url) == shown


TOKEN_PATTERNS = [
    r"hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{8,}",
    r"xox[abpr]-[A-Za-z0-9-]{10,}",
    r"gh[pousr]_[A-Za-z0-9]{20,}",
    r"AKIA[0-9A-Z]{16}",
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
    r"(?i)(password|secret|token)\s*[:=]\s*['\"][^'\"\s]{8,}['\"]",
]


def test_no_token_or_password_is_written_in_the_code_or_config():
    files = [
        *PACKAGE.rglob("*.py"),
        *(REPO / "deploy").rglob("*"),
        REPO / "dagster.yaml",
        REPO / "workspace.yaml",
        REPO / "README.md",
        REPO / "pyproject.toml",
    ]
    for path in (f for f in files if f.is_file()):
        text = path.read_text(errors="ignore")
        for pattern in TOKEN_PATTERNS:
            assert not re.search(pattern, text), f"{path}: matches {pattern}"


def test_log_calls_never_format_the_webhook_url_unredacted():
    """Every log line that mentions a URL attribute or the webhook setting passes it through redact_url."""
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = (
                node.func.attr
                if isinstance(node.func, ast.Attribute)
                else getattr(node.func, "id", None)
            )
            if name in {
                "debug",
                "info",
                "warning",
                "error",
                "exception",
                "critical",
                "print",
                "echo",
            }:
                for value in ast.walk(node):
                    if isinstance(value, ast.FormattedValue):
                        shown = ast.unparse(value.value)
                        if re.search(r"\burl\b|webhook", shown):
                            assert shown.startswith("redact_url("), (
                                f"{path}:{node.lineno}: logs {shown}"
                            )


def _instance_text(home: Path) -> str:
    """Everything the instance stored (SQLite rows; Dagster zlib-compresses snapshots), as text."""
    chunks = []
    for database in home.rglob("*.db"):
        with sqlite3.connect(database) as connection:
            for (table,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            ):
                for row in connection.execute(f'SELECT * FROM "{table}"'):
                    for value in row:
                        if isinstance(value, bytes):
                            try:
                                value = zlib.decompress(value)
                            except zlib.error:
                                pass
                            value = value.decode(errors="ignore")
                        chunks.append(str(value))
    for path in home.rglob("*"):
        if path.is_file() and path.suffix != ".db":
            chunks.append(path.read_text(errors="ignore"))
    return "\n".join(chunks)


def test_the_webhook_url_never_reaches_run_logs_snapshots_or_the_ui(tmp_path):
    """A real run with SALES_ALERT_WEBHOOK_URL set: the token is in no output, no stored
    snapshot or event (what the UI shows), yet the alert resource still resolves it."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "SALES_WAREHOUSE": str(tmp_path / "w.duckdb"),
        "SALES_SYNTHETIC_ROWS": "300",
        "SALES_REPORTS_DIR": str(tmp_path / "reports"),
        "SALES_ALERT_WEBHOOK_URL": WEBHOOK,
    }
    run = subprocess.run(
        [str(BIN / "dagster"), *materialize_day("2024-03-01")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert SECRET not in run.stdout + run.stderr
    stored = _instance_text(home)
    assert "SALES_ALERT_WEBHOOK_URL" in stored  # the snapshot names the variable...
    assert SECRET not in stored  # ...never its value
    resource = AlertWebhook(url=EnvVar("SALES_ALERT_WEBHOOK_URL"))
    os.environ["SALES_ALERT_WEBHOOK_URL"] = WEBHOOK
    try:
        assert resource.process_config_and_initialize().url == WEBHOOK
    finally:
        del os.environ["SALES_ALERT_WEBHOOK_URL"]


def test_a_bad_webhook_setting_is_refused_without_echoing_it():
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"SALES_ALERT_WEBHOOK_URL": f"hooks.example.com/{SECRET}"})
    assert "SALES_ALERT_WEBHOOK_URL" in str(error.value) and SECRET not in str(error.value)


# -- settings that name paths are resolved and checked ---------------------------------------


def test_path_settings_are_resolved_to_absolute_paths(tmp_path, monkeypatch):
    (tmp_path / "landing").mkdir()
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env(
        {"SALES_LANDING_DIR": "landing/../landing/", "SALES_WAREHOUSE": "./wh/../w.duckdb"}
    )
    assert settings.landing_dir == str(tmp_path / "landing")
    assert settings.warehouse == str(tmp_path / "w.duckdb")


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("SALES_LANDING_DIR", "does/not/exist", "is not a folder"),
        ("SALES_LANDING_DIR", "a_file.txt", "is not a folder"),
        ("SALES_WAREHOUSE", ".", "is a folder"),
        ("SALES_WAREHOUSE", "sales.duckdb", "clashes with the schema"),
        ("SALES_LOCK_TIMEOUT_SECONDS", "-1", "seconds > 0"),
        ("SALES_LOCK_TIMEOUT_SECONDS", "soon", "not a number"),
    ],
)
def test_bad_path_and_timeout_settings_fail_naming_the_variable(
    tmp_path, monkeypatch, variable, value, words
):
    (tmp_path / "a_file.txt").write_text("x")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError, match=re.escape(variable)) as error:
        Settings.from_env({variable: value})
    assert words in str(error.value)


# -- partition keys and settings never reach SQL as text -------------------------------------


@pytest.mark.parametrize(
    "identifier",
    [
        'sales"; DROP TABLE sales.raw_sales; --',
        "raw_sales WHERE 1=1",
        "a.b",
        "",
        "1table",
        "naïve",
        "x\x00",
        "t--",
    ],
)
def test_a_malicious_identifier_is_refused(identifier):
    with pytest.raises(ValueError, match="refusing SQL identifier"):
        quoted(identifier)


def test_partition_bounds_travel_as_parameters():
    from datetime import datetime

    from dagster._core.definitions.partitions.utils import TimeWindow
    from dagster._core.storage.db_io_manager import TablePartitionDimension, TableSlice

    window = TimeWindow(datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC))
    table_slice = TableSlice(
        table="raw_sales",
        schema="sales",
        partition_dimensions=[
            TablePartitionDimension(partition_expr="partition_date", partitions=window)
        ],
    )
    where, params = partition_filter(table_slice)
    assert where == ' WHERE "partition_date" >= ? AND "partition_date" < ?'
    assert [str(p) for p in params] == ["2024-03-01", "2024-03-02"]
    evil = TableSlice(
        table="raw_sales",
        schema="sales",
        partition_dimensions=[
            TablePartitionDimension(
                partition_expr="partition_date; DROP TABLE x", partitions=window
            )
        ],
    )
    with pytest.raises(ValueError, match="refusing SQL identifier"):
        partition_filter(evil)


# Names an SQL f-string may interpolate, each built only by the calls below, partition_filter()
# or from the database's own catalog: anything else needs a reviewer's look and a place here.
SAFE_SQL_NAMES = {"table", "where", "columns", "kind"}
# quoted*/qualified check and quote names; column_definitions and pg_type pair quoted names
# with a fixed list of PostgreSQL type names.
SAFE_SQL_CALLS = {
    "quoted",
    "quoted_column",
    "quoted_columns",
    "qualified",
    "column_definitions",
    "pg_type",
}
SQL = re.compile(
    r"\b(SELECT|INSERT|DELETE|CREATE|ALTER|ATTACH|COPY|DROP|UPDATE|DESCRIBE|PRAGMA|WHERE)\b"
)


def test_sql_text_interpolates_only_validated_identifiers():
    """AST scan of the package: SQL f-strings format only quoted identifiers or the names above;
    no SQL is built with str.format or %, and queries handed to Warehouse.query are constants."""
    checked = 0
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            where = f"{path.relative_to(REPO)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.JoinedStr):
                text = "".join(
                    v.value
                    for v in node.values
                    if isinstance(v, ast.Constant) and isinstance(v.value, str)
                )
                if not SQL.search(text):
                    continue
                checked += 1
                for value in (v.value for v in node.values if isinstance(v, ast.FormattedValue)):
                    if (
                        isinstance(value, ast.Call)
                        and getattr(value.func, "id", None) in SAFE_SQL_CALLS
                    ):
                        continue
                    assert isinstance(value, ast.Name) and value.id in SAFE_SQL_NAMES, (
                        f"{where}: SQL formats {ast.unparse(value)}"
                    )
            elif (
                isinstance(node, ast.BinOp)
                and isinstance(node.op, ast.Mod)
                and isinstance(node.left, ast.Constant)
            ):
                assert not SQL.search(str(node.left.value)), f"{where}: SQL built with %"
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr == "format" and isinstance(node.func.value, ast.Constant):
                    assert not SQL.search(str(node.func.value.value)), (
                        f"{where}: SQL built with str.format"
                    )
                if node.func.attr in {"query", "execute", "sql"} and node.args:
                    first = node.args[0]
                    if isinstance(first, ast.JoinedStr):
                        assert node.func.attr != "query", (
                            f"{where}: Warehouse.query takes a constant query"
                        )
    assert checked >= 5  # the scan sees the IO manager's statements


def test_warehouse_query_formats_only_the_quoted_schema(tmp_path):
    """Warehouse.query fills `{schema}` with a checked identifier; values go as parameters."""
    from sales_assets.warehouse import Warehouse

    with pytest.raises(ValueError, match="refusing SQL identifier"):
        Warehouse(
            url=str(tmp_path / "w.duckdb"),
            schema_name='sales"; DROP TABLE t; --',
            lock_timeout_seconds=10,
        ).query("SELECT 1 FROM {schema}.t")
    day = "2024-03-01'; DROP TABLE sales.raw_sales; --"
    warehouse = Warehouse(
        url=str(tmp_path / "w.duckdb"), schema_name="sales", lock_timeout_seconds=10
    )
    frame = warehouse.query("SELECT ?::VARCHAR AS day", [day])
    assert frame["day"].tolist() == [day]  # the value came back verbatim: it was data, never SQL
