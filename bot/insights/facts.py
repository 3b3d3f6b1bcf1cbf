"""One outcome record per conversation (`conversation_facts`) and its review-inbox items, derived from what the
hub stores anyway: messages (with each bot turn's intent, confidence, outcome and knowledge-base decision),
handoffs (reason, team, claim time), CSAT answers and "Was this helpful?" answers.

The record is a projection: `compute()` is a pure function of those rows, `refresh()` writes it for a batch of
conversations in one transaction, and `FactsProjector` keeps it current. It listens to the event bus (every
event names its conversation), refreshes the conversations it heard of about once a second, and at start
catches up with every conversation changed since its record was written, so a crash or a restart loses
nothing: the raw rows are the truth, the record can always be rebuilt from them. The reports flush it before
they read. docs/metrics.md defines every field the reports use.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable

from sqlalchemy import Connection, delete, insert, or_, select, text, update

from bot.conversations.summary import SMALL_TALK
from bot.handoff.teams import HandoffConfig
from bot.insights.business_hours import business_seconds
from bot.store.conversations import aware
from bot.store.db import Database, Event, Tx
from bot.store.models import (ConversationFacts, Conversation, Csat, Feedback, Handoff, Message, ReviewItem,
                              Sender, utcnow)
from core.contracts import FALLBACK_INTENT
from core.pii import ORDER_NUMBER_RE, normalise_order_number

log = logging.getLogger(__name__)

facts = ConversationFacts.__table__
review_items = ReviewItem.__table__
conversations = Conversation.__table__
messages = Message.__table__
handoffs = Handoff.__table__
csat = Csat.__table__
feedback = Feedback.__table__

#: Outcomes of a customer message that are a bot turn (`bot.conversations.bot_turn.Outcome`).
BOT_TURN_OUTCOMES = frozenset({"answered", "kb_answer", "choices", "miss", "handoff", "resolved", "out_of_scope",
                               "bot_unavailable"})
#: Bot turns that answered the customer (for "assumed" resolutions: the bot's last word was an answer).
ANSWER_OUTCOMES = frozenset({"answered", "kb_answer", "resolved"})
#: Customer messages that answered the hub itself (a CSAT rating, "Was this helpful?").
CLAIMED_OUTCOMES = frozenset({"csat", "feedback"})
#: Review reasons, most telling first: an item's `reason` is the first that applies.
REVIEW_REASONS = ("not_helpful", "handoff_after_answer", "out_of_scope", "fallback", "choices", "low_confidence")
SEARCH_TEXT_CHARS = 8000
BATCH = 400


@dataclass
class Computed:
    facts: dict[str, Any]
    reviews: list[dict[str, Any]] = field(default_factory=list)


def _secs(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def _typed(m: Any) -> bool:
    text = (m.text or "").strip()
    return bool(text) and not text.startswith("/") and (m.payload or {}).get("kind") != "button"


def compute(conv: Any, msgs: list[Any], conv_handoffs: list[Any], ratings: list[Any], answers: list[Any],
            config: HandoffConfig, *, review_confidence: float, now: datetime | None = None) -> Computed:
    """The outcome record of one conversation and its review items (rows in order: messages by seq, the
    others by id)."""
    now = now or utcnow()
    started = aware(conv.created_at)
    customer = [m for m in msgs if m.sender == Sender.CUSTOMER.value]
    turns = [m for m in customer if m.outcome in BOT_TURN_OUTCOMES]
    first_handoff = conv_handoffs[0] if conv_handoffs else None
    handoff_at = aware(first_handoff.created_at) if first_handoff else None
    team_key = conv.team or next((h.team for h in reversed(conv_handoffs) if h.team), None)
    team = config.team(team_key)

    # human replies: the first response after the handoff, then each reply to a waiting customer
    first_reply_at: datetime | None = None
    replies = 0
    reply_sum = reply_bh_sum = 0.0
    reply_n = 0
    waiting_since: datetime | None = None
    for m in msgs:
        at = aware(m.created_at)
        if m.sender == Sender.AGENT.value:
            replies += 1
            if first_reply_at is None:
                first_reply_at = at
            elif waiting_since is not None:
                reply_sum += _secs(waiting_since, at) or 0.0
                reply_bh_sum += business_seconds(team, waiting_since, at)
                reply_n += 1
            waiting_since = None
        elif m.sender == Sender.CUSTOMER.value and first_reply_at is not None and waiting_since is None:
            waiting_since = at

    claimed_at = aware(first_handoff.claimed_at) if first_handoff and first_handoff.claimed_at else None
    resolved_at = aware(conv.resolved_at) if conv.status == "resolved" and conv.resolved_at else None
    answered = [r for r in ratings if r.score is not None]
    rating = answered[-1] if answered else None
    given = [a for a in answers if a.helpful is not None]
    last_feedback = given[-1].helpful if given else None
    last_turn = turns[-1].outcome if turns else None
    agent = (conv.assigned_agent or (conv.resolved_by if conv.resolved_by not in (None, "bot") else None)
             or next((h.claimed_by for h in reversed(conv_handoffs) if h.claimed_by), None)
             or (rating.agent if rating is not None else None))
    human = bool(conv_handoffs) or replies > 0
    confirmed = not human and (last_feedback is True or conv.resolved_by == "bot")
    assumable = (not human and not confirmed and last_feedback is not False and last_turn in ANSWER_OUTCOMES
                 and conv.status in ("bot", "resolved"))
    topical = next((m.intent for m in turns if m.intent and m.intent not in SMALL_TALK
                    and m.intent not in (FALLBACK_INTENT, "out_of_scope")), None)
    orders = sorted({n for m in customer for raw in ORDER_NUMBER_RE.finditer(m.text or "")
                     if (n := normalise_order_number(raw.group(0)))})
    visible = [m for m in msgs if m.sender != Sender.SYSTEM.value and (m.text or "").strip()
               and m.outcome not in CLAIMED_OUTCOMES]  # a rating or a "yes" is no preview
    last = visible[-1] if visible else (msgs[-1] if msgs else None)
    # what was said first (search snippets come from it), then who the customer is
    words = [m.text or "" for m in msgs if m.sender in (Sender.CUSTOMER.value, Sender.AGENT.value)]
    words += ["|", conv.customer_name or "", conv.external_user_id or "", conv.customer_key or "", " ".join(orders)]
    last_at = max([aware(m.created_at) for m in msgs] + [aware(conv.updated_at) or started])

    record = {
        "conversation_id": conv.id, "channel": conv.channel, "language": conv.language, "status": conv.status,
        "team": team_key, "agent": agent, "intent": topical, "customer_name": conv.customer_name,
        "external_user_id": conv.external_user_id, "customer_key": conv.customer_key,
        "order_numbers": " ".join(orders)[:255] or None, "started_at": started, "last_message_at": last_at,
        "last_customer_at": aware(customer[-1].created_at) if customer else None,
        "last_text": (" ".join((last.text or "").split())[:300] if last is not None else None),
        "last_sender": last.sender if last is not None else None,
        "customer_messages": len(customer), "bot_turns": len(turns),
        "bot_answers": sum(1 for m in turns if m.outcome in ANSWER_OUTCOMES),
        "kb_answers": sum(1 for m in turns if m.outcome == "kb_answer"),
        "kb_choices": sum(1 for m in turns if m.outcome == "choices"),
        "kb_misses": sum(1 for m in turns if m.kb_decision == "none"),
        "fallbacks": sum(1 for m in turns if m.outcome == "miss"),
        "out_of_scope": sum(1 for m in turns if m.outcome == "out_of_scope"),
        "low_confidence": sum(1 for m in turns if _low(m, review_confidence)),
        "last_turn_outcome": last_turn, "handoffs": len(conv_handoffs),
        "handoff_reason": first_handoff.reason if first_handoff else None, "first_handoff_at": handoff_at,
        "first_assigned_at": claimed_at, "first_human_reply_at": first_reply_at, "human_replies": replies,
        "resolved_at": resolved_at, "resolved_by": conv.resolved_by if resolved_at else None,
        "time_to_assignment_s": _secs(handoff_at, claimed_at),
        "time_to_assignment_bh_s": business_seconds(team, handoff_at, claimed_at) if handoff_at and claimed_at else None,
        "first_response_s": _secs(handoff_at, first_reply_at) if handoff_at else None,
        "first_response_bh_s": (business_seconds(team, handoff_at, first_reply_at)
                                if handoff_at and first_reply_at else None),
        "reply_time_sum_s": reply_sum, "reply_time_bh_sum_s": reply_bh_sum, "reply_time_n": reply_n,
        "resolution_s": _secs(started, resolved_at),
        "resolution_bh_s": business_seconds(team, started, resolved_at) if resolved_at else None,
        "csat_score": rating.score if rating is not None else None,
        "csat_agent": rating.agent if rating is not None else None,
        "feedback_yes": sum(1 for a in given if a.helpful), "feedback_no": sum(1 for a in given if not a.helpful),
        "last_feedback": last_feedback, "bot_confirmed": confirmed, "bot_assumable": assumable,
        "search_text": _search_text(words), "search_key": search_key(conv.id), "refreshed_at": now,
    }
    return Computed(record, _reviews(conv, turns, msgs, handoff_at, given, review_confidence))


def search_key(conversation_id: str) -> int:
    """A stable 56-bit integer for the conversation: its row in SQLite's full-text index."""
    return int.from_bytes(hashlib.blake2b(conversation_id.encode(), digest_size=7).digest(), "big")


def _search_text(words: list[str]) -> str:
    """Lower-cased, one space between words; long conversations keep their start and the identities at the end."""
    said, who = " ".join(" ".join(words).lower().split()).rsplit(" | ", 1) if words else ("", "")
    room = SEARCH_TEXT_CHARS - len(who) - 3
    return f"{said[:max(room, 0)]} | {who}"


def _low(m: Any, threshold: float) -> bool:
    return (m.confidence is not None and m.confidence < threshold and m.intent != FALLBACK_INTENT
            and m.outcome != "miss")


def _reviews(conv: Any, turns: list[Any], msgs: list[Any], handoff_at: datetime | None, given: list[Any],
             threshold: float) -> list[dict[str, Any]]:
    unhelpful = {a.customer_message_id for a in given if not a.helpful}
    before_handoff = None
    if handoff_at is not None:
        earlier = [m for m in turns if aware(m.created_at) < handoff_at and m.outcome in ANSWER_OUTCOMES]
        trigger = next((m for m in turns if m.outcome == "handoff" or aware(m.created_at) >= handoff_at), None)
        if earlier and (trigger is None or trigger.id != earlier[-1].id):
            before_handoff = earlier[-1].id
    items = []
    for m in turns:
        if not _typed(m):
            continue
        found = {
            "not_helpful": m.id in unhelpful,
            "handoff_after_answer": m.id == before_handoff,
            "out_of_scope": m.outcome == "out_of_scope",
            "fallback": m.outcome == "miss",
            "choices": m.outcome == "choices",
            "low_confidence": _low(m, threshold),
        }
        reasons = [r for r in REVIEW_REASONS if found[r]]
        if reasons:
            items.append({"message_id": m.id, "conversation_id": conv.id, "reason": reasons[0], "reasons": reasons,
                          "language": m.language or conv.language, "created_at": aware(m.created_at)})
    return items


def _grouped(conn: Connection, table: Any, ids: list[str], order: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = defaultdict(list)
    for row in conn.execute(select(table).where(table.c.conversation_id.in_(ids)).order_by(order)):
        out[row.conversation_id].append(row)
    return out


def refresh(tx: Tx | Connection, ids: Iterable[str], config: HandoffConfig, *, review_confidence: float,
            now: datetime | None = None) -> int:
    """Recompute the records (and review items) of these conversations; returns how many were written."""
    conn = tx.conn if isinstance(tx, Tx) else tx
    ids = list(dict.fromkeys(ids))
    if not ids:
        return 0
    convs = list(conn.execute(select(conversations).where(conversations.c.id.in_(ids))))
    found = [c.id for c in convs]
    by_msgs = _grouped(conn, messages, found, messages.c.seq)
    by_handoffs = _grouped(conn, handoffs, found, handoffs.c.id)
    by_csat = _grouped(conn, csat, found, csat.c.id)
    by_feedback = _grouped(conn, feedback, found, feedback.c.id)
    computed = [compute(c, by_msgs[c.id], by_handoffs[c.id], by_csat[c.id], by_feedback[c.id], config,
                        review_confidence=review_confidence, now=now) for c in convs]
    conn.execute(delete(facts).where(facts.c.conversation_id.in_(ids)))
    if computed:
        conn.execute(insert(facts), [c.facts for c in computed])
    if conn.dialect.name == "sqlite":  # its full-text index is a table of its own (migration 0020)
        keys = [{"k": search_key(i)} for i in ids]
        conn.execute(text("DELETE FROM facts_search WHERE rowid = :k"), keys)
        if computed:
            conn.execute(text("INSERT INTO facts_search (rowid, search_text) VALUES (:k, :t)"),
                         [{"k": x.facts["search_key"], "t": x.facts["search_text"]} for x in computed])
    existing = {r.message_id: r.state for r in conn.execute(
        select(review_items.c.message_id, review_items.c.state).where(review_items.c.conversation_id.in_(found)))}
    wanted = {item["message_id"]: item for c in computed for item in c.reviews}
    new = [item for mid, item in wanted.items() if mid not in existing]
    if new:
        conn.execute(insert(review_items), [{**item, "state": "open"} for item in new])
    for mid, item in wanted.items():
        if existing.get(mid) == "open":
            conn.execute(update(review_items).where(review_items.c.message_id == mid)
                         .values(reason=item["reason"], reasons=item["reasons"], language=item["language"],
                                 created_at=item["created_at"]))
    gone = [mid for mid, state in existing.items() if state == "open" and mid not in wanted]
    if gone:
        conn.execute(delete(review_items).where(review_items.c.message_id.in_(gone)))
    return len(computed)


def stale_ids(conn: Connection, limit: int | None = None) -> list[str]:
    """Conversations whose record is missing or older than their last change."""
    q = (select(conversations.c.id).select_from(conversations.outerjoin(
        facts, facts.c.conversation_id == conversations.c.id))
         .where(or_(facts.c.conversation_id.is_(None), facts.c.refreshed_at < conversations.c.updated_at)))
    if limit is not None:
        q = q.limit(limit)
    return [r[0] for r in conn.execute(q)]


class FactsProjector:
    """Keeps `conversation_facts` current (see the module docstring)."""

    def __init__(self, db: Database, config: HandoffConfig, *, review_confidence: float,
                 interval_s: float = 1.0) -> None:
        self.db = db
        self.config = config
        self.review_confidence = review_confidence
        self.interval_s = interval_s
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    async def on_event(self, event: Event) -> None:
        """Listener: the conversation this event is about needs a new record."""
        cid = event.data.get("conversation_id")
        if isinstance(cid, str):
            self._dirty.add(cid)
            self._wake.set()

    async def flush(self) -> int:
        """Write the records of every conversation heard of since the last flush."""
        async with self._lock:
            ids, self._dirty = sorted(self._dirty), set()
            written = 0
            for i in range(0, len(ids), BATCH):
                try:
                    written += await self.db.write(refresh, ids[i:i + BATCH], self.config,
                                                   review_confidence=self.review_confidence)
                except Exception:
                    self._dirty.update(ids[i:])  # tried again at the next flush
                    raise
            return written

    async def catch_up(self) -> int:
        """Records for every conversation changed since its record was written (after a restart)."""
        total = 0
        while True:
            async with self._lock:
                ids = await self.db.read(stale_ids, BATCH)
                if not ids:
                    break
                total += await self.db.write(refresh, ids, self.config, review_confidence=self.review_confidence)
            if total and total % (BATCH * 25) == 0:
                log.info("conversation records: %d brought up to date so far", total)
        if total:
            log.info("conversation records: %d brought up to date", total)
        return total

    async def run(self) -> None:
        """Background task: catch up, then flush about once per `interval_s` while events arrive."""
        try:
            await self.catch_up()
        except Exception:  # noqa: BLE001 - the records are rebuilt at the next start
            log.exception("catching up conversation records failed")
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self.interval_s)
            try:
                await self.flush()
            except Exception:  # noqa: BLE001 - the ids stay dirty: the next flush tries again
                log.exception("refreshing conversation records failed")

    def rebuild_sync(self, *, now: datetime | None = None) -> int:
        """Every record again, synchronously (command-line tools and benchmarks)."""
        total = 0
        ids = self.db.read_sync(lambda conn: [r[0] for r in conn.execute(select(conversations.c.id))])
        for i in range(0, len(ids), BATCH):
            total += self.db.write_sync(refresh, ids[i:i + BATCH], self.config,
                                        review_confidence=self.review_confidence, now=now)
        return total


ASSUMED_AFTER = timedelta(hours=24)
