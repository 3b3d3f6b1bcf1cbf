"""The agent console: the page (`GET /console`) and its live-update socket (`/console/ws`).

The socket authenticates with the console session cookie (a browser sends it with the upgrade request) and
checks the Origin against the hub's own host, so another site cannot open it with the agent's cookie. It
pushes the event-bus events agents need (queued, assigned, resolved, handed_back, message, note, csat); the page
fetches details through the REST API. While the socket is open the agent counts as online (auto-assignment).
Private notes and transcripts never go to the customer channel; this socket is for logged-in agents only.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket
from fastapi.responses import HTMLResponse
from starlette.websockets import WebSocketDisconnect

from bot.agents.auth import COOKIE
from bot.pages import staff_page

if TYPE_CHECKING:
    from bot.container import Container

log = logging.getLogger(__name__)

FORWARDED = frozenset({"queued", "assigned", "resolved", "handed_back", "message", "note", "csat"})

def build_console(c: "Container") -> APIRouter:
    """The console page and its live socket."""
    pages = APIRouter(include_in_schema=False)

    @pages.get("/console")
    async def console_page() -> HTMLResponse:
        return staff_page("console.html")

    @pages.websocket("/console/ws")
    async def console_socket(ws: WebSocket) -> None:
        actor = c.auth.session_actor(ws.cookies.get(COOKIE))
        if actor is None or not _same_origin(ws):
            await ws.close(code=4401 if actor is None else 4403)
            return
        await ws.accept()
        record = c.accounts.get(actor.agent_id) if actor.agent_id is not None else None
        teams, capacity = (tuple(record.teams or []) if record else ()), (record.max_concurrent if record else 3)
        await c.presence.connect(actor.key, actor.display_name, teams, capacity)
        async with c.bus.subscribe() as q:
            await ws.send_json({"type": "hello", "agent": {"key": actor.key, "display_name": actor.display_name,
                                                           "role": actor.role}})
            # An agent came online: auto-assign what waits for them (teams with auto_assign on).
            background = asyncio.create_task(c.bus.emit("agent_online", agent=actor.key))

            async def pump() -> None:
                while True:
                    event = await q.get()
                    if event.get("type") in FORWARDED:
                        await ws.send_json(event)

            async def listen() -> None:
                while True:
                    msg = await ws.receive()
                    if msg.get("type") == "websocket.disconnect":
                        return
                    # {"type":"ping"} keeps proxies from closing an idle socket; anything else is ignored.
                    if msg.get("text") and '"ping"' in msg["text"]:
                        await ws.send_json({"type": "pong"})

            pump_task = asyncio.create_task(pump())
            try:
                await listen()
            except (WebSocketDisconnect, RuntimeError):
                pass
            finally:
                pump_task.cancel()
                await asyncio.gather(background, return_exceptions=True)
                await c.presence.disconnect(actor.key)

    return pages


def _same_origin(ws: WebSocket) -> bool:
    origin = ws.headers.get("origin")
    if not origin:
        return True  # not a browser (browsers always send Origin on WebSocket upgrades)
    return urlsplit(origin).netloc == ws.headers.get("host", "")
