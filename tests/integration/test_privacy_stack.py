"""GDPR against the real stack: what a customer said reaches the real Rasa's SQL tracker store; the admin export
holds it, the erasure removes it from Rasa's store, the hub's store and the hub's log file while everything runs,
and the bot goes on answering."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.integration.support import Chat, Stack

pytestmark = pytest.mark.integration

SAID = "hello, my name is Jo Bloggs"


def _admin(stack: Stack) -> httpx.Client:
    return httpx.Client(base_url=stack.hub, timeout=60,
                        headers={"Authorization": f"Bearer {stack.settings.admin_api_token.get_secret_value()}"})


def _tracker_texts(stack: Stack, conversation_id: str) -> list[str]:
    engine = create_engine(stack.settings.tracker_store_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT data FROM events WHERE sender_id = :s ORDER BY id"),
                                {"s": conversation_id}).all()
        return [json.loads(r.data).get("text") or "" for r in rows]
    finally:
        engine.dispose()


def test_export_and_erase_reach_rasas_tracker_and_the_logs(stack: Stack) -> None:
    chat = Chat(stack.hub)
    try:
        assert chat.say(SAID)
        cid = chat.conversation_id
        assert cid
        with stack.agent() as agent:
            visitor = agent.get(f"/api/agent/conversations/{cid}").json()["customer"]["id"]
        assert SAID in _tracker_texts(stack, cid)  # Rasa keeps what it was sent, keyed by the conversation id
        hub_log = stack.services["hub"].log_path
        deadline = time.monotonic() + 10
        while cid not in hub_log.read_text(errors="replace") and time.monotonic() < deadline:
            time.sleep(0.2)

        with _admin(stack) as admin:
            doc = admin.post("/api/admin/privacy/export", json={"channel": "web", "external_id": visitor}).json()
            assert [c["id"] for c in doc["conversations"]] == [cid]
            assert SAID in [e["data"].get("text") for e in doc["rasa_tracker"][cid]]
            assert any(cid in line["line"] for line in doc["logs"])

            report = admin.post("/api/admin/privacy/erase", json={"channel": "web", "external_id": visitor,
                                                                  "confirm": True, "reference": "it-1"})
            assert report.status_code == 200, report.text
            erased = report.json()["erased"]
            assert erased["conversations"] == 1 and erased["rasa_tracker_events"] >= 2
            assert erased["log_ids_masked"] >= 1
        assert _tracker_texts(stack, cid) == []
        assert cid not in hub_log.read_text(errors="replace")
        with stack.agent() as agent:
            assert agent.get(f"/api/agent/conversations/{cid}").status_code == 404
    finally:
        chat.close()

    # Everything keeps running: the same visitor starts afresh and the bot answers.
    again = Chat(stack.hub, token=chat.token)
    try:
        assert again.welcome["history"] == []
        assert [f for f in again.say("hi") if f.get("sender") == "bot"]
        assert again.conversation_id != cid
    finally:
        again.close()
