"""Delivery to a Prometheus Pushgateway: bounded in time, retried a little, never raised.

A Pushgateway that is down or slow never fails a load and delays it little: a push has a time
budget, retries a few times with short backoff, then logs one line naming the gateway as
scheme://host:port and returns False. After a failure, pushes to that gateway get one short
try for a minute, so a multi-day run against a dead gateway is not slowed per day.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
from urllib.parse import urlsplit, urlunsplit

from prometheus_client import push_to_gateway
from prometheus_client.exposition import basic_auth_handler, default_handler

PUSH_JOB = "sales_assets"
BACKOFF_SECONDS = 0.2  # doubled per retry: 0.2 s, 0.4 s
DEGRADED_SECONDS = 60.0  # after a failed push, how long a gateway gets only one short try
DEGRADED_TIMEOUT = 1.0


def gateway_address(url: str) -> str:
    """scheme://host:port of a gateway URL: no credentials, path or query (they may hold tokens)."""
    try:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        host = parts.hostname or "?"
        port = parts.port
    except ValueError:
        return "(unparseable URL)"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


_degraded_until: dict[str, float] = {}  # gateway address -> monotonic time
_degraded_lock = threading.Lock()


def push_groups(url, builders, what, log, timeout, attempts) -> bool:
    """Build each group's registry and PUT it; one time budget for all; stop at the first
    group that fails."""
    try:
        groups = [(group, build()) for group, build in builders]
        target, handler = _target(url)
    except Exception as error:  # a figure or URL that cannot be used must not fail the load
        return _gave_up(log, what, url, f"{type(error).__name__}: {error}")
    address = gateway_address(url)
    with _degraded_lock:
        degraded = _degraded_until.get(address, 0.0) > time.monotonic()
    if degraded:  # it failed a moment ago: one short try, so a dead gateway costs little per day
        attempts, timeout = 1, min(timeout, DEGRADED_TIMEOUT)
    deadline = time.monotonic() + timeout
    for group, registry in groups:
        problem = _put(target, handler, group, registry, deadline, attempts)
        if problem is not None:
            with _degraded_lock:
                _degraded_until[address] = time.monotonic() + DEGRADED_SECONDS
            return _gave_up(log, what, url, problem.replace(url, address).replace(target, address))
    with _degraded_lock:
        _degraded_until.pop(address, None)
    return True


def _put(target, handler, group, registry, deadline, attempts) -> str | None:
    """One group's PUT with retries inside the deadline; None when done, else why not."""
    problem = "no time left"
    for attempt in range(max(1, attempts)):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            push_to_gateway(
                target,
                PUSH_JOB,
                registry,
                grouping_key={"group": group},
                timeout=left,
                handler=handler,
            )
            return None
        except urllib.error.HTTPError as error:
            problem = f"HTTP {error.code} {error.reason}"
            if error.code < 500:
                break  # the gateway refused these figures; asking again will not help
        except Exception as error:  # connection refused, timeout, reset, bad URL, ...
            problem = f"{type(error).__name__}: {getattr(error, 'reason', error)}"
        pause = BACKOFF_SECONDS * 2**attempt
        if attempt + 1 < attempts and time.monotonic() + pause < deadline:
            time.sleep(pause)
    return problem


def _target(url: str):
    """The URL without user:password (sent as basic auth instead) or query, and its handler."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.username is None:
        return urlunsplit(parts._replace(query="", fragment="")), default_handler
    host = parts.hostname or ""
    netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    target = urlunsplit(parts._replace(netloc=netloc, query="", fragment=""))
    user, password = parts.username, parts.password or ""

    def handler(url, method, timeout, headers, data):
        return basic_auth_handler(url, method, timeout, headers, data, user, password)

    return target, handler


def _gave_up(log, what, url, problem) -> bool:
    (log or logging.getLogger(__name__)).warning(
        "%s not pushed to Pushgateway %s: %s", what, gateway_address(url), problem
    )
    return False
