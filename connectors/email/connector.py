"""E-mail as a channel: the customer is their address; one conversation per address, as on every channel.

Inbound: `POST /channels/email/inbound`, the inbound-parse webhook of the mail provider (form, JSON or raw
MIME: `parse.py`), authenticated (403 otherwise, nothing stored) and read in full before anything is stored
(400 for what no provider sends); and, optionally, IMAP polling of the support mailbox (`IMAP_HOST`: unseen
messages, marked seen once handled). The customer's text is their new words only (`reply.py`: quoted history
and signature removed); a new thread's subject is part of it; attachments go to the media store for agents.
A message is de-duplicated by its Message-ID; auto-replies (out-of-office, bounces) and our own messages are
not answered.

Outbound: SMTP through aiosmtplib (`SMTP_*`): `compose.py` writes the HTML and plain-text parts from the
Markdown, threaded (In-Reply-To / References / "Re:" subject), with the unsubscribe link of
`connectors.unsubscribe`. Failures are mapped in one place, `errors.py`; the base class retries them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import imaplib
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import aiosmtplib
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from connectors.base import Connector, DeliveryResult, InboundHandler, InboundMessage, MessageRejected, OutboundMessage
from connectors.email.compose import MAX_REFERENCES, compose, new_message_id
from connectors.email.errors import from_smtp_error
from connectors.email.parse import BadEmail, ParsedEmail, authentic, parse_form, parse_json, parse_mime
from connectors.email.reply import html_to_text, latest_reply
from connectors.http import shared_ssl_context
from connectors.media import MediaStore
from connectors.notices import chosen_button, mb, notice
from connectors.runner import InboundRunner
from connectors.state import ChannelState
from connectors.unsubscribe import unsubscribe_url
from core.errors import CallError, Permanent, Retryable

log = logging.getLogger(__name__)

MAX_INBOUND_BYTES = 30 * 1024 * 1024


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    security: str = "starttls"  # starttls | tls | none
    username: str = ""
    password: str = ""
    timeout_s: float = 30.0


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int = 993
    username: str = ""
    password: str = ""
    folder: str = "INBOX"
    poll_s: float = 60.0
    security: str = "tls"  # tls (IMAPS, port 993) | none


class EmailConnector(Connector):
    name = "email"
    max_attempts = 4

    def __init__(self, on_message: InboundHandler, *, address: str, display_name: str, smtp: SmtpSettings,
                 inbound_secret: str, public_base_url: str, unsubscribe_secret: str, state: ChannelState,
                 media: MediaStore | None = None, max_media_bytes: int = 5 * 1024 * 1024,
                 max_outbound_bytes: int = 20 * 1024 * 1024, imap: ImapSettings | None = None,
                 default_language: str | None = None, ack_timeout_s: float = 8.0) -> None:
        super().__init__(on_message)
        if smtp.security not in ("starttls", "tls", "none"):
            raise ValueError(f"SMTP_SECURITY must be starttls, tls or none, got {smtp.security!r}")
        self.address = address.strip().lower()
        self.domain = self.address.rpartition("@")[2] or "localhost"
        self.display_name = display_name
        self.smtp = smtp
        self.inbound_secret = inbound_secret
        self.public_base_url = public_base_url
        self.unsubscribe_secret = unsubscribe_secret
        self.state = state
        self.media = media
        self.max_media_bytes = max_media_bytes
        self.max_outbound_bytes = max_outbound_bytes
        self.imap = imap
        self.default_language = default_language
        self.runner = InboundRunner(self.name, on_message, ack_timeout_s=ack_timeout_s)
        self._poller: asyncio.Task[None] | None = None

    def routes(self) -> list[BaseRoute]:
        return [Route("/inbound", self.inbound, methods=["POST"])]

    async def start(self) -> None:
        await super().start()
        if self.imap is not None:
            self._poller = asyncio.create_task(self._poll(), name="email-imap")
        log.info("email: sending as %s through %s:%s%s", self.address, self.smtp.host, self.smtp.port,
                 f", polling {self.imap.host}" if self.imap else "")

    async def stop(self) -> None:
        await super().stop()
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        await self.runner.drain()

    def call_error(self, exc: Exception) -> CallError | None:
        return from_smtp_error(exc) or super().call_error(exc)

    # -- inbound -------------------------------------------------------------------------------

    async def inbound(self, request: Request) -> Response:
        """The inbound-parse webhook: 403 unless authentic, 400 for what is not an e-mail, else 200."""
        if int(request.headers.get("content-length") or 0) > MAX_INBOUND_BYTES:
            return JSONResponse({"error": "too_large", "detail": "e-mail too large"}, status_code=413)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        body = await request.body()
        form, files = None, []
        if ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
            try:
                parsed_form = await request.form(max_part_size=MAX_INBOUND_BYTES)
            except Exception:  # noqa: BLE001 - an unreadable body is the caller's fault
                return JSONResponse({"error": "bad_request", "detail": "unreadable form"}, status_code=400)
            form = {k: v for k, v in parsed_form.items() if isinstance(v, str)}
            for value in parsed_form.values():
                if not isinstance(value, str):
                    files.append((value.filename or "file", value.content_type or "application/octet-stream",
                                  await value.read()))
        basic = _basic_password(request.headers.get("authorization", ""))
        if not authentic(self.inbound_secret, body=body, form=form, headers={k.lower(): v for k, v in request.headers.items()},
                         basic_password=basic):
            log.warning("email: inbound post with a missing or wrong signature")
            return JSONResponse({"error": "forbidden", "detail": "missing or wrong signature"}, status_code=403)
        try:
            if form is not None:
                parsed = parse_form(form, files)
            elif ctype == "application/json":
                parsed = parse_json(json.loads(body))
            elif ctype in ("message/rfc822", "text/plain"):
                parsed = parse_mime(body)
            else:
                raise BadEmail(f"unsupported content type {ctype or 'none'}")
        except (BadEmail, ValueError) as exc:
            return JSONResponse({"error": "bad_request", "detail": f"not an e-mail: {exc}"}, status_code=400)
        try:
            outcome = await self.runner.run(self.accept(parsed))
        except Exception:  # the provider posts again; the Message-ID keeps it from being answered twice
            return JSONResponse({"error": "internal_error"}, status_code=500)
        return JSONResponse({"ok": True, "outcome": outcome})

    async def accept(self, parsed: ParsedEmail) -> str:
        """Hand one e-mail to the router (or not: auto-replies, our own mail, nothing written)."""
        if parsed.sender == self.address:
            return "ignored_own"
        if parsed.auto:
            log.info("email: auto-reply from %s not answered", parsed.sender)
            return "ignored_auto_reply"
        text = latest_reply(parsed.text or html_to_text(parsed.html or ""))
        if not parsed.in_reply_to and parsed.subject and not _mentions(text, parsed.subject):
            text = f"{parsed.subject}\n\n{text}".strip()  # a new thread's subject is often the question
        media = []
        for a in parsed.attachments:
            if len(a.data) > self.max_media_bytes:
                await self.deliver(parsed.sender, notice("media_too_large", self.default_language,
                                                         size_mb=mb(len(a.data)), limit_mb=mb(self.max_media_bytes)))
                return "refused_media_too_large"
            if self.media is not None:
                media.append((await self.media.save(a.data, content_type=a.content_type, file_name=a.file_name)).item())
        if not text and not media:
            return "ignored_empty"
        known = await self.state.contact(self.name, parsed.sender)
        thread = list((known.data if known else {}).get("references") or [])
        await self.state.touch_inbound(self.name, parsed.sender)
        await self.state.remember(self.name, parsed.sender, subject=parsed.subject or (known.data.get("subject") if known else ""),
                                  last_message_id=parsed.message_id,
                                  references=[r for r in dict.fromkeys([*thread, *parsed.references, parsed.message_id]) if r][-MAX_REFERENCES:])
        message = InboundMessage(self.name, parsed.sender, text or f"[{', '.join(m['file_name'] for m in media)}]",
                                 external_id=parsed.message_id, kind="media" if media and not text else "text",
                                 customer_name=parsed.name,
                                 payload={"subject": parsed.subject, "verified": parsed.verified,
                                          **({"media": media} if media else {})})
        chosen = chosen_button(text, known.last_buttons if known else ())
        if chosen is not None:
            message.kind, message.text, message.payload = "button", chosen.title, {"payload": chosen.payload}
        return await self.runner.handle(message, on_rejected=lambda exc: self._refuse(parsed.sender, exc))

    async def _refuse(self, user: str, exc: MessageRejected) -> None:
        await self.deliver(user, notice("rejected", self.default_language, reason=str(exc)))

    async def _poll(self) -> None:
        """IMAP polling: unseen messages of the folder, each handed over and then marked seen."""
        assert self.imap is not None
        while not self.stopping:
            try:
                mails = await self.keep_trying("IMAP fetch", lambda: asyncio.to_thread(self._fetch_unseen))
            except CallError:
                log.error("email: IMAP polling stopped (check IMAP_HOST, IMAP_USERNAME, IMAP_PASSWORD)")
                return
            for uid, raw in mails or []:
                try:
                    await self.accept(parse_mime(raw))
                except BadEmail as exc:
                    log.warning("email: IMAP message %s is not an e-mail (%s); marked seen", uid, exc)
                except Exception:
                    log.exception("email: IMAP message %s failed; it is tried again", uid)
                    continue
                await asyncio.to_thread(self._mark_seen, uid)
            await self._pause(self.imap.poll_s)

    def _imap(self) -> imaplib.IMAP4:
        assert self.imap is not None
        try:
            if self.imap.security == "none":  # a mailbox on this machine or a private network only
                conn: imaplib.IMAP4 = imaplib.IMAP4(self.imap.host, self.imap.port, timeout=30)
            else:  # imaplib's default context verifies nothing: use the verified one
                conn = imaplib.IMAP4_SSL(self.imap.host, self.imap.port, ssl_context=shared_ssl_context(),
                                         timeout=30)
            conn.login(self.imap.username, self.imap.password)
            conn.select(self.imap.folder)
        except imaplib.IMAP4.error as exc:
            raise Permanent(f"IMAP refused the login or folder: {exc}", service=self.name) from exc
        except OSError as exc:
            raise Retryable(f"IMAP unreachable: {exc}", service=self.name) from exc
        return conn

    def _fetch_unseen(self) -> list[tuple[bytes, bytes]]:
        conn = self._imap()
        try:
            _, found = conn.uid("search", None, "UNSEEN")  # type: ignore[arg-type]
            out = []
            for uid in (found[0] or b"").split()[:50]:
                _, data = conn.uid("fetch", uid, "(BODY.PEEK[])")  # type: ignore[arg-type]
                raw = next((part[1] for part in data if isinstance(part, tuple)), None)
                if raw:
                    out.append((uid, raw))
            return out
        finally:
            conn.logout()

    def _mark_seen(self, uid: bytes) -> None:
        conn = self._imap()
        try:
            conn.uid("store", uid, "+FLAGS", "(\\Seen)")  # type: ignore[arg-type]
        finally:
            conn.logout()

    # -- outbound ------------------------------------------------------------------------------

    async def send(self, recipient: str, message: OutboundMessage) -> DeliveryResult:
        contact = await self.state.contact(self.name, recipient)
        data = contact.data if contact else {}
        message_id = new_message_id(self.domain)
        mail = compose(message, sender=self.address, sender_name=self.display_name, to=recipient,
                       subject=data.get("subject"), in_reply_to=data.get("last_message_id"),
                       references=list(data.get("references") or []),
                       unsubscribe_url=unsubscribe_url(self.public_base_url, self.unsubscribe_secret, self.name, recipient),
                       message_id=message_id)
        size = len(mail.as_bytes())
        if size > self.max_outbound_bytes:
            raise Permanent(f"not sent: the e-mail is {mb(size)} MB and MAX_OUTBOUND_EMAIL_BYTES allows "
                            f"{mb(self.max_outbound_bytes)} MB", service=self.name)
        await aiosmtplib.send(mail, hostname=self.smtp.host, port=self.smtp.port,
                              username=self.smtp.username or None, password=self.smtp.password or None,
                              use_tls=self.smtp.security == "tls", start_tls=True if self.smtp.security == "starttls" else False,
                              timeout=self.smtp.timeout_s)
        await self.state.remember(self.name, recipient,
                                  references=[*list(data.get("references") or []), message_id][-MAX_REFERENCES:])
        if message.buttons:
            await self.state.set_buttons(self.name, recipient, message.buttons)
        await self.state.record_delivery(self.name, recipient, message_id=message.message_id, provider_id=message_id,
                                         status="sent")
        return DeliveryResult("sent", provider_id=message_id)


def _mentions(text: str, phrase: str) -> bool:
    """Whether `text` already says `phrase` (as words, not inside another word)."""
    return re.search(rf"(?<!\w){re.escape(phrase.strip())}(?!\w)", text, re.IGNORECASE) is not None


def _basic_password(header: str) -> str | None:
    """The password of an HTTP Basic `Authorization` header."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        return base64.b64decode(value.strip()).decode("utf-8", errors="replace").partition(":")[2]
    except (binascii.Error, ValueError):
        return None
