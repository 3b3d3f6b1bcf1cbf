"""The agent console: the page (`GET /console`) and its live-update socket (`/console/ws`).

The socket authenticates with the console session cookie (a browser sends it with the upgrade request) and
checks the Origin against the hub's own host, so another site cannot open it with the agent's cookie. It
pushes the EventBus events agents need (queued, assigned, resolved, handed_back, message, note, csat); the page
fetches details through the REST API. While the socket is open the agent counts as online (auto-assignment).
Private notes and transcripts never go to the customer channel; this socket is for logged-in agents only.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket
from fastapi.responses import HTMLResponse
from starlette.websockets import WebSocketDisconnect

from bot.console.auth import COOKIE, session_actor

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
FORWARDED = frozenset({"queued", "assigned", "resolved", "handed_back", "message", "note", "csat"})

pages = APIRouter(include_in_schema=False)


@pages.get("/console")
async def console_page() -> HTMLResponse:
    html = (STATIC_DIR / "console.html").read_text(encoding="utf-8")
    return HTMLResponse(html, headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                       "Content-Security-Policy": "default-src 'self'; connect-src 'self' ws: wss:; "
                                                                  "frame-ancestors 'none'"})


def _same_origin(ws: WebSocket) -> bool:
    origin = ws.headers.get("origin")
    if not origin:
        return True  # not a browser (browsers always send Origin on WebSocket upgrades)
    return urlsplit(origin).netloc == ws.headers.get("host", "")


@pages.websocket("/console/ws")
async def console_socket(ws: WebSocket) -> None:
    app = ws.app
    actor = session_actor(ws, ws.cookies.get(COOKIE))  # type: ignore[arg-type]
    if actor is None or not _same_origin(ws):
        await ws.close(code=4401 if actor is None else 4403)
        return
    await ws.accept()
    router = app.state.router
    record = app.state.accounts.get(actor.agent_id) if actor.agent_id is not None else None
    router.presence.connect(actor.key, actor.display_name, tuple(record.teams or []) if record else (),
                            record.max_concurrent if record else 3)
    async with app.state.events.subscribe() as q:
        await ws.send_json({"type": "hello", "agent": {"key": actor.key, "display_name": actor.display_name,
                                                       "role": actor.role}})
        asyncio.get_running_loop().create_task(_dispatch_soon(router))

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
            router.presence.disconnect(actor.key)


async def _dispatch_soon(router) -> None:  # type: ignore[no-untyped-def]
    """An agent came online: auto-assign what waits for them (teams with auto_assign on)."""
    try:
        await router.dispatch()
    except Exception:  # noqa: BLE001
        log.exception("auto-assignment after an agent connected failed")
