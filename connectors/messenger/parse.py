"""Messenger webhook notifications (`object: page`) → channel-neutral messages and receipts. Pure: no I/O.

Each entry's `messaging` events: a `message` (text, a quick reply's payload, attachments by URL) or a `postback`
(a button) from the customer, identified by their page-scoped id (PSID) and de-duplicated by its `mid`;
`delivery` (the mids now delivered) and `read` (everything up to a watermark read). Our own messages come back
as echoes and are skipped. A body Meta would never send raises `BadNotification` (400).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from connectors.base import InboundMessage
from connectors.meta.notification import BadNotification, items, obj

CHANNEL = "messenger"
ATTACHMENT_TYPES = ("image", "video", "audio", "file")


def parse_notification(data: dict[str, Any]) -> tuple[list[InboundMessage], list[dict[str, Any]]]:
    """(customer messages, receipts: `{"provider_id", "status"}` or `{"watermark", "recipient"}`)."""
    messages: list[InboundMessage] = []
    receipts: list[dict[str, Any]] = []
    for entry in items(data.get("entry"), "entry"):
        for event in items(obj(entry, "an entry").get("messaging"), "messaging"):
            event = obj(event, "a messaging event")
            sender = (event.get("sender") or {}).get("id")
            if not isinstance(sender, str) or not sender:
                raise BadNotification("a messaging event needs sender.id")
            if "delivery" in event:
                mids = items(obj(event["delivery"], "delivery").get("mids"), "delivery.mids")
                receipts += [{"provider_id": str(mid), "status": "delivered", "recipient": sender} for mid in mids]
            elif "read" in event:
                watermark = obj(event["read"], "read").get("watermark")
                if not isinstance(watermark, (int, float)):
                    raise BadNotification("read needs a numeric watermark")
                receipts.append({"watermark": datetime.fromtimestamp(watermark / 1000, timezone.utc),
                                 "recipient": sender})
            elif "message" in event:
                message = parse_message(sender, obj(event["message"], "message"))
                if message is not None:
                    messages.append(message)
            elif "postback" in event:
                pb = obj(event["postback"], "postback")
                payload = str(pb.get("payload") or pb.get("title") or "")
                ext = pb.get("mid") or f"postback:{sender}:{event.get('timestamp')}"
                messages.append(InboundMessage(CHANNEL, sender, str(pb.get("title") or payload), external_id=str(ext),
                                               kind="button", payload={"payload": payload}))
    return messages, receipts


def parse_message(sender: str, m: dict[str, Any]) -> InboundMessage | None:
    if m.get("is_echo"):
        return None  # our own message, echoed back
    mid = m.get("mid")
    if not isinstance(mid, str) or not mid:
        raise BadNotification("a message needs its mid")
    text = m.get("text") if isinstance(m.get("text"), str) else ""
    quick = m.get("quick_reply") or {}
    if quick.get("payload"):
        return InboundMessage(CHANNEL, sender, text or str(quick["payload"]), external_id=mid, kind="button",
                              payload={"payload": str(quick["payload"])})
    media = []
    for a in items(m.get("attachments"), "attachments"):
        a = obj(a, "an attachment")
        url = (a.get("payload") or {}).get("url")
        if a.get("type") in ATTACHMENT_TYPES and url:
            media.append({"type": a["type"], "url": str(url)})
        elif a.get("type") == "location":
            coords = (a.get("payload") or {}).get("coordinates") or {}
            if "lat" in coords and "long" in coords:
                lat, lon = float(coords["lat"]), float(coords["long"])
                return InboundMessage(CHANNEL, sender, f"[location {lat:.5f}, {lon:.5f}]", external_id=mid,
                                      kind="location", payload={"latitude": lat, "longitude": lon})
    if media:
        label = ", ".join(item["type"] for item in media)
        return InboundMessage(CHANNEL, sender, text or f"[{label}]", external_id=mid, kind="media",
                              payload={"media": media})
    if not text:
        return None  # stickers-only "likes" and the like
    return InboundMessage(CHANNEL, sender, text, external_id=mid)
