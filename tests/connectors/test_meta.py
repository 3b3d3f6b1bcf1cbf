"""Facebook Messenger and the WhatsApp Cloud API through the hub, against a fake Graph API on loopback: the
verification handshake, signatures on the raw body, messages, buttons, media in and out, statuses (out of
order, forward only), replayed notifications and the 24-hour window."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient

from channel_support import ADMIN, AGENT, HubFactory, conversations, run, transcript, wait_until
from fakes.graph_api import FakeGraph, messenger_notification, signed_body, whatsapp_notification
from fakes.rasa import FakeRasa

APP_SECRET = "meta-app-secret"
VERIFY = "meta-verify-token"
TOKEN = "EAAG-test-token"
WA_HOOK = "/channels/whatsapp_cloud/webhook"
FB_HOOK = "/channels/messenger/webhook"
_ids = iter(range(1, 10_000))


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with FakeGraph(TOKEN) as fake:
        yield fake


@pytest.fixture
def meta_hub(make_hub: HubFactory, graph: FakeGraph) -> Any:
    def make(rasa_url: str | None = None, **overrides: Any) -> TestClient:
        values: dict[str, Any] = dict(
            enabled_channels=("web", "messenger", "whatsapp_cloud"), meta_app_secret=APP_SECRET,
            meta_verify_token=VERIFY, meta_graph_base_url=graph.url, messenger_page_token=TOKEN,
            whatsapp_cloud_token=TOKEN, whatsapp_cloud_phone_number_id=graph.phone_number_id)
        values.update(overrides)
        return make_hub(rasa_url, **values)
    return make


def post(client: TestClient, path: str, notification: dict[str, Any], secret: str = APP_SECRET) -> Any:
    body, headers = signed_body(secret, notification)
    return client.post(path, content=body, headers=headers)


def wa_text(phone: str, text: str, wamid: str | None = None) -> dict[str, Any]:
    return {"from": phone, "id": wamid or f"wamid.IN{next(_ids):06d}", "timestamp": "1700000000", "type": "text",
            "text": {"body": text}}


def fb_text(psid: str, text: str, mid: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"sender": {"id": psid}, "recipient": {"id": "PAGE1"}, "timestamp": 1_700_000_000_000,
            "message": {"mid": mid or f"m_in{next(_ids):06d}", "text": text, **extra}}


def buttons_bot(sender: str, text: str) -> list[dict[str, Any]]:
    return [{"text": f"You said: **{text}**", "buttons": [{"title": "Track my order", "payload": "/track_order"},
                                                          {"title": "Returns", "payload": "/returns"}]}]


@pytest.mark.parametrize("path", [WA_HOOK, FB_HOOK])
def test_verification_handshake(meta_hub: Any, path: str) -> None:
    client = meta_hub()
    ok = client.get(path, params={"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"})
    assert ok.status_code == 200 and ok.text == "1158201444"
    assert client.get(path, params={"hub.mode": "subscribe", "hub.verify_token": "nope",
                                    "hub.challenge": "x"}).status_code == 403


@pytest.mark.parametrize("path,notification", [
    (WA_HOOK, whatsapp_notification(messages=[wa_text("393331234567", "hi")])),
    (FB_HOOK, messenger_notification(fb_text("psid-1", "hi"))),
])
def test_bad_signatures_are_refused_and_nothing_is_stored(meta_hub: Any, rasa: FakeRasa, path: str,
                                                          notification: dict[str, Any]) -> None:
    client = meta_hub(rasa.url)
    assert post(client, path, notification, secret="wrong-secret").status_code == 403
    body, headers = signed_body(APP_SECRET, notification)
    assert client.post(path, content=body, headers={"Content-Type": "application/json"}).status_code == 403
    assert client.post(path, content=body + b" ", headers=headers).status_code == 403  # signed bytes, not JSON
    assert client.get("/api/agent/conversations", headers=AGENT).json()["conversations"] == []
    assert rasa.calls == []


@pytest.mark.parametrize("path,body", [
    (WA_HOOK, b"not json"),
    (WA_HOOK, json.dumps({"object": "page", "entry": []}).encode()),
    (WA_HOOK, json.dumps(whatsapp_notification(messages=[{"from": "393", "type": "text"}])).encode()),
    (FB_HOOK, json.dumps({"object": "page", "entry": [{"messaging": [{"message": {"mid": "m1"}}]}]}).encode()),
])
def test_malformed_bodies_get_400_with_nothing_stored(meta_hub: Any, rasa: FakeRasa, path: str, body: bytes) -> None:
    from connectors.meta.webhook import signature

    client = meta_hub(rasa.url)
    resp = client.post(path, content=body, headers={"Content-Type": "application/json",
                                                    "X-Hub-Signature-256": signature(APP_SECRET, body)})
    assert resp.status_code == 400 and resp.json()["error"] == "bad_request"
    assert client.get("/api/agent/conversations", headers=AGENT).json()["conversations"] == []


def test_whatsapp_cloud_answers_with_reply_buttons_and_a_press_reaches_the_bot(meta_hub: Any, graph: FakeGraph) -> None:
    with FakeRasa(buttons_bot) as rasa:
        client = meta_hub(rasa.url)
        assert post(client, WA_HOOK, whatsapp_notification(messages=[wa_text("393331234567", "where is it?")])
                    ).status_code == 200
        sent = graph.wait_sent("393331234567", lambda b: b.get("type") == "interactive")
        assert sent["messaging_product"] == "whatsapp"
        interactive = sent["interactive"]
        assert interactive["type"] == "button" and interactive["body"]["text"] == "You said: *where is it?*"
        assert [b["reply"] for b in interactive["action"]["buttons"]] == [
            {"id": "/track_order", "title": "Track my order"}, {"id": "/returns", "title": "Returns"}]

        press = {"from": "393331234567", "id": "wamid.PRESS1", "timestamp": "1700000001", "type": "interactive",
                 "interactive": {"type": "button_reply", "button_reply": {"id": "/returns", "title": "Returns"}}}
        post(client, WA_HOOK, whatsapp_notification(messages=[press]))
        rasa.wait_for(lambda calls: [c for c in calls if c.params.get("message") == "/returns"])
    conv = conversations(client, "whatsapp_cloud", "393331234567")[0]
    assert conv["customer_name"] == "Kerry"
    assert [m["text"] for m in transcript(client, "whatsapp_cloud", "393331234567")
            if m["sender"] == "customer"] == ["where is it?", "Returns"]


def test_a_replayed_notification_is_answered_once(meta_hub: Any, graph: FakeGraph, rasa: FakeRasa) -> None:
    client = meta_hub(rasa.url)
    notification = whatsapp_notification(messages=[wa_text("393330000002", "hello", "wamid.SAME")])
    assert post(client, WA_HOOK, notification).status_code == 200
    assert post(client, WA_HOOK, notification).status_code == 200
    graph.wait_sent("393330000002")
    assert len([c for c in rasa.calls if c.path == "/webhooks/rest/webhook"]) == 1
    assert [m["text"] for m in transcript(client, "whatsapp_cloud", "393330000002")
            if m["sender"] == "customer"] == ["hello"]


def test_statuses_move_forward_only_whatever_their_order(meta_hub: Any, graph: FakeGraph, rasa: FakeRasa) -> None:
    client = meta_hub(rasa.url)
    post(client, WA_HOOK, whatsapp_notification(messages=[wa_text("393330000003", "hi")]))
    graph.wait_sent("393330000003")
    wamid = "wamid.OUT000001"

    def status(value: str) -> dict[str, Any]:
        return {"id": wamid, "status": value, "timestamp": "1700000100", "recipient_id": "393330000003"}

    for value in ("read", "delivered", "sent"):  # Meta's order is not guaranteed
        assert post(client, WA_HOOK, whatsapp_notification(statuses=[status(value)])).status_code == 200
    bot = [m for m in transcript(client, "whatsapp_cloud", "393330000003") if m["sender"] == "bot"][0]
    assert bot["delivery_status"] == "read"


def test_whatsapp_cloud_media_in_is_kept_for_agents_and_too_large_is_refused(
    meta_hub: Any, graph: FakeGraph, rasa: FakeRasa
) -> None:
    client = meta_hub(rasa.url)  # MAX_MEDIA_BYTES 1 MB
    photo = b"\x89PNG\r\n\x1a\n" + b"\x00" * 2000
    graph.add_media("MEDIA1", photo, "image/png")
    image = {"from": "393330000004", "id": "wamid.IMG1", "timestamp": "1700000000", "type": "image",
             "image": {"id": "MEDIA1", "mime_type": "image/png", "caption": "the box arrived like this"}}
    post(client, WA_HOOK, whatsapp_notification(messages=[image]))
    message = wait_until(lambda: [m for m in transcript(client, "whatsapp_cloud", "393330000004")
                                  if m["sender"] == "customer"])[0]
    assert message["text"] == "the box arrived like this"
    [item] = message["media"]
    got = client.get(f"/api/agent/media/{item['media_id']}", headers=AGENT)
    assert got.status_code == 200 and got.content == photo and got.headers["content-type"] == "image/png"
    assert client.get(f"/api/agent/media/{item['media_id']}").status_code == 401  # agents only

    graph.add_media("MEDIA2", b"\x00" * 2_000_000, "video/mp4")
    video = {"from": "393330000004", "id": "wamid.VID1", "timestamp": "1700000001", "type": "video",
             "video": {"id": "MEDIA2", "mime_type": "video/mp4"}}
    post(client, WA_HOOK, whatsapp_notification(messages=[video]))
    notice = graph.wait_sent("393330000004", lambda b: "too large" in json.dumps(b))
    assert "(1.9 MB)" in notice["text"]["body"] and "The limit is 1 MB" in notice["text"]["body"]
    assert len([m for m in transcript(client, "whatsapp_cloud", "393330000004") if m["sender"] == "customer"]) == 1


def test_outgoing_media_over_the_channel_limit_fails_with_a_clear_reason(meta_hub: Any, graph: FakeGraph) -> None:
    big = graph.add_public_file("manual.pdf", b"%PDF" + b"0" * 10, "application/pdf")
    big_image = graph.add_public_file("huge.png", b"\x89PNG" + b"0" * (6 * 1024 * 1024), "image/png")
    with FakeRasa(lambda s, t: [{"text": "Here you are", "image": big_image if t == "photo" else big}]) as rasa:
        client = meta_hub(rasa.url)
        post(client, WA_HOOK, whatsapp_notification(messages=[wa_text("393330000005", "manual")]))
        graph.wait_sent("393330000005", lambda b: b.get("type") == "document")
        post(client, WA_HOOK, whatsapp_notification(messages=[wa_text("393330000005", "photo")]))
        failed = wait_until(lambda: [m for m in transcript(client, "whatsapp_cloud", "393330000005")
                                     if m["delivery_status"] == "failed"])
    assert failed[0]["text"] == "Here you are"
    letters = client.get("/api/agent/dead-letters", headers=AGENT).json()["dead_letters"]
    assert "not sent: huge.png (6 MB) is larger than the 5 MB WhatsApp accepts for images" in [
        d["last_error"] for d in letters][0]
    assert not graph.sent("393330000005", ok_only=False)[2:]  # nothing of the refused message went out


def test_whatsapp_cloud_outside_the_window_sends_the_template_and_parks(meta_hub: Any, graph: FakeGraph) -> None:
    client = meta_hub(whatsapp_cloud_template="support_update", whatsapp_cloud_template_language="it")
    phone = "393330000006"
    post(client, WA_HOOK, whatsapp_notification(messages=[wa_text(phone, "help")]))  # Rasa is down: handed off
    conv = wait_until(lambda: conversations(client, "whatsapp_cloud", phone), timeout=60)[0]["id"]
    assert client.post(f"/api/agent/conversations/{conv}/claim", headers=AGENT).status_code == 200
    connector = client.app.state.container.connectors["whatsapp_cloud"]
    run(connector.state.touch_inbound("whatsapp_cloud", phone, datetime.now(timezone.utc) - timedelta(hours=30)))
    reply = client.post(f"/api/agent/conversations/{conv}/reply", headers=AGENT, json={"text": "Found it!"})
    assert reply.json()["message"]["delivery_status"] == "parked"
    template = graph.wait_sent(phone, lambda b: b.get("type") == "template")
    assert template["template"] == {"name": "support_update", "language": {"code": "it"}}
    post(client, WA_HOOK, whatsapp_notification(messages=[wa_text(phone, "ok, tell me")]))
    graph.wait_sent(phone, lambda b: "Found it!" in json.dumps(b))


def test_a_window_closed_status_sends_the_message_again_through_the_template(meta_hub: Any, graph: FakeGraph) -> None:
    client = meta_hub(whatsapp_cloud_template="support_update")
    phone = "393330000007"
    post(client, WA_HOOK, whatsapp_notification(messages=[wa_text(phone, "help")]))
    conv = wait_until(lambda: conversations(client, "whatsapp_cloud", phone), timeout=60)[0]["id"]
    client.post(f"/api/agent/conversations/{conv}/claim", headers=AGENT)
    reply = client.post(f"/api/agent/conversations/{conv}/reply", headers=AGENT, json={"text": "Any news?"})
    assert reply.json()["message"]["delivery_status"] == "sent"
    connector = client.app.state.container.connectors["whatsapp_cloud"]
    wamid = connector.state.for_message(reply.json()["message"]["id"])[0].provider_id
    failed = {"id": wamid, "status": "failed", "timestamp": "1700000200", "recipient_id": phone,
              "errors": [{"code": 131047, "title": "Re-engagement message"}]}
    post(client, WA_HOOK, whatsapp_notification(statuses=[failed]))
    graph.wait_sent(phone, lambda b: b.get("type") == "template")
    message = [m for m in transcript(client, "whatsapp_cloud", phone) if m["text"] == "Any news?"][0]
    assert message["delivery_status"] == "parked"


def test_messenger_quick_replies_postbacks_and_read_receipts(meta_hub: Any, graph: FakeGraph) -> None:
    with FakeRasa(buttons_bot) as rasa:
        client = meta_hub(rasa.url)
        assert post(client, FB_HOOK, messenger_notification(fb_text("psid-9", "where is it?"))).status_code == 200
        sent = graph.wait_sent("psid-9", lambda b: "quick_replies" in (b.get("message") or {}))
        assert sent["messaging_type"] == "RESPONSE"
        assert sent["message"]["text"] == "You said: *where is it?*"
        assert [q["payload"] for q in sent["message"]["quick_replies"]] == ["/track_order", "/returns"]
        post(client, FB_HOOK, messenger_notification(fb_text("psid-9", "Returns", quick_reply={"payload": "/returns"})))
        rasa.wait_for(lambda calls: [c for c in calls if c.params.get("message") == "/returns"])
        postback = {"sender": {"id": "psid-9"}, "recipient": {"id": "PAGE1"}, "timestamp": 1_700_000_000_500,
                    "postback": {"mid": "m_pb1", "title": "Track my order", "payload": "/track_order"}}
        post(client, FB_HOOK, messenger_notification(postback))
        rasa.wait_for(lambda calls: [c for c in calls if c.params.get("message") == "/track_order"])
        graph.wait_for(lambda calls: len(graph.sent("psid-9")) >= 3)
    later = int((datetime.now(timezone.utc) + timedelta(seconds=5)).timestamp() * 1000)
    post(client, FB_HOOK, messenger_notification({"sender": {"id": "psid-9"}, "recipient": {"id": "PAGE1"},
                                                  "timestamp": later, "read": {"watermark": later}}))
    bot = [m for m in transcript(client, "messenger", "psid-9") if m["sender"] == "bot"]
    assert len(bot) == 3 and {m["delivery_status"] for m in bot} == {"read"}
    echo = {"sender": {"id": "PAGE1"}, "recipient": {"id": "psid-9"}, "timestamp": later,
            "message": {"mid": "m_echo", "text": "You said", "is_echo": True}}
    post(client, FB_HOOK, messenger_notification(echo))
    assert len([m for m in transcript(client, "messenger", "psid-9") if m["sender"] == "customer"]) == 3


def test_messenger_outside_the_window_uses_human_agent_for_agents(meta_hub: Any, graph: FakeGraph) -> None:
    client = meta_hub()
    post(client, FB_HOOK, messenger_notification(fb_text("psid-7", "help")))
    conv = wait_until(lambda: conversations(client, "messenger", "psid-7"), timeout=60)[0]["id"]
    client.post(f"/api/agent/conversations/{conv}/claim", headers=AGENT)
    connector = client.app.state.container.connectors["messenger"]
    run(connector.state.touch_inbound("messenger", "psid-7", datetime.now(timezone.utc) - timedelta(days=2)))
    client.post(f"/api/agent/conversations/{conv}/reply", headers=AGENT, json={"text": "Sorry for the delay"})
    sent = graph.wait_sent("psid-7", lambda b: "Sorry for the delay" in json.dumps(b))
    assert sent["messaging_type"] == "MESSAGE_TAG" and sent["tag"] == "HUMAN_AGENT"


def test_graph_rate_limits_are_retried(meta_hub: Any, graph: FakeGraph, rasa: FakeRasa) -> None:
    graph.fail(400, code=130429, message="Rate limit hit")
    client = meta_hub(rasa.url)
    post(client, WA_HOOK, whatsapp_notification(messages=[wa_text("393330000008", "hello")]))
    graph.wait_sent("393330000008")
    assert len([c for c in graph.calls if c.params.get("_status") == 400]) == 1


def test_notifications_outside_the_window_use_the_meta_template_or_the_messenger_tag(meta_hub: Any,
                                                                                     graph: FakeGraph) -> None:
    client = meta_hub()
    template = client.get("/api/notifications/templates/shipment_delayed", headers=AGENT).json()["template"]
    body = {k: template[k] for k in ("name", "description", "parameters", "variants")}
    body["channels"] = {"whatsapp_cloud": {"it": {"name": "shipment_delayed_v2", "language": "it",
                                                  "parameters": ["order_number", "new_date"]}},
                        "messenger": {"tag": "POST_PURCHASE_UPDATE"}}
    assert client.put("/api/notifications/templates/shipment_delayed", headers=ADMIN, json=body).status_code == 200
    connector = client.app.state.container.connectors["whatsapp_cloud"]
    old = datetime.now(timezone.utc) - timedelta(days=3)
    run(connector.state.touch_inbound("whatsapp_cloud", "393330000009", old))
    run(connector.state.touch_inbound("messenger", "psid-5", old))
    resp = client.post("/api/notifications", headers=AGENT, json={
        "template": "shipment_delayed", "params": {"order_number": "BC-7", "new_date": "lunedì"},
        "recipients": [{"channel": "whatsapp_cloud", "customer": "393330000009", "language": "it"},
                       {"channel": "messenger", "customer": "psid-5", "language": "en"},
                       {"channel": "whatsapp_cloud", "customer": "393330000010", "language": "en"}]})
    assert resp.status_code == 202
    sent = graph.wait_sent("393330000009", lambda b: b.get("type") == "template")
    assert sent["template"] == {"name": "shipment_delayed_v2", "language": {"code": "it"}, "components": [
        {"type": "body", "parameters": [{"type": "text", "text": "BC-7"}, {"type": "text", "text": "lunedì"}]}]}
    tagged = graph.wait_sent("psid-5")
    assert tagged["messaging_type"] == "MESSAGE_TAG" and tagged["tag"] == "POST_PURCHASE_UPDATE"
    assert "*BC-7*" in tagged["message"]["text"]
    # No English WhatsApp template and the customer never wrote: it fails, saying why, and nothing is sent.
    failed = wait_until(lambda: [n for n in client.get("/api/notifications", headers=AGENT).json()["notifications"]
                                 if n["customer"] == "393330000010" and n["state"] == "failed"])
    assert "no approved WhatsApp Cloud template" in failed[0]["error"]
    assert graph.sent("393330000010") == []
