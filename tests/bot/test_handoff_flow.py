"""Handoff triggers and the conversation lifecycle through the hub's real HTTP API and web chat socket, with a
scripted Rasa: what the customer sees, what the agent sees, and that the bot stays silent while humans own it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from bot.conversations import ownership
from bot.store.models import utcnow
from handoff_kit import (ADMIN, AGENT_TOKEN, DEFAULT_SCRIPT, Customer, admin_headers, agent_session, create_agent,
                         events, make_client, scripted_rasa, texts)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    yml = ("default_team: support\nteams:\n  support: {name: Support}\n  care: {name: Customer care}\n"
           "  billing: {name: Billing}\nrouting:\n  reasons: {complaint: care}\n  intents: {payment_problem: billing}\n"
           "canned:\n  en: [{title: Hi, text: Hello there}]\n  it: [{title: Ciao, text: Ciao!}]\n")
    with make_client(tmp_path, handoff_yml=yml) as c:
        create_agent(c, "maria@example.com", display_name="Maria")
        create_agent(c, "li@example.com", display_name="Li", teams=["billing"])
        yield c


def detail(client: TestClient, cid: str) -> dict:
    resp = client.get(f"/api/agent/conversations/{cid}", headers=admin_headers())
    assert resp.status_code == 200, resp.text
    return resp.json()


def rasa_calls(client: TestClient) -> int:
    return int(client.app.state.container.metrics.value("supportbot_rasa_roundtrip_seconds_count"))


def test_customer_request_queues_with_reason_intents_kb_candidates_and_summary(client: TestClient) -> None:
    customer = Customer(client)
    customer.say("hi")
    frames = customer.say("person please")
    assert events(frames)[-1] == "queued"
    assert "You are number 1 in the queue." in texts(frames, "system")[-1]
    d = detail(client, customer.conversation_id)
    h = d["handoff"]  # what the agent reads first
    assert (h["reason"], h["team"]) == ("customer_request", "support")
    assert h["summary"] == "Customer asked for a person."
    assert h["details"]["intents"] == [{"intent": "human_handoff", "confidence": 0.97}]
    assert h["details"]["kb_candidates"][0]["entry_id"] == "gift-cards"
    assert d["conversation"]["status"] == "queued" and d["queue_position"] == 1


def test_complaint_jumps_the_queue_and_goes_to_its_team(client: TestClient) -> None:
    first = Customer(client)
    first.say("person please")
    angry = Customer(client)
    frames = angry.say("this is outrageous")
    assert "You are number 1 in the queue." in texts(frames, "system")[-1]
    queue = client.get("/api/agent/queue", headers=admin_headers()).json()["conversations"]
    assert [c["id"] for c in queue] == [angry.conversation_id, first.conversation_id]
    assert (queue[0]["priority"], queue[0]["team"], queue[1]["team"]) == (10, "care", "support")
    assert [c["id"] for c in client.get("/api/agent/queue?team=care", headers=admin_headers())
            .json()["conversations"]] == [angry.conversation_id]


def test_two_fallbacks_in_a_row_hand_off_even_if_the_bot_does_not(client: TestClient) -> None:
    customer = Customer(client)
    assert texts(customer.say("blorp"), "bot")
    assert detail(client, customer.conversation_id)["conversation"]["status"] == "bot"  # one miss: keep trying
    customer.say("zzzk")
    d = detail(client, customer.conversation_id)
    assert (d["conversation"]["status"], d["handoff"]["reason"], d["conversation"]["priority"]) == (
        "queued", "repeated_fallback", 2)
    assert [i["intent"] for i in d["handoff"]["details"]["intents"]] == ["nlu_fallback", "nlu_fallback"]
    assert "queued" in [m["event"] for m in customer.history()]


def test_the_intent_sent_with_the_answer_needs_no_tracker_request(tmp_path: Path) -> None:
    calls: list[str] = []
    with make_client(tmp_path, rasa=scripted_rasa(DEFAULT_SCRIPT, nlu_header=True, calls=calls)) as c:
        customer = Customer(c)
        customer.say("blorp")
        customer.say("zzzk")
        d = detail(c, customer.conversation_id)
    assert (d["conversation"]["status"], d["handoff"]["reason"]) == ("queued", "repeated_fallback")
    assert [i["intent"] for i in d["handoff"]["details"]["intents"]] == ["nlu_fallback", "nlu_fallback"]
    assert calls.count("/webhooks/rest/webhook") == 2
    assert not [path for path in calls if path.endswith("/tracker")]  # one request per customer message


def test_fallbacks_the_knowledge_base_answered_do_not_count_as_misses(client: TestClient) -> None:
    customer = Customer(client)
    customer.say("what about gift cards")
    customer.say("blorp")
    assert detail(client, customer.conversation_id)["conversation"]["status"] == "bot"


def test_full_lifecycle_claim_reply_notes_resolve_csat_then_back_to_the_bot(client: TestClient) -> None:
    customer = Customer(client)
    customer.say("person please")
    cid = customer.conversation_id
    maria = agent_session(client, "maria@example.com")
    calls = rasa_calls(client)

    assert maria.conv(cid, "claim").status_code == 200
    assert customer.say("hi") == []  # assigned: the bot stays silent…
    customer.say("are you there?")
    assert rasa_calls(client) == calls  # …and Rasa is never asked
    mine = maria.get("/api/agent/conversations?mine=true").json()["conversations"]
    assert [(c["id"], c["unread"]) for c in mine] == [(cid, 2)]
    assert maria.conv(cid, "read", {}).json() == {"unread": 0}

    assert maria.conv(cid, "notes", {"text": "VIP customer, be nice"}).status_code == 200
    assert maria.conv(cid, "reply", {"text": "Hi, Maria here!"}).status_code == 200
    history = customer.history()
    assert [(m["sender"], m["sender_name"]) for m in history if m["text"] == "Hi, Maria here!"] == [("agent", "Maria")]
    assert "Maria from our support team has joined" in " ".join(m["text"] for m in history)
    assert not any("VIP" in m["text"] for m in history)  # private notes never reach the customer
    assert [n["text"] for n in maria.conv(cid).json()["notes"]] == ["VIP customer, be nice"]

    assert maria.conv(cid, "resolve").status_code == 200
    ask = [m for m in customer.history() if m["event"] == "csat_question"]
    assert [b["title"] for b in ask[-1]["buttons"]] == ["1", "2", "3", "4", "5"]
    assert maria.conv(cid, "reply", {"text": "late"}).status_code == 409

    thanks = customer.say("4", button=ask[-1]["buttons"][3]["payload"])
    assert events(thanks) == ["csat_thanks"]
    d = detail(client, cid)
    assert d["conversation"]["status"] == "resolved"  # a rating does not reopen the conversation
    assert [(c["score"], c["agent"]) for c in d["csat"]] == [(4, "maria@example.com")]
    assert customer.say("4") != []  # no question pending any more: a new message goes to the bot
    assert detail(client, cid)["conversation"]["status"] == "bot"
    assert client.get("/api/admin/csat", headers=admin_headers()).json()["csat"] == [
        {"agent": "maria@example.com", "average": 4.0, "answers": 1}]


def test_bot_resolved_conversation_asks_csat_for_the_bot(client: TestClient) -> None:
    customer = Customer(client)
    frames = customer.say("thanks, solved")
    assert events(frames)[-2:] == ["resolved", "csat_question"]
    customer.say("5", button='/csat{"score": 5}')
    d = detail(client, customer.conversation_id)
    assert [(c["score"], c["agent"]) for c in d["csat"]] == [(5, None)]
    assert d["conversation"]["resolved_by"] == "bot"


def test_hand_back_gives_the_conversation_to_the_bot(client: TestClient) -> None:
    customer = Customer(client)
    customer.say("person please")
    maria = agent_session(client, "maria@example.com")
    maria.conv(customer.conversation_id, "claim")
    assert maria.conv(customer.conversation_id, "hand-back").status_code == 200
    assert "You're chatting with our virtual assistant again." in texts(customer.history(), "system")
    assert texts(customer.say("hi"), "bot") == ["Hello! I'm the Brightcart assistant."]


def test_transfer_to_a_team_keeps_a_note_and_requeues(client: TestClient) -> None:
    customer = Customer(client)
    customer.say("person please")
    cid = customer.conversation_id
    maria, li = agent_session(client, "maria@example.com"), agent_session(client, "li@example.com")
    maria.conv(cid, "claim")
    assert li.conv(cid, "transfer", {"team": "billing"}).status_code == 409  # only the owner (or an admin)
    assert maria.conv(cid, "transfer", {"team": "nowhere"}).status_code == 404
    assert maria.conv(cid, "transfer", {}).status_code == 422
    assert detail(client, cid)["conversation"]["assigned_agent"] == "maria@example.com"

    resp = maria.conv(cid, "transfer", {"team": "billing", "note": "double charge on card"})
    assert resp.status_code == 200
    d = detail(client, cid)
    assert (d["conversation"]["status"], d["conversation"]["team"], d["conversation"]["assigned_agent"]) == (
        "queued", "billing", None)
    assert d["notes"][-1]["kind"] == "transfer" and "double charge on card" in d["notes"][-1]["text"]
    said = texts(customer.history(), "system")
    assert "I'm passing you to our Billing team." in said and said[-1].startswith("You are number 1 in the queue")
    assert maria.get("/api/agent/conversations?mine=true&status=assigned").json()["conversations"] == []


def test_transfer_to_an_agent_and_capacity(client: TestClient) -> None:
    admin = agent_session(client, *ADMIN)
    li_id = next(a["id"] for a in admin.get("/api/admin/agents").json()["agents"] if a["email"] == "li@example.com")
    assert admin.patch(f"/api/admin/agents/{li_id}", {"max_concurrent": 1}).status_code == 200  # Li: one at a time
    a, b = Customer(client), Customer(client)
    a.say("person please")
    b.say("person please")
    maria, li = agent_session(client, "maria@example.com"), agent_session(client, "li@example.com")
    maria.conv(a.conversation_id, "claim")
    assert maria.conv(a.conversation_id, "transfer", {"agent": "ghost@example.com"}).status_code == 404
    assert maria.conv(a.conversation_id, "transfer", {"agent": "li@example.com", "note": "speaks Chinese"}).status_code == 200
    d = detail(client, a.conversation_id)
    assert (d["conversation"]["status"], d["conversation"]["assigned_agent"]) == ("assigned", "li@example.com")
    assert "Li from our support team has joined" in texts(a.history(), "system")[-1]
    full = li.conv(b.conversation_id, "claim")
    assert full.status_code == 409 and "at once is 1" in full.json()["detail"]
    assert detail(client, b.conversation_id)["conversation"]["status"] == "queued"


def test_bad_ids_and_states_get_clear_errors(client: TestClient) -> None:
    maria = agent_session(client, "maria@example.com")
    for action in ("claim", "resolve", "hand-back", "read"):
        resp = maria.conv("nope", action, {})
        assert resp.status_code == 404 and "nope" in resp.json()["detail"]
    assert maria.conv("nope", "notes", {"text": "x"}).status_code == 404
    customer = Customer(client)
    customer.say("hi")  # a bot conversation
    cid = customer.conversation_id
    assert maria.conv(cid, "claim").status_code == 409
    assert maria.conv(cid, "notes", {"text": "   "}).status_code == 422
    assert detail(client, cid)["conversation"]["status"] == "bot"


def test_two_agents_claiming_at_once_through_http_exactly_one_wins(client: TestClient) -> None:
    maria, li = agent_session(client, "maria@example.com"), agent_session(client, "li@example.com")
    for _ in range(3):
        customer = Customer(client)
        customer.say("person please")
        barrier = threading.Barrier(2)
        codes: dict[str, int] = {}
        # Bearer requests: no shared cookie jar, so both can run in parallel on the one client.
        def claim(who: str) -> None:
            barrier.wait()
            resp = client.post(f"/api/agent/conversations/{customer.conversation_id}/claim",
                               headers={"Authorization": f"Bearer {AGENT_TOKEN}", "X-Agent": who})
            codes[who] = resp.status_code
        threads = [threading.Thread(target=claim, args=(w,)) for w in (maria.email, li.email)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(codes.values()) == [200, 409]
        winner = next(w for w, c in codes.items() if c == 200)
        assert detail(client, customer.conversation_id)["conversation"]["assigned_agent"] == winner
        joined = [m for m in customer.history() if m["event"] == "agent_joined"]
        assert len(joined) == 1  # the customer is told once


def test_queue_survives_a_hub_restart(tmp_path: Path) -> None:
    with make_client(tmp_path) as first:
        customer = Customer(first)
        customer.say("person please")
        cid = customer.conversation_id
    with make_client(tmp_path) as again:
        queue = again.get("/api/agent/queue", headers=admin_headers()).json()["conversations"]
        assert [(c["id"], c["handoff_reason"]) for c in queue] == [(cid, "customer_request")]
        admin = agent_session(again, *ADMIN)  # the admin from the first start still exists, exactly once
        assert len(again.get("/api/admin/agents", headers=admin_headers()).json()["agents"]) == 1
        assert admin.conv(cid, "claim").status_code == 200


def test_wait_estimate_from_recent_history_and_update_when_it_grows(client: TestClient) -> None:
    engine = client.app.state.container.engine
    maria = agent_session(client, "maria@example.com")
    for _ in range(3):  # three earlier customers each waited ten minutes
        c = Customer(client)
        c.say("person please")
        maria.conv(c.conversation_id, "claim")
    with engine.begin() as conn:
        conn.execute(text("UPDATE handoffs SET created_at = :t"), {"t": utcnow() - timedelta(minutes=10)})
    newcomer = Customer(client)
    frames = newcomer.say("person please")
    assert texts(frames, "system")[-1] == "You are number 1 in the queue. The estimated wait is about 10 min."

    # The wait grows (slower claims lately): the customer hears about it once, at the next queue tick.
    with engine.begin() as conn:
        conn.execute(text("UPDATE handoffs SET created_at = :t WHERE claimed_at IS NOT NULL"),
                     {"t": utcnow() - timedelta(minutes=40)})
    client.portal.call(client.app.state.container.queue_tick)
    client.portal.call(client.app.state.container.queue_tick)
    updates = [m for m in newcomer.history() if m["event"] == "queue_update"]
    assert [m["text"] for m in updates] == [
        "Sorry for the wait: you are number 1 in the queue, about 40 min to go."]


def test_canned_responses_per_language(client: TestClient) -> None:
    maria = agent_session(client, "maria@example.com")
    assert maria.get("/api/agent/canned?language=it").json()["responses"] == [{"title": "Ciao", "text": "Ciao!"}]
    assert maria.get("/api/agent/canned?language=zh").json()["responses"] == [{"title": "Hi", "text": "Hello there"}]


def test_kb_suggestions_report_an_unreachable_action_server(client: TestClient) -> None:
    customer = Customer(client)
    customer.say("person please")
    maria = agent_session(client, "maria@example.com")
    got = maria.get(f"/api/agent/conversations/{customer.conversation_id}/suggestions").json()
    assert got["query"] == "person please" and got["hits"] == [] and "unavailable" in got["error"]


def test_customer_profile_lists_conversations_on_other_channels(client: TestClient) -> None:
    web = Customer(client)
    web.say("person please")
    other = client.app.state.container.db.write_sync(
        ownership.open_conversation, "telegram", "tg-42", language="it", customer_name="Giulia")
    maria = agent_session(client, "maria@example.com")
    for cid in (web.conversation_id, other.id):
        assert maria.conv(cid, "customer", {"customer_key": "Giulia@Example.com"}).status_code == 200
    profile = maria.conv(web.conversation_id).json()["customer"]
    assert profile["customer_key"] == "giulia@example.com"
    assert [(c["channel"], c["language"], c["customer_name"]) for c in profile["conversations"]] == [
        ("telegram", "it", "Giulia")]
