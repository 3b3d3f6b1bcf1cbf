"""Helpers shared by the custom actions: languages, order numbers, intent history, handoff payloads.

Everything here is a pure function of the tracker (or of plain values), so the actions stay small and
these rules are tested once.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Iterable, Mapping

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from core.contracts import FALLBACK_INTENT, HandoffReason
from core.languages import DEFAULT_LANGUAGE, normalize_language
from core.payloads import BotCustom, HandoffRequest, KBOutcome
from core.pii import extract_order_numbers, normalise_order_number

logger = logging.getLogger(__name__)

LANGUAGE_SLOT = "language"
ORDER_NUMBER_SLOT = "order_number"
SESSION_METADATA_SLOT = "session_started_metadata"

#: How many past user turns a handoff summary lists.
INTENT_HISTORY = 5
#: Longest customer quote put in a handoff summary.
SUMMARY_QUOTE_CHARS = 200

# BC-123456, bc123456, BC 123456, #123456, # 123456 or a bare 123456 (not part of a longer number/word).
# Something the customer probably meant as an order number, valid or not: "BC-12345", "#1234567", "98765".
ORDER_NUMBER_ATTEMPT_RE = re.compile(r"(?<![\w#-])(?:bc[-\s]?\d+|#\s?\d+|\d{3,})(?![\w-])", re.IGNORECASE)


# --- languages ---------------------------------------------------------------------------------------


def metadata_language(metadata: Any) -> str | None:
    """The ``language`` field of a message's metadata, if it holds a usable code."""
    if isinstance(metadata, Mapping):
        return normalize_language(metadata.get("language"))
    return None


def conversation_language(tracker: Tracker, default: str = DEFAULT_LANGUAGE) -> str:
    """The language to answer in.

    The latest message's metadata wins (the hub sends it with every message), then the ``language``
    slot, then the metadata the session started with, then `default`.
    """
    latest = tracker.latest_message or {}
    return (
        metadata_language(latest.get("metadata"))
        or normalize_language(tracker.get_slot(LANGUAGE_SLOT))
        or metadata_language(tracker.get_slot(SESSION_METADATA_SLOT))
        or normalize_language(default)
        or DEFAULT_LANGUAGE
    )


def language_events(tracker: Tracker, language: str) -> list[EventType]:
    """A `SlotSet` for the ``language`` slot when it differs from `language`, else nothing."""
    if tracker.get_slot(LANGUAGE_SLOT) == language:
        return []
    return [SlotSet(LANGUAGE_SLOT, language)]


# --- order numbers -----------------------------------------------------------------------------------


def normalize_order_number(value: Any) -> str | None:
    """``BC-123456`` for any accepted spelling (``bc123456``, ``#123456``, ``123456``…), else None.

    The whole value must be one order number (surrounding spaces and punctuation are ignored).
    """
    return None if value is None else normalise_order_number(str(value))


def find_order_number(text: str | None, language: str = "en") -> str | None:
    """The first order number in free text, normalised to ``BC-123456``, or None (spaCy + rules, `core.pii`)."""
    found = extract_order_numbers(text or "", language)
    return found[0] if found else None


def find_order_number_attempt(text: str | None) -> str | None:
    """Text that looks like an attempt at an order number (e.g. ``BC-12345``), for a precise re-ask."""
    if not text:
        return None
    match = ORDER_NUMBER_ATTEMPT_RE.search(text)
    return match.group(0) if match else None


# --- tracker history ---------------------------------------------------------------------------------


def latest_intent(tracker: Tracker) -> str | None:
    """Name of the intent of the latest user message."""
    intent = (tracker.latest_message or {}).get("intent") or {}
    return intent.get("name")


def user_events(tracker: Tracker) -> list[dict[str, Any]]:
    """All user events of the tracker, oldest first."""
    return [event for event in tracker.events if event.get("event") == "user"]


def intent_history(tracker: Tracker, limit: int = INTENT_HISTORY) -> list[dict[str, Any]]:
    """The intents of the last `limit` user messages (oldest first) with their confidences.

    For `nlu_fallback` the best real intent is added as ``candidate`` so agents see what it nearly was.
    """
    history: list[dict[str, Any]] = []
    for event in user_events(tracker)[-limit:]:
        parse_data = event.get("parse_data") or {}
        intent = parse_data.get("intent") or {}
        name = intent.get("name")
        if not name:
            continue
        item: dict[str, Any] = {"intent": name, "confidence": _rounded(intent.get("confidence"))}
        if name == FALLBACK_INTENT:
            ranking = [r for r in parse_data.get("intent_ranking") or [] if r.get("name") != FALLBACK_INTENT]
            if ranking:
                item["candidate"] = {"intent": ranking[0].get("name"), "confidence": _rounded(ranking[0].get("confidence"))}
        history.append(item)
    return history


def previous_user_text(tracker: Tracker, skip_intents: Iterable[str] = ()) -> str | None:
    """Text of the most recent user message whose intent is not in `skip_intents`."""
    skip = set(skip_intents)
    for event in reversed(user_events(tracker)):
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        text = (event.get("text") or "").strip()
        if text and intent not in skip and not text.startswith("/"):
            return text
    return None


def entity_values(tracker: Tracker, entity: str) -> list[str]:
    """Values of `entity` in the latest message."""
    entities = (tracker.latest_message or {}).get("entities") or []
    return [str(e.get("value")) for e in entities if e.get("entity") == entity and e.get("value") is not None]


# --- handoff payload ---------------------------------------------------------------------------------

_REASON_OPENINGS = {
    HandoffReason.CUSTOMER_REQUEST: "Customer asked to talk to a person.",
    HandoffReason.COMPLAINT: "Customer is complaining.",
    HandoffReason.NO_CONFIDENT_ANSWER: "The bot found no confident answer.",
    HandoffReason.ACTION_FAILED: "A bot action failed.",
}


def quote(text: str | None, limit: int = SUMMARY_QUOTE_CHARS) -> str:
    """`text` on one line, cut to `limit` characters with an ellipsis."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def handoff_summary(tracker: Tracker, reason: HandoffReason, note: str | None = None, text: str | None = None) -> str:
    """A one-paragraph summary for the agent queue: why, what about, and the customer's own words."""
    parts = [_REASON_OPENINGS.get(reason, f"Handoff ({reason}).")]
    if note:
        parts.append(note)
    topics = [h["intent"] for h in intent_history(tracker) if h["intent"] not in {"greet", "affirm", "deny", "thanks"}]
    if topics:
        parts.append("Recent intents: " + ", ".join(dict.fromkeys(topics)) + ".")
    order_number = tracker.get_slot(ORDER_NUMBER_SLOT)
    if order_number:
        parts.append(f"Order: {order_number}.")
    said = text if text is not None else (tracker.latest_message or {}).get("text")
    if said and not said.startswith("/"):
        parts.append(f"Customer wrote: \u201c{quote(said)}\u201d")
    return " ".join(parts)


def handoff_request(
    tracker: Tracker,
    reason: HandoffReason,
    *,
    language: str,
    kb_candidates: list[dict[str, Any]] | None = None,
    note: str | None = None,
    text: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> HandoffRequest:
    """What the hub needs to queue the conversation for a person (docs/architecture.md, "Hub ⇄ Rasa")."""
    details: dict[str, Any] = {
        "intents": intent_history(tracker),
        "kb_candidates": list(kb_candidates or []),
        "language": language,
    }
    order_number = tracker.get_slot(ORDER_NUMBER_SLOT)
    if order_number:
        details["order_number"] = order_number
    if extra:
        details.update(extra)
    return HandoffRequest(reason=reason, summary=handoff_summary(tracker, reason, note, text), details=details)


def _rounded(value: Any) -> float | None:
    try:
        return round(float(value), 4)
    except (TypeError, ValueError):
        return None


def send_handoff(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    reason: HandoffReason,
    *,
    language: str,
    kb_candidates: list[dict[str, Any]] | None = None,
    kb: KBOutcome | None = None,
    note: str | None = None,
    text: str | None = None,
    extra: dict[str, Any] | None = None,
) -> HandoffRequest:
    """Utter ``utter_handoff`` with the handoff request (and `kb`, what the knowledge base decided) attached."""
    request = handoff_request(
        tracker, reason, language=language, kb_candidates=kb_candidates, note=note, text=text, extra=extra
    )
    dispatcher.utter_message(response="utter_handoff", json_message=BotCustom(handoff=request, kb=kb).dump())
    logger.info("handoff requested: sender=%s reason=%s", tracker.sender_id, reason)
    return request
