"""The hub's ASGI app factory: `uvicorn --factory bot.app:create_app`."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import Mount, Router as StarletteRouter

from bot.agent_api import admin_api, auth_api
from bot.agent_api import api as agent_api
from core.settings import HubSettings
from bot.console.accounts import AgentStore
from bot.console.pages import pages as console_pages
from bot.db import make_engine, migrate
from bot.delivery.channel_state import SqlChannelState
from bot.demo_shop import shop
from bot.events import EventBus
from bot.health import check_database, check_rasa, check_tracker_store
from bot.logging_setup import configure_logging
from bot.metrics import Metrics
from bot.rasa_client import RasaClient
from bot.router import NotAllowed, Router, UnknownTarget, conversation_view, message_view
from bot.routing import HandoffConfig, Presence
from bot.store import AsyncStore, ConversationStore, InvalidTransition, NotFound
from bot.webhooks import WebhookSender
from connectors.base import Connector, InboundMessage, MessageRejected
from connectors.registry import build_connectors

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"


def create_app(settings: HubSettings | None = None, *, rasa: RasaClient | None = None) -> FastAPI:
    """Build the hub. Dependencies are injected so tests can point them at their own servers."""
    settings = settings or HubSettings.from_env()
    configure_logging(settings.log_level)

    engine = make_engine(settings.db_url)
    migrate(engine)
    store = AsyncStore(ConversationStore(engine))
    events = EventBus()
    metrics = Metrics()
    rasa = rasa or RasaClient(settings.rasa_endpoints, timeout_s=settings.rasa_timeout_s, retries=settings.rasa_retries)
    accounts = AgentStore(engine)
    if settings.admin_email:  # the first admin, from ADMIN_EMAIL / ADMIN_PASSWORD
        accounts.ensure_admin(settings.admin_email, settings.admin_password.get_secret_value(), settings.admin_display_name)
    handoff_config = HandoffConfig.load(settings.handoff_config)
    webhooks = WebhookSender(settings.webhook_urls, settings.webhook_secret.get_secret_value(),
                             max_attempts=settings.webhook_max_attempts)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for connector in connectors.values():
            await connector.start()
        log.info("hub ready on %s; channels live: %s", settings.hub_url, ", ".join(sorted(connectors)))
        app.state.router.delivery.start()  # also resumes messages left undelivered by a previous run
        background = [asyncio.create_task(_queue_ticker(app.state.router, settings.queue_tick_s))]
        if webhooks.enabled:
            background.append(asyncio.create_task(webhooks.run(events)))
        yield
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await webhooks.drain(timeout_s=2)
        await webhooks.aclose()
        for connector in connectors.values():
            await connector.stop()
        await app.state.router.drain()
        await app.state.router.delivery.stop()
        await rasa.aclose()
        engine.dispose()

    app = FastAPI(
        title="Support bot hub",
        version="0.1.0",
        description="Channels, conversation routing, human handoff and the agent API.",
        lifespan=lifespan,
    )

    async def on_message(message: InboundMessage) -> Any:
        return await app.state.router.handle_inbound(message)

    async def web_history(visitor: str, after_seq: int) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        found = await store.latest("web", visitor)
        if found is None:
            return None, []
        messages = await store.messages(found.id, after_seq=after_seq)
        return conversation_view(found), [message_view(m) for m in messages]

    async def on_status(message_id: str | None, provider_id: str, status: str, error_code: str | None) -> None:
        """A provider's delivery callback (queued/sent/delivered/read/failed): shown to agents on the message."""
        if message_id and await store.record_delivery(message_id, status):
            events.publish("delivery", message_id=message_id, status=status, error_code=error_code)

    connectors: dict[str, Connector] = build_connectors(
        settings, on_message, web_history=web_history, state=SqlChannelState(engine), on_status=on_status
    )
    router = Router(store=store, rasa=rasa, connectors=connectors, events=events, metrics=metrics, settings=settings,
                    config=handoff_config, presence=Presence())
    app.state.settings = settings
    app.state.engine = engine
    app.state.store = store
    app.state.events = events
    app.state.metrics = metrics
    app.state.rasa = rasa
    app.state.router = router
    app.state.accounts = accounts
    app.state.webhooks = webhooks
    app.state.connectors = connectors

    for name, connector in connectors.items():
        app.router.routes.append(Mount(f"/channels/{name}", app=StarletteRouter(routes=connector.routes())))
    app.include_router(auth_api)
    app.include_router(agent_api)
    app.include_router(admin_api)
    app.include_router(console_pages)
    if settings.demo_shop:
        app.include_router(shop)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _install_error_handlers(app)

    @app.get("/", include_in_schema=False)
    async def index() -> RedirectResponse:
        return RedirectResponse("/chat")

    @app.get("/chat", include_in_schema=False)
    async def chat_page() -> HTMLResponse:
        return HTMLResponse((STATIC_DIR / "chat.html").read_text(encoding="utf-8"))

    @app.get("/health/live", tags=["ops"], summary="The hub process is up (no dependency checks)")
    async def live() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/health", tags=["ops"], summary="Hub, database, Rasa and Rasa tracker-store health")
    async def health() -> JSONResponse:
        db = check_database(engine)
        rasa_status = await check_rasa(rasa)
        tracker = await anyio.to_thread.run_sync(check_tracker_store, settings.tracker_store_url)
        ok = db["ok"] and rasa_status["ok"] and tracker["ok"]
        detector = router.language_detector
        body = {"ok": ok, "database": db, "rasa": rasa_status, "tracker_store": tracker,
                "channels": sorted(connectors),
                # the language models load in the background at start (seconds); not a reason to be unhealthy
                "language": {"detector": detector.loaded, "unsupported_check": detector.wide_loaded}}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    async def metrics_endpoint() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    return app


async def _queue_ticker(router: Router, every_s: float) -> None:
    """Auto-assignment and growing-wait notices, every `every_s` seconds."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await router.queue_tick()
        except Exception:  # noqa: BLE001 - the next tick tries again
            log.exception("queue tick failed")


def _install_error_handlers(app: FastAPI) -> None:
    """One place that maps domain errors to HTTP answers."""

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"error": "not_found", "detail": str(exc)}, status_code=404)

    @app.exception_handler(InvalidTransition)
    async def conflict(_: Request, exc: InvalidTransition) -> JSONResponse:
        return JSONResponse({"error": "conflict", "detail": str(exc), "status": exc.current}, status_code=409)

    @app.exception_handler(UnknownTarget)
    async def unknown_target(_: Request, exc: UnknownTarget) -> JSONResponse:
        return JSONResponse({"error": "not_found", "detail": str(exc)}, status_code=404)

    @app.exception_handler(NotAllowed)
    async def not_allowed(_: Request, exc: NotAllowed) -> JSONResponse:
        return JSONResponse({"error": "conflict", "detail": str(exc)}, status_code=409)

    @app.exception_handler(MessageRejected)
    async def rejected(_: Request, exc: MessageRejected) -> JSONResponse:
        code = 413 if exc.code == "message_too_long" else 422
        return JSONResponse({"error": exc.code, "detail": str(exc)}, status_code=code)
