"""Run-failure alerts: what failed (run, job, day, step or check, error) as Slack-compatible JSON.

Pure of Dagster's sensor machinery: `failure_alert` reads a failed run from the instance,
`post_alert` delivers it. Delivery problems are returned as text for the caller to log,
never raised, so a dead webhook cannot break the daemon.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from dagster import ConfigurableResource, DagsterEventType, DagsterInstance
from pydantic import Field

from .settings import redact_url

PARTITION_TAG = "dagster/partition"
MAX_ERROR_CHARS = 2000
DELIVERY_ATTEMPTS = 3


class AlertWebhook(ConfigurableResource):
    """Where run-failure alerts are POSTed (SALES_ALERT_WEBHOOK_URL); unset: log only."""

    url: str | None = Field(
        default=None,
        description="Where alerts are POSTed; None: log only (set from SALES_ALERT_WEBHOOK_URL by build_resources).",
    )
    timeout_seconds: float = Field(default=10.0, description="Per-attempt HTTP timeout.")


def step_error(event) -> str:
    """A step failure's message: the Failure's description, else the error's first line."""
    data = event.step_failure_data
    if data is None:
        return event.message or ""
    if data.user_failure_data is not None and data.user_failure_data.description:
        return data.user_failure_data.description
    return data.error.message.strip() if data.error else (event.message or "")


def failed_checks(instance: DagsterInstance, run_id: str) -> list[str]:
    """`asset:check` names of the checks that failed in the run, from its event log."""
    names = []
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = record.dagster_event.event_specific_data
        if not evaluation.passed:
            day = f"@{evaluation.partition}" if evaluation.partition else ""
            names.append(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}{day}")
    return names


def failure_alert(instance: DagsterInstance, run, step_failures, run_failure_message: str) -> dict:
    """The alert for a failed run: Slack's `text` plus the fields a program may read."""
    steps = [event.step_key for event in step_failures if event.step_key]
    errors = [f"{event.step_key}: {step_error(event)}" for event in step_failures]
    error = "\n".join(errors) or run_failure_message or "run failed"
    checks = failed_checks(instance, run.run_id)
    day = run.tags.get(PARTITION_TAG)
    where = ", ".join(steps + [f"check {c}" for c in checks]) or "run"
    text = (
        f"Dagster run failed: {run.job_name}"
        + (f" for day {day}" if day else "")
        + f" (run {run.run_id}) at {where}: {error}"
    )
    return {
        "text": text[:MAX_ERROR_CHARS],
        "run_id": run.run_id,
        "job": run.job_name,
        "day": day,
        "failed_steps": steps,
        "failed_checks": checks,
        "error": error[:MAX_ERROR_CHARS],
    }


def post_alert(
    url: str, alert: dict, timeout: float = 10.0, attempts: int = DELIVERY_ATTEMPTS
) -> str | None:
    """POST the alert as JSON; retry connection errors and 5xx with backoff.

    Returns None when delivered, else why not (the URL redacted)."""
    body = json.dumps(alert).encode()
    problem = None
    for attempt in range(attempts):
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read()
            return None
        except urllib.error.HTTPError as error:
            problem = f"HTTP {error.code} {error.reason}"
            if error.code < 500:
                break  # the receiver refused this alert; asking again will not help
        except (urllib.error.URLError, OSError, ValueError) as error:
            problem = str(getattr(error, "reason", error))
        if attempt + 1 < attempts:
            time.sleep(0.5 * 2**attempt)
    return f"alert for run {alert.get('run_id')} not delivered to {redact_url(url)}: {problem}"
