""""Was this helpful?" rows: one per knowledge-base answer the customer was asked about."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from bot.store.models import Feedback, utcnow

feedback = Feedback.__table__


def ask(conn: Connection, conversation_id: str, *, answer_message_id: str, customer_message_id: str | None,
        kb_entry_id: str | None, language: str | None) -> None:
    conn.execute(insert(feedback).values(conversation_id=conversation_id, answer_message_id=answer_message_id,
                                         customer_message_id=customer_message_id, kb_entry_id=kb_entry_id,
                                         language=language, asked_at=utcnow()))


def answer(conn: Connection, conversation_id: str, answer_message_id: str, helpful: bool) -> Row[Any] | None:
    """Record the answer once; None if there is no such question in this conversation or it was answered."""
    done = conn.execute(update(feedback).where(feedback.c.conversation_id == conversation_id,
                                               feedback.c.answer_message_id == answer_message_id,
                                               feedback.c.helpful.is_(None))
                        .values(helpful=helpful, answered_at=utcnow()))
    if done.rowcount != 1:
        return None
    return conn.execute(select(feedback).where(feedback.c.answer_message_id == answer_message_id)).one()


def of_conversations(conn: Connection, conversation_ids: list[str]) -> list[Row[Any]]:
    return list(conn.execute(select(feedback).where(feedback.c.conversation_id.in_(conversation_ids))
                             .order_by(feedback.c.id)))
