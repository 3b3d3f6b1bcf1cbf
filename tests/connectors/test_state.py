"""The `ChannelState` contract, held by both implementations: the in-memory one (tests, simple setups) and the
hub's database-backed one (bot/delivery/channel_state.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bot.store.db import make_engine, migrate
from bot.delivery.channel_state import SqlChannelState
from connectors.base import Button
from connectors.state import ChannelState, MemoryChannelState, advances


@pytest.fixture(params=["memory", "sql"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryChannelState()
        return
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine)
    yield SqlChannelState(engine)
    engine.dispose()


async def test_contacts_remember_the_window_the_template_and_the_buttons(state: ChannelState) -> None:
    assert await state.contact("whatsapp", "+39333") is None
    wrote = datetime.now(timezone.utc) - timedelta(hours=25)
    await state.touch_inbound("whatsapp", "+39333", wrote)
    await state.set_buttons("whatsapp", "+39333", [Button("Track", "/track"), Button("Returns", "/returns")])
    await state.template_sent("whatsapp", "+39333")
    contact = await state.contact("whatsapp", "+39333")
    assert contact is not None and contact.last_inbound_at == wrote
    assert contact.template_sent_at is not None and contact.template_sent_at > wrote
    assert contact.last_buttons == (Button("Track", "/track"), Button("Returns", "/returns"))
    assert await state.contact("sms", "+39333") is None  # per channel


async def test_long_payloads_come_back_from_their_short_key(state: ChannelState) -> None:
    payload = '/choose_kb_entry{"entry_id": "returns-and-refunds-for-damaged-items", "lang": "en"}'
    key = await state.shorten("telegram", payload)
    assert len(key) <= 63 and key == await state.shorten("telegram", payload)  # stable
    assert await state.expand(key) == payload
    assert await state.expand("0" * 32) is None


async def test_status_callbacks_only_move_forward_and_find_their_message(state: Any) -> None:
    await state.record_delivery("whatsapp", "+39333", message_id="m1", provider_id="SM1", status="queued")
    for status in ("sent", "read", "delivered", "sent"):  # late callbacks do not move it back
        assert await state.update_status("whatsapp", "SM1", status) == "m1"
    assert [(d.provider_id, d.status) for d in state.for_message("m1")] == [("SM1", "read")]
    assert await state.update_status("whatsapp", "SM1", "failed", error_code="63019") == "m1"  # a failure wins
    assert [(d.status, d.error_code) for d in state.for_message("m1")] == [("failed", "63019")]

    # A callback can arrive before the send was recorded: it is kept and joined to the message.
    assert await state.update_status("whatsapp", "SM2", "delivered") is None
    await state.record_delivery("whatsapp", "+39333", message_id="m2", provider_id="SM2", status="queued")
    assert [(d.provider_id, d.status) for d in state.for_message("m2")] == [("SM2", "delivered")]


def test_status_order() -> None:
    assert advances("queued", "sent") and advances("sent", "read") and not advances("read", "delivered")
    assert advances("read", "undelivered") and not advances("failed", "undelivered")


async def test_channel_data_merges_and_read_receipts_cover_what_was_sent_before(state: ChannelState) -> None:
    await state.remember("email", "ada@example.com", subject="Where is my order?", references=["<a@x>"])
    await state.remember("email", "ada@example.com", references=["<a@x>", "<b@x>"])
    contact = await state.contact("email", "ada@example.com")
    assert contact is not None and contact.data == {"subject": "Where is my order?", "references": ["<a@x>", "<b@x>"]}

    await state.record_delivery("messenger", "psid-1", message_id="m1", provider_id="mid.1", status="sent")
    await state.record_delivery("messenger", "psid-1", message_id="m2", provider_id="mid.2", status="delivered")
    await state.record_delivery("messenger", "psid-2", message_id="m3", provider_id="mid.3", status="sent")
    later = datetime.now(timezone.utc) + timedelta(seconds=1)
    assert sorted(await state.read_until("messenger", "psid-1", later)) == ["m1", "m2"]
    assert await state.read_until("messenger", "psid-1", later) == []  # already read: nothing moves
    assert (await state.delivery("messenger", "mid.1")).status == "read"  # type: ignore[union-attr]
    assert (await state.delivery("messenger", "mid.3")).status == "sent"  # type: ignore[union-attr]
    assert await state.delivery("messenger", "mid.unknown") is None
