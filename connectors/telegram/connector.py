"""Telegram through python-telegram-bot's `Bot` (webhook mode, or long polling for local use).

Inbound: `POST /channels/telegram/webhook` with Telegram's `X-Telegram-Bot-Api-Secret-Token` (compared in
constant time; 403 and nothing stored otherwise), or `getUpdates` long polling started by `start()` (with the
base class's `keep_trying()` backoff). `parse.py` turns each update into an `InboundMessage` (or a notice the
customer gets instead: group chats, unreadable content, oversized media); button presses are answered at once.
An update never crashes the hub.

Outbound: text rendered from Markdown for Telegram's HTML parse mode (bold, italics, links, code; sent again
as plain text if Telegram refuses the markup; split at its 4096 characters), buttons as an inline keyboard (payloads longer than
callback_data's 64 bytes go through a short key kept in the `ChannelState`), images by URL (`sendPhoto`), other files by URL
(`sendDocument`), each checked against the Bot API's size limits first, and a typing indicator while the bot
thinks. Customers' photos and documents are downloaded into the injected `MediaStore` for agents. Failures are mapped to `core.errors` in one
place, `errors.py`; the base class retries them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import mimetypes
import time
from typing import Any
from urllib.parse import urlparse

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction
from telegram.error import BadRequest, TelegramError, TimedOut
from telegram.request import HTTPXRequest

from connectors.base import (
    Connector, DeliveryResult, InboundHandler, InboundMessage, MessageRejected, OutboundMessage, split_text,
)
from connectors.media import MediaStore, check_outbound
from connectors.http import shared_ssl_context
from connectors.notices import notice
from connectors.runner import InboundRunner
from connectors.state import ChannelState, MemoryChannelState
from connectors.telegram.errors import from_telegram_error
from connectors.telegram.parse import (
    LONG_PAYLOAD_PREFIX, Notice, long_payload_key, parse_button, parse_message, read_update,
)
from core.errors import CallError
from core.markdown import to_plain, to_telegram_html

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
MAX_TEXT = 4096
MARKDOWN_CHUNK = 3500  # Markdown is split before rendering; its HTML (tags, escapes) stays under MAX_TEXT
MAX_CALLBACK_DATA = 64
MAX_UPDATE_BYTES = 1024 * 1024
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp")
GROUP_NOTICE_EVERY_S = 3600
# What the Bot API fetches from a URL: photos up to 5 MB, other files up to 20 MB.
MEDIA_LIMITS = {"image": 5 * 1024 * 1024, "document": 20 * 1024 * 1024}


def derive_webhook_secret(token: str, session_secret: str) -> str:
    """A stable secret_token (Telegram allows 1-256 of A-Z a-z 0-9 _ -) when none is configured."""
    return hmac.new(session_secret.encode(), f"telegram-webhook:{token}".encode(), hashlib.sha256).hexdigest()


class TelegramConnector(Connector):
    """A Telegram bot. `mode` is "webhook" (registers `webhook_url` on start) or "polling"."""

    name = "telegram"
    max_attempts = 5
    backoff_max_s = 60.0  # Telegram's flood-control waits can be long

    def __init__(
        self,
        on_message: InboundHandler,
        *,
        token: str,
        secret_token: str,
        mode: str = "webhook",
        webhook_url: str | None = None,
        api_base_url: str | None = None,
        max_media_bytes: int = 5 * 1024 * 1024,
        state: ChannelState | None = None,
        ack_timeout_s: float = 8.0,
        poll_timeout_s: int = 25,
        request: HTTPXRequest | None = None,
        media: MediaStore | None = None,
    ) -> None:
        super().__init__(on_message)
        if mode not in ("webhook", "polling"):
            raise ValueError(f"TELEGRAM_MODE must be webhook or polling, got {mode!r}")
        if mode == "webhook" and not webhook_url:
            raise ValueError("Telegram webhook mode needs the hub's public URL (PUBLIC_URL)")
        if not secret_token:
            raise ValueError("Telegram needs a webhook secret token")
        self.mode = mode
        self.webhook_url = webhook_url
        self.secret_token = secret_token
        self.max_media_bytes = max_media_bytes
        self.poll_timeout_s = poll_timeout_s
        self.state: ChannelState = state if state is not None else MemoryChannelState()
        self.media = media
        self.http = httpx.AsyncClient(timeout=10.0, verify=shared_ssl_context())  # outgoing media size checks
        base = (api_base_url or "https://api.telegram.org/bot").rstrip("/")
        if not base.endswith("/bot"):
            base += "/bot"
        file_base = base[: -len("/bot")] + "/file/bot"
        self.bot = Bot(
            token, base_url=base, base_file_url=file_base,
            request=request or HTTPXRequest(connection_pool_size=16, connect_timeout=5.0, read_timeout=15.0,
                                            write_timeout=15.0, pool_timeout=5.0,
                                            httpx_kwargs={"verify": shared_ssl_context()}),
            get_updates_request=HTTPXRequest(connect_timeout=5.0, read_timeout=10.0,
                                             httpx_kwargs={"verify": shared_ssl_context()}),
        )
        self.runner = InboundRunner(self.name, on_message, ack_timeout_s=ack_timeout_s)
        self._worker: asyncio.Task[None] | None = None
        self._group_declined: dict[str, float] = {}

    # -- lifecycle -----------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [Route(WEBHOOK_PATH, self.webhook, methods=["POST"])]

    async def start(self) -> None:
        """Webhook mode: register the webhook (retried in the background until it works). Polling: start polling."""
        await super().start()
        work = self._register_webhook() if self.mode == "webhook" else self._poll()
        self._worker = asyncio.create_task(work, name=f"telegram-{self.mode}")

    async def stop(self) -> None:
        """Stop polling (the webhook stays registered: other replicas may still serve it) and drain work."""
        await super().stop()
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except (asyncio.CancelledError, Exception):
                pass
            self._worker = None
        await self.runner.drain()
        await self.http.aclose()
        try:
            await self.bot.shutdown()
        except Exception:  # shutting down a never-initialised bot
            log.debug("telegram: bot shutdown failed", exc_info=True)

    def call_error(self, exc: Exception) -> CallError | None:
        return from_telegram_error(exc) if isinstance(exc, TelegramError) else super().call_error(exc)

    async def _register_webhook(self) -> None:
        try:
            await self.keep_trying("getMe", self.bot.initialize)
            ok = await self.keep_trying("setWebhook", lambda: self.bot.set_webhook(
                url=str(self.webhook_url), secret_token=self.secret_token, allowed_updates=ALLOWED_UPDATES,
                max_connections=40,
            ))
        except CallError:  # logged by keep_trying (e.g. a wrong TELEGRAM_BOT_TOKEN)
            return
        if ok:
            log.info("telegram: webhook registered at %s (bot @%s)", self.webhook_url,
                     getattr(self.bot, "username", "?"))

    async def _poll(self) -> None:
        """getUpdates long polling. An update's offset is confirmed only after it was handled (at least once;
        the router de-duplicates by update_id)."""
        try:
            await self.keep_trying("getMe", self.bot.initialize)
            await self.keep_trying("deleteWebhook", self.bot.delete_webhook)
        except CallError:
            return
        log.info("telegram: long polling as @%s", getattr(self.bot, "username", "?"))
        offset: int | None = None

        async def get_updates() -> tuple[Update, ...]:
            try:
                return await self.bot.get_updates(offset=offset, timeout=self.poll_timeout_s,
                                                  allowed_updates=ALLOWED_UPDATES)
            except TimedOut:  # a long poll that ended without news: poll again at once
                return ()

        while not self.stopping:
            try:
                updates = await self.keep_trying("getUpdates", get_updates)
            except CallError:
                log.error("telegram: polling stopped (check TELEGRAM_BOT_TOKEN)")
                return
            for update in updates or ():
                try:
                    await self.process_update(update)
                except Exception:
                    log.exception("telegram: update %s failed; skipped", update.update_id)
                offset = update.update_id + 1

    # -- inbound -------------------------------------------------------------------------------

    async def webhook(self, request: Request) -> Response:
        """Telegram's webhook: 403 on a missing/wrong secret, 400 on a malformed update, else 200."""
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret_token.encode()):
            log.warning("telegram: webhook call with a missing or wrong secret token from %s",
                        request.client.host if request.client else "?")
            return JSONResponse({"error": "forbidden", "detail": "missing or wrong secret token"}, status_code=403)
        body = await request.body()
        if len(body) > MAX_UPDATE_BYTES:
            return JSONResponse({"error": "too_large", "detail": "update too large"}, status_code=413)
        try:
            update = read_update(body, self.bot)
        except ValueError as exc:  # the caller's fault (json.JSONDecodeError is a ValueError too)
            log.warning("telegram: malformed update: %s", exc)
            return JSONResponse({"error": "bad_request", "detail": f"malformed update: {exc}"}, status_code=400)
        try:
            outcome = await self.process_update(update)
        except Exception:  # Telegram re-delivers on 5xx; update_id de-duplication answers it once
            return JSONResponse({"error": "internal_error"}, status_code=500)
        return JSONResponse({"ok": True, "outcome": outcome})

    async def process_update(self, update: Update) -> str:
        """Turn one update into an inbound message (or a polite refusal). Returns what happened."""
        q = update.callback_query
        if q is not None:
            self.runner.spawn(self._answer_callback(q.id))  # stops the button's spinner whatever happens next
            parsed = parse_button(update, await self._button_payload(q.data or ""))
        else:
            parsed = parse_message(update, max_media_bytes=self.max_media_bytes)
        if parsed is None:
            log.debug("telegram: ignoring update %s (%s)", update.update_id,
                      [k for k, v in update.to_dict().items() if v and k != "update_id"])
            return "ignored"
        if isinstance(parsed, Notice):
            self._notify(parsed)
            return parsed.outcome
        chat_id, language = parsed.external_user_id, parsed.language_hint
        await self._keep_media(parsed)
        self.runner.spawn(self.typing(chat_id))
        return await self.runner.submit(parsed, on_rejected=lambda exc: self._refuse(chat_id, language, exc))

    async def _keep_media(self, message: InboundMessage) -> None:
        """Download the customer's photos and documents into the media store, so agents see them."""
        if self.media is None:
            return
        for item in message.payload.get("media", []):
            try:
                file = await self.bot.get_file(item["file_id"])
                data = bytes(await file.download_as_bytearray())
            except TelegramError as exc:  # the message still reaches the agent, without the file
                log.warning("telegram: could not download file %s: %s", item.get("file_id"), exc)
                continue
            content_type = item.get("mime_type") or mimetypes.guess_type(file.file_path or "")[0]
            stored = await self.media.save(data, content_type=content_type or "application/octet-stream",
                                           file_name=item.get("file_name") or (file.file_path or "").rsplit("/", 1)[-1])
            item.update(stored.item())

    async def _button_payload(self, data: str) -> str | None:
        """A pressed button's payload: its callback_data, or the long payload a "~key" stands for."""
        key = long_payload_key(data)
        if key is None:
            return data
        payload = await self.state.expand(key)
        if payload is None:  # the key is gone (e.g. in-memory state after a restart): the title still means something
            log.info("telegram: unknown button key %s; sending its title instead", data)
        return payload

    async def _answer_callback(self, query_id: str) -> None:
        try:
            await self.bot.answer_callback_query(query_id)
        except TelegramError as exc:  # too old, or already answered: harmless
            log.info("telegram: answerCallbackQuery failed: %s", exc)

    def _notify(self, parsed: Notice) -> None:
        """Tell the customer why their update is not taken (a group: once an hour), in the background; nothing
        is stored in a conversation."""
        if parsed.key == "group":
            now = time.monotonic()
            if now - self._group_declined.get(parsed.chat_id, -1e9) < GROUP_NOTICE_EVERY_S:
                return
            self._group_declined[parsed.chat_id] = now
        self.runner.spawn(self.deliver(parsed.chat_id, notice(parsed.key, parsed.language, **parsed.values)))

    async def _refuse(self, chat_id: str, language: str | None, exc: MessageRejected) -> None:
        await self.deliver(chat_id, notice("rejected", language, reason=str(exc)))

    async def typing(self, recipient: str) -> None:
        """Show "typing…" to the customer for a few seconds (best effort, never raises)."""
        try:
            await self.bot.send_chat_action(chat_id=_chat_id(recipient), action=ChatAction.TYPING)
        except TelegramError as exc:
            log.debug("telegram: typing indicator failed: %s", exc)

    # -- outbound ------------------------------------------------------------------------------

    async def send(self, recipient: str, message: OutboundMessage) -> DeliveryResult:
        """Send text, buttons and media; a retry after a partial failure skips the parts already sent."""
        chat_id = _chat_id(recipient)

        async def send_one(part: tuple[str, dict[str, Any]]) -> str:
            method, kwargs = part
            plain = kwargs.pop("plain", None)
            try:
                sent: Message = await getattr(self.bot, method)(chat_id=chat_id, **kwargs)
            except BadRequest as exc:
                if plain is None or "parse entities" not in exc.message.lower():
                    raise
                # Telegram could not read the markup (a renderer bug, odd input): the text still gets through.
                log.warning("telegram: HTML refused (%s); sending message %s as plain text", exc.message,
                            message.message_id)
                kwargs = {**kwargs, "text": plain, "parse_mode": None}
                sent = await getattr(self.bot, method)(chat_id=chat_id, **kwargs)
            return str(sent.message_id)

        await check_outbound(self.http, message.media_urls, channel="Telegram",
                             limit_for=lambda kind: MEDIA_LIMITS["image" if kind == "image" else "document"])
        provider_id = await self.send_parts(message, await self._plan(message), send_one)
        return DeliveryResult("sent", provider_id=provider_id)

    async def _plan(self, message: OutboundMessage) -> list[tuple[str, dict[str, Any]]]:
        """The Bot API calls that make up one outbound message."""
        text = message.signed_text()
        markup = await self._keyboard(message)
        parts: list[tuple[str, dict[str, Any]]] = []
        chunks = [rendered for chunk in split_text(text, MARKDOWN_CHUNK) for rendered in _rendered(chunk)] if text else []
        if not chunks and markup is not None and not message.media_urls:
            chunks = [("👇", None)]
        for n, (chunk, plain) in enumerate(chunks):
            kwargs: dict[str, Any] = {"text": chunk}
            if plain is not None:
                kwargs.update(parse_mode="HTML", plain=plain)
            if markup is not None and n == len(chunks) - 1 and not message.media_urls:
                kwargs["reply_markup"] = markup
            parts.append(("send_message", kwargs))
        for n, url in enumerate(message.media_urls):
            is_image = urlparse(url).path.lower().endswith(IMAGE_SUFFIXES)
            kwargs = {"photo": url} if is_image else {"document": url}
            if n == len(message.media_urls) - 1 and markup is not None:
                kwargs["reply_markup"] = markup
            parts.append(("send_photo" if is_image else "send_document", kwargs))
        return parts

    async def _keyboard(self, message: OutboundMessage) -> InlineKeyboardMarkup | None:
        if not message.buttons:
            return None
        rows = []
        for b in message.buttons:
            data = b.payload or b.title
            if len(data.encode("utf-8")) > MAX_CALLBACK_DATA or data.startswith(LONG_PAYLOAD_PREFIX):
                data = LONG_PAYLOAD_PREFIX + await self.state.shorten(self.name, data)
            rows.append([InlineKeyboardButton(text=b.title[:200] or "…", callback_data=data)])
        return InlineKeyboardMarkup(rows)


def _rendered(markdown: str) -> list[tuple[str, str | None]]:
    """One Markdown chunk as Telegram messages: (HTML, its plain text for a retry), or plain text alone when the
    HTML would pass Telegram's 4096 characters."""
    html, plain = to_telegram_html(markdown), to_plain(markdown)
    if len(html) <= MAX_TEXT:
        return [(html, plain)]
    return [(part, None) for part in split_text(plain, MAX_TEXT)]


def _chat_id(recipient: str) -> int | str:
    return int(recipient) if recipient.lstrip("-").isdigit() else recipient

