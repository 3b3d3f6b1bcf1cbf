"""Which customer a channel identity belongs to, so their history follows them across channels.

A conversation's `customer_key` links it with the customer's conversations on other channels (the console
lists them beside it). It is set automatically where the channel proves who it is — a phone number (SMS,
WhatsApp by Twilio or the Cloud API), a Telegram user sharing their own contact, an e-mail whose sender the
provider verified (DKIM or SPF) — and by agents (`POST /api/agent/conversations/{id}/customer`), whose link
also holds for the identity's later conversations. An agent's link is never overwritten automatically.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, select, tuple_

from bot.store.models import Conversation
from connectors.base import InboundMessage

conversations = Conversation.__table__

PHONE_CHANNELS = frozenset({"sms", "whatsapp", "whatsapp_cloud"})


def phone_key(number: str) -> str | None:
    digits = re.sub(r"[^\d]", "", number or "")
    return f"tel:+{digits}" if 7 <= len(digits) <= 15 else None


def proven_key(msg: InboundMessage) -> str | None:
    """The customer key this message proves, if any (see the module doc)."""
    if msg.channel in PHONE_CHANNELS:
        return phone_key(msg.external_user_id)
    if msg.channel == "email" and msg.payload.get("verified") and "@" in msg.external_user_id:
        return f"mailto:{msg.external_user_id.lower()}"
    if msg.channel == "telegram" and msg.kind == "contact" and str(msg.payload.get("user_id")) == msg.external_user_id:
        return phone_key(str(msg.payload.get("phone_number") or ""))
    return None


def _identities(proven: str) -> list[tuple[str, str]]:
    """The (channel, user id) pairs a proven key stands for."""
    if proven.startswith("tel:+"):
        digits = proven[len("tel:+"):]
        return [("sms", f"+{digits}"), ("whatsapp", f"+{digits}"), ("whatsapp_cloud", digits)]
    if proven.startswith("mailto:"):
        return [("email", proven[len("mailto:"):])]
    return []


def resolve_key(conn: Connection, msg: InboundMessage) -> str | None:
    """The key a conversation of this message's identity should carry: the key the identity's conversations on
    other channels already have (perhaps an agent's), else the proven key itself; None when nothing is proven."""
    proven = proven_key(msg)
    if proven is None:
        return None
    pairs = [p for p in _identities(proven) if p != (msg.channel, msg.external_user_id)]
    if pairs:
        found = conn.execute(select(conversations.c.customer_key).where(
            tuple_(conversations.c.channel, conversations.c.external_user_id).in_(pairs),
            conversations.c.customer_key.is_not(None)).order_by(conversations.c.updated_at.desc()).limit(1)).scalar()
        if found:
            return str(found)
    return proven


def key_for(conn: Connection, conv: Any, msg: InboundMessage) -> str | None:
    """A key to set on `conv` now (None: keep what it has; an existing key is never replaced)."""
    if conv is not None and conv.customer_key:
        return None
    return resolve_key(conn, msg)
