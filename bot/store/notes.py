"""Private notes on conversations (agents see them; customers never do) and CSAT answers."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, update

from bot.store.models import Csat, Note, utcnow

notes = Note.__table__
csat = Csat.__table__


def add_note(conn: Connection, conversation_id: str, *, author: str, author_name: str, text: str,
             kind: str = "note") -> Row[Any]:
    return conn.execute(insert(notes).values(conversation_id=conversation_id, author=author, author_name=author_name,
                                             text=text, kind=kind, created_at=utcnow()).returning(notes)).one()


def notes_of(conn: Connection, conversation_id: str) -> list[Row[Any]]:
    return list(conn.execute(select(notes).where(notes.c.conversation_id == conversation_id).order_by(notes.c.id)))


def request_csat(conn: Connection, conversation_id: str, agent: str | None) -> None:
    conn.execute(insert(csat).values(conversation_id=conversation_id, agent=agent, requested_at=utcnow()))


def pending_csat(conn: Connection, conversation_id: str, within: timedelta = timedelta(days=3)) -> Row[Any] | None:
    """The latest unanswered CSAT question of this conversation, if it was asked recently."""
    row = conn.execute(select(csat).where(csat.c.conversation_id == conversation_id)
                       .order_by(csat.c.id.desc()).limit(1)).first()
    if row is None or row.score is not None:
        return None
    asked = row.requested_at if row.requested_at.tzinfo else row.requested_at.replace(tzinfo=timezone.utc)
    return row if asked >= utcnow() - within else None


def answer_csat(conn: Connection, csat_id: int, score: int) -> Row[Any] | None:
    """Record the score once; None if it was answered already."""
    done = conn.execute(update(csat).where(csat.c.id == csat_id, csat.c.score.is_(None))
                        .values(score=score, answered_at=utcnow()))
    if done.rowcount != 1:
        return None
    return conn.execute(select(csat).where(csat.c.id == csat_id)).one()


def csat_of(conn: Connection, conversation_id: str) -> list[Row[Any]]:
    return list(conn.execute(select(csat).where(csat.c.conversation_id == conversation_id).order_by(csat.c.id)))


def csat_summary(conn: Connection) -> list[dict[str, Any]]:
    """Average score and count per agent (None: the bot)."""
    rows = conn.execute(select(csat.c.agent, func.avg(csat.c.score), func.count(csat.c.score))
                        .where(csat.c.score.is_not(None)).group_by(csat.c.agent))
    return [{"agent": a, "average": round(float(avg), 2), "answers": int(n)} for a, avg, n in rows]


