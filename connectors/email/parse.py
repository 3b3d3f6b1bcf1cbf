"""Incoming e-mail, however it arrives, as one `ParsedEmail`; and the inbound webhook's authentication.

The inbound-parse webhook takes what the common providers post:

- **form posts** (Mailgun's routes, SendGrid's Inbound Parse): `sender`/`from`, `subject`, `body-plain`/`text`,
  `body-html`/`html`, `Message-Id`, `In-Reply-To`, `References` or a `message-headers` JSON list / a raw
  `headers` block, attachments as files;
- **JSON** (Postmark's inbound webhook): `FromFull`, `Subject`, `TextBody`, `HtmlBody`, `MessageID`, `Headers`,
  `Attachments` (base64);
- **raw MIME** (`message/rfc822`, and what IMAP polling fetches).

Authentication (`authentic()`): Mailgun's signature fields (HMAC-SHA256 of timestamp + token with the signing
key, at most 15 minutes old), or `X-Webhook-Signature: sha256=<HMAC of the raw body>`, or HTTP Basic auth with
the secret as password (how Postmark and SendGrid are secured). Anything else is refused (403).
"""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from typing import Any

MAX_AGE_S = 15 * 60
_MSGID = re.compile(r"<[^<>\s]+>")


class BadEmail(ValueError):
    """Not an e-mail a provider would post (the webhook answers 400, nothing is stored)."""


@dataclass
class Attachment:
    file_name: str
    content_type: str
    data: bytes


@dataclass
class ParsedEmail:
    sender: str  # the address, lower-case
    name: str | None
    subject: str
    text: str  # the plain-text part (or the HTML part as text)
    html: str | None
    message_id: str | None
    in_reply_to: str | None
    references: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    verified: bool = False  # the provider saw DKIM or SPF pass for the sender's domain
    auto: bool = False  # an auto-reply (out of office, bounce): never answered


def _address(value: str) -> tuple[str, str | None]:
    name, addr = parseaddr(value or "")
    if not addr or "@" not in addr:
        raise BadEmail("no sender address")
    return addr.strip().lower(), (name.strip() or None)


def message_ids(value: str | None) -> list[str]:
    return _MSGID.findall(value or "")


def _verified(headers: Mapping[str, str]) -> bool:
    results = " ".join(v for k, v in headers.items() if k.lower() in ("authentication-results", "arc-authentication-results"))
    spf = " ".join(v for k, v in headers.items() if k.lower() in ("received-spf", "x-mailgun-spf"))
    dkim = " ".join(v for k, v in headers.items() if k.lower() == "x-mailgun-dkim-check-result")
    return bool(re.search(r"\bdkim=pass\b", results, re.I) or re.search(r"^\s*pass\b", spf, re.I)
                or re.search(r"^\s*pass\b", dkim, re.I))


def _auto(headers: Mapping[str, str], sender: str) -> bool:
    lowered = {k.lower(): v for k, v in headers.items()}
    return (lowered.get("auto-submitted", "no").lower() != "no" or "x-autoreply" in lowered
            or lowered.get("precedence", "").lower() in ("bulk", "junk", "auto_reply")
            or sender.startswith(("mailer-daemon@", "postmaster@")))


def _build(sender_field: str, subject: str, text: str, html: str | None, headers: Mapping[str, str],
           attachments: list[Attachment]) -> ParsedEmail:
    sender, name = _address(sender_field)
    lowered = {k.lower(): v for k, v in headers.items()}
    ids = message_ids(lowered.get("message-id"))
    return ParsedEmail(sender, name, subject.strip(), text or "", html, ids[0] if ids else None,
                       (message_ids(lowered.get("in-reply-to")) or [None])[0], message_ids(lowered.get("references")),
                       attachments, _verified(headers), _auto(headers, sender))


def parse_form(form: Mapping[str, Any], files: list[tuple[str, str, bytes]]) -> ParsedEmail:
    """A Mailgun or SendGrid form post (`files`: (name, content type, bytes) of its attachments)."""
    headers: dict[str, str] = {}
    if form.get("message-headers"):
        try:
            headers.update({str(k): str(v) for k, v in json.loads(str(form["message-headers"]))})
        except (ValueError, TypeError):
            raise BadEmail("message-headers is not a JSON list of [name, value] pairs") from None
    if form.get("headers"):
        parsed = email.message_from_string(str(form["headers"]) + "\n\n", policy=email.policy.default)
        headers.update({k: str(v) for k, v in parsed.items()})
    for name in ("Message-Id", "In-Reply-To", "References", "X-Mailgun-Spf", "X-Mailgun-Dkim-Check-Result"):
        if form.get(name):
            headers[name] = str(form[name])
    sender = str(form.get("from") or form.get("sender") or form.get("From") or "")
    text = str(form.get("body-plain") or form.get("text") or "")
    html = str(form.get("body-html") or form.get("html") or "") or None
    attachments = [Attachment(n, c, d) for n, c, d in files]
    return _build(sender, str(form.get("subject") or form.get("Subject") or ""), text, html, headers, attachments)


def parse_json(data: Any) -> ParsedEmail:
    """Postmark's inbound JSON."""
    if not isinstance(data, dict):
        raise BadEmail("an inbound e-mail is a JSON object")
    full = data.get("FromFull") or {}
    sender = f"{full.get('Name') or ''} <{full.get('Email')}>" if full.get("Email") else str(data.get("From") or "")
    headers = {str(h.get("Name")): str(h.get("Value")) for h in data.get("Headers") or [] if isinstance(h, dict)}
    if data.get("MessageID") and "message-id" not in {k.lower() for k in headers}:
        headers["Message-ID"] = f"<{data['MessageID']}>"
    attachments = []
    for a in data.get("Attachments") or []:
        try:
            attachments.append(Attachment(str(a.get("Name") or "file"), str(a.get("ContentType") or "application/octet-stream"),
                                          base64.b64decode(str(a.get("Content") or ""), validate=True)))
        except (binascii.Error, ValueError):
            raise BadEmail("an attachment's Content is not base64") from None
    return _build(sender, str(data.get("Subject") or ""), str(data.get("TextBody") or ""),
                  str(data.get("HtmlBody") or "") or None, headers, attachments)


def parse_mime(raw: bytes) -> ParsedEmail:
    """A whole e-mail as it travels (IMAP, `message/rfc822` posts)."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    if not isinstance(msg, EmailMessage) or not msg.get("From"):
        raise BadEmail("not an e-mail (no From header)")
    plain = msg.get_body(preferencelist=("plain",))
    rich = msg.get_body(preferencelist=("html",))
    attachments = [Attachment(part.get_filename() or "file", part.get_content_type(), part.get_payload(decode=True) or b"")
                   for part in msg.iter_attachments()]
    headers = {k: str(v) for k, v in msg.items()}
    return _build(str(msg.get("From")), str(msg.get("Subject") or ""), plain.get_content() if plain else "",
                  rich.get_content() if rich else None, headers, attachments)


def recipients(value: str) -> list[str]:
    return [addr.lower() for _, addr in getaddresses([value or ""]) if addr]


def authentic(secret: str, *, body: bytes, form: Mapping[str, Any] | None, headers: Mapping[str, str],
              basic_password: str | None, now: float | None = None) -> bool:
    """Whether the inbound post comes from our provider (see the module doc). Constant-time comparisons."""
    if not secret:
        return False
    if form is not None and form.get("signature") and form.get("timestamp") and form.get("token"):
        try:
            age = abs((now or time.time()) - float(str(form["timestamp"])))
        except ValueError:
            return False
        expected = hmac.new(secret.encode(), f"{form['timestamp']}{form['token']}".encode(), hashlib.sha256).hexdigest()
        return age <= MAX_AGE_S and hmac.compare_digest(expected, str(form["signature"]))
    given = headers.get("x-webhook-signature", "")
    if given:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode(), given.strip().encode())
    return basic_password is not None and hmac.compare_digest(basic_password.encode(), secret.encode())
