"""Failures of the bot's own services while customers are chatting: nothing is lost, a human takes over.
(Named to run after the other integration tests: it stops and restarts services of the shared stack.)"""

from __future__ import annotations

import httpx
import pytest

from tests.integration.support import Chat, Stack

pytestmark = pytest.mark.integration


def test_action_server_down_hands_off_instead_of_going_silent(stack: Stack) -> None:
    chat = Chat(stack.hub)
    try:
        assert [f for f in chat.say("hi") if f.get("sender") == "bot"]
        stack.kill("actions")
        frames = chat.say("do you sell gift cards?")
        assert [f.get("event") for f in frames] == ["bot_unavailable", "queued"], frames
        with stack.agent() as agent:
            details = agent.get(f"/api/agent/conversations/{chat.conversation_id}").json()
        assert details["conversation"]["handoff_reason"] == "action_failed"
        assert [m["text"] for m in details["messages"] if m["sender"] == "customer"][-1] == "do you sell gift cards?"
    finally:
        chat.close()
        stack.restart("actions")


def test_rasa_killed_mid_conversation_hands_off_and_loses_nothing(stack: Stack) -> None:
    chat = Chat(stack.hub)
    try:
        assert [f for f in chat.say("hi") if f.get("sender") == "bot"]
        stack.kill("rasa")
        frames = chat.say("my order BC-100002 never arrived, what now?")
        events = [f.get("event") for f in frames]
        assert events == ["bot_unavailable", "queued"], frames
        with stack.agent() as agent:
            details = agent.get(f"/api/agent/conversations/{chat.conversation_id}").json()
        assert details["conversation"]["status"] == "queued"
        assert details["conversation"]["handoff_reason"] == "bot_unavailable"
        assert details["messages"][-3]["text"] == "my order BC-100002 never arrived, what now?"
    finally:
        chat.close()
        stack.restart("rasa")
    # Dialogue state lives in the SQL tracker store, so it survived the restart.
    tracker = httpx.get(f"http://{stack.settings.host}:{stack.settings.rasa_port}/conversations/"
                        f"{chat.conversation_id}/tracker", timeout=30,
                        params={"token": stack.settings.rasa_auth_token.get_secret_value()}).json()
    assert any(e.get("event") == "user" and e.get("text") == "hi" for e in tracker["events"])
