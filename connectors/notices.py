"""What the hub itself tells customers on a channel (unsupported content, oversized media, group chats, a
refused message): the `channel_*` texts of `core.i18n`, sent as system messages that are not stored."""

from __future__ import annotations

from connectors.base import OutboundMessage
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
