"""The persistent outbound queue: every message to a customer goes through it.

`Connector.deliver()` already retries a few times within seconds. When a channel stays down longer than that,
the message is kept here and tried again in later rounds with exponential backoff — across hub restarts —
until it goes out or, after `max_rounds`, becomes a dead letter that agents can see and retry. Messages of
one conversation leave in the order they were written: a message waits while an older one is pending.

A channel can also answer "parked" (WhatsApp outside the customer's 24-hour window: the connector sent the
approved template): the row stays `parked`, is not retried, and newer messages of the conversation are parked
behind it. `release_parked()` (the router calls it for every stored customer message, before the bot is asked)
makes them due again and sends them in order.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable

import anyio
from sqlalchemy import Engine, func, select, update

from bot.db import session_factory
from bot.locks import KeyedLocks
from bot.models import QueuedDelivery, utcnow
from connectors.base import Button, Connector, DeliveryResult, OutboundMessage

log = logging.getLogger(__name__)

# (hub message id, state, detail): the channel's result ("sent", "delivered", "stored", "parked"), "retrying"
# (another round is scheduled), "failed" (the channel refused it) or "dead" (every round failed).
StateHook = Callable[[str, str, str], Awaitable[None]]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class DeliveryQueue:
    def __init__(
        self,
        engine: Engine,
        connectors: dict[str, Connector],
        *,
        on_state: StateHook,
        max_rounds: int = 6,
        base_delay_s: float = 30.0,
        max_delay_s: float = 3600.0,
        poll_s: float = 1.0,
    ) -> None:
        self.connectors = connectors
        self.on_state = on_state
        self.max_rounds = max_rounds
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.poll_s = poll_s
        self._session = session_factory(engine)
        self._lock = KeyedLocks()  # messages of one conversation are handled one at a time, in order
        self._worker: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker that retries due messages (also those left pending by a previous run)."""
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="delivery-queue")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None

    # -- sending -----------------------------------------------------------------------------------

    async def submit(self, conversation_id: str, channel: str, recipient: str, out: OutboundMessage) -> DeliveryResult:
        """Queue a stored message and try it now unless an older message of the conversation is still pending."""
        assert out.message_id, "store the message before queueing it"
        body = asdict(out)
        row_id = await anyio.to_thread.run_sync(self._insert, conversation_id, channel, recipient, body)
        async with self._lock(conversation_id):
            waiting = await anyio.to_thread.run_sync(self._older_waiting, conversation_id, row_id)
            if waiting == "pending":
                log.info("message %s waits behind an older undelivered message", out.message_id)
                return DeliveryResult("queued", detail="waiting for an earlier message to go out")
            if waiting == "parked":
                await anyio.to_thread.run_sync(self._finish, row_id, "parked", None, None)
                detail = "waiting behind a message parked until the customer writes again"
                await self.on_state(out.message_id, "parked", detail)
                return DeliveryResult("parked", detail=detail)
            result = await self._attempt(row_id)
        if result.status != "retrying":
            await self._drain_conversation(conversation_id)
        return result

    async def release_parked(self, conversation_id: str) -> int:
        """The customer wrote again: the conversation's parked messages become due and go out now, oldest first
        (before the answer to what the customer wrote). Returns how many were released."""
        async with self._lock(conversation_id):
            released = await anyio.to_thread.run_sync(self._unpark, conversation_id)
        if released:
            log.info("conversation %s: %d parked message(s) released", conversation_id, released)
            await self._drain_conversation(conversation_id)
        return released

    async def retry(self, row_id: int) -> bool:
        """Give a dead letter a fresh set of rounds (an agent's "retry"); False if it is not dead."""
        def revive() -> bool:
            with self._session.begin() as s:
                done = s.execute(
                    update(QueuedDelivery).where(QueuedDelivery.id == row_id, QueuedDelivery.state == "dead")
                    .values(state="pending", attempts=0, next_attempt_at=utcnow(), last_error=None)
                )
                return done.rowcount == 1
        return await anyio.to_thread.run_sync(revive)

    def dead_letters(self, limit: int = 100) -> list[QueuedDelivery]:
        with self._session() as s:
            return list(s.scalars(select(QueuedDelivery).where(QueuedDelivery.state == "dead")
                                  .order_by(QueuedDelivery.id.desc()).limit(limit)))

    def get(self, row_id: int) -> QueuedDelivery | None:
        with self._session() as s:
            return s.get(QueuedDelivery, row_id)

    async def run_due(self) -> int:
        """One pass of the worker: attempt every due message that is first in its conversation's line."""
        rows = await anyio.to_thread.run_sync(self._due)
        for row_id, conversation_id in rows:
            async with self._lock(conversation_id):
                # `submit` may have attempted (and rescheduled) this row while we waited for the lock.
                if await anyio.to_thread.run_sync(self._first_pending_due, conversation_id) != row_id:
                    continue
                result = await self._attempt(row_id)
            if result.status != "retrying":
                await self._drain_conversation(conversation_id)
        return len(rows)

    # -- internals ---------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                await self.run_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # the worker must outlive a bad row or a database hiccup
                log.exception("delivery queue pass failed")
            await asyncio.sleep(self.poll_s)

    async def _drain_conversation(self, conversation_id: str) -> None:
        """After a message went out (or died), send the ones that waited behind it, in order."""
        while True:
            async with self._lock(conversation_id):
                row_id = await anyio.to_thread.run_sync(self._first_pending_due, conversation_id)
                if row_id is None:
                    return
                result = await self._attempt(row_id)
            if result.status == "retrying":
                return

    async def _attempt(self, row_id: int) -> DeliveryResult:
        row = await anyio.to_thread.run_sync(self.get, row_id)
        if row is None or row.state != "pending":
            return DeliveryResult(row.state if row else "missing")
        connector = self.connectors.get(row.channel)
        if connector is None:
            result = DeliveryResult("failed", detail=f"channel {row.channel} is not enabled", retryable=False)
        else:
            result = await connector.deliver(row.recipient, _outbound(row.body))
        if result.status != "failed":
            state = "parked" if result.status == "parked" else "sent"
            await anyio.to_thread.run_sync(self._finish, row_id, state, None, None)
            await self.on_state(row.message_id, result.status, result.detail)
            return result
        rounds = row.attempts + 1
        if result.retryable and rounds < self.max_rounds:
            delay = min(self.base_delay_s * 2 ** (rounds - 1), self.max_delay_s)
            await anyio.to_thread.run_sync(self._reschedule, row_id, rounds, delay, result.detail)
            log.warning("message %s to %s not delivered (round %d/%d: %s); next try in %.0f s",
                        row.message_id, row.channel, rounds, self.max_rounds, result.detail, delay)
            await self.on_state(row.message_id, "retrying", result.detail)
            return DeliveryResult("retrying", detail=result.detail, retryable=True)
        # Either way the row becomes a dead letter agents can retry; the message says whether the channel
        # refused it ("failed", e.g. blocked, outside WhatsApp's window) or stayed down for every round ("dead").
        label = "dead" if result.retryable else "failed"
        await anyio.to_thread.run_sync(self._finish, row_id, "dead", rounds, result.detail)
        log.error("message %s to %s is a dead letter after %d round(s): %s",
                  row.message_id, row.channel, rounds, result.detail)
        await self.on_state(row.message_id, label, result.detail)
        return DeliveryResult(label, detail=result.detail)

    def _insert(self, conversation_id: str, channel: str, recipient: str, body: dict[str, Any]) -> int:
        with self._session.begin() as s:
            row = QueuedDelivery(message_id=body["message_id"], conversation_id=conversation_id, channel=channel,
                                 recipient=recipient, body=body, state="pending", attempts=0,
                                 next_attempt_at=utcnow())
            s.add(row)
            s.flush()
            return row.id

    def _older_waiting(self, conversation_id: str, row_id: int) -> str | None:
        """"pending" if an older message of the conversation has not gone out yet, else "parked" if one is
        parked, else None."""
        with self._session() as s:
            states = set(s.scalars(select(QueuedDelivery.state).distinct().where(
                QueuedDelivery.conversation_id == conversation_id, QueuedDelivery.state.in_(("pending", "parked")),
                QueuedDelivery.id < row_id)))
        return "pending" if "pending" in states else "parked" if states else None

    def _unpark(self, conversation_id: str) -> int:
        where = (QueuedDelivery.conversation_id == conversation_id, QueuedDelivery.state == "parked")
        with self._session() as s:  # a read first: most customer messages have nothing parked
            if s.scalar(select(QueuedDelivery.id).where(*where).limit(1)) is None:
                return 0
        with self._session.begin() as s:
            return s.execute(update(QueuedDelivery).where(*where)
                             .values(state="pending", next_attempt_at=utcnow())).rowcount

    def _first_pending_due(self, conversation_id: str) -> int | None:
        with self._session() as s:
            row = s.scalars(select(QueuedDelivery).where(
                QueuedDelivery.conversation_id == conversation_id, QueuedDelivery.state == "pending")
                .order_by(QueuedDelivery.id).limit(1)).first()
        if row is None or _aware(row.next_attempt_at) > datetime.now(timezone.utc):
            return None
        return row.id

    def _due(self) -> list[tuple[int, str]]:
        """The oldest pending message of each conversation, if its next attempt is due."""
        with self._session() as s:
            firsts = (select(func.min(QueuedDelivery.id)).where(QueuedDelivery.state == "pending")
                      .group_by(QueuedDelivery.conversation_id))
            rows = s.execute(select(QueuedDelivery.id, QueuedDelivery.conversation_id, QueuedDelivery.next_attempt_at)
                             .where(QueuedDelivery.id.in_(firsts)).order_by(QueuedDelivery.id)).all()
        now = datetime.now(timezone.utc)
        return [(r.id, r.conversation_id) for r in rows if _aware(r.next_attempt_at) <= now]

    def _reschedule(self, row_id: int, rounds: int, delay_s: float, error: str) -> None:
        with self._session.begin() as s:
            s.execute(update(QueuedDelivery).where(QueuedDelivery.id == row_id).values(
                attempts=rounds, next_attempt_at=utcnow() + timedelta(seconds=delay_s), last_error=error[:2000]))

    def _finish(self, row_id: int, state: str, rounds: int | None, error: str | None) -> None:
        values: dict[str, Any] = {"state": state, "last_error": error[:2000] if error else None}
        if rounds is not None:
            values["attempts"] = rounds
        with self._session.begin() as s:
            s.execute(update(QueuedDelivery).where(QueuedDelivery.id == row_id).values(**values))


def _outbound(body: dict[str, Any]) -> OutboundMessage:
    data = dict(body)
    data["buttons"] = [Button(**b) for b in data.get("buttons") or []]
    return OutboundMessage(**data)
