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
from connectors.media import MediaStore
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
    media: MediaStore | None = None
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
        state=ctx.state, media=ctx.media,
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
            sms_max_segments=s.sms_max_segments,
        )

    return build


def _meta(ctx: BuildContext, channel: str, token_setting: str, *required: str) -> dict[str, object]:
    """What both Meta channels are built with (one app: its secret and verify token)."""
    from connectors.meta.graph import GraphClient

    s = ctx.settings
    _require(s, channel, "meta_app_secret", "meta_verify_token", token_setting, *required)
    graph = GraphClient(token=getattr(s, token_setting).get_secret_value(), service=channel,
                        base_url=s.meta_graph_base_url or None, version=s.meta_graph_version)
    return dict(app_secret=s.meta_app_secret.get_secret_value(), verify_token=s.meta_verify_token.get_secret_value(),
                graph=graph, state=ctx.state, media=ctx.media, max_media_bytes=s.max_media_bytes,
                on_status=ctx.on_status, default_language=s.default_language)


def _messenger(ctx: BuildContext) -> Connector:
    from connectors.messenger.connector import MessengerConnector

    return MessengerConnector(ctx.on_message, **_meta(ctx, "messenger", "messenger_page_token"))  # type: ignore[arg-type]


def _whatsapp_cloud(ctx: BuildContext) -> Connector:
    from connectors.whatsapp_cloud.connector import WhatsAppCloudConnector

    s = ctx.settings
    return WhatsAppCloudConnector(
        ctx.on_message, **_meta(ctx, "whatsapp_cloud", "whatsapp_cloud_token", "whatsapp_cloud_phone_number_id"),  # type: ignore[arg-type]
        phone_number_id=s.whatsapp_cloud_phone_number_id, template=s.whatsapp_cloud_template,
        template_language=s.whatsapp_cloud_template_language)


def _email(ctx: BuildContext) -> Connector:
    from connectors.email.connector import EmailConnector, ImapSettings, SmtpSettings

    s = ctx.settings
    _require(s, "email", "email_from", "smtp_host", "email_inbound_secret")
    if "@" not in s.email_from:
        raise ChannelConfigError(f"EMAIL_FROM must be an e-mail address, got {s.email_from!r}")
    security = s.smtp_security.strip().lower()
    if security not in ("starttls", "tls", "none"):
        raise ChannelConfigError(f"SMTP_SECURITY must be starttls, tls or none, got {s.smtp_security!r}")
    imap = None
    if s.imap_host:
        _require(s, "email (IMAP)", "imap_username", "imap_password")
        if s.imap_security not in ("tls", "none"):
            raise ChannelConfigError(f"IMAP_SECURITY must be tls or none, got {s.imap_security!r}")
        imap = ImapSettings(s.imap_host, s.imap_port, s.imap_username, s.imap_password.get_secret_value(),
                            s.imap_folder, s.imap_poll_s, s.imap_security)
    return EmailConnector(
        ctx.on_message, address=s.email_from, display_name=s.email_from_name,
        smtp=SmtpSettings(s.smtp_host, s.smtp_port, security, s.smtp_username, s.smtp_password.get_secret_value()),
        inbound_secret=s.email_inbound_secret.get_secret_value(), public_base_url=s.public_base_url,
        unsubscribe_secret=s.session_secret.get_secret_value(), state=ctx.state, media=ctx.media,
        max_media_bytes=s.max_media_bytes, max_outbound_bytes=s.max_outbound_email_bytes, imap=imap,
        default_language=s.default_language)


FACTORIES: dict[str, Callable[[BuildContext], Connector]] = {
    "web": _web,
    "telegram": _telegram,
    "whatsapp": _twilio("whatsapp", "twilio_whatsapp_from"),
    "sms": _twilio("sms", "twilio_sms_from"),
    "messenger": _messenger,
    "whatsapp_cloud": _whatsapp_cloud,
    "email": _email,
}


# Channels whose messages can wait in the outbox for the customer's next message (a closed 24-hour window).
PARKING_CHANNELS = frozenset({"whatsapp", "whatsapp_cloud", "messenger"})


def build_connectors(
    settings: ChannelSettings,
    on_message: InboundHandler,
    *,
    web_history: HistoryLoader,
    state: ChannelState | None = None,
    on_status: StatusHook | None = None,
    media: MediaStore | None = None,
    relay: RedisFrameRelay | None = None,
) -> dict[str, Connector]:
    """The live connectors, by channel name (the name is also the URL segment: `/channels/<name>/...`).

    `state` is what the connectors remember about customers and provider messages (the hub passes its
    database-backed one; default: in memory, forgotten at restart). `on_status(message_id, provider_id,
    status, error_code)` hears every provider status callback (message_id is the hub's stored message id,
    or None when the provider message is unknown). `media` keeps customers' files for agents (default: not kept).
    """
    wanted = [c.strip().lower() for c in settings.enabled_channels if c.strip()]
    unknown = sorted(set(wanted) - set(FACTORIES))
    if unknown:
        raise ChannelConfigError(f"unknown channel(s) in ENABLED_CHANNELS: {', '.join(unknown)}; "
                                 f"known: {', '.join(FACTORIES)}")
    ctx = BuildContext(settings, on_message, web_history, state if state is not None else MemoryChannelState(),
                       on_status, media, relay)
    connectors: dict[str, Connector] = {}
    for name in ["web", *wanted]:
        if name not in connectors:
            connectors[name] = FACTORIES[name](ctx)
    log.info("channels enabled: %s", ", ".join(connectors))
    return connectors
