"""The channel-neutral message types and the `Connector` interface every channel implements.

A connector turns a channel's inbound requests into `InboundMessage`s and hands them to an injected
`InboundHandler` (the hub's router); it never imports the router. Outbound, the hub calls `deliver()`.

The base class owns every retry, on tenacity through `core.errors.retrying()`:

- `deliver()` retries `send()` a few times within seconds (exponential backoff with jitter, a provider's
  Retry-After honoured, a `Permanent` refusal never repeated) and never raises;
- `keep_trying()` repeats start-up and polling calls (Telegram's getMe, setWebhook, getUpdates) until they
  work, the connector stops, or the provider refuses for good.

Channel failures are the `core.errors` taxonomy (`Retryable`, `RateLimited`, `Unconfirmed`, `Permanent`). A
channel maps its library's exceptions in one function and names it in `call_error()`; `send()` simply lets
the library's exceptions through.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from starlette.routing import BaseRoute
from tenacity import RetryCallState, stop_when_event_set

from core.errors import CallError, Unconfirmed, retrying

log = logging.getLogger(__name__)

T = TypeVar("T")
P = TypeVar("P")


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

    def signed_text(self) -> str:
        """The text as channels without a sender field show it: an agent's name goes in front."""
        if self.sender == "agent" and self.sender_name and self.text:
            return f"{self.sender_name}: {self.text}"
        return self.text or ""


@dataclass(frozen=True)
class DeliveryResult:
    """What became of one outbound message; the hub's delivery queue reads it.

    `status`: sent | delivered | stored (the web chat keeps it for the visitor's next visit) | parked (WhatsApp:
    outside the customer's 24-hour window; the queue holds the message until the customer writes again) | failed.
    """

    status: str
    provider_id: str | None = None
    detail: str = ""
    retryable: bool = False  # for "failed": would a later attempt have a chance (channel down, rate limit)?


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
    """One channel. Subclasses set `name`, implement `send()`, expose inbound webhooks via `routes()`, and
    name their library's error mapper in `call_error()`."""

    name: str = ""
    max_attempts: int = 4  # tries of one `deliver()`; the hub's delivery queue adds later rounds
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    # A message that may already have reached the provider (a timeout after sending) is sent again: a customer
    # reading an answer twice is better than one never getting it.
    resend_unconfirmed: bool = True

    def __init__(self, on_message: InboundHandler) -> None:
        self.on_message = on_message
        self._stopping = asyncio.Event()
        self._parts_sent: OrderedDict[str, dict[int, str | None]] = OrderedDict()

    def routes(self) -> list[BaseRoute]:
        """Starlette routes the hub mounts under `/channels/<name>`."""
        return []

    async def start(self) -> None:
        """Called once when the hub starts (e.g. register a webhook, start polling). Subclasses call super()."""
        self._stopping.clear()

    async def stop(self) -> None:
        """Called once when the hub stops; ends `keep_trying()` loops. Subclasses call super() first."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @abc.abstractmethod
    async def send(self, recipient: str, message: OutboundMessage) -> DeliveryResult:
        """Send one message to `recipient` (the channel's user id). Failures raise a `CallError`, or the
        library's own exception when `call_error()` maps it."""

    def call_error(self, exc: Exception) -> CallError | None:
        """The taxonomy error for an exception of the channel's library; None for anything else (a bug)."""
        return exc if isinstance(exc, CallError) else None

    # -- retries -------------------------------------------------------------------------------

    async def deliver(self, recipient: str, message: OutboundMessage) -> DeliveryResult:
        """`send()` with up to `max_attempts` tries (exponential backoff with jitter, Retry-After honoured, a
        `Permanent` refusal tried once); never raises."""
        try:
            async for attempt in retrying(attempts=self.max_attempts, base_s=self.backoff_base_s,
                                          max_s=self.backoff_max_s, retry_on=self._resend,
                                          what=f"{self.name}: message {message.message_id}"):
                with attempt:
                    result = await self._mapped(lambda: self.send(recipient, message))
        except CallError as exc:
            log.error("%s: giving up on message %s: %s", self.name, message.message_id, exc)
            return DeliveryResult("failed", detail=exc.detail, retryable=self._resend(exc))
        except Exception as exc:  # a bug in a connector must not take the router down
            log.exception("%s: unexpected error sending message %s", self.name, message.message_id)
            return DeliveryResult("failed", detail=repr(exc))
        return result

    async def keep_trying(self, what: str, call: Callable[[], Awaitable[T]]) -> T | None:
        """`call()` until it works (its result), the connector stops (None), or the provider refuses for good
        (the `Permanent` error is raised). Backs off up to `backoff_max_s` and waits what a rate limit asks;
        for start-up and polling work, whose calls are safe to repeat."""
        loop = retrying(attempts=1, base_s=self.backoff_base_s, max_s=self.backoff_max_s, what=what,
                        retry_on=lambda exc: isinstance(exc, CallError) and (exc.retryable or isinstance(exc, Unconfirmed)),
                        ).copy(stop=stop_when_event_set(self._stopping), sleep=self._pause,  # type: ignore[arg-type]
                               before_sleep=self._log_retry(what))
        try:
            async for attempt in loop:
                if self.stopping:
                    return None
                with attempt:
                    result = await self._mapped(call)
        except CallError as exc:
            if self.stopping:
                return None
            log.error("%s: %s failed for good: %s", self.name, what, exc)
            raise
        return result

    async def _mapped(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run `call()`, turning the channel library's exceptions into the taxonomy (`call_error()`)."""
        try:
            return await call()
        except CallError:
            raise
        except Exception as exc:
            mapped = self.call_error(exc)
            if mapped is None:
                raise
            raise mapped from exc

    def _resend(self, exc: BaseException) -> bool:
        return isinstance(exc, CallError) and (exc.retryable or (self.resend_unconfirmed and isinstance(exc, Unconfirmed)))

    async def _pause(self, seconds: float) -> None:
        """tenacity's sleep for `keep_trying()`: wakes up as soon as the connector stops."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    def _log_retry(self, what: str) -> Callable[[RetryCallState], None]:
        def log_it(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            log.warning("%s: %s failed (%s); retrying in %.1fs", self.name, what, exc, wait)
        return log_it

    # -- messages in several parts -------------------------------------------------------------

    async def send_parts(self, message: OutboundMessage, parts: Sequence[P],
                         send_one: Callable[[P], Awaitable[str | None]]) -> str | None:
        """Send the parts of one message (long text, media) in order, each once: a retry by `deliver()` after
        a partial failure skips the parts the provider already accepted. Returns the last part's provider id."""
        key = message.message_id or f"obj-{id(message)}"
        done = self._parts_sent.setdefault(key, {})
        self._parts_sent.move_to_end(key)
        while len(self._parts_sent) > 1000:
            self._parts_sent.popitem(last=False)
        for i, part in enumerate(parts):
            if i not in done:
                done[i] = await send_one(part)
        self._parts_sent.pop(key, None)
        return done[max(done)] if done else None

