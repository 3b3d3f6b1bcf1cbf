"""Sends the outbox: now, right after the transaction that stored a message, and later in rounds.

`Connector.deliver()` retries a few times within seconds. When a channel stays down longer, the row stays in
the outbox and the worker tries again in later rounds with exponential backoff (across hub restarts) until it
goes out or, after `max_rounds`, becomes a dead letter. Messages of one conversation leave in order.

The outcome of a batch is recorded in one transaction (rows and the messages' delivery status), which emits a
`delivery` event per message.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from bot import audit
from bot.audit import Who
from bot.delivery import outbox
from bot.delivery.outbox import Queued
from bot.store import messages as message_store
from bot.store.db import Database, Tx
from bot.locks import KeyedLocks, Locks
from connectors.base import Connector, DeliveryResult

log = logging.getLogger(__name__)

RETRYING, PARKED_STATUS = "retrying", "parked"


@dataclass(frozen=True)
class Outcome:
    """What happened to one message: the status agents see, and what the outbox row becomes."""

    message_id: str
    status: str  # sent / delivered / stored / parked / retrying / failed / dead / queued
    detail: str = ""


class DeliveryWorker:
    def __init__(self, db: Database, connectors: Mapping[str, Connector], *, max_rounds: int = 6,
                 base_delay_s: float = 30.0, max_delay_s: float = 3600.0, poll_s: float = 1.0,
                 locks: Locks | None = None, holder: str | None = None, lease_s: float = 180.0,
                 alone: bool = True) -> None:
        self.db = db
        self.connectors = connectors
        self.max_rounds = max_rounds
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.poll_s = poll_s
        self._locks: Locks = locks or KeyedLocks()  # one sender per conversation at a time: order is kept
        # Who claims outbox rows (one hub process), and for how long; `alone`: no other process sends, so the
        # claims a killed previous run left can be dropped at start instead of waiting for them to lapse.
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_s = lease_s
        self.alone = alone
        self._task: asyncio.Task[None] | None = None
        self._parked_line = False  # set by the last drain: the conversation's line is held by a parked message

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the rounds (they also resume messages a previous run left unsent)."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="delivery-worker")

    async def release_stale_claims(self) -> None:
        """At start, alone: claims left by a killed previous run are dropped (nobody else is sending)."""
        if self.alone:
            dropped = await self.db.write(lambda tx: outbox.release_claims(tx.conn))
            if dropped:
                log.info("outbox: %d message(s) a previous run had claimed are due again", dropped)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    # -- sending -----------------------------------------------------------------------------------

    async def send(self, batch: list[Queued], *, blocked: bool = False) -> dict[str, Outcome]:
        """Send rows one conversation's transaction just queued. `blocked`: an older message of the conversation
        was still in the outbox then, so this sends whatever is due in order once it is our turn."""
        if not batch:
            return {}
        conversation_id = batch[0].conversation_id
        async with self._locks(f"outbox:{conversation_id}"):
            if not blocked:
                return await self._send_in_order(batch)
            outcomes = await self._drain_locked(conversation_id)
            waiting = [q for q in batch if q.message_id not in outcomes]
            if waiting and self._parked_line:
                outcomes.update(await self.db.write(self._record, [(q, None) for q in waiting], True))
            return {q.message_id: outcomes.get(q.message_id, Outcome(q.message_id, "queued",
                                                                      "waiting for an earlier message to go out"))
                    for q in batch}

    async def drain(self, conversation_id: str) -> dict[str, Outcome]:
        """Send what is due in one conversation (after a release or a retry)."""
        async with self._locks(f"outbox:{conversation_id}"):
            return await self._drain_locked(conversation_id)

    async def _drain_locked(self, conversation_id: str) -> dict[str, Outcome]:
        def take(tx: Tx) -> tuple[list[Queued], bool]:
            due, parked_line = outbox.due_in_conversation(tx.conn, conversation_id)
            return outbox.claim(tx.conn, due, self.holder, self.lease_s), parked_line

        due, self._parked_line = await self.db.write(take)
        return await self._send_in_order(due)

    async def run_due(self) -> int:
        """One round: every conversation whose oldest unsent message is due. Returns how many conversations."""
        heads = await self.db.read(outbox.due_heads, self.holder)
        for _row_id, conversation_id in heads:
            try:
                await self.drain(conversation_id)
            except Exception:  # one broken conversation must not stop the others
                log.exception("delivery round for conversation %s failed", conversation_id)
        return len(heads)

    async def retry(self, row_id: int, *, who: Who | None = None) -> str | None:
        """An agent's retry of a dead letter: fresh rounds, tried now (audited as `who`). The row's state after, or
        None if missing; raises `ValueError` with the state when the row is not a dead letter."""
        row = await self.db.read(outbox.get, row_id)
        if row is None:
            return None

        def revive(tx: Tx) -> bool:
            if not outbox.revive(tx.conn, row_id):
                return False
            audit.record(tx.conn, who, "dead_letter.retry", conversation_id=row.conversation_id, target=row_id)
            return True

        if not await self.db.write(revive):
            raise ValueError(row.state)
        await self.drain(row.conversation_id)
        after = await self.db.read(outbox.get, row_id)
        return after.state if after else None

    async def provider_status(self, message_id: str | None, provider_id: str, status: str,
                              error_code: str | None) -> None:
        """A provider's delivery callback (queued/sent/delivered/read/failed): statuses only move forward.
        "outside_window": the provider refused it because the customer's window closed; it is sent again (the
        connector then applies the window rules: an approved template, or parked)."""
        if not message_id:
            return
        if status == "outside_window":
            def again(tx: Tx) -> str | None:
                conversation_id = outbox.resend(tx.conn, message_id)
                if conversation_id is not None:
                    message_store.set_delivery(tx.conn, [(message_id, "pending")])
                return conversation_id

            conversation_id = await self.db.write(again)
            if conversation_id is not None:
                log.info("message %s: outside the customer's window (error %s); sending it again", message_id,
                         error_code)
                await self.drain(conversation_id)
            return

        def work(tx: Tx) -> None:
            if message_store.record_delivery(tx.conn, message_id, status):
                tx.emit("delivery", message_id=message_id, status=status, error_code=error_code,
                        provider_id=provider_id)

        await self.db.write(work)

    # -- internals ---------------------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # the worker must outlive a bad row or a database hiccup
                log.exception("delivery round failed")
            await asyncio.sleep(self.poll_s)

    async def _attempt(self, q: Queued) -> DeliveryResult:
        connector = self.connectors.get(q.channel)
        if connector is None:
            return DeliveryResult("failed", detail=f"channel {q.channel} is not enabled", retryable=False)
        return await connector.deliver(q.recipient, q.message)

    async def _send_in_order(self, batch: list[Queued]) -> dict[str, Outcome]:
        """Attempt each row in order; stop at the first that must wait (retrying or parked): the rest wait
        behind it. Then record everything in one transaction."""
        results: list[tuple[Queued, DeliveryResult | None]] = []
        stop = False
        for q in batch:
            if stop:
                results.append((q, None))  # not attempted: waits behind an earlier message
                continue
            result = await self._attempt(q)
            results.append((q, result))
            if result.status == PARKED_STATUS or (result.status == "failed" and result.retryable
                                                   and q.attempts + 1 < self.max_rounds):
                stop = True
        if not results:
            return {}
        return await self.db.write(self._record, results)

    def _record(self, tx: Tx, results: list[tuple[Queued, DeliveryResult | None]],
                parked_head: bool = False) -> dict[str, Outcome]:
        """Record a batch's results in one transaction. `parked_head`: the line is held by a parked message,
        so unattempted rows are parked behind it."""
        outcomes: dict[str, Outcome] = {}
        sent_rows: list[int] = []
        for q, result in results:
            if result is None:
                if parked_head:  # behind a parked message: parked too, released with it
                    outbox.mark(tx.conn, q.row_id, outbox.PARKED)
                    outcome = Outcome(q.message_id, PARKED_STATUS, "waiting for an earlier message")
                else:
                    continue  # stays pending; the next round sends it
            elif result.status == PARKED_STATUS:
                parked_head = True
                outbox.mark(tx.conn, q.row_id, outbox.PARKED, error=result.detail)
                outcome = Outcome(q.message_id, PARKED_STATUS, result.detail)
            elif result.status != "failed":
                sent_rows.append(q.row_id)
                outcome = Outcome(q.message_id, result.status, result.detail)
            else:
                rounds = q.attempts + 1
                if result.retryable and rounds < self.max_rounds:
                    delay = min(self.base_delay_s * 2 ** (rounds - 1), self.max_delay_s)
                    outbox.mark(tx.conn, q.row_id, outbox.PENDING, attempts=rounds, error=result.detail,
                                retry_in_s=delay)
                    log.warning("message %s to %s not delivered (round %d/%d: %s); next try in %.0f s",
                                q.message_id, q.channel, rounds, self.max_rounds, result.detail, delay)
                    outcome = Outcome(q.message_id, RETRYING, result.detail)
                else:
                    # A dead letter either way; the status says whether the channel refused it ("failed", e.g.
                    # blocked, outside WhatsApp's window) or stayed down for every round ("dead").
                    outbox.mark(tx.conn, q.row_id, outbox.DEAD, attempts=rounds, error=result.detail)
                    log.error("message %s to %s is a dead letter after %d round(s): %s",
                              q.message_id, q.channel, rounds, result.detail)
                    outcome = Outcome(q.message_id, "dead" if result.retryable else "failed", result.detail)
            tx.emit("delivery", message_id=q.message_id, conversation_id=q.conversation_id, status=outcome.status,
                    detail=outcome.detail, channel=q.channel, sender=q.message.sender)
            outcomes[q.message_id] = outcome
        outbox.mark_sent(tx.conn, sent_rows)
        message_store.set_delivery(tx.conn, [(o.message_id, o.status) for o in outcomes.values()])
        return outcomes
