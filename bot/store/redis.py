"""The Redis client the hub processes share (events, web-chat frames, presence, locks, leases, throttles).

A Redis restart takes a few seconds; redis-py's default (three retries with jittered waits that may sum to well
under a second) turned those seconds into refused customer messages under load. Every command is instead retried
on a dropped or refused connection with growing waits for about `outage_s` seconds, the same ride-through the
database gets (`bot.store.db`), and only then fails.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError

CAP_S = 2.0  # the longest wait between two attempts


def retries_for(outage_s: float, *, base_s: float = 0.1, cap_s: float = CAP_S) -> int:
    """How many attempts of ExponentialBackoff(base, cap) span at least `outage_s` seconds of waiting."""
    waited, n = 0.0, 0
    while waited < outage_s:
        n += 1
        waited += min(cap_s, base_s * 2**n)
    return n


def connect(url: str, *, outage_s: float = 30.0) -> aioredis.Redis:
    """A client for `url` whose commands ride out a Redis restart of up to about `outage_s` seconds."""
    retry = Retry(ExponentialBackoff(cap=CAP_S, base=0.1), retries_for(outage_s),
                  supported_errors=(ConnectionError, TimeoutError, BusyLoadingError, OSError))
    return aioredis.Redis.from_url(url, retry=retry, socket_connect_timeout=5.0, health_check_interval=30)
