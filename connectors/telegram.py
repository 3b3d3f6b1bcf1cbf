"""Telegram through python-telegram-bot's `Bot` (webhook mode, or long polling for local use).

Inbound: `POST /channels/telegram/webhook` with Telegram's `X-Telegram-Bot-Api-Secret-Token` (compared in
constant time; 403 and nothing stored otherwise), or `getUpdates` long polling started by `start()`.
Every update is parsed into an `InboundMessage` whose `external_id` is the `update_id`, so a re-delivered
update is answered once. Private chats only: text (and edits), button presses (callback queries, answered at
once), photos/documents/stickers/voice/video (kind "media" with Telegram file ids), locations and contacts.
Anything else, and every group chat, gets a polite reply and nothing is stored; an update never crashes the hub.

Outbound: text (split at Telegram's 4096 characters), buttons as an inline keyboard (payloads longer than
callback_data's 64 bytes go through a short key kept in the `ChannelState`), images by URL (`sendPhoto`), other files by URL
(`sendDocument`), and a typing indicator while the bot thinks. `from_telegram_error()` is the one place
that maps Telegram failures to `core.errors`: 429 → `RateLimited` (Telegram's `retry_after`), network trouble
and 5xx → `Retryable`, 400/401/403 (e.g. the customer blocked the bot) → `Permanent`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta
from typing import Any, Awaitable, Callable
from urllib.parse import urlparse

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction, ChatType
from telegram.error import (
    BadRequest, ChatMigrated, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError, TimedOut,
)
from telegram.request import HTTPXRequest

from core.errors import CallError, Permanent, RateLimited, Retryable, Unconfirmed

from connectors.base import (
    split_text,
    Connector, DeliveryResult, InboundHandler, InboundMessage, MessageRejected, OutboundMessage,
)
from connectors.state import ChannelState, MemoryChannelState
from connectors.webhooks import InboundRunner, channel_text, mb, shared_ssl_context

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
LONG_PAYLOAD_PREFIX = "~"  # callback_data "~<key>" stands for a stored long payload
MAX_UPDATE_BYTES = 1024 * 1024
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp")
# Message attributes carrying a file, in the order they are checked.
MEDIA_ATTRS = ("document", "sticker", "voice", "audio", "video", "video_note", "animation")


def derive_webhook_secret(token: str, session_secret: str) -> str:
    """A stable secret_token (Telegram allows 1-256 of A-Z a-z 0-9 _ -) when none is configured."""
    return hmac.new(session_secret.encode(), f"telegram-webhook:{token}".encode(), hashlib.sha256).hexdigest()


def from_telegram_error(exc: TelegramError) -> CallError:
    """The one place that maps python-telegram-bot's errors (raised by `BaseRequest._request_wrapper`) to the
    `core.errors` taxonomy."""
    service = "telegram"
    if isinstance(exc, RetryAfter):
        raw: Any = exc._retry_after  # a timedelta; the public property warns about its type changing
        seconds = raw.total_seconds() if isinstance(raw, timedelta) else float(raw)
        return RateLimited(f"Telegram flood control: retry in {seconds:g}s", retry_after=seconds, service=service)
    if isinstance(exc, Forbidden):
        return Permanent(f"Telegram refused: the customer blocked the bot or left the chat ({exc.message})",
                         service=service, status=403)
    if isinstance(exc, InvalidToken):  # 401/404
        return Permanent(f"Telegram refused TELEGRAM_BOT_TOKEN ({exc.message})", service=service, status=401)
    if isinstance(exc, ChatMigrated):
        return Permanent(f"the chat moved to {exc.new_chat_id}", service=service, status=400)
    if isinstance(exc, Conflict):  # 409: another getUpdates poller, or a webhook, serves this bot (for now)
        return Retryable(f"another poller or a webhook is active for this bot ({exc.message})", service=service,
                         status=409)
    if isinstance(exc, BadRequest):  # 400 (BadRequest subclasses NetworkError: checked before it)
        return Permanent(f"Telegram rejected the message: {exc.message}", service=service, status=400)
    if isinstance(exc, TimedOut):
        # PTB raises TimedOut for every httpx timeout; only connect and pool timeouts never reached Telegram.
        if isinstance(exc.__cause__, (httpx.ConnectTimeout, httpx.PoolTimeout)):
            return Retryable(f"Telegram unreachable: {exc.message}", service=service)
        return Unconfirmed(f"Telegram took too long to answer: {exc.message}", service=service)
    if isinstance(exc, NetworkError):  # connection trouble and every 5xx
        return Retryable(f"Telegram unreachable or failing: {exc.message}", service=service)
    return Permanent(f"Telegram error: {exc}", service=service)


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
        self._group_declined: dict[int, float] = {}

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
            data = json.loads(body)
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise ValueError("an update is a JSON object with an integer update_id")
            update = Update.de_json(data, self.bot)
        except Exception as exc:  # noqa: BLE001 - anything that fails to parse is the caller's fault
            log.warning("telegram: malformed update: %s", exc)
            return JSONResponse({"error": "bad_request", "detail": f"malformed update: {exc}"}, status_code=400)
        try:
            outcome = await self.process_update(update)
        except Exception:  # Telegram re-delivers on 5xx; update_id de-duplication answers it once
            return JSONResponse({"error": "internal_error"}, status_code=500)
        return JSONResponse({"ok": True, "outcome": outcome})

    async def process_update(self, update: Update) -> str:
        """Turn one update into an inbound message (or a polite refusal). Returns what happened."""
        if update.callback_query is not None:
            return await self._callback(update)
        msg = update.message or update.edited_message
        if msg is None or msg.from_user is None:
            log.debug("telegram: ignoring update %s (%s)", update.update_id,
                      [k for k, v in update.to_dict().items() if v and k != "update_id"])
            return "ignored"
        language = msg.from_user.language_code
        if msg.chat.type != ChatType.PRIVATE:
            self._decline_group(msg.chat.id, language)
            return "declined_group"
        chat_id = str(msg.chat.id)
        common: dict[str, Any] = {
            "channel": self.name, "external_user_id": chat_id, "external_id": str(update.update_id),
            "language_hint": language, "customer_name": msg.from_user.first_name,
        }
        edited = update.edited_message is not None
        extra: dict[str, Any] = {"edited": True, "telegram_message_id": msg.message_id} if edited else {}
        inbound = self._parse(msg, common, extra)
        if isinstance(inbound, str):
            return inbound
        if inbound is None:
            self._say(chat_id, channel_text("unsupported", language))
            return "declined_unsupported"
        self.runner.spawn(self._typing(chat_id))
        return await self.runner.submit(inbound, on_rejected=lambda exc: self._refuse(chat_id, language, exc))

    def _parse(self, msg: Message, common: dict[str, Any], extra: dict[str, Any]) -> InboundMessage | str | None:
        """An InboundMessage, a string outcome when the customer was already told why not, or None (unsupported)."""
        language = common["language_hint"]
        if msg.text:
            return InboundMessage(text=msg.text, kind="text", payload=extra, **common)
        if msg.location is not None:
            loc = msg.location
            return InboundMessage(
                text=f"[location {loc.latitude:.5f}, {loc.longitude:.5f}]", kind="location",
                payload={"latitude": loc.latitude, "longitude": loc.longitude, **extra}, **common)
        if msg.contact is not None:
            c = msg.contact
            name = " ".join(p for p in (c.first_name, c.last_name) if p)
            return InboundMessage(
                text=f"[contact: {name}]", kind="contact",
                payload={"phone_number": c.phone_number, "first_name": c.first_name, "last_name": c.last_name,
                         "user_id": c.user_id, **extra}, **common)
        media = self._media(msg)
        if media is None:
            return None
        if media.get("size") and media["size"] > self.max_media_bytes:
            self._say(common["external_user_id"], channel_text(
                "media_too_large", language, size_mb=mb(media["size"]), limit_mb=mb(self.max_media_bytes)))
            return "refused_media_too_large"
        label = media["type"] + (f": {media['file_name']}" if media.get("file_name") else "")
        if media["type"] == "sticker" and media.get("emoji"):
            label += f" {media['emoji']}"
        return InboundMessage(text=msg.caption or f"[{label}]", kind="media",
                              payload={"media": [media], **extra}, **common)

    @staticmethod
    def _media(msg: Message) -> dict[str, Any] | None:
        if msg.photo:
            p = max(msg.photo, key=lambda s: (s.width or 0) * (s.height or 0))
            return {"type": "photo", "file_id": p.file_id, "file_unique_id": p.file_unique_id,
                    "size": p.file_size, "mime_type": "image/jpeg"}
        for attr in MEDIA_ATTRS:
            f = getattr(msg, attr, None)
            if f is not None:
                item: dict[str, Any] = {"type": attr, "file_id": f.file_id, "file_unique_id": f.file_unique_id,
                                        "size": getattr(f, "file_size", None)}
                for extra in ("mime_type", "file_name", "emoji"):
                    if getattr(f, extra, None):
                        item[extra] = getattr(f, extra)
                return item
        return None

    async def _callback(self, update: Update) -> str:
        q = update.callback_query
        assert q is not None
        self.runner.spawn(self._answer_callback(q.id))  # stops the button's spinner whatever happens next
        chat = q.message.chat if q.message is not None else None
        language = q.from_user.language_code
        if chat is not None and chat.type != ChatType.PRIVATE:
            self._decline_group(chat.id, language)
            return "declined_group"
        chat_id = str(chat.id if chat is not None else q.from_user.id)
        data = q.data or ""
        payload: str | None = data
        if data.startswith(LONG_PAYLOAD_PREFIX):
            payload = await self.state.expand(data[len(LONG_PAYLOAD_PREFIX):])
        title = _button_title(q.message, data)
        if payload is None:  # the key is gone (e.g. in-memory store after a restart): the title still means something
            log.info("telegram: unknown button key %s; sending its title instead", data)
            inbound = InboundMessage(self.name, chat_id, title or "", external_id=str(update.update_id),
                                     language_hint=language, customer_name=q.from_user.first_name)
        else:
            inbound = InboundMessage(self.name, chat_id, title or payload, external_id=str(update.update_id),
                                     kind="button", payload={"payload": payload}, language_hint=language,
                                     customer_name=q.from_user.first_name)
        if not inbound.text:
            return "ignored"
        self.runner.spawn(self._typing(chat_id))
        return await self.runner.submit(inbound, on_rejected=lambda exc: self._refuse(chat_id, language, exc))

    async def _answer_callback(self, query_id: str) -> None:
        try:
            await self.bot.answer_callback_query(query_id)
        except TelegramError as exc:  # too old, or already answered: harmless
            log.info("telegram: answerCallbackQuery failed: %s", exc)

    def _decline_group(self, chat_id: int, language: str | None) -> None:
        """Tell a group once an hour that the bot only helps in private chats; store nothing."""
        now = time.monotonic()
        if now - self._group_declined.get(chat_id, -1e9) < 3600:
            return
        self._group_declined[chat_id] = now
        self._say(str(chat_id), channel_text("group", language))

    def _say(self, chat_id: str, text: str) -> None:
        """A hub notice to the customer (not stored in the conversation), sent in the background with retries."""
        self.runner.spawn(self.deliver(chat_id, OutboundMessage(text=text, sender="system")))

    async def _refuse(self, chat_id: str, language: str | None, exc: MessageRejected) -> None:
        await self.deliver(chat_id, OutboundMessage(text=channel_text("rejected", language, reason=str(exc)),
                                                    sender="system"))

    async def _typing(self, chat_id: str) -> None:
        await self.typing(chat_id)

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
            sent: Message = await getattr(self.bot, method)(chat_id=chat_id, **kwargs)
            return str(sent.message_id)

        provider_id = await self.send_parts(message, await self._plan(message), send_one)
        return DeliveryResult("sent", provider_id=provider_id)

    async def _plan(self, message: OutboundMessage) -> list[tuple[str, dict[str, Any]]]:
        """The Bot API calls that make up one outbound message."""
        text = message.signed_text()
        markup = await self._keyboard(message)
        parts: list[tuple[str, dict[str, Any]]] = []
        chunks = split_text(text, MAX_TEXT) if text else []
        if not chunks and markup is not None and not message.media_urls:
            chunks = ["👇"]
        for n, chunk in enumerate(chunks):
            kwargs: dict[str, Any] = {"text": chunk}
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


def _chat_id(recipient: str) -> int | str:
    return int(recipient) if recipient.lstrip("-").isdigit() else recipient


def _button_title(message: Any, data: str) -> str | None:
    markup = getattr(message, "reply_markup", None)
    for row in getattr(markup, "inline_keyboard", ()) or ():
        for button in row:
            if button.callback_data == data:
                return button.text
    return None
