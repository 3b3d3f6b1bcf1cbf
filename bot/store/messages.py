"""Messages of a conversation: storing them, reading them, annotating them (NLU, outcome, delivery)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, insert, select, update

from bot.store.models import Conversation, Message, Sender, new_id, utcnow

messages = Message.__table__
conversations = Conversation.__table__

MessageRow = Row[Any]

# Provider delivery statuses in the order they can follow each other; failures are final.
DELIVERY_RANK = {"pending": 0, "parked": 1, "stored": 1, "accepted": 2, "queued": 2, "sending": 3, "sent": 4,
                 "delivered": 5, "read": 6, "undelivered": 7, "failed": 7, "dead": 8}


# The statements of the message path, built once (SQLAlchemy then reuses their compiled form).
_INSERT = insert(messages).returning(messages)
_TOUCH = (update(conversations).where(conversations.c.id == bindparam("cid"))
          .values(updated_at=bindparam("now")))
_BY_EXTERNAL_ID = select(messages).where(messages.c.conversation_id == bindparam("cid"),
                                         messages.c.external_id == bindparam("ext"))
_RECENT = (select(messages).where(messages.c.conversation_id == bindparam("cid"))
           .order_by(messages.c.seq.desc()).limit(bindparam("limit")))
_ANNOTATE_TURN = (update(messages).where(messages.c.id == bindparam("mid"), messages.c.outcome == "pending")
                  .values(intent=bindparam("intent"), confidence=bindparam("confidence"),
                          outcome=bindparam("outcome"), kb_decision=bindparam("kb_decision"),
                          kb_score=bindparam("kb_score"), kb_choices=bindparam("kb_choices"),
                          kb_entry_id=bindparam("kb_entry_id")))
_SET_DELIVERY = (update(messages).where(messages.c.id == bindparam("mid"))
                 .values(delivery_status=bindparam("status")))


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
    outcome: str | None = None
    reply_to: str | None = None


def insert_message(conn: Connection, new: NewMessage, *, touch: bool = True) -> MessageRow:
    """Store a message (and, with `touch`, bump the conversation's `updated_at`); the stored row."""
    now = utcnow()
    row = conn.execute(_INSERT, {
        "id": new_id(), "conversation_id": new.conversation_id, "sender": new.sender.value,
        "sender_name": new.sender_name, "text": new.text, "payload": new.payload, "language": new.language,
        "intent": new.intent, "confidence": new.confidence, "kb_entry_id": new.kb_entry_id,
        "external_id": new.external_id, "delivery_status": new.delivery_status, "outcome": new.outcome,
        "reply_to": new.reply_to, "created_at": now,
    }).one()
    if touch:
        touch_conversation(conn, new.conversation_id, now)
    return row


def touch_conversation(conn: Connection, conversation_id: str, now: Any = None) -> None:
    """Bump the conversation's `updated_at` (the console lists the most recently active first)."""
    conn.execute(_TOUCH, {"cid": conversation_id, "now": now or utcnow()})


def by_id(conn: Connection, message_id: str) -> MessageRow | None:
    return conn.execute(select(messages).where(messages.c.id == message_id)).first()


def pending_turns(conn: Connection, *, older_than_s: float = 0, limit: int = 1000) -> list[MessageRow]:
    """Customer messages whose bot turn never finished (outcome `pending`), oldest first."""
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    return list(conn.execute(select(messages).where(messages.c.outcome == "pending", messages.c.created_at <= cutoff)
                             .order_by(messages.c.seq).limit(limit)))


def by_external_id(conn: Connection, conversation_id: str, external_id: str) -> MessageRow | None:
    """The message a provider id was stored as (a replayed webhook, a resent widget frame)."""
    return conn.execute(_BY_EXTERNAL_ID, {"cid": conversation_id, "ext": external_id}).first()


def recent(conn: Connection, conversation_id: str, *, limit: int = 30) -> list[MessageRow]:
    """The conversation's last `limit` messages, oldest first (one indexed query, whatever its length)."""
    rows = list(conn.execute(_RECENT, {"cid": conversation_id, "limit": limit}))
    return rows[::-1]


def listing(conn: Connection, conversation_id: str, *, after_seq: int = 0, limit: int = 500) -> list[MessageRow]:
    return list(conn.execute(select(messages)
                             .where(messages.c.conversation_id == conversation_id, messages.c.seq > after_seq)
                             .order_by(messages.c.seq).limit(limit)))


def last_messages(conn: Connection, conversation_ids: list[str]) -> dict[str, MessageRow]:
    """Each conversation's latest message that is not a hub notice (the console's preview in list rows)."""
    if not conversation_ids:
        return {}
    latest = (select(func.max(messages.c.seq)).where(messages.c.conversation_id.in_(conversation_ids),
                                                       messages.c.sender != Sender.SYSTEM.value)
              .group_by(messages.c.conversation_id))
    rows = conn.execute(select(messages.c.conversation_id, messages.c.sender, messages.c.sender_name,
                               messages.c.text, messages.c.created_at).where(messages.c.seq.in_(latest)))
    return {r.conversation_id: r for r in rows}


def last_seq(conn: Connection, conversation_id: str) -> int:
    return int(conn.execute(select(func.coalesce(func.max(messages.c.seq), 0))
                            .where(messages.c.conversation_id == conversation_id)).scalar() or 0)


def last_customer_text(conn: Connection, conversation_id: str) -> str | None:
    """The customer's latest typed message (not a button payload), for knowledge-base suggestions."""
    rows = conn.execute(select(messages.c.text).where(messages.c.conversation_id == conversation_id,
                                                      messages.c.sender == Sender.CUSTOMER.value)
                        .order_by(messages.c.seq.desc()).limit(20))
    for (text,) in rows:
        if text and text.strip() and not text.startswith("/"):
            return str(text)
    return None


def customer_count(conn: Connection, conversation_id: str) -> int:
    return int(conn.execute(select(func.count()).select_from(messages).where(
        messages.c.conversation_id == conversation_id, messages.c.sender == Sender.CUSTOMER.value)).scalar() or 0)


def annotate(conn: Connection, message_id: str, **values: Any) -> None:
    """Set NLU results (intent, confidence), the bot's outcome or the knowledge-base entry on a message."""
    conn.execute(update(messages).where(messages.c.id == message_id).values(**values))


def finish_turn(conn: Connection, message_id: str, *, intent: str | None, confidence: float | None,
                outcome: str, kb_decision: str | None = None, kb_score: float | None = None,
                kb_choices: list[str] | None = None, kb_entry_id: str | None = None) -> bool:
    """What the bot made of a customer message: its intent, the turn's outcome and the knowledge base's
    decision (the entry answered, or the entries offered, with the score). Only a pending turn can be finished,
    once: False when another turn finished it first (a resumed turn racing the original)."""
    return conn.execute(_ANNOTATE_TURN, {"mid": message_id, "intent": intent, "confidence": confidence,
                                         "outcome": outcome, "kb_decision": kb_decision, "kb_score": kb_score,
                                         "kb_choices": kb_choices, "kb_entry_id": kb_entry_id}).rowcount == 1


def set_delivery(conn: Connection, statuses: list[tuple[str, str]]) -> None:
    """The delivery queue's word on messages, (message id, status): sent / stored / retrying / parked / dead."""
    if statuses:
        conn.execute(_SET_DELIVERY, [{"mid": m, "status": s} for m, s in statuses])


def record_delivery(conn: Connection, message_id: str, status: str) -> bool:
    """A provider's callback moves a message's status forward only (a late `sent` never overwrites `read`)."""
    rank = DELIVERY_RANK.get(status)
    if rank is None:
        return False
    current = conn.execute(select(messages.c.delivery_status).where(messages.c.id == message_id)).scalar()
    if current is not None and DELIVERY_RANK.get(current, -1) >= rank:
        return False
    return conn.execute(update(messages).where(messages.c.id == message_id)
                        .values(delivery_status=status)).rowcount == 1
