"""What the channels lacked: Telegram files kept for agents, outgoing media checked against each channel's
limit, Twilio's 63016 (outside the window) answered with the approved template, and a customer's identities
on several channels linked, automatically and by agents."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from channel_support import (
    AGENT, HOOK, STATUS, HubFactory, bodies, connector, conversations, handed_off, inbound, transcript, twilio_post,
    wait_until,
)
from fakes.rasa import FakeRasa
from fakes.telegram_api import FakeTelegram
from fakes.twilio_api import FakeTwilio

TG_HEADERS = {"X-Telegram-Bot-Api-Secret-Token": "tg-webhook-secret", "Content-Type": "application/json"}
TEMPLATE = "HX" + "cd" * 16


def telegram(client: TestClient, update_id: int, chat_id: int, **content: Any) -> Any:
    update = {"update_id": update_id, "message": {
        "message_id": update_id, "date": 1_700_000_000, "chat": {"id": chat_id, "type": "private"},
        "from": {"id": chat_id, "is_bot": False, "first_name": "Ada", "language_code": "en"}, **content}}
    return client.post("/channels/telegram/webhook", content=json.dumps(update), headers=TG_HEADERS)


def test_a_telegram_photo_and_document_are_kept_for_agents(make_hub: HubFactory, telegram_api: FakeTelegram,
                                                            rasa: FakeRasa) -> None:
    client = make_hub(rasa.url)
    photo = b"\xff\xd8\xff\xe0" + b"\x10" * 3000
    telegram_api.add_file("PHOTO-BIG", photo, "photos/file_7.jpg")
    pdf = b"%PDF-1.4 receipt"
    telegram_api.add_file("DOC-1", pdf, "documents/receipt.pdf")
    telegram(client, 1, 801, caption="the parcel", photo=[
        {"file_id": "PHOTO-SMALL", "file_unique_id": "s", "width": 90, "height": 90, "file_size": 900},
        {"file_id": "PHOTO-BIG", "file_unique_id": "b", "width": 1280, "height": 960, "file_size": len(photo)}])
    telegram(client, 2, 801, document={"file_id": "DOC-1", "file_unique_id": "d", "file_name": "receipt.pdf",
                                       "mime_type": "application/pdf", "file_size": len(pdf)})
    messages = wait_until(lambda: [m for m in transcript(client, "telegram", "801") if m["sender"] == "customer"]
                          if len([m for m in transcript(client, "telegram", "801") if m["sender"] == "customer"]) == 2
                          else None, timeout=90)
    assert messages[0]["text"] == "the parcel" and messages[1]["text"] == "[document: receipt.pdf]"
    got_photo = client.get(f"/api/agent/media/{messages[0]['media'][0]['media_id']}", headers=AGENT)
    assert got_photo.content == photo and got_photo.headers["content-type"] == "image/jpeg"
    got_pdf = client.get(f"/api/agent/media/{messages[1]['media'][0]['media_id']}", headers=AGENT)
    assert got_pdf.content == pdf and "receipt.pdf" in got_pdf.headers["content-disposition"]
    assert got_pdf.headers["x-content-type-options"] == "nosniff"
    assert client.get("/api/agent/media/not-an-id", headers=AGENT).status_code == 404


def test_outgoing_media_over_a_channels_limit_fails_with_the_reason(make_hub: HubFactory, telegram_api: FakeTelegram,
                                                                     twilio_api: FakeTwilio) -> None:
    huge = twilio_api.add_media("catalogue.jpg", 6 * 1024 * 1024)  # Telegram fetches photos up to 5 MB
    small = twilio_api.add_media("label.jpg", 1000)
    with FakeRasa(lambda s, t: [{"text": "Here:", "image": huge if "catalogue" in t else small}]) as rasa:
        client = make_hub(rasa.url)
        telegram(client, 1, 802, text="label please")
        telegram_api.wait_for(lambda calls: telegram_api.api_calls("sendPhoto"), timeout=90)
        telegram(client, 2, 802, text="catalogue please")
        failed = wait_until(lambda: [m for m in transcript(client, "telegram", "802")
                                     if m["delivery_status"] == "failed"], timeout=30)
    assert failed[0]["text"] == "Here:"
    letter = client.get("/api/agent/dead-letters", headers=AGENT).json()["dead_letters"][0]
    assert letter["last_error"] == ("not sent: catalogue.jpg (6 MB) is larger than the 5 MB Telegram accepts for "
                                    "images; send a smaller file or a link to it")
    assert len(telegram_api.api_calls("sendPhoto")) == 1  # only the small one


def test_twilio_63016_sends_the_message_again_as_the_template(make_hub: HubFactory, twilio_api: FakeTwilio) -> None:
    client = make_hub(whatsapp_template_sid=TEMPLATE)
    phone = "+393330000301"
    conv = handed_off(client, twilio_api, phone)
    reply = client.post(f"/api/agent/conversations/{conv}/reply", headers=AGENT, json={"text": "It ships today."})
    assert reply.json()["message"]["delivery_status"] == "sent"
    sid = connector(client).state.for_message(reply.json()["message"]["id"])[0].provider_id
    # Twilio's clock says the window had closed: error 63016 on the status callback
    twilio_post(client, STATUS, {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "63016",
                                 "AccountSid": "x", "To": f"whatsapp:{phone}"})
    twilio_api.wait_message(f"whatsapp:{phone}", ContentSid=TEMPLATE)
    wait_until(lambda: [m for m in transcript(client, "whatsapp", phone)
                        if m["text"] == "It ships today." and m["delivery_status"] == "parked"])
    twilio_post(client, HOOK, inbound(phone, "ok?"))
    wait_until(lambda: bodies(twilio_api, phone).count("alice: It ships today.") == 2)


def test_a_customers_identities_are_linked_by_phone_contact_and_agents(make_hub: HubFactory, twilio_api: FakeTwilio,
                                                                       telegram_api: FakeTelegram, rasa: FakeRasa) -> None:
    client = make_hub(rasa.url)
    phone = "+393330000302"
    twilio_post(client, HOOK, inbound(phone, "hi on whatsapp"))
    twilio_post(client, "/channels/sms/webhook", {"MessageSid": "SMlink1", "From": phone, "To": "+15005550006",
                                                   "Body": "hi by sms", "NumMedia": "0"})
    telegram(client, 1, 803, text="hi on telegram")
    telegram(client, 2, 803, contact={"phone_number": "39 333 000 0302", "first_name": "Ada", "user_id": 803})
    wa = wait_until(lambda: conversations(client, "whatsapp", phone), timeout=90)[0]
    sms = wait_until(lambda: conversations(client, "sms", phone))[0]
    tg = wait_until(lambda: [c for c in conversations(client, "telegram", "803") if c["customer_key"]])[0]
    assert wa["customer_key"] == sms["customer_key"] == tg["customer_key"] == f"tel:{phone}"
    detail = client.get(f"/api/agent/conversations/{tg['id']}", headers=AGENT).json()
    assert {c["channel"] for c in detail["customer"]["conversations"]} == {"whatsapp", "sms"}

    # Someone else's contact shared in Telegram proves nothing about the sender.
    telegram(client, 3, 804, text="hello")
    telegram(client, 4, 804, contact={"phone_number": phone, "first_name": "Bob", "user_id": 999})
    wait_until(lambda: len(transcript(client, "telegram", "804")) >= 2)
    assert conversations(client, "telegram", "804")[0]["customer_key"] is None

    # An agent links the other Telegram chat to the customer: the link is the customer's everywhere.
    other = conversations(client, "telegram", "804")[0]["id"]
    assert client.post(f"/api/agent/conversations/{wa['id']}/customer", headers=AGENT,
                       json={"customer_key": "ada@example.com"}).status_code == 200
    assert client.post(f"/api/agent/conversations/{other}/customer", headers=AGENT,
                       json={"customer_key": "ada@example.com"}).status_code == 200
    keys = {c["channel"] + c["customer"]: c["customer_key"]
            for c in client.get("/api/agent/conversations", headers=AGENT).json()["conversations"]}
    assert set(keys.values()) == {"ada@example.com"}
