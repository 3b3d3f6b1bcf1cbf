"""The bot's turn: what Rasa answered, turned into what the hub does (a pure function), and doing it.

`interpret()` reads Rasa's reply messages (text, buttons, images, the `custom` payload of `core.payloads`) and
the parse of the customer's message into a `TurnPlan`: the messages to send, what the knowledge base decided,
whether the bot asks for a person or closes the conversation, and the turn's `Outcome`. The repeated-fallback
rule is decided here, once: a miss right after a miss hands the conversation to a person.

`BotTurns.run()` asks Rasa (no transaction open), then commits the whole turn in one transaction — the
customer message's intent and outcome, the bot's messages and their outbox rows, a handoff or resolution —
sends the messages, and only then publishes the turn's events.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from types import SimpleNamespace
from typing import Any

from bot.clients.rasa import RasaClient, RasaUnavailable
from bot.conversations import feedback, ownership
from bot.conversations.outbound import Outbound, Staged
from bot.conversations.summary import problem_of, with_problem
from bot.errors import InvalidTransition
from bot.handoff.teams import HandoffConfig
from bot.ops.metrics import Metrics
from bot.store import messages as message_store
from bot.store.db import Database, Tx
from bot.store.models import Sender
from connectors.base import Button, OutboundMessage
from core.contracts import CHOOSE_KB_ENTRY_INTENT, FALLBACK_INTENT, HandoffReason
from core.payloads import BotCustom, HandoffRequest, KBOutcome
from core.pii import redact

log = logging.getLogger(__name__)

CHOICE_PAYLOAD = "/" + CHOOSE_KB_ENTRY_INTENT  # the payload of a knowledge-base choice button
OUT_OF_SCOPE_INTENT = "out_of_scope"  # domain.yml: answered with a polite refusal (utter_out_of_scope)


class Outcome(str, Enum):
    """What the bot did with a customer message (stored on the message)."""

    PENDING = "pending"  # stored, the bot's turn not finished yet (a crash leaves it so: resumed at start)
    ANSWERED = "answered"  # a response that is not from the knowledge base (greeting, order status …)
    KB_ANSWER = "kb_answer"  # answered from a knowledge-base entry
    CHOICES = "choices"  # offered the best knowledge-base entries as buttons
    MISS = "miss"  # not understood and nothing found: a fallback, or the knowledge base had nothing
    OUT_OF_SCOPE = "out_of_scope"  # understood as outside what the bot is for, and refused
    HANDOFF = "handoff"  # the customer asked for a person or complained
    RESOLVED = "resolved"  # the bot closed the conversation
    BOT_UNAVAILABLE = "bot_unavailable"  # Rasa failed or answered nothing: a person takes over
    UNSUPPORTED_LANGUAGE = "unsupported_language"  # written in a language the bot does not speak
    LANGUAGE_SET = "language_set"  # the customer chose a language
    CSAT = "csat"  # the customer's satisfaction rating
    FEEDBACK = "feedback"  # the customer's "Was this helpful?" answer

    def __str__(self) -> str:
        return self.value


class TurnTaken(Exception):
    """The customer message was answered by another turn in the meantime (nothing of this turn is kept)."""


@dataclass
class TurnPlan:
    messages: list[tuple[OutboundMessage, str | None]]  # (message, knowledge-base entry it answers from)
    intent: str | None = None
    confidence: float | None = None
    kb: KBOutcome | None = None
    handoff: HandoffRequest | None = None
    resolve: bool = False
    outcome: Outcome = Outcome.ANSWERED
    repeated_fallback: bool = False
    details: dict[str, Any] = field(default_factory=dict)


def _is_miss(intent: str | None, kb: KBOutcome | None, handoff: HandoffRequest | None,
             messages: list[tuple[OutboundMessage, str | None]]) -> bool:
    """Nothing understood and nothing found: the knowledge base had nothing, or an NLU fallback that neither
    answered from the knowledge base nor offered choices."""
    if kb is not None:
        return kb.decision == "none"
    if handoff is not None and handoff.reason is HandoffReason.NO_CONFIDENT_ANSWER:
        return True
    if intent != FALLBACK_INTENT:
        return False
    return not any(entry or out.buttons for out, entry in messages)


def interpret(replies: list[dict[str, Any]], nlu: dict[str, Any] | None, *, language: str,
              previous_outcome: str | None) -> TurnPlan:
    """Rasa's reply messages → what to do. `previous_outcome`: the outcome of the customer's previous message
    (None when it was not the bot's to answer)."""
    messages: list[tuple[OutboundMessage, str | None]] = []
    handoff: HandoffRequest | None = None
    kb: KBOutcome | None = None
    resolve = False
    for reply in replies:
        if not isinstance(reply, dict):
            continue
        custom = BotCustom.parse(reply.get("custom"))
        handoff = custom.handoff or handoff
        resolve = resolve or custom.resolve
        if custom.kb is not None:
            kb = custom.kb
        entry = custom.kb.entry_id if custom.kb is not None and custom.kb.decision == "answer" else None
        if entry and messages and not reply.get("text") and messages[-1][1] is None:
            # Rasa's REST channel sends the `text` and the `custom` of one utterance as two messages.
            messages[-1] = (messages[-1][0], entry)
            entry = None
        buttons = [Button(str(b.get("title", "")), str(b.get("payload", "")))
                   for b in reply.get("buttons") or [] if isinstance(b, dict)]
        body = str(reply.get("text") or "")
        media = [str(reply["image"])] if reply.get("image") else []
        if body or buttons or media:
            messages.append((OutboundMessage(text=body, sender="bot", buttons=buttons, media_urls=media,
                                             language=language), entry))
    intent_info = (nlu or {}).get("intent") or {}
    intent = intent_info.get("name") if isinstance(intent_info.get("name"), str) else None
    confidence = intent_info.get("confidence") if isinstance(intent_info.get("confidence"), (int, float)) else None

    miss = _is_miss(intent, kb, handoff, messages)
    repeated = miss and previous_outcome == Outcome.MISS.value
    if repeated:
        # Decided here only (the action server reports misses, the hub counts them).
        summary = (handoff.summary if handoff is not None and handoff.summary
                   else "The bot did not understand the customer twice in a row.")
        details = dict(handoff.details) if handoff is not None else {}
        handoff = HandoffRequest(reason=HandoffReason.REPEATED_FALLBACK, summary=summary, details=details,
                                 team=handoff.team if handoff is not None else None)
    offers_choices = any(b.payload.startswith(CHOICE_PAYLOAD) for out, _ in messages for b in out.buttons)
    if (kb is not None and kb.decision == "answer") or any(entry for _, entry in messages):
        outcome = Outcome.KB_ANSWER
    elif (kb is not None and kb.decision == "choices") or offers_choices:
        outcome = Outcome.CHOICES
    elif miss:
        outcome = Outcome.MISS
    elif handoff is not None:
        outcome = Outcome.HANDOFF
    elif resolve:
        outcome = Outcome.RESOLVED
    elif intent == OUT_OF_SCOPE_INTENT:
        outcome = Outcome.OUT_OF_SCOPE
    else:
        outcome = Outcome.ANSWERED
    return TurnPlan(messages, intent, confidence, kb, handoff, resolve, outcome, repeated)


def recent_intents(recent: list[Any], current: tuple[str | None, float | None, str] | None = None,
                   limit: int = 5) -> list[dict[str, Any]]:
    """The customer's last intents with confidences, as the hub recorded them."""
    found = [{"intent": m.intent, "confidence": m.confidence, "text": (m.text or "")[:200]}
             for m in recent if m.sender == Sender.CUSTOMER.value and m.intent]
    if current is not None and current[0]:
        found.append({"intent": current[0], "confidence": current[1], "text": current[2][:200]})
    return found[-limit:]


def customer_turns(recent: list[Any]) -> list[Any]:
    return [m for m in recent if m.sender == Sender.CUSTOMER.value]


def with_turn(message: Any, plan: TurnPlan) -> Any:
    """The stored customer message as this turn annotates it (for the problem statement)."""
    return SimpleNamespace(id=message.id, text=message.text, payload=message.payload, intent=plan.intent,
                           outcome=plan.outcome.value)


def fallback_summary(reason: str, details: dict[str, Any]) -> str:
    intents = [i.get("intent") for i in details.get("intents") or [] if isinstance(i, dict) and i.get("intent")]
    text = f"Handoff: {reason.replace('_', ' ')}."
    if intents:
        text += " Recent intents: " + ", ".join(dict.fromkeys(intents)) + "."
    return text


class BotTurns:
    """Runs the bot's turn for a customer message of a bot-owned conversation."""

    def __init__(self, *, db: Database, rasa: RasaClient, outbound: Outbound, config: HandoffConfig,
                 metrics: Metrics, action_health_url: str, ask_feedback: bool = True) -> None:
        self.db = db
        self.rasa = rasa
        self.outbound = outbound
        self.config = config
        self.metrics = metrics
        self.action_health_url = action_health_url
        self.ask_feedback = ask_feedback

    def handoff_values(self, reason: HandoffReason, summary: str, details: dict[str, Any],
                       team: str | None, turns: Sequence[Any] = (), language: str = "en") -> dict[str, Any]:
        """Where a handoff goes (`handoff.yml`: team, priority) and what the agent reads first: the summary
        names the customer's problem among `turns` (their messages, oldest first), contact details redacted."""
        routed = self.config.team_for(reason=reason.value, details=details, named=team)
        problem = problem_of(turns)
        if problem is not None:
            problem = replace(problem, text=redact(problem.text, language))
            details = {**details, "problem": problem.as_dict()}
        summary = redact(with_problem(summary or fallback_summary(reason.value, details), problem), language)
        return {"reason": reason, "summary": summary, "details": details,
                "priority": self.config.priority(reason.value), "team": routed}

    async def run(self, conv: Any, message: Any, text: str, recent: list[Any]) -> None:
        """`message`: the stored customer message; `text`: what Rasa gets (a button's payload, or the text);
        `recent`: the messages before it (oldest first)."""
        try:
            turn = await self.rasa.send(conv.id, text, {"language": conv.language, "channel": conv.channel})
        except RasaUnavailable as exc:
            self.metrics.rasa_failure(exc.reason)
            log.error("conversation %s: Rasa failed (%s); handing off", conv.id, exc)
            await self._fail(conv, message, recent, HandoffReason.BOT_UNAVAILABLE, f"The bot could not answer: {exc}")
            return
        self.metrics.rasa_roundtrip(turn.latency_s)
        if not turn.messages:
            # Every turn of our domain answers something; silence means a custom action failed inside Rasa
            # (Rasa logs it and returns an empty list), so a person takes over.
            actions_up = await self.rasa.probe(self.action_health_url)
            reason = HandoffReason.BOT_NO_ANSWER if actions_up else HandoffReason.ACTION_FAILED
            self.metrics.rasa_failure(reason.value)
            log.error("conversation %s: the bot produced no answer (%s); handing off", conv.id, reason.value)
            await self._fail(conv, message, recent, reason, "The bot produced no answer to the last message.")
            return
        nlu = turn.nlu or await self.rasa.latest_parse(conv.id)
        previous = next((m.outcome for m in reversed(recent) if m.sender == Sender.CUSTOMER.value), None)
        plan = interpret(turn.messages, nlu, language=conv.language, previous_outcome=previous)
        try:
            staged, events = await self.db.write_deferred(self._commit, conv, message, plan, recent)
        except TurnTaken:
            log.info("conversation %s: message %s was answered by another turn meanwhile", conv.id, message.id)
            return
        await self.outbound.flush(staged)
        await self.db.publish(events)

    def _commit(self, tx: Tx, conv: Any, message: Any, plan: TurnPlan, recent: list[Any]) -> Staged:
        """The whole turn in one transaction. `conv` is the conversation as the accepting transaction left it;
        if its owner changed since (an admin closed it), the ownership changes below refuse and are skipped."""
        kb = plan.kb
        answered_entry = next((entry for _, entry in plan.messages if entry), None)
        if not message_store.finish_turn(
                tx.conn, message.id, intent=plan.intent, confidence=plan.confidence, outcome=plan.outcome.value,
                kb_decision=kb.decision if kb is not None else ("answer" if answered_entry else None),
                kb_score=(kb.score if kb.decision == "answer" else kb.best_score) if kb is not None else None,
                kb_choices=list(kb.choices) if kb is not None and kb.choices else None,
                kb_entry_id=answered_entry or (kb.entry_id if kb is not None else None)):
            raise TurnTaken(message.id)  # rolls this transaction back: the customer is answered once
        staged = Staged([], {})
        answer_id: str | None = None
        for out, entry in plan.messages:
            self.outbound.stage(tx, conv, out, kb_entry_id=entry, staged=staged, touch=False, reply_to=message.id)
            if entry and answer_id is None:
                answer_id = out.message_id
        if (self.ask_feedback and answer_id is not None and plan.outcome is Outcome.KB_ANSWER
                and plan.handoff is None and not plan.resolve):
            feedback.stage_question(tx, conv, self.outbound, staged, answer_message_id=answer_id,
                                    customer_message_id=message.id, kb_entry_id=answered_entry)
        if plan.messages:
            message_store.touch_conversation(tx.conn, conv.id)
        tx.emit("turn", conversation_id=conv.id, channel=conv.channel, outcome=plan.outcome.value,
                intent=plan.intent, confidence=plan.confidence)
        if plan.handoff is not None:
            details = dict(plan.handoff.details)
            details.setdefault("intents", recent_intents(recent, (plan.intent, plan.confidence, message.text)))
            current = with_turn(message, plan)
            values = self.handoff_values(plan.handoff.reason, plan.handoff.summary, details, plan.handoff.team,
                                         customer_turns(recent) + [current], conv.language)
            try:
                ownership.hand_off(tx, conv.id, **values)
            except InvalidTransition as exc:
                log.info("no handoff for %s: %s", conv.id, exc)
        elif plan.resolve:
            try:
                ownership.resolve(tx, conv.id, by="bot", rated_agent=None)
            except InvalidTransition as exc:
                log.info("no resolution for %s: %s", conv.id, exc)
        return staged

    async def interrupted(self, conv: Any, message: Any, recent: list[Any]) -> None:
        """A turn the hub could not finish in time (it stopped mid-turn long ago): a person takes over."""
        await self._fail(conv, message, recent, HandoffReason.BOT_UNAVAILABLE,
                         "The hub stopped before the bot answered this message; it was not answered.")

    async def _fail(self, conv: Any, message: Any, recent: list[Any], reason: HandoffReason, summary: str) -> None:
        """Rasa could not answer: the message is kept and a person takes over (the customer is told)."""
        details = {"intents": recent_intents(recent)}
        values = self.handoff_values(reason, summary, details, None, customer_turns(recent) + [message],
                                     conv.language)

        def work(tx: Tx) -> None:
            if not message_store.finish_turn(tx.conn, message.id, intent=None, confidence=None,
                                             outcome=Outcome.BOT_UNAVAILABLE.value):
                return  # another turn answered it meanwhile
            tx.emit("turn", conversation_id=conv.id, channel=conv.channel, outcome=Outcome.BOT_UNAVAILABLE.value,
                    intent=None, confidence=None)
            try:
                ownership.hand_off(tx, conv.id, announce="bot_unavailable", **values)
            except InvalidTransition as exc:
                log.info("no handoff for %s: %s", conv.id, exc)

        await self.db.write(work)
