"""The outbox and its worker on their own: a stand-in channel, a real database, no HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.conversations import ownership
from bot.conversations.outbound import Outbound
from bot.delivery import outbox
from bot.delivery.worker import DeliveryWorker
from bot.store import messages as message_store
from bot.store.db import Database, Tx, make_engine, migrate
from bot.store.models import utcnow
from connectors.base import Connector, DeliveryResult, OutboundMessage


class FlakyChannel(Connector):
    """A channel that fails what `plan` says to fail (one entry per attempt), and records what it sent."""

    name = "test"
    max_attempts = 1

    def __init__(self) -> None:
        super().__init__(on_message=None)  # type: ignore[arg-type]
        self.sent: list[str] = []
        self.plan: list[DeliveryResult] = []

    async def send(self, recipient: str, message: OutboundMessage) -> DeliveryResult:  # pragma: no cover
        raise NotImplementedError

    async def deliver(self, recipient: str, message: OutboundMessage) -> DeliveryResult:
        result = self.plan.pop(0) if self.plan else DeliveryResult("sent")
        if result.status != "failed" and result.status != "parked":
            self.sent.append(message.text)
        return result


DOWN = DeliveryResult("failed", detail="channel down", retryable=True)
REFUSED = DeliveryResult("failed", detail="blocked by the customer", retryable=False)
PARKED = DeliveryResult("parked", detail="outside the window")


@pytest.fixture
def parts(tmp_path: Path) -> Any:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(engine)
    db = Database(engine)
    channel = FlakyChannel()
    worker = DeliveryWorker(db, {"test": channel}, max_rounds=3, base_delay_s=0.0, poll_s=3600)
    conv = db.write_sync(lambda tx: ownership.open_conversation(tx, "test", "cust-1", language="en",
                                                                customer_name=None))
    yield db, channel, worker, Outbound(db, worker), conv
    engine.dispose()


def statuses(db: Database, conversation_id: str) -> list[tuple[str, str | None]]:
    return [(m.text, m.delivery_status) for m in db.read_sync(message_store.listing, conversation_id)]


async def test_messages_go_out_in_order_and_wait_behind_one_that_failed(parts: Any) -> None:
    db, channel, worker, outbound, conv = parts
    worker.base_delay_s = 60.0  # the next round is a minute away
    channel.plan = [DOWN]
    first = await outbound.send(conv.id, OutboundMessage(text="one", sender="bot"))
    assert first["delivery_status"] == "retrying"
    second = await outbound.send(conv.id, OutboundMessage(text="two", sender="bot"))
    assert second["delivery_status"] == "queued" and channel.sent == []  # "two" never overtakes "one"
    assert await worker.run_due() == 0  # not due yet
    await db.write(lambda tx: tx.conn.execute(outbox.outbox.update().values(next_attempt_at=utcnow())))
    await worker.run_due()  # the next round: the channel is back
    assert channel.sent == ["one", "two"]
    assert statuses(db, conv.id) == [("one", "sent"), ("two", "sent")]


async def test_after_every_round_a_message_is_a_dead_letter_agents_can_retry(parts: Any) -> None:
    db, channel, worker, outbound, conv = parts
    channel.plan = [DOWN, DOWN, DOWN]
    await outbound.send(conv.id, OutboundMessage(text="hello", sender="agent"))
    await worker.run_due()
    await worker.run_due()
    [dead] = await db.read(outbox.dead_letters)
    assert (dead.attempts, dead.last_error) == (3, "channel down")
    assert statuses(db, conv.id) == [("hello", "dead")]
    assert await worker.retry(dead.id) == "sent"
    assert channel.sent == ["hello"] and statuses(db, conv.id) == [("hello", "sent")]
    with pytest.raises(ValueError):
        await worker.retry(dead.id)  # not a dead letter any more
    assert await worker.retry(10_000) is None


async def test_a_refusal_is_final_and_does_not_hold_up_the_next_message(parts: Any) -> None:
    db, channel, worker, outbound, conv = parts
    channel.plan = [REFUSED]
    assert (await outbound.send(conv.id, OutboundMessage(text="one", sender="bot")))["delivery_status"] == "failed"
    assert (await outbound.send(conv.id, OutboundMessage(text="two", sender="bot")))["delivery_status"] == "sent"
    assert channel.sent == ["two"]


async def test_parked_messages_wait_for_the_customer_then_go_first_in_order(parts: Any) -> None:
    db, channel, worker, outbound, conv = parts
    channel.plan = [PARKED]
    await outbound.send(conv.id, OutboundMessage(text="your order shipped", sender="agent"))
    await outbound.send(conv.id, OutboundMessage(text="anything else?", sender="agent"))
    await worker.run_due()  # parked rows are not retried by the rounds
    assert channel.sent == [] and [s for _, s in statuses(db, conv.id)] == ["parked", "parked"]
    assert await db.write(lambda tx: outbox.release_parked(tx.conn, conv.id)) == 2  # the customer wrote
    await worker.drain(conv.id)
    assert channel.sent == ["your order shipped", "anything else?"]


async def test_unsent_messages_survive_a_restart(tmp_path: Path, parts: Any) -> None:
    db, channel, worker, outbound, conv = parts
    channel.plan = [DOWN]
    await outbound.send(conv.id, OutboundMessage(text="kept", sender="bot"))
    again = DeliveryWorker(Database(db.engine), {"test": channel}, max_rounds=3, base_delay_s=0.0, poll_s=3600)
    assert await again.run_due() == 1  # a new worker (a restarted hub) finds and sends it
    assert channel.sent == ["kept"]


async def test_one_transaction_records_a_whole_batch(parts: Any) -> None:
    db, channel, worker, outbound, conv = parts
    from sqlalchemy import event

    def stage_two(tx: Tx) -> Any:
        staged = outbound.stage(tx, conv, OutboundMessage(text="a", sender="bot"))
        return outbound.stage(tx, conv, OutboundMessage(text="b", sender="bot"), staged=staged)

    staged = await db.write(stage_two)
    begun: list[int] = []
    event.listen(db.engine, "begin", lambda conn: begun.append(1))
    await outbound.flush(staged)
    assert len(begun) == 1 and channel.sent == ["a", "b"]
