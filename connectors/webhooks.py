"""Helpers shared by webhook-based connectors (Telegram, Twilio): answering the provider quickly, and what the
hub itself tells customers on these channels (unsupported content, oversized media, group chats).

Why "inline with a deadline": a provider that waits too long retries (Telegram) or gives up and logs an error
(Twilio's 15 s limit). The customer's message is handed to the router in a task the connector keeps; the
webhook waits for it up to `ack_timeout_s`. Usually the router has stored the message and the reply has gone
out by then, so a failure can still be reported to the provider as a 500 (Telegram then re-delivers the update,
and de-duplication by its id keeps the customer from being answered twice). When the bot is slow, the provider
gets its 200 at the deadline and the task finishes on its own; `drain()` waits for such tasks at shutdown.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from typing import Awaitable, Callable

from connectors.base import InboundHandler, InboundMessage, MessageRejected

log = logging.getLogger(__name__)

# What the hub says on messaging channels about content it cannot take. {placeholders} are filled in.
TEXTS: dict[str, dict[str, str]] = {
    "unsupported": {
        "en": "Sorry, I can't read that kind of message. Please write your question as text (photos, documents "
              "and locations are fine too).",
        "it": "Mi dispiace, non riesco a leggere questo tipo di messaggio. Scrivi la tua domanda come testo "
              "(vanno bene anche foto, documenti e posizioni).",
        "zh": "抱歉，我无法读取这类消息。请用文字描述您的问题（也可以发送照片、文件和位置）。",
        "ro": "Îmi pare rău, nu pot citi acest tip de mesaj. Te rog scrie întrebarea ca text (merg și poze, "
              "documente și locații).",
    },
    "group": {
        "en": "Hi! I can only help in a private chat. Please message me directly.",
        "it": "Ciao! Posso aiutarti solo in una chat privata. Scrivimi direttamente.",
        "zh": "您好！我只能在私聊中提供帮助，请直接给我发消息。",
        "ro": "Salut! Pot ajuta doar într-o conversație privată. Te rog scrie-mi direct.",
    },
    "media_too_large": {
        "en": "Sorry, that file is too large ({size_mb} MB). The limit is {limit_mb} MB. Please send a smaller "
              "file or describe the problem in text.",
        "it": "Mi dispiace, il file è troppo grande ({size_mb} MB). Il limite è {limit_mb} MB. Invia un file più "
              "piccolo o descrivi il problema a parole.",
        "zh": "抱歉，该文件太大（{size_mb} MB），上限为 {limit_mb} MB。请发送较小的文件，或用文字描述问题。",
        "ro": "Îmi pare rău, fișierul este prea mare ({size_mb} MB). Limita este {limit_mb} MB. Te rog trimite "
              "un fișier mai mic sau descrie problema în scris.",
    },
    "rejected": {
        "en": "Sorry, I couldn't take that message: {reason}",
        "it": "Mi dispiace, non ho potuto accettare il messaggio: {reason}",
        "zh": "抱歉，无法接收该消息：{reason}",
        "ro": "Îmi pare rău, nu am putut primi mesajul: {reason}",
    },
}


def channel_text(key: str, language: str | None, **values: object) -> str:
    """The text `key` in `language` (falling back to English)."""
    variants = TEXTS[key]
    lang = (language or "en").split("-")[0].lower()
    return variants.get(lang, variants["en"]).format(**values)


@functools.lru_cache(maxsize=1)
def shared_ssl_context() -> ssl.SSLContext:
    """One verified TLS context for every channel HTTP client (loading the CA bundle costs ~0.1 s each time)."""
    return ssl.create_default_context()


def mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".rstrip("0").rstrip(".")


class InboundRunner:
    """Runs customer messages through the router with an answer deadline for the provider; see the module doc."""

    def __init__(self, channel: str, on_message: InboundHandler, *, ack_timeout_s: float) -> None:
        self.channel = channel
        self.on_message = on_message
        self.ack_timeout_s = ack_timeout_s
        self._tasks: set[asyncio.Task[str]] = set()

    async def submit(
        self,
        message: InboundMessage,
        *,
        on_rejected: Callable[[MessageRejected], Awaitable[None]],
        before: Callable[[], Awaitable[None]] | None = None,
    ) -> str:
        """Hand `message` to the router. Returns "done", "duplicate", "rejected" or "pending" (still running
        after the deadline). Raises what the router raised if it failed within the deadline."""
        return await self.run(self.handle(message, on_rejected=on_rejected, before=before))

    async def run(self, work: Awaitable[str]) -> str:
        """Run any inbound work with the same deadline and bookkeeping."""
        task: asyncio.Task[str] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        done, _ = await asyncio.wait({task}, timeout=self.ack_timeout_s)
        if not done:
            log.warning("%s: the bot is slow; answered the provider before the reply went out", self.channel)
            return "pending"
        return task.result()

    def _finished(self, task: asyncio.Task[str]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("%s: inbound message failed: %r", self.channel, exc, exc_info=exc)

    async def handle(
        self,
        message: InboundMessage,
        *,
        on_rejected: Callable[[MessageRejected], Awaitable[None]],
        before: Callable[[], Awaitable[None]] | None = None,
    ) -> str:
        """Hand `message` to the router now (no deadline); a refusal is reported through `on_rejected`."""
        if before is not None:
            await before()
        try:
            result = await self.on_message(message)
        except MessageRejected as exc:
            log.info("%s: message from %s refused (%s)", self.channel, message.external_user_id, exc.code)
            await on_rejected(exc)
            return "rejected"
        return "duplicate" if getattr(result, "duplicate", False) else "done"

    def spawn(self, work: Awaitable[object]) -> None:
        """Fire-and-forget side work (typing indicators, refusals) that `drain()` still waits for."""
        async def wrapped() -> str:
            await work
            return "done"
        task: asyncio.Task[str] = asyncio.ensure_future(wrapped())
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Wait for messages still being processed (at shutdown)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)
