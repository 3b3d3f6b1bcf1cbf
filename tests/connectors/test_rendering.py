"""One Markdown answer, rendered the way each channel shows it: through the hub, the real client libraries and
the local fakes (Telegram's HTML parse mode, WhatsApp's *bold*, plain SMS within segment limits)."""

from __future__ import annotations

import json
from typing import Any

from channel_support import HOOK, HubFactory, inbound, twilio_post
from connectors.sms import segments, split_sms, to_gsm
from fakes.rasa import FakeRasa
from fakes.telegram_api import FakeTelegram
from fakes.twilio_api import FakeTwilio

ANSWER = ("Gift cards are valid for **3 years** and work on _any_ product.\n\n"
          "- [Gift cards](https://brightcart.example/gift-cards)\n- Questions? Write to <help@brightcart.example>")
TG_HEADERS = {"X-Telegram-Bot-Api-Secret-Token": "tg-webhook-secret", "Content-Type": "application/json"}


def telegram_text(update_id: int, chat_id: int, body: str) -> str:
    return json.dumps({"update_id": update_id, "message": {
        "message_id": update_id, "date": 1_700_000_000, "text": body, "chat": {"id": chat_id, "type": "private"},
        "from": {"id": chat_id, "is_bot": False, "first_name": "Ada", "language_code": "en"}}})


def markdown_bot(sender: str, text: str) -> list[dict[str, Any]]:
    return [{"text": ANSWER, "buttons": [{"title": "Thanks", "payload": "/thanks"}]}]


def test_telegram_gets_html_parse_mode(make_hub: HubFactory, telegram_api: FakeTelegram) -> None:
    with FakeRasa(markdown_bot) as rasa:
        client = make_hub(rasa.url)
        client.post("/channels/telegram/webhook", content=telegram_text(1, 601, "gift cards?"), headers=TG_HEADERS)
        sent = telegram_api.wait_text(601, "Gift cards are valid", timeout=90)
    assert sent.params["parse_mode"] == "HTML"
    assert "<b>3 years</b>" in sent.params["text"] and "<i>any</i>" in sent.params["text"]
    assert '<a href="https://brightcart.example/gift-cards">Gift cards</a>' in sent.params["text"]
    assert "**" not in sent.params["text"]


def test_telegram_refusing_the_markup_gets_the_same_answer_as_plain_text(
    make_hub: HubFactory, telegram_api: FakeTelegram
) -> None:
    telegram_api.fail("sendMessage", 400, description="Bad Request: can't parse entities: unsupported start tag")
    with FakeRasa(markdown_bot) as rasa:
        client = make_hub(rasa.url)
        client.post("/channels/telegram/webhook", content=telegram_text(1, 602, "gift cards?"), headers=TG_HEADERS)
        plain = telegram_api.wait_text(602, "Gift cards are valid for 3 years", timeout=90)
    assert "parse_mode" not in plain.params
    assert "Gift cards: https://brightcart.example/gift-cards" in plain.params["text"]
    refused = [c for c in telegram_api.api_calls("sendMessage") if c.params.get("_status") == 400]
    assert len(refused) == 1 and refused[0].params["parse_mode"] == "HTML"


def test_whatsapp_gets_its_own_formatting_and_numbered_options(make_hub: HubFactory, twilio_api: FakeTwilio) -> None:
    with FakeRasa(markdown_bot) as rasa:
        client = make_hub(rasa.url)
        twilio_post(client, HOOK, inbound("+393331110000", "gift cards?"))
        body = twilio_api.wait_message("whatsapp:+393331110000", "Gift cards are valid", timeout=90).params["Body"]
    assert body.startswith("Gift cards are valid for *3 years* and work on _any_ product.")
    assert "• Gift cards: https://brightcart.example/gift-cards" in body  # bare link: WhatsApp makes it clickable
    assert body.endswith("1. Thanks\n\n(Reply with the number of your choice)")


def test_sms_is_plain_gsm_text_within_the_segment_limit(make_hub: HubFactory, twilio_api: FakeTwilio) -> None:
    long_answer = "Returns are free within **30 days** – here’s how:\n\n" + "\n".join(
        f"{n}. Step {n}: pack the item, print the label and drop it at any post office." for n in range(1, 12))
    with FakeRasa(lambda sender, text: [{"text": long_answer}]) as rasa:
        client = make_hub(rasa.url, sms_max_segments=2)
        form = {"MessageSid": "SMrender01", "From": "+15550001111", "To": "+15005550006", "Body": "returns?",
                "NumMedia": "0"}
        twilio_post(client, "/channels/sms/webhook", form)
        twilio_api.wait_message("+15550001111", "Step 11", timeout=90)
    parts = [str(c.params["Body"]) for c in twilio_api.messages("+15550001111")]
    assert len(parts) > 1
    assert parts[0].startswith("Returns are free within 30 days - here's how:")  # GSM-7, no Markdown markers
    assert all(segments(p).encoding == "gsm7" and segments(p).count <= 2 for p in parts)
    assert " ".join(parts).count("Step ") == 11


def test_gsm_segments_and_splitting() -> None:
    assert segments("a" * 160).count == 1 and segments("a" * 161).count == 2
    assert segments("€" * 80).count == 1 and segments("€" * 81).count == 2  # extension characters cost two
    assert segments("ciao “Anna”").encoding == "ucs2" and segments(to_gsm("ciao “Anna”")).encoding == "gsm7"
    assert segments("你好" * 35).count == 1 and segments("你好" * 36).count == 2
    parts = split_sms("word " * 300, 3)
    assert all(segments(p).count <= 3 for p in parts) and " ".join(parts).split() == ["word"] * 300
    assert split_sms("", 3) == []
