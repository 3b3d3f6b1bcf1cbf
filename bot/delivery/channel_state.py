"""The connectors' `ChannelState` (connectors/state.py) kept in the hub's database (tables from migration 0002).

What it records:
- `channel_deliveries`: one row per provider message (a hub message can need several: long text, media),
  with the provider id (Twilio `MessageSid`) and the latest status from the provider's status callbacks
  (queued → sent → delivered → read, or failed/undelivered). Its `body` column is no longer written:
  messages that wait for a WhatsApp customer to write again are parked in the delivery queue.
- `channel_contacts`: per customer and channel, when they last wrote (the WhatsApp window), when the
  re-engagement template was last sent, and the buttons last offered (so a reply "2" picks button 2).
- `channel_payloads`: long button payloads behind short ids (Telegram's callback_data holds 64 bytes).

The queries are synchronous (SQLAlchemy Core, one short transaction each); the `ChannelState` methods run
them in a worker thread so the event loop never blocks on the database.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, Callable, TypeVar

import anyio
from sqlalchemy import (
    JSON, Column, DateTime, Engine, Integer, MetaData, String, Table, Text, UniqueConstraint, insert, select,
    update,
)
from sqlalchemy.exc import IntegrityError

from connectors.base import Button
from connectors.state import Contact, Delivery, advances, payload_key, utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")

metadata = MetaData()

deliveries = Table(
    "channel_deliveries", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(32), nullable=False),
    Column("recipient", String(255), nullable=False),
    Column("message_id", String(32)),
    Column("provider_id", String(64)),
    Column("status", String(32), nullable=False),
    Column("error_code", String(32)),
    Column("detail", Text, nullable=False, default=""),
    Column("body", JSON),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("channel", "provider_id", name="uq_channel_deliveries_provider"),
)

# 0007: web chat visitor tokens issued before `revoked_at` are refused (erasure, a leaked token).
revocations = Table(
    "visitor_revocations", metadata,
    Column("visitor", String(64), primary_key=True),
    Column("revoked_at", DateTime(timezone=True), nullable=False),
)

contacts = Table(
    "channel_contacts", metadata,
    Column("channel", String(32), primary_key=True),
    Column("external_user_id", String(255), primary_key=True),
    Column("last_inbound_at", DateTime(timezone=True)),
    Column("template_sent_at", DateTime(timezone=True)),
    Column("last_buttons", JSON),
    Column("data", JSON),  # 0030: what a channel remember()s (an e-mail thread's subject and references)
)

payloads = Table(
    "channel_payloads", metadata,
    Column("key", String(64), primary_key=True),
    Column("channel", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes even for timezone-aware columns; they are UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class SqlChannelState:
    """`connectors.state.ChannelState` in the hub's database. Thread-safe (one short transaction a call)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))

    # -- deliveries ----------------------------------------------------------------------------

    def _record_delivery(self, channel: str, recipient: str, message_id: str | None, provider_id: str,
                         status: str, detail: str) -> int:
        now = utcnow()
        with self.engine.begin() as conn:
            try:
                return int(conn.execute(insert(deliveries).values(
                    channel=channel, recipient=recipient, message_id=message_id, provider_id=provider_id,
                    status=status, detail=detail, created_at=now, updated_at=now,
                )).inserted_primary_key[0])
            except IntegrityError:
                pass
        # The status callback came first and created the row: attach what we know.
        with self.engine.begin() as conn:
            conn.execute(update(deliveries)
                         .where(deliveries.c.channel == channel, deliveries.c.provider_id == provider_id)
                         .values(message_id=message_id, recipient=recipient, updated_at=now))
            return int(conn.execute(select(deliveries.c.id).where(
                deliveries.c.channel == channel, deliveries.c.provider_id == provider_id)).scalar_one())

    def _update_status(self, channel: str, provider_id: str, status: str, error_code: str | None,
                       detail: str) -> str | None:
        status = status.lower()
        now = utcnow()
        with self.engine.begin() as conn:
            row = conn.execute(select(deliveries.c.id, deliveries.c.status, deliveries.c.message_id).where(
                deliveries.c.channel == channel, deliveries.c.provider_id == provider_id)).first()
            if row is None:
                try:
                    conn.execute(insert(deliveries).values(
                        channel=channel, recipient="", message_id=None, provider_id=provider_id, status=status,
                        error_code=error_code, detail=detail, created_at=now, updated_at=now))
                except IntegrityError:  # raced with record(); the next callback will land
                    pass
                return None
            if advances(row.status, status):
                conn.execute(update(deliveries).where(deliveries.c.id == row.id).values(
                    status=status, error_code=error_code, detail=detail, updated_at=now))
            return row.message_id

    def for_message(self, message_id: str) -> list[Delivery]:
        """Every provider message sent for one hub message, oldest first (for the hub; not part of ChannelState)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(deliveries).where(deliveries.c.message_id == message_id)
                                .order_by(deliveries.c.id)).all()
        return [_delivery(r) for r in rows]

    def _delivery(self, channel: str, provider_id: str) -> Delivery | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(deliveries).where(deliveries.c.channel == channel,
                                                      deliveries.c.provider_id == provider_id)).first()
        return _delivery(r) if r is not None else None

    def _read_until(self, channel: str, recipient: str, until: datetime) -> list[str]:
        with self.engine.begin() as conn:
            rows = conn.execute(select(deliveries.c.id, deliveries.c.status, deliveries.c.message_id).where(
                deliveries.c.channel == channel, deliveries.c.recipient == recipient,
                deliveries.c.created_at <= until)).all()
            moved = [r for r in rows if advances(r.status, "read")]
            if moved:
                conn.execute(update(deliveries).where(deliveries.c.id.in_([r.id for r in moved]))
                             .values(status="read", updated_at=utcnow()))
        return [r.message_id for r in moved if r.message_id]

    # -- contacts ------------------------------------------------------------------------------

    def _contact(self, channel: str, user: str) -> Contact | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(contacts).where(
                contacts.c.channel == channel, contacts.c.external_user_id == user)).first()
        if r is None:
            return None
        buttons = tuple(Button(b.get("title", ""), b.get("payload", "")) for b in r.last_buttons or [])
        return Contact(aware(r.last_inbound_at), aware(r.template_sent_at), buttons, dict(r.data or {}))

    def _remember(self, channel: str, user: str, data: dict[str, Any]) -> None:
        known = self._contact(channel, user)
        self._upsert_contact(channel, user, data={**(known.data if known else {}), **data})

    def _upsert_contact(self, channel: str, user: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(update(contacts).where(
                contacts.c.channel == channel, contacts.c.external_user_id == user).values(**values))
            if done.rowcount:
                return
            try:
                with conn.begin_nested():
                    conn.execute(insert(contacts).values(channel=channel, external_user_id=user, **values))
            except IntegrityError:  # created concurrently
                conn.execute(update(contacts).where(
                    contacts.c.channel == channel, contacts.c.external_user_id == user).values(**values))

    # -- long button payloads ------------------------------------------------------------------

    def _shorten(self, channel: str, payload: str) -> str:
        key = payload_key(channel, payload)
        with self.engine.begin() as conn:
            exists = conn.execute(select(payloads.c.key).where(payloads.c.key == key)).first()
            if exists is None:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(payloads).values(key=key, channel=channel, payload=payload,
                                                             created_at=utcnow()))
                except IntegrityError:
                    pass
        return key

    def _expand(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(payloads.c.payload).where(payloads.c.key == key)).scalar()

    # -- ChannelState ----------------------------------------------------------------------------

    async def touch_inbound(self, channel: str, user: str, at: datetime | None = None) -> None:
        await self._run(self._upsert_contact, channel, user, last_inbound_at=at or utcnow())

    async def template_sent(self, channel: str, user: str, at: datetime | None = None) -> None:
        await self._run(self._upsert_contact, channel, user, template_sent_at=at or utcnow())

    async def set_buttons(self, channel: str, user: str, buttons: Sequence[Button]) -> None:
        await self._run(self._upsert_contact, channel, user,
                        last_buttons=[{"title": b.title, "payload": b.payload} for b in buttons])

    async def remember(self, channel: str, user: str, **data: Any) -> None:
        await self._run(self._remember, channel, user, data)

    async def contact(self, channel: str, user: str) -> Contact | None:
        return await self._run(self._contact, channel, user)

    async def shorten(self, channel: str, payload: str) -> str:
        return await self._run(self._shorten, channel, payload)

    async def expand(self, key: str) -> str | None:
        return await self._run(self._expand, key)

    def _revoked_at(self, visitor: str) -> datetime | None:
        with self.engine.connect() as conn:
            return aware(conn.execute(select(revocations.c.revoked_at).where(revocations.c.visitor == visitor))
                         .scalar())

    def _revoke(self, visitor: str, at: datetime) -> None:
        with self.engine.begin() as conn:
            if not conn.execute(update(revocations).where(revocations.c.visitor == visitor)
                                .values(revoked_at=at)).rowcount:
                conn.execute(insert(revocations).values(visitor=visitor, revoked_at=at))

    async def tokens_revoked_at(self, visitor: str) -> datetime | None:
        return await self._run(self._revoked_at, visitor)

    async def revoke_tokens(self, visitor: str, at: datetime | None = None) -> None:
        await self._run(self._revoke, visitor, at or utcnow())

    async def record_delivery(self, channel: str, recipient: str, *, message_id: str | None, provider_id: str,
                              status: str, detail: str = "") -> None:
        await self._run(self._record_delivery, channel, recipient, message_id, provider_id, status, detail)

    async def update_status(self, channel: str, provider_id: str, status: str, *, error_code: str | None = None,
                            detail: str = "") -> str | None:
        return await self._run(self._update_status, channel, provider_id, status, error_code, detail)

    async def delivery(self, channel: str, provider_id: str) -> Delivery | None:
        return await self._run(self._delivery, channel, provider_id)

    async def read_until(self, channel: str, recipient: str, until: datetime) -> list[str]:
        return await self._run(self._read_until, channel, recipient, until)


def _delivery(r: Any) -> Delivery:
    return Delivery(r.channel, r.recipient, r.message_id, r.provider_id, r.status, r.error_code, r.detail or "",
                    aware(r.created_at))
