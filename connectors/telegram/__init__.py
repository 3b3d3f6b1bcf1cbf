"""Telegram: `connector` (the `TelegramConnector`), `parse` (updates → `InboundMessage`), `errors` (the one
mapper from python-telegram-bot's errors to `core.errors`)."""
