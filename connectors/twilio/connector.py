"""WhatsApp and SMS through Twilio's Messaging API (the `twilio` library). One class, one instance per channel.

Inbound: `POST /channels/<whatsapp|sms>/webhook`, Twilio's form post, checked with `RequestValidator` against
the PUBLIC URL (`PUBLIC_URL` + path, so it is right behind a reverse proxy that rewrites host, port or scheme);
a missing or wrong `X-Twilio-Signature` gets 403 and nothing is stored. `parse.py` turns the form into an
`InboundMessage`; customer media are checked with a HEAD request here (larger than `max_media_bytes` → the
customer is told, nothing stored). Twilio gets an empty TwiML `<Response/>`; see `connectors.runner` for why
processing is inline with a deadline.

Status callbacks: `POST /channels/<name>/status` (signed the same way) store queued/sent/delivered/read/failed
per provider message in the injected `ChannelState`; `on_status` (optional) hears about each change. Error
63016 (WhatsApp: outside the window, by Twilio's clock) closes the window and is reported as "outside_window":
the hub sends the message again, so it goes through the approved template.

Outbound: `client.messages.create_async` with text (split at 1600 characters; buttons as a numbered list),
`media_url` (one file per WhatsApp message) and a status callback URL. WhatsApp's 24-hour customer-care window:
the last time the customer wrote is kept; outside the window free text is not sent — the approved template
(`WHATSAPP_TEMPLATE_SID`, via `content_sid`) is sent once per closed window and the result is "parked" (the
hub's delivery queue holds the message until the customer writes again), or, with no template configured, the
send fails (`Permanent`, not retried) saying why. Failures are mapped to `core.errors` in one place, `errors.py`.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlparse

import httpx
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from twilio.request_validator import RequestValidator, get_signature_algorithm
from twilio.rest import Client

from connectors.base import (
    Connector, DeliveryResult, InboundHandler, InboundMessage, MessageRejected, OutboundMessage, split_text,
)
from connectors.media import check_outbound
from connectors.notices import chosen_button, mb, notice, numbered_options
from connectors.runner import InboundRunner
from connectors.sms import split_sms
from connectors.state import WINDOW, ChannelState, StatusHook, close_window, window_open
from connectors.twilio.errors import from_twilio_error
from connectors.twilio.parse import BadForm, customer, parse_message, parse_status
from connectors.twilio.transport import HttpxTwilioClient
from core.errors import CallError, Permanent
from core.markdown import to_plain, to_whatsapp

log = logging.getLogger(__name__)

TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
MAX_BODY = 1600  # Twilio's limit for one message body
MAX_FORM_BYTES = 64 * 1024
WHATSAPP_MEDIA_LIMIT, MMS_LIMIT = 16 * 1024 * 1024, 5 * 1024 * 1024  # Twilio's limits per file
OUTSIDE_WINDOW_ERROR = "63016"  # "failed to send freeform message because you are outside the allowed window"


class TwilioConnector(Connector):
    """WhatsApp (`from_` starts with "whatsapp:") or SMS through one Twilio account."""

    max_attempts = 5

    def __init__(
        self,
        on_message: InboundHandler,
        *,
        name: str,
        account_sid: str,
        auth_token: str,
        from_: str,
        public_base_url: str,
        state: ChannelState,
        api_base_url: str | None = None,
        template_sid: str = "",
        max_media_bytes: int = 5 * 1024 * 1024,
        ack_timeout_s: float = 8.0,
        on_status: StatusHook | None = None,
        http_client: HttpxTwilioClient | None = None,
        default_language: str | None = None,
        sms_max_segments: int = 4,
    ) -> None:
        super().__init__(on_message)
        self.name = name
        self.whatsapp = from_.startswith("whatsapp:")
        self.from_ = from_
        self.account_sid = account_sid
        self.public_base_url = public_base_url.rstrip("/")
        self.state = state
        self.template_sid = template_sid
        self.max_media_bytes = max_media_bytes
        self.on_status = on_status
        self.default_language = default_language
        self.sms_max_segments = sms_max_segments
        self.validator = RequestValidator(auth_token)
        self.http = http_client or HttpxTwilioClient()
        self.client = Client(account_sid, auth_token, http_client=self.http)
        self.api_base_url = (api_base_url or "https://api.twilio.com").rstrip("/")
        if api_base_url:
            self.client.api.base_url = self.api_base_url
        self._auth = (account_sid, auth_token)
        self.runner = InboundRunner(name, on_message, ack_timeout_s=ack_timeout_s)

    @property
    def status_url(self) -> str:
        return f"{self.public_base_url}/channels/{self.name}/status"

    def routes(self) -> list[BaseRoute]:
        return [Route("/webhook", self.webhook, methods=["POST"]), Route("/status", self.status, methods=["POST"])]

    async def start(self) -> None:
        await super().start()
        log.info("%s: Twilio webhook %s/channels/%s/webhook, sending from %s%s", self.name, self.public_base_url,
                 self.name, self.from_, f", template {self.template_sid}" if self.template_sid else "")

    async def stop(self) -> None:
        await super().stop()
        await self.runner.drain()
        await self.http.aclose()

    # -- inbound -------------------------------------------------------------------------------

    async def _signed_form(self, request: Request, path: str) -> FormData | Response:
        """The form Twilio posted, if its signature matches the public URL; else the error response."""
        if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
            return JSONResponse({"error": "too_large", "detail": "request body too large"}, status_code=413)
        signature = request.headers.get("X-Twilio-Signature", "")
        try:
            form = await request.form()
        except Exception as exc:  # noqa: BLE001 - unparseable body
            log.warning("%s: unreadable form: %s", self.name, exc)
            form = FormData()
        url = f"{self.public_base_url}/channels/{self.name}{path}"
        if request.url.query:
            url += f"?{request.url.query}"
        algorithm = get_signature_algorithm(request.headers.get("X-Twilio-Webhooks-Signature-Settings"))
        if not signature or not self.validator.validate(url, form, signature, algorithm):
            log.warning("%s: %s with a missing or wrong X-Twilio-Signature (checked against %s)",
                        self.name, path, url)
            return JSONResponse({"error": "forbidden", "detail": "missing or wrong X-Twilio-Signature"},
                                status_code=403)
        return form

    async def webhook(self, request: Request) -> Response:
        """An incoming WhatsApp/SMS message."""
        form = await self._signed_form(request, "/webhook")
        if isinstance(form, Response):
            return form
        try:
            message = parse_message(form, channel=self.name)
            user = customer(form)
        except BadForm as exc:
            return JSONResponse({"error": "bad_request", "detail": str(exc)}, status_code=400)
        await self.state.touch_inbound(self.name, user)  # the customer wrote: WhatsApp's window is open
        if message is None:
            return Response(TWIML_EMPTY, media_type="application/xml")
        try:
            outcome = await self.runner.run(self._inbound(message))
        except Exception:
            return Response(TWIML_EMPTY, status_code=500, media_type="application/xml")
        log.debug("%s: %s → %s", self.name, message.external_id, outcome)
        return Response(TWIML_EMPTY, media_type="application/xml")

    async def _inbound(self, message: InboundMessage) -> str:
        user = message.external_user_id
        for item in message.payload.get("media", []):
            item["size"] = size = await self._media_size(item["url"])
            if size is not None and size > self.max_media_bytes:
                await self.deliver(user, notice("media_too_large", self.default_language, size_mb=mb(size),
                                                limit_mb=mb(self.max_media_bytes)))
                return "refused_media_too_large"
        if message.kind == "text":
            contact = await self.state.contact(self.name, user)
            chosen = chosen_button(message.text, contact.last_buttons if contact else ())
            if chosen is not None:
                message.kind, message.text, message.payload = "button", chosen.title, {"payload": chosen.payload}
        return await self.runner.handle(message, on_rejected=lambda exc: self._refuse(user, exc))

    async def _media_size(self, url: str) -> int | None:
        """Content-Length of a customer's media file (HEAD); None when it cannot be told."""
        host = urlparse(url).netloc
        trusted = host in (urlparse(self.api_base_url).netloc, "api.twilio.com")
        try:
            resp = await self.http.httpx.head(url, auth=self._auth if trusted else None, follow_redirects=True,
                                              timeout=10.0)
        except httpx.HTTPError as exc:
            log.warning("%s: cannot size media %s: %s", self.name, url, exc)
            return None
        length = resp.headers.get("content-length")
        return int(length) if resp.status_code < 400 and length and length.isdigit() else None

    async def _refuse(self, user: str, exc: MessageRejected) -> None:
        await self.deliver(user, notice("rejected", self.default_language, reason=str(exc)))

    async def status(self, request: Request) -> Response:
        """Twilio's status callback: queued/sent/delivered/read/failed/undelivered per provider message."""
        form = await self._signed_form(request, "/status")
        if isinstance(form, Response):
            return form
        try:
            update = parse_status(form)
        except BadForm as exc:
            return JSONResponse({"error": "bad_request", "detail": str(exc)}, status_code=400)
        message_id = await self.state.update_status(self.name, update.provider_id, update.status,
                                                    error_code=update.error_code, detail=update.detail)
        status = update.status
        if status in ("failed", "undelivered"):
            log.warning("%s: message %s (hub %s) %s, error %s", self.name, update.provider_id, message_id,
                        update.status, update.error_code)
            if self.whatsapp and update.error_code == OUTSIDE_WINDOW_ERROR:
                # Twilio's clock said the window was closed although ours did not: the message goes again, as
                # the window rules say (the approved template, then parked until the customer writes).
                known = await self.state.delivery(self.name, update.provider_id)
                if known is not None and known.recipient:
                    await close_window(self.state, self.name, known.recipient)
                    status = "outside_window"
        if self.on_status is not None:
            try:
                await self.on_status(message_id, update.provider_id, status, update.error_code)
            except Exception:
                log.exception("%s: status hook failed", self.name)
        return Response(status_code=204)

    # -- outbound ------------------------------------------------------------------------------

    def _address(self, recipient: str) -> str:
        return f"whatsapp:{recipient}" if self.whatsapp and not recipient.startswith("whatsapp:") else recipient

    async def in_window(self, recipient: str) -> bool:
        """Whether the customer wrote within the last 24 hours (always True for SMS)."""
        if not self.whatsapp:
            return True
        return window_open(await self.state.contact(self.name, recipient))

    async def send(self, recipient: str, message: OutboundMessage) -> DeliveryResult:
        if not await self.in_window(recipient):
            return await self._outside_window(recipient, message)
        return await self._send_now(recipient, message)

    async def _send_now(self, recipient: str, message: OutboundMessage) -> DeliveryResult:
        """Send every part; a retry after a partial failure skips the parts Twilio already accepted."""
        await check_outbound(self.http.httpx, message.media_urls, channel="WhatsApp" if self.whatsapp else "MMS",
                             limit_for=lambda kind: WHATSAPP_MEDIA_LIMIT if self.whatsapp else MMS_LIMIT)
        async def send_one(part: tuple[str, list[str]]) -> str:
            body, media = part
            kwargs: dict[str, Any] = {"to": self._address(recipient), "from_": self.from_,
                                      "status_callback": self.status_url}
            if body:
                kwargs["body"] = body
            if media:
                kwargs["media_url"] = media
            sent = await self.client.messages.create_async(**kwargs)
            await self.state.record_delivery(self.name, recipient, message_id=message.message_id,
                                             provider_id=str(sent.sid), status=str(sent.status or "queued"))
            return str(sent.sid)

        provider_id = await self.send_parts(message, self._plan(message), send_one)
        if message.buttons:
            await self.state.set_buttons(self.name, recipient, message.buttons)
        return DeliveryResult("sent", provider_id=provider_id)

    def call_error(self, exc: Exception) -> CallError | None:
        return from_twilio_error(exc) or super().call_error(exc)

    def _plan(self, message: OutboundMessage) -> list[tuple[str, list[str]]]:
        """(body, media URLs) per Twilio message: the Markdown rendered for the channel (WhatsApp's *bold*, plain
        SMS within `sms_max_segments`), buttons as a numbered list, long text split; WhatsApp carries one file
        per message."""
        text = self._render(message.signed_text())
        if message.buttons:
            text = "\n\n".join(p for p in (text, numbered_options(message.buttons, message.language)) if p)
        if self.whatsapp:
            chunks = split_text(text, MAX_BODY) if text else []
        else:
            chunks = [c for part in split_text(text, MAX_BODY) for c in split_sms(part, self.sms_max_segments)]
        media = list(message.media_urls)
        if not self.whatsapp:  # SMS/MMS: the files ride with the last text chunk
            if not media:
                return [(c, []) for c in chunks]
            last = chunks.pop() if chunks else ""
            return [(c, []) for c in chunks] + [(last, media)]
        parts: list[tuple[str, list[str]]] = [(c, []) for c in chunks]
        parts += [("", [url]) for url in media]
        return parts

    def _render(self, markdown: str) -> str:
        return to_whatsapp(markdown) if self.whatsapp else to_plain(markdown)

    async def _outside_window(self, recipient: str, message: OutboundMessage) -> DeliveryResult:
        """Free text is not allowed: send the approved template once per closed window and park the message
        (the hub's delivery queue keeps it until the customer writes again)."""
        contact = await self.state.contact(self.name, recipient)
        last = contact.last_inbound_at if contact else None
        since = f"last wrote {last.isoformat(timespec='minutes')}" if last else "has never written"
        template = (message.extra.get("template") or {}).get("twilio")
        if template:  # a notification with its own approved template: sent as that, with its variables
            sent = await self.client.messages.create_async(
                to=self._address(recipient), from_=self.from_, content_sid=template["content_sid"],
                content_variables=json.dumps(template.get("variables") or {}), status_callback=self.status_url)
            await self.state.record_delivery(self.name, recipient, message_id=message.message_id,
                                             provider_id=str(sent.sid), status=str(sent.status or "queued"))
            return DeliveryResult("sent", provider_id=str(sent.sid), detail=f"template {template['content_sid']}")
        if message.extra.get("proactive"):
            raise Permanent(f"not sent: outside WhatsApp's 24-hour window (the customer {since}) and the "
                            f"notification has no approved WhatsApp template (Content SID) for this language",
                            service="whatsapp")
        if not self.template_sid:
            raise Permanent(
                f"not sent: outside WhatsApp's 24-hour customer-care window (the customer {since}); free text "
                f"is not allowed and no WHATSAPP_TEMPLATE_SID is configured, so the customer has to write first",
                service="whatsapp",
            )
        sent_at = contact.template_sent_at if contact else None
        if sent_at is not None and (last is None or sent_at > last) and datetime.now(timezone.utc) - sent_at < WINDOW:
            return DeliveryResult("parked", detail="outside the 24-hour window: waiting for the customer to reply "
                                                   "to the template already sent")
        sent = await self.client.messages.create_async(
            to=self._address(recipient), from_=self.from_, content_sid=self.template_sid,
            status_callback=self.status_url)
        await self.state.template_sent(self.name, recipient)
        await self.state.record_delivery(self.name, recipient, message_id=None, provider_id=str(sent.sid),
                                         status=str(sent.status or "queued"),
                                         detail=f"template {self.template_sid} for message {message.message_id}")
        log.info("%s: %s is outside the 24-hour window; template %s sent, message %s parked",
                 self.name, recipient, self.template_sid, message.message_id)
        return DeliveryResult("parked", provider_id=str(sent.sid),
                              detail="outside the 24-hour window: the approved template was sent; this message "
                                     "goes out when the customer replies")
