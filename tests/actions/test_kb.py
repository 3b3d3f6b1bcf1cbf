"""`action_answer_from_kb` against a tiny knowledge base built with the real kb_index and encoder."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from actions.kb import choose_payload, entry_id_from_payload, ordinal_choice
from actions.server import create_app
from core.contracts import HandoffReason
from core.markdown import to_plain
from core.payloads import KBOutcome
from core.settings import ActionSettings
from tests.actions.support import Conversation, bot_custom, custom_of, slot_events


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
    conv = Conversation().user("do gift cards expire?", "faq", 0.81)
    result = run_kb(kb_holder, settings, conv, domain)
    [message] = result["responses"]
    assert "valid for **2 years**" in message["text"] and "valid for 2 years" in to_plain(message["text"])
    # Markdown, rendered by each channel (the plain rendering is what SMS customers read)
    assert message["text"].endswith("- [Gift cards](https://brightcart.example/gift-cards)")
    assert to_plain(message["text"]).endswith("• Gift cards: https://brightcart.example/gift-cards")
    assert message["custom"]["kb"]["entry_id"] == "gift-cards"  # what the hub stores with the message
    custom = bot_custom(result)
    assert custom.kb == KBOutcome(decision="answer", entry_id="gift-cards", score=custom.kb.score, language="en")
    assert custom.kb.score >= kb_holder.get().answer_threshold  # the content's own threshold (no setting)
    assert custom.handoff is None


def test_answer_in_the_conversation_language(kb_holder: Any, settings: ActionSettings, domain: dict[str, Any]) -> None:
    conv = Conversation().user("do gift cards expire", "faq", metadata={"language": "it", "channel": "telegram"})
    result = run_kb(kb_holder, settings, conv, domain)
    kb = bot_custom(result).kb
    assert (kb.decision, kb.entry_id, kb.language) == ("answer", "gift-cards", "it")
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
    custom = bot_custom(result)
    assert custom.handoff is None
    # The hub learns which entries were offered, in the buttons' order, and how close the best one was.
    assert custom.kb.decision == "choices"
    assert [choose_payload(entry_id) for entry_id in custom.kb.choices] == [b["payload"] for b in buttons]
    assert custom.kb.best_score is not None and custom.kb.best_score < FORCE_CHOICES["kb_answer_threshold"]


def test_button_choice_answers_that_entry(kb_holder: Any, settings: ActionSettings, domain: dict[str, Any]) -> None:
    payload = choose_payload("warranty")
    conv = Conversation().user(payload, "choose_kb_entry", 1.0, entities=[{"entity": "kb_entry_id", "value": "warranty"}])
    result = run_kb(kb_holder, settings.replace(**FORCE_NONE), conv, domain)
    [message] = result["responses"]
    assert "2-year warranty" in message["text"]
    assert bot_custom(result).kb == KBOutcome(decision="answer", entry_id="warranty", score=1.0, language="en")


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
    assert "dog to the warehouse" in handoff["summary"]
    assert len(handoff["details"]["kb_candidates"]) == 3  # closest entries, as hints for the agent
    assert handoff["details"]["intents"] == [{"intent": "nlu_fallback", "confidence": 0.2}]
    custom = bot_custom(result)
    assert custom.handoff.reason == HandoffReason.NO_CONFIDENT_ANSWER
    assert custom.kb.decision == "none" and custom.kb.entry_id is None and custom.kb.choices == []
    assert custom.kb.best_score < FORCE_NONE["kb_suggest_threshold"]
    assert f"Best knowledge-base score {custom.kb.best_score:.2f}." in handoff["summary"]


def test_a_second_miss_in_a_row_is_left_to_the_hub(kb_holder: Any, settings: ActionSettings, domain: dict[str, Any]) -> None:
    """The action reports every miss the same way; the hub, which sees every turn (also those an agent
    answered), turns the second miss in a row into `repeated_fallback`."""
    conv = (
        Conversation()
        .user("blah", "nlu_fallback", 0.2)
        .action("action_answer_from_kb")
        .bot("Sorry, I don't have a good answer to that.")
        .user("blah blah", "nlu_fallback", 0.2)
    )
    result = run_kb(kb_holder, settings.replace(**FORCE_NONE), conv, domain)
    custom = bot_custom(result)
    assert (custom.handoff.reason, custom.kb.decision) == (HandoffReason.NO_CONFIDENT_ANSWER, "none")
    assert "fallback_count" not in slot_events(result)  # no miss counter in the dialogue state any more


def test_static_response_when_the_kb_has_nothing(kb_holder: Any, settings: ActionSettings, domain: dict[str, Any]) -> None:
    conv = Conversation().user("how much is shipping to ireland", "shipping_info", 0.9)
    result = run_kb(kb_holder, settings.replace(**FORCE_NONE), conv, domain)
    assert [r.get("response") for r in result["responses"]] == ["utter_shipping_info"]
    # Answered from the domain, not from the knowledge base: neither a handoff nor a knowledge-base outcome.
    assert bot_custom(result).handoff is None and bot_custom(result).kb is None


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


def test_an_out_of_scope_win_is_answered_from_the_faq_when_it_knows(kb_holder: Any, settings: ActionSettings,
                                                                     domain: dict[str, Any]) -> None:
    """The knowledge base gets the last word: an `out_of_scope` intent no longer refuses what the FAQ answers."""
    conv = Conversation().user("do gift cards expire?", "out_of_scope", 0.71)
    result = run_kb(kb_holder, settings, conv, domain)
    assert bot_custom(result).kb.entry_id == "gift-cards"
    assert "valid for 2 years" in to_plain(result["responses"][0]["text"])  # the entry's answer, in Markdown
    assert custom_of(result, "handoff") is None


def test_out_of_scope_is_refused_only_when_the_faq_has_nothing(kb_holder: Any, settings: ActionSettings,
                                                               domain: dict[str, Any]) -> None:
    conv = Conversation().user("who will win the football match tonight", "out_of_scope", 0.9)
    result = run_kb(kb_holder, settings.replace(**FORCE_NONE), conv, domain)
    assert [r.get("response") for r in result["responses"]] == ["utter_out_of_scope"]
    custom = bot_custom(result)
    assert custom.handoff is None  # a refusal, not a person
    assert custom.kb.decision == "none" and custom.kb.best_score < FORCE_NONE["kb_suggest_threshold"]
