"""Every row the hub's database holds about some conversations and their customers: found, read and deleted.

The tables are read from the database itself (reflection), not listed here, so a table added by a later migration
is covered as soon as it has one of the columns that tie a row to a customer:

- `conversation_id` (messages, handoffs, notes, csat, outbound_queue, and whatever comes next);
- `message_id` (channel_deliveries: the provider's copies of a message);
- `channel` + `external_user_id` or `channel` + `recipient` (channel_contacts, channel_deliveries).

`audit_log` is the organisation's record of what its people did: it holds no content and stays (its
conversation ids point at nothing once those are erased). Accounts, sessions and button payloads hold nothing
about customers. `visitor_revocations` (a web visitor's id and when their tokens were revoked) is a security
record, not customer data: it stays, so a revoked token keeps being refused after an erasure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, MetaData, Table, bindparam, delete, inspect, or_, select, text, tuple_

from bot.store.models import Conversation, Message

conversations = Conversation.__table__
messages = Message.__table__

NOT_CUSTOMER_DATA = frozenset({"audit_log", "alembic_version", "agents", "agent_sessions", "channel_payloads"})
CHUNK = 400  # ids per IN (...) list: well under every database's bound-parameter limit

Contact = tuple[str, str]  # (channel, external user id)


@dataclass
class Held:
    """What ties rows to a customer: their conversations, those conversations' messages, their channel ids."""

    conversation_ids: list[str] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    contacts: set[Contact] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.conversation_ids or self.contacts)


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for i in range(0, len(items), CHUNK):
        yield items[i:i + CHUNK]


def customer_tables(conn: Connection) -> list[Table]:
    """The tables that can hold customer data, children before parents (the order deletes go in)."""
    meta = MetaData()
    meta.reflect(conn)
    tables = [t for t in reversed(meta.sorted_tables) if t.name not in NOT_CUSTOMER_DATA]
    return [t for t in tables if _ties(t)]


def _ties(table: Table) -> list[str]:
    cols = set(table.c.keys())
    ties = [c for c in ("conversation_id", "message_id") if c in cols]
    if table.name == "conversations":
        ties.append("id")
    if "channel" in cols:
        ties += [c for c in ("external_user_id", "recipient") if c in cols]
    return ties


def _conditions(table: Table, held: Held, contacts: set[Contact]) -> Iterator[Any]:
    ties = _ties(table)
    ids_col = "id" if table.name == "conversations" else "conversation_id" if "conversation_id" in ties else None
    if ids_col:
        for chunk in _chunks(held.conversation_ids):
            yield table.c[ids_col].in_(chunk)
    if "message_id" in ties:
        for chunk in _chunks(held.message_ids):
            yield table.c.message_id.in_(chunk)
    for col in ("external_user_id", "recipient"):
        if col in ties and contacts and table.name != "conversations":
            for chunk in _chunks(sorted(contacts)):
                yield tuple_(table.c.channel, table.c[col]).in_(chunk)


def locate(conn: Connection, *, channel: str | None = None, external_id: str | None = None,
           customer_key: str | None = None, include_linked: bool = True) -> Held:
    """The conversations of a customer named by channel + external id, or by customer key; with `include_linked`,
    also every conversation that shares a customer key with those (the agent linked them as one person)."""
    cond = []
    if channel and external_id:
        cond.append((conversations.c.channel == channel) & (conversations.c.external_user_id == external_id))
    if customer_key:
        cond.append(conversations.c.customer_key == customer_key)
    if not cond:
        return Held()
    rows = list(conn.execute(select(conversations.c.id, conversations.c.channel, conversations.c.external_user_id,
                                    conversations.c.customer_key).where(or_(*cond))))
    keys = {r.customer_key for r in rows if r.customer_key} - {customer_key}
    if include_linked and keys:
        rows += list(conn.execute(select(conversations.c.id, conversations.c.channel,
                                         conversations.c.external_user_id, conversations.c.customer_key)
                                  .where(conversations.c.customer_key.in_(sorted(keys)))))
    held = held_by(conn, sorted({r.id for r in rows}))
    if channel and external_id:
        held.contacts.add((channel, external_id))
    return held


def held_by(conn: Connection, conversation_ids: list[str]) -> Held:
    """The messages and channel ids of these conversations."""
    held = Held(conversation_ids=list(conversation_ids))
    for chunk in _chunks(held.conversation_ids):
        held.message_ids += [r.id for r in conn.execute(select(messages.c.id)
                                                        .where(messages.c.conversation_id.in_(chunk)))]
        held.contacts |= {(r.channel, r.external_user_id) for r in conn.execute(
            select(conversations.c.channel, conversations.c.external_user_id).where(conversations.c.id.in_(chunk)))}
    return held


def rows_of(conn: Connection, held: Held) -> dict[str, list[dict[str, Any]]]:
    """Every row tied to `held`, per table (columns as stored)."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for table in customer_tables(conn):
        seen: set[tuple[Any, ...]] = set()
        pk = list(table.primary_key.columns) or list(table.c)
        for cond in _conditions(table, held, held.contacts):
            for row in conn.execute(select(table).where(cond)):
                key = tuple(str(row._mapping[c.name]) for c in pk)  # a row matched twice (two ties) is one row
                if key not in seen:
                    seen.add(key)
                    out[table.name].append(dict(row._mapping))
    return dict(out)


def delete_held(conn: Connection, held: Held, *, contacts: set[Contact] | None = None) -> dict[str, int]:
    """Delete every row tied to `held` (children first); `contacts` narrows the channel ids whose channel state
    goes too (default: all of `held`'s). The number of rows deleted per table."""
    counts: dict[str, int] = {}
    searchable = _drop_from_search_index(conn, held)
    if searchable:
        counts["facts_search"] = searchable
    for table in customer_tables(conn):
        n = 0
        for cond in _conditions(table, held, held.contacts if contacts is None else contacts):
            n += conn.execute(delete(table).where(cond)).rowcount or 0
        if n:
            counts[table.name] = n
    return counts


def _drop_from_search_index(conn: Connection, held: Held) -> int:
    """SQLite's full-text index of the conversation records (`facts_search`, an FTS5 table: its copy of the text is
    not tied to a conversation by any column, only by `conversation_facts.search_key`)."""
    if conn.dialect.name != "sqlite" or not inspect(conn).has_table("facts_search"):
        return 0
    keys_of = text("SELECT search_key FROM conversation_facts WHERE conversation_id IN :ids").bindparams(
        bindparam("ids", expanding=True))
    n = 0
    for chunk in _chunks(held.conversation_ids):
        for (key,) in conn.execute(keys_of, {"ids": chunk}).all():
            n += conn.execute(text("DELETE FROM facts_search WHERE rowid = :k"), {"k": key}).rowcount or 0
    return n


def inactive_since(conn: Connection, cutoff: datetime, limit: int) -> list[str]:
    """Conversations whose last activity (`updated_at`) is before `cutoff`, oldest first."""
    return [r.id for r in conn.execute(select(conversations.c.id).where(conversations.c.updated_at < cutoff)
                                       .order_by(conversations.c.updated_at).limit(limit))]


def still_inactive(conn: Connection, conversation_ids: Iterable[str], cutoff: datetime) -> list[str]:
    ids = list(conversation_ids)
    out: list[str] = []
    for chunk in _chunks(ids):
        out += [r.id for r in conn.execute(select(conversations.c.id).where(
            conversations.c.id.in_(chunk), conversations.c.updated_at < cutoff))]
    return out


def contacts_without_other_conversations(conn: Connection, held: Held) -> set[Contact]:
    """The channel ids of `held` that no conversation outside it still uses (their channel state can go)."""
    gone = set(held.conversation_ids)
    keep: set[Contact] = set()
    for chunk in _chunks(sorted(held.contacts)):
        for r in conn.execute(select(conversations.c.id, conversations.c.channel, conversations.c.external_user_id)
                              .where(tuple_(conversations.c.channel, conversations.c.external_user_id).in_(chunk))):
            if r.id not in gone:
                keep.add((r.channel, r.external_user_id))
    return held.contacts - keep
