"""Telegram: `connector` (the `TelegramConnector`), `parse` (updates → `InboundMessage`), `errors` (the one
mapper from python-telegram-bot's errors to `core.errors`)."""

import os

# Opt in now to python-telegram-bot's coming behaviour (`RetryAfter.retry_after` as a timedelta, which
# `errors.from_telegram_error` reads either way) instead of a deprecation warning on every flood-control error.
os.environ.setdefault("PTB_TIMEDELTA", "1")
