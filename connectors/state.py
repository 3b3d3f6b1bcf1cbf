"""What connectors remember about customers and provider messages: the `ChannelState` interface.

Connectors never reach into the hub's database. They are handed a `ChannelState` (the hub injects its SQL
implementation, `bot/delivery/channel_state.py`; tests and simple setups use `MemoryChannelState`, which
forgets everything at restart) and ask it only for:

- per customer and channel: when they last wrote (the 24-hour windows of WhatsApp and Messenger), when the
  re-engagement template was last sent, the buttons last offered (so a reply "2" picks button 2), and a little
  channel data (`remember()`: an e-mail thread's subject and references);
- long button payloads behind short keys (Telegram's callback_data holds 64 bytes);
- one record per provider message (a hub message can need several: long text, media) and the provider's
  status callbacks, which only move a record forward (`advances()`), whatever order they arrive in.

Messages themselves are not kept here: what is not sent yet waits in the hub's delivery queue.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from connectors.base import Button

# A provider status callback hook: (hub message id or None when unknown, provider id, status, error code).
StatusHook = Callable[[str | None, str, str, str | None], Awaitable[None]]

# Provider message statuses in the order they can follow each other (callbacks can arrive out of order).
STATUS_RANK = {
    "accepted": 1, "scheduled": 1, "queued": 2, "sending": 3, "sent": 4, "delivered": 5, "read": 6,
    "failed": 7, "undelivered": 7, "canceled": 7,
}
FAILURES = frozenset({"failed", "undelivered"})


def advances(current: str, new: str) -> bool:
    """Whether a status callback `new` moves a provider message on from `current` (a final failure always does)."""
    if new in FAILURES:
        return current not in FAILURES
    return STATUS_RANK.get(new, 0) > STATUS_RANK.get(current, 0)


# WhatsApp's and Messenger's customer-care window: free-form messages within 24 hours of the customer's last one.
WINDOW = timedelta(hours=24)


def payload_key(channel: str, payload: str) -> str:
    """The short, stable key of a long button payload (the same payload always gets the same key)."""
    return hashlib.sha256(f"{channel}\0{payload}".encode()).hexdigest()[:32]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Contact:
    """One customer on one channel."""

    last_inbound_at: datetime | None = None  # when they last wrote
    template_sent_at: datetime | None = None  # when the WhatsApp re-engagement template last went out
    last_buttons: tuple[Button, ...] = ()  # the buttons of the last numbered list sent to them
    data: dict[str, Any] = field(default_factory=dict)  # what the channel `remember()`ed (JSON values)


@dataclass(frozen=True)
class Delivery:
    """One provider message."""

    channel: str
    recipient: str
    message_id: str | None  # the hub's stored message id
    provider_id: str | None  # e.g. Twilio's MessageSid
    status: str
    error_code: str | None = None
    detail: str = ""
    created_at: datetime | None = None


def window_open(contact: "Contact | None", now: datetime | None = None) -> bool:
    """Whether the customer wrote within the last 24 hours (and the provider has not said the window closed
    since: `close_window()`)."""
    last = contact.last_inbound_at if contact else None
    if last is None:
        return False
    closed = contact.data.get("window_closed_at") if contact else None
    if isinstance(closed, str) and datetime.fromisoformat(closed) >= last:
        return False
    return (now or utcnow()) - last < WINDOW


async def close_window(state: "ChannelState", channel: str, user: str) -> None:
    """The provider refused a message because the window is closed (Twilio 63016, WhatsApp 131047), whatever
    our clock said: free text waits for the customer's next message."""
    await state.remember(channel, user, window_closed_at=utcnow().isoformat())


class ChannelState(Protocol):
    """Everything a connector keeps between requests. Every method is a short, safe-to-repeat operation."""

    async def touch_inbound(self, channel: str, user: str, at: datetime | None = None) -> None:
        """The customer wrote (at `at`, default now): reopens WhatsApp's 24-hour customer-care window."""

    async def template_sent(self, channel: str, user: str, at: datetime | None = None) -> None:
        """The re-engagement template went out to the customer."""

    async def set_buttons(self, channel: str, user: str, buttons: Sequence[Button]) -> None:
        """The buttons just offered to the customer as a numbered list."""

    async def remember(self, channel: str, user: str, **data: Any) -> None:
        """Merge `data` (JSON values) into what the channel keeps about the customer (`Contact.data`)."""

    async def contact(self, channel: str, user: str) -> Contact | None:
        """What is known about the customer (None: never seen)."""

    async def shorten(self, channel: str, payload: str) -> str:
        """A short key standing for `payload` (`payload_key()`), kept for `expand()`."""

    async def expand(self, key: str) -> str | None:
        """The payload behind a key from `shorten()`; None when it is not (or no longer) known."""

    async def tokens_revoked_at(self, visitor: str) -> datetime | None:
        """When the web chat visitor's tokens were revoked (a token issued before that is refused), if ever."""

    async def revoke_tokens(self, visitor: str, at: datetime | None = None) -> None:
        """Refuse every token of this web chat visitor issued before `at` (default now)."""

    async def record_delivery(self, channel: str, recipient: str, *, message_id: str | None, provider_id: str,
                              status: str, detail: str = "") -> None:
        """One provider message was accepted for hub message `message_id` (None: not a hub message, e.g. the
        WhatsApp template). A status callback that arrived first is kept and given the message id."""

    async def update_status(self, channel: str, provider_id: str, status: str, *, error_code: str | None = None,
                            detail: str = "") -> str | None:
        """Apply a provider status callback when it `advances()` the record; returns the hub message id it
        belongs to (None when unknown, e.g. the callback came before `record_delivery()`)."""

    async def delivery(self, channel: str, provider_id: str) -> Delivery | None:
        """The record of one provider message (None: unknown)."""

    async def read_until(self, channel: str, recipient: str, until: datetime) -> list[str]:
        """A read receipt that covers everything sent to `recipient` up to `until` (Messenger's watermark):
        those records become "read"; returns the hub message ids that changed."""


class MemoryChannelState:
    """`ChannelState` in process memory, for tests and single-process setups without a database: everything
    is forgotten at restart (a pressed old Telegram button then falls back to its title; the WhatsApp window
    counts as closed). Long payloads and provider records are bounded (oldest dropped first)."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._contacts: dict[tuple[str, str], Contact] = {}
        self._payloads: OrderedDict[str, str] = OrderedDict()
        self._deliveries: OrderedDict[tuple[str, str], Delivery] = OrderedDict()
        self._revoked: dict[str, datetime] = {}

    def _bounded(self, items: OrderedDict, key: object, value: object) -> None:  # type: ignore[type-arg]
        items[key] = value
        items.move_to_end(key)
        while len(items) > self.capacity:
            items.popitem(last=False)

    def _change(self, channel: str, user: str, **values: object) -> None:
        key = (channel, user)
        self._contacts[key] = replace(self._contacts.get(key) or Contact(), **values)  # type: ignore[arg-type]

    async def touch_inbound(self, channel: str, user: str, at: datetime | None = None) -> None:
        self._change(channel, user, last_inbound_at=at or utcnow())

    async def template_sent(self, channel: str, user: str, at: datetime | None = None) -> None:
        self._change(channel, user, template_sent_at=at or utcnow())

    async def set_buttons(self, channel: str, user: str, buttons: Sequence[Button]) -> None:
        self._change(channel, user, last_buttons=tuple(buttons))

    async def remember(self, channel: str, user: str, **data: Any) -> None:
        known = self._contacts.get((channel, user))
        self._change(channel, user, data={**(known.data if known else {}), **data})

    async def contact(self, channel: str, user: str) -> Contact | None:
        return self._contacts.get((channel, user))

    async def shorten(self, channel: str, payload: str) -> str:
        key = payload_key(channel, payload)
        self._bounded(self._payloads, key, payload)
        return key

    async def expand(self, key: str) -> str | None:
        return self._payloads.get(key)

    async def tokens_revoked_at(self, visitor: str) -> datetime | None:
        return self._revoked.get(visitor)

    async def revoke_tokens(self, visitor: str, at: datetime | None = None) -> None:
        self._revoked[visitor] = at or utcnow()

    async def record_delivery(self, channel: str, recipient: str, *, message_id: str | None, provider_id: str,
                              status: str, detail: str = "") -> None:
        early = self._deliveries.get((channel, provider_id))
        if early is not None:  # the status callback came first: attach what we know
            self._deliveries[(channel, provider_id)] = replace(early, recipient=recipient, message_id=message_id)
            return
        self._bounded(self._deliveries, (channel, provider_id),
                      Delivery(channel, recipient, message_id, provider_id, status, None, detail, utcnow()))

    async def update_status(self, channel: str, provider_id: str, status: str, *, error_code: str | None = None,
                            detail: str = "") -> str | None:
        status = status.lower()
        row = self._deliveries.get((channel, provider_id))
        if row is None:
            self._bounded(self._deliveries, (channel, provider_id),
                          Delivery(channel, "", None, provider_id, status, error_code, detail))
            return None
        if advances(row.status, status):
            self._deliveries[(channel, provider_id)] = replace(row, status=status, error_code=error_code,
                                                               detail=detail)
        return row.message_id

    async def delivery(self, channel: str, provider_id: str) -> Delivery | None:
        return self._deliveries.get((channel, provider_id))

    async def read_until(self, channel: str, recipient: str, until: datetime) -> list[str]:
        changed = []
        for key, row in list(self._deliveries.items()):
            if (row.channel == channel and row.recipient == recipient and row.created_at is not None
                    and row.created_at <= until and advances(row.status, "read")):
                self._deliveries[key] = replace(row, status="read")
                if row.message_id:
                    changed.append(row.message_id)
        return changed

    def for_message(self, message_id: str) -> list[Delivery]:
        """Every provider message recorded for one hub message, oldest first (not part of `ChannelState`)."""
        return [d for d in self._deliveries.values() if d.message_id == message_id]
