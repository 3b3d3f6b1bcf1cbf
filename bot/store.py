"""The conversation and message store, and the one place where conversation ownership changes.

Ownership: `bot → queued → assigned → resolved`, an agent may hand a conversation back to the bot, and a
resolved conversation that gets a new customer message goes back to the bot. Every transition is a single
conditional UPDATE, so two agents claiming at once cannot both win, on SQLite and PostgreSQL alike.

The methods are synchronous (SQLAlchemy sessions); async callers use `AsyncStore`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import anyio
from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError

from bot.db import session_factory
from bot.models import Conversation, Handoff, Message, Sender, Status, utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")

# action → (states it may start from, state it leads to)
TRANSITIONS: dict[str, tuple[frozenset[Status], Status]] = {
    "handoff": (frozenset({Status.BOT}), Status.QUEUED),
    "claim": (frozenset({Status.QUEUED}), Status.ASSIGNED),
    "transfer": (frozenset({Status.ASSIGNED}), Status.QUEUED),
    "resolve": (frozenset({Status.QUEUED, Status.ASSIGNED, Status.BOT}), Status.RESOLVED),
    "hand_back": (frozenset({Status.QUEUED, Status.ASSIGNED}), Status.BOT),
    "reopen": (frozenset({Status.RESOLVED}), Status.BOT),
}


class StoreError(Exception):
    """Base for store errors that map to a 4xx answer."""


class NotFound(StoreError):
    pass


class InvalidTransition(StoreError):
    def __init__(self, conversation_id: str, action: str, current: str) -> None:
        super().__init__(f"cannot {action.replace('_', ' ')} conversation {conversation_id}: it is {current}")
        self.conversation_id = conversation_id
        self.action = action
        self.current = current


@dataclass(frozen=True)
class NewMessage:
    conversation_id: str
    sender: Sender
    text: str
    sender_name: str | None = None
    payload: dict[str, Any] | None = None
    language: str | None = None
    intent: str | None = None
    confidence: float | None = None
    kb_entry_id: str | None = None
    external_id: str | None = None
    delivery_status: str | None = None


class ConversationStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session = session_factory(engine)

    # -- conversations -------------------------------------------------------------------------

    @staticmethod
    def _latest_query(channel: str, external_user_id: str):  # type: ignore[no-untyped-def]
        return (
            select(Conversation)
            .where(Conversation.channel == channel, Conversation.external_user_id == external_user_id)
            .order_by(Conversation.created_at.desc())
            .limit(1)
        )

    def latest(self, channel: str, external_user_id: str) -> Conversation | None:
        """The customer's most recent conversation on this channel, if any."""
        with self._session() as s:
            return s.scalars(self._latest_query(channel, external_user_id)).first()

    def get_or_create(
        self, channel: str, external_user_id: str, *, language: str, customer_name: str | None = None
    ) -> Conversation:
        """The customer's latest conversation on this channel, or a new one owned by the bot."""
        with self._session.begin() as s:
            conv = s.scalars(self._latest_query(channel, external_user_id)).first()
            if conv is None:
                conv = Conversation(
                    channel=channel,
                    external_user_id=external_user_id,
                    language=language,
                    customer_name=customer_name,
                    status=Status.BOT.value,
                    priority=0,
                )
                s.add(conv)
                s.flush()
                log.info("new conversation %s on %s", conv.id, channel)
            elif customer_name and not conv.customer_name:
                conv.customer_name = customer_name
            return conv

    def get(self, conversation_id: str) -> Conversation:
        with self._session() as s:
            conv = s.get(Conversation, conversation_id)
            if conv is None:
                raise NotFound(f"no conversation {conversation_id}")
            return conv

    def set_language(self, conversation_id: str, language: str) -> None:
        with self._session.begin() as s:
            s.execute(update(Conversation).where(Conversation.id == conversation_id).values(language=language))

    def transition(self, conversation_id: str, action: str, **values: Any) -> Conversation:
        """Apply one ownership change atomically; raise `InvalidTransition` if the state does not allow it."""
        sources, target = TRANSITIONS[action]
        values = {"status": target.value, "updated_at": utcnow(), **values}
        with self._session.begin() as s:
            result = s.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id, Conversation.status.in_([x.value for x in sources]))
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            conv = s.get(Conversation, conversation_id, populate_existing=True)
            if conv is None:
                raise NotFound(f"no conversation {conversation_id}")
            if result.rowcount != 1:
                raise InvalidTransition(conversation_id, action, conv.status)
            log.info("conversation %s: %s → %s", conversation_id, action, target.value)
            return conv

    def hand_off(
        self,
        conversation_id: str,
        *,
        reason: str,
        summary: str = "",
        details: dict[str, Any] | None = None,
        priority: int = 0,
        team: str | None = None,
    ) -> Conversation:
        """Queue a bot-owned conversation for humans and record why."""
        conv = self.transition(
            conversation_id, "handoff", handoff_reason=reason, priority=priority, team=team, queued_at=utcnow(),
            assigned_agent=None,
        )
        with self._session.begin() as s:
            s.add(Handoff(conversation_id=conversation_id, reason=reason, summary=summary, details=details or {}))
        return conv

    def claim(self, conversation_id: str, agent: str) -> Conversation:
        return self.transition(conversation_id, "claim", assigned_agent=agent)

    def resolve(self, conversation_id: str) -> Conversation:
        return self.transition(conversation_id, "resolve")

    def hand_back(self, conversation_id: str) -> Conversation:
        return self.transition(conversation_id, "hand_back", assigned_agent=None, handoff_reason=None)

    def reopen(self, conversation_id: str) -> Conversation:
        return self.transition(conversation_id, "reopen", assigned_agent=None, handoff_reason=None, priority=0)

    def queue(self, limit: int = 100) -> list[Conversation]:
        """Queued conversations: highest priority first, then first come, first served."""
        with self._session() as s:
            return list(
                s.scalars(
                    select(Conversation)
                    .where(Conversation.status == Status.QUEUED.value)
                    .order_by(Conversation.priority.desc(), Conversation.queued_at.asc())
                    .limit(limit)
                )
            )

    def list(self, *, status: str | None = None, agent: str | None = None, limit: int = 100) -> list[Conversation]:
        with self._session() as s:
            q = select(Conversation).order_by(Conversation.updated_at.desc()).limit(limit)
            if status:
                q = q.where(Conversation.status == status)
            if agent:
                q = q.where(Conversation.assigned_agent == agent)
            return list(s.scalars(q))

    def queue_position(self, conversation_id: str) -> int | None:
        """1-based place in the queue, or None when the conversation is not queued."""
        conv = self.get(conversation_id)
        if conv.status != Status.QUEUED.value or conv.queued_at is None:
            return None
        with self._session() as s:
            ahead = s.scalar(
                select(func.count())
                .select_from(Conversation)
                .where(
                    Conversation.status == Status.QUEUED.value,
                    (Conversation.priority > conv.priority)
                    | ((Conversation.priority == conv.priority) & (Conversation.queued_at < conv.queued_at)),
                )
            )
            return int(ahead or 0) + 1

    def handoffs(self, conversation_id: str) -> list[Handoff]:
        with self._session() as s:
            return list(
                s.scalars(select(Handoff).where(Handoff.conversation_id == conversation_id).order_by(Handoff.id))
            )

    # -- messages ------------------------------------------------------------------------------

    def add_message(self, new: NewMessage) -> Message | None:
        """Store a message; None when a message with the same provider id was stored before (a replay)."""
        msg = Message(
            conversation_id=new.conversation_id,
            sender=new.sender.value,
            sender_name=new.sender_name,
            text=new.text,
            payload=new.payload,
            language=new.language,
            intent=new.intent,
            confidence=new.confidence,
            kb_entry_id=new.kb_entry_id,
            external_id=new.external_id,
            delivery_status=new.delivery_status,
        )
        try:
            with self._session.begin() as s:
                s.add(msg)
                s.execute(
                    update(Conversation).where(Conversation.id == new.conversation_id).values(updated_at=utcnow())
                )
        except IntegrityError:
            if new.external_id is not None:
                log.info("replayed message %s in conversation %s ignored", new.external_id, new.conversation_id)
                return None
            raise
        return msg

    def annotate_message(self, message_id: str, **values: Any) -> None:
        """Set NLU results (intent, confidence, language) or delivery status on a stored message."""
        with self._session.begin() as s:
            s.execute(update(Message).where(Message.id == message_id).values(**values))

    def messages(self, conversation_id: str, *, after_seq: int = 0, limit: int = 500) -> list[Message]:
        with self._session() as s:
            return list(
                s.scalars(
                    select(Message)
                    .where(Message.conversation_id == conversation_id, Message.seq > after_seq)
                    .order_by(Message.seq)
                    .limit(limit)
                )
            )

    def message_seq(self, message_id: str) -> int | None:
        with self._session() as s:
            return s.scalar(select(Message.seq).where(Message.id == message_id))


class AsyncStore:
    """Runs `ConversationStore` calls in worker threads so database I/O never blocks the event loop."""

    def __init__(self, store: ConversationStore) -> None:
        self.sync = store

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))

    def __getattr__(self, name: str) -> Callable[..., Any]:
        fn = getattr(self.sync, name)

        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            return await self.call(fn, *args, **kwargs)

        return wrapper
