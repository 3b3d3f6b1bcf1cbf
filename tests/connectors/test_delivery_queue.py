"""The persistent outbound queue, through the hub and the fake Twilio API: a channel that stays down gets the
message later, in order, once; after every round it is a dead letter agents can see and retry; pending
messages survive a hub restart, and so do WhatsApp messages parked outside the customer's 24-hour window."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from channel_support import (
    AGENT, HOOK, HubFactory, bodies, close_window, conversations, handed_off, inbound, transcript, twilio_post, wait_until,
)
from fakes.rasa import FakeRasa
from fakes.twilio_api import FakeTwilio

FAST = dict(outbox_max_rounds=3, outbox_base_delay_s=0.3, outbox_poll_s=0.05)


def quick_retries(client: TestClient) -> int:
    return int(client.app.state.container.connectors["whatsapp"].max_attempts)


def status_of(client: TestClient, phone: str, text: str) -> str:
    return [m for m in transcript(client, "whatsapp", phone) if m["text"] == text][0]["delivery_status"]


def test_channel_down_then_back_delivers_later_in_order_and_once(make_hub: HubFactory, twilio_api: FakeTwilio) -> None:
    client = make_hub(**{**FAST, "outbox_base_delay_s": 1.5})  # the second reply is written before the next round
    phone = "+393330000101"
    conv = handed_off(client, twilio_api, phone)
    twilio_api.fail(500, times=quick_retries(client))  # one whole round of quick retries fails
    first = client.post(f"/api/agent/conversations/{conv}/reply", headers=AGENT, json={"text": "first"}).json()
    second = client.post(f"/api/agent/conversations/{conv}/reply", headers=AGENT, json={"text": "second"}).json()
    assert first["message"]["delivery_status"] == "retrying"
    assert second["message"]["delivery_status"] == "queued"  # never overtakes "first"
    wait_until(lambda: "alice: second" in bodies(twilio_api, phone))
    sent = bodies(twilio_api, phone)
    assert sent.count("alice: first") == 1 and sent.count("alice: second") == 1
    assert sent.index("alice: first") < sent.index("alice: second")
    assert wait_until(lambda: status_of(client, phone, "second") == "sent")
    assert status_of(client, phone, "first") == "sent"


def test_dead_letter_after_every_round_is_listed_and_can_be_retried(make_hub: HubFactory,
                                                                     twilio_api: FakeTwilio) -> None:
    client = make_hub(**FAST)
    phone = "+393330000102"
    conv = handed_off(client, twilio_api, phone)
    twilio_api.fail(500, times=1000)
    reply = client.post(f"/api/agent/conversations/{conv}/reply", headers=AGENT, json={"text": "are you there?"})
    assert reply.json()["message"]["delivery_status"] == "retrying"
    wait_until(lambda: status_of(client, phone, "are you there?") == "dead")
    letters = client.get("/api/agent/dead-letters", headers=AGENT).json()["dead_letters"]
    mine = [d for d in letters if d["conversation_id"] == conv]
    assert len(mine) == 1 and mine[0]["attempts"] == 3 and "500" in (mine[0]["last_error"] or "")
    assert "alice: are you there?" not in bodies(twilio_api, phone)

    twilio_api.failures.clear()  # the channel is back
    retried = client.post(f"/api/agent/dead-letters/{mine[0]['id']}/retry", headers=AGENT)
    assert retried.status_code == 200 and retried.json()["state"] == "sent"
    assert bodies(twilio_api, phone).count("alice: are you there?") == 1
    assert status_of(client, phone, "are you there?") == "sent"
    again = client.post(f"/api/agent/dead-letters/{mine[0]['id']}/retry", headers=AGENT)
    assert again.status_code == 409
    assert client.post("/api/agent/dead-letters/999999/retry", headers=AGENT).status_code == 404


def test_pending_messages_survive_a_hub_restart(make_hub: HubFactory, twilio_api: FakeTwilio) -> None:
    phone = "+393330000103"
    client = make_hub(outbox_max_rounds=5, outbox_base_delay_s=2.0, outbox_poll_s=0.05)
    conv = handed_off(client, twilio_api, phone)
    twilio_api.fail(500, times=quick_retries(client))
    reply = client.post(f"/api/agent/conversations/{conv}/reply", headers=AGENT, json={"text": "after restart"})
    assert reply.json()["message"]["delivery_status"] == "retrying"
    client.__exit__(None, None, None)  # the hub stops before the next round is due

    restarted = make_hub(outbox_max_rounds=5, outbox_base_delay_s=2.0, outbox_poll_s=0.05)
    wait_until(lambda: "alice: after restart" in bodies(twilio_api, phone))
    assert bodies(twilio_api, phone).count("alice: after restart") == 1
    assert wait_until(lambda: status_of(restarted, phone, "after restart") == "sent")


def test_parked_messages_survive_a_restart_and_go_out_before_the_answer_to_the_customers_next_message(
    make_hub: HubFactory, twilio_api: FakeTwilio
) -> None:
    template = "HX" + "b" * 32
    phone = "+393330000104"

    def bot(sender: str, text: str) -> list[dict[str, object]]:
        if text == "a person please":
            return [{"text": "One moment", "custom": {"handoff": {"reason": "customer_request"}}}]
        return [{"text": f"You said: {text}"}]

    with FakeRasa(bot) as rasa:
        client = make_hub(rasa.url, whatsapp_template_sid=template)
        twilio_post(client, HOOK, inbound(phone, "a person please"))
        twilio_api.wait_message(f"whatsapp:{phone}", "One moment")
        conv = wait_until(lambda: [c for c in conversations(client, "whatsapp", phone) if c["status"] == "queued"])[0]["id"]
        assert client.post(f"/api/agent/conversations/{conv}/claim", headers=AGENT).status_code == 200
        twilio_api.wait_message(f"whatsapp:{phone}", "has joined")
        close_window(client, phone)
        reply = client.post(f"/api/agent/conversations/{conv}/reply", headers=AGENT, json={"text": "Refund approved."})
        assert reply.json()["message"]["delivery_status"] == "parked"
        assert client.post(f"/api/agent/conversations/{conv}/hand-back", headers=AGENT).status_code == 200
        assert status_of(client, phone, "Refund approved.") == "parked"
        client.__exit__(None, None, None)  # the hub stops with two messages parked

        restarted = make_hub(rasa.url, whatsapp_template_sid=template)
        time.sleep(0.3)  # the queue's worker runs: parked messages stay parked
        assert not [b for b in bodies(twilio_api, phone) if "Refund" in b]
        twilio_post(restarted, HOOK, inbound(phone, "thanks!"))
        answer = twilio_api.wait_message(f"whatsapp:{phone}", "You said: thanks!")
        sent = bodies(twilio_api, phone)
        refund = sent.index("alice: Refund approved.")
        handed_back = [i for i, b in enumerate(sent) if i > refund and "alice" not in b and "You said" not in b]
        assert sent.count("alice: Refund approved.") == 1
        assert handed_back and refund < handed_back[0] < sent.index("You said: thanks!")  # in the order written
        assert answer is not None
        templates = [c for c in twilio_api.messages(f"whatsapp:{phone}") if c.params.get("ContentSid")]
        assert len(templates) == 1  # one template for the closed window, not one per message
        assert status_of(restarted, phone, "Refund approved.") == "sent"
