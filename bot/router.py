"""The router: stores every customer message, then lets the owner of the conversation answer.

The bot (Rasa) answers only while the conversation's status is `bot`. A handoff (asked for by Rasa's
actions, or forced when Rasa cannot be reached) queues the conversation for humans; from then on customer
messages are stored and shown to agents, and Rasa never sees them.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass
from typing import Any

from bot.config import Settings
from bot.events import EventBus
from bot.metrics import Metrics
from bot.models import Conversation, Message, Sender, Status, iso
from bot.pii import redact
from bot.rasa_client import RasaClient, RasaUnavailable
from bot.store import AsyncStore, InvalidTransition, NewMessage, StoreError
from bot.texts import text as system_text
from connectors.base import Button, Connector, DeliveryResult, InboundMessage, MessageRejected, OutboundMessage

log = logging.getLogger(__name__)

# Handoff reasons that jump the queue.
PRIORITY_BY_REASON = {"complaint": 10, "bot_unavailable": 5, "action_failed": 5, "repeated_fallback": 2}


class NotAllowed(StoreError):
    """An agent action the conversation's state or ownership does not allow."""


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
        settings: Settings,
    ) -> None:
        self.store = store
        self.rasa = rasa
        self.connectors = connectors
        self.events = events
        self.metrics = metrics
        self.settings = settings
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._background: set[asyncio.Task[None]] = set()

    def _lock(self, conversation_id: str) -> asyncio.Lock:
        lock = self._locks.get(conversation_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[conversation_id] = lock
        return lock

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
        language = (msg.language_hint or self.settings.default_language).split("-")[0].lower()
        conv = await self.store.get_or_create(
            msg.channel, msg.external_user_id, language=language, customer_name=msg.customer_name
        )
        async with self._lock(conv.id):
            stored = await self.store.add_message(
                NewMessage(
                    conversation_id=conv.id,
                    sender=Sender.CUSTOMER,
                    text=self._stored_text(msg.text, conv.language),
                    sender_name=msg.customer_name,
                    payload={"kind": msg.kind, **msg.payload} if msg.kind != "text" or msg.payload else None,
                    language=conv.language,
                    external_id=msg.external_id,
                )
            )
            if stored is None:
                self.metrics.inc("inbound_duplicates_total", channel=msg.channel)
                return InboundResult(conv.id, None, duplicate=True)
            self.metrics.inc("messages_in_total", channel=msg.channel)
            conv = await self.store.get(conv.id)
            if conv.status == Status.RESOLVED.value:
                conv = await self.store.reopen(conv.id)
            self.events.publish("message", conversation_id=conv.id, status=conv.status, message=message_view(stored))
            if conv.status == Status.BOT.value:
                await self._ask_bot(conv, msg, stored)
            return InboundResult(conv.id, stored.id)

    async def _ask_bot(self, conv: Conversation, msg: InboundMessage, stored: Message) -> None:
        rasa_text = msg.payload.get("payload") if msg.kind == "button" and msg.payload.get("payload") else msg.text
        metadata = {"language": conv.language, "channel": conv.channel}
        try:
            replies = await self.rasa.send(conv.id, rasa_text, metadata)
        except RasaUnavailable as exc:
            self.metrics.inc("rasa_failures_total", reason=exc.reason)
            log.error("conversation %s: Rasa failed (%s); handing off", conv.id, exc)
            await self.hand_off(conv, reason="bot_unavailable", summary=f"The bot could not answer: {exc}",
                                announce="bot_unavailable")
            return
        if self.rasa.last_latency_s is not None:
            self.metrics.observe("rasa_roundtrip", self.rasa.last_latency_s)

        handoff: dict[str, Any] | None = None
        last_sent: Message | None = None
        for reply in replies:
            custom = reply.get("custom") if isinstance(reply.get("custom"), dict) else {}
            if isinstance(custom.get("handoff"), dict):
                handoff = custom["handoff"]
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
        self._spawn(self._annotate_nlu(conv.id, stored.id))
        if handoff is not None:
            reason = str(handoff.get("reason") or "customer_request")
            await self.hand_off(
                conv,
                reason=reason,
                summary=str(handoff.get("summary") or ""),
                details=handoff.get("details") if isinstance(handoff.get("details"), dict) else {},
                team=handoff.get("team"),
            )

    async def _annotate_nlu(self, conversation_id: str, message_id: str) -> None:
        """Record the intent and confidence Rasa gave a customer message (after the reply went out)."""
        parse = await self.rasa.latest_parse(conversation_id)
        if parse:
            intent = parse.get("intent") or {}
            await self.store.annotate_message(
                message_id, intent=intent.get("name"), confidence=intent.get("confidence")
            )

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
        """Queue the conversation for humans. `announce` names a system text to send before the queue position."""
        try:
            conv = await self.store.hand_off(
                conv.id, reason=reason, summary=summary, details=details,
                priority=PRIORITY_BY_REASON.get(reason, 0), team=team,
            )
        except InvalidTransition as exc:
            log.info("no handoff for %s: %s", conv.id, exc)
            return conv
        self.metrics.inc("handoffs_total", reason=reason)
        if announce:
            await self.send_system(conv, announce)
        position = await self.store.queue_position(conv.id)
        if position is not None:
            await self.send_system(conv, "queue_position", event="queued", position=position)
        self.events.publish("queued", conversation_id=conv.id, reason=reason, conversation=conversation_view(conv))
        return conv

    # -- agents --------------------------------------------------------------------------------

    async def claim(self, conversation_id: str, agent: str) -> Conversation:
        conv = await self.store.claim(conversation_id, agent)
        await self.send_system(conv, "agent_joined", event="agent_joined", agent=agent)
        self.events.publish("assigned", conversation_id=conv.id, agent=agent, conversation=conversation_view(conv))
        return conv

    async def agent_reply(self, conversation_id: str, agent: str, text: str) -> Message:
        if not text.strip():
            raise MessageRejected("empty_message", "The reply is empty.")
        if len(text) > self.settings.max_message_chars:
            raise MessageRejected("message_too_long", f"Replies can be at most {self.settings.max_message_chars} characters.")
        async with self._lock(conversation_id):
            conv = await self.store.get(conversation_id)
            if conv.status != Status.ASSIGNED.value:
                raise NotAllowed(f"conversation {conversation_id} is {conv.status}: claim it before replying")
            if conv.assigned_agent != agent:
                raise NotAllowed(f"conversation {conversation_id} is assigned to {conv.assigned_agent}")
            return await self.send(
                conv, OutboundMessage(text=text, sender="agent", sender_name=agent, language=conv.language)
            )

    async def resolve(self, conversation_id: str, agent: str | None = None) -> Conversation:
        conv = await self.store.get(conversation_id)
        if agent is not None and conv.status == Status.ASSIGNED.value and conv.assigned_agent != agent:
            raise NotAllowed(f"conversation {conversation_id} is assigned to {conv.assigned_agent}")
        conv = await self.store.resolve(conversation_id)
        await self.send_system(conv, "resolved", event="resolved")
        self.events.publish("resolved", conversation_id=conv.id, conversation=conversation_view(conv))
        return conv

    async def hand_back(self, conversation_id: str) -> Conversation:
        conv = await self.store.hand_back(conversation_id)
        await self.send_system(conv, "handed_back", event="handed_back")
        self.events.publish("handed_back", conversation_id=conv.id, conversation=conversation_view(conv))
        return conv

    # -- outbound ------------------------------------------------------------------------------

    async def send_system(self, conv: Conversation, key: str, *, event: str | None = None, **values: Any) -> Message:
        out = OutboundMessage(
            text=system_text(key, conv.language, **values), sender="system", language=conv.language,
            extra={"event": event or key, **values},
        )
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
        connector = self.connectors.get(conv.channel)
        if connector is None:
            log.error("channel %s is not enabled; message %s kept undelivered", conv.channel, stored.id)
            result = DeliveryResult("failed", detail=f"channel {conv.channel} is not enabled")
        else:
            result = await connector.deliver(conv.external_user_id, out)
        await self.store.annotate_message(stored.id, delivery_status=result.status)
        stored.delivery_status = result.status
        self.metrics.inc("messages_out_total", channel=conv.channel, sender=out.sender, status=result.status)
        return stored
