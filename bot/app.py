"""The hub's ASGI app factory: `uvicorn --factory bot.app:create_app`.

Routes, error handlers and the lifespan are declared here; every dependency comes from the composition root
(`bot.container.build_container`), handed to the routers that need it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import Mount, Router as StarletteRouter

from bot.agents.api import build_routers
from bot.api_docs import install_docs
from bot.agents.console import build_console
from bot.agents.media import build_media_router
from bot.clients.actions import ActionServerClient
from bot.clients.rasa import RasaClient
from bot.container import Container, build_container
from bot.demo_shop import shop
from bot.errors import install_error_handlers
from bot.notifications.api import build_notifications_router
from bot.notifications.pages import build_notification_pages
from bot.insights.api import build_insights
from bot.ops import secrets
from bot.ops.health import build_ops
from bot.privacy.api import build_privacy_api
from bot.studio.api import build_studio
from bot.pages import STATIC_DIR
from core.logs import configure_logging
from core.settings import HubSettings


API_DESCRIPTION = """Channels, conversation routing, human handoff and the agent API.

**Authentication.** A console session cookie from `POST /api/auth/login` (state-changing requests also send the
`X-CSRF-Token` header it returned), or `Authorization: Bearer <AGENT_API_TOKEN>` with the acting agent in
`X-Agent`, or `Authorization: Bearer <ADMIN_API_TOKEN>` for everything.

**Errors.** Every 4xx answer is `{"error": <code>, "detail": <what to do>}`; invalid input lists its problems in
`detail`. Ids and limits are range-checked (422), unknown records are 404.
"""


def create_app(settings: HubSettings | None = None, *, rasa: RasaClient | None = None,
               actions: ActionServerClient | None = None) -> FastAPI:
    """Build the hub. `rasa` and `actions` let tests talk to their own Rasa (a scripted transport) and action
    server (the real app over an in-process transport)."""
    settings = secrets.resolve(settings or HubSettings.from_env())
    configure_logging(settings.log_level)
    container = build_container(settings, rasa=rasa, actions=actions)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await container.start()
        try:
            yield
        finally:
            await container.stop()

    app = FastAPI(
        title="Support bot hub",
        version="0.1.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # bot.api_docs serves /docs and /redoc with local assets (offline)
        redoc_url=None,
    )
    app.state.container = container  # for tests and benchmarks; endpoints get their dependencies injected
    _mount(app, container)
    return app


def _mount(app: FastAPI, c: Container) -> None:
    for name, connector in c.connectors.items():
        app.router.routes.append(Mount(f"/channels/{name}", app=StarletteRouter(routes=connector.routes())))
    for router in build_routers(c):
        app.include_router(router)
    app.include_router(build_privacy_api(c))
    app.include_router(build_media_router(c))
    app.include_router(build_notifications_router(c))
    app.include_router(build_notification_pages(c))
    app.include_router(build_console(c))
    for router in build_insights(c):
        app.include_router(router)
    app.include_router(build_ops(c))
    for router in build_studio(c):
        app.include_router(router)
    if c.settings.demo_shop:
        app.include_router(shop)
    install_docs(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    install_error_handlers(app)

    @app.get("/", include_in_schema=False)
    async def index() -> RedirectResponse:
        return RedirectResponse("/chat")

    ancestors = " ".join(["'self'", *c.settings.web_allowed_origins]) if c.settings.web_allowed_origins else "*"
    chat_policy = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                   "img-src 'self' data: https:; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'self'; "
                   f"object-src 'none'; frame-ancestors {ancestors}")

    @app.get("/chat", include_in_schema=False)
    async def chat_page() -> HTMLResponse:
        return HTMLResponse((STATIC_DIR / "chat.html").read_text(encoding="utf-8"),
                            headers={"Content-Security-Policy": chat_policy, "X-Content-Type-Options": "nosniff",
                                     "Referrer-Policy": "no-referrer"})
