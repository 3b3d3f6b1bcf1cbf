"""WhatsApp through Meta's Cloud API (`POST /{phone-number-id}/messages`), for businesses without Twilio.

Inbound (`connectors.meta.channel`): text, reply buttons and list rows (button presses), media (downloaded
into the media store for agents), locations, contacts; status updates sent → delivered → read (or failed) move
forward only, and error 131047 ("more than 24 hours since the customer last replied") closes the window.

Outbound: the Markdown rendered in WhatsApp's formatting; buttons as native reply buttons (up to 3, titles up to
20 characters), a list (up to 10 rows of 24 characters) or else a numbered list; images, video and audio by
link, other files as documents, each checked against WhatsApp's size limits first. The 24-hour window:

- outside the window, a message that names an approved template (a notification:
  `extra["template"]["whatsapp_cloud"]`) is sent as that template with its parameters (inside, as text);
- outside the window a proactive message without one fails, saying so (nothing is sent);
- any other message outside the window sends the re-engagement template (`WHATSAPP_CLOUD_TEMPLATE`) once per
  closed window and is parked until the customer writes, or fails saying why when none is configured.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from connectors.base import DeliveryResult, InboundMessage, OutboundMessage, split_text
from connectors.media import MediaTooLarge, check_outbound, kind_of
from connectors.meta.channel import MetaConnector
from connectors.meta.graph import WINDOW_CLOSED_CODES
from connectors.notices import numbered_options
from connectors.state import WINDOW, window_open
from connectors.whatsapp_cloud.parse import parse_notification
from core.errors import Permanent
from core.markdown import to_whatsapp

log = logging.getLogger(__name__)

MAX_TEXT = 4096
MAX_INTERACTIVE_BODY = 1024
MAX_BUTTONS, MAX_BUTTON_TITLE = 3, 20
MAX_ROWS, MAX_ROW_TITLE = 10, 24
MAX_BUTTON_ID = 256
# WhatsApp's limits for media sent by link (bytes).
MEDIA_LIMITS = {"image": 5 * 1024 * 1024, "video": 16 * 1024 * 1024, "audio": 16 * 1024 * 1024,
                "document": 100 * 1024 * 1024}


class WhatsAppCloudConnector(MetaConnector):
    name = "whatsapp_cloud"
    object_type = "whatsapp_business_account"
    window_closed_codes = frozenset(str(c) for c in WINDOW_CLOSED_CODES)

    def __init__(self, *args: Any, phone_number_id: str, template: str = "", template_language: str = "en",
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not phone_number_id:
            raise ValueError("WhatsApp Cloud needs WHATSAPP_CLOUD_PHONE_NUMBER_ID")
        self.phone_number_id = phone_number_id
        self.template = template
        self.template_language = template_language

    # -- inbound -------------------------------------------------------------------------------

    def parse(self, data: dict[str, Any]) -> tuple[list[InboundMessage], list[dict[str, Any]]]:
        notification = parse_notification(data)
        return notification.messages, [
            {"provider_id": s.provider_id, "status": s.status, "recipient": s.recipient, "error_code": s.error_code,
             "detail": s.detail} for s in notification.statuses]

    async def fetch_media(self, item: dict[str, Any]) -> tuple[bytes, str] | None:
        media_id = item.get("meta_media_id")
        if not media_id:
            return None
        info = await self.graph.get(str(media_id))  # {"url", "mime_type", "file_size", …}
        item["size"] = info.get("file_size")
        if isinstance(info.get("file_size"), int) and info["file_size"] > self.max_media_bytes:
            raise MediaTooLarge(info["file_size"])
        return await self.graph.download(str(info["url"]), max_bytes=self.max_media_bytes)

    # -- outbound ------------------------------------------------------------------------------

    async def send(self, recipient: str, message: OutboundMessage) -> DeliveryResult:
        contact = await self.state.contact(self.name, recipient)
        if not window_open(contact):
            template = (message.extra.get("template") or {}).get("whatsapp_cloud")
            if template:
                return await self._send_template(recipient, message, template)
            return await self._outside_window(recipient, message, contact)
        await check_outbound(self.graph.http, message.media_urls, channel="WhatsApp",
                             limit_for=lambda kind: MEDIA_LIMITS.get(kind, MEDIA_LIMITS["document"]))

        async def send_one(body: dict[str, Any]) -> str:
            return await self._post(recipient, message.message_id, body)

        provider_id = await self.send_parts(message, await self._plan(message), send_one)
        if message.buttons and not self._native(message):
            await self.state.set_buttons(self.name, recipient, message.buttons)
        return DeliveryResult("sent", provider_id=provider_id)

    async def _post(self, recipient: str, message_id: str | None, body: dict[str, Any]) -> str:
        sent = await self.graph.post(f"{self.phone_number_id}/messages",
                                     {"messaging_product": "whatsapp", "recipient_type": "individual",
                                      "to": recipient, **body})
        wamid = str(((sent.get("messages") or [{}])[0]).get("id") or "")
        if not wamid:
            raise Permanent("WhatsApp Cloud accepted the message but returned no id", service=self.name)
        await self.state.record_delivery(self.name, recipient, message_id=message_id, provider_id=wamid,
                                         status="accepted")
        return wamid

    def _native(self, message: OutboundMessage) -> str | None:
        """"button" or "list" when WhatsApp can show the buttons natively; None: a numbered list."""
        titles = [b.title for b in message.buttons]
        if not titles:
            return None
        if len(titles) <= MAX_BUTTONS and all(0 < len(t) <= MAX_BUTTON_TITLE for t in titles):
            return "button"
        if len(titles) <= MAX_ROWS and all(0 < len(t) <= MAX_ROW_TITLE for t in titles):
            return "list"
        return None

    async def _plan(self, message: OutboundMessage) -> list[dict[str, Any]]:
        """The Cloud API messages that make up one hub message."""
        text = to_whatsapp(message.signed_text())
        native = self._native(message)
        if message.buttons and native is None:
            text = "\n\n".join(p for p in (text, numbered_options(message.buttons, message.language)) if p)
        chunks = split_text(text, MAX_TEXT) if text else []
        parts: list[dict[str, Any]] = []
        body = ""
        if native is not None:
            body = chunks.pop() if chunks and len(chunks[-1]) <= MAX_INTERACTIVE_BODY else "👇"
        parts += [{"type": "text", "text": {"body": c, "preview_url": "http" in c}} for c in chunks]
        for url in message.media_urls:
            kind = kind_of(url)
            media: dict[str, Any] = {"link": url}
            if kind == "document":
                media["filename"] = url.rsplit("/", 1)[-1].split("?")[0] or "file"
            parts.append({"type": kind, kind: media})
        if native is not None:
            ids = [await self.button_id(b.payload or b.title, MAX_BUTTON_ID) for b in message.buttons]
            if native == "button":
                action: dict[str, Any] = {"buttons": [{"type": "reply", "reply": {"id": i, "title": b.title}}
                                                      for i, b in zip(ids, message.buttons)]}
            else:
                action = {"button": "Choose", "sections": [{"title": "Options", "rows": [
                    {"id": i, "title": b.title} for i, b in zip(ids, message.buttons)]}]}
            parts.append({"type": "interactive", "interactive": {"type": native, "body": {"text": body},
                                                                 "action": action}})
        return parts

    async def _send_template(self, recipient: str, message: OutboundMessage, template: dict[str, Any]) -> DeliveryResult:
        """An approved template with its body parameters (a proactive notification)."""
        components = []
        parameters = [str(p) for p in template.get("parameters") or []]
        if parameters:
            components.append({"type": "body", "parameters": [{"type": "text", "text": p} for p in parameters]})
        body = {"type": "template", "template": {"name": template["name"],
                                                 "language": {"code": template.get("language") or "en"},
                                                 **({"components": components} if components else {})}}
        wamid = await self._post(recipient, message.message_id, body)
        return DeliveryResult("sent", provider_id=wamid, detail=f"template {template['name']}")

    async def _outside_window(self, recipient: str, message: OutboundMessage, contact: Any) -> DeliveryResult:
        last = contact.last_inbound_at if contact else None
        since = f"last wrote {last.isoformat(timespec='minutes')}" if last else "has never written"
        if message.extra.get("proactive"):
            raise Permanent(f"not sent: outside WhatsApp's 24-hour window (the customer {since}) and the "
                            f"notification has no approved WhatsApp Cloud template for this language",
                            service=self.name)
        if not self.template:
            raise Permanent(f"not sent: outside WhatsApp's 24-hour window (the customer {since}); free text is "
                            f"not allowed and no WHATSAPP_CLOUD_TEMPLATE is configured, so the customer has to "
                            f"write first", service=self.name)
        sent_at = contact.template_sent_at if contact else None
        if sent_at is not None and (last is None or sent_at > last) and datetime.now(timezone.utc) - sent_at < WINDOW:
            return DeliveryResult("parked", detail="outside the 24-hour window: waiting for the customer to reply "
                                                   "to the template already sent")
        wamid = await self._post(recipient, None, {"type": "template", "template": {
            "name": self.template, "language": {"code": self.template_language}}})
        await self.state.template_sent(self.name, recipient)
        log.info("%s: %s is outside the 24-hour window; template %s sent (%s), message %s parked",
                 self.name, recipient, self.template, wamid, message.message_id)
        return DeliveryResult("parked", provider_id=wamid,
                              detail="outside the 24-hour window: the approved template was sent; this message "
                                     "goes out when the customer replies")
