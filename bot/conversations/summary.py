"""The handoff summary names the customer's actual problem.

The action server's summary quotes the message before the handoff request, which is often small talk or an
off-topic line ("what's the weather?") rather than what the customer needs. The hub sees every turn with its
intent and outcome, so it picks the problem itself: the newest typed message about a support topic (an intent
that is not small talk, or a question the bot could not answer), and only when there is none an off-topic one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from core.contracts import CHOOSE_KB_ENTRY_INTENT

#: Intents that are about the conversation itself, never the customer's problem.
SMALL_TALK = frozenset({"greet", "goodbye", "thanks", "affirm", "deny", "bot_challenge", "request_human",
                        "human_handoff", CHOOSE_KB_ENTRY_INTENT})
OFF_TOPIC = frozenset({"out_of_scope"})
UNANSWERED = frozenset({"miss", "choices"})
QUOTE_CHARS = 200
_CUSTOMER_WROTE = re.compile(r"\s*Customer wrote: \u201c.*?\u201d\s*$", re.DOTALL)


@dataclass(frozen=True)
class Problem:
    text: str
    intent: str | None
    outcome: str | None
    message_id: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.text, "intent": self.intent, "outcome": self.outcome, "message_id": self.message_id}


def _typed(m: Any) -> bool:
    text = (getattr(m, "text", "") or "").strip()
    payload = getattr(m, "payload", None) or {}
    return bool(text) and not text.startswith("/") and payload.get("kind") != "button"


def problem_of(customer_turns: Iterable[Any]) -> Problem | None:
    """The customer's problem among their messages (oldest first; each with `text`, `intent`, `outcome`,
    `payload`, `id`): the newest topical one, else the newest off-topic one."""
    topical: Any = None
    fallback: Any = None
    for m in customer_turns:
        if not _typed(m):
            continue
        intent, outcome = getattr(m, "intent", None), getattr(m, "outcome", None)
        if intent in SMALL_TALK and outcome not in UNANSWERED:
            continue
        if intent in OFF_TOPIC and outcome not in UNANSWERED:
            fallback = m
        else:
            topical = m
    chosen = topical or fallback
    if chosen is None:
        return None
    flat = " ".join(chosen.text.split())
    text = flat if len(flat) <= QUOTE_CHARS else flat[: QUOTE_CHARS - 1].rstrip() + "\u2026"
    return Problem(text, getattr(chosen, "intent", None), getattr(chosen, "outcome", None), getattr(chosen, "id", None))


def with_problem(summary: str, problem: Problem | None) -> str:
    """The summary with its closing quote replaced by the problem ("Problem: “…” (intent)")."""
    base = _CUSTOMER_WROTE.sub("", summary or "").strip()
    if problem is None:
        return base
    label = f" ({problem.intent.replace('_', ' ')})" if problem.intent and problem.intent not in OFF_TOPIC else ""
    return f"{base} Problem: \u201c{problem.text}\u201d{label}".strip()
