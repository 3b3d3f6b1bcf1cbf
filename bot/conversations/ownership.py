"""Who owns a conversation: the only code that writes its status.

    bot → queued → assigned → resolved;  queued/assigned → bot (hand back);  resolved → bot (reopen)
    bot/resolved → assigned (engage: an agent writes to the customer first, a notification, and takes the reply)

One function per state change. Each runs inside the caller's unit of work (`bot.store.db.Tx`), applies the
change as a single conditional UPDATE (two agents claiming at once cannot both win, on SQLite and PostgreSQL
alike) and emits the event that announces it; the event is published only after the transaction commits, and
listeners do the rest (customer notices, auto-assignment, console pushes, outgoing webhooks, metrics).

Decisions *whether* to change ownership are taken elsewhere (the bot turn, agent actions, dispatch); this
module only knows what each change is allowed from and what it records.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, insert, select, update

from bot.errors import InvalidTransition, NotFound
from bot.store import conversations as store
from bot.store.db import Tx
from bot.store.models import Conversation, Message, Status, new_id, utcnow
from bot.views import conversation_view
from core.contracts import HandoffReason

log = logging.getLogger(__name__)

conversations = Conversation.__table__
messages = Message.__table__

# action → (states it may start from, state it leads to)
TRANSITIONS: dict[str, tuple[frozenset[Status], Status]] = {
    "handoff": (frozenset({Status.BOT}), Status.QUEUED),
    "claim": (frozenset({Status.QUEUED}), Status.ASSIGNED),
    "transfer": (frozenset({Status.QUEUED, Status.ASSIGNED}), Status.QUEUED),  # to a team (back in its queue)
    "reassign": (frozenset({Status.ASSIGNED}), Status.ASSIGNED),  # to another agent, from its current owner
    "resolve": (frozenset({Status.QUEUED, Status.ASSIGNED, Status.BOT}), Status.RESOLVED),
    "hand_back": (frozenset({Status.QUEUED, Status.ASSIGNED}), Status.BOT),
    "reopen": (frozenset({Status.RESOLVED}), Status.BOT),
    "engage": (frozenset({Status.BOT, Status.RESOLVED}), Status.ASSIGNED),
}


def _apply(tx: Tx, conversation_id: str, action: str, *, only_if_agent: str | None = None, **values: Any) -> Any:
    """One ownership change as a conditional UPDATE; the new row, or `InvalidTransition` / `NotFound`."""
    sources, target = TRANSITIONS[action]
    values = {"status": target.value, "updated_at": utcnow(), **values}
    conditions = [conversations.c.id == conversation_id, conversations.c.status.in_([s.value for s in sources])]
    if only_if_agent is not None:
        conditions.append(conversations.c.assigned_agent == only_if_agent)
    row = tx.conn.execute(update(conversations).where(*conditions).values(**values).returning(conversations)).first()
    if row is None:
        current = store.find(tx.conn, conversation_id)
        if current is None:
            raise NotFound(f"no conversation {conversation_id}")
        if only_if_agent is not None and current.status in {s.value for s in sources}:
            raise InvalidTransition(conversation_id, action, f"{current.status} to {current.assigned_agent}")
        raise InvalidTransition(conversation_id, action, current.status)
    log.info("conversation %s: %s -> %s", conversation_id, action, target.value)
    return row


def open_conversation(tx: Tx, channel: str, external_user_id: str, *, language: str,
                      customer_name: str | None, customer_key: str | None = None) -> Any:
    """A new conversation, owned by the bot. `customer_key` links it with the customer's other conversations."""
    now = utcnow()
    row = tx.conn.execute(insert(conversations).values(
        id=new_id(), channel=channel, external_user_id=external_user_id, language=language,
        customer_name=customer_name, status=Status.BOT.value, priority=0, created_at=now, updated_at=now,
        agent_read_seq=0, customer_key=customer_key,
    ).returning(conversations)).one()
    log.info("new conversation %s on %s", row.id, channel)
    return row


def hand_off(tx: Tx, conversation_id: str, *, reason: HandoffReason, summary: str, details: dict[str, Any],
             priority: int, team: str | None, announce: str | None = None) -> Any:
    """Queue a bot-owned conversation for humans and record why. `announce`: a notice key the customer gets
    before their queue position (e.g. "bot_unavailable")."""
    row = _apply(tx, conversation_id, "handoff", handoff_reason=reason.value, priority=priority, team=team,
                 queued_at=utcnow(), assigned_agent=None, assigned_at=None, resolved_at=None, resolved_by=None,
                 wait_announced_s=None)
    store.insert_handoff(tx.conn, conversation_id, reason=reason.value, summary=summary, details=details,
                         team=team, priority=priority)
    tx.emit("queued", conversation_id=conversation_id, reason=reason.value, announce=announce,
            conversation=conversation_view(row))
    return row


def claim(tx: Tx, conversation_id: str, *, agent: str, agent_name: str, auto: bool = False) -> Any:
    """An agent takes a queued conversation; what came before counts as read (they see it on opening)."""
    now = utcnow()
    read_up_to = (select(func.coalesce(func.max(messages.c.seq), 0))
                  .where(messages.c.conversation_id == conversation_id).scalar_subquery())
    row = _apply(tx, conversation_id, "claim", assigned_agent=agent, assigned_at=now, agent_read_seq=read_up_to)
    store.mark_claimed(tx.conn, conversation_id, agent, now)
    tx.emit("assigned", conversation_id=conversation_id, agent=agent, agent_name=agent_name, auto=auto,
            conversation=conversation_view(row))
    return row


def reassign(tx: Tx, conversation_id: str, *, to_agent: str, to_agent_name: str, by_agent: str | None) -> Any:
    """Straight to another agent (a transfer by the current owner or an admin)."""
    row = _apply(tx, conversation_id, "reassign", only_if_agent=by_agent, assigned_agent=to_agent,
                 assigned_at=utcnow(), agent_read_seq=0)
    tx.emit("assigned", conversation_id=conversation_id, agent=to_agent, agent_name=to_agent_name,
            transferred_from=by_agent, auto=False, conversation=conversation_view(row))
    return row


def transfer(tx: Tx, conversation_id: str, *, team: str | None, team_name: str, by_agent: str | None) -> Any:
    """Back into a team's queue, keeping the conversation's place (its original queue time)."""
    row = _apply(tx, conversation_id, "transfer", only_if_agent=by_agent, team=team, assigned_agent=None,
                 assigned_at=None, wait_announced_s=None)
    tx.emit("queued", conversation_id=conversation_id, reason=row.handoff_reason, transferred_from=by_agent,
            team_name=team_name, conversation=conversation_view(row))
    return row


def resolve(tx: Tx, conversation_id: str, *, by: str | None, rated_agent: str | None) -> Any:
    """Close the conversation; `by` is the agent who resolved it, or "bot". `rated_agent` is whom the CSAT
    answer will be scored against (None: the bot)."""
    row = _apply(tx, conversation_id, "resolve", resolved_at=utcnow(), resolved_by=by)
    tx.emit("resolved", conversation_id=conversation_id, resolved_by=by, rated_agent=rated_agent,
            conversation=conversation_view(row))
    return row


def hand_back(tx: Tx, conversation_id: str) -> Any:
    row = _apply(tx, conversation_id, "hand_back", assigned_agent=None, handoff_reason=None)
    tx.emit("handed_back", conversation_id=conversation_id, conversation=conversation_view(row))
    return row


def reopen(tx: Tx, conversation_id: str) -> Any:
    """A resolved conversation the customer writes to again goes back to the bot."""
    row = _apply(tx, conversation_id, "reopen", assigned_agent=None, handoff_reason=None, priority=0)
    tx.emit("reopened", conversation_id=conversation_id, conversation=conversation_view(row))
    return row


def engage(tx: Tx, conversation_id: str, *, agent: str, agent_name: str) -> Any:
    """An agent writes to the customer first (a proactive notification) and so owns what they answer. The
    `assigned` event says `proactive`: the customer is not told that someone "joined"."""
    row = _apply(tx, conversation_id, "engage", assigned_agent=agent, assigned_at=utcnow(), handoff_reason=None,
                 resolved_at=None, resolved_by=None, agent_read_seq=(
                     select(func.coalesce(func.max(messages.c.seq), 0))
                     .where(messages.c.conversation_id == conversation_id).scalar_subquery()))
    tx.emit("assigned", conversation_id=conversation_id, agent=agent, agent_name=agent_name, auto=False,
            proactive=True, conversation=conversation_view(row))
    return row
