"""Channel connectors: one interface (`base.Connector`), one module per channel."""

from connectors.base import (
    Button,
    ChannelError,
    Connector,
    DeliveryError,
    DeliveryResult,
    InboundHandler,
    InboundMessage,
    MessageRejected,
    OutboundMessage,
)

__all__ = [
    "Button",
    "ChannelError",
    "Connector",
    "DeliveryError",
    "DeliveryResult",
    "InboundHandler",
    "InboundMessage",
    "MessageRejected",
    "OutboundMessage",
]
