"""WhatsApp and SMS through the hub: the real twilio `Client` talking to a fake Twilio REST API on loopback,
webhooks signed with Twilio's own `RequestValidator` over the public URL."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from twilio.request_validator import RequestValidator

from channel_support import (
    AGENT, HOOK, PUBLIC, SMS_FROM, STATUS, TW_TOKEN, WA_FROM, HubFactory, bodies, close_window, connector,
    conversations, handed_off, inbound, run, transcript, twilio_post,
)
from fakes.rasa import FakeRasa
from fakes.twilio_api import FakeTwilio


def test_whatsapp_text_gets_the_bots_answer_and_a_numbered_reply_picks_a_button(
    make_hub: HubFactory, twilio_api: FakeTwilio
) -> None:
    with FakeRasa(lambda sender, body: [{"text": f"You said: {body}", "buttons": [
        {"title": "Track my order", "payload": "/track_order"}, {"title": "Returns", "payload": "/returns"}]}]
    ) as rasa:
        client = make_hub(rasa.url)
        resp = twilio_post(client, HOOK, inbound("+393331112222", "where is my order?"))
        assert resp.status_code == 200 and resp.text.endswith("<Response/>")
        assert "xml" in resp.headers["content-type"]
        sent = twilio_api.wait_message("whatsapp:+393331112222", "You said: where is my order?")
        assert sent.params["From"] == WA_FROM
        assert sent.params["StatusCallback"] == PUBLIC + STATUS
        assert "1. Track my order\n2. Returns" in sent.params["Body"]

        twilio_post(client, HOOK, inbound("+393331112222", "2"))
        rasa.wait_for(lambda calls: [c for c in calls if c.params.get("message") == "/returns"])
        conv = conversations(client, "whatsapp", "+393331112222")[0]
        assert conv["customer_name"] == "Bruno"
        customer = [m["text"] for m in transcript(client, "whatsapp", "+393331112222") if m["sender"] == "customer"]
        assert customer == ["where is my order?", "Returns"]


def test_sms_goes_through_the_same_connector(make_hub: HubFactory, twilio_api: FakeTwilio, rasa: FakeRasa) -> None:
    client = make_hub(rasa.url)
    form = {"MessageSid": "SMsms0001", "From": "+15551234567", "To": SMS_FROM, "Body": "hi by sms", "NumMedia": "0"}
    assert twilio_post(client, "/channels/sms/webhook", form).status_code == 200
    sent = twilio_api.wait_message("+15551234567", "You said: hi by sms")
    assert sent.params["From"] == SMS_FROM and sent.params["StatusCallback"] == PUBLIC + "/channels/sms/status"


def test_handed_off_conversation_gets_the_agents_reply(make_hub: HubFactory, twilio_api: FakeTwilio) -> None:
    client = make_hub()  # Rasa on a dead port: the hub hands the conversation to a person
    phone = "+393330000001"
    conv_id = handed_off(client, twilio_api, phone)
    reply = client.post(f"/api/agent/conversations/{conv_id}/reply", headers=AGENT,
                        json={"text": "Sorry about that! A replacement ships today."})
    assert reply.status_code == 200 and reply.json()["message"]["delivery_status"] == "sent"
    twilio_api.wait_message(f"whatsapp:{phone}", "alice: Sorry about that! A replacement ships today.")


def test_a_replayed_message_sid_is_answered_once(make_hub: HubFactory, twilio_api: FakeTwilio,
                                                 rasa: FakeRasa) -> None:
    client = make_hub(rasa.url)
    form = inbound("+393330000002", "hello", sid="SMreplay0001")
    assert twilio_post(client, HOOK, form).status_code == 200
    assert twilio_post(client, HOOK, form).status_code == 200
    twilio_api.wait_message("whatsapp:+393330000002", "You said: hello")
    time.sleep(0.3)
    assert bodies(twilio_api, "+393330000002") == ["You said: hello"]


@pytest.mark.parametrize("case", ["missing", "wrong_token", "internal_url", "tampered"])
def test_bad_signatures_are_refused_and_nothing_stored(make_hub: HubFactory, twilio_api: FakeTwilio,
                                                       rasa: FakeRasa, case: str) -> None:
    client = make_hub(rasa.url)
    form = inbound("+393330000003", "let me in")
    if case == "missing":
        resp = twilio_post(client, HOOK, form, signature="")
    elif case == "wrong_token":
        resp = twilio_post(client, HOOK, form, token="not-the-token")
    elif case == "internal_url":  # signed for the address the hub listens on, not the public one
        resp = twilio_post(client, HOOK, form, url="http://testserver" + HOOK)
    else:
        sig = RequestValidator(TW_TOKEN).compute_signature(PUBLIC + HOOK, form)
        resp = twilio_post(client, HOOK, {**form, "Body": "changed"}, signature=sig)
    assert resp.status_code == 403
    assert conversations(client, "whatsapp", "+393330000003") == []
    assert twilio_api.messages() == [] and not [c for c in rasa.calls if c.path == "/webhooks/rest/webhook"]
    assert twilio_post(client, STATUS, {"MessageSid": "SM1", "MessageStatus": "read"}, signature="x").status_code == 403


@pytest.mark.parametrize("form", [{"Body": "no sid or sender"}, {"MessageSid": "SMx", "Body": "no sender"},
                                  {"MessageSid": "SMy", "From": "whatsapp:+1555", "NumMedia": "lots"}])
def test_malformed_forms_get_400(make_hub: HubFactory, rasa: FakeRasa, form: dict[str, str]) -> None:
    client = make_hub(rasa.url)
    assert twilio_post(client, HOOK, form).status_code == 400
    assert twilio_post(client, STATUS, {"MessageSid": "SMz"}).status_code == 400
    assert not [c for c in rasa.calls if c.path == "/webhooks/rest/webhook"]


def test_api_500_then_200_delivers_exactly_once_and_429_is_honoured(
    make_hub: HubFactory, twilio_api: FakeTwilio, rasa: FakeRasa
) -> None:
    client = make_hub(rasa.url)
    twilio_api.fail(500)
    twilio_post(client, HOOK, inbound("+393330000004", "first"))
    twilio_api.wait_message("whatsapp:+393330000004", "You said: first")
    time.sleep(0.3)
    assert bodies(twilio_api, "+393330000004") == ["You said: first"]
    assert len(twilio_api.messages(ok_only=False)) == 2

    twilio_api.fail(429, retry_after=1, code=20429, message="Too Many Requests")
    twilio_post(client, HOOK, inbound("+393330000004", "second"))
    ok = twilio_api.wait_message("whatsapp:+393330000004", "You said: second", timeout=15)
    limited = [c for c in twilio_api.messages(ok_only=False) if c.params["_status"] == 429][0]
    assert ok.at - limited.at >= 1.0


def test_a_4xx_from_twilio_is_not_retried(make_hub: HubFactory, twilio_api: FakeTwilio, rasa: FakeRasa) -> None:
    client = make_hub(rasa.url)
    twilio_api.fail(400, times=5, code=21211, message="Invalid 'To' Phone Number")
    twilio_post(client, HOOK, inbound("+393330000005", "hello"))
    twilio_api.wait_for(lambda calls: twilio_api.messages(ok_only=False))
    time.sleep(0.5)
    assert len(twilio_api.messages(ok_only=False)) == 1
    bot = [m for m in transcript(client, "whatsapp", "+393330000005") if m["sender"] == "bot"]
    assert [m["delivery_status"] for m in bot] == ["failed"]


def test_media_in_and_oversized_media_refused(make_hub: HubFactory, twilio_api: FakeTwilio, rasa: FakeRasa) -> None:
    client = make_hub(rasa.url)  # MAX_MEDIA_BYTES is 1 MB here
    phone = "+393330000006"
    small = twilio_api.add_media("photo.jpg", 20_000)
    big = twilio_api.add_media("video.mp4", 3_000_000)
    twilio_post(client, HOOK, inbound(phone, "", NumMedia="1", MediaUrl0=big, MediaContentType0="video/mp4"))
    refusal = twilio_api.wait_message(f"whatsapp:{phone}", "too large")
    assert "2.9 MB" in refusal.params["Body"] and "1 MB" in refusal.params["Body"]
    assert conversations(client, "whatsapp", phone) == []  # nothing stored
    twilio_post(client, HOOK, inbound(phone, "the label is torn", NumMedia="1", MediaUrl0=small,
                                      MediaContentType0="image/jpeg"))
    twilio_api.wait_message(f"whatsapp:{phone}", "You said: the label is torn")
    assert [m["text"] for m in transcript(client, "whatsapp", phone) if m["sender"] == "customer"] == \
        ["the label is torn"]


def test_outbound_media_and_status_callbacks_are_stored_per_message(
    make_hub: HubFactory, twilio_api: FakeTwilio
) -> None:
    with FakeRasa(lambda s, b: [{"text": "Here is the label", "image": "https://cdn.example.test/label.png"}]) as rasa:
        client = make_hub(rasa.url)
        phone = "+393330000007"
        twilio_post(client, HOOK, inbound(phone, "send me the label"))
        media = twilio_api.wait_for(lambda c: [m for m in twilio_api.messages(f"whatsapp:{phone}")
                                               if m.params.get("MediaUrl")])[0]
        assert media.params["MediaUrl"] == "https://cdn.example.test/label.png"
        text_msg = twilio_api.wait_message(f"whatsapp:{phone}", "Here is the label")
        bot = [m for m in transcript(client, "whatsapp", phone) if m["sender"] == "bot"][0]
        sids = [d.provider_id for d in connector(client).state.for_message(bot["id"])]
        assert len(sids) == 2
        text_sid = sids[0]
        assert text_msg is not None
        for status in ("sent", "delivered", "read", "sent"):  # the late "sent" must not move it back
            resp = twilio_post(client, STATUS, {"MessageSid": text_sid, "MessageStatus": status, "To": phone})
            assert resp.status_code == 204
        shown = {m["id"]: m["delivery_status"] for m in transcript(client, "whatsapp", phone)}
        assert shown[bot["id"]] == "read"  # what the agent sees on the message
        twilio_post(client, STATUS, {"MessageSid": sids[1], "MessageStatus": "failed", "ErrorCode": "63019"})
        shown = {m["id"]: m["delivery_status"] for m in transcript(client, "whatsapp", phone)}
        assert shown[bot["id"]] == "failed"  # part of it (the image) did not arrive
        statuses = {d.provider_id: (d.status, d.error_code) for d in connector(client).state.for_message(bot["id"])}
        assert statuses == {text_sid: ("read", None), sids[1]: ("failed", "63019")}


def test_24_hour_window_without_a_template_fails_clearly(make_hub: HubFactory, twilio_api: FakeTwilio) -> None:
    client = make_hub()  # dead Rasa: the conversation goes to a person
    phone = "+393330000008"
    conv_id = handed_off(client, twilio_api, phone)
    close_window(client, phone, hours=25)
    before = len(twilio_api.messages())
    reply = client.post(f"/api/agent/conversations/{conv_id}/reply", headers=AGENT, json={"text": "Still there?"})
    assert reply.json()["message"]["delivery_status"] == "failed"  # the agent sees it did not go out
    assert len(twilio_api.messages()) == before  # nothing sent, and not retried


def test_24_hour_window_sends_the_template_then_the_parked_reply(make_hub: HubFactory,
                                                                 twilio_api: FakeTwilio) -> None:
    client = make_hub(whatsapp_template_sid="HX" + "a" * 32)
    phone = "+393330000009"
    conv_id = handed_off(client, twilio_api, phone)
    close_window(client, phone)

    for text in ("Your refund was approved.", "Anything else?"):
        reply = client.post(f"/api/agent/conversations/{conv_id}/reply", headers=AGENT, json={"text": text})
        assert reply.json()["message"]["delivery_status"] == "parked"  # what the agent sees on the message
    templates = [c for c in twilio_api.messages(f"whatsapp:{phone}") if c.params.get("ContentSid")]
    assert [c.params["ContentSid"] for c in templates] == ["HX" + "a" * 32]  # sent once, not per message
    assert not [b for b in bodies(twilio_api, phone) if "refund" in b]  # free text held back

    twilio_post(client, HOOK, inbound(phone, "yes?"))  # the customer answers: the window is open again
    first = twilio_api.wait_message(f"whatsapp:{phone}", "alice: Your refund was approved.")
    second = twilio_api.wait_message(f"whatsapp:{phone}", "alice: Anything else?")
    assert first.at <= second.at
    assert len([b for b in bodies(twilio_api, phone) if "refund" in b]) == 1
    shown = {m["text"]: m["delivery_status"] for m in transcript(client, "whatsapp", phone)}
    assert shown["Your refund was approved."] == shown["Anything else?"] == "sent"

    # A day later the window has closed again (the customer's "yes?" came after the first template).
    run(connector(client).state.template_sent("whatsapp", phone, datetime.now(timezone.utc) - timedelta(hours=31)))
    close_window(client, phone)
    reply = client.post(f"/api/agent/conversations/{conv_id}/reply", headers=AGENT, json={"text": "One more thing"})
    assert reply.json()["message"]["delivery_status"] == "parked"
    templates = [c for c in twilio_api.messages(f"whatsapp:{phone}") if c.params.get("ContentSid")]
    assert len(templates) == 2
