"""Health checks of the hub's dependencies: its database, Rasa, and Rasa's tracker store.

Rasa silently falls back to an in-memory tracker store when its SQL database is unreachable (dialogue
state is then lost on restart without any crash), so the hub checks that database itself.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from typing import TYPE_CHECKING, Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import create_engine, inspect, text

from bot.clients.rasa import RasaClient, RasaUnavailable
from bot.errors import responses
from bot.ops.metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from bot.container import Container

log = logging.getLogger(__name__)


def check_database(engine: Any) -> dict[str, Any]:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"ok": True}
    except Exception as exc:  # report, never raise: this feeds /health
        return {"ok": False, "error": str(exc)}


def check_tracker_store(url: str) -> dict[str, Any]:
    """Is Rasa's SQL tracker store reachable, and has Rasa created its `events` table there?"""
    try:
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                has_events = inspect(conn).has_table("events")
        finally:
            engine.dispose()
    except Exception as exc:
        return {"ok": False, "error": f"tracker store unreachable: {exc}"}
    if not has_events:
        return {
            "ok": False,
            "error": "Rasa has not created its events table: it is probably running on an in-memory "
            "tracker store (dialogue state would be lost on restart). Check RASA_TRACKER_STORE_URL.",
        }
    return {"ok": True}


async def check_rasa(rasa: RasaClient) -> dict[str, Any]:
    try:
        status = await rasa.status()
    except RasaUnavailable as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": bool(status.get("model_file")), "model": status.get("model_file"), "model_id": status.get("model_id")}


def _loopback(host: str | None) -> bool:
    try:
        return bool(host) and ipaddress.ip_address(str(host)).is_loopback
    except ValueError:
        return False


def build_ops(c: "Container") -> APIRouter:
    """`/health/live`, `/health` and `/metrics`. The details of `/health` and the metrics are for the operator:
    from loopback (a probe or Prometheus on the machine), or with `Authorization: Bearer <METRICS_TOKEN or
    ADMIN_API_TOKEN>`; anyone else gets only whether the hub is healthy."""
    ops = APIRouter(tags=["ops"])
    tokens = [t for t in (c.settings.metrics_token.get_secret_value(), c.settings.admin_api_token.get_secret_value())
              if t]

    def operator(request: Request) -> bool:
        if _loopback(request.client.host if request.client else None):
            return True
        scheme, _, given = (request.headers.get("authorization") or "").partition(" ")
        return scheme.lower() == "bearer" and any(hmac.compare_digest(given.strip().encode(), t.encode())
                                                  for t in tokens)

    @ops.get("/health/live", summary="The hub process is up (no dependency checks)")
    async def live() -> dict[str, bool]:
        return {"ok": True}

    @ops.get("/health", summary="Hub, database, Rasa and Rasa tracker-store health (details for operators)",
             responses={503: {"description": "A dependency is down: operators see which (same shape as 200)"}})
    async def health(request: Request) -> JSONResponse:
        db = await anyio.to_thread.run_sync(check_database, c.engine)
        rasa_status = await check_rasa(c.rasa)
        tracker = await anyio.to_thread.run_sync(check_tracker_store, c.settings.tracker_store_url)
        ok = db["ok"] and rasa_status["ok"] and tracker["ok"]
        detector = c.language_detector
        body = {"ok": ok, "database": db, "rasa": rasa_status, "tracker_store": tracker,
                "channels": sorted(c.connectors),
                # the language models load in the background at start (seconds); not a reason to be unhealthy
                "language": {"detector": detector.loaded, "unsupported_check": detector.wide_loaded}}
        supervisor = c.settings.data_dir / "supervisor.json"  # written by `make run`'s supervisor (tools/launcher.py)
        if supervisor.exists():
            try:
                body["processes"] = json.loads(supervisor.read_text()).get("processes", {})
            except (OSError, ValueError):
                body["processes"] = {"error": "unreadable supervisor status"}
        if not operator(request):
            body = {"ok": ok}
        return JSONResponse(body, status_code=200 if ok else 503)

    @ops.get("/metrics", summary="Prometheus metrics (operators: loopback or the metrics token)",
             responses={200: {"description": "The Prometheus text format",
                              "content": {"text/plain": {"schema": {"type": "string"}}}},
                        403: {**responses(403)[403], "description": "Not an operator: scrape from the machine or "
                                                                    "send Authorization: Bearer <METRICS_TOKEN>"}})
    async def metrics(request: Request) -> Response:
        if not operator(request):
            return JSONResponse({"error": "forbidden", "detail": "metrics are for operators: scrape from the machine "
                                                                  "or send Authorization: Bearer <METRICS_TOKEN>"},
                                status_code=403)
        # the queue figures are read from the database at scrape time: off the event loop
        return Response(await anyio.to_thread.run_sync(c.metrics.render), media_type=CONTENT_TYPE)

    return ops
