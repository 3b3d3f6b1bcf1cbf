"""Rasa's answer → what the hub does: the pure part of the bot turn."""

from __future__ import annotations

from bot.conversations.bot_turn import Outcome, interpret
from core.contracts import HandoffReason

KB_ANSWER = [{"text": "Gift cards are sent by e-mail."},
             {"custom": {"kb": {"decision": "answer", "entry_id": "gift-cards", "score": 0.8}}}]
MISS = [{"text": "Sorry, I can't find that."},
        {"custom": {"kb": {"decision": "none", "best_score": 0.2},
                    "handoff": {"reason": "no_confident_answer", "summary": "Nothing close enough."}}}]
CHOICES = [{"text": "Did you mean:", "buttons": [{"title": "Returns", "payload": '/choose_kb_entry{"kb_entry_id":"returns"}'},
                                                {"title": "Refunds", "payload": '/choose_kb_entry{"kb_entry_id":"refunds"}'}]}]


def nlu(intent: str, confidence: float = 0.9) -> dict:
    return {"intent": {"name": intent, "confidence": confidence}}


def test_a_knowledge_base_answer_names_its_entry_on_the_message_it_rode_with() -> None:
    plan = interpret(KB_ANSWER, nlu("nlu_fallback", 0.3), language="en", previous_outcome=None)
    assert [(m.text, entry) for m, entry in plan.messages] == [("Gift cards are sent by e-mail.", "gift-cards")]
    assert plan.outcome is Outcome.KB_ANSWER and plan.handoff is None
    assert (plan.intent, plan.confidence) == ("nlu_fallback", 0.3)


def test_choices_are_not_misses() -> None:
    plan = interpret(CHOICES, nlu("nlu_fallback", 0.3), language="it", previous_outcome=Outcome.MISS.value)
    assert plan.outcome is Outcome.CHOICES and plan.handoff is None
    assert [b.title for b in plan.messages[0][0].buttons] == ["Returns", "Refunds"]
    assert plan.messages[0][0].language == "it"


def test_a_first_miss_keeps_the_bots_own_reason_and_a_second_in_a_row_is_repeated_fallback() -> None:
    first = interpret(MISS, nlu("nlu_fallback", 0.2), language="en", previous_outcome=Outcome.ANSWERED.value)
    assert first.outcome is Outcome.MISS and first.handoff.reason is HandoffReason.NO_CONFIDENT_ANSWER
    second = interpret(MISS, nlu("nlu_fallback", 0.2), language="en", previous_outcome=Outcome.MISS.value)
    assert second.repeated_fallback and second.handoff.reason is HandoffReason.REPEATED_FALLBACK
    assert second.handoff.summary == "Nothing close enough."  # the bot's summary is kept


def test_two_plain_fallbacks_in_a_row_hand_off_even_if_the_bot_does_not_ask() -> None:
    reply = [{"text": "Sorry, I didn't get that."}]
    once = interpret(reply, nlu("nlu_fallback", 0.2), language="en", previous_outcome=None)
    assert once.outcome is Outcome.MISS and once.handoff is None
    twice = interpret(reply, nlu("nlu_fallback", 0.2), language="en", previous_outcome=Outcome.MISS.value)
    assert twice.handoff.reason is HandoffReason.REPEATED_FALLBACK
    # A miss after a human conversation (no bot outcome before it) is a first miss again.
    assert interpret(reply, nlu("nlu_fallback"), language="en", previous_outcome=None).handoff is None


def test_customer_requests_and_resolutions() -> None:
    ask = interpret([{"text": "A person will reply."}, {"custom": {"handoff": {"reason": "customer_request"}}}],
                    nlu("request_human"), language="en", previous_outcome=Outcome.MISS.value)
    assert ask.outcome is Outcome.HANDOFF and ask.handoff.reason is HandoffReason.CUSTOMER_REQUEST
    done = interpret([{"text": "Glad I could help!", "custom": {"resolve": True}}], nlu("thanks"), language="en",
                     previous_outcome=None)
    assert done.outcome is Outcome.RESOLVED and done.resolve and done.messages[0][0].text == "Glad I could help!"


def test_malformed_custom_payloads_never_stop_the_answer() -> None:
    plan = interpret([{"text": "Hello!", "custom": {"kb": {"score": "high"}, "handoff": "yes please"}},
                      "not a message", {"image": "https://shop.example/map.png"}],  # type: ignore[list-item]
                     None, language="en", previous_outcome=None)
    assert plan.handoff is None and plan.outcome is Outcome.ANSWERED
    assert [m.text for m, _ in plan.messages] == ["Hello!", ""]
    assert plan.messages[1][0].media_urls == ["https://shop.example/map.png"]
