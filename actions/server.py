"""The action server: a Starlette ASGI app around rasa-sdk's `ActionExecutor`.

Routes
- ``POST /webhook``: Rasa's action calls (``{"next_action", "tracker", "domain", "version", ...}``);
  answers ``{"events": [...], "responses": [...]}`` like rasa-sdk's own server. Errors: malformed body
  400, `ActionExecutionRejection` 400, `ActionNotFoundException` 404, `ActionMissingDomainException` 449
  (Rasa then resends the call with the domain), anything else 500.
- ``GET /actions``: the registered action names.
- ``GET /health``: ``{"status": "ok", "kb": <manifest>}``; 503 when the knowledge base is unusable.
- ``POST /kb/search`` ``{"query", "language", "k"}``: the best knowledge-base hits (agent suggestions).
- ``POST /kb/try`` ``{"query", "language"}``: what the bot would do with the query, for the studio's "try a
  question" (`KnowledgeBase.explain`: the top entries, their scores, the decision at the bot's thresholds).
- ``POST /kb/reload``: load the live index again; ``{"reloaded": bool, "kb": <manifest>}``.
- ``POST /kb/embed`` ``{"texts": [...]}``: the texts embedded as queries with the knowledge base's encoder (the
  hub's content gaps), ``{"model", "dimension", "count", "vectors"}``, ``vectors`` the base64 of the float32
  little-endian (count, dimension) array, row-major; 400 for a bad body, 503 when the encoder cannot load.

The actions are built here with their dependencies (settings, the knowledge base, an HTTP client for the
order system), so tests and the launcher can inject their own.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import zlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
import rasa_sdk
from rasa_sdk import Action
from rasa_sdk.executor import ActionExecutor
from rasa_sdk.interfaces import ActionExecutionRejection, ActionMissingDomainException, ActionNotFoundException
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from actions.greetings import ActionGreetOrGoodbye
from actions.handoff import ActionHandoff
from actions.kb import ActionAnswerFromKB, KnowledgeBaseAccess, hit_to_dict
from actions.orders import ActionOrderStatus, OrderClient, ValidateOrderStatusForm
from actions.session import ActionSessionStart
from core.settings import ActionSettings

logger = logging.getLogger(__name__)

#: rasa-sdk exceptions and the HTTP status Rasa expects for each (same as rasa-sdk's Sanic server).
ACTION_ERROR_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (ActionExecutionRejection, 400),
    (ActionNotFoundException, 404),
    (ActionMissingDomainException, 449),
)
MAX_SEARCH_K = 20
#: ``/kb/embed`` limits: a batch of questions (the hub's `ActionServerClient.EMBED_BATCH` matches), each one message.
MAX_EMBED_TEXTS = 2048
MAX_EMBED_CHARS = 4000
MAX_TRY_CHARS = 4000  # a question to try, as the studio sends it (its own limit is lower)
#: The Rasa release this action server serves (requirements-rasa.txt). rasa-sdk's own check
#: (`rasa_sdk.utils.check_version_compatibility`) wants rasa and rasa-sdk of the same major.minor and warns on
#: every call otherwise; rasa-sdk 3.21 on Python 3.11 serving Rasa 3.6 is the pair tests/integration run, so
#: that check is not called. `RasaVersionCheck` says so once at start and warns once for any other release.
TESTED_RASA = "3.6"


class RasaVersionCheck:
    """Warns once per Rasa release (major.minor) that calls us and is not `TESTED_RASA`."""

    def __init__(self, tested: str = TESTED_RASA) -> None:
        self.tested = tested
        self.seen: set[str] = {tested}

    def announce(self) -> None:
        logger.info("serving Rasa %s with rasa-sdk %s: a tested pair, so rasa-sdk's same-version check is off",
                    self.tested, rasa_sdk.__version__)

    def __call__(self, version: Any) -> None:
        release = ".".join(str(version).split(".")[:2]) if version else "unknown"
        if release in self.seen:
            return
        self.seen.add(release)
        logger.warning("called by Rasa %s; this action server is tested with Rasa %s (requirements-rasa.txt)",
                       version or "of an unknown version", self.tested)


def default_holder(settings: ActionSettings) -> Any:
    """A `kb_index.KnowledgeBaseHolder` for the configured index (loads lazily), or None if unavailable."""
    try:
        from kb_index import KnowledgeBaseHolder, load_encoder
    except Exception:  # noqa: BLE001 - the actions still work without the knowledge base
        logger.exception("kb_index cannot be imported: answering without the knowledge base")
        return None
    return KnowledgeBaseHolder(
        settings.kb_index_dir,
        lambda: load_encoder(settings.embedding_model or None),
        answer_threshold=settings.kb_answer_threshold,
        suggest_threshold=settings.kb_suggest_threshold,
        default_language=settings.default_language,
    )


def build_actions(settings: ActionSettings, kb: KnowledgeBaseAccess | None, orders: OrderClient) -> list[Action]:
    """Every custom action of the bot, constructed with its dependencies."""
    return [
        ActionSessionStart(settings),
        ActionAnswerFromKB(kb, settings),
        ActionHandoff(settings, kb),
        ActionGreetOrGoodbye(settings),
        ValidateOrderStatusForm(settings),
        ActionOrderStatus(settings, orders),
    ]


def _error(message: str, status: int, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _action_error_status(exc: Exception) -> int | None:
    for exc_type, status in ACTION_ERROR_STATUS:
        if isinstance(exc, exc_type):
            return status
    return None


def _query_error(data: Any, *, max_chars: int | None = None) -> str | None:
    """What is wrong with a ``{"query", "language"}`` body (``/kb/search``, ``/kb/try``), or None."""
    if not isinstance(data, dict):
        return "expected a JSON object"
    query, language = data.get("query"), data.get("language")
    if not isinstance(query, str) or not query.strip():
        return "'query' must be a non-empty string"
    if max_chars is not None and len(query) > max_chars:
        return f"'query' is longer than {max_chars} characters"
    if language is not None and not isinstance(language, str):
        return "'language' must be a string"
    return None


async def _json_body(request: Request) -> Any:
    """The request body as JSON (``Content-Encoding: deflate`` is accepted, as Rasa may compress calls)."""
    body = await request.body()
    if request.headers.get("content-encoding", "").lower() == "deflate":
        body = zlib.decompress(body)
    return json.loads(body)


def embed_texts_error(data: Any) -> str | None:
    """Why `data` is not a ``/kb/embed`` body (``{"texts": [str, ...]}``), or None when it is one."""
    if not isinstance(data, dict):
        return "expected a JSON object"
    texts = data.get("texts")
    if not isinstance(texts, list) or not texts:
        return "'texts' must be a non-empty list of strings"
    if len(texts) > MAX_EMBED_TEXTS:
        return f"'texts' has {len(texts)} items: at most {MAX_EMBED_TEXTS} per call"
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            return f"'texts[{i}]' must be a string"
        if len(text) > MAX_EMBED_CHARS:
            return f"'texts[{i}]' is longer than {MAX_EMBED_CHARS} characters"
    return None


def embed(holder: Any, texts: list[str]) -> dict[str, Any]:
    """The ``/kb/embed`` answer: `texts` encoded as queries by the holder's encoder (loads only the encoder, not
    the index). Blocking: run it in a thread."""
    encoder = holder.encoder
    vectors = np.ascontiguousarray(encoder.encode(texts), dtype="<f4")
    return {"model": encoder.name, "dimension": int(vectors.shape[1]), "count": int(vectors.shape[0]),
            "vectors": base64.b64encode(vectors.tobytes()).decode("ascii")}


def create_app(
    executor: ActionExecutor | None = None,
    holder: Any = None,
    settings: ActionSettings | None = None,
    *,
    http: httpx.AsyncClient | None = None,
    warm_up: bool = True,
) -> Starlette:
    """The action server app.

    Args:
        executor: a ready `ActionExecutor`; by default one is built with `build_actions`.
        holder: a `kb_index.KnowledgeBaseHolder`; by default one for ``settings.kb_index_dir``.
        settings: by default `ActionSettings.from_env()`.
        http: the `httpx.AsyncClient` for the order system (one per app, connection pooling; closed with it).
        warm_up: load the knowledge base (encoder and index) in the background at start-up, so the first
            question does not wait for it.
    """
    settings = settings or ActionSettings.from_env()
    if holder is None:
        holder = default_holder(settings)
    kb = KnowledgeBaseAccess(holder, settings) if holder is not None else None
    orders = OrderClient(settings, http)
    check_rasa_version = RasaVersionCheck()
    if executor is None:
        executor = ActionExecutor()
        for action in build_actions(settings, kb, orders):
            executor.register_action(action)

    async def webhook(request: Request) -> JSONResponse:
        try:
            action_call = await _json_body(request)
        except (ValueError, zlib.error):
            return _error("Invalid body request: expected a JSON object", 400)
        if not isinstance(action_call, dict) or not isinstance(action_call.get("tracker"), dict):
            return _error("Invalid body request: expected a JSON object with 'next_action' and 'tracker'", 400)
        if not isinstance(action_call.get("next_action"), str) or not action_call["next_action"]:
            return _error("Invalid body request: 'next_action' is missing", 400)
        check_rasa_version(action_call.get("version"))
        action_name = action_call["next_action"]
        try:
            result = await executor.run(action_call)
        except Exception as exc:  # noqa: BLE001 - mapped to HTTP statuses below
            status = _action_error_status(exc)
            if status is None:
                logger.exception("action %r failed", action_name)
                return _error(f"action {action_name!r} failed: {exc.__class__.__name__}", 500, action_name=action_name)
            logger.log(logging.ERROR if status == 404 else logging.DEBUG, "action %r: %s", action_name, exc)
            return _error(getattr(exc, "message", str(exc)), status, action_name=getattr(exc, "action_name", action_name))
        return JSONResponse(result.model_dump() if result is not None else None)

    async def list_actions(request: Request) -> JSONResponse:
        return JSONResponse([item.model_dump() for item in executor.list_actions()])

    async def health(request: Request) -> JSONResponse:
        body: dict[str, Any] = {"status": "ok", "actions": sorted(executor.actions)}
        if kb is None:
            body.update(status="degraded", kb={"error": "no knowledge base configured"})
            return JSONResponse(body, status_code=503)
        try:
            body["kb"] = await kb.status()
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            body.update(status="degraded", kb={"error": str(exc)})
            return JSONResponse(body, status_code=503)
        return JSONResponse(body)

    async def kb_search(request: Request) -> JSONResponse:
        try:
            data = await _json_body(request)
        except (ValueError, zlib.error):
            return _error("expected a JSON object", 400)
        problem = _query_error(data)
        if problem:
            return _error(problem, 400)
        query, language, k = data["query"], data.get("language"), data.get("k", 5)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_SEARCH_K:
            return _error(f"'k' must be a whole number from 1 to {MAX_SEARCH_K}", 400)
        if kb is None:
            return _error("no knowledge base configured", 503)
        try:
            hits = await kb.search(query, language or None, k=k)
        except Exception as exc:  # noqa: BLE001
            logger.warning("knowledge-base search failed: %s", exc)
            return _error(f"knowledge base unavailable: {exc}", 503)
        return JSONResponse({"query": query, "language": language, "hits": [hit_to_dict(hit) for hit in hits]})

    async def kb_try(request: Request) -> JSONResponse:
        try:
            data = await _json_body(request)
        except (ValueError, zlib.error):
            return _error("expected a JSON object", 400)
        problem = _query_error(data, max_chars=MAX_TRY_CHARS)
        if problem:
            return _error(problem, 400)
        query, language = data["query"], data.get("language")
        if kb is None:
            return _error("no knowledge base configured", 503)
        try:
            return JSONResponse(await kb.explain(query, language or None))
        except Exception as exc:  # noqa: BLE001 - no index yet, an encoder that cannot load: said, not raised
            logger.warning("knowledge-base try failed: %s", exc)
            return _error(f"knowledge base unavailable: {exc}", 503)

    async def kb_embed(request: Request) -> JSONResponse:
        try:
            data = await _json_body(request)
        except (ValueError, zlib.error):
            return _error("expected a JSON object", 400)
        problem = embed_texts_error(data)
        if problem:
            return _error(problem, 400)
        if kb is None:
            return _error("no knowledge base configured", 503)
        try:
            return JSONResponse(await asyncio.to_thread(embed, kb.holder, data["texts"]))
        except Exception as exc:  # noqa: BLE001 - an encoder that cannot load: said, not raised
            logger.warning("embedding %d texts failed: %s", len(data["texts"]), exc)
            return _error(f"sentence encoder unavailable: {exc}", 503)

    async def kb_reload(request: Request) -> JSONResponse:
        if kb is None:
            return _error("no knowledge base configured", 503)
        reloaded = await kb.reload()
        try:
            manifest = await kb.status()
        except Exception as exc:  # noqa: BLE001
            return JSONResponse({"reloaded": False, "error": str(exc)}, status_code=503)
        return JSONResponse({"reloaded": reloaded, "kb": manifest}, status_code=200)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        check_rasa_version.announce()
        task: asyncio.Task[Any] | None = None
        if warm_up and kb is not None:
            task = asyncio.create_task(_warm_up(kb))
        try:
            yield
        finally:
            if task is not None and not task.done():
                task.cancel()
            await orders.aclose()

    routes = [
        Route("/webhook", webhook, methods=["POST"]),
        Route("/actions", list_actions, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/kb/search", kb_search, methods=["POST"]),
        Route("/kb/try", kb_try, methods=["POST"]),
        Route("/kb/reload", kb_reload, methods=["POST"]),
        Route("/kb/embed", kb_embed, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.executor = executor
    app.state.kb = kb
    app.state.settings = settings
    return app


async def _warm_up(kb: KnowledgeBaseAccess) -> None:
    try:
        info = await kb.status()
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - /health reports it
        logger.error("knowledge base not loaded at start-up: %s", exc)
        return
    logger.info("knowledge base ready: %s", info.get("version") or info)
