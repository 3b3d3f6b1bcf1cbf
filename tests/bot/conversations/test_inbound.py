"""The conversation service without HTTP: a customer message in, the owner's answer out."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from bot.store import conversations as conversation_store
from bot.store import messages as message_store
from connectors.base import InboundMessage, MessageRejected


def transcript(hub: Any, conversation_id: str) -> list[tuple[str, str, str | None]]:
    return [(m.sender, m.text, m.outcome) for m in hub.db.read_sync(message_store.listing, conversation_id)]


async def test_a_bot_answer_is_three_transactions_and_records_the_turn(hub: Any) -> None:
    await hub.inbound.handle(InboundMessage("web", "v1", "hi"))  # opens the conversation
    begun: list[int] = []

    def count(_conn: Any) -> None:
        begun.append(1)

    event.listen(hub.engine, "begin", count)
    result = await hub.inbound.handle(InboundMessage("web", "v1", "what about gift cards"))
    event.remove(hub.engine, "begin", count)
    assert len(begun) == 3  # accept; commit the turn; record the delivery
    assert transcript(hub, result.conversation_id)[-3:] == [
        ("customer", "what about gift cards", "kb_answer"), ("bot", "Gift cards are sent by e-mail.", None),
        ("system", "Was this helpful?", None)]  # asked in the same transaction as the answer
    bot_reply = hub.db.read_sync(message_store.listing, result.conversation_id)[-2]
    assert (bot_reply.kb_entry_id, bot_reply.delivery_status) == ("gift-cards", "stored")  # visitor offline


async def test_replays_are_acknowledged_once_and_refusals_store_nothing(hub: Any) -> None:
    first = await hub.inbound.handle(InboundMessage("web", "v2", "hi", external_id="c-1"))
    again = await hub.inbound.handle(InboundMessage("web", "v2", "hi", external_id="c-1"))
    assert again.duplicate and again.conversation_id == first.conversation_id
    for bad in ("", "x" * 5000):
        try:
            await hub.inbound.handle(InboundMessage("web", "v2", bad))
        except MessageRejected:
            pass
        else:  # pragma: no cover
            raise AssertionError("refused message was taken")
    assert [t for s, t, _ in transcript(hub, first.conversation_id) if s == "customer"] == ["hi"]


async def test_contact_details_are_redacted_before_they_are_stored(hub: Any) -> None:
    result = await hub.inbound.handle(InboundMessage("web", "v3", "mail me at jane.doe@example.com about BC-123456"))
    stored = transcript(hub, result.conversation_id)[0][1]
    assert "jane.doe@example.com" not in stored and "[email]" in stored and "BC-123456" in stored


async def test_a_human_owned_conversation_never_reaches_the_bot(hub: Any) -> None:
    result = await hub.inbound.handle(InboundMessage("web", "v4", "person please"))
    conv = hub.db.read_sync(conversation_store.get, result.conversation_id)
    assert (conv.status, conv.handoff_reason) == ("queued", "customer_request")
    before = hub.metrics.value("supportbot_rasa_roundtrip_seconds_count")
    await hub.inbound.handle(InboundMessage("web", "v4", "hello? anyone?"))
    assert hub.metrics.value("supportbot_rasa_roundtrip_seconds_count") == before
    texts = [t for s, t, _ in transcript(hub, result.conversation_id)]
    assert texts[-1] == "hello? anyone?" and "You are number 1 in the queue." in texts


async def test_rasa_and_handoff_summaries_never_see_contact_details(hub: Any) -> None:
    seen: list[str] = []
    original = hub.rasa.send

    async def spy(sender: str, text: str, metadata: Any = None) -> Any:
        seen.append(text)
        return await original(sender, text, metadata)

    hub.rasa.send = spy
    await hub.inbound.handle(InboundMessage("web", "v5", "hi, I'm jane@example.com, call +44 7700 900123"))
    assert seen == ["hi, I'm [email], call [phone]"]
    assert "900123" not in seen[0]  # a phone fragment never becomes an order number for Rasa's extractor
