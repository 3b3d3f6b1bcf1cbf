"""The one place that maps python-telegram-bot's errors to the `core.errors` taxonomy.

PTB itself turns every HTTP answer and transport failure into its own exception tree (`BaseRequest.
_request_wrapper`); this maps that tree: 429 → `RateLimited` (Telegram's `retry_after`), network trouble and
5xx → `Retryable`, a timeout after the request went out → `Unconfirmed`, 400/401/403 (e.g. the customer blocked
the bot) → `Permanent`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from telegram.error import (
    BadRequest, ChatMigrated, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError, TimedOut,
)

from core.errors import CallError, Permanent, RateLimited, Retryable, Unconfirmed

SERVICE = "telegram"


def from_telegram_error(exc: TelegramError) -> CallError:
    """The taxonomy error for one of python-telegram-bot's exceptions."""
    if isinstance(exc, RetryAfter):
        raw: Any = exc._retry_after  # a timedelta; the public property warns about its type changing
        seconds = raw.total_seconds() if isinstance(raw, timedelta) else float(raw)
        return RateLimited(f"Telegram flood control: retry in {seconds:g}s", retry_after=seconds, service=SERVICE)
    if isinstance(exc, Forbidden):
        return Permanent(f"Telegram refused: the customer blocked the bot or left the chat ({exc.message})",
                         service=SERVICE, status=403)
    if isinstance(exc, InvalidToken):  # 401/404
        return Permanent(f"Telegram refused TELEGRAM_BOT_TOKEN ({exc.message})", service=SERVICE, status=401)
    if isinstance(exc, ChatMigrated):
        return Permanent(f"the chat moved to {exc.new_chat_id}", service=SERVICE, status=400)
    if isinstance(exc, Conflict):  # 409: another getUpdates poller, or a webhook, serves this bot (for now)
        return Retryable(f"another poller or a webhook is active for this bot ({exc.message})", service=SERVICE,
                         status=409)
    if isinstance(exc, BadRequest):  # 400 (BadRequest subclasses NetworkError: checked before it)
        return Permanent(f"Telegram rejected the message: {exc.message}", service=SERVICE, status=400)
    if isinstance(exc, TimedOut):
        # PTB raises TimedOut for every httpx timeout; only connect and pool timeouts never reached Telegram.
        if isinstance(exc.__cause__, (httpx.ConnectTimeout, httpx.PoolTimeout)):
            return Retryable(f"Telegram unreachable: {exc.message}", service=SERVICE)
        return Unconfirmed(f"Telegram took too long to answer: {exc.message}", service=SERVICE)
    if isinstance(exc, NetworkError):  # connection trouble and every 5xx
        return Retryable(f"Telegram unreachable or failing: {exc.message}", service=SERVICE)
    return Permanent(f"Telegram error: {exc}", service=SERVICE)
