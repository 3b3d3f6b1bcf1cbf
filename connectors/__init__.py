"""Channel connectors: one interface (`base.Connector`), one module or package per channel."""

from connectors.base import (
    Button,
    Connector,
    DeliveryResult,
    InboundHandler,
    InboundMessage,
    MessageRejected,
    OutboundMessage,
)

__all__ = [
    "Button",
    "Connector",
    "DeliveryResult",
    "InboundHandler",
    "InboundMessage",
    "MessageRejected",
    "OutboundMessage",
]
