"""The audit log: every agent and admin action with who, what, which conversation or account, when and from where,
written with the change itself, never holding message content or passwords; admins read it, filtered."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from fastapi.testclient import TestClient
from sqlalchemy import text

from handoff_kit import ADMIN, AGENT_TOKEN, Customer, admin_headers, agent_session, create_agent

REPLY = "Your parcel left the warehouse this morning"
NOTE = "customer sounds upset about the delay"
PASSWORD = "agent-password-1"


def audit(client: TestClient, **filters: str) -> list[dict]:
    resp = client.get("/api/admin/audit", headers=admin_headers(), params=filters)
    assert resp.status_code == 200, resp.text
    return resp.json()["entries"]


def whole_table(client: TestClient) -> str:
    with client.app.state.container.engine.connect() as conn:
        return json.dumps([list(r) for r in conn.execute(text("SELECT * FROM audit_log"))], default=str)


def test_agent_actions_are_recorded_with_who_where_and_which_conversation_but_no_content(client: TestClient) -> None:
    create_agent(client, "maria@example.com", display_name="Maria")
    first, second = Customer(client), Customer(client)
    first.say("person please")
    second.say("person please")
    maria = agent_session(client, "maria@example.com", PASSWORD)
    cid = first.conversation_id
    assert maria.conv(cid, "claim").status_code == 200
    assert maria.conv(cid, "reply", {"text": REPLY}).status_code == 200
    assert maria.conv(cid, "notes", {"text": NOTE}).status_code == 200
    assert maria.conv(cid, "customer", {"customer_key": "jo@example.org"}).status_code == 200
    assert maria.conv(cid, "transfer", {"team": "billing", "note": NOTE}).status_code == 200
    assert maria.conv(cid, "claim").status_code == 200
    assert maria.conv(cid, "resolve").status_code == 200
    bob = {"Authorization": f"Bearer {AGENT_TOKEN}", "X-Agent": "bob"}
    assert client.post(f"/api/agent/conversations/{second.conversation_id}/claim", headers=bob).status_code == 200
    assert client.post(f"/api/agent/conversations/{second.conversation_id}/hand-back", headers=bob).status_code == 200

    entries = audit(client, action="conversation.")
    assert [(e["action"], e["actor"], e["conversation_id"]) for e in reversed(entries)] == [
        ("conversation.claim", "maria@example.com", cid),
        ("conversation.reply", "maria@example.com", cid),
        ("conversation.note", "maria@example.com", cid),
        ("conversation.link_customer", "maria@example.com", cid),
        ("conversation.transfer", "maria@example.com", cid),
        ("conversation.claim", "maria@example.com", cid),
        ("conversation.resolve", "maria@example.com", cid),
        ("conversation.claim", "bob", second.conversation_id),
        ("conversation.hand_back", "bob", second.conversation_id),
    ]
    maria_entry, bob_entry = entries[-1], entries[0]
    assert (maria_entry["role"], maria_entry["via"], maria_entry["client"]) == ("agent", "session", "testclient")
    assert (bob_entry["role"], bob_entry["via"]) == ("agent", "token")
    assert entries[4]["details"] == {"team": "billing"}
    assert set(entries[7]["details"]) == {"message_id"} and set(entries[6]["details"]) == {"note_id"}
    stored = whole_table(client)
    for secret in (REPLY, NOTE, "jo@example.org", PASSWORD):
        assert secret not in stored


def test_a_refused_change_leaves_no_entry(client: TestClient) -> None:
    customer = Customer(client)
    customer.say("person please")
    url = f"/api/agent/conversations/{customer.conversation_id}"
    alice = {"Authorization": f"Bearer {AGENT_TOKEN}", "X-Agent": "alice"}
    assert client.post(f"{url}/claim", headers=alice).status_code == 200
    assert client.post(f"{url}/claim", headers={**alice, "X-Agent": "eve"}).status_code == 409
    assert client.post(f"{url}/reply", headers={**alice, "X-Agent": "eve"}, json={"text": "hi"}).status_code == 409
    assert [(e["action"], e["actor"]) for e in audit(client, action="conversation.")] == [
        ("conversation.claim", "alice")]


def test_logins_account_changes_dead_letter_retries_and_token_revocations_are_recorded(client: TestClient) -> None:
    agent = create_agent(client, "li@example.com", teams=["billing"])
    assert client.patch(f"/api/admin/agents/{agent['id']}", headers=admin_headers(),
                        json={"password": "a-new-password-9", "max_concurrent": 5}).status_code == 200
    assert client.post("/api/auth/login", json={"email": "li@example.com", "password": "wrong-wrong-1"}
                       ).status_code == 401
    assert client.post("/api/auth/login", json={"email": "my-password-123", "password": "x" * 9}).status_code == 401
    li = agent_session(client, "li@example.com", "a-new-password-9")
    assert li.post("/api/auth/logout").status_code == 200

    customer = Customer(client)
    customer.say("hi")
    with client.app.state.container.engine.begin() as conn:
        letter = conn.execute(text("UPDATE outbound_queue SET state='dead' WHERE conversation_id=:c RETURNING id"),
                              {"c": customer.conversation_id}).scalar_one()
    assert client.post(f"/api/agent/dead-letters/{letter}/retry", headers=admin_headers()).status_code == 200
    assert client.post("/api/admin/visitors/v-leaked-1/revoke-tokens", headers=admin_headers()).status_code == 200

    got = [(e["action"], e["actor"], e["target"], e["details"]) for e in reversed(audit(client))]
    assert got == [
        ("account.create", "system", ADMIN[0], {"role": "admin", "teams": []}),  # the first admin, from settings
        ("account.create", "admin", "li@example.com", {"role": "agent", "teams": ["billing"]}),
        ("account.update", "admin", "li@example.com", {"fields": ["max_concurrent", "password"]}),
        ("auth.login_failed", None, "li@example.com", {"known_account": True}),
        ("auth.login_failed", None, None, {"known_account": False}),  # what was typed is not kept
        ("auth.login", "li@example.com", None, {}),
        ("auth.logout", "li@example.com", None, {}),
        ("dead_letter.retry", "admin", str(letter), {}),
        ("visitor.revoke_tokens", "admin", "v-leaked-1", {"closed_chats": 0}),
    ]
    assert audit(client, action="dead_letter.retry")[0]["conversation_id"] == customer.conversation_id
    stored = whole_table(client)
    assert "a-new-password-9" not in stored and "my-password-123" not in stored and "wrong-wrong-1" not in stored


def test_throttled_logins_are_recorded_once_per_wait(client: TestClient) -> None:
    """A guesser's failures say when they start to cost a wait; the first attempt refused during that wait is
    recorded (429), its retries within the same wait are not (each would be a write)."""
    create_agent(client, "mo@example.com")
    for _ in range(3):
        assert client.post("/api/auth/login", json={"email": "mo@example.com", "password": "guess-guess-1"}
                           ).status_code == 401
    throttle = client.app.state.container.auth.throttle
    for _ in range(2):  # two more failures from this client: a wait of seconds, longer than the three tries below
        throttle.failed("mo@example.com", "testclient")
    for _ in range(3):
        refused = client.post("/api/auth/login", json={"email": "mo@example.com", "password": "guess-guess-2"})
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 2
    got = [(e["action"], e["target"], e["details"]) for e in reversed(audit(client)) if e["action"].startswith("auth.")]
    assert got == [
        ("auth.login_failed", "mo@example.com", {"known_account": True}),
        ("auth.login_failed", "mo@example.com", {"known_account": True}),
        ("auth.login_failed", "mo@example.com", {"known_account": True, "wait_s": 1}),
        ("auth.login_refused", "mo@example.com", {"known_account": True, "retry_after_s": got[-1][2]["retry_after_s"]}),
    ]
    assert 2 <= got[-1][2]["retry_after_s"] <= 4  # the wait the two extra failures imposed (4 s), as it runs down
    assert "guess-guess" not in whole_table(client)


def test_admins_filter_by_actor_action_and_time_and_page_back(client: TestClient) -> None:
    for i in range(5):
        create_agent(client, f"agent{i}@example.com")
    admin = agent_session(client, *ADMIN)
    assert admin.post("/api/admin/agents", json={"email": "z@example.com", "password": PASSWORD}).status_code == 201
    assert [(e["action"], e["target"]) for e in audit(client, actor=ADMIN[0])] == [
        ("account.create", "z@example.com"), ("auth.login", None)]
    assert len(audit(client, action="account.create")) == 7  # and the first admin, from settings
    assert audit(client, action="auth.login")[0]["actor"] == ADMIN[0]
    now = datetime.now(timezone.utc)
    assert len(audit(client, since=(now - timedelta(minutes=5)).isoformat(), action="account.")) == 7
    assert audit(client, until=(now - timedelta(minutes=5)).isoformat()) == []
    page = client.get("/api/admin/audit", headers=admin_headers(), params={"limit": 4, "action": "account."}).json()
    rest = client.get("/api/admin/audit", headers=admin_headers(),
                      params={"limit": 4, "action": "account.", "before": page["next_before"]}).json()
    assert len(page["entries"]) == 4 and len(rest["entries"]) == 3 and rest["next_before"] is None
    assert {e["id"] for e in page["entries"]}.isdisjoint(e["id"] for e in rest["entries"])
    # Bad filters are refused; agents may not read the log.
    for params in ({"action": "conversation.delete"}, {"since": "yesterday"}, {"since": "2026-01-01T00:00:00"},
                   {"limit": 0}, {"before": 0}, {"colour": "red"}):
        assert client.get("/api/admin/audit", headers=admin_headers(), params=params).status_code == 422, params
    agent = {"Authorization": f"Bearer {AGENT_TOKEN}", "X-Agent": "alice"}
    assert client.get("/api/admin/audit", headers=agent).status_code == 403
