"""The router: stores every customer message, then lets the owner of the conversation answer.

The bot (Rasa) answers only while the conversation's status is `bot`. A handoff (asked for by Rasa's
actions, or forced when Rasa cannot be reached) queues the conversation for humans; from then on customer
messages are stored and shown to agents, and Rasa never sees them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from core.settings import HubSettings
from bot.locks import KeyedLocks
from bot.delivery_queue import DeliveryQueue
from bot.events import EventBus
from bot.language import ConversationLanguage, LanguageDecision, seed_language, shared_detector
from bot.metrics import Metrics
from bot.models import Conversation, Message, Note, Sender, Status, iso
from core.pii import redact
from bot.rasa_client import RasaClient, RasaUnavailable
from bot.store import AsyncStore, InvalidTransition, NewMessage, StoreError
from bot.routing import DEFAULT_PRIORITIES, HandoffConfig, Presence, estimate_wait_s
from bot.texts import text as system_text
from bot.texts import when as when_text
from connectors.base import Button, Connector, InboundMessage, MessageRejected, OutboundMessage

log = logging.getLogger(__name__)

# Handoff reasons that jump the queue (the defaults; `handoff.yml` `priorities:` overrides them).
PRIORITY_BY_REASON = DEFAULT_PRIORITIES
FALLBACK_INTENT = "nlu_fallback"
_CSAT_PAYLOAD = re.compile(r'^/csat\{\s*"score"\s*:\s*([1-5])\s*\}$')


class NotAllowed(StoreError):
    """An agent action the conversation's state or ownership does not allow."""


class UnknownTarget(StoreError):
    """A transfer to a team or agent that does not exist (404)."""


@dataclass(frozen=True)
class AgentRef:
    """Who acts: `key` is stored as the assignee, `display_name` is what customers see."""

    key: str
    display_name: str
    max_concurrent: int | None = None  # None: no capacity limit (API callers that are not registered agents)
    is_admin: bool = False

    @classmethod
    def of(cls, agent: "str | AgentRef") -> "AgentRef":
        return agent if isinstance(agent, AgentRef) else cls(agent, agent)


def _minutes(seconds: int) -> int:
    return max(1, math.ceil(seconds / 60))


def _fallback_summary(reason: str, details: dict[str, Any]) -> str:
    intents = [i.get("intent") for i in details.get("intents") or [] if isinstance(i, dict) and i.get("intent")]
    text = f"Handoff: {reason.replace('_', ' ')}."
    if intents:
        text += " Recent intents: " + ", ".join(dict.fromkeys(intents)) + "."
    return text


def _csat_score(msg: InboundMessage) -> int | None:
    """A CSAT answer: the 1–5 quick-reply button, or the customer typing just the digit."""
    if msg.kind == "button":
        m = _CSAT_PAYLOAD.match(str(msg.payload.get("payload") or "").strip())
        if m:
            return int(m.group(1))
    stripped = msg.text.strip()
    if stripped in {"1", "2", "3", "4", "5"}:
        return int(stripped)
    return None


def _missed_twice(messages: list[Message]) -> bool:
    """The last two customer messages were NLU fallbacks that the bot could not answer either (no
    knowledge-base answer, no choices offered)."""
    turns: list[tuple[Message, list[Message]]] = []
    for m in messages:
        if m.sender == Sender.CUSTOMER.value:
            turns.append((m, []))
        elif turns:
            turns[-1][1].append(m)
    if len(turns) < 2:
        return False
    for customer, replies in turns[-2:]:
        if customer.intent != FALLBACK_INTENT:
            return False
        bot = [r for r in replies if r.sender == Sender.BOT.value]
        if any(r.kb_entry_id or (r.payload or {}).get("buttons") for r in bot):
            return False
    return True


def note_view(n: Note) -> dict[str, Any]:
    return {"id": n.id, "conversation_id": n.conversation_id, "author": n.author, "author_name": n.author_name,
            "kind": n.kind, "text": n.text, "created_at": iso(n.created_at)}


@dataclass(frozen=True)
class InboundResult:
    conversation_id: str
    message_id: str | None  # None for a replay that was answered before
    duplicate: bool = False


def message_view(m: Message) -> dict[str, Any]:
    """The JSON shape of a stored message, shared by the web chat and the agent API."""
    payload = m.payload or {}
    return {
        "id": m.id,
        "seq": m.seq,
        "conversation_id": m.conversation_id,
        "sender": m.sender,
        "sender_name": m.sender_name,
        "text": m.text,
        "buttons": payload.get("buttons", []),
        "event": payload.get("event"),
        "language": m.language,
        "intent": m.intent,
        "confidence": m.confidence,
        "kb_entry_id": m.kb_entry_id,
        "delivery_status": m.delivery_status,
        "created_at": iso(m.created_at),
    }


def conversation_view(c: Conversation) -> dict[str, Any]:
    return {
        "id": c.id,
        "channel": c.channel,
        "customer": c.external_user_id,
        "customer_name": c.customer_name,
        "language": c.language,
        "status": c.status,
        "assigned_agent": c.assigned_agent,
        "team": c.team,
        "priority": c.priority,
        "handoff_reason": c.handoff_reason,
        "queued_at": iso(c.queued_at),
        "assigned_at": iso(c.assigned_at),
        "resolved_at": iso(c.resolved_at),
        "resolved_by": c.resolved_by,
        "customer_key": c.customer_key,
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
    }


class Router:
    def __init__(
        self,
        *,
        store: AsyncStore,
        rasa: RasaClient,
        connectors: dict[str, Connector],
        events: EventBus,
        metrics: Metrics,
        settings: HubSettings,
        config: HandoffConfig | None = None,
        presence: Presence | None = None,
    ) -> None:
        self.config = config or HandoffConfig()
        self.presence = presence or Presence()
        self._dispatch_lock = asyncio.Lock()
        self.store = store
        self.rasa = rasa
        self.connectors = connectors
        self.events = events
        self.metrics = metrics
        self.settings = settings
        self._lock = KeyedLocks()  # messages of one conversation are handled one at a time, in order
        self._background: set[asyncio.Task[None]] = set()
        # The conversation's language (bot/language.py); the model loads in the background (seconds).
        self.language_detector = shared_detector(settings.supported_languages, settings.language_detector_model)
        threading.Thread(target=self.language_detector.warm_up, name="language-model", daemon=True).start()
        self.delivery = DeliveryQueue(
            store.sync.engine, connectors, on_state=self._delivery_state, max_rounds=settings.outbox_max_rounds,
            base_delay_s=settings.outbox_base_delay_s, poll_s=settings.outbox_poll_s,
        )

    def _stored_text(self, text: str, language: str) -> str:
        return redact(text, language) if self.settings.redact_pii else text

    # -- customers -----------------------------------------------------------------------------

    def validate(self, msg: InboundMessage) -> None:
        """Raise `MessageRejected` for a message the hub will not take (nothing is stored)."""
        if len(msg.text) > self.settings.max_message_chars:
            raise MessageRejected(
                "message_too_long",
                f"Messages can be at most {self.settings.max_message_chars} characters; "
                f"this one has {len(msg.text)}. Please shorten it or split it.",
            )
        if not msg.text.strip() and msg.kind == "text":
            raise MessageRejected("empty_message", "The message is empty.")

    async def handle_inbound(self, msg: InboundMessage) -> InboundResult:
        """Store a customer message and have its owner answer. Messages of one conversation run in order."""
        self.validate(msg)
        language = seed_language(msg.language_hint, self.settings.default_language, self.language_detector.supported)
        conv = await self.store.get_or_create(
            msg.channel, msg.external_user_id, language=language, customer_name=msg.customer_name
        )
        async with self._lock(conv.id):
            lang = await self._decide_language(conv, msg)
            stored = await self.store.add_message(
                NewMessage(
                    conversation_id=conv.id,
                    sender=Sender.CUSTOMER,
                    text=self._stored_text(msg.text, lang.language),
                    sender_name=msg.customer_name,
                    payload={"kind": msg.kind, **msg.payload} if msg.kind != "text" or msg.payload else None,
                    language=lang.message_language,
                    external_id=msg.external_id,
                )
            )
            if stored is None:
                self.metrics.inc("inbound_duplicates_total", channel=msg.channel)
                return InboundResult(conv.id, None, duplicate=True)
            await self.delivery.release_parked(conv.id)  # the customer wrote: what waited for them goes first
            if lang.language != conv.language:
                await self.store.set_language(conv.id, lang.language)
                self.metrics.inc("language_switches_total", reason=lang.reason or "other")
                log.info("conversation %s: language %s -> %s (%s)", conv.id, conv.language, lang.language, lang.reason)
            self.metrics.inc("messages_in_total", channel=msg.channel)
            conv = await self.store.get(conv.id)
            if conv.status == Status.RESOLVED.value:
                if await self._take_csat(conv, msg):
                    self.events.publish("message", conversation_id=conv.id, status=conv.status,
                                        message=message_view(stored))
                    return InboundResult(conv.id, stored.id)
                conv = await self.store.reopen(conv.id)
            self.events.publish("message", conversation_id=conv.id, status=conv.status, message=message_view(stored))
            if conv.status == Status.BOT.value:
                if lang.reason == "explicit":  # the hub's business, not the bot's: confirm in the chosen language
                    await self._send_text(conv, system_text("language_confirmed", conv.language),
                                          event="language_set", language=conv.language)
                elif msg.kind == "text" and (foreign := await asyncio.to_thread(self.language_detector.unsupported, msg.text)):
                    await self._reply_unsupported(conv, foreign)
                else:
                    await self._ask_bot(conv, msg, stored)
            return InboundResult(conv.id, stored.id)

    async def _reply_unsupported(self, conv: Conversation, foreign: str) -> None:
        """A message in a language the bot does not speak: say so politely, in the conversation's language, and
        offer a person (the button's payload goes to Rasa as `request_human`). Rasa never sees the message."""
        self.metrics.inc("unsupported_language_total", language=foreign)
        log.info("conversation %s: message in unsupported language %s", conv.id, foreign)
        out = OutboundMessage(
            text=system_text("unsupported_language", conv.language), sender="system", language=conv.language,
            buttons=[Button(system_text("talk_to_person", conv.language), "/request_human")],
            extra={"event": "unsupported_language", "detected": foreign})
        await self.send(conv, out)

    async def _decide_language(self, conv: Conversation, msg: InboundMessage) -> LanguageDecision:
        """This message's language and the conversation's after it, with hysteresis over the stored languages of
        the last customer messages (bot/language.py)."""
        recent = await self.store.recent_customer_messages(conv.id, limit=10)
        history: list[tuple[str | None, str]] = [(m.language, m.text) for m in recent]
        tracker = ConversationLanguage(conv.language, detector=self.language_detector, history=history)
        payload = msg.payload.get("payload") if msg.kind == "button" else None
        # In a worker thread: the first call may wait for the model to finish loading.
        return await asyncio.to_thread(tracker.decide, msg.text, payload)

    async def _ask_bot(self, conv: Conversation, msg: InboundMessage, stored: Message) -> None:
        rasa_text = msg.payload.get("payload") if msg.kind == "button" and msg.payload.get("payload") else msg.text
        metadata = {"language": conv.language, "channel": conv.channel}
        try:
            turn = await self.rasa.send(conv.id, rasa_text, metadata)
        except RasaUnavailable as exc:
            self.metrics.inc("rasa_failures_total", reason=exc.reason)
            log.error("conversation %s: Rasa failed (%s); handing off", conv.id, exc)
            await self.hand_off(conv, reason="bot_unavailable", summary=f"The bot could not answer: {exc}",
                                announce="bot_unavailable")
            return
        self.metrics.observe("rasa_roundtrip", turn.latency_s)
        replies = turn.messages
        if not replies:
            # Every turn of our domain answers something; silence means a custom action failed inside Rasa
            # (Rasa logs it and returns an empty list), so a person takes over instead of leaving the customer hanging.
            actions_up = await self.rasa.probe(self.settings.action_endpoint.rsplit("/webhook", 1)[0] + "/health")
            reason = "bot_no_answer" if actions_up else "action_failed"
            self.metrics.inc("rasa_failures_total", reason=reason)
            log.error("conversation %s: the bot produced no answer (%s); handing off", conv.id, reason)
            await self.hand_off(conv, reason=reason, summary="The bot produced no answer to the last message.",
                                announce="bot_unavailable")
            return

        handoff: dict[str, Any] | None = None
        resolve = False
        last_sent: Message | None = None
        for reply in replies:
            custom = reply.get("custom") if isinstance(reply.get("custom"), dict) else {}
            if isinstance(custom.get("handoff"), dict):
                handoff = custom["handoff"]
            if custom.get("resolve") is True:  # the bot says the customer's issue is solved
                resolve = True
            kb = custom.get("kb") if isinstance(custom.get("kb"), dict) else {}
            if kb.get("entry_id") and last_sent is not None and not reply.get("text"):
                # Rasa's REST channel sends `text` and `custom` of one utterance as two messages.
                await self.store.annotate_message(last_sent.id, kb_entry_id=str(kb["entry_id"]))
            buttons = [
                Button(str(b.get("title", "")), str(b.get("payload", "")))
                for b in reply.get("buttons") or []
                if isinstance(b, dict)
            ]
            body = str(reply.get("text") or "")
            media = [str(reply["image"])] if reply.get("image") else []
            if body or buttons or media:
                last_sent = await self.send(
                    conv,
                    OutboundMessage(text=body, sender="bot", buttons=buttons, media_urls=media, language=conv.language),
                    kb_entry_id=kb.get("entry_id"),
                )
        self._spawn(self._annotate_nlu(conv.id, stored.id, turn.nlu))
        if handoff is not None:
            reason = str(handoff.get("reason") or "customer_request")
            await self.hand_off(
                conv,
                reason=reason,
                summary=str(handoff.get("summary") or ""),
                details=handoff.get("details") if isinstance(handoff.get("details"), dict) else {},
                team=handoff.get("team"),
            )
        elif resolve:
            await self.resolve(conv.id)

    async def _annotate_nlu(self, conversation_id: str, message_id: str, parse: dict[str, Any] | None) -> None:
        """Record the intent and confidence Rasa gave a customer message (after the reply went out): `parse`
        as Rasa sent it with the answer, else (a Rasa with the plain REST channel) read from its tracker.

        Safety net for the bot's own fallback counting: when two customer messages in a row were NLU
        fallbacks and the bot still owns the conversation, hand it to a person (`repeated_fallback`).
        """
        parse = parse or await self.rasa.latest_parse(conversation_id)
        if not parse:
            return
        intent = parse.get("intent") or {}
        await self.store.annotate_message(message_id, intent=intent.get("name"), confidence=intent.get("confidence"))
        if intent.get("name") != FALLBACK_INTENT:
            return
        async with self._lock(conversation_id):
            conv = await self.store.get(conversation_id)
            if conv.status != Status.BOT.value:
                return
            if _missed_twice(await self.store.messages(conversation_id)):
                await self.hand_off(conv, reason="repeated_fallback",
                                    summary="The bot did not understand the customer twice in a row.")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for background work (tests, shutdown)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    # -- handoff -------------------------------------------------------------------------------

    async def hand_off(
        self,
        conv: Conversation,
        *,
        reason: str,
        summary: str = "",
        details: dict[str, Any] | None = None,
        team: str | None = None,
        announce: str | None = None,
    ) -> Conversation:
        """Queue the conversation for humans, routed to a team (`handoff.yml`), and tell the customer where they
        stand. `announce` names a system text to send before the queue position."""
        details = dict(details or {})
        details.setdefault("intents", await self._recent_intents(conv.id))
        team = self.config.team_for(reason=reason, details=details, named=team if isinstance(team, str) else None)
        try:
            conv = await self.store.hand_off(
                conv.id, reason=reason, summary=summary or _fallback_summary(reason, details), details=details,
                priority=self.config.priority(reason), team=team,
            )
        except InvalidTransition as exc:
            log.info("no handoff for %s: %s", conv.id, exc)
            return conv
        self.metrics.inc("handoffs_total", reason=reason)
        if announce:
            await self.send_system(conv, announce)
        await self._announce_queue(conv)
        self.events.publish("queued", conversation_id=conv.id, reason=reason, conversation=conversation_view(conv))
        await self.dispatch()
        return conv

    async def _recent_intents(self, conversation_id: str, limit: int = 5) -> list[dict[str, Any]]:
        """The last customer intents with confidences, as the hub recorded them (used when Rasa sent none)."""
        messages = await self.store.messages(conversation_id)
        found = [{"intent": m.intent, "confidence": m.confidence, "text": m.text[:200]}
                 for m in messages if m.sender == Sender.CUSTOMER.value and m.intent]
        return found[-limit:]

    def wait_estimate(self, team: str | None, position: int, waits: list[float]) -> int | None:
        return estimate_wait_s(waits, position, len(self.presence.online(team)))

    async def _announce_queue(self, conv: Conversation, *, update: bool = False) -> Message | None:
        """One system message: the queue position, and the estimated wait or, outside business hours, when
        the team is back. With `update`, only sent when the estimate grew markedly since the last one."""
        position = await self.store.queue_position(conv.id)
        if position is None:
            return None
        team = self.config.team(conv.team)
        now = datetime.now(timezone.utc)
        lang = conv.language
        if team is not None and not team.is_open(now):
            if update:
                return None
            opens = team.next_open(now)
            parts = [system_text("queue_position", lang, position=position)]
            values: dict[str, Any] = {"position": position, "team": conv.team}
            if opens is not None:
                parts.append(system_text("queue_closed", lang, when=when_text(opens, lang)))
                values["opens_at"] = opens.isoformat()
            return await self._send_text(conv, " ".join(parts), event="queued", **values)
        waits = await self.store.recent_waits(team=conv.team)
        wait = self.wait_estimate(conv.team, position, waits)
        if update:
            before = conv.wait_announced_s
            if wait is None or before is None or wait < before * 1.5 or wait - before < 120:
                return None
            await self.store.set_wait_announced(conv.id, wait)
            return await self._send_text(
                conv, system_text("queue_update", lang, position=position, minutes=_minutes(wait)),
                event="queue_update", position=position, wait_s=wait)
        parts = [system_text("queue_position", lang, position=position)]
        if wait is not None:
            parts.append(system_text("queue_wait", lang, minutes=_minutes(wait)))
        await self.store.set_wait_announced(conv.id, wait)
        return await self._send_text(conv, " ".join(parts), event="queued", position=position, wait_s=wait,
                                     team=conv.team)

    async def queue_tick(self) -> None:
        """Periodic work (every QUEUE_TICK_S): auto-assign what can be, and tell customers whose wait grew."""
        await self.dispatch()
        for conv in await self.store.queue(limit=500):
            try:
                await self._announce_queue(conv, update=True)
            except Exception:  # one broken conversation must not stop the others
                log.exception("queue update for %s failed", conv.id)

    async def dispatch(self) -> list[tuple[str, str]]:
        """Auto-assign queued conversations (priority, then FIFO) to the least-busy online agent of their team,
        where the team has auto-assignment on and is open. Returns (conversation, agent) pairs assigned."""
        assigned: list[tuple[str, str]] = []
        if not (self.config.auto_assign or any(t.auto_assign for t in self.config.teams.values())):
            return assigned
        async with self._dispatch_lock:
            queue = await self.store.queue(limit=500)
            if not queue:
                return assigned
            load = await self.store.load()
            now = datetime.now(timezone.utc)
            for conv in queue:
                if not self.config.auto_assign_for(conv.team):
                    continue
                team = self.config.team(conv.team)
                if team is not None and not team.is_open(now):
                    continue
                agent = self.presence.pick(conv.team, load)
                if agent is None:
                    continue
                try:
                    await self.claim(conv.id, AgentRef(agent.key, agent.display_name), auto=True)
                except (InvalidTransition, NotAllowed):
                    continue
                load[agent.key] = load.get(agent.key, 0) + 1
                assigned.append((conv.id, agent.key))
        return assigned

    # -- agents --------------------------------------------------------------------------------

    async def claim(self, conversation_id: str, agent: "str | AgentRef", *, auto: bool = False) -> Conversation:
        ref = AgentRef.of(agent)
        if ref.max_concurrent is not None and not auto:
            current = (await self.store.load()).get(ref.key, 0)
            if current >= ref.max_concurrent:
                await self.store.get(conversation_id)  # unknown ids are a 404, not a capacity error
                raise NotAllowed(f"{ref.display_name} already has {current} conversations "
                                 f"(the most at once is {ref.max_concurrent}): resolve or transfer one first")
        conv = await self.store.claim(conversation_id, ref.key)
        self.presence.assigned(ref.key)
        await self.send_system(conv, "agent_joined", event="agent_joined", agent=ref.display_name)
        self.events.publish("assigned", conversation_id=conv.id, agent=ref.key, agent_name=ref.display_name,
                            auto=auto, conversation=conversation_view(conv))
        return conv

    def _check_length(self, text: str, what: str, *, empty_code: str) -> None:
        """An agent's reply or note must be non-empty and within MAX_MESSAGE_CHARS (`MessageRejected` → 422/413)."""
        if not text.strip():
            raise MessageRejected(empty_code, f"The {what} is empty.")
        if len(text) > self.settings.max_message_chars:
            raise MessageRejected("message_too_long",
                                  f"A {what} can be at most {self.settings.max_message_chars} characters.")

    async def agent_reply(self, conversation_id: str, agent: "str | AgentRef", text: str) -> Message:
        ref = AgentRef.of(agent)
        self._check_length(text, "reply", empty_code="empty_message")
        async with self._lock(conversation_id):
            conv = await self.store.get(conversation_id)
            if conv.status != Status.ASSIGNED.value:
                raise NotAllowed(f"conversation {conversation_id} is {conv.status}: claim it before replying")
            if conv.assigned_agent != ref.key:
                raise NotAllowed(f"conversation {conversation_id} is assigned to {conv.assigned_agent}")
            sent = await self.send(
                conv, OutboundMessage(text=text, sender="agent", sender_name=ref.display_name, language=conv.language)
            )
            await self.store.mark_read(conversation_id, sent.seq)
            return sent

    def _check_owner(self, conv: Conversation, ref: "AgentRef | None", action: str) -> None:
        if ref is None or ref.is_admin:
            return
        if conv.status == Status.ASSIGNED.value and conv.assigned_agent != ref.key:
            raise NotAllowed(f"conversation {conv.id} is assigned to {conv.assigned_agent}: only they or an admin "
                             f"can {action} it")

    async def resolve(self, conversation_id: str, agent: "str | AgentRef | None" = None) -> Conversation:
        ref = AgentRef.of(agent) if agent is not None else None
        conv = await self.store.get(conversation_id)
        self._check_owner(conv, ref, "resolve")
        was_bot = conv.status == Status.BOT.value
        rated = None if was_bot else (conv.assigned_agent or (ref.key if ref else None))
        conv = await self.store.resolve(conversation_id, by="bot" if was_bot else (ref.key if ref else rated))
        await self.send_system(conv, "resolved", event="resolved")
        await self._ask_csat(conv, rated)
        self.events.publish("resolved", conversation_id=conv.id, resolved_by=conv.resolved_by,
                            conversation=conversation_view(conv))
        return conv

    async def hand_back(self, conversation_id: str, agent: "str | AgentRef | None" = None) -> Conversation:
        ref = AgentRef.of(agent) if agent is not None else None
        self._check_owner(await self.store.get(conversation_id), ref, "hand back")
        conv = await self.store.hand_back(conversation_id)
        await self.send_system(conv, "handed_back", event="handed_back")
        self.events.publish("handed_back", conversation_id=conv.id, conversation=conversation_view(conv))
        return conv

    async def transfer(self, conversation_id: str, agent: "str | AgentRef", *, team: str | None = None,
                       to_agent: "AgentRef | None" = None, note: str = "") -> Conversation:
        """Move a conversation to another team's queue or straight to another agent, leaving a private note."""
        ref = AgentRef.of(agent)
        if (team is None) == (to_agent is None):
            raise NotAllowed("transfer to either a team or an agent")
        if team is not None and self.config.teams and team not in self.config.teams:
            raise UnknownTarget(f"no team {team!r}; teams: {', '.join(sorted(self.config.teams))}")
        conv = await self.store.get(conversation_id)
        self._check_owner(conv, ref, "transfer")
        owner = conv.assigned_agent if conv.status == Status.ASSIGNED.value else None
        if to_agent is not None:
            if to_agent.key == owner:
                raise NotAllowed(f"conversation {conversation_id} is assigned to {owner} already")
            if to_agent.max_concurrent is not None:
                current = (await self.store.load()).get(to_agent.key, 0)
                if current >= to_agent.max_concurrent:
                    raise NotAllowed(f"{to_agent.display_name} is at capacity ({current} conversations)")
            if conv.status == Status.ASSIGNED.value:
                conv = await self.store.reassign(conversation_id, to_agent=to_agent.key, by_agent=owner)
            else:
                conv = await self.store.claim(conversation_id, to_agent.key)
            target = to_agent.display_name
        else:
            conv = await self.store.transfer(conversation_id, team=team, by_agent=owner)
            target = self.config.teams[team].name if team in self.config.teams else str(team)
        text = f"Transferred by {ref.display_name} to {target}" + (f": {note.strip()}" if note.strip() else ".")
        saved = await self.store.add_note(conversation_id, author=ref.key, author_name=ref.display_name, text=text,
                                          kind="transfer")
        self.events.publish("note", conversation_id=conversation_id, note=note_view(saved))
        if to_agent is not None:
            await self.send_system(conv, "agent_joined", event="agent_joined", agent=to_agent.display_name)
            self.events.publish("assigned", conversation_id=conv.id, agent=to_agent.key,
                                agent_name=to_agent.display_name, transferred_from=owner,
                                conversation=conversation_view(conv))
        else:
            await self.send_system(conv, "transferred", event="transferred", team=target)
            await self._announce_queue(conv)
            self.events.publish("queued", conversation_id=conv.id, reason=conv.handoff_reason, transferred_from=owner,
                                conversation=conversation_view(conv))
            await self.dispatch()
        return conv

    async def add_note(self, conversation_id: str, agent: "str | AgentRef", text: str) -> Note:
        ref = AgentRef.of(agent)
        self._check_length(text, "note", empty_code="empty_note")
        note = await self.store.add_note(conversation_id, author=ref.key, author_name=ref.display_name,
                                         text=text.strip())
        self.events.publish("note", conversation_id=conversation_id, note=note_view(note))
        return note

    # -- CSAT ----------------------------------------------------------------------------------

    async def _ask_csat(self, conv: Conversation, agent: str | None) -> None:
        if not self.settings.csat_enabled:
            return
        await self.store.request_csat(conv.id, agent)
        buttons = [Button(str(n), f'/csat{{"score": {n}}}') for n in range(1, 6)]
        out = OutboundMessage(text=system_text("csat_question", conv.language), sender="system",
                              language=conv.language, buttons=buttons, extra={"event": "csat_question"})
        await self.send(conv, out)

    async def _take_csat(self, conv: Conversation, msg: InboundMessage) -> bool:
        """If the customer answered a pending CSAT question, record it and thank them; True when it was one."""
        score = _csat_score(msg)
        if score is None:
            return False
        pending = await self.store.pending_csat(conv.id)
        if pending is None:
            return False
        answered = await self.store.answer_csat(pending.id, score)
        if answered is None:
            return False
        await self.send_system(conv, "csat_thanks", event="csat_thanks")
        self.events.publish("csat", conversation_id=conv.id, score=score, agent=answered.agent,
                            conversation=conversation_view(conv))
        return True

    # -- outbound ------------------------------------------------------------------------------

    async def send_system(self, conv: Conversation, key: str, *, event: str | None = None, **values: Any) -> Message:
        return await self._send_text(conv, system_text(key, conv.language, **values), event=event or key, **values)

    async def _send_text(self, conv: Conversation, text: str, *, event: str, **values: Any) -> Message:
        out = OutboundMessage(text=text, sender="system", language=conv.language, extra={"event": event, **values})
        return await self.send(conv, out)

    async def send(self, conv: Conversation, out: OutboundMessage, *, kb_entry_id: str | None = None) -> Message:
        """Store an outbound message, then deliver it through the conversation's channel."""
        payload: dict[str, Any] = {}
        if out.buttons:
            payload["buttons"] = [{"title": b.title, "payload": b.payload} for b in out.buttons]
        if out.media_urls:
            payload["media_urls"] = out.media_urls
        payload.update(out.extra)
        stored = await self.store.add_message(
            NewMessage(
                conversation_id=conv.id,
                sender=Sender(out.sender),
                text=out.text,
                sender_name=out.sender_name,
                payload=payload or None,
                language=out.language or conv.language,
                kb_entry_id=kb_entry_id,
                delivery_status="pending",
            )
        )
        assert stored is not None  # outbound messages carry no provider id, so they are never replays
        out.message_id = stored.id
        self.events.publish("message", conversation_id=conv.id, status=conv.status, message=message_view(stored))
        result = await self.delivery.submit(conv.id, conv.channel, conv.external_user_id, out)
        stored.delivery_status = result.status
        self.metrics.inc("messages_out_total", channel=conv.channel, sender=out.sender, status=stored.delivery_status)
        return stored

    async def _delivery_state(self, message_id: str, state: str, detail: str) -> None:
        """The delivery queue's word on a message: shown on the message; dead letters are announced to agents."""
        await self.store.annotate_message(message_id, delivery_status=state)
        self.events.publish("delivery", message_id=message_id, status=state, detail=detail)
        if state in ("dead", "failed"):
            self.metrics.inc("dead_letters_total")
