""""Was this helpful?" after a knowledge-base answer on Telegram (inline buttons) and WhatsApp / SMS (reply 1 or
2), through the real connectors and their fake provider APIs: the answer is stored per answer and never reaches
Rasa; "no" offers a person."""

from __future__ import annotations

import json
from typing import Any

from channel_support import HOOK, HubFactory, bodies, inbound, twilio_post, wait_until
from fakes.rasa import FakeRasa
from fakes.telegram_api import FakeTelegram
from fakes.twilio_api import FakeTwilio
from bot.store.models import Feedback

KB_REPLY = [{"text": "Gift cards are sent by e-mail within minutes."},
            {"custom": {"kb": {"decision": "answer", "entry_id": "gift-cards", "score": 0.81}}}]


def feedback_rows(client: Any) -> list[Any]:
    table = Feedback.__table__
    return client.app.state.container.db.read_sync(lambda conn: list(conn.execute(table.select())))


def test_telegram_asks_with_inline_buttons_and_no_offers_a_person(make_hub: HubFactory,
                                                                  telegram_api: FakeTelegram) -> None:
    with FakeRasa(lambda sender, body: KB_REPLY) as rasa:
        client = make_hub(rasa.url)
        update = {"update_id": 1, "message": {"message_id": 1, "date": 1_700_000_000, "text": "gift cards?",
                                              "from": {"id": 77, "is_bot": False, "first_name": "Ada"},
                                              "chat": {"id": 77, "type": "private"}}}
        client.post("/channels/telegram/webhook", json=update,
                    headers={"X-Telegram-Bot-Api-Secret-Token": "tg-webhook-secret"})
        question = telegram_api.wait_text(77, "Was this helpful?")
        keyboard = json.loads(question.params["reply_markup"])["inline_keyboard"]
        assert [row[0]["text"] for row in keyboard] == ["Yes", "No"]
        press = {"update_id": 2, "callback_query": {
            "id": "cbq-9", "from": {"id": 77, "is_bot": False, "first_name": "Ada"}, "chat_instance": "ci",
            "data": keyboard[1][0]["callback_data"],
            "message": {"message_id": 5, "date": 1_700_000_000, "chat": {"id": 77, "type": "private"},
                        "text": "Was this helpful?", "reply_markup": {"inline_keyboard": keyboard}}}}
        client.post("/channels/telegram/webhook", json=press,
                    headers={"X-Telegram-Bot-Api-Secret-Token": "tg-webhook-secret"})
        sorry = telegram_api.wait_text(77, "Sorry that didn't help")
        assert json.loads(sorry.params["reply_markup"])["inline_keyboard"][0][0]["text"] == "Talk to a person"
        rows = wait_until(lambda: [r for r in feedback_rows(client) if r.helpful is not None])
        assert [(r.kb_entry_id, r.helpful) for r in rows] == [("gift-cards", False)]
        assert [c.params.get("message") for c in rasa.calls if c.path == "/webhooks/rest/webhook"] == ["gift cards?"]  # the press never reached Rasa


def test_whatsapp_lists_yes_and_no_and_replying_1_records_yes(make_hub: HubFactory, twilio_api: FakeTwilio) -> None:
    with FakeRasa(lambda sender, body: KB_REPLY) as rasa:
        client = make_hub(rasa.url)
        twilio_post(client, HOOK, inbound("+393330001111", "gift cards?"))
        twilio_api.wait_message("whatsapp:+393330001111", "Was this helpful?")
        assert "Was this helpful?\n\n1. Yes\n2. No" in bodies(twilio_api, "+393330001111")[-1]
        twilio_post(client, HOOK, inbound("+393330001111", "1"))
        twilio_api.wait_message("whatsapp:+393330001111", "Glad it helped!")
        assert [(r.kb_entry_id, r.helpful) for r in feedback_rows(client)] == [("gift-cards", True)]
        assert [c.params.get("message") for c in rasa.calls if c.path == "/webhooks/rest/webhook"] == ["gift cards?"]
