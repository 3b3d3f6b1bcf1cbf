"""Reading conversations, and the fields of a conversation that are not its ownership.

Every function takes the connection of the current unit of work (`bot.store.db`). A conversation's `status`
(and who owns it) is written only by `bot.conversations.ownership`. Rows are SQLAlchemy `Row`s: read-only,
with the column names as attributes.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, or_, select, update

from bot.errors import NotFound
from bot.store.models import Conversation, Handoff, Message, Sender, Status, utcnow

conversations = Conversation.__table__
messages = Message.__table__
handoffs = Handoff.__table__

ConversationRow = Row[Any]

_GET = select(conversations).where(conversations.c.id == bindparam("cid"))
_LATEST = (select(conversations)
           .where(conversations.c.channel == bindparam("channel"), conversations.c.external_user_id == bindparam("user"))
           .order_by(conversations.c.created_at.desc()).limit(1))


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes even for timezone-aware columns; they are UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def get(conn: Connection, conversation_id: str) -> ConversationRow:
    row = conn.execute(_GET, {"cid": conversation_id}).first()
    if row is None:
        raise NotFound(f"no conversation {conversation_id}")
    return row


def find(conn: Connection, conversation_id: str) -> ConversationRow | None:
    return conn.execute(_GET, {"cid": conversation_id}).first()


def latest(conn: Connection, channel: str, external_user_id: str) -> ConversationRow | None:
    """The customer's most recent conversation on this channel, if any."""
    return conn.execute(_LATEST, {"channel": channel, "user": external_user_id}).first()


def set_fields(conn: Connection, conversation_id: str, **values: Any) -> None:
    """Set fields other than ownership (language, customer name or key, wait announced, read marker)."""
    assert not {"status", "assigned_agent"} & set(values), "ownership changes go through bot.conversations.ownership"
    conn.execute(update(conversations).where(conversations.c.id == conversation_id).values(**values))


def link_customer(conn: Connection, conv: ConversationRow, key: str | None) -> None:
    """Give the conversation the customer key `key` (None: unlink it). Linking merges: the conversations that
    shared its old key take the new one too."""
    if key is not None and conv.customer_key:
        conn.execute(update(conversations).where(conversations.c.customer_key == conv.customer_key)
                     .values(customer_key=key))
    set_fields(conn, conv.id, customer_key=key)


def mark_read(conn: Connection, conversation_id: str, seq: int) -> None:
    conn.execute(update(conversations)
                 .where(conversations.c.id == conversation_id, conversations.c.agent_read_seq < seq)
                 .values(agent_read_seq=seq))


def queue(conn: Connection, limit: int = 100) -> list[ConversationRow]:
    """Queued conversations: highest priority first, then first come, first served."""
    return list(conn.execute(
        select(conversations)
        .where(conversations.c.status == Status.QUEUED.value)
        .order_by(conversations.c.priority.desc(), conversations.c.queued_at.asc())
        .limit(limit)
    ))


def listing(conn: Connection, *, status: str | None = None, agent: str | None = None,
            limit: int = 100) -> list[ConversationRow]:
    q = select(conversations).order_by(conversations.c.updated_at.desc()).limit(limit)
    if status:
        q = q.where(conversations.c.status == status)
    if agent:
        q = q.where(conversations.c.assigned_agent == agent)
    return list(conn.execute(q))


def queue_by_team(conn: Connection) -> dict[str, tuple[int, float]]:
    """Per team ("none" for conversations without one): how many wait, and the longest wait in seconds."""
    rows = conn.execute(select(conversations.c.team, func.count(), func.min(conversations.c.queued_at))
                        .where(conversations.c.status == Status.QUEUED.value).group_by(conversations.c.team))
    now = utcnow()
    return {team or "none": (int(n), max(0.0, (now - aware(oldest)).total_seconds()) if oldest else 0.0)  # type: ignore[operator]
            for team, n, oldest in rows}


def queue_position(conn: Connection, conv: ConversationRow) -> int | None:
    """1-based place in the queue, or None when the conversation is not queued."""
    if conv.status != Status.QUEUED.value or conv.queued_at is None:
        return None
    ahead = conn.execute(
        select(func.count()).select_from(conversations).where(
            conversations.c.status == Status.QUEUED.value,
            (conversations.c.priority > conv.priority)
            | ((conversations.c.priority == conv.priority) & (conversations.c.queued_at < conv.queued_at)),
        )
    ).scalar()
    return int(ahead or 0) + 1


def load(conn: Connection) -> dict[str, int]:
    """Assigned conversations per agent key."""
    rows = conn.execute(
        select(conversations.c.assigned_agent, func.count())
        .where(conversations.c.status == Status.ASSIGNED.value, conversations.c.assigned_agent.is_not(None))
        .group_by(conversations.c.assigned_agent)
    )
    return {agent: int(n) for agent, n in rows}


def unread(conn: Connection, conversation_ids: list[str]) -> dict[str, int]:
    """Customer messages after the assigned agent's read marker, per conversation."""
    if not conversation_ids:
        return {}
    rows = conn.execute(
        select(messages.c.conversation_id, func.count())
        .join(conversations, conversations.c.id == messages.c.conversation_id)
        .where(messages.c.conversation_id.in_(conversation_ids), messages.c.sender == Sender.CUSTOMER.value,
               messages.c.seq > conversations.c.agent_read_seq)
        .group_by(messages.c.conversation_id)
    )
    return {cid: int(n) for cid, n in rows}


def related(conn: Connection, conv: ConversationRow, limit: int = 20) -> list[ConversationRow]:
    """The customer's other conversations: same customer key, or the same user id on another channel."""
    cond = conversations.c.external_user_id == conv.external_user_id
    if conv.customer_key:
        cond = or_(cond, conversations.c.customer_key == conv.customer_key)
    return list(conn.execute(select(conversations).where(cond, conversations.c.id != conv.id)
                             .order_by(conversations.c.updated_at.desc()).limit(limit)))


def recent_waits(conn: Connection, *, team: str | None = None, within: timedelta = timedelta(days=7),
                 limit: int = 50) -> list[float]:
    """Seconds from handoff to the first claim, newest first, for wait estimates."""
    q = (select(handoffs.c.created_at, handoffs.c.claimed_at)
         .where(handoffs.c.claimed_at.is_not(None), handoffs.c.created_at >= utcnow() - within)
         .order_by(handoffs.c.id.desc()).limit(limit))
    if team is not None:
        q = q.where(handoffs.c.team == team)
    return [max(0.0, (aware(c) - aware(h)).total_seconds()) for h, c in conn.execute(q)]  # type: ignore[operator]


def handoff_rows(conn: Connection, conversation_id: str) -> list[Row[Any]]:
    return list(conn.execute(select(handoffs).where(handoffs.c.conversation_id == conversation_id)
                             .order_by(handoffs.c.id)))


def insert_handoff(conn: Connection, conversation_id: str, *, reason: str, summary: str, details: dict[str, Any],
                   team: str | None, priority: int) -> None:
    conn.execute(handoffs.insert().values(conversation_id=conversation_id, reason=reason, summary=summary,
                                          details=details, team=team, priority=priority, created_at=utcnow()))


def mark_claimed(conn: Connection, conversation_id: str, agent: str, at: datetime) -> None:
    """The first claim after a handoff measures the wait (wait estimates come from these)."""
    latest_id = conn.execute(select(func.max(handoffs.c.id)).where(handoffs.c.conversation_id == conversation_id)
                             ).scalar()
    if latest_id is not None:
        conn.execute(update(handoffs).where(handoffs.c.id == latest_id, handoffs.c.claimed_at.is_(None))
                     .values(claimed_at=at, claimed_by=agent))
