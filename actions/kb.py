"""`action_answer_from_kb`: answer a question from the FAQ knowledge base (kb_index/).

The knowledge base decides (`KnowledgeBase.decide`) between

- ``answer``: one entry is close enough: its answer is sent;
- ``choices``: a few entries are plausible: the customer gets up to three buttons
  ``/choose_kb_entry{"kb_entry_id":"<id>"}`` titled by the entries' questions; choosing one (or typing
  "the second one") answers that entry directly;
- ``none``: nothing is close: for intents with a static response (``utter_<intent>``, e.g. shipping) that
  response is sent; for a message the NLU found out of scope, the polite refusal (``utter_out_of_scope``);
  otherwise an apology and a handoff (``no_confident_answer``). Whether that miss is the second in a row
  (``repeated_fallback``) is the hub's decision: it sees every turn.

The knowledge base has the last word before any refusal: out-of-scope messages, NLU fallbacks and turns the
dialogue policy is unsure of (Rasa's core fallback, config.yml) all come here first, so "how do I change my
address" is answered from the FAQ even when the NLU thought it was out of scope.

Each of the three sends ``custom.kb`` (`core.payloads.KBOutcome`) with what the knowledge base decided, so the
hub records it on every turn it decided: the entry answered, the entries offered, or the best score of a miss.
A static response answers the customer without the knowledge base: it carries no ``custom.kb``.

A missing or broken index never crashes the action: the customer is handed to a person (``action_failed``)
unless a static response can answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import asdict, is_dataclass
from typing import Any, Callable

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import conversation_language, entity_values, language_events, latest_intent, send_handoff
from core.contracts import CHOOSE_KB_ENTRY_INTENT, OUT_OF_SCOPE_INTENT, HandoffReason
from core.markdown import to_plain
from core.payloads import BotCustom, KBOutcome
from core.settings import ActionSettings

logger = logging.getLogger(__name__)

ENTRY_ENTITY = "kb_entry_id"
MAX_BUTTONS = 3
#: Intents whose static ``utter_<intent>`` response answers when the knowledge base has nothing.
STATIC_FALLBACK_INTENTS = frozenset({"shipping_info", "return_refund", "payment_problem", "cancel_order", "password_reset"})

_PAYLOAD_RE = re.compile(r"^/" + CHOOSE_KB_ENTRY_INTENT + r"(\{.*\})\s*$", re.DOTALL)
_ORDINALS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"\b(first|1st|top|1)\b|\b(number|option|no)\.?\s*one\b|^\s*one\s*$", re.I), 0),
    (re.compile(r"\b(second|2nd|middle|2)\b|\b(number|option|no)\.?\s*two\b|^\s*two\s*$", re.I), 1),
    (re.compile(r"\b(third|3rd|3)\b|\b(number|option|no)\.?\s*three\b|^\s*three\s*$", re.I), 2),
    (re.compile(r"\b(last|bottom)\b", re.I), -1),
)


def choose_payload(entry_id: str) -> str:
    """The button payload that chooses knowledge-base entry `entry_id`."""
    return "/" + CHOOSE_KB_ENTRY_INTENT + json.dumps({ENTRY_ENTITY: entry_id}, separators=(",", ":"))


def entry_id_from_payload(payload: str | None) -> str | None:
    """The entry id in a ``/choose_kb_entry{"kb_entry_id":"…"}`` payload, or None."""
    match = _PAYLOAD_RE.match((payload or "").strip())
    if not match:
        return None
    try:
        value = json.loads(match.group(1)).get(ENTRY_ENTITY)
    except (ValueError, AttributeError):
        return None
    return str(value) if value else None


def offered_entry_ids(tracker: Tracker) -> list[str]:
    """Entry ids of the knowledge-base buttons in the latest bot message that had such buttons."""
    for event in reversed(tracker.events):
        if event.get("event") != "bot":
            continue
        buttons = (event.get("data") or {}).get("buttons") or []
        ids = [entry_id for entry_id in (entry_id_from_payload(b.get("payload")) for b in buttons) if entry_id]
        if ids:
            return ids
    return []


def ordinal_choice(text: str | None, options: list[str]) -> str | None:
    """The option a typed choice ("the second one", "option 3", "last") points at, or None."""
    if not text or not options:
        return None
    for pattern, index in _ORDINALS:
        if pattern.search(text):
            if -len(options) <= index < len(options):
                return options[index]
            return None
    return None


def hit_value(hit: Any, name: str, default: Any = None) -> Any:
    """Attribute `name` of a knowledge-base hit or entry (object or mapping)."""
    if isinstance(hit, dict):
        return hit.get(name, default)
    return getattr(hit, name, default)


def hit_entry_id(hit: Any) -> str:
    """The entry id of a `Hit` (``entry_id``) or an `Entry` (``id``)."""
    return str(hit_value(hit, "entry_id") or hit_value(hit, "id") or "")


def candidate_dict(hit: Any) -> dict[str, Any]:
    """A hit as listed in a handoff payload's ``kb_candidates``."""
    return {
        "entry_id": hit_entry_id(hit),
        "question": hit_value(hit, "question", ""),
        "score": hit_value(hit, "score"),
        "language": hit_value(hit, "language"),
        "team": hit_value(hit, "team"),
    }


def hit_to_dict(hit: Any) -> dict[str, Any]:
    """A hit as JSON (the ``/kb/search`` response)."""
    if hasattr(hit, "to_dict"):
        return hit.to_dict()
    if is_dataclass(hit):
        return asdict(hit)
    return dict(hit)


def render_answer(hit: Any) -> str:
    """The customer-facing text of an entry: its answer, then its links, as Markdown. Each channel renders it
    in its own way (`core.markdown`: the widget's HTML, Telegram's HTML, WhatsApp's *bold*, plain SMS)."""
    text = str(hit_value(hit, "answer", "")).strip()
    links = []
    for link in hit_value(hit, "links", ()) or ():
        title, url = hit_value(link, "title", ""), hit_value(link, "url", "")
        if url:
            links.append(f"- [{_link_text(title)}]({url})" if title else f"- <{url}>")
    if links:
        text = text + "\n\n" + "\n".join(links)
    return text


def _link_text(title: str) -> str:
    """A link title safe inside Markdown's [brackets]."""
    return title.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


class KnowledgeBaseAccess:
    """The action server's view of the knowledge base: thresholds from settings, blocking work off the loop.

    `holder` is a `kb_index.KnowledgeBaseHolder` (or anything with its ``get`` / ``maybe_reload`` /
    ``reload`` methods). Every call first runs the holder's cheap check for a newly published build.
    """

    def __init__(self, holder: Any, settings: ActionSettings) -> None:
        self.holder = holder
        self.settings = settings

    def _kb(self) -> Any:
        try:
            self.holder.maybe_reload()
        except Exception:  # noqa: BLE001 - a failed reload check must not stop answering from the old index
            logger.exception("knowledge-base reload check failed")
        return self.holder.get()

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def decide(self, query: str, language: str | None) -> Any:
        """`KnowledgeBase.decide` with the configured thresholds."""

        def work() -> Any:
            return self._kb().decide(
                query,
                language=language,
                answer_threshold=self.settings.kb_answer_threshold,
                suggest_threshold=self.settings.kb_suggest_threshold,
            )

        return await self._call(work)

    async def explain(self, query: str, language: str | None) -> dict[str, Any]:
        """`KnowledgeBase.explain` at the configured thresholds: what the bot would do with `query` (``/kb/try``)."""

        def work() -> dict[str, Any]:
            return self._kb().explain(query, language, self.settings.kb_answer_threshold,
                                      self.settings.kb_suggest_threshold)

        return await self._call(work)

    async def entry(self, entry_id: str, language: str | None) -> Any:
        """The entry `entry_id` (in `language` when translated), or None."""
        return await self._call(lambda: self._kb().entry(entry_id, language))

    async def search(self, query: str, language: str | None, k: int = 5) -> list[Any]:
        """The `k` best hits for `query`."""
        return await self._call(lambda: self._kb().search(query, k=k, language=language))

    async def candidates(self, text: str, language: str | None, k: int = 3) -> list[dict[str, Any]]:
        """Entries close to `text` for an agent (``kb_candidates``); empty when the knowledge base fails."""
        try:
            hits = await self.search(text, language, k=k)
        except Exception:  # noqa: BLE001 - hints for agents are optional
            logger.warning("knowledge-base search for handoff candidates failed", exc_info=True)
            return []
        return [candidate_dict(hit) for hit in hits]

    async def reload(self) -> bool:
        """Load the live index again (``POST /kb/reload``)."""
        return bool(await self._call(self.holder.reload))

    async def status(self) -> dict[str, Any]:
        """Manifest of the live index (``GET /health``); raises when the index cannot be loaded."""

        def work() -> dict[str, Any]:
            kb = self._kb()
            manifest = getattr(kb, "manifest", None)
            info: dict[str, Any] = {}
            if manifest is not None:
                info = asdict(manifest) if is_dataclass(manifest) else dict(manifest)
            info.pop("stats", None)
            if "languages" in info:
                info["languages"] = list(info["languages"])
            return info

        return await self._call(work)


class ActionAnswerFromKB(Action):
    """Answer the latest message from the knowledge base (see the module docstring)."""

    def __init__(self, kb: KnowledgeBaseAccess | None, settings: ActionSettings) -> None:
        self.kb = kb
        self.settings = settings

    def name(self) -> str:
        return "action_answer_from_kb"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        language = conversation_language(tracker, self.settings.default_language)
        events: list[dict[str, Any]] = list(language_events(tracker, language))
        intent = latest_intent(tracker)
        text = ((tracker.latest_message or {}).get("text") or "").strip()
        static = self._static_response(intent, domain)

        try:
            if self.kb is None:
                raise RuntimeError("no knowledge base configured")
            if intent == CHOOSE_KB_ENTRY_INTENT:
                chosen = self._chosen_entry_id(tracker, text)
                if chosen:
                    entry = await self.kb.entry(chosen, language)
                    if entry is not None:
                        self._answer(dispatcher, entry, score=1.0)
                        return events
                    logger.info("chosen knowledge-base entry %r no longer exists", chosen)
                    text = ""  # a stale button: nothing to search for
            decision = await self.kb.decide(text, language) if text else None
        except Exception:  # noqa: BLE001 - never crash the conversation over the knowledge base
            logger.exception("knowledge base unavailable (sender %s)", tracker.sender_id)
            if static:
                dispatcher.utter_message(response=static)
                return events
            dispatcher.utter_message(response="utter_kb_unavailable")
            send_handoff(dispatcher, tracker, HandoffReason.ACTION_FAILED, language=language,
                         note="The knowledge base is unavailable.")
            return events

        kind = getattr(decision, "kind", "none")
        hits = list(getattr(decision, "hits", []) or [])
        best = getattr(decision, "best_score", None)
        if kind == "answer" and hits:
            self._answer(dispatcher, hits[0], score=hit_value(hits[0], "score"))
            return events
        if kind == "choices" and hits:
            offered = hits[:MAX_BUTTONS]
            buttons = [
                {"title": str(hit_value(hit, "question", hit_entry_id(hit))), "payload": choose_payload(hit_entry_id(hit))}
                for hit in offered
            ]
            outcome = KBOutcome(decision="choices", choices=[hit_entry_id(hit) for hit in offered], best_score=best)
            dispatcher.utter_message(response="utter_kb_choices", buttons=buttons, json_message=BotCustom(kb=outcome).dump())
            return events
        if static:
            dispatcher.utter_message(response=static)
            return events
        if intent == OUT_OF_SCOPE_INTENT and text:
            # The refusal, now that the knowledge base had nothing either (recorded as a miss by the hub).
            outcome = KBOutcome(decision="none", best_score=best if isinstance(best, (int, float)) else None)
            dispatcher.utter_message(response="utter_out_of_scope", json_message=BotCustom(kb=outcome).dump())
            return events
        await self._miss(dispatcher, tracker, language, best, text)
        return events

    # --- helpers ------------------------------------------------------------------------------------

    @staticmethod
    def _static_response(intent: str | None, domain: DomainDict) -> str | None:
        if intent not in STATIC_FALLBACK_INTENTS:
            return None
        name = f"utter_{intent}"
        return name if name in (domain.get("responses") or {}) else None

    @staticmethod
    def _chosen_entry_id(tracker: Tracker, text: str) -> str | None:
        values = entity_values(tracker, ENTRY_ENTITY)
        if values:
            return values[0]
        from_payload = entry_id_from_payload(text)
        if from_payload:
            return from_payload
        return ordinal_choice(text, offered_entry_ids(tracker))

    @staticmethod
    def _answer(dispatcher: CollectingDispatcher, hit: Any, score: Any) -> None:
        outcome = KBOutcome(decision="answer", entry_id=hit_entry_id(hit), score=score, language=hit_value(hit, "language"))
        dispatcher.utter_message(text=render_answer(hit), json_message=BotCustom(kb=outcome).dump())

    async def _miss(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, language: str, best: Any, text: str
    ) -> None:
        """Nothing close enough: apologise and hand over (`no_confident_answer`), with the closest entries as
        hints for the agent (`none` decisions carry no hits)."""
        scored = isinstance(best, (int, float))
        note = f"Best knowledge-base score {best:.2f}." if scored else None
        candidates = await self.kb.candidates(text, language) if (self.kb and text) else []
        dispatcher.utter_message(response="utter_kb_no_answer")
        outcome = KBOutcome(decision="none", best_score=best if scored else None)
        send_handoff(dispatcher, tracker, HandoffReason.NO_CONFIDENT_ANSWER, language=language,
                     kb_candidates=candidates, kb=outcome, note=note)
