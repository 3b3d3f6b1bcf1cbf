"""Sends notifications when they are due, each channel within its rate limit.

Why a table and this loop rather than a scheduling library: the `notifications` row *is* the schedule and
the record agents read; a job store (APScheduler's) would keep a second copy of the same state to keep in step.
A row stays `scheduled` until the transaction that sends it, so nothing is lost at a restart and a row due
while the hub was down goes out when it is back; taking a row is a conditional UPDATE, so several hub processes
can run this loop on one database without sending anything twice (the delivery worker's pattern).

Each channel has its own queue and a few sender tasks paced by one `aiolimiter` limiter (`NOTIFY_RATE_LIMITS`, e.g. `sms=1/1`:
one SMS a second, what one Twilio long code may send): a bulk SMS send of thousands does not hold up Telegram.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiolimiter import AsyncLimiter

from bot.notifications import store
from bot.notifications.service import NotificationService
from bot.store.db import Database

log = logging.getLogger(__name__)

DEFAULT_RATE = (10.0, 1.0)
QUEUE_AHEAD = 200  # due rows taken per channel and poll
SENDERS_PER_CHANNEL = 4  # customers are independent: a few sends in flight while one waits for the provider


def parse_rate_limits(entries: Iterable[str]) -> dict[str, tuple[float, float]]:
    """`["sms=1/1", "whatsapp=20/1"]` → {"sms": (1, 1), …}: messages per seconds. ValueError naming a bad one."""
    limits: dict[str, tuple[float, float]] = {}
    for entry in entries:
        channel, _, rate = entry.partition("=")
        count, _, seconds = rate.partition("/")
        try:
            value = (float(count), float(seconds or 1))
        except ValueError:
            raise ValueError(f"NOTIFY_RATE_LIMITS: {entry!r} is not channel=messages/seconds (e.g. sms=1/1)") from None
        if not channel.strip() or value[0] <= 0 or value[1] <= 0:
            raise ValueError(f"NOTIFY_RATE_LIMITS: {entry!r} is not channel=messages/seconds (e.g. sms=1/1)")
        limits[channel.strip().lower()] = value
    return limits


class NotificationScheduler:
    def __init__(self, db: Database, service: NotificationService, *, channels: Iterable[str],
                 rate_limits: dict[str, tuple[float, float]], poll_s: float = 1.0) -> None:
        self.db = db
        self.service = service
        self.channels = list(channels)
        self.poll_s = poll_s
        self.limiters = {c: AsyncLimiter(*rate_limits.get(c, DEFAULT_RATE)) for c in self.channels}
        self._queues: dict[str, asyncio.Queue[str]] = {}
        self._queued: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()

    def start(self) -> None:
        if self._tasks:
            return
        for channel in self.channels:
            self._queues[channel] = asyncio.Queue()
            self._tasks += [asyncio.create_task(self._sender(channel), name=f"notify-{channel}-{n}")
                            for n in range(SENDERS_PER_CHANNEL)]
        self._tasks.append(asyncio.create_task(self._loop(), name="notify-scheduler"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._queued.clear()

    async def send_now(self, notification_id: str, channel: str) -> None:
        """Send one notification at once (within its channel's rate limit), e.g. a single send from the console."""
        self._queued.add(notification_id)
        try:
            async with self.limiters.get(channel) or AsyncLimiter(*DEFAULT_RATE):
                await self.service.deliver(notification_id)
        finally:
            self._queued.discard(notification_id)

    def wake(self) -> None:
        """Look for due rows now (a send was just created)."""
        self._wake.set()

    async def poll(self) -> int:
        """Queue what is due, per channel; how many rows were queued."""
        queued = 0
        for channel, queue in self._queues.items():
            if queue.qsize() >= QUEUE_AHEAD:
                continue
            for row in await self.db.read(store.due, None, QUEUE_AHEAD, channel):
                if row.id not in self._queued:
                    self._queued.add(row.id)
                    queue.put_nowait(row.id)
                    queued += 1
        return queued

    async def _loop(self) -> None:
        while True:
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup: the next poll tries again
                log.exception("notification poll failed")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    async def _sender(self, channel: str) -> None:
        queue, limiter = self._queues[channel], self.limiters[channel]
        while True:
            notification_id = await queue.get()
            try:
                async with limiter:
                    await self.service.deliver(notification_id)
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad row must not stop the channel; it stays scheduled and is tried again
                log.exception("notification %s on %s failed", notification_id, channel)
            finally:
                self._queued.discard(notification_id)
