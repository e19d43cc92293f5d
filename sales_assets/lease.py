"""Leases on the steps a Celery worker holds, when the broker is Redis.

kombu's Redis transport emulates acknowledgements: a message handed to a worker stays in the
hash `unacked`, its delivery time in the sorted set `unacked_index`, and every worker puts
back in the queue the messages delivered more than `visibility_timeout` seconds ago, since
Redis cannot tell whether the worker holding them is alive. With late acknowledgement, a step
running longer than that would be handed to a second worker and run twice. So a worker renews
the delivery time of every message it holds, every few seconds (SQS calls this changing the
message's visibility): a message goes back to the queue only once its worker stopped renewing
it (the machine died, or lost the broker) for `visibility_timeout` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from kombu.transport.redis import Channel

from .settings import redact_url

LOG = logging.getLogger("sales_assets.lease")
UNACKED_INDEX = Channel.unacked_index_key  # "unacked_index", kombu's name for the sorted set


def held_delivery_tags() -> list[str]:
    """Delivery tags of the messages this worker process holds: running and reserved steps."""
    from celery.worker import state

    for _ in range(3):  # the worker's thread may add a request while we copy the sets
        try:
            requests = list(state.active_requests) + list(state.reserved_requests)
            break
        except RuntimeError:
            time.sleep(0.01)
    else:
        return []
    return [r.message.delivery_tag for r in requests if r.message is not None]


def renew(client, tags: Iterable[str], now: float | None = None) -> int:
    """Stamp `tags` as delivered `now`; only tags still unacknowledged (XX). Returns how many."""
    stamp = time.time() if now is None else now
    scores = {tag: stamp for tag in tags}
    if not scores:
        return 0
    return client.zadd(UNACKED_INDEX, scores, xx=True, ch=True)


def start_lease_renewal(
    broker: str, every: float, tags: Callable[[], list[str]] = held_delivery_tags
) -> Callable[[], None]:
    """A function that starts (once) a daemon thread renewing this worker's leases every
    `every` seconds; call it when the worker is ready (after the pool has forked)."""
    import redis

    def loop() -> None:
        client = redis.Redis.from_url(broker, socket_timeout=10, socket_connect_timeout=10)
        while True:
            try:
                renew(client, tags())
            except redis.RedisError as error:
                # The broker is away: the steps keep running; if it stays away longer than the
                # visibility timeout, another worker may run them again (same rows, see workers.py).
                LOG.warning("could not renew step leases on %s: %s", redact_url(broker), error)
            time.sleep(every)

    started = threading.Event()

    def start() -> None:
        if not started.is_set():
            started.set()
            threading.Thread(target=loop, name="sales-assets-lease", daemon=True).start()

    return start
