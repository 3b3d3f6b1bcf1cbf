"""Telegram through the hub: the real python-telegram-bot `Bot` talking to a fake Bot API on loopback."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.settings import HubSettings
from connectors.registry import ChannelConfigError, build_connectors
from channel_support import PUBLIC, TG_SECRET, HubFactory, noop_handler, noop_history, transcript
from fakes.rasa import FakeRasa
from fakes.telegram_api import FakeTelegram


WEBHOOK = "/channels/telegram/webhook"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
LONG_PAYLOAD = '/choose_kb_entry{"entry_id": "returns-and-refunds-for-damaged-items", "lang": "en"}'


def user(chat_id: int, first_name: str = "Ada", language: str = "en") -> dict[str, Any]:
    return {"id": chat_id, "is_bot": False, "first_name": first_name, "language_code": language}


def message(update_id: int, chat_id: int, *, kind: str = "message", chat_type: str = "private",
            **content: Any) -> dict[str, Any]:
    return {"update_id": update_id, kind: {
        "message_id": update_id, "date": 1_700_000_000, "from": user(abs(chat_id)),
        "chat": {"id": chat_id, "type": chat_type, **({"title": "Team"} if chat_type != "private" else {})},
        **content,
    }}


def text(update_id: int, chat_id: int, body: str) -> dict[str, Any]:
    return message(update_id, chat_id, text=body)


def post(client: TestClient, update: Any, headers: dict[str, str] | None = HEADERS) -> Any:
    return client.post(WEBHOOK, content=json.dumps(update) if not isinstance(update, bytes) else update,
                       headers={"Content-Type": "application/json", **(headers or {})})


def test_text_gets_the_bots_answer_with_a_keyboard_and_button_presses_reach_the_bot(
    make_hub: HubFactory, telegram_api: FakeTelegram
) -> None:
    with FakeRasa(lambda sender, body: [
        {"text": f"You said: {body}", "buttons": [{"title": "Refunds", "payload": LONG_PAYLOAD},
                                                  {"title": "Talk to a person", "payload": "/handoff"}]},
        {"image": "https://cdn.example.test/parcel.png"},
    ]) as rasa:
        client = make_hub(rasa.url)
        # On start the hub registered its public webhook URL with the secret.
        hook = telegram_api.wait_for(lambda calls: telegram_api.api_calls("setWebhook"))[0]
        assert hook.params["url"] == PUBLIC + WEBHOOK and hook.params["secret_token"] == TG_SECRET

        assert post(client, text(1, 501, "where is my parcel?")).status_code == 200
        answer = telegram_api.wait_text(501, "You said: where is my parcel?")
        keyboard = json.loads(answer.params["reply_markup"])["inline_keyboard"]
        assert [row[0]["text"] for row in keyboard] == ["Refunds", "Talk to a person"]
        assert all(len(row[0]["callback_data"].encode()) <= 64 for row in keyboard)
        assert keyboard[1][0]["callback_data"] == "/handoff"
        photo = telegram_api.wait_for(lambda c: telegram_api.api_calls("sendPhoto"))[0]
        assert photo.params["photo"] == "https://cdn.example.test/parcel.png"
        assert any(c.params.get("action") == "typing" for c in telegram_api.api_calls("sendChatAction"))

        # Pressing the button whose payload was too long for callback_data gives the bot the full payload.
        press = {"update_id": 2, "callback_query": {
            "id": "cbq-1", "from": user(501), "chat_instance": "ci", "data": keyboard[0][0]["callback_data"],
            "message": {"message_id": 9, "date": 1_700_000_000, "chat": {"id": 501, "type": "private"},
                        "text": answer.params["text"], "reply_markup": {"inline_keyboard": keyboard}},
        }}
        assert post(client, press).status_code == 200
        rasa.wait_for(lambda calls: [c for c in calls if c.params.get("message") == LONG_PAYLOAD])
        assert telegram_api.api_calls("answerCallbackQuery")[0].params["callback_query_id"] == "cbq-1"
        customer = [m["text"] for m in transcript(client, "telegram", "501") if m["sender"] == "customer"]
        assert customer == ["where is my parcel?", "Refunds"]
        assert transcript(client, "telegram", "501")[0]["language"] == "en"


def test_a_replayed_update_is_answered_once(make_hub: HubFactory, telegram_api: FakeTelegram, rasa: FakeRasa) -> None:
    client = make_hub(rasa.url)
    update = text(10, 502, "hello")
    first, again = post(client, update), post(client, update)
    assert first.json()["outcome"] == "done" and again.json()["outcome"] == "duplicate"
    telegram_api.wait_text(502, "You said: hello")
    time.sleep(0.3)
    assert telegram_api.sent_texts(502) == ["You said: hello"]
    assert len([c for c in rasa.calls if c.path == "/webhooks/rest/webhook"]) == 1


@pytest.mark.parametrize("headers", [None, {"X-Telegram-Bot-Api-Secret-Token": "guess"},
                                     {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET + "x"}])
def test_missing_or_wrong_secret_is_refused_and_nothing_stored(
    make_hub: HubFactory, telegram_api: FakeTelegram, rasa: FakeRasa, headers: dict[str, str] | None
) -> None:
    client = make_hub(rasa.url)
    resp = post(client, text(20, 503, "let me in"), headers=headers)
    assert resp.status_code == 403
    assert transcript(client, "telegram", "503") == []
    assert not [c for c in rasa.calls if c.path == "/webhooks/rest/webhook"]
    assert telegram_api.sent_texts(503) == []


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"message": {}}', b'{"update_id": "7"}',
                                  b'{"update_id": 7, "message": {"text": "no chat, no date"}}'])
def test_malformed_updates_get_400(make_hub: HubFactory, rasa: FakeRasa, body: bytes) -> None:
    client = make_hub(rasa.url)
    assert post(client, body).status_code == 400
    assert not [c for c in rasa.calls if c.path == "/webhooks/rest/webhook"]


def test_non_text_updates_are_handled_or_politely_declined(
    make_hub: HubFactory, telegram_api: FakeTelegram, rasa: FakeRasa
) -> None:
    client = make_hub(rasa.url)
    chat = 504
    photo = [{"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90, "file_size": 1000},
             {"file_id": "big", "file_unique_id": "b", "width": 1280, "height": 960, "file_size": 90_000}]
    updates = [
        message(30, chat, photo=photo, caption="the box arrived like this"),
        message(31, chat, photo=[{**photo[1], "file_size": 5_000_000}]),  # over MAX_MEDIA_BYTES (1 MB here)
        message(32, chat, sticker={"file_id": "st", "file_unique_id": "st", "type": "regular", "width": 512,
                                   "height": 512, "is_animated": False, "is_video": False, "emoji": "👍"}),
        message(33, chat, document={"file_id": "doc", "file_unique_id": "d", "file_name": "invoice.pdf",
                                    "mime_type": "application/pdf", "file_size": 20_000}),
        message(34, chat, location={"latitude": 45.4642, "longitude": 9.19}),
        message(35, chat, contact={"phone_number": "+390000000", "first_name": "Ada", "user_id": chat}),
        message(36, chat, dice={"emoji": "🎲", "value": 3}),
        message(37, -900, chat_type="group", text="hello bot"),
        message(38, chat, kind="edited_message", text="I meant order BC-100002", edit_date=1_700_000_100),
        {"update_id": 39, "channel_post": {"message_id": 1, "date": 1_700_000_000,
                                           "chat": {"id": -100, "type": "channel", "title": "News"}, "text": "hi"}},
        {"update_id": 40, "my_chat_member": {
            "chat": {"id": chat, "type": "private"}, "from": user(chat), "date": 1_700_000_000,
            "old_chat_member": {"status": "member", "user": user(777)},
            "new_chat_member": {"status": "kicked", "user": user(777), "until_date": 0}}},
    ]
    for update in updates:
        assert post(client, update).status_code == 200, update

    telegram_api.wait_text(chat, "too large")
    telegram_api.wait_text(chat, "can't read that kind of message")
    telegram_api.wait_text(-900, "private chat")
    customer = [m["text"] for m in transcript(client, "telegram", str(chat)) if m["sender"] == "customer"]
    assert customer == ["the box arrived like this", "[sticker 👍]", "[document: invoice.pdf]",
                        "[location 45.46420, 9.19000]", "[contact: Ada]", "I meant order BC-100002"]
    assert transcript(client, "telegram", "-900") == []  # group chats: nothing stored
    # The bot was asked about the photo with its caption (the file id travels in the stored payload).
    asked = [c.params["message"] for c in rasa.calls if c.path == "/webhooks/rest/webhook"]
    assert asked[0] == "the box arrived like this"


def test_api_500_then_200_delivers_exactly_once(make_hub: HubFactory, telegram_api: FakeTelegram,
                                                rasa: FakeRasa) -> None:
    client = make_hub(rasa.url)
    telegram_api.fail("sendMessage", 500)
    post(client, text(50, 505, "anyone?"))
    telegram_api.wait_text(505, "You said: anyone?")
    time.sleep(0.3)
    attempts = [c for c in telegram_api.api_calls("sendMessage") if str(c.params.get("chat_id")) == "505"]
    assert [c.params["_status"] if "_status" in c.params else 200 for c in attempts] == [500, 200]
    bot_msgs = [m for m in transcript(client, "telegram", "505") if m["sender"] == "bot"]
    assert [m["delivery_status"] for m in bot_msgs] == ["sent"]


def test_429_retry_after_is_honoured(make_hub: HubFactory, telegram_api: FakeTelegram, rasa: FakeRasa) -> None:
    client = make_hub(rasa.url)
    telegram_api.fail("sendMessage", 429, retry_after=1)
    post(client, text(60, 506, "quick question"))
    ok = telegram_api.wait_text(506, "You said: quick question", timeout=15)
    limited = [c for c in telegram_api.api_calls("sendMessage") if c.params.get("_status") == 429][0]
    assert ok.at - limited.at >= 1.0


def test_a_customer_who_blocked_the_bot_is_not_retried(make_hub: HubFactory, telegram_api: FakeTelegram,
                                                        rasa: FakeRasa) -> None:
    client = make_hub(rasa.url)
    telegram_api.fail("sendMessage", 403, times=5)
    post(client, text(70, 507, "bye"))
    telegram_api.wait_for(lambda c: telegram_api.api_calls("sendMessage"))
    time.sleep(0.5)
    assert len(telegram_api.api_calls("sendMessage")) == 1
    bot_msgs = [m for m in transcript(client, "telegram", "507") if m["sender"] == "bot"]
    assert [m["delivery_status"] for m in bot_msgs] == ["failed"]


def test_dead_bot_hands_off_and_the_customer_is_told(make_hub: HubFactory, telegram_api: FakeTelegram) -> None:
    client = make_hub()  # Rasa on a dead port
    post(client, text(80, 508, "ciao"))
    telegram_api.wait_text(508, "technical trouble")
    telegram_api.wait_text(508, "number 1 in the queue")


def test_long_polling_without_a_public_url(make_hub: HubFactory, telegram_api: FakeTelegram, rasa: FakeRasa) -> None:
    client = make_hub(rasa.url, telegram_mode="polling", public_url="", enabled_channels=("web", "telegram"))
    telegram_api.push_update(text(90, 509, "polling works?"))
    telegram_api.wait_text(509, "You said: polling works?")
    assert telegram_api.api_calls("deleteWebhook") and not telegram_api.api_calls("setWebhook")
    assert [m["text"] for m in transcript(client, "telegram", "509") if m["sender"] == "customer"] == \
        ["polling works?"]
    client.__exit__(None, None, None)  # stop() ends the polling loop
    stopped = time.monotonic()
    time.sleep(1.2)  # longer than one fake long poll (1 s)
    assert [c for c in telegram_api.api_calls("getUpdates") if c.at > stopped] == []


def test_unknown_channel_paths_are_404(make_hub: HubFactory, rasa: FakeRasa) -> None:
    client = make_hub(rasa.url)
    assert client.post("/channels/viber/webhook", json={}).status_code == 404
    assert client.post("/channels/telegram/nope", json={}).status_code == 404


def test_channel_configuration_errors_name_what_to_set(tmp_path: Any) -> None:
    base = HubSettings.from_env(data_dir=tmp_path)
    with pytest.raises(ChannelConfigError, match="unknown channel.*viber"):
        build_connectors(HubSettings.from_env(data_dir=tmp_path, enabled_channels=("web", "viber")),
                         noop_handler, web_history=noop_history)
    with pytest.raises(ChannelConfigError, match="TELEGRAM_BOT_TOKEN"):
        build_connectors(HubSettings.from_env(data_dir=tmp_path, enabled_channels=("telegram",)),
                         noop_handler, web_history=noop_history)
    with pytest.raises(ChannelConfigError, match="PUBLIC_URL"):
        build_connectors(HubSettings.from_env(data_dir=tmp_path, enabled_channels=("telegram",),
                                           telegram_bot_token="1:x"),
                         noop_handler, web_history=noop_history)
    assert list(build_connectors(base, noop_handler, web_history=noop_history)) == ["web"]
