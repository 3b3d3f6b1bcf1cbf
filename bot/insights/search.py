"""Console search over every conversation: words of its messages (customer and agent), the customer's name,
id or linked identity, an order number; filtered by status, channel, language and start date. It reads the
conversation records (`conversation_facts.search_text`, lower-cased), so it is one indexed scan on SQLite and
PostgreSQL alike, newest activity first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, text

from bot.insights.facts import facts
from bot.store.models import iso
from core.pii import normalise_order_number

c = facts.c
MAX_TERMS = 8
INDEXED_MAX = 2000


def _escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def terms(query: str) -> list[str]:
    """The query's words, lower-cased; an order number in any spelling becomes BC-123456."""
    out = []
    for word in (query or "").split()[:MAX_TERMS]:
        order = normalise_order_number(word)
        out.append((order or word).lower())
    return out


def _indexed_keys(conn: Connection, words: list[str]) -> list[int] | None:
    """On SQLite, the rows whose text holds every word, from the trigram index, when there are at most
    `INDEXED_MAX` of them; None when the words are common (or unfit for the index: shorter than 3 characters,
    or holding a LIKE wildcard, which the index cannot take with an ESCAPE). PostgreSQL's pg_trgm index serves
    the plain LIKE instead."""
    if conn.dialect.name != "sqlite" or not words or any(len(w) < 3 or "%" in w or "_" in w for w in words):
        return None
    sql = text("SELECT rowid FROM facts_search WHERE " + " AND ".join(
        f"search_text LIKE :w{i}" for i in range(len(words))) + " LIMIT :most")
    found = [r[0] for r in conn.execute(sql, {**{f"w{i}": f"%{w}%" for i, w in enumerate(words)},
                                              "most": INDEXED_MAX + 1})]
    return found if len(found) <= INDEXED_MAX else None


def search(conn: Connection, query: str = "", *, status: str | None = None, channel: str | None = None,
           language: str | None = None, start: datetime | None = None, end: datetime | None = None,
           customer: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    words = terms(query)
    q = select(c.conversation_id, c.channel, c.language, c.status, c.team, c.agent, c.customer_name,
               c.external_user_id, c.customer_key, c.started_at, c.last_message_at, c.last_text, c.last_sender,
               c.resolved_at, c.handoff_reason, c.intent, c.csat_score, c.order_numbers, c.search_text)
    keys = _indexed_keys(conn, words)
    if keys is not None:  # few matches: those rows (checked again below, so a key collision cannot add one)
        q = q.where(c.search_key.in_(keys))
    # PostgreSQL: backslash is LIKE's default escape, and an explicit ESCAPE would keep pg_trgm's index away
    escape = "\\" if conn.dialect.name != "postgresql" else None
    for word in words:  # common words (or too short for the index): newest first, until enough match
        q = q.where(c.search_text.like(f"%{_escape(word)}%", escape=escape))
    for column, value in ((c.status, status), (c.channel, channel), (c.language, language),
                          (c.external_user_id, customer)):
        if value:
            q = q.where(column == value)
    if start is not None:
        q = q.where(c.started_at >= start)
    if end is not None:
        q = q.where(c.started_at < end)
    rows = conn.execute(q.order_by(c.last_message_at.desc()).limit(limit))
    return [_view(r, words) for r in rows]


def _view(r: Any, words: list[str]) -> dict[str, Any]:
    snippet = None
    said = r.search_text.rsplit(" | ", 1)[0]
    at = said.find(words[0]) if words else -1
    if at >= 0:  # the words around the first match, cut at spaces
        lo = said.rfind(" ", 0, max(0, at - 40)) + 1
        hi = said.find(" ", at + len(words[0]) + 60)
        hi = len(said) if hi < 0 else hi
        snippet = ("…" if lo else "") + said[lo:hi] + ("…" if hi < len(said) else "")
    return {"id": r.conversation_id, "channel": r.channel, "language": r.language, "status": r.status,
            "team": r.team, "agent": r.agent, "customer_name": r.customer_name, "customer": r.external_user_id,
            "customer_key": r.customer_key, "started_at": iso(r.started_at), "last_message_at": iso(r.last_message_at),
            "last_text": r.last_text, "last_sender": r.last_sender, "resolved_at": iso(r.resolved_at),
            "handoff_reason": r.handoff_reason, "intent": r.intent, "csat_score": r.csat_score,
            "order_numbers": r.order_numbers, "snippet": snippet}
