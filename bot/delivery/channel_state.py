"""Channel delivery state kept in the hub's database (tables from migration 0002), self-contained.

What it records:
- `channel_deliveries`: one row per provider message (a hub message can need several: long text, media),
  with the provider id (Twilio `MessageSid`), the latest status from the provider's status callbacks
  (queued → sent → delivered → read, or failed/undelivered), and messages *parked* while a WhatsApp
  customer is outside the 24-hour window (`waiting_window`, sent when the customer writes again).
- `channel_contacts`: per customer and channel, when they last wrote (the WhatsApp window), when the
  re-engagement template was last sent, and the buttons last offered (so a reply "2" picks button 2).
- `channel_payloads`: long button payloads behind short ids (Telegram's callback_data holds 64 bytes).

The class is synchronous (SQLAlchemy Core); every method has an `a`-prefixed async twin that runs it in a
worker thread so the event loop never blocks on the database.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, TypeVar

import anyio
from sqlalchemy import (
    JSON, Column, DateTime, Engine, Integer, MetaData, String, Table, Text, UniqueConstraint, and_, insert, select,
    update,
)
from sqlalchemy.exc import IntegrityError

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

contacts = Table(
    "channel_contacts", metadata,
    Column("channel", String(32), primary_key=True),
    Column("external_user_id", String(255), primary_key=True),
    Column("last_inbound_at", DateTime(timezone=True)),
    Column("template_sent_at", DateTime(timezone=True)),
    Column("last_buttons", JSON),
)

payloads = Table(
    "channel_payloads", metadata,
    Column("key", String(64), primary_key=True),
    Column("channel", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# A status callback never moves a message backwards (callbacks can arrive out of order).
STATUS_RANK = {
    "waiting_window": 0, "accepted": 1, "scheduled": 1, "queued": 2, "sending": 3, "sent": 4,
    "delivered": 5, "read": 6, "failed": 7, "undelivered": 7, "canceled": 7,
}
FINAL_STATUSES = frozenset({"read", "failed", "undelivered", "canceled"})


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes even for timezone-aware columns; they are UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Contact:
    last_inbound_at: datetime | None
    template_sent_at: datetime | None
    last_buttons: list[dict[str, str]]


@dataclass(frozen=True)
class Delivery:
    id: int
    channel: str
    recipient: str
    message_id: str | None
    provider_id: str | None
    status: str
    error_code: str | None
    detail: str
    body: dict[str, Any] | None


class Outbox:
    """Per-message delivery status and per-customer channel state. Thread-safe (one short transaction a call)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))

    # -- deliveries ----------------------------------------------------------------------------

    def record(self, channel: str, recipient: str, *, message_id: str | None, provider_id: str | None,
               status: str, detail: str = "", error_code: str | None = None,
               body: dict[str, Any] | None = None) -> int:
        """Record one provider message (or a parked one, `status="waiting_window"` with its `body`)."""
        now = utcnow()
        with self.engine.begin() as conn:
            try:
                return int(conn.execute(insert(deliveries).values(
                    channel=channel, recipient=recipient, message_id=message_id, provider_id=provider_id,
                    status=status, detail=detail, error_code=error_code, body=body, created_at=now, updated_at=now,
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

    def update_status(self, channel: str, provider_id: str, status: str, *, error_code: str | None = None,
                      detail: str = "") -> str | None:
        """Apply a provider status callback; return the hub message id it belongs to (None if unknown).

        Statuses only move forward (`STATUS_RANK`), except that a final failure always wins.
        """
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
            current = STATUS_RANK.get(row.status, 0)
            new = STATUS_RANK.get(status, 0)
            if new > current or (status in ("failed", "undelivered") and row.status not in ("failed", "undelivered")):
                conn.execute(update(deliveries).where(deliveries.c.id == row.id).values(
                    status=status, error_code=error_code, detail=detail, updated_at=now))
            return row.message_id

    def mark(self, delivery_id: int, status: str, *, provider_id: str | None = None, detail: str = "") -> None:
        values: dict[str, Any] = {"status": status, "detail": detail, "updated_at": utcnow()}
        if provider_id is not None:
            values["provider_id"] = provider_id
        with self.engine.begin() as conn:
            conn.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(**values))

    def for_message(self, message_id: str) -> list[Delivery]:
        """Every provider message sent for one hub message, oldest first."""
        return self._deliveries(deliveries.c.message_id == message_id)

    def for_recipient(self, channel: str, recipient: str) -> list[Delivery]:
        return self._deliveries(and_(deliveries.c.channel == channel, deliveries.c.recipient == recipient))

    def _deliveries(self, where: Any) -> list[Delivery]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(deliveries).where(where).order_by(deliveries.c.id)).all()
        return [Delivery(r.id, r.channel, r.recipient, r.message_id, r.provider_id, r.status, r.error_code,
                         r.detail or "", r.body) for r in rows]

    def take_parked(self, channel: str, recipient: str) -> list[Delivery]:
        """Claim the messages parked for a customer (status → `releasing`), oldest first."""
        with self.engine.begin() as conn:
            rows = conn.execute(select(deliveries).where(
                deliveries.c.channel == channel, deliveries.c.recipient == recipient,
                deliveries.c.status == "waiting_window").order_by(deliveries.c.id)).all()
            taken = []
            for r in rows:
                done = conn.execute(update(deliveries).where(
                    deliveries.c.id == r.id, deliveries.c.status == "waiting_window",
                ).values(status="releasing", updated_at=utcnow()))
                if done.rowcount:
                    taken.append(Delivery(r.id, r.channel, r.recipient, r.message_id, r.provider_id, "releasing",
                                          r.error_code, r.detail or "", r.body))
            return taken

    # -- contacts ------------------------------------------------------------------------------

    def contact(self, channel: str, user: str) -> Contact | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(contacts).where(
                contacts.c.channel == channel, contacts.c.external_user_id == user)).first()
        if r is None:
            return None
        return Contact(aware(r.last_inbound_at), aware(r.template_sent_at), list(r.last_buttons or []))

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

    def touch_inbound(self, channel: str, user: str, at: datetime | None = None) -> None:
        """The customer wrote: (re)opens the WhatsApp 24-hour customer-care window."""
        self._upsert_contact(channel, user, last_inbound_at=at or utcnow())

    def template_sent(self, channel: str, user: str, at: datetime | None = None) -> None:
        self._upsert_contact(channel, user, template_sent_at=at or utcnow())

    def set_buttons(self, channel: str, user: str, buttons: list[dict[str, str]]) -> None:
        self._upsert_contact(channel, user, last_buttons=buttons)

    # -- long button payloads ------------------------------------------------------------------

    def shorten(self, channel: str, payload: str) -> str:
        """A short, stable key for `payload` (the same payload always gets the same key)."""
        key = hashlib.sha256(f"{channel}\0{payload}".encode()).hexdigest()[:32]
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

    def expand(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(payloads.c.payload).where(payloads.c.key == key)).scalar()

    # -- async twins ---------------------------------------------------------------------------

    async def arecord(self, *args: Any, **kwargs: Any) -> int:
        return await self._run(self.record, *args, **kwargs)

    async def aupdate_status(self, *args: Any, **kwargs: Any) -> str | None:
        return await self._run(self.update_status, *args, **kwargs)

    async def amark(self, *args: Any, **kwargs: Any) -> None:
        await self._run(self.mark, *args, **kwargs)

    async def afor_message(self, message_id: str) -> list[Delivery]:
        return await self._run(self.for_message, message_id)

    async def atake_parked(self, channel: str, recipient: str) -> list[Delivery]:
        return await self._run(self.take_parked, channel, recipient)

    async def acontact(self, channel: str, user: str) -> Contact | None:
        return await self._run(self.contact, channel, user)

    async def atouch_inbound(self, channel: str, user: str, at: datetime | None = None) -> None:
        await self._run(self.touch_inbound, channel, user, at)

    async def atemplate_sent(self, channel: str, user: str, at: datetime | None = None) -> None:
        await self._run(self.template_sent, channel, user, at)

    async def aset_buttons(self, channel: str, user: str, buttons: list[dict[str, str]]) -> None:
        await self._run(self.set_buttons, channel, user, buttons)

    async def ashorten(self, channel: str, payload: str) -> str:
        return await self._run(self.shorten, channel, payload)

    async def aexpand(self, key: str) -> str | None:
        return await self._run(self.expand, key)
