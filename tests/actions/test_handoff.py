"""`action_handoff`: the handoff payload the hub acts on."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from actions.server import create_app
from core.contracts import HandoffReason
from core.settings import ActionSettings
from tests.actions.support import Conversation, bot_custom, custom_of


@pytest.fixture()
def client(settings: ActionSettings, kb_holder: Any) -> TestClient:
    with TestClient(create_app(holder=kb_holder, settings=settings, warm_up=False)) as test_client:
        yield test_client


def test_customer_request_payload(client: TestClient, domain: dict[str, Any]) -> None:
    conv = (
        Conversation(slots={"order_number": "BC-123456"})
        .user("hello", "greet", 0.99)
        .bot("Hi!")
        .user("my gift card code does not work at checkout", "faq", 0.71, ranking=[("faq", 0.71), ("payment_problem", 0.2)])
        .bot("...")
        .user("let me talk to a human please", "request_human", 0.97)
    )
    response = client.post("/webhook", json=conv.call("action_handoff", domain))
    assert response.status_code == 200
    result = response.json()
    [message] = result["responses"]
    assert message["response"] == "utter_handoff"
    handoff = custom_of(result, "handoff")
    assert bot_custom(result).handoff.reason == HandoffReason.CUSTOMER_REQUEST
    assert handoff["summary"].startswith("Customer asked to talk to a person.")
    assert "gift card code does not work" in handoff["summary"]  # the issue, not "talk to a human"
    assert "Order: BC-123456." in handoff["summary"]
    details = handoff["details"]
    assert details["intents"] == [
        {"intent": "greet", "confidence": 0.99},
        {"intent": "faq", "confidence": 0.71},
        {"intent": "request_human", "confidence": 0.97},
    ]
    assert details["kb_candidates"][0]["entry_id"] == "gift-cards"
    assert set(details["kb_candidates"][0]) == {"entry_id", "question", "score", "language", "team"}
    assert details["language"] == "en"
    assert details["order_number"] == "BC-123456"


def test_complaint_reason_and_fallback_candidate(client: TestClient, domain: dict[str, Any]) -> None:
    conv = (
        Conversation()
        .user("asdf qwerty", "nlu_fallback", 0.4, ranking=[("nlu_fallback", 0.4), ("faq", 0.31)])
        .bot("Sorry")
        .user("this is the worst service ever, I'm furious", "complaint", 0.88, metadata={"language": "it"})
    )
    result = client.post("/webhook", json=conv.call("action_handoff", domain)).json()
    handoff = custom_of(result, "handoff")
    assert handoff["reason"] == "complaint"
    assert bot_custom(result).kb is None  # not a knowledge-base turn
    assert "worst service ever" in handoff["summary"]
    assert handoff["details"]["intents"][0] == {"intent": "nlu_fallback", "confidence": 0.4, "candidate": {"intent": "faq", "confidence": 0.31}}
    assert handoff["details"]["language"] == "it"
    assert {"event": "slot", "name": "language", "value": "it"}.items() <= result["events"][0].items()


def test_handoff_without_knowledge_base_still_works(settings: ActionSettings, broken_holder: Any, domain: dict[str, Any]) -> None:
    conv = Conversation().user("my lamp arrived broken", "return_refund").bot("...").user("agent", "request_human")
    with TestClient(create_app(holder=broken_holder, settings=settings, warm_up=False)) as test_client:
        result = test_client.post("/webhook", json=conv.call("action_handoff", domain)).json()
    handoff = custom_of(result, "handoff")
    assert bot_custom(result).handoff.reason == HandoffReason.CUSTOMER_REQUEST
    assert handoff["details"]["kb_candidates"] == []
