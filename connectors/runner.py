"""`InboundRunner`: how webhook-based connectors (Telegram, Twilio) hand customer messages to the router and
still answer the provider in time.

Why "inline with a deadline": a provider that waits too long retries (Telegram) or gives up and logs an error
(Twilio's 15 s limit). The customer's message is handed to the router in a task the connector keeps; the
webhook waits for it up to `ack_timeout_s`. Usually the router has stored the message and the reply has gone
out by then, so a failure can still be reported to the provider as a 500 (Telegram then re-delivers the update,
and de-duplication by its id keeps the customer from being answered twice). When the bot is slow, the provider
gets its 200 at the deadline and the task finishes on its own; `drain()` waits for such tasks at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from connectors.base import InboundHandler, InboundMessage, MessageRejected

log = logging.getLogger(__name__)


class InboundRunner:
    """Runs customer messages through the router with an answer deadline for the provider; see the module doc."""

    def __init__(self, channel: str, on_message: InboundHandler, *, ack_timeout_s: float) -> None:
        self.channel = channel
        self.on_message = on_message
        self.ack_timeout_s = ack_timeout_s
        self._tasks: set[asyncio.Task[str]] = set()

    async def submit(self, message: InboundMessage, *,
                     on_rejected: Callable[[MessageRejected], Awaitable[None]]) -> str:
        """Hand `message` to the router. Returns "done", "duplicate", "rejected" or "pending" (still running
        after the deadline). Raises what the router raised if it failed within the deadline."""
        return await self.run(self.handle(message, on_rejected=on_rejected))

    async def run(self, work: Awaitable[str]) -> str:
        """Run any inbound work with the same deadline and bookkeeping."""
        task = self._track(work)
        done, _ = await asyncio.wait({task}, timeout=self.ack_timeout_s)
        if not done:
            log.warning("%s: the bot is slow; answered the provider before the reply went out", self.channel)
            return "pending"
        return task.result()

    def _track(self, work: Awaitable[str]) -> asyncio.Task[str]:
        """A task for `work` that `drain()` waits for and whose failure is logged."""
        task: asyncio.Task[str] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[str]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("%s: inbound message failed: %r", self.channel, exc, exc_info=exc)

    async def handle(self, message: InboundMessage, *,
                     on_rejected: Callable[[MessageRejected], Awaitable[None]]) -> str:
        """Hand `message` to the router now (no deadline); a refusal is reported through `on_rejected`."""
        try:
            result = await self.on_message(message)
        except MessageRejected as exc:
            log.info("%s: message from %s refused (%s)", self.channel, message.external_user_id, exc.code)
            await on_rejected(exc)
            return "rejected"
        return "duplicate" if getattr(result, "duplicate", False) else "done"

    def spawn(self, work: Awaitable[object]) -> None:
        """Fire-and-forget side work (typing indicators, refusals) that `drain()` still waits for."""
        async def wrapped() -> str:
            await work
            return "done"
        self._track(wrapped())

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Wait for messages still being processed (at shutdown)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)
