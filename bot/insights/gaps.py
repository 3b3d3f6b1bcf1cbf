"""Content gaps: what customers ask that the bot does not answer well, grouped by meaning.

The questions are the review inbox's messages that the bot missed, refused as out of scope, offered choices
for, answered with low confidence or answered unhelpfully. They are embedded by the action server
(`ActionServerClient.kb_embed`) with the knowledge base's own sentence encoder, which matches questions across
languages: the hub never loads an encoder (hundreds of MB per process, and the action server holds it already).
Then they are clustered with scikit-learn's agglomerative clustering (average linkage on cosine distance, no
fixed number of clusters: two questions share a cluster when they are about as close as a question and its
FAQ phrasing). Clusters are ranked by volume; each has its trend (second half of the period against the
first), sample messages, languages, and the replies agents sent that resolved such conversations.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from typing import Any

import anyio
import numpy as np
from sqlalchemy import Connection, select

from bot.clients.actions import ActionServerClient
from bot.errors import DomainError
from bot.insights.facts import conversations, messages, review_items
from bot.store.models import Sender, iso
from core.errors import CallError, Retryable, Unconfirmed

log = logging.getLogger(__name__)

GAP_REASONS = ("fallback", "out_of_scope", "choices", "low_confidence", "not_helpful", "handoff_after_answer")
DISTANCE = 0.45  # cosine distance (1 - similarity) under which questions are merged
MAX_QUESTIONS = 3000  # the newest; clustering is quadratic in memory


def questions(conn: Connection, start: datetime, end: datetime, language: str | None = None,
              limit: int = MAX_QUESTIONS) -> list[dict[str, Any]]:
    q = (select(review_items.c.message_id, review_items.c.conversation_id, review_items.c.reason,
                review_items.c.created_at, review_items.c.language, messages.c.text, messages.c.seq,
                conversations.c.status)
         .join(messages, messages.c.id == review_items.c.message_id)
         .join(conversations, conversations.c.id == review_items.c.conversation_id)
         .where(review_items.c.created_at >= start, review_items.c.created_at < end,
                review_items.c.state != "dismissed", review_items.c.reason.in_(GAP_REASONS))
         .order_by(review_items.c.created_at.desc()).limit(limit))
    if language:
        q = q.where(review_items.c.language == language)
    return [dict(r._mapping) for r in conn.execute(q)]


def agent_replies(conn: Connection, picks: list[dict[str, Any]], limit: int = 3) -> list[dict[str, Any]]:
    """The agent's last reply after each question (what closed it), in conversations that were resolved;
    distinct texts."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for p in picks:
        if p["status"] != "resolved":
            continue
        row = conn.execute(select(messages.c.text, messages.c.sender_name).where(
            messages.c.conversation_id == p["conversation_id"], messages.c.seq > p["seq"],
            messages.c.sender == Sender.AGENT.value).order_by(messages.c.seq.desc()).limit(1)).first()
        if row is not None and row.text not in seen:
            seen.add(row.text)
            out.append({"text": row.text, "by": row.sender_name, "conversation_id": p["conversation_id"]})
            if len(out) >= limit:
                break
    return out


def cluster(vectors: Any, distance: float = DISTANCE) -> list[int]:
    """A cluster label per row of unit vectors."""
    if len(vectors) < 2:
        return [0] * len(vectors)
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                    distance_threshold=distance)
    return [int(x) for x in model.fit_predict(vectors)]


class EncoderUnavailable(DomainError):
    """Content gaps cannot embed the questions: the action server (which holds the encoder) failed or is down."""

    status_code = 503
    code = "encoder_unavailable"


def unavailable(exc: CallError) -> EncoderUnavailable:
    """What the editor reads when the action server cannot embed: why, and what to do."""
    if exc.status is None and isinstance(exc, (Retryable, Unconfirmed)):  # not running, or too slow
        return EncoderUnavailable(f"content gaps need the action server's sentence encoder: it is not answering "
                                  f"({exc.detail}). Start it (make run starts everything) and try again.")
    return EncoderUnavailable(f"content gaps need the action server's sentence encoder: it failed ({exc.detail}). "
                              "Check the action server's log and try again.")


class GapFinder:
    """Content gaps of a period: the review inbox's questions, embedded by the action server, clustered here."""

    def __init__(self, db: Any, actions: ActionServerClient) -> None:
        self.db = db
        self.actions = actions

    async def embed(self, texts: list[str]) -> np.ndarray:
        """One unit vector per text, from the action server; `EncoderUnavailable` (503) when it cannot."""
        try:
            return await self.actions.kb_embed(texts)
        except CallError as exc:
            log.warning("content gaps: the action server cannot embed %d questions: %s", len(texts), exc)
            raise unavailable(exc) from exc

    async def clusters(self, start: datetime, end: datetime, *, language: str | None = None,
                       top: int = 30) -> dict[str, Any]:
        """The `top` largest clusters of the period's questions, each with its trend, samples and agent replies;
        raises `EncoderUnavailable` when the action server cannot embed them."""
        found = await self.db.read(questions, start, end, language)
        if not found:
            return {"questions": 0, "clusters": []}
        texts = [" ".join((f["text"] or "").split()) for f in found]
        vectors = await self.embed(texts)
        labels = await anyio.to_thread.run_sync(cluster, vectors)
        middle = start + (end - start) / 2
        groups: dict[int, list[int]] = {}
        for i, label in enumerate(labels):
            groups.setdefault(label, []).append(i)
        ranked = sorted(groups.values(), key=len, reverse=True)[:top]
        out = []
        for idx in ranked:
            centre = vectors[idx].mean(axis=0)
            best = max(idx, key=lambda i: float(vectors[i] @ centre))
            picks = [found[i] for i in idx]
            late = sum(1 for p in picks if _naive(p["created_at"]) >= _naive(middle))
            early = len(picks) - late
            replies = await self.db.read(agent_replies, picks)
            out.append({
                "label": texts[best], "count": len(idx), "first_half": early, "second_half": late,
                "trend": "rising" if late > early else "falling" if late < early else "steady",
                "languages": dict(Counter(p["language"] or "?" for p in picks).most_common()),
                "reasons": dict(Counter(p["reason"] for p in picks).most_common()),
                "samples": _samples(idx, texts, found),
                "message_ids": [found[i]["message_id"] for i in idx],
                "agent_replies": replies,
            })
        return {"questions": len(found), "clusters": out}


def _samples(idx: list[int], texts: list[str], found: list[dict[str, Any]], limit: int = 6) -> list[dict[str, Any]]:
    """Up to `limit` distinct wordings, the most asked first, each with how often and its newest message."""
    counts = Counter(texts[i].casefold() for i in idx)
    out: dict[str, dict[str, Any]] = {}
    for i in idx:  # newest first
        key = texts[i].casefold()
        if key not in out:
            out[key] = {"text": texts[i], "times": counts[key], "language": found[i]["language"],
                        "message_id": found[i]["message_id"], "conversation_id": found[i]["conversation_id"],
                        "at": iso(found[i]["created_at"])}
    return sorted(out.values(), key=lambda s: -s["times"])[:limit]


def _naive(value: datetime) -> datetime:
    return value.replace(tzinfo=None) if value.tzinfo else value
