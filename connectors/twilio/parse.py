"""Twilio's form posts → channel-neutral messages. Pure: no I/O and no state, so every case is a unit test.

An incoming message: `MessageSid` is the external id (a replay is answered once), `From` the customer (without
its `whatsapp:` prefix), `MediaUrl0..N`/`MediaContentType0..N` media (their sizes are checked by the connector),
`Latitude`/`Longitude` a location, a template's `ButtonPayload` a button press; a reply that is just the number
of an offered button is a press too (`connectors.notices.chosen_button`). A status callback: the provider message and its status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.base import InboundMessage

MAX_MEDIA = 10  # Twilio sends at most 10 files with one message


class BadForm(ValueError):
    """A form Twilio would never post (the webhook answers 400)."""


@dataclass(frozen=True)
class StatusUpdate:
    provider_id: str  # the MessageSid of a message the hub sent
    status: str  # queued | sent | delivered | read | failed | undelivered …
    error_code: str | None = None
    detail: str = ""


def _field(form: Mapping[str, Any], *names: str) -> str:
    for name in names:
        if form.get(name):
            return str(form.get(name))
    return ""


def customer(form: Mapping[str, Any]) -> str:
    """Who wrote, as the channel's user id: `From` without its `whatsapp:` prefix (BadForm when missing)."""
    sender = _field(form, "From")
    if not _field(form, "MessageSid", "SmsMessageSid") or not sender:
        raise BadForm("MessageSid and From are required")
    return sender.removeprefix("whatsapp:")


def parse_message(form: Mapping[str, Any], *, channel: str) -> InboundMessage | None:
    """The customer's message (BadForm for a form Twilio would not send; None when nothing in it is usable)."""
    user = customer(form)
    try:
        num_media = int(_field(form, "NumMedia") or "0")
    except ValueError:
        raise BadForm("NumMedia must be a number") from None
    body = _field(form, "Body")
    common: dict[str, Any] = {
        "channel": channel, "external_user_id": user, "external_id": _field(form, "MessageSid", "SmsMessageSid"),
        "customer_name": _field(form, "ProfileName") or None,
    }
    if form.get("ButtonPayload"):
        payload = _field(form, "ButtonPayload")
        return InboundMessage(text=_field(form, "ButtonText") or body or payload, kind="button",
                              payload={"payload": payload}, **common)
    if form.get("Latitude") and form.get("Longitude"):
        try:
            lat, lon = float(_field(form, "Latitude")), float(_field(form, "Longitude"))
        except ValueError:
            return None
        return InboundMessage(text=body or f"[location {lat:.5f}, {lon:.5f}]", kind="location",
                              payload={"latitude": lat, "longitude": lon, "label": _field(form, "Label") or None},
                              **common)
    media = [{"url": _field(form, f"MediaUrl{i}"), "content_type": _field(form, f"MediaContentType{i}")}
             for i in range(min(num_media, MAX_MEDIA)) if form.get(f"MediaUrl{i}")]
    if media:
        label = ", ".join(m["content_type"] or "file" for m in media)
        return InboundMessage(text=body or f"[media: {label}]", kind="media", payload={"media": media}, **common)
    return InboundMessage(text=body, **common)


def parse_status(form: Mapping[str, Any]) -> StatusUpdate:
    """A status callback (BadForm when it names no message or no status)."""
    sid = _field(form, "MessageSid", "SmsSid")
    status = _field(form, "MessageStatus", "SmsStatus").lower()
    if not sid or not status:
        raise BadForm("MessageSid and MessageStatus are required")
    return StatusUpdate(sid, status, _field(form, "ErrorCode") or None, _field(form, "ErrorMessage"))
