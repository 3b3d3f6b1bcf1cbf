"""The conversation and message store, and the one place where conversation ownership changes.

Ownership: `bot → queued → assigned → resolved`, an agent may hand a conversation back to the bot, and a
resolved conversation that gets a new customer message goes back to the bot. Every transition is a single
conditional UPDATE, so two agents claiming at once cannot both win, on SQLite and PostgreSQL alike.

The methods are synchronous (SQLAlchemy sessions); async callers use `AsyncStore`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, TypeVar

import anyio
from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError

from bot.db import session_factory
from bot.models import Conversation, Csat, Handoff, Message, Note, Sender, Status, utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")

# action → (states it may start from, state it leads to)
TRANSITIONS: dict[str, tuple[frozenset[Status], Status]] = {
    "handoff": (frozenset({Status.BOT}), Status.QUEUED),
    "claim": (frozenset({Status.QUEUED}), Status.ASSIGNED),
    "transfer": (frozenset({Status.QUEUED, Status.ASSIGNED}), Status.QUEUED),  # to a team (back in its queue)
    "reassign": (frozenset({Status.ASSIGNED}), Status.ASSIGNED),  # to another agent, from its current owner
    "resolve": (frozenset({Status.QUEUED, Status.ASSIGNED, Status.BOT}), Status.RESOLVED),
    "hand_back": (frozenset({Status.QUEUED, Status.ASSIGNED}), Status.BOT),
    "reopen": (frozenset({Status.RESOLVED}), Status.BOT),
}


# Provider delivery statuses in the order they can follow each other; failures are final.
DELIVERY_RANK = {"pending": 0, "stored": 1, "accepted": 2, "queued": 2, "sending": 3, "sent": 4,
                 "delivered": 5, "read": 6, "undelivered": 7, "failed": 7, "dead": 8}


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

    def transition(
        self, conversation_id: str, action: str, *, only_if_agent: str | None = None, **values: Any
    ) -> Conversation:
        """Apply one ownership change atomically; raise `InvalidTransition` if the state does not allow it.

        `only_if_agent`: the change also requires the conversation to be assigned to this agent (a transfer or
        a reassignment by its owner), checked in the same UPDATE.
        """
        sources, target = TRANSITIONS[action]
        values = {"status": target.value, "updated_at": utcnow(), **values}
        conditions = [Conversation.id == conversation_id, Conversation.status.in_([x.value for x in sources])]
        if only_if_agent is not None:
            conditions.append(Conversation.assigned_agent == only_if_agent)
        with self._session.begin() as s:
            result = s.execute(
                update(Conversation)
                .where(*conditions)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            conv = s.get(Conversation, conversation_id, populate_existing=True)
            if conv is None:
                raise NotFound(f"no conversation {conversation_id}")
            if result.rowcount != 1:
                if only_if_agent is not None and conv.status in {x.value for x in sources}:
                    raise InvalidTransition(conversation_id, action, f"{conv.status} to {conv.assigned_agent}")
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
            assigned_agent=None, assigned_at=None, resolved_at=None, resolved_by=None, wait_announced_s=None,
        )
        with self._session.begin() as s:
            s.add(Handoff(conversation_id=conversation_id, reason=reason, summary=summary, details=details or {},
                          team=team, priority=priority))
        return conv

    def claim(self, conversation_id: str, agent: str) -> Conversation:
        now = utcnow()
        # What came before the claim counts as read: the agent sees it when they open the conversation.
        read_up_to = select(func.coalesce(func.max(Message.seq), 0)).where(
            Message.conversation_id == conversation_id).scalar_subquery()
        conv = self.transition(conversation_id, "claim", assigned_agent=agent, assigned_at=now,
                               agent_read_seq=read_up_to)
        with self._session.begin() as s:  # the first claim after a handoff measures the wait
            latest = s.scalar(select(func.max(Handoff.id)).where(Handoff.conversation_id == conversation_id))
            if latest is not None:
                s.execute(update(Handoff).where(Handoff.id == latest, Handoff.claimed_at.is_(None))
                          .values(claimed_at=now, claimed_by=agent))
        return conv

    def transfer(self, conversation_id: str, *, team: str | None, by_agent: str | None = None) -> Conversation:
        """Put the conversation back in a team's queue, keeping its place (its original queue time)."""
        return self.transition(conversation_id, "transfer", only_if_agent=by_agent, team=team,
                               assigned_agent=None, assigned_at=None, wait_announced_s=None)

    def reassign(self, conversation_id: str, *, to_agent: str, by_agent: str | None = None,
                 team: str | None = None) -> Conversation:
        values: dict[str, Any] = {"assigned_agent": to_agent, "assigned_at": utcnow(), "agent_read_seq": 0}
        if team is not None:
            values["team"] = team
        return self.transition(conversation_id, "reassign", only_if_agent=by_agent, **values)

    def resolve(self, conversation_id: str, *, by: str | None = None) -> Conversation:
        """Close the conversation; `by` is the agent who resolved it, or "bot"."""
        return self.transition(conversation_id, "resolve", resolved_at=utcnow(), resolved_by=by)

    def hand_back(self, conversation_id: str) -> Conversation:
        return self.transition(conversation_id, "hand_back", assigned_agent=None, handoff_reason=None)

    def reopen(self, conversation_id: str) -> Conversation:
        return self.transition(conversation_id, "reopen", assigned_agent=None, handoff_reason=None, priority=0)

    # -- agents' view --------------------------------------------------------------------------

    def load(self) -> dict[str, int]:
        """Assigned conversations per agent key."""
        with self._session() as s:
            rows = s.execute(
                select(Conversation.assigned_agent, func.count())
                .where(Conversation.status == Status.ASSIGNED.value, Conversation.assigned_agent.is_not(None))
                .group_by(Conversation.assigned_agent)
            )
            return {agent: int(n) for agent, n in rows}

    def recent_waits(self, *, team: str | None = None, within: timedelta = timedelta(days=7),
                     limit: int = 50) -> list[float]:
        """Seconds from handoff to the first claim, newest first, for wait estimates."""
        since = utcnow() - within
        with self._session() as s:
            q = (select(Handoff.created_at, Handoff.claimed_at)
                 .where(Handoff.claimed_at.is_not(None), Handoff.created_at >= since)
                 .order_by(Handoff.id.desc()).limit(limit))
            if team is not None:
                q = q.where(Handoff.team == team)
            return [max(0.0, (_aware(c) - _aware(q_)).total_seconds()) for q_, c in s.execute(q)]

    def unread(self, conversation_ids: list[str]) -> dict[str, int]:
        """Customer messages after the assigned agent's read marker, per conversation."""
        if not conversation_ids:
            return {}
        with self._session() as s:
            rows = s.execute(
                select(Message.conversation_id, func.count())
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(Message.conversation_id.in_(conversation_ids), Message.sender == Sender.CUSTOMER.value,
                       Message.seq > Conversation.agent_read_seq)
                .group_by(Message.conversation_id)
            )
            return {cid: int(n) for cid, n in rows}

    def mark_read(self, conversation_id: str, seq: int) -> None:
        with self._session.begin() as s:
            s.execute(update(Conversation)
                      .where(Conversation.id == conversation_id, Conversation.agent_read_seq < seq)
                      .values(agent_read_seq=seq).execution_options(synchronize_session=False))

    def set_wait_announced(self, conversation_id: str, seconds: int | None) -> None:
        with self._session.begin() as s:
            s.execute(update(Conversation).where(Conversation.id == conversation_id)
                      .values(wait_announced_s=seconds).execution_options(synchronize_session=False))

    def set_customer_key(self, conversation_id: str, key: str | None) -> Conversation:
        with self._session.begin() as s:
            conv = s.get(Conversation, conversation_id)
            if conv is None:
                raise NotFound(f"no conversation {conversation_id}")
            conv.customer_key = key
            return conv

    def related(self, conv: Conversation, limit: int = 20) -> list[Conversation]:
        """The customer's other conversations: same customer key, or the same user id on another channel."""
        cond = (Conversation.external_user_id == conv.external_user_id)
        if conv.customer_key:
            cond = cond | (Conversation.customer_key == conv.customer_key)
        with self._session() as s:
            return list(s.scalars(select(Conversation).where(cond, Conversation.id != conv.id)
                                  .order_by(Conversation.updated_at.desc()).limit(limit)))

    # -- notes and CSAT ------------------------------------------------------------------------

    def add_note(self, conversation_id: str, *, author: str, author_name: str, text: str,
                 kind: str = "note") -> Note:
        self.get(conversation_id)
        note = Note(conversation_id=conversation_id, author=author, author_name=author_name, text=text, kind=kind)
        with self._session.begin() as s:
            s.add(note)
        return note

    def notes(self, conversation_id: str) -> list[Note]:
        with self._session() as s:
            return list(s.scalars(select(Note).where(Note.conversation_id == conversation_id).order_by(Note.id)))

    def request_csat(self, conversation_id: str, agent: str | None) -> Csat:
        row = Csat(conversation_id=conversation_id, agent=agent)
        with self._session.begin() as s:
            s.add(row)
        return row

    def pending_csat(self, conversation_id: str, within: timedelta = timedelta(days=3)) -> Csat | None:
        """The latest unanswered CSAT question of this conversation, if it was asked recently."""
        with self._session() as s:
            row = s.scalars(select(Csat).where(Csat.conversation_id == conversation_id)
                            .order_by(Csat.id.desc()).limit(1)).first()
        if row is None or row.score is not None or _aware(row.requested_at) < utcnow() - within:
            return None
        return row

    def answer_csat(self, csat_id: int, score: int) -> Csat | None:
        """Record the score once; None if it was answered already."""
        with self._session.begin() as s:
            result = s.execute(update(Csat).where(Csat.id == csat_id, Csat.score.is_(None))
                               .values(score=score, answered_at=utcnow()).execution_options(synchronize_session=False))
            if result.rowcount != 1:
                return None
            return s.get(Csat, csat_id, populate_existing=True)

    def csat(self, conversation_id: str) -> list[Csat]:
        with self._session() as s:
            return list(s.scalars(select(Csat).where(Csat.conversation_id == conversation_id).order_by(Csat.id)))

    def csat_summary(self) -> list[dict[str, Any]]:
        """Average score and count per agent (None: the bot)."""
        with self._session() as s:
            rows = s.execute(select(Csat.agent, func.avg(Csat.score), func.count(Csat.score))
                             .where(Csat.score.is_not(None)).group_by(Csat.agent))
            return [{"agent": a, "average": round(float(avg), 2), "answers": int(n)} for a, avg, n in rows]

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

    def record_delivery(self, message_id: str, status: str) -> bool:
        """Move a message's delivery status forward (a late `sent` never overwrites `read`); True if it changed."""
        rank = DELIVERY_RANK.get(status)
        if rank is None:
            return False
        with self._session.begin() as s:
            current = s.scalar(select(Message.delivery_status).where(Message.id == message_id))
            if current is not None and DELIVERY_RANK.get(current, -1) >= rank:
                return False
            result = s.execute(update(Message).where(Message.id == message_id).values(delivery_status=status))
            return result.rowcount == 1

    def recent_customer_messages(self, conversation_id: str, *, limit: int = 10) -> list[Message]:
        """The customer's last `limit` messages, oldest first (one indexed query, whatever the conversation's length)."""
        with self._session() as s:
            rows = list(s.scalars(
                select(Message)
                .where(Message.conversation_id == conversation_id, Message.sender == Sender.CUSTOMER.value)
                .order_by(Message.seq.desc())
                .limit(limit)
            ))
        return rows[::-1]

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


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


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
