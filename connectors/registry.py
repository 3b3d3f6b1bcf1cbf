"""Channel name → connector factory. Enabling a channel is configuration only (see docs/channels.md).

`ENABLED_CHANNELS` lists the channels to switch on (the web chat is always on: the hub's own chat page uses
it). Each channel checks its own settings and fails start-up with the variables to set, rather than starting
half-configured. Adding a channel: write its module, add one entry to `FACTORIES`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from connectors.base import Connector, InboundHandler
from connectors.relay import RedisFrameRelay
from connectors.state import ChannelState, MemoryChannelState, StatusHook
from connectors.webchat import HistoryLoader, WebChatConnector
from core.settings import ChannelSettings

log = logging.getLogger(__name__)


class ChannelConfigError(ValueError):
    """A channel is unknown or misses settings; the message names the environment variables to set."""


@dataclass(frozen=True)
class BuildContext:
    settings: ChannelSettings
    on_message: InboundHandler
    web_history: HistoryLoader
    state: ChannelState
    on_status: StatusHook | None = None
    relay: RedisFrameRelay | None = None  # several hub processes: web chat frames to the socket's process


def _require(settings: ChannelSettings, channel: str, *names: str) -> None:
    missing = [n.upper() for n in names if not str(getattr(settings, n))]
    if missing:
        raise ChannelConfigError(f"channel {channel!r} is enabled but {', '.join(missing)} "
                                 f"{'is' if len(missing) == 1 else 'are'} not set (see docs/channels.md)")


def _web(ctx: BuildContext) -> Connector:
    s = ctx.settings
    return WebChatConnector(ctx.on_message, history=ctx.web_history, secret=s.session_secret.get_secret_value(),
                            max_frame_bytes=s.max_ws_frame_bytes, allowed_origins=s.web_allowed_origins,
                            token_max_age_s=s.visitor_token_max_age_s, state=ctx.state, relay=ctx.relay)


def _telegram(ctx: BuildContext) -> Connector:
    from connectors.telegram.connector import TelegramConnector, derive_webhook_secret

    s = ctx.settings
    _require(s, "telegram", "telegram_bot_token")
    mode = s.telegram_mode.strip().lower()
    if mode not in ("webhook", "polling"):
        raise ChannelConfigError(f"TELEGRAM_MODE must be webhook or polling, got {s.telegram_mode!r}")
    if mode == "webhook" and not s.public_url:
        raise ChannelConfigError("TELEGRAM_MODE=webhook needs PUBLIC_URL (the https address Telegram can reach); "
                                 "use TELEGRAM_MODE=polling on a machine without one")
    token = s.telegram_bot_token.get_secret_value()
    secret = s.telegram_webhook_secret.get_secret_value() or derive_webhook_secret(token, s.session_secret.get_secret_value())
    return TelegramConnector(
        ctx.on_message, token=token, secret_token=secret, mode=mode,
        webhook_url=f"{s.public_base_url}/channels/telegram/webhook" if mode == "webhook" else None,
        api_base_url=s.telegram_api_base_url or None, max_media_bytes=s.max_media_bytes,
        state=ctx.state,
    )


def _twilio(name: str, from_setting: str) -> Callable[[BuildContext], Connector]:
    def build(ctx: BuildContext) -> Connector:
        from connectors.twilio.connector import TwilioConnector

        s = ctx.settings
        _require(s, name, "twilio_account_sid", "twilio_auth_token", from_setting, "public_url")
        sender = str(getattr(s, from_setting))
        if name == "whatsapp" and not sender.startswith("whatsapp:"):
            sender = f"whatsapp:{sender}"
        if name == "sms" and sender.startswith("whatsapp:"):
            raise ChannelConfigError("TWILIO_SMS_FROM must be a phone number, not a whatsapp: address")
        return TwilioConnector(
            ctx.on_message, name=name, account_sid=s.twilio_account_sid, auth_token=s.twilio_auth_token.get_secret_value(),
            from_=sender, public_base_url=s.public_base_url, state=ctx.state,
            api_base_url=s.twilio_api_base_url or None,
            template_sid=s.whatsapp_template_sid if name == "whatsapp" else "",
            max_media_bytes=s.max_media_bytes, default_language=s.default_language, on_status=ctx.on_status,
        )

    return build


FACTORIES: dict[str, Callable[[BuildContext], Connector]] = {
    "web": _web,
    "telegram": _telegram,
    "whatsapp": _twilio("whatsapp", "twilio_whatsapp_from"),
    "sms": _twilio("sms", "twilio_sms_from"),
}


def build_connectors(
    settings: ChannelSettings,
    on_message: InboundHandler,
    *,
    web_history: HistoryLoader,
    state: ChannelState | None = None,
    on_status: StatusHook | None = None,
    relay: RedisFrameRelay | None = None,
) -> dict[str, Connector]:
    """The live connectors, by channel name (the name is also the URL segment: `/channels/<name>/...`).

    `state` is what the connectors remember about customers and provider messages (the hub passes its
    database-backed one; default: in memory, forgotten at restart). `on_status(message_id, provider_id,
    status, error_code)` hears every provider status callback (message_id is the hub's stored message id,
    or None when the provider message is unknown).
    """
    wanted = [c.strip().lower() for c in settings.enabled_channels if c.strip()]
    unknown = sorted(set(wanted) - set(FACTORIES))
    if unknown:
        raise ChannelConfigError(f"unknown channel(s) in ENABLED_CHANNELS: {', '.join(unknown)}; "
                                 f"known: {', '.join(FACTORIES)}")
    ctx = BuildContext(settings, on_message, web_history, state if state is not None else MemoryChannelState(),
                       on_status, relay)
    connectors: dict[str, Connector] = {}
    for name in ["web", *wanted]:
        if name not in connectors:
            connectors[name] = FACTORIES[name](ctx)
    log.info("channels enabled: %s", ", ".join(connectors))
    return connectors
