"""`MetaConnector`: what Messenger and the WhatsApp Cloud API connectors share.

Inbound: `GET /channels/<name>/webhook` answers Meta's verification handshake; `POST` checks
`X-Hub-Signature-256` on the raw body (403, nothing stored), reads the whole notification first (400 for a body
Meta would not send, nothing stored), then applies its status updates (only ever forward, whatever order they
come in) and hands each customer message to the router with the provider's deadline (`connectors.runner`).
A redelivered notification is answered once: messages are de-duplicated by their Meta id. Customers' media are
downloaded through the Graph API into the injected `MediaStore` (agents see them), refused above
`max_media_bytes` with a notice to the customer.

Outbound is each channel's own `send()`; the 24-hour window is `connectors.state.window_open()`. A provider
status that says the window closed (`window_closed_codes`) closes it in the `ChannelState` and is reported to
the hub as "outside_window", so the message is sent again by the window rules (an approved template).
"""

from __future__ import annotations

import abc
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from connectors.base import Connector, InboundHandler, InboundMessage, MessageRejected
from connectors.media import MediaStore, MediaTooLarge
from connectors.meta.graph import GraphClient
from connectors.meta.webhook import handshake, signed_json
from connectors.notices import mb, notice
from connectors.runner import InboundRunner
from connectors.state import ChannelState, StatusHook, close_window
from core.errors import CallError

log = logging.getLogger(__name__)

LONG_PAYLOAD_PREFIX = "~"  # a button id "~<key>" stands for a long payload kept in the ChannelState


class MetaConnector(Connector):
    """A Meta channel. Subclasses set `name`, `object_type`, `window_closed_codes` and implement `parse()`,
    `fetch_media()` and `send()`."""

    object_type = ""  # the notification's "object": page | whatsapp_business_account
    window_closed_codes: frozenset[str] = frozenset()
    max_attempts = 5

    def __init__(self, on_message: InboundHandler, *, app_secret: str, verify_token: str, graph: GraphClient,
                 state: ChannelState, media: MediaStore | None = None, max_media_bytes: int = 5 * 1024 * 1024,
                 on_status: StatusHook | None = None, default_language: str | None = None,
                 ack_timeout_s: float = 8.0) -> None:
        super().__init__(on_message)
        if not app_secret or not verify_token:
            raise ValueError(f"{self.name} needs META_APP_SECRET and META_VERIFY_TOKEN")
        self.app_secret = app_secret
        self.verify_token = verify_token
        self.graph = graph
        self.state = state
        self.media = media
        self.max_media_bytes = max_media_bytes
        self.on_status = on_status
        self.default_language = default_language
        self.runner = InboundRunner(self.name, on_message, ack_timeout_s=ack_timeout_s)

    def routes(self) -> list[BaseRoute]:
        return [Route("/webhook", self.verify, methods=["GET"]), Route("/webhook", self.webhook, methods=["POST"])]

    async def stop(self) -> None:
        await super().stop()
        await self.runner.drain()
        await self.graph.aclose()

    # -- to implement --------------------------------------------------------------------------

    @abc.abstractmethod
    def parse(self, data: dict[str, Any]) -> tuple[list[InboundMessage], list[dict[str, Any]]]:
        """(customer messages, status updates as `status_update()` keyword arguments); `ValueError` for a body
        Meta would not send."""

    @abc.abstractmethod
    async def fetch_media(self, item: dict[str, Any]) -> tuple[bytes, str] | None:
        """A customer's file (bytes, content type), or None when the item carries nothing to fetch."""

    # -- inbound -------------------------------------------------------------------------------

    async def verify(self, request: Request) -> Response:
        return handshake(request, self.verify_token, self.name)

    async def webhook(self, request: Request) -> Response:
        data = await signed_json(request, self.app_secret, self.name, self.object_type)
        if isinstance(data, Response):
            return data
        try:
            messages, statuses = self.parse(data)
        except ValueError as exc:
            log.warning("%s: malformed notification: %s", self.name, exc)
            return JSONResponse({"error": "bad_request", "detail": f"malformed notification: {exc}"}, status_code=400)
        for update in statuses:
            await self.apply_status(update)
        outcomes = []
        for message in messages:
            await self.state.touch_inbound(self.name, message.external_user_id)  # the window is open again
            try:
                outcomes.append(await self.runner.run(self._inbound(message)))
            except Exception:  # Meta redelivers after a 5xx; de-duplication by message id answers once
                return JSONResponse({"error": "internal_error"}, status_code=500)
        return JSONResponse({"ok": True, "messages": outcomes, "statuses": len(statuses)})

    async def _inbound(self, message: InboundMessage) -> str:
        user = message.external_user_id
        for item in message.payload.get("media", []):
            refused = await self._keep_media(item)
            if refused is not None:
                await self.deliver(user, notice("media_too_large", self.default_language, size_mb=mb(refused),
                                                limit_mb=mb(self.max_media_bytes)))
                return "refused_media_too_large"
        if message.kind == "button":
            message.payload["payload"] = await self.expand(str(message.payload.get("payload") or ""))
        return await self.runner.handle(message, on_rejected=lambda exc: self._refuse(user, exc))

    async def _keep_media(self, item: dict[str, Any]) -> int | None:
        """Download one file into the media store (agents see it); its size when it is over the limit."""
        if self.media is None:
            return None
        try:
            fetched = await self.fetch_media(item)
        except MediaTooLarge as exc:
            return exc.size
        except CallError as exc:
            log.warning("%s: could not download a customer's file: %s", self.name, exc)
            return None
        if fetched is None:
            return None
        data, content_type = fetched
        stored = await self.media.save(data, content_type=item.get("mime_type") or content_type,
                                       file_name=item.get("file_name"))
        item.update(stored.item())
        return None

    async def _refuse(self, user: str, exc: MessageRejected) -> None:
        await self.deliver(user, notice("rejected", self.default_language, reason=str(exc)))

    async def apply_status(self, update: dict[str, Any]) -> None:
        """One parsed status update (`parse()`'s second list)."""
        await self.status_update(**update)

    async def status_update(self, *, provider_id: str, status: str, recipient: str = "",
                            error_code: str | None = None, detail: str = "") -> None:
        """A status of something we sent: recorded when it moves forward; a closed window is said as such."""
        message_id = await self.state.update_status(self.name, provider_id, status, error_code=error_code,
                                                    detail=detail)
        if status == "failed":
            log.warning("%s: message %s (hub %s) failed, error %s: %s", self.name, provider_id, message_id,
                        error_code, detail)
            if error_code in self.window_closed_codes:
                known = await self.state.delivery(self.name, provider_id)
                await close_window(self.state, self.name, recipient or (known.recipient if known else ""))
                status = "outside_window"
        await self.report(message_id, provider_id, status, error_code)

    async def report(self, message_id: str | None, provider_id: str, status: str, error_code: str | None) -> None:
        if self.on_status is not None:
            try:
                await self.on_status(message_id, provider_id, status, error_code)
            except Exception:
                log.exception("%s: status hook failed", self.name)

    # -- button payloads -----------------------------------------------------------------------

    async def button_id(self, payload: str, limit: int) -> str:
        """A button's id: its payload, or a short key for one longer than the channel's `limit`."""
        if len(payload.encode("utf-8")) <= limit and not payload.startswith(LONG_PAYLOAD_PREFIX):
            return payload
        return LONG_PAYLOAD_PREFIX + await self.state.shorten(self.name, payload)

    async def expand(self, button_id: str) -> str:
        if not button_id.startswith(LONG_PAYLOAD_PREFIX):
            return button_id
        return await self.state.expand(button_id[len(LONG_PAYLOAD_PREFIX):]) or button_id
