"""Operations figures against a real Prometheus Pushgateway started on a free 127.0.0.1 port.

Each test pushes with sales_assets.monitoring and reads the gateway's /metrics back, as
Prometheus would scrape it. The gateway starts in well under a second, so these are not e2e.
"""

from __future__ import annotations

import logging
import socket
import time
from datetime import date

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sales_assets import monitoring, pushgateway
from sales_assets.monitoring import CheckOutcome, DayFigures, RunFigures
from sales_assets.pushgateway import gateway_address
from sales_assets_tests.e2e.prometheus_servers import MissingBinary, running_pushgateway

from .e2e.dagster_dev import free_port

GOOD = DayFigures(
    day=date(2024, 3, 1),
    status="ok",
    job="daily_sales_job",
    run_id="run-good",
    rows={"raw_sales": 5000, "cleaned_sales": 4920, "rejected_sales": 80, "sales_metrics": 96},
    rejects_by_reason={"missing_required": 12, "duplicate_order_id": 68, "invalid_discount": 0},
    revenue=123456.78,
    day_seconds=2.5,
    stage_seconds={"read": 0.4, "clean": 1.1, "checks": 0.3, "publish": 0.5, "report": 0.2},
    checks=(
        CheckOutcome("rows_accounted_for", "cleaned_sales", "ERROR", True),
        CheckOutcome("rejection_rate", "cleaned_sales", "ERROR", True),
        CheckOutcome("daily_volume", "cleaned_sales", "WARN", False),
    ),
    lock_wait_seconds=0.25,
    finished_at=1709280000.5,
    max_reject_rate=0.1,
)
# The next day: a fifth of its rows rejected, so rejection_rate blocked it; cleaned_sales and
# sales_metrics were held back (absent) and no revenue was published.
BLOCKED = DayFigures(
    day=date(2024, 3, 2),
    status="blocked",
    job="daily_sales_job",
    run_id="run-blocked",
    rows={"raw_sales": 4000, "rejected_sales": 800},
    rejects_by_reason={"missing_required": 800},
    revenue=None,
    day_seconds=2.0,
    stage_seconds={"read": 0.5, "clean": 1.0},
    checks=(CheckOutcome("rejection_rate", "cleaned_sales", "ERROR", False),),
    lock_wait_seconds=0.0,
    finished_at=1709366400.0,
    max_reject_rate=0.1,
)
MAR_1, MAR_2 = 1709251200, 1709337600  # 00:00 UTC
SECRET = "push-secret"
# bcrypt of SECRET (cost 4, made once with crypt.crypt): the gateway's basic-auth config wants a hash.
SECRET_HASH = "$2b$04$ozG8/JrP7of0MckahnXgm.jGvb710ixK0BjEDZyDrOelcD9Rze.ci"


@pytest.fixture
def gateway(tmp_path):
    try:
        with running_pushgateway(tmp_path / "pushgateway") as server:
            yield server
    except MissingBinary as error:
        pytest.fail(str(error))


def scrape(server) -> dict[tuple[str, frozenset], float]:
    """The gateway's sales_* series as {(name, labels without job/instance): value}."""
    text = server.http.get(server.url + "/metrics", timeout=5).text
    series = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("sales_"):
                assert sample.labels.pop("job") == "sales_assets"
                sample.labels.pop("instance", None)
                series[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return series


def of(series: dict, name: str, group: str) -> dict[frozenset, float]:
    """One metric's series in one group, keyed by their other labels."""
    found = {}
    for (metric, labels), value in series.items():
        if metric == name and ("group", group) in labels:
            found[frozenset(item for item in labels if item[0] != "group")] = value
    return found


def one(series: dict, name: str, group: str = "last_day") -> float:
    values = of(series, name, group)
    assert list(values) == [frozenset()], f"{name} in {group}: {values}"
    return values[frozenset()]


def by(series: dict, name: str, label: str, group: str = "last_day") -> dict[str, float]:
    return {dict(labels)[label]: value for labels, value in of(series, name, group).items()}


def test_good_day_every_figure(gateway):
    before = time.time()
    assert monitoring.push_day(gateway.url, GOOD) is True
    s = scrape(gateway)
    assert one(s, "sales_day_timestamp_seconds") == MAR_1
    assert by(s, "sales_day_status", "status") == {"ok": 1, "blocked": 0, "failed": 0}
    assert by(s, "sales_day_info", "dagster_job") == {"daily_sales_job": 1}
    assert by(s, "sales_day_rows", "table") == dict(GOOD.rows)
    assert by(s, "sales_day_rejected_rows", "reason") == dict(GOOD.rejects_by_reason)
    assert one(s, "sales_day_revenue") == 123456.78
    assert one(s, "sales_day_duration_seconds") == 2.5
    assert by(s, "sales_day_stage_duration_seconds", "stage") == dict(GOOD.stage_seconds)
    assert one(s, "sales_day_rows_per_second") == 2000.0  # 5000 raw rows in 2.5 s
    assert {
        tuple(sorted(k)): v for k, v in of(s, "sales_day_check_passed", "last_day").items()
    } == {
        (("asset", "cleaned_sales"), ("check", "rows_accounted_for"), ("severity", "ERROR")): 1,
        (("asset", "cleaned_sales"), ("check", "rejection_rate"), ("severity", "ERROR")): 1,
        (("asset", "cleaned_sales"), ("check", "daily_volume"), ("severity", "WARN")): 0,
    }
    assert by(s, "sales_day_checks_failed", "severity") == {"ERROR": 0, "WARN": 1}
    assert one(s, "sales_day_lock_wait_seconds") == 0.25
    assert one(s, "sales_day_finished_timestamp_seconds") == GOOD.finished_at
    assert one(s, "sales_max_reject_rate") == 0.1
    assert before <= one(s, "sales_last_push_timestamp_seconds") <= time.time()
    assert one(s, "sales_last_success_timestamp_seconds", "last_success") == GOOD.finished_at
    assert one(s, "sales_last_success_day_timestamp_seconds", "last_success") == MAR_1
    assert not of(s, "sales_last_blocked_timestamp_seconds", "last_blocked")
    assert not [name for name, _ in s if name.endswith("_total")]  # gauges only


def test_blocked_day_replaces_the_day_and_keeps_the_last_success(gateway):
    assert monitoring.push_day(gateway.url, GOOD)
    assert monitoring.push_day(gateway.url, BLOCKED)
    s = scrape(gateway)
    assert one(s, "sales_day_timestamp_seconds") == MAR_2
    assert by(s, "sales_day_status", "status") == {"ok": 0, "blocked": 1, "failed": 0}
    # the held-back tables, the revenue and yesterday's reasons are gone, not stale
    assert by(s, "sales_day_rows", "table") == {"raw_sales": 4000, "rejected_sales": 800}
    assert by(s, "sales_day_rejected_rows", "reason") == {"missing_required": 800}
    assert not of(s, "sales_day_revenue", "last_day")
    assert by(s, "sales_day_stage_duration_seconds", "stage") == {"read": 0.5, "clean": 1.0}
    assert by(s, "sales_day_checks_failed", "severity") == {"ERROR": 1, "WARN": 0}
    assert len(of(s, "sales_day_check_passed", "last_day")) == 1
    assert one(s, "sales_day_rows_per_second") == 2000.0
    # the last success is still the good day's
    assert one(s, "sales_last_success_timestamp_seconds", "last_success") == GOOD.finished_at
    assert one(s, "sales_last_success_day_timestamp_seconds", "last_success") == MAR_1
    assert one(s, "sales_last_blocked_timestamp_seconds", "last_blocked") == BLOCKED.finished_at
    assert one(s, "sales_last_blocked_day_timestamp_seconds", "last_blocked") == MAR_2


def test_failed_day_crashed_run_and_run_figures(gateway):
    failed = DayFigures(
        **{**vars(BLOCKED), "status": "failed", "rows": {}, "rejects_by_reason": {}}
    )
    assert monitoring.push_day(gateway.url, GOOD)
    assert monitoring.push_day(gateway.url, failed)
    s = scrape(gateway)
    assert by(s, "sales_day_status", "status") == {"ok": 0, "blocked": 0, "failed": 1}
    assert not of(s, "sales_day_rows", "last_day")
    assert not of(s, "sales_day_rows_per_second", "last_day")
    assert one(s, "sales_last_failure_day_timestamp_seconds", "last_failure") == MAR_2
    assert one(s, "sales_last_success_day_timestamp_seconds", "last_success") == MAR_1

    before = time.time()
    assert monitoring.push_run_failed(gateway.url, "daily_sales_job", "run-crash", None)
    s = scrape(gateway)
    assert before <= one(s, "sales_last_failure_timestamp_seconds", "last_failure") <= time.time()
    assert not of(s, "sales_last_failure_day_timestamp_seconds", "last_failure")  # day unknown
    assert one(s, "sales_day_timestamp_seconds") == MAR_2  # the day's own figures stay

    run = RunFigures("daily_sales_job", "run-1", 12.5, {"ok": 3, "blocked": 1}, 1709370000.0)
    assert monitoring.push_run(gateway.url, run)
    s = scrape(gateway)
    assert one(s, "sales_run_duration_seconds", "last_run") == 12.5
    assert by(s, "sales_run_days", "status", "last_run") == {"ok": 3, "blocked": 1, "failed": 0}
    assert one(s, "sales_run_finished_timestamp_seconds", "last_run") == 1709370000.0


def test_down_gateway_returns_false_fast_and_logs_only_scheme_host_port(caplog):
    port = free_port()  # nothing listens there
    url = f"http://pusher:{SECRET}@127.0.0.1:{port}/tenant-token-abc123/"
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        assert monitoring.push_day(url, GOOD, timeout=5.0, attempts=3) is False
    assert time.monotonic() - started < 2.0  # 3 refused attempts, 0.2 + 0.4 s of backoff
    [record] = caplog.records
    message = record.getMessage()
    assert f"Pushgateway http://127.0.0.1:{port}:" in message
    assert "day 2024-03-01" in message and "run-good" in message
    assert SECRET not in message and "pusher" not in message and "abc123" not in message


def test_slow_gateway_is_abandoned_within_the_timeout(caplog, monkeypatch):
    monkeypatch.setattr(pushgateway, "DEGRADED_TIMEOUT", 0.3)  # shorter than the real 1 s
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        assert monitoring.push_day(url, GOOD, timeout=1.0, attempts=3) is False
        first = time.monotonic() - started
        # the next day, within a minute: one short try instead of the full budget
        started = time.monotonic()
        assert monitoring.push_day(url, BLOCKED, timeout=1.0, attempts=3) is False
        second = time.monotonic() - started
    assert 0.95 <= first < 2.0, first  # the 1 s budget, not 3 attempts of it
    assert 0.25 <= second < 0.9, second
    assert "timed out" in caplog.records[0].getMessage()


def test_basic_auth_from_the_url_and_a_refusal_not_retried(tmp_path, caplog):
    config = tmp_path / "web.yml"
    config.write_text(f"basic_auth_users:\n  pusher: '{SECRET_HASH}'\n")
    web_config = [f"--web.config.file={config}"]
    with running_pushgateway(tmp_path / "pg", web_config, ("pusher", SECRET)) as server:
        with_auth = server.url.replace("http://", f"http://pusher:{SECRET}@")
        assert monitoring.push_day(with_auth, GOOD) is True
        started = time.monotonic()
        assert monitoring.push_day(server.url, BLOCKED, attempts=3) is False
        assert time.monotonic() - started < 0.3  # 401: no retry, no backoff
        listed = server.http.get(server.url + "/metrics", timeout=5).text
    assert 'sales_day_timestamp_seconds{group="last_day"' in listed and "1.7092512e+09" in listed
    assert "HTTP 401" in caplog.records[-1].getMessage()


def test_a_figure_or_url_that_cannot_be_used_is_logged_not_raised(gateway, caplog):
    broken = DayFigures(**{**vars(GOOD), "rows": {"raw_sales": "many"}})
    assert monitoring.push_day(gateway.url, broken) is False
    assert "could not convert string to float" in caplog.records[-1].getMessage()
    broken_run = RunFigures("daily_sales_job", "run-1", "long")
    assert monitoring.push_run(gateway.url, broken_run) is False
    assert monitoring.push_day("http://pusher:pw@gw:notaport/", GOOD) is False
    assert "Port could not be cast" in caplog.records[-1].getMessage()
    assert ":pw@" not in caplog.records[-1].getMessage()


def test_figures_reject_unknown_status_and_severity():
    with pytest.raises(ValueError, match="status 'done'"):
        DayFigures(**{**vars(GOOD), "status": "done"})
    with pytest.raises(ValueError, match="severity 'INFO'"):
        CheckOutcome("daily_volume", "cleaned_sales", "INFO", True)


@pytest.mark.parametrize(
    "url, shown",
    [
        ("http://user:pw@gw.example:9091/metrics/token", "http://gw.example:9091"),
        ("https://gw.example/push?key=abc", "https://gw.example"),
        ("gw.example:9091", "http://gw.example:9091"),
        ("http://[::1]:9091/x", "http://[::1]:9091"),
        ("http://gw:notaport/", "(unparseable URL)"),
    ],
)
def test_gateway_address_shows_scheme_host_and_port_only(url, shown):
    assert gateway_address(url) == shown
