"""The outbox (table `outbound_queue`): every message to a customer is a row here before it is sent.

A row is written in the same transaction as the message it carries, so nothing stored is ever left unsent:
`pending` rows go out in order per conversation (a row waits while an older one of its conversation is
pending), each sent by the hub process that *claimed* it (`claimed_by` until `claimed_until`: several hub
processes never send one row twice, and a process that died lets its claims lapse), `parked` rows wait for the customer to write again (WhatsApp outside its 24-hour window), `sent` rows
are done, `dead` rows exhausted their rounds (agents see them as dead letters and can retry them).
These functions run inside a unit of work (`bot.store.db`); `bot.delivery.worker` sends the rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, insert, or_, select, update

from bot.store.models import QueuedDelivery, utcnow
from connectors.base import Button, OutboundMessage

outbox = QueuedDelivery.__table__

PENDING, PARKED, SENT, DEAD = "pending", "parked", "sent", "dead"

_INSERT = insert(outbox).returning(outbox.c.id)
_BLOCKED = select(func.count()).select_from(outbox).where(
    outbox.c.conversation_id == bindparam("cid"), outbox.c.state.in_((PENDING, PARKED)), outbox.c.id < bindparam("rid"))
_MARK_SENT = update(outbox).where(outbox.c.id == bindparam("rid")).values(
    state=SENT, last_error=None, updated_at=bindparam("now"), claimed_by=None, claimed_until=None)


def _unclaimed(now: datetime, holder: str) -> Any:
    return or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now, outbox.c.claimed_by == holder)


@dataclass(frozen=True)
class Queued:
    """One outbox row, ready to send."""

    row_id: int
    message_id: str
    conversation_id: str
    channel: str
    recipient: str
    message: OutboundMessage
    attempts: int = 0


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def to_body(message: OutboundMessage) -> dict[str, Any]:
    return asdict(message)


def from_body(body: dict[str, Any]) -> OutboundMessage:
    data = dict(body)
    data["buttons"] = [Button(**b) for b in data.get("buttons") or []]
    return OutboundMessage(**data)


def _queued(row: Row[Any]) -> Queued:
    return Queued(row.id, row.message_id, row.conversation_id, row.channel, row.recipient, from_body(row.body),
                  row.attempts)


def enqueue(conn: Connection, conversation_id: str, channel: str, recipient: str, message: OutboundMessage, *,
            holder: str, lease_s: float) -> Queued:
    """Put a stored message (its `message_id` set) in the outbox, due now and claimed by `holder` (the process
    that will send it right after this transaction)."""
    assert message.message_id, "store the message before queueing it"
    now = utcnow()
    row_id = conn.execute(_INSERT, {
        "message_id": message.message_id, "conversation_id": conversation_id, "channel": channel,
        "recipient": recipient, "body": to_body(message), "state": PENDING, "attempts": 0, "next_attempt_at": now,
        "created_at": now, "updated_at": now, "claimed_by": holder,
        "claimed_until": now + timedelta(seconds=lease_s)}).scalar_one()
    return Queued(row_id, message.message_id, conversation_id, channel, recipient, message)


def blocked_before(conn: Connection, conversation_id: str, row_id: int) -> bool:
    """Is an older message of this conversation still pending or parked (so `row_id` must wait its turn)?"""
    return bool(conn.execute(_BLOCKED, {"cid": conversation_id, "rid": row_id}).scalar())


def release_parked(conn: Connection, conversation_id: str) -> int:
    """The customer wrote: their parked messages are due again (oldest first). Returns how many."""
    return conn.execute(update(outbox).where(outbox.c.conversation_id == conversation_id, outbox.c.state == PARKED)
                        .values(state=PENDING, next_attempt_at=utcnow(), updated_at=utcnow())).rowcount


def due_heads(conn: Connection, holder: str, now: datetime | None = None) -> list[tuple[int, str]]:
    """(row id, conversation) of the oldest unsent row of each conversation, if it is pending, due, and not
    claimed by another live process."""
    now = now or datetime.now(timezone.utc)
    firsts = (select(func.min(outbox.c.id)).where(outbox.c.state.in_((PENDING, PARKED)))
              .group_by(outbox.c.conversation_id))
    rows = conn.execute(select(outbox.c.id, outbox.c.conversation_id, outbox.c.next_attempt_at, outbox.c.state,
                               outbox.c.claimed_by, outbox.c.claimed_until)
                        .where(outbox.c.id.in_(firsts)).order_by(outbox.c.id)).all()
    return [(r.id, r.conversation_id) for r in rows if r.state == PENDING and _aware(r.next_attempt_at) <= now
            and (r.claimed_until is None or _aware(r.claimed_until) < now or r.claimed_by == holder)]


def claim(conn: Connection, rows: list[Queued], holder: str, lease_s: float) -> list[Queued]:
    """Claim these rows for `holder` (those still pending and not claimed by another live process), in order;
    stops at the first one another process holds, so a conversation's order is kept."""
    now = utcnow()
    claimed: list[Queued] = []
    for q in rows:
        done = conn.execute(update(outbox).where(outbox.c.id == q.row_id, outbox.c.state == PENDING,
                                                 _unclaimed(now, holder))
                            .values(claimed_by=holder, claimed_until=now + timedelta(seconds=lease_s))).rowcount
        if not done:
            break
        claimed.append(q)
    return claimed


def release_claims(conn: Connection, holder: str | None = None) -> int:
    """Drop claims (all of them when `holder` is None: one hub process starting alone, nobody else sends)."""
    q = update(outbox).where(outbox.c.claimed_by.is_not(None))
    if holder is not None:
        q = q.where(outbox.c.claimed_by == holder)
    return conn.execute(q.values(claimed_by=None, claimed_until=None)).rowcount


def due_in_conversation(conn: Connection, conversation_id: str, limit: int = 50) -> tuple[list[Queued], bool]:
    """The conversation's pending rows in order, up to the first one that is not due yet or is parked; and
    whether the line is held by a parked message (what comes after it is parked with it)."""
    rows = conn.execute(select(outbox).where(outbox.c.conversation_id == conversation_id,
                                             outbox.c.state.in_((PENDING, PARKED)))
                        .order_by(outbox.c.id).limit(limit)).all()
    now = datetime.now(timezone.utc)
    out: list[Queued] = []
    for r in rows:
        if r.state == PARKED:
            return out, True
        if _aware(r.next_attempt_at) > now:
            break
        out.append(_queued(r))
    return out, False


def mark(conn: Connection, row_id: int, state: str, *, attempts: int | None = None, error: str | None = None,
         retry_in_s: float | None = None) -> None:
    values: dict[str, Any] = {"state": state, "last_error": error[:2000] if error else None, "updated_at": utcnow(),
                              "claimed_by": None, "claimed_until": None}
    if attempts is not None:
        values["attempts"] = attempts
    if retry_in_s is not None:
        values["next_attempt_at"] = utcnow() + timedelta(seconds=retry_in_s)
    conn.execute(update(outbox).where(outbox.c.id == row_id).values(**values))


def mark_sent(conn: Connection, row_ids: list[int]) -> None:
    if row_ids:
        now = utcnow()
        conn.execute(_MARK_SENT, [{"rid": r, "now": now} for r in row_ids])


def revive(conn: Connection, row_id: int) -> bool:
    """Give a dead letter a fresh set of rounds (an agent's "retry"); False if it is not dead."""
    return conn.execute(update(outbox).where(outbox.c.id == row_id, outbox.c.state == DEAD).values(
        state=PENDING, attempts=0, next_attempt_at=utcnow(), last_error=None, updated_at=utcnow())).rowcount == 1


def dead_letters(conn: Connection, limit: int = 100) -> list[Row[Any]]:
    return list(conn.execute(select(outbox).where(outbox.c.state == DEAD).order_by(outbox.c.id.desc()).limit(limit)))


def get(conn: Connection, row_id: int) -> Row[Any] | None:
    return conn.execute(select(outbox).where(outbox.c.id == row_id)).first()


def resend(conn: Connection, message_id: str) -> str | None:
    """Send a message again from the start (the provider refused it for a reason the connector now knows,
    e.g. WhatsApp's window closed): its conversation, or None when it is not in the outbox or still on its way."""
    row = conn.execute(update(outbox).where(outbox.c.message_id == message_id, outbox.c.state.in_((SENT, DEAD)))
                       .values(state=PENDING, attempts=0, next_attempt_at=utcnow(), last_error=None,
                               updated_at=utcnow(), claimed_by=None, claimed_until=None)  # any process sends it
                       .returning(outbox.c.conversation_id)).first()
    return row.conversation_id if row is not None else None
