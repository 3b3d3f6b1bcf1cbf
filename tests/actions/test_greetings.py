"""`action_greet_or_goodbye`: "ciao" says hello when the conversation starts and goodbye later."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from actions.server import create_app
from core.settings import ActionSettings
from tests.actions.support import Conversation


def responses(settings: ActionSettings, conv: Conversation, domain: dict[str, Any]) -> list[str | None]:
    with TestClient(create_app(holder=None, settings=settings, warm_up=False)) as client:
        response = client.post("/webhook", json=conv.call("action_greet_or_goodbye", domain))
    assert response.status_code == 200, response.text
    return [r.get("response") for r in response.json()["responses"]]


def test_a_first_ciao_is_a_greeting(settings: ActionSettings, domain: dict[str, Any]) -> None:
    conv = Conversation().user("ciao", "greet_or_goodbye", metadata={"language": "it", "channel": "web"})
    assert responses(settings, conv, domain) == ["utter_greet"]


def test_ciao_after_being_helped_is_a_goodbye(settings: ActionSettings, domain: dict[str, Any]) -> None:
    conv = (Conversation().user("dove è il mio ordine BC-100002", "order_status")
            .bot("Your order is on its way", action="action_order_status")
            .user("ciao", "greet_or_goodbye"))
    assert responses(settings, conv, domain) == ["utter_goodbye"]


def test_a_new_session_starts_with_a_greeting_again(settings: ActionSettings, domain: dict[str, Any]) -> None:
    conv = Conversation().user("where is my order", "order_status").bot("Which order?")
    conv.events += [{"event": "action", "name": "action_session_start", "timestamp": 2.0},
                    {"event": "session_started", "timestamp": 2.0}]
    conv.user("servus", "greet_or_goodbye", metadata={"language": "ro", "channel": "web"})
    assert responses(settings, conv, domain) == ["utter_greet"]
