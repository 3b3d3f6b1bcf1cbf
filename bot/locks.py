"""Per-key locks (one per customer or conversation): the messages of one conversation are handled one at a time,
in order — within one hub process (`KeyedLocks`, asyncio) or across all of them (`RedisLocks`, `REDIS_URL`).

Both are called the same way: `async with locks(key): ...`. A Redis lock expires after `lease_s` (a hub
process that dies holding it does not block the conversation for ever) and is waited for at most `wait_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Locks(Protocol):
    def __call__(self, key: str) -> contextlib.AbstractAsyncContextManager[Any]: ...


class KeyedLocks:
    """asyncio locks, forgotten once nobody holds or waits for them."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def __call__(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock


class RedisLocks:
    """redis-py's distributed lock per key, plus the local asyncio lock (tasks of one process queue locally
    instead of polling Redis)."""

    PREFIX = "supportbot:lock:"

    def __init__(self, redis: Any, *, lease_s: float = 120.0, wait_s: float = 120.0) -> None:
        self.redis = redis
        self.lease_s = lease_s
        self.wait_s = wait_s
        self._local = KeyedLocks()

    @contextlib.asynccontextmanager
    async def _hold(self, key: str) -> AsyncIterator[None]:
        async with self._local(key):
            lock = self.redis.lock(self.PREFIX + key, timeout=self.lease_s, blocking_timeout=self.wait_s,
                                   sleep=0.02)
            if not await lock.acquire():
                raise TimeoutError(f"the lock on {key} was held for more than {self.wait_s:.0f} s")
            try:
                yield
            finally:
                try:
                    await lock.release()
                except Exception:  # noqa: BLE001 - expired meanwhile (a very long turn): nothing to release
                    log.warning("the lock on %s had expired before it was released", key)

    def __call__(self, key: str) -> contextlib.AbstractAsyncContextManager[None]:
        return self._hold(key)


class Lease:
    """One holder at a time for periodic work (the queue ticker): in Redis across hub processes, else always
    this process. `acquire()` takes or renews the lease for `ttl_s`."""

    def __init__(self, name: str, redis: Any | None, holder: str, ttl_s: float) -> None:
        self.key = f"supportbot:lease:{name}"
        self.redis = redis
        self.holder = holder
        self.ttl_ms = int(ttl_s * 1000)

    async def acquire(self) -> bool:
        if self.redis is None:
            return True
        if await self.redis.set(self.key, self.holder, nx=True, px=self.ttl_ms):
            return True
        current = await self.redis.get(self.key)
        if current is not None and (current.decode() if isinstance(current, bytes) else current) == self.holder:
            await self.redis.pexpire(self.key, self.ttl_ms)
            return True
        return False
