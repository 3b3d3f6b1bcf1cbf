"""A customer message, from the channel to whoever answers it. The whole path reads top to bottom:

1. `validate` — refuse what the hub will not take (too long, empty): nothing is stored.
2. `_accept` — **one transaction**: find or open the customer's conversation, skip a replay, decide the
   conversation's language, store the (redacted) message, let a claim take it (a CSAT answer …) or reopen a
   resolved conversation, release messages parked for this customer, and note whether the message is in a language the
   bot does not speak.
3. the owner answers: the bot (`BotTurns.run`, while the status is `bot`), or nobody yet (a person sees the
   message in the console: the `message` event).

Messages of one conversation are handled one at a time, in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Callable

from sqlalchemy.exc import IntegrityError

from bot.conversations import ownership
from bot.conversations.bot_turn import BotTurns, Outcome
from bot.conversations.identity import key_for, resolve_key
from bot.conversations.language import ConversationLanguage, LanguageDecision, LanguageDetector, seed_language
from bot.conversations.outbound import Outbound, system_message
from bot.delivery import outbox
from bot.delivery.worker import DeliveryWorker
from bot.locks import KeyedLocks, Locks
from bot.ops.metrics import Metrics
from bot.store import conversations as conversation_store
from bot.store import messages as message_store
from bot.store.db import Database, Tx
from bot.store.conversations import aware
from bot.store.messages import NewMessage
from bot.store.models import Sender, Status, utcnow
from bot.views import message_view
from connectors.base import Button, InboundMessage, MessageRejected
from core.i18n import t
from core.pii import redact

log = logging.getLogger(__name__)

HISTORY = 30  # messages read with each customer message (language hysteresis, the previous bot turn)


# A claim looks at a stored customer message inside the accepting transaction and takes it when it answers the
# hub itself rather than the bot (a 1–5 rating after a resolution, …): it records what it must, emits the event
# whose listener replies, and returns the message's outcome; None leaves the message to the conversation's owner.
Claim = Callable[[Tx, Any, InboundMessage], "str | None"]


@dataclass(frozen=True)
class InboundResult:
    conversation_id: str
    message_id: str | None  # None for a replay that was answered before
    duplicate: bool = False


@dataclass
class Accepted:
    """What the accepting transaction found and did."""

    conv: Any
    message: Any | None = None  # the stored customer message (None: a replay)
    replay: Any | None = None  # the message stored earlier under the same provider id
    recent: list[Any] = field(default_factory=list)  # the messages before it, oldest first
    language: LanguageDecision | None = None
    foreign: str | None = None  # the unsupported language the message is written in
    claimed: str | None = None  # the outcome of a claim that took the message (e.g. "csat")
    released: int = 0  # parked messages due again



def with_values(row: Any, **changes: Any) -> SimpleNamespace:
    """A copy of a read-only row with some fields changed (what the transaction just wrote)."""
    return SimpleNamespace(**{**row._mapping, **changes})


class InboundService:
    def __init__(self, *, db: Database, bot: BotTurns, outbound: Outbound, delivery: DeliveryWorker,
                 detector: LanguageDetector, metrics: Metrics, default_language: str, max_message_chars: int,
                 redact_pii: bool = True, claims: Sequence[Claim] = (), stale_after_s: float = 60.0,
                 resume_within_s: float = 600.0, locks: Locks | None = None,
                 parking_channels: frozenset[str] = frozenset()) -> None:
        self.db = db
        self.bot = bot
        self.outbound = outbound
        self.delivery = delivery
        self.detector = detector
        self.metrics = metrics
        self.default_language = default_language
        self.max_message_chars = max_message_chars
        self.redact_pii = redact_pii
        self.claims = list(claims)
        self.stale_after_s = stale_after_s
        self.resume_within_s = resume_within_s
        self.parking_channels = parking_channels
        self._locks: Locks = locks or KeyedLocks()  # one message of a customer at a time, in order
        self._in_flight: set[str] = set()  # customer messages whose bot turn runs in this process now

    def validate(self, msg: InboundMessage) -> None:
        """Raise `MessageRejected` for a message the hub will not take (nothing is stored)."""
        if len(msg.text) > self.max_message_chars:
            raise MessageRejected(
                "message_too_long",
                f"Messages can be at most {self.max_message_chars} characters; "
                f"this one has {len(msg.text)}. Please shorten it or split it.",
            )
        if not msg.text.strip() and msg.kind == "text":
            raise MessageRejected("empty_message", "The message is empty.")

    async def handle(self, msg: InboundMessage) -> InboundResult:
        """Store a customer message and have its owner answer."""
        self.validate(msg)
        if not self.detector.loaded:  # seconds, once after start: never inside a transaction
            await asyncio.to_thread(self.detector.ensure_loaded)
        async with self._locks(f"customer:{msg.channel}:{msg.external_user_id}"):
            try:
                accepted = await self.db.write(self._accept, msg)
            except IntegrityError:  # another hub process stored the same first message a moment ago
                accepted = await self.db.write(self._accept, msg)
            conv, stored = accepted.conv, accepted.message
            if accepted.replay is not None:
                self.metrics.duplicate(msg.channel)
                if self._unanswered(accepted.replay):  # a resend of a message nobody answered: answer it now
                    await self._bot_turn(conv, accepted.replay, accepted.recent)
                    return InboundResult(conv.id, accepted.replay.id, duplicate=True)
                return InboundResult(conv.id, None, duplicate=True)
            assert stored is not None
            if accepted.released:
                await self.delivery.drain(conv.id)
            if stored.outcome == Outcome.PENDING.value:
                await self._bot_turn(conv, stored, accepted.recent)
            elif stored.outcome == Outcome.LANGUAGE_SET.value:  # the hub's business: confirm the choice
                await self.outbound.notice(conv.id, "language_confirmed", event="language_set")
            elif stored.outcome == Outcome.UNSUPPORTED_LANGUAGE.value:
                await self._reply_unsupported(conv, str(accepted.foreign))
            return InboundResult(conv.id, stored.id)

    def _unanswered(self, message: Any) -> bool:
        """A stored message whose bot turn never finished (the hub stopped mid-turn), and that no task of this
        process is answering right now: a turn older than the Rasa timeout plus a margin is stale."""
        if message.outcome != Outcome.PENDING.value or message.id in self._in_flight:
            return False
        return (utcnow() - aware(message.created_at)).total_seconds() > self.stale_after_s

    async def _bot_turn(self, conv: Any, message: Any, recent: list[Any]) -> None:
        payload = (message.payload or {}).get("payload") if (message.payload or {}).get("kind") == "button" else None
        self._in_flight.add(message.id)
        try:
            await self.bot.run(conv, message, str(payload or message.text), recent)
        finally:
            self._in_flight.discard(message.id)

    async def resume_pending(self, *, only_stale: bool = False) -> int:
        """At start-up: finish the bot turns a previous run left unanswered (it was stopped or killed after
        storing a customer message, before the bot's answer was stored). A recent one is asked again; one older
        than `resume_within_s` goes to a person, who sees the message and why. Returns how many were found."""
        pending = await self.db.read(message_store.pending_turns,
                                     older_than_s=self.stale_after_s if only_stale else 0)
        for message in pending:
            key_conv = await self.db.read(conversation_store.get, message.conversation_id)
            async with self._locks(f"customer:{key_conv.channel}:{key_conv.external_user_id}"):
                conv, current, recent = await self.db.read(self._reload, message.id)
                if current is None or current.outcome != Outcome.PENDING.value or current.id in self._in_flight:
                    continue
                if conv.status != Status.BOT.value:
                    await self.db.write(lambda tx: message_store.annotate(tx.conn, current.id, outcome=None))
                    continue
                age = (utcnow() - aware(current.created_at)).total_seconds()
                if age <= self.resume_within_s:
                    log.info("conversation %s: answering message %s left unanswered by the last run", conv.id,
                             current.id)
                    await self._bot_turn(conv, current, recent)
                else:
                    log.warning("conversation %s: message %s was left unanswered %.0f s ago; handing to a person",
                                conv.id, current.id, age)
                    await self.bot.interrupted(conv, current, recent)
        return len(pending)

    @staticmethod
    def _reload(conn: Any, message_id: str) -> tuple[Any, Any, list[Any]]:
        message = message_store.by_id(conn, message_id)
        if message is None:
            return None, None, []
        conv = conversation_store.get(conn, message.conversation_id)
        recent = [m for m in message_store.recent(conn, conv.id, limit=HISTORY + 10) if m.seq < message.seq]
        return conv, message, recent[-HISTORY:]

    def _accept(self, tx: Tx, msg: InboundMessage) -> Accepted:
        conn = tx.conn
        conv = conversation_store.latest(conn, msg.channel, msg.external_user_id)
        if conv is None:
            language = seed_language(msg.language_hint, self.default_language, self.detector.supported)
            conv = ownership.open_conversation(tx, msg.channel, msg.external_user_id, language=language,
                                               customer_name=msg.customer_name, customer_key=resolve_key(conn, msg))
        else:
            changes: dict[str, Any] = {}
            if msg.customer_name and not conv.customer_name:
                changes["customer_name"] = msg.customer_name
            key = key_for(conn, conv, msg)
            if key:
                changes["customer_key"] = key
            if changes:
                conversation_store.set_fields(conn, conv.id, **changes)
                conv = with_values(conv, **changes)
        recent = message_store.recent(conn, conv.id, limit=HISTORY)
        if msg.external_id is not None:
            replay = message_store.by_external_id(conn, conv.id, msg.external_id)
            if replay is not None:
                log.info("replayed message %s in conversation %s ignored", msg.external_id, conv.id)
                return Accepted(conv, replay=replay, recent=[m for m in recent if m.seq < replay.seq])
        history = [(m.language, m.text) for m in recent if m.sender == Sender.CUSTOMER.value][-10:]
        payload = msg.payload.get("payload") if msg.kind == "button" else None
        decision = ConversationLanguage(conv.language, detector=self.detector, history=history).decide(msg.text,
                                                                                                      payload)
        accepted = Accepted(conv, recent=recent, language=decision)
        outcome: str | None = None
        for claim in self.claims:
            outcome = claim(tx, conv, msg)
            if outcome is not None:  # an answer to the hub itself (a rating …): not for the bot, nor a reopening
                accepted.claimed = outcome
                break
        if conv.status == Status.RESOLVED.value and accepted.claimed is None:
            conv = ownership.reopen(tx, conv.id)
        if accepted.claimed is None and conv.status == Status.BOT.value:
            if decision.reason == "explicit":
                outcome = Outcome.LANGUAGE_SET.value
            elif msg.kind == "text" and (foreign := self.detector.unsupported(msg.text)):
                accepted.foreign, outcome = foreign, Outcome.UNSUPPORTED_LANGUAGE.value
            else:
                outcome = Outcome.PENDING.value  # recorded before Rasa is asked: a crash cannot lose the turn
        text = redact(msg.text, decision.language) if self.redact_pii else msg.text
        stored = message_store.insert_message(conn, NewMessage(
            conversation_id=conv.id, sender=Sender.CUSTOMER, text=text, sender_name=msg.customer_name,
            payload={"kind": msg.kind, **msg.payload} if msg.kind != "text" or msg.payload else None,
            language=decision.message_language, external_id=msg.external_id, outcome=outcome), touch=False)
        if decision.language != conv.language:
            conversation_store.set_fields(conn, conv.id, language=decision.language, updated_at=stored.created_at)
            self.metrics.language_switch(decision.reason or "other")
            log.info("conversation %s: language %s -> %s (%s)", conv.id, conv.language, decision.language,
                     decision.reason)
            conv = with_values(conv, language=decision.language)
        else:
            message_store.touch_conversation(conn, conv.id, stored.created_at)
        accepted.conv, accepted.message = conv, stored
        if msg.channel in self.parking_channels:  # messages parked behind a closed 24-hour window
            accepted.released = outbox.release_parked(conn, conv.id)
        tx.emit("message", conversation_id=conv.id, status=conv.status, channel=conv.channel,
                message=message_view(stored))
        return accepted

    async def _reply_unsupported(self, conv: Any, foreign: str) -> None:
        """A message in a language the bot does not speak: say so politely, in the conversation's language, and
        offer a person (the button's payload goes to Rasa as `request_human`). Rasa never sees the message."""
        self.metrics.unsupported(foreign)
        log.info("conversation %s: message in unsupported language %s", conv.id, foreign)
        await self.outbound.send(conv.id, lambda c: system_message(
            "unsupported_language", c.language, event="unsupported_language",
            buttons=[Button(t("talk_to_person", c.language), "/request_human")], extra={"detected": foreign}))
