"""The web chat channel: a WebSocket that the widget (`bot/static/widget.js`) talks to.

Protocol (JSON text frames):
  client → {"type": "hello", "token": "<from an earlier welcome, optional>", "language": "it-IT", "after_seq": 0}
  server → {"type": "welcome", "token": "...", "conversation": {...} | null, "history": [messages]}
  client → {"type": "message", "text": "...", "client_id": "<uuid: a resend with the same id is answered once>"}
  client → {"type": "button", "title": "...", "payload": "/choose_kb_entry{...}", "client_id": "..."}
  server → {"type": "ack", "client_id": "...", "message_id": "...", "duplicate": false}
  server → {"type": "message", ...stored message..., "html": "<p>…</p>"}   (html: the Markdown rendered, not for
            the customer's own messages)
  server → {"type": "error", "code": "bad_json|unknown_type|message_too_long|empty_message|hello_first|frame_too_large",
            "message": "...", "client_id": "..."}
The visitor token is signed by the hub, so a visitor cannot read someone else's conversation by guessing ids.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import defaultdict
from typing import Any, Awaitable, Callable

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from connectors.base import Connector, DeliveryResult, InboundHandler, InboundMessage, MessageRejected, OutboundMessage
from connectors.relay import RedisFrameRelay
from connectors.state import ChannelState, MemoryChannelState
from core.markdown import to_html

log = logging.getLogger(__name__)


def rendered_html(sender: str | None, text: str | None) -> str | None:
    """What the widget shows for a message: the bot's, an agent's or the hub's Markdown as safe HTML (links open
    in a new tab); a customer's own words are shown as typed (None)."""
    return to_html(text or "") if sender != "customer" and text else None

# (visitor id, after_seq) → (conversation dict or None, messages as dicts)
HistoryLoader = Callable[[str, int], Awaitable[tuple[dict[str, Any] | None, list[dict[str, Any]]]]]


class WebChatConnector(Connector):
    name = "web"
    max_attempts = 1  # a socket send either works now or the message waits in history for the next visit

    def __init__(
        self,
        on_message: InboundHandler,
        *,
        history: HistoryLoader,
        secret: str,
        max_frame_bytes: int = 64 * 1024,
        allowed_origins: tuple[str, ...] = (),
        token_max_age_s: int = 30 * 24 * 3600,
        state: ChannelState | None = None,
        relay: RedisFrameRelay | None = None,
    ) -> None:
        super().__init__(on_message)
        self.history = history
        self.max_frame_bytes = max_frame_bytes
        self.allowed_origins = tuple(o.rstrip("/") for o in allowed_origins)
        self.token_max_age_s = token_max_age_s
        self.state = state or MemoryChannelState()
        self.relay = relay
        # Signed with the hub's secret and dated: a token expires, and can be revoked (`revoke`).
        self._signer = URLSafeTimedSerializer(secret, salt="webchat-visitor-v2")
        self._sockets: dict[str, set[WebSocket]] = defaultdict(set)

    def routes(self) -> list[BaseRoute]:
        return [WebSocketRoute("/ws", self.websocket)]

    def connected(self, visitor: str) -> int:
        return len(self._sockets.get(visitor, ()))

    async def start(self) -> None:
        if self.relay is not None:
            await self.relay.start(self._relayed)

    async def stop(self) -> None:
        if self.relay is not None:
            await self.relay.stop()

    async def send(self, recipient: str, message: OutboundMessage) -> DeliveryResult:
        frame = {
            "type": "message",
            "id": message.message_id,
            "sender": message.sender,
            "sender_name": message.sender_name,
            "text": message.text,
            "html": rendered_html(message.sender, message.text),
            "buttons": [{"title": b.title, "payload": b.payload} for b in message.buttons],
            "media_urls": message.media_urls,
            "event": message.extra.get("event"),
            "language": message.language,
        }
        delivered = await self._send_local(recipient, frame)
        if self.relay is not None:  # the visitor may also (or only) have a socket on another hub process
            delivered += await self.relay.publish(recipient, frame, sent_here=True)
        return DeliveryResult("delivered" if delivered else "stored",
                              detail="" if delivered else "visitor offline; shown when they come back")

    async def _send_local(self, visitor: str, frame: dict[str, Any]) -> int:
        delivered = 0
        for ws in list(self._sockets.get(visitor, ())):
            try:
                await ws.send_json(frame)
                delivered += 1
            except Exception:  # the socket died between our check and the send
                self._sockets[visitor].discard(ws)
        return delivered

    async def _relayed(self, visitor: str, frame: dict[str, Any]) -> None:
        """A frame for a visitor connected here, from whichever hub process sent it."""
        if frame.get("type") == "__revoke__":
            await self._close_local(visitor)
        else:
            await self._send_local(visitor, frame)

    async def _visitor_from_token(self, token: Any) -> str | None:
        """The visitor a token names, if it is genuine, not expired and not revoked (else a new visitor)."""
        if not isinstance(token, str) or not token:
            return None
        try:
            visitor, issued = self._signer.loads(token, max_age=self.token_max_age_s, return_timestamp=True)
        except BadSignature:  # forged, from another secret, or expired (SignatureExpired is a BadSignature)
            return None
        if not isinstance(visitor, str):
            return None
        revoked = await self.state.tokens_revoked_at(visitor)
        if revoked is not None and issued <= revoked:
            log.info("web chat: refused a revoked token")
            return None
        return visitor

    async def revoke(self, visitor: str) -> int:
        """Refuse the visitor's tokens from now on and close their open chats; returns how many were open."""
        await self.state.revoke_tokens(visitor)
        if self.relay is not None:
            return await self.relay.publish(visitor, {"type": "__revoke__"})
        return await self._close_local(visitor)

    async def _close_local(self, visitor: str) -> int:
        sockets = list(self._sockets.pop(visitor, ()))
        for ws in sockets:
            try:
                await ws.close(code=4401, reason="signed out")
            except Exception:  # already gone
                pass
        return len(sockets)

    async def websocket(self, ws: WebSocket) -> None:
        # Browsers always send Origin, so the allow-list stops other websites from embedding the chat.
        # Clients that send none (server-side integrations, tests) are not browsers: the list is not authentication.
        origin = (ws.headers.get("origin") or "").rstrip("/")
        if self.allowed_origins and origin and origin not in self.allowed_origins:
            log.warning("web chat: refused origin %r", origin)
            await ws.accept()  # closing after the handshake lets the widget read the reason (before it: a bare 403)
            await ws.close(code=1008, reason="origin not allowed")
            return
        await ws.accept()
        visitor: str | None = None
        language: str | None = None
        try:
            while True:
                raw = await ws.receive()
                if raw.get("type") == "websocket.disconnect":
                    break
                data = raw.get("text")
                if data is None:
                    data = (raw.get("bytes") or b"").decode("utf-8", errors="replace")
                if len(data.encode("utf-8")) > self.max_frame_bytes:
                    await _error(ws, "frame_too_large",
                                 f"That message is too large ({len(data.encode())} bytes); the limit is "
                                 f"{self.max_frame_bytes} bytes. Please send a shorter message.")
                    continue
                try:
                    frame = json.loads(data)
                    if not isinstance(frame, dict):
                        raise ValueError("not an object")
                except ValueError:
                    await _error(ws, "bad_json", "Frames must be JSON objects.")
                    continue
                kind = frame.get("type")
                if kind == "hello":
                    if visitor is not None:
                        self._sockets[visitor].discard(ws)
                        if self.relay is not None:
                            await self.relay.forget(visitor)
                    visitor = await self._visitor_from_token(frame.get("token")) or uuid.uuid4().hex
                    language = frame.get("language") if isinstance(frame.get("language"), str) else None
                    self._sockets[visitor].add(ws)
                    if self.relay is not None:
                        await self.relay.listen(visitor)
                    after = frame.get("after_seq") if isinstance(frame.get("after_seq"), int) else 0
                    conversation, messages = await self.history(visitor, after)
                    await ws.send_json({
                        "type": "welcome",
                        "token": self._signer.dumps(visitor),
                        "conversation": conversation,
                        "history": messages,
                    })
                elif kind in ("message", "button"):
                    if visitor is None:
                        await _error(ws, "hello_first", "Send a hello frame first.")
                        continue
                    await self._inbound(ws, visitor, language, frame)
                else:
                    await _error(ws, "unknown_type", f"Unknown frame type {kind!r}.")
        except WebSocketDisconnect:
            pass
        finally:
            if visitor is not None:
                self._sockets[visitor].discard(ws)
                if not self._sockets[visitor]:
                    self._sockets.pop(visitor, None)
                if self.relay is not None:
                    await self.relay.forget(visitor)

    async def _inbound(self, ws: WebSocket, visitor: str, language: str | None, frame: dict[str, Any]) -> None:
        client_id = frame.get("client_id") if isinstance(frame.get("client_id"), str) else None
        text = frame.get("text") if frame.get("type") == "message" else frame.get("title")
        if not isinstance(text, str):
            await _error(ws, "bad_frame", "A message frame needs a text string.", client_id)
            return
        msg = InboundMessage(
            channel=self.name,
            external_user_id=visitor,
            text=text,
            external_id=client_id[:200] if client_id else None,
            kind="button" if frame.get("type") == "button" else "text",
            payload={"payload": str(frame.get("payload") or "")} if frame.get("type") == "button" else {},
            language_hint=language,
        )
        try:
            result = await self.on_message(msg)
        except MessageRejected as exc:
            await _error(ws, exc.code, str(exc), client_id)
            return
        except Exception:
            log.exception("web chat: message from %s failed", visitor)
            await _error(ws, "internal_error", "Sorry, something went wrong. Please try again.", client_id)
            return
        if ws.application_state == WebSocketState.CONNECTED:
            await ws.send_json({
                "type": "ack",
                "client_id": client_id,
                "message_id": getattr(result, "message_id", None),
                "conversation_id": getattr(result, "conversation_id", None),
                "duplicate": bool(getattr(result, "duplicate", False)),
            })


async def _error(ws: WebSocket, code: str, message: str, client_id: str | None = None) -> None:
    await ws.send_json({"type": "error", "code": code, "message": message, "client_id": client_id})
