"""Telegram without a hub: `parse.py` (updates → messages or notices) and `errors.py` (python-telegram-bot's
errors → the `core.errors` taxonomy, raised by the real `Bot` against the fake Bot API)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from telegram import Bot, Update
from telegram.error import TelegramError, TimedOut
from telegram.request import HTTPXRequest

from channel_support import TG_TOKEN
from connectors.base import InboundMessage
from connectors.telegram.errors import from_telegram_error
from connectors.telegram.parse import Notice, long_payload_key, parse_button, parse_message, read_update
from core.errors import Permanent, RateLimited, Retryable, Unconfirmed
from fakes.telegram_api import FakeTelegram

MB = 1024 * 1024


def update(update_id: int = 1, *, chat_id: int = 501, chat_type: str = "private", kind: str = "message",
           **content: Any) -> Update:
    body = {"update_id": update_id, kind: {
        "message_id": 7, "date": 1_700_000_000, "chat": {"id": chat_id, "type": chat_type},
        "from": {"id": 501, "is_bot": False, "first_name": "Ada", "language_code": "it"}, **content}}
    return read_update(json.dumps(body).encode())


def press(data: str, *, keyboard: list[tuple[str, str]] | None = None, chat_type: str = "private") -> Update:
    body = {"update_id": 9, "callback_query": {
        "id": "cbq", "chat_instance": "ci", "data": data,
        "from": {"id": 501, "is_bot": False, "first_name": "Ada", "language_code": "en"},
        "message": {"message_id": 3, "date": 1_700_000_000, "chat": {"id": 501, "type": chat_type}, "text": "Pick",
                    "reply_markup": {"inline_keyboard": [[{"text": t, "callback_data": d}] for t, d in keyboard or []]}}}}
    return read_update(json.dumps(body).encode())


# -- parse.py ---------------------------------------------------------------------------------------

def test_text_and_edits_become_messages_with_the_update_id_and_the_customers_language() -> None:
    msg = parse_message(update(41, text="where is my parcel?"), max_media_bytes=MB)
    assert isinstance(msg, InboundMessage)
    assert (msg.channel, msg.external_user_id, msg.external_id, msg.text, msg.kind) == \
        ("telegram", "501", "41", "where is my parcel?", "text")
    assert (msg.language_hint, msg.customer_name, msg.payload) == ("it", "Ada", {})
    edited = parse_message(update(42, kind="edited_message", text="I meant BC-100002", edit_date=1_700_000_100),
                           max_media_bytes=MB)
    assert isinstance(edited, InboundMessage) and edited.payload == {"edited": True, "telegram_message_id": 7}


def test_media_locations_and_contacts_are_described_for_the_transcript() -> None:
    photo = [{"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90, "file_size": 1000},
             {"file_id": "big", "file_unique_id": "b", "width": 1280, "height": 960, "file_size": 90_000}]
    msg = parse_message(update(photo=photo, caption="the box"), max_media_bytes=MB)
    assert isinstance(msg, InboundMessage) and msg.kind == "media" and msg.text == "the box"
    assert msg.payload["media"][0]["file_id"] == "big"  # the largest size
    doc = parse_message(update(document={"file_id": "d", "file_unique_id": "d", "file_name": "invoice.pdf",
                                         "mime_type": "application/pdf", "file_size": 2000}), max_media_bytes=MB)
    assert isinstance(doc, InboundMessage) and doc.text == "[document: invoice.pdf]"
    where = parse_message(update(location={"latitude": 45.4642, "longitude": 9.19}), max_media_bytes=MB)
    assert isinstance(where, InboundMessage) and where.text == "[location 45.46420, 9.19000]"
    assert where.payload == {"latitude": 45.4642, "longitude": 9.19}
    who = parse_message(update(contact={"phone_number": "+39000", "first_name": "Ada", "last_name": "L."}),
                        max_media_bytes=MB)
    assert isinstance(who, InboundMessage) and who.kind == "contact" and who.text == "[contact: Ada L.]"


def test_groups_unreadable_content_and_large_media_get_a_notice_instead() -> None:
    group = parse_message(update(chat_id=-900, chat_type="group", text="hello bot"), max_media_bytes=MB)
    assert group == Notice("-900", "group", "it") and group.outcome == "declined_group"
    dice = parse_message(update(dice={"emoji": "🎲", "value": 3}), max_media_bytes=MB)
    assert dice == Notice("501", "unsupported", "it")
    big = parse_message(update(video={"file_id": "v", "file_unique_id": "v", "width": 1, "height": 1, "duration": 1,
                                      "file_size": 3 * MB}), max_media_bytes=MB)
    assert big == Notice("501", "media_too_large", "it", {"size_mb": "3", "limit_mb": "1"})
    assert parse_message(read_update(b'{"update_id": 5, "channel_post": {"message_id": 1, "date": 1, '
                                     b'"chat": {"id": -100, "type": "channel"}, "text": "hi"}}'),
                         max_media_bytes=MB) is None


def test_button_presses_carry_the_payload_and_fall_back_to_the_title() -> None:
    keyboard = [("Refunds", "~abc"), ("Talk to a person", "/handoff")]
    assert long_payload_key("~abc") == "abc" and long_payload_key("/handoff") is None
    short = parse_button(press("/handoff", keyboard=keyboard), "/handoff")
    assert isinstance(short, InboundMessage)
    assert (short.kind, short.text, short.payload, short.external_id) == \
        ("button", "Talk to a person", {"payload": "/handoff"}, "9")
    expanded = parse_button(press("~abc", keyboard=keyboard), "/choose_kb_entry{...}")
    assert isinstance(expanded, InboundMessage) and expanded.payload == {"payload": "/choose_kb_entry{...}"}
    forgotten = parse_button(press("~abc", keyboard=keyboard), None)  # the key is no longer known
    assert isinstance(forgotten, InboundMessage) and (forgotten.kind, forgotten.text) == ("text", "Refunds")
    assert parse_button(press("~zzz"), None) is None  # neither payload nor title: nothing to say
    assert parse_button(press("/x", chat_type="supergroup"), "/x") == Notice("501", "group", "en")


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"update_id": "7"}',
                                  b'{"update_id": 7, "message": {"text": "no chat, no date"}}'])
def test_what_is_not_an_update_is_refused(body: bytes) -> None:
    with pytest.raises(ValueError):
        read_update(body)


# -- errors.py --------------------------------------------------------------------------------------

@pytest.fixture
def api() -> Iterator[FakeTelegram]:
    with FakeTelegram(TG_TOKEN) as fake:
        yield fake


async def raised(bot: Bot) -> TelegramError:
    with pytest.raises(TelegramError) as info:
        await bot.send_message(chat_id=501, text="hi")
    return info.value


def bot_for(base_url: str, token: str = TG_TOKEN, read_timeout: float = 5.0) -> Bot:
    return Bot(token, base_url=base_url, request=HTTPXRequest(connect_timeout=1.0, read_timeout=read_timeout))


# 409: another poller or a webhook serves the bot, which lasts only until the other one stops.
@pytest.mark.parametrize("status, kind", [(500, Retryable), (409, Retryable), (403, Permanent), (400, Permanent)])
async def test_bot_api_answers_map_to_the_taxonomy(api: FakeTelegram, status: int, kind: type) -> None:
    api.fail("sendMessage", status)
    error = from_telegram_error(await raised(bot_for(api.base_url)))
    assert type(error) is kind and error.service == "telegram"


async def test_flood_control_carries_telegrams_wait(api: FakeTelegram) -> None:
    api.fail("sendMessage", 429, retry_after=7)
    error = from_telegram_error(await raised(bot_for(api.base_url)))
    assert isinstance(error, RateLimited) and error.retry_after == 7.0


async def test_a_wrong_token_is_permanent(api: FakeTelegram) -> None:
    error = from_telegram_error(await raised(bot_for(api.base_url, token="999:wrong")))
    assert isinstance(error, Permanent) and "TELEGRAM_BOT_TOKEN" in error.detail


async def test_transport_failures_say_whether_the_request_may_have_arrived() -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        slow = from_telegram_error(await raised(bot_for(f"http://127.0.0.1:{silent.getsockname()[1]}/bot",
                                                        read_timeout=0.3)))
        port = silent.getsockname()[1]
    assert isinstance(slow, Unconfirmed)  # sent, no answer: it may have been delivered
    refused = from_telegram_error(await raised(bot_for(f"http://127.0.0.1:{port}/bot")))  # nobody listens now
    assert isinstance(refused, Retryable)
    never_sent = TimedOut("pool timeout")
    never_sent.__cause__ = httpx.PoolTimeout("all connections busy")
    assert isinstance(from_telegram_error(never_sent), Retryable)
