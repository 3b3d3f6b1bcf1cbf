"""Proactive notifications through the hub and the real channel clients against local fakes: templates per
language, sending now or later, WhatsApp's window and approved templates, opt-out and opt-in, replies that
continue the conversation, bulk sends within a channel's rate limit, and schedules that survive a restart."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient

from channel_support import (
    ADMIN, AGENT, HOOK, HubFactory, bodies, close_window, conversations, inbound, transcript, twilio_post, wait_until,
)
from fakes.rasa import FakeRasa
from fakes.telegram_api import FakeTelegram
from fakes.twilio_api import FakeTwilio

SID = "HX" + "ab" * 16
DELAYED = {"template": "shipment_delayed", "params": {"order_number": "BC-1001", "new_date": "venerdì 4 dicembre"}}
TG_HEADERS = {"X-Telegram-Bot-Api-Secret-Token": "tg-webhook-secret", "Content-Type": "application/json"}


def customer_wrote(client: TestClient, phone: str, text: str = "ciao, dov'è il mio ordine?") -> None:
    twilio_post(client, HOOK, inbound(phone, text))
    # the first message of a hub waits for the language model (tens of seconds on a busy machine)
    wait_until(lambda: [m for m in transcript(client, "whatsapp", phone) if m["sender"] == "bot"], timeout=90)


def send(client: TestClient, *recipients: dict[str, Any], **body: Any) -> Any:
    return client.post("/api/notifications", headers=AGENT, json={**DELAYED, **body, "recipients": list(recipients)})


def notification(client: TestClient, notification_id: str) -> dict[str, Any]:
    return client.get(f"/api/notifications/{notification_id}", headers=AGENT).json()["notification"]


def telegram_update(update_id: int, chat_id: int, text: str) -> str:
    return json.dumps({"update_id": update_id, "message": {
        "message_id": update_id, "date": 1_700_000_000, "text": text, "chat": {"id": chat_id, "type": "private"},
        "from": {"id": chat_id, "is_bot": False, "first_name": "Ada", "language_code": "en"}}})


def test_a_notification_goes_out_in_the_customers_language_and_their_reply_continues_with_the_bot(
    make_hub: HubFactory, twilio_api: FakeTwilio
) -> None:
    with FakeRasa(lambda sender, text: [{"text": f"Bot: {text}"}]) as rasa:
        client = make_hub(rasa.url)
        phone = "+393331000001"
        customer_wrote(client, phone)  # an Italian conversation, inside WhatsApp's window
        conv = conversations(client, "whatsapp", phone)[0]
        assert conv["language"] == "it"

        resp = send(client, {"channel": "whatsapp", "customer": phone})
        assert resp.status_code == 202, resp.text
        [sent] = resp.json()["notifications"]
        assert sent["state"] == "sent" and sent["delivery_status"] == "sent" and sent["language"] == "it"
        body = twilio_api.wait_message(f"whatsapp:{phone}", "BC-1001").params["Body"]
        assert body.startswith("Ciao! Il tuo ordine *BC-1001* è in ritardo: ora dovrebbe arrivare il "
                               "*venerdì 4 dicembre*.")
        message = [m for m in transcript(client, "whatsapp", phone) if m["event"] == "notification"][0]
        assert message["delivery_status"] == "sent" and message["sender"] == "bot"

        twilio_post(client, HOOK, inbound(phone, "grazie, ma posso cambiare indirizzo?"))
        rasa.wait_for(lambda calls: [c for c in calls if "cambiare indirizzo" in str(c.params.get("message"))])
    assert len(conversations(client, "whatsapp", phone)) == 1  # the same conversation, with the bot
    assert [m["text"] for m in transcript(client, "whatsapp", phone)][-1] == "Bot: grazie, ma posso cambiare indirizzo?"


def test_outside_the_window_the_approved_template_is_sent_and_without_one_it_fails_saying_why(
    make_hub: HubFactory, twilio_api: FakeTwilio, rasa: FakeRasa
) -> None:
    client = make_hub(rasa.url)
    phone = "+393331000002"
    customer_wrote(client, phone)
    close_window(client, phone)

    failed = send(client, {"channel": "whatsapp", "customer": phone}).json()
    assert any("no approved twilio template for it" in w for w in failed["warnings"])
    n = failed["notifications"][0]
    assert n["state"] == "failed" and n["delivery_status"] == "failed"
    assert "outside WhatsApp's 24-hour window" in n["error"] and "no approved WhatsApp template" in n["error"]
    assert not [c for c in twilio_api.messages(f"whatsapp:{phone}") if "BC-1001" in str(c.params)]

    template = client.get("/api/notifications/templates/shipment_delayed", headers=AGENT).json()["template"]
    template["channels"]["twilio"] = {"it": {"content_sid": SID, "variables": ["order_number", "new_date"]}}
    del template["key"], template["updated_by"], template["updated_at"]
    assert client.put("/api/notifications/templates/shipment_delayed", headers=ADMIN, json=template).status_code == 200

    ok = send(client, {"channel": "whatsapp", "customer": phone}).json()["notifications"][0]
    assert ok["state"] == "sent" and ok["delivery_status"] == "sent"
    call = twilio_api.wait_message(f"whatsapp:{phone}", ContentSid=SID)
    assert json.loads(call.params["ContentVariables"]) == {"1": "BC-1001", "2": "venerdì 4 dicembre"}


def test_stop_opts_out_the_next_send_is_skipped_and_start_opts_in_again(
    make_hub: HubFactory, twilio_api: FakeTwilio, rasa: FakeRasa
) -> None:
    client = make_hub(rasa.url)
    phone = "+393331000003"
    customer_wrote(client, phone)
    twilio_post(client, HOOK, inbound(phone, "STOP"))
    twilio_api.wait_message(f"whatsapp:{phone}", "Non riceverai più messaggi")
    stop = [m for m in transcript(client, "whatsapp", phone) if m["text"] == "STOP"][0]
    assert stop["outcome"] == "opt_out"
    assert not [c for c in rasa.calls if c.params.get("message") == "STOP"]  # never the bot's
    assert client.get("/api/notifications/consent", headers=AGENT,
                      params={"channel": "whatsapp", "customer": phone}).json()["opted_out"] is True

    skipped = send(client, {"channel": "whatsapp", "customer": phone}).json()["notifications"][0]
    assert skipped["state"] == "skipped" and "opted out" in skipped["error"]
    assert not [b for b in bodies(twilio_api, phone) if "BC-1001" in b]

    twilio_post(client, HOOK, inbound(phone, "start"))
    twilio_api.wait_message(f"whatsapp:{phone}", "Bentornato")
    again = send(client, {"channel": "whatsapp", "customer": phone}).json()["notifications"][0]
    assert again["state"] == "sent"
    twilio_api.wait_message(f"whatsapp:{phone}", "BC-1001")


def test_an_opt_out_between_scheduling_and_sending_is_respected(
    make_hub: HubFactory, twilio_api: FakeTwilio, rasa: FakeRasa
) -> None:
    client = make_hub(rasa.url, notify_poll_s=0.1)
    phone = "+393331000004"
    customer_wrote(client, phone)
    at = (datetime.now(timezone.utc) + timedelta(seconds=1.5)).isoformat()
    scheduled = send(client, {"channel": "whatsapp", "customer": phone}, send_at=at).json()["notifications"][0]
    assert scheduled["state"] == "scheduled"
    twilio_post(client, HOOK, inbound(phone, "ANNULLA"))
    assert wait_until(lambda: notification(client, scheduled["id"])["state"] == "skipped")
    assert not [b for b in bodies(twilio_api, phone) if "BC-1001" in b]


def test_telegram_stop_and_start(make_hub: HubFactory, telegram_api: FakeTelegram, rasa: FakeRasa) -> None:
    client = make_hub(rasa.url)
    client.post("/channels/telegram/webhook", content=telegram_update(1, 701, "/start"), headers=TG_HEADERS)
    telegram_api.wait_text(701, "You said: /start", timeout=90)  # a new user's /start is the bot's greeting
    client.post("/channels/telegram/webhook", content=telegram_update(2, 701, "/stop"), headers=TG_HEADERS)
    telegram_api.wait_text(701, "Reply /start at any time")
    skipped = send(client, {"channel": "telegram", "customer": "701"}).json()["notifications"][0]
    assert skipped["state"] == "skipped"
    client.post("/channels/telegram/webhook", content=telegram_update(3, 701, "/start"), headers=TG_HEADERS)
    telegram_api.wait_text(701, "Welcome back")
    sent = send(client, {"channel": "telegram", "customer": "701"}).json()["notifications"][0]
    assert sent["state"] == "sent"
    html = telegram_api.wait_text(701, "BC-1001").params
    assert "<b>BC-1001</b>" in html["text"] and html["parse_mode"] == "HTML"


def test_an_agents_notification_brings_the_reply_to_that_agent(make_hub: HubFactory, twilio_api: FakeTwilio) -> None:
    with FakeRasa() as rasa:
        client = make_hub(rasa.url)
        phone = "+393331000005"
        customer_wrote(client, phone)
        resp = send(client, {"channel": "whatsapp", "customer": phone}, reply_to="agent").json()
        assert resp["notifications"][0]["state"] == "sent"
        twilio_api.wait_message(f"whatsapp:{phone}", "alice: Ciao! Il tuo ordine")
        conv = conversations(client, "whatsapp", phone)[0]
        assert conv["status"] == "assigned" and conv["assigned_agent"] == "alice"
        assert not [b for b in bodies(twilio_api, phone) if "has joined" in b or "si è unit" in b]
        before = len(rasa.calls)
        twilio_post(client, HOOK, inbound(phone, "ok, grazie Alice"))
        wait_until(lambda: [m for m in transcript(client, "whatsapp", phone) if m["text"] == "ok, grazie Alice"])
        assert len(rasa.calls) == before  # the agent answers, not the bot
        reply = client.post(f"/api/agent/conversations/{conv['id']}/reply", headers=AGENT, json={"text": "Prego!"})
        assert reply.status_code == 200


def test_a_scheduled_send_waits_and_can_be_cancelled(make_hub: HubFactory, twilio_api: FakeTwilio,
                                                     rasa: FakeRasa) -> None:
    client = make_hub(rasa.url, notify_poll_s=0.1)
    first, second = "+393331000006", "+393331000007"
    for phone in (first, second):
        customer_wrote(client, phone)
    at = (datetime.now(timezone.utc) + timedelta(seconds=1)).isoformat()
    batch = send(client, {"channel": "whatsapp", "customer": first}, {"channel": "whatsapp", "customer": second},
                 send_at=at).json()
    ids = {n["customer"]: n["id"] for n in batch["notifications"]}
    assert {n["state"] for n in batch["notifications"]} == {"scheduled"}
    assert client.post(f"/api/notifications/{ids[second]}/cancel", headers=AGENT).json()["notification"]["state"] == \
        "cancelled"
    assert not [b for b in bodies(twilio_api, first) if "BC-1001" in b]  # not yet
    twilio_api.wait_message(f"whatsapp:{first}", "BC-1001")
    assert client.post(f"/api/notifications/{ids[first]}/cancel", headers=AGENT).status_code == 422
    listed = client.get("/api/notifications", headers=AGENT, params={"batch_id": batch["batch_id"]}).json()
    assert {n["customer"]: n["state"] for n in listed["notifications"]} == {first: "sent", second: "cancelled"}
    time.sleep(0.5)
    assert not [b for b in bodies(twilio_api, second) if "BC-1001" in b]


def test_a_bulk_send_keeps_the_channels_rate(make_hub: HubFactory, twilio_api: FakeTwilio) -> None:
    client = make_hub(notify_rate_limits=("sms=2/1",), notify_poll_s=0.1)
    phones = [f"+1555000{n:04d}" for n in range(5)]
    resp = client.post("/api/notifications", headers=AGENT, json={
        "text": "Our store opens at 10 tomorrow.", "recipients": [{"channel": "sms", "customer": p} for p in phones]})
    assert resp.status_code == 202 and len(resp.json()["notifications"]) == 5
    wait_until(lambda: len([c for c in twilio_api.messages() if "store opens" in str(c.params.get("Body"))]) == 5)
    times = sorted(c.at for c in twilio_api.messages() if "store opens" in str(c.params.get("Body")))
    # aiolimiter's leaky bucket: a burst of 2, then 2 a second: 5 messages take at least a second
    assert times[-1] - times[0] >= 0.9
    assert {c.params["To"] for c in twilio_api.messages() if "store opens" in str(c.params.get("Body"))} == set(phones)


def test_a_schedule_survives_a_restart(make_hub: HubFactory, twilio_api: FakeTwilio, rasa: FakeRasa) -> None:
    first = make_hub(rasa.url)
    phone = "+393331000008"
    customer_wrote(first, phone)
    at = (datetime.now(timezone.utc) + timedelta(seconds=2)).isoformat()
    scheduled = send(first, {"channel": "whatsapp", "customer": phone}, send_at=at).json()["notifications"][0]
    first.__exit__(None, None, None)  # the hub stops before it is due
    second = make_hub(rasa.url, notify_poll_s=0.1)
    twilio_api.wait_message(f"whatsapp:{phone}", "BC-1001", timeout=15)
    assert notification(second, scheduled["id"])["state"] == "sent"
    assert len([b for b in bodies(twilio_api, phone) if "BC-1001" in b]) == 1


def test_bad_sends_are_refused_with_reasons(make_hub: HubFactory, rasa: FakeRasa) -> None:
    client = make_hub(rasa.url)
    assert send(client, {"channel": "whatsapp", "customer": "+39333"}, template="nope").status_code == 404
    naive = send(client, {"channel": "whatsapp", "customer": "+39333"}, send_at="2030-01-01T09:00:00")
    assert naive.status_code == 422 and "time zone" in naive.json()["detail"]
    both = client.post("/api/notifications", headers=AGENT, json={**DELAYED, "text": "hi",
                                                                   "recipients": [{"channel": "sms", "customer": "+1"}]})
    assert both.status_code == 422
    mixed = client.post("/api/notifications", headers=AGENT, json={
        "template": "shipment_delayed", "params": {"order_number": "BC-1"},
        "recipients": [{"channel": "sms", "customer": "+15550001"},
                       {"channel": "sms", "customer": "+15550002", "params": {"new_date": "Friday"}},
                       {"channel": "fax", "customer": "+15550003"}]}).json()
    assert [n["customer"] for n in mixed["notifications"]] == ["+15550002"]
    assert {r["customer"]: r["error"] for r in mixed["refused"]} == {
        "+15550001": "missing parameters: new_date",
        "+15550003": "channel 'fax' is not enabled (enabled: sms, telegram, web, whatsapp)"}
    assert client.post("/api/notifications", json={**DELAYED, "recipients": [{"channel": "sms", "customer": "+1"}]}
                       ).status_code == 401


def test_templates_are_validated_and_only_editors_change_them(make_hub: HubFactory) -> None:
    client = make_hub()
    good = {"name": "Back in stock", "parameters": ["product"],
            "variants": {"en": "**{product}** is back in stock.", "it-IT": "**{product}** è di nuovo disponibile."},
            "channels": {"whatsapp_cloud": {"it": {"name": "back_in_stock", "language": "it",
                                                   "parameters": ["product"]}}}}
    assert client.put("/api/notifications/templates/back-in-stock", headers=AGENT, json=good).status_code == 403
    saved = client.put("/api/notifications/templates/back-in-stock", headers=ADMIN, json=good)
    assert saved.status_code == 200 and set(saved.json()["template"]["variants"]) == {"en", "it-IT"}
    bad_slot = {**good, "variants": {"en": "{product} for {name}"}}
    resp = client.put("/api/notifications/templates/back-in-stock", headers=ADMIN, json=bad_slot)
    assert resp.status_code == 422 and "{name}" in resp.text
    bad_sid = {**good, "channels": {"twilio": {"en": {"content_sid": "HX123", "variables": []}}}}
    assert "32 hexadecimal" in client.put("/api/notifications/templates/x", headers=ADMIN, json=bad_sid).text
    keys = [t["key"] for t in client.get("/api/notifications/templates", headers=AGENT).json()["templates"]]
    assert keys == ["back-in-stock", "shipment_delayed"]


def test_the_unsubscribe_link_records_the_choice(make_hub: HubFactory) -> None:
    from connectors.unsubscribe import unsubscribe_token

    client = make_hub(session_secret="s3cret")
    token = unsubscribe_token("s3cret", "sms", "+15550009")
    page = client.get("/unsubscribe", params={"t": token})
    assert page.status_code == 200 and "Unsubscribe from these messages" in page.text
    done = client.post("/unsubscribe", params={"t": token}, data={"action": "out"})
    assert done.status_code == 200 and "+15550009" in done.text
    assert client.get("/api/notifications/consent", headers=AGENT,
                      params={"channel": "sms", "customer": "+15550009"}).json()["source"] == "unsubscribe link"
    assert "Receive these messages again" in client.get("/unsubscribe", params={"t": token}).text
    client.post("/unsubscribe", params={"t": token}, data={"action": "in"})
    assert client.get("/api/notifications/consent", headers=AGENT,
                      params={"channel": "sms", "customer": "+15550009"}).json()["opted_out"] is False
    assert client.get("/unsubscribe", params={"t": token[:-3]}).status_code == 400
    assert client.post("/unsubscribe", params={"t": "forged"}, data={"action": "out"}).status_code == 400
