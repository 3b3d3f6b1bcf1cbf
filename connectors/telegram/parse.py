"""Telegram updates → channel-neutral `InboundMessage`s. Pure: no I/O and no state, so every case is a unit test.

Private chats only: text (and edits), button presses (callback queries), photos/documents/stickers/voice/video
(kind "media" with Telegram file ids), locations and contacts become messages whose `external_id` is the
`update_id` (a re-delivered update is answered once). Group chats, content the hub cannot read and media over
the size limit become a `Notice` (the customer is told why; nothing is stored); anything else is None (ignored).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from telegram import Bot, Message, Update
from telegram.constants import ChatType

from connectors.base import InboundMessage
from connectors.notices import mb

CHANNEL = "telegram"
LONG_PAYLOAD_PREFIX = "~"  # callback_data "~<key>" stands for a long payload kept in the ChannelState
# Message attributes carrying a file, in the order they are checked.
MEDIA_ATTRS = ("document", "sticker", "voice", "audio", "video", "video_note", "animation")


@dataclass(frozen=True)
class Notice:
    """An update the hub answers itself with the channel notice `key`; nothing is stored."""

    chat_id: str
    key: str  # group | unsupported | media_too_large (the `channel_*` texts of core.i18n)
    language: str | None
    values: dict[str, str] = field(default_factory=dict)

    @property
    def outcome(self) -> str:
        """What the webhook reports for it."""
        return {"group": "declined_group", "unsupported": "declined_unsupported",
                "media_too_large": "refused_media_too_large"}[self.key]


def read_update(body: bytes, bot: Bot | None = None) -> Update:
    """The update in a webhook body; ValueError (with the reason) for anything that is not one."""
    data = json.loads(body)
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        raise ValueError("an update is a JSON object with an integer update_id")
    try:
        return Update.de_json(data, bot)
    except Exception as exc:  # noqa: BLE001 - PTB raises KeyError/TypeError for missing fields
        raise ValueError(f"not a Telegram update: {exc!r}") from exc


def parse_message(update: Update, *, max_media_bytes: int) -> InboundMessage | Notice | None:
    """A customer's message or edit (not a button press: see `parse_button`)."""
    msg = update.message or update.edited_message
    if msg is None or msg.from_user is None:
        return None
    language = msg.from_user.language_code
    chat_id = str(msg.chat.id)
    if msg.chat.type != ChatType.PRIVATE:
        return Notice(chat_id, "group", language)
    common: dict[str, Any] = {
        "channel": CHANNEL, "external_user_id": chat_id, "external_id": str(update.update_id),
        "language_hint": language, "customer_name": msg.from_user.first_name,
    }
    extra: dict[str, Any] = {"edited": True, "telegram_message_id": msg.message_id} if update.edited_message else {}
    if msg.text:
        return InboundMessage(text=msg.text, kind="text", payload=extra, **common)
    if msg.location is not None:
        loc = msg.location
        return InboundMessage(
            text=f"[location {loc.latitude:.5f}, {loc.longitude:.5f}]", kind="location",
            payload={"latitude": loc.latitude, "longitude": loc.longitude, **extra}, **common)
    if msg.contact is not None:
        c = msg.contact
        name = " ".join(p for p in (c.first_name, c.last_name) if p)
        return InboundMessage(
            text=f"[contact: {name}]", kind="contact",
            payload={"phone_number": c.phone_number, "first_name": c.first_name, "last_name": c.last_name,
                     "user_id": c.user_id, **extra}, **common)
    media = _media(msg)
    if media is None:
        return Notice(chat_id, "unsupported", language)
    if media.get("size") and media["size"] > max_media_bytes:
        return Notice(chat_id, "media_too_large", language,
                      {"size_mb": mb(media["size"]), "limit_mb": mb(max_media_bytes)})
    label = media["type"] + (f": {media['file_name']}" if media.get("file_name") else "")
    if media["type"] == "sticker" and media.get("emoji"):
        label += f" {media['emoji']}"
    return InboundMessage(text=msg.caption or f"[{label}]", kind="media", payload={"media": [media], **extra},
                          **common)


def long_payload_key(data: str) -> str | None:
    """The ChannelState key a button's callback_data stands for, when it stands for a long payload."""
    return data[len(LONG_PAYLOAD_PREFIX):] if data.startswith(LONG_PAYLOAD_PREFIX) else None


def parse_button(update: Update, payload: str | None) -> InboundMessage | Notice | None:
    """A pressed inline-keyboard button. `payload` is the button's payload: its callback_data, or the long
    payload a "~key" stands for; None when that key is no longer known (the button's title is sent instead)."""
    q = update.callback_query
    if q is None:
        return None
    chat = q.message.chat if q.message is not None else None
    language = q.from_user.language_code
    chat_id = str(chat.id if chat is not None else q.from_user.id)
    if chat is not None and chat.type != ChatType.PRIVATE:
        return Notice(chat_id, "group", language)
    title = button_title(q.message, q.data or "")
    common: dict[str, Any] = {"external_id": str(update.update_id), "language_hint": language,
                              "customer_name": q.from_user.first_name}
    if payload is None:
        return InboundMessage(CHANNEL, chat_id, title, **common) if title else None
    return InboundMessage(CHANNEL, chat_id, title or payload, kind="button", payload={"payload": payload}, **common)


def button_title(message: Any, data: str) -> str | None:
    """The title of the button with `data` on the message the customer pressed it on."""
    markup = getattr(message, "reply_markup", None)
    for row in getattr(markup, "inline_keyboard", ()) or ():
        for button in row:
            if button.callback_data == data:
                return button.text
    return None


def _media(msg: Message) -> dict[str, Any] | None:
    if msg.photo:
        p = max(msg.photo, key=lambda s: (s.width or 0) * (s.height or 0))
        return {"type": "photo", "file_id": p.file_id, "file_unique_id": p.file_unique_id,
                "size": p.file_size, "mime_type": "image/jpeg"}
    for attr in MEDIA_ATTRS:
        f = getattr(msg, attr, None)
        if f is not None:
            item: dict[str, Any] = {"type": attr, "file_id": f.file_id, "file_unique_id": f.file_unique_id,
                                    "size": getattr(f, "file_size", None)}
            for extra in ("mime_type", "file_name", "emoji"):
                if getattr(f, extra, None):
                    item[extra] = getattr(f, extra)
            return item
    return None
