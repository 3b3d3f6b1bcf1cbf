"""`action_answer_from_kb` against a tiny knowledge base built with the real kb_index and encoder."""

from __future__ import annotations


from typing import Any

import pytest
from starlette.testclient import TestClient

from actions.kb import choose_payload, entry_id_from_payload, ordinal_choice
from actions.server import create_app
from core.settings import ActionSettings
from tests.actions.support import Conversation, custom_of, slot_events


def run_kb(holder: Any, settings: ActionSettings, conv: Conversation, domain: dict[str, Any]) -> dict[str, Any]:
    with TestClient(create_app(holder=holder, settings=settings, warm_up=False)) as client:
        response = client.post("/webhook", json=conv.call("action_answer_from_kb", domain))
    assert response.status_code == 200, response.text
    return response.json()


#: Thresholds that force each decision whatever the exact similarity scores are.
FORCE_CHOICES = {"kb_answer_threshold": 0.99, "kb_suggest_threshold": -1.0}
FORCE_NONE = {"kb_answer_threshold": 0.99, "kb_suggest_threshold": 0.99}


def test_payload_helpers() -> None:
    payload = choose_payload("gift-cards")
    assert payload == '/choose_kb_entry{"kb_entry_id":"gift-cards"}'
    assert entry_id_from_payload(payload) == "gift-cards"
    assert entry_id_from_payload("/choose_kb_entry{not json}") is None
    assert entry_id_from_payload("hello") is None
    assert ordinal_choice("the second one please", ["a", "b", "c"]) == "b"
    assert ordinal_choice("option 3", ["a", "b", "c"]) == "c"
    assert ordinal_choice("the last one", ["a", "b"]) == "b"
    assert ordinal_choice("third", ["a", "b"]) is None
    assert ordinal_choice("whatever", ["a"]) is None
    assert ordinal_choice("number one please", ["a", "b"]) == "a"
    assert ordinal_choice("option two", ["a", "b"]) == "b"


def test_answer(kb_holder: Any, settings: ActionSettings, domain: dict[str, Any]) -> None:
    conv = Conversation(slots={"fallback_count": 1.0}).user("do gift cards expire?", "faq", 0.81)
    result = run_kb(kb_holder, settings, conv, domain)
    [message] = result["responses"]
    assert "valid for 2 years" in message["text"]
    assert "**" not in message["text"]  # Markdown rendered to plain text
    assert message["text"].endswith("Gift cards: https://brightcart.example/gift-cards")
    kb = message["custom"]["kb"]
    assert kb["entry_id"] == "gift-cards" and kb["language"] == "en"
    assert kb["score"] >= settings.kb_answer_threshold
    assert set(kb) == {"entry_id", "score", "language"}
    assert slot_events(result)["fallback_count"] == 0.0


def test_answer_in_the_conversation_language(kb_holder: Any, settings: ActionSettings, domain: dict[str, Any]) -> None:
    conv = Conversation().user("do gift cards expire", "faq", metadata={"language": "it", "channel": "telegram"})
    result = run_kb(kb_holder, settings, conv, domain)
    assert result["responses"][0]["custom"]["kb"] == {
        "entry_id": "gift-cards",
        "score": pytest.approx(result["responses"][0]["custom"]["kb"]["score"]),
        "language": "it",
    }
    assert "2 anni" in result["responses"][0]["text"]
    assert slot_events(result)["language"] == "it"


def test_choices_offer_buttons(kb_holder: Any, settings: ActionSettings, domain: dict[str, Any]) -> None:
    conv = Conversation().user("gift card warranty", "nlu_fallback", 0.3)
    result = run_kb(kb_holder, settings.replace(**FORCE_CHOICES), conv, domain)
    [message] = result["responses"]
    assert message["response"] == "utter_kb_choices"
    buttons = message["buttons"]
    assert 2 <= len(buttons) <= 3
    assert {b["payload"] for b in buttons} <= {choose_payload(i) for i in ("gift-cards", "warranty", "store-pickup")}
    assert "How do gift cards work?" in {b["title"] for b in buttons}
    assert custom_of(result, "handoff") is None


def test_button_choice_answers_that_entry(kb_holder: Any, settings: ActionSettings, domain: dict[str, Any]) -> None:
    payload = choose_payload("warranty")
    conv = Conversation().user(payload, "choose_kb_entry", 1.0, entities=[{"entity": "kb_entry_id", "value": "warranty"}])
    result = run_kb(kb_holder, settings.replace(**FORCE_NONE), conv, domain)
    [message] = result["responses"]
    assert "2-year warranty" in message["text"]
    assert message["custom"]["kb"] == {"entry_id": "warranty", "score": 1.0, "language": "en"}


def test_typed_choice_picks_from_the_offered_buttons(kb_holder: Any, settings: ActionSettings, domain: dict[str, Any]) -> None:
    buttons = [{"title": "Gift cards?", "payload": choose_payload("gift-cards")}, {"title": "Pickup?", "payload": choose_payload("store-pickup")}]
    conv = (
        Conversation()
        .user("collect gift", "nlu_fallback", 0.3)
        .bot("I found a few answers", buttons=buttons, action="action_answer_from_kb")
        .user("the second one", "choose_kb_entry", 0.9)
    )
    result = run_kb(kb_holder, settings.replace(**FORCE_NONE), conv, domain)
    assert result["responses"][0]["custom"]["kb"]["entry_id"] == "store-pickup"


def test_none_apologises_and_hands_over(kb_holder: Any, settings: ActionSettings, domain: dict[str, Any]) -> None:
    conv = Conversation().user("can I bring my dog to the warehouse", "nlu_fallback", 0.2)
    result = run_kb(kb_holder, settings.replace(**FORCE_NONE), conv, domain)
    assert [r.get("response") for r in result["responses"]] == ["utter_kb_no_answer", "utter_handoff"]
    handoff = custom_of(result, "handoff")
    assert handoff["reason"] == "no_confident_answer"
    assert "dog to the warehouse" in handoff["summary"]
    assert len(handoff["details"]["kb_candidates"]) == 3  # closest entries, as hints for the agent
    assert handoff["details"]["intents"] == [{"intent": "nlu_fallback", "confidence": 0.2}]
    assert slot_events(result)["fallback_count"] == 1.0


def test_second_miss_in_a_row_is_repeated_fallback(kb_holder: Any, settings: ActionSettings, domain: dict[str, Any]) -> None:
    conv = (
        Conversation()
        .user("blah", "nlu_fallback", 0.2)
        .action("action_answer_from_kb")
        .slot("fallback_count", 1.0)
        .bot("Sorry, I don't have a good answer to that.")
        .user("blah blah", "nlu_fallback", 0.2)
    )
    result = run_kb(kb_holder, settings.replace(**FORCE_NONE), conv, domain)
    assert custom_of(result, "handoff")["reason"] == "repeated_fallback"
    assert slot_events(result)["fallback_count"] == 2.0


def test_miss_after_an_answered_turn_starts_counting_again(kb_holder: Any, settings: ActionSettings, domain: dict[str, Any]) -> None:
    conv = (
        Conversation(slots={"fallback_count": 1.0})
        .user("blah", "nlu_fallback", 0.2)
        .slot("fallback_count", 1.0)
        .bot("...")
        .user("hi", "greet")
        .bot("Hi!")
        .user("blah blah", "nlu_fallback", 0.2)
    )
    result = run_kb(kb_holder, settings.replace(**FORCE_NONE), conv, domain)
    assert custom_of(result, "handoff")["reason"] == "no_confident_answer"


def test_static_response_when_the_kb_has_nothing(kb_holder: Any, settings: ActionSettings, domain: dict[str, Any]) -> None:
    conv = Conversation().user("how much is shipping to ireland", "shipping_info", 0.9)
    result = run_kb(kb_holder, settings.replace(**FORCE_NONE), conv, domain)
    assert [r.get("response") for r in result["responses"]] == ["utter_shipping_info"]
    assert custom_of(result, "handoff") is None


def test_broken_kb_hands_over(broken_holder: Any, settings: ActionSettings, domain: dict[str, Any]) -> None:
    conv = Conversation().user("do gift cards expire", "faq")
    result = run_kb(broken_holder, settings, conv, domain)
    assert [r.get("response") for r in result["responses"]] == ["utter_kb_unavailable", "utter_handoff"]
    handoff = custom_of(result, "handoff")
    assert handoff["reason"] == "action_failed"
    assert "knowledge base is unavailable" in handoff["summary"]


def test_broken_kb_uses_the_static_response_when_there_is_one(broken_holder: Any, settings: ActionSettings, domain: dict[str, Any]) -> None:
    conv = Conversation().user("refund please", "return_refund")
    result = run_kb(broken_holder, settings, conv, domain)
    assert [r.get("response") for r in result["responses"]] == ["utter_return_refund"]
