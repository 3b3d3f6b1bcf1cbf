"""What the hub itself tells customers on a channel (unsupported content, oversized media, group chats, a
refused message): the `channel_*` texts of `core.i18n`, sent as system messages that are not stored."""

from __future__ import annotations

import re
from collections.abc import Sequence

from connectors.base import Button, OutboundMessage
from core.i18n import t


def channel_text(key: str, language: str | None, **values: object) -> str:
    """The channel notice `key` (`channel_<key>` in the catalogs of `core.i18n`) in `language`."""
    return t(f"channel_{key}", language, **values)


def notice(key: str, language: str | None, **values: object) -> OutboundMessage:
    """The channel notice `key` as a system message to send with `Connector.deliver()`."""
    return OutboundMessage(text=channel_text(key, language, **values), sender="system")


def mb(size: int) -> str:
    """A size in megabytes as customers read it: "2.9", "1"."""
    return f"{size / (1024 * 1024):.1f}".rstrip("0").rstrip(".")


def numbered_options(buttons: Sequence[Button], language: str | None) -> str:
    """Buttons as channels without native ones show them: "1. Returns" lines, then how to choose."""
    listing = "\n".join(f"{n}. {b.title}" for n, b in enumerate(buttons, 1))
    return f"{listing}\n\n{channel_text('reply_with_number', language)}"


def chosen_button(body: str, buttons: Sequence[Button]) -> Button | None:
    """A reply that is just "2" (or "2." / " 2 ") picks button 2 of the numbered list last sent."""
    m = re.fullmatch(r"\s*(\d{1,2})[.)]?\s*", body)
    if not m:
        return None
    n = int(m.group(1))
    return buttons[n - 1] if 1 <= n <= len(buttons) else None
