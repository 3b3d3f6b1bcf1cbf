"""The channel-neutral message types and the `Connector` interface every channel implements.

A connector turns a channel's inbound requests into `InboundMessage`s and hands them to an injected
`InboundHandler` (the hub's router); it never imports the router. Outbound, the hub calls `deliver()`,
which owns retries with exponential backoff so that channel modules only implement `send()`.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.routing import BaseRoute

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass
class InboundMessage:
    """What a customer sent, in channel-neutral form."""

    channel: str
    external_user_id: str  # who wrote, as the channel names them (chat id, phone number, visitor id)
    text: str
    external_id: str | None = None  # the provider's message id: replays carrying it are answered once
    kind: str = "text"  # text | button | media | location | contact
    payload: dict[str, Any] = field(default_factory=dict)  # button payload, media URLs, coordinates…
    language_hint: str | None = None  # e.g. Telegram's language_code or the browser's language
    customer_name: str | None = None


@dataclass
class OutboundMessage:
    """What the hub sends to a customer: a bot, agent or system turn."""

    text: str
    sender: str = "bot"  # bot | agent | system
    sender_name: str | None = None
    buttons: list[Button] = field(default_factory=list)
    media_urls: list[str] = field(default_factory=list)
    message_id: str | None = None  # the hub's stored message id
    language: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. {"event": "agent_joined"}


@dataclass(frozen=True)
class DeliveryResult:
    status: str  # sent | delivered | stored (kept for the customer's next visit) | failed
    provider_id: str | None = None
    detail: str = ""
    retryable: bool = False  # for "failed": would a later attempt have a chance (channel down, rate limit)?


class ChannelError(Exception):
    """Any failure talking to a channel."""


class DeliveryError(ChannelError):
    """An outbound message did not go through. `retry_after` (seconds) is honoured when the channel sets it."""

    def __init__(self, message: str, *, retryable: bool = True, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class MessageRejected(Exception):
    """A customer message the hub will not take (nothing is stored); `code` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class InboundHandler(Protocol):
    """The hub's entry point for customer messages; raises `MessageRejected` for a message it refuses."""

    async def __call__(self, message: InboundMessage) -> Any: ...


def split_text(text: str, limit: int) -> list[str]:
    """Split a message longer than a channel's limit, on line or word boundaries where possible."""
    chunks: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut < limit // 2:
            cut = text.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
        chunks.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        chunks.append(text)
    return chunks


class Connector(abc.ABC):
    """One channel. Subclasses set `name`, implement `send()`, and expose inbound webhooks via `routes()`."""

    name: str = ""
    max_attempts: int = 4
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0

    def __init__(self, on_message: InboundHandler) -> None:
        self.on_message = on_message

    def routes(self) -> list[BaseRoute]:
        """Starlette routes the hub mounts under `/channels/<name>`."""
        return []

    async def start(self) -> None:
        """Called once when the hub starts (e.g. register a webhook, start polling)."""

    async def stop(self) -> None:
        """Called once when the hub stops."""

    @abc.abstractmethod
    async def send(self, recipient: str, message: OutboundMessage) -> DeliveryResult:
        """Send one message to `recipient` (the channel's user id). Raise `DeliveryError` on failure."""

    async def deliver(self, recipient: str, message: OutboundMessage) -> DeliveryResult:
        """`send()` with retries and exponential backoff (with jitter); never raises."""
        delay = self.backoff_base_s
        for attempt in range(1, self.max_attempts + 1):
            try:
                return await self.send(recipient, message)
            except DeliveryError as exc:
                if not exc.retryable or attempt == self.max_attempts:
                    log.error("%s: giving up on message %s after %d attempt(s): %s",
                              self.name, message.message_id, attempt, exc)
                    return DeliveryResult("failed", detail=str(exc), retryable=exc.retryable)
                wait = exc.retry_after if exc.retry_after is not None else delay * (1 + random.random() / 4)
                log.warning("%s: attempt %d failed (%s); retrying in %.1fs", self.name, attempt, exc, wait)
                await asyncio.sleep(min(wait, self.backoff_max_s))
                delay = min(delay * 2, self.backoff_max_s)
            except Exception as exc:  # a bug in a connector must not take the router down
                log.exception("%s: unexpected error sending message %s", self.name, message.message_id)
                return DeliveryResult("failed", detail=repr(exc))
        return DeliveryResult("failed", detail="no attempt made")
