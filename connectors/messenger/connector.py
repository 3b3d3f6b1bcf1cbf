"""Facebook Messenger through Meta's Send API (`POST /me/messages` with the page's access token).

Inbound (`connectors.meta.channel`): text, quick replies and postbacks (button presses), attachments by URL
(downloaded into the media store for agents), locations; delivery receipts (per message) and read receipts
(a watermark: everything sent before it) move statuses forward only.

Outbound: the Markdown rendered with Messenger's formatting (the same `*bold*` / `_italic_` as WhatsApp, links
bare), split at 2000 characters; buttons as quick replies (up to 13, titles cut to 20 characters) or a numbered
list; attachments by URL, checked against Messenger's 25 MB first. The 24-hour window:

- inside it: `messaging_type: RESPONSE`;
- outside it, an agent's reply within 7 days goes with the `HUMAN_AGENT` tag; a notification goes with the
  message tag its template names (`extra["template"]["messenger"]["tag"]`, e.g. `POST_PURCHASE_UPDATE`), and
  fails saying why when it names none;
- anything else is parked until the customer writes again (Messenger has no re-engagement template).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from connectors.base import DeliveryResult, InboundMessage, OutboundMessage, split_text
from connectors.media import check_outbound, kind_of
from connectors.messenger.parse import parse_notification
from connectors.meta.channel import MetaConnector
from connectors.meta.graph import WINDOW_CLOSED_CODES
from connectors.notices import numbered_options
from connectors.state import window_open
from core.errors import Permanent
from core.markdown import to_whatsapp

log = logging.getLogger(__name__)

MAX_TEXT = 2000
MAX_QUICK_REPLIES, MAX_TITLE, MAX_PAYLOAD = 13, 20, 1000
MAX_ATTACHMENT = 25 * 1024 * 1024
HUMAN_AGENT_WINDOW = timedelta(days=7)
MESSAGE_TAGS = frozenset({"ACCOUNT_UPDATE", "POST_PURCHASE_UPDATE", "CONFIRMED_EVENT_UPDATE", "HUMAN_AGENT"})
ATTACHMENT_KINDS = {"image": "image", "video": "video", "audio": "audio", "document": "file"}


class MessengerConnector(MetaConnector):
    name = "messenger"
    object_type = "page"
    window_closed_codes = frozenset(str(c) for c in WINDOW_CLOSED_CODES)

    # -- inbound -------------------------------------------------------------------------------

    def parse(self, data: dict[str, Any]) -> tuple[list[InboundMessage], list[dict[str, Any]]]:
        return parse_notification(data)

    async def apply_status(self, update: dict[str, Any]) -> None:
        if "watermark" not in update:
            await self.status_update(**update)
            return
        for message_id in await self.state.read_until(self.name, update["recipient"], update["watermark"]):
            await self.report(message_id, "", "read", None)

    async def fetch_media(self, item: dict[str, Any]) -> tuple[bytes, str] | None:
        url = item.get("url")
        if not url:
            return None
        return await self.graph.download(str(url), max_bytes=self.max_media_bytes, authenticated=False)

    # -- outbound ------------------------------------------------------------------------------

    async def send(self, recipient: str, message: OutboundMessage) -> DeliveryResult:
        routing = await self._routing(recipient, message)
        if isinstance(routing, DeliveryResult):
            return routing
        await check_outbound(self.graph.http, message.media_urls, channel="Messenger",
                             limit_for=lambda kind: MAX_ATTACHMENT)

        async def send_one(body: dict[str, Any]) -> str:
            sent = await self.graph.post("me/messages", {"recipient": {"id": recipient}, **routing, "message": body})
            mid = str(sent.get("message_id") or "")
            if not mid:
                raise Permanent("Messenger accepted the message but returned no id", service=self.name)
            await self.state.record_delivery(self.name, recipient, message_id=message.message_id, provider_id=mid,
                                             status="sent")
            return mid

        provider_id = await self.send_parts(message, await self._plan(message), send_one)
        if message.buttons and len(message.buttons) > MAX_QUICK_REPLIES:
            await self.state.set_buttons(self.name, recipient, message.buttons)
        return DeliveryResult("sent", provider_id=provider_id)

    async def _routing(self, recipient: str, message: OutboundMessage) -> dict[str, Any] | DeliveryResult:
        """`messaging_type` (and tag) the window allows for this message, or the result when it cannot go now."""
        contact = await self.state.contact(self.name, recipient)
        if window_open(contact):
            return {"messaging_type": "RESPONSE"}
        last = contact.last_inbound_at if contact else None
        tag = ((message.extra.get("template") or {}).get("messenger") or {}).get("tag")
        if tag:
            if tag not in MESSAGE_TAGS:
                raise Permanent(f"not sent: {tag!r} is not a Messenger message tag ({', '.join(sorted(MESSAGE_TAGS))})",
                                service=self.name)
            return {"messaging_type": "MESSAGE_TAG", "tag": tag}
        if message.extra.get("proactive"):
            raise Permanent("not sent: outside Messenger's 24-hour window and the notification's template names no "
                            "message tag (e.g. POST_PURCHASE_UPDATE)", service=self.name)
        if message.sender == "agent" and last is not None and datetime.now(timezone.utc) - last < HUMAN_AGENT_WINDOW:
            return {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
        return DeliveryResult("parked", detail="outside Messenger's 24-hour window: goes out when the customer "
                                               "writes again")

    async def _plan(self, message: OutboundMessage) -> list[dict[str, Any]]:
        text = to_whatsapp(message.signed_text())
        native = bool(message.buttons) and len(message.buttons) <= MAX_QUICK_REPLIES
        if message.buttons and not native:
            text = "\n\n".join(p for p in (text, numbered_options(message.buttons, message.language)) if p)
        parts: list[dict[str, Any]] = [{"text": chunk} for chunk in split_text(text, MAX_TEXT)] if text else []
        for url in message.media_urls:
            parts.append({"attachment": {"type": ATTACHMENT_KINDS[kind_of(url)],
                                         "payload": {"url": url, "is_reusable": True}}})
        if native:
            if not parts or "text" not in parts[-1]:
                parts.append({"text": "👇"})
            parts[-1]["quick_replies"] = [
                {"content_type": "text", "title": _cut(b.title, MAX_TITLE),
                 "payload": await self.button_id(b.payload or b.title, MAX_PAYLOAD)} for b in message.buttons]
        return parts


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
