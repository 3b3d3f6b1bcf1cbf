"""WhatsApp Cloud API webhook notifications → channel-neutral messages and status updates. Pure: no I/O.

A notification (`object: whatsapp_business_account`) holds entries, each with `changes` whose `value` carries
`messages` (from customers) and `statuses` (of what we sent). Every message becomes an `InboundMessage` whose
`external_id` is its `wamid` (a redelivered notification is answered once); a reply button or list row is a
button press; images, documents, audio, video and stickers carry Meta's media id (the connector downloads them);
locations and contacts are readable text. A body Meta would never send raises `BadNotification` (400).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.base import InboundMessage
from connectors.meta.notification import BadNotification, items, obj

CHANNEL = "whatsapp_cloud"
MEDIA_TYPES = ("image", "document", "audio", "video", "sticker")


@dataclass(frozen=True)
class StatusUpdate:
    provider_id: str  # the wamid of a message we sent
    status: str  # sent | delivered | read | failed
    recipient: str
    error_code: str | None = None
    detail: str = ""


@dataclass
class Notification:
    messages: list[InboundMessage]
    statuses: list[StatusUpdate]


def parse_notification(data: dict[str, Any]) -> Notification:
    """Every message and status update in one webhook body."""
    out = Notification([], [])
    for entry in items(data.get("entry"), "entry"):
        for change in items(obj(entry, "an entry").get("changes"), "changes"):
            value = obj(obj(change, "a change").get("value"), "a change's value")
            names = {str(c.get("wa_id")): ((c.get("profile") or {}).get("name"))
                     for c in items(value.get("contacts"), "contacts") if isinstance(c, dict)}
            for raw in items(value.get("messages"), "messages"):
                message = parse_message(obj(raw, "a message"), names)
                if message is not None:
                    out.messages.append(message)
            for raw in items(value.get("statuses"), "statuses"):
                out.statuses.append(parse_status(obj(raw, "a status")))
    return out


def parse_message(m: dict[str, Any], names: dict[str, str | None]) -> InboundMessage | None:
    """One customer message (None for what carries nothing to answer: reactions, system notices)."""
    sender, wamid, kind = m.get("from"), m.get("id"), m.get("type")
    if not isinstance(sender, str) or not sender or not isinstance(wamid, str) or not wamid:
        raise BadNotification("a message needs from and id")
    common: dict[str, Any] = {"channel": CHANNEL, "external_user_id": sender, "external_id": wamid,
                              "customer_name": names.get(sender) or None}
    if kind == "text":
        body = (m.get("text") or {}).get("body")
        if not isinstance(body, str):
            raise BadNotification("a text message needs text.body")
        return InboundMessage(text=body, **common)
    if kind == "interactive":
        reply = m.get("interactive") or {}
        chosen = reply.get("button_reply") or reply.get("list_reply") or {}
        if not chosen.get("id"):
            raise BadNotification("an interactive reply needs the chosen id")
        return InboundMessage(text=str(chosen.get("title") or chosen["id"]), kind="button",
                              payload={"payload": str(chosen["id"])}, **common)
    if kind == "button":  # a quick-reply button of a template
        button = m.get("button") or {}
        return InboundMessage(text=str(button.get("text") or button.get("payload") or ""), kind="button",
                              payload={"payload": str(button.get("payload") or button.get("text") or "")}, **common)
    if kind in MEDIA_TYPES:
        media = m.get(kind) or {}
        if not media.get("id"):
            raise BadNotification(f"a {kind} message needs its media id")
        item = {"type": kind, "meta_media_id": str(media["id"]), "mime_type": media.get("mime_type"),
                "file_name": media.get("filename")}
        label = kind + (f": {media['filename']}" if media.get("filename") else "")
        return InboundMessage(text=str(media.get("caption") or f"[{label}]"), kind="media",
                              payload={"media": [item]}, **common)
    if kind == "location":
        loc = m.get("location") or {}
        try:
            lat, lon = float(loc["latitude"]), float(loc["longitude"])
        except (KeyError, TypeError, ValueError):
            raise BadNotification("a location needs latitude and longitude") from None
        label = ", ".join(str(loc[k]) for k in ("name", "address") if loc.get(k))
        return InboundMessage(text=f"[location {lat:.5f}, {lon:.5f}{' ' + label if label else ''}]", kind="location",
                              payload={"latitude": lat, "longitude": lon, "label": label or None}, **common)
    if kind == "contacts":
        people = [c for c in m.get("contacts") or [] if isinstance(c, dict)]
        shown = ", ".join(str((c.get("name") or {}).get("formatted_name") or "?") for c in people)
        phones = [p.get("phone") for c in people for p in c.get("phones") or [] if isinstance(p, dict)]
        return InboundMessage(text=f"[contact: {shown}]", kind="contact", payload={"phones": phones}, **common)
    return None  # reactions, "unsupported", system messages


def parse_status(s: dict[str, Any]) -> StatusUpdate:
    wamid, status = s.get("id"), s.get("status")
    if not isinstance(wamid, str) or not wamid or not isinstance(status, str) or not status:
        raise BadNotification("a status needs id and status")
    errors = [e for e in s.get("errors") or [] if isinstance(e, dict)]
    code = str(errors[0].get("code")) if errors and errors[0].get("code") is not None else None
    detail = str(errors[0].get("title") or errors[0].get("message") or "") if errors else ""
    return StatusUpdate(wamid, status.lower(), str(s.get("recipient_id") or ""), code, detail)
