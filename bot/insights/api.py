"""The reports, review-inbox and content-gap API (editors and admins), the console search (agents), and the
reports page `/console/reports` with its vendored chart library."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Annotated, Any

import anyio
from fastapi import APIRouter, Depends, HTTPException, Path
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import Connection, select

from bot.agents.auth import Actor
from bot.errors import AUTHENTICATED, described, responses
from bot.insights import metrics
from bot.insights.content_changes import Editor
from bot.insights.facts import facts
from bot.insights.metrics import Filters, UnknownChart
from bot.insights.review import STATES
from bot.insights.search import search
from bot.pages import staff_page
from core.settings import PROJECT_ROOT

if TYPE_CHECKING:
    from bot.container import Container

CHART_JS = PROJECT_ROOT / "node_modules" / "chart.js" / "dist" / "chart.umd.min.js"


class ReviewAction(BaseModel):
    action: str = Field(..., description="example (of an intent), phrasing (of an FAQ entry), draft (a new FAQ "
                                         "entry) or dismiss")
    intent: str | None = Field(None, description="example: the intent the message is an example of")
    entry_id: str | None = Field(None, description="phrasing: the FAQ entry it is a phrasing of")
    language: str | None = Field(None, description="the language of the example or entry (default: the message's)")
    text: str | None = Field(None, max_length=500, description="the text to add (default: the message, as written)")
    question: str | None = Field(None, max_length=500, description="draft: the new entry's question")
    answer: str | None = Field(None, max_length=8000, description="draft: its answer (default: the agent's reply)")


def _day(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), tzinfo=timezone.utc)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, f"{name}: use a date (YYYY-MM-DD) or an ISO 8601 time, got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def filters_of(start: str | None, end: str | None, channel: str | None, language: str | None, team: str | None,
               agent: str | None) -> Filters:
    """`to` is inclusive when it is a date (the whole day)."""
    default_start, default_end = metrics.default_range()
    lo = _day(start, "from") or default_start
    hi = _day(end, "to")
    if hi is not None and end is not None and len(end) == 10:
        hi += timedelta(days=1)
    hi = hi or default_end
    if hi <= lo:
        raise HTTPException(422, "the range is empty: 'to' must be after 'from'")
    return Filters(lo, hi, channel or None, language or None, team or None, agent or None)


def _options(conn: Connection) -> dict[str, list[str]]:
    out = {}
    for name in ("channel", "language", "team", "agent"):
        column = facts.c[name]
        out[name] = sorted(str(v) for (v,) in conn.execute(select(column).distinct().where(column.is_not(None))))
    return out


#: Content gaps embed the questions on the action server (`bot.insights.gaps.EncoderUnavailable`).
ENCODER_UNAVAILABLE = described(503, "The action server, which embeds the questions, is down or cannot load its "
                                     "encoder: start it and try again",
                                {"error": "encoder_unavailable",
                                 "detail": "content gaps need the action server's sentence encoder: it is not "
                                           "answering (the action server unreachable: ConnectError(...)). Start it "
                                           "(make run starts everything) and try again."})
MessageId = Annotated[str, Path(min_length=1, max_length=64, description="The customer message's id")]


def build_insights(c: "Container") -> list[APIRouter]:
    """Routers of this package, with their dependencies from the composition root."""
    auth, db = c.auth, c.db
    editor = Depends(auth.editor_actor)
    agent = Depends(auth.agent_actor)
    projector, review, gaps = c.facts, c.review, c.gaps

    reports = APIRouter(prefix="/api/reports", tags=["reports"], responses=responses(*AUTHENTICATED))

    def range_filters(start: str | None = None, end: str | None = None, channel: str | None = None,
                      language: str | None = None, team: str | None = None,
                      agent: str | None = None) -> Filters:
        return filters_of(start, end, channel, language, team, agent)

    range_dep = Depends(range_filters)

    @reports.get("", summary="Every report figure for a date range and filters (docs/metrics.md)")
    async def report(f: Filters = range_dep, actor: Actor = editor) -> dict[str, Any]:
        await projector.flush()
        return {**await db.read(metrics.report, f), "options": await db.read(_options)}

    @reports.get("/conversations", summary="The conversations behind one figure (chart + bucket), newest first")
    async def drill_down(chart: str | None = None, bucket: str | None = None, limit: int = 200, offset: int = 0,
                         f: Filters = range_dep, actor: Actor = editor) -> dict[str, Any]:
        await projector.flush()
        try:
            total, rows = await db.read(metrics.conversations, f, chart=chart, bucket=bucket,
                                        limit=min(max(limit, 1), 1000), offset=max(offset, 0))
        except UnknownChart as exc:
            raise HTTPException(422, str(exc)) from None
        return {"chart": chart, "bucket": bucket, "total": total, "conversations": rows}

    @reports.get("/export.csv", summary="CSV: one row per conversation (times, outcome, CSAT), for the filters",
                 response_class=StreamingResponse,
                 responses={200: {"description": "The conversations as CSV (a header row, then one row each)",
                                  "content": {"text/csv": {"schema": {"type": "string"}}}}})
    async def export(chart: str | None = None, bucket: str | None = None, f: Filters = range_dep,
                     actor: Actor = editor) -> StreamingResponse:
        await projector.flush()
        try:
            await db.read(metrics.conversations, f, chart=chart, bucket=bucket, limit=1)
        except UnknownChart as exc:
            raise HTTPException(422, str(exc)) from None

        async def rows() -> AsyncIterator[str]:
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=list(metrics.ROW_COLUMNS), extrasaction="ignore")
            writer.writeheader()
            after: tuple[Any, str] | None = (f.start - timedelta(seconds=1), "")
            while after is not None:
                _, page = await db.read(metrics.conversations, f, chart=chart, bucket=bucket, limit=2000, after=after)
                for row in page:
                    writer.writerow(row)
                after = page[-1].pop("_key") if len(page) == 2000 else None
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()

        name = f"conversations-{f.start.date()}-{(f.end - timedelta(seconds=1)).date()}.csv"
        return StreamingResponse(rows(), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{name}"'})

    review_api = APIRouter(prefix="/api/review", tags=["review"], responses=responses(*AUTHENTICATED))

    @review_api.get("/items", summary="The review inbox: messages that need a look, with the bot's reasoning")
    async def review_items(reason: str | None = None, language: str | None = None, state: str = "open",
                           limit: int = 50, offset: int = 0, actor: Actor = editor) -> dict[str, Any]:
        if state not in STATES:
            raise HTTPException(422, f"state: one of {', '.join(STATES)}")
        await projector.flush()
        return await review.items(reason=reason, language=language, state=state, limit=min(max(limit, 1), 200),
                                  offset=max(offset, 0))

    @review_api.post("/items/{message_id}", summary="Add the message as an example / phrasing / FAQ draft, or "
                                                    "dismiss it", responses=responses(404))
    async def review_act(message_id: MessageId, body: ReviewAction, actor: Actor = editor) -> dict[str, Any]:
        return await review.act(message_id, body.action, Editor(actor.key, actor.display_name), intent=body.intent, entry_id=body.entry_id,
                                language=body.language, text=body.text, question=body.question,
                                answer=body.answer)

    @review_api.get("/targets", summary="Intents (per language) and FAQ entries that messages can be added to")
    async def review_targets(actor: Actor = editor) -> dict[str, Any]:
        intents = await anyio.to_thread.run_sync(review.changes.intents)
        entries = await anyio.to_thread.run_sync(review.changes.faq_entries)
        return {"intents": intents, "entries": entries}

    @review_api.get("/changes", summary="Content changes made from the inbox, newest first (pending publication)")
    async def review_changes(limit: int = 100, actor: Actor = editor) -> dict[str, Any]:
        return {"changes": await review.content_changes(min(max(limit, 1), 500))}

    @review_api.get("/gaps", summary="Content gaps: unanswered and low-confidence questions, clustered by meaning",
                    responses=ENCODER_UNAVAILABLE)
    async def content_gaps(f: Filters = range_dep, actor: Actor = editor) -> dict[str, Any]:
        await projector.flush()
        return {"filters": f.view(), **await gaps.clusters(f.start, f.end, language=f.language)}

    console_api = APIRouter(prefix="/api/agent", tags=["agent"], responses=responses(*AUTHENTICATED))

    @console_api.get("/search", summary="Search every conversation: words, customer, order number; filters")
    async def search_conversations(q: str = "", status: str | None = None, channel: str | None = None,
                                   language: str | None = None, start: str | None = None, end: str | None = None,
                                   customer: str | None = None, limit: int = 50,
                                   actor: Actor = agent) -> dict[str, Any]:
        lo, hi = _day(start, "start"), _day(end, "end")
        if hi is not None and end is not None and len(end) == 10:
            hi += timedelta(days=1)
        await projector.flush()
        found = await db.read(search, q, status=status, channel=channel, language=language, start=lo, end=hi,
                              customer=customer, limit=min(max(limit, 1), 200))
        return {"query": q, "conversations": found}

    pages = APIRouter(include_in_schema=False)

    @pages.get("/console/reports")
    async def reports_page() -> HTMLResponse:
        return staff_page("reports.html")

    @pages.get("/vendor/chart.umd.min.js")
    async def chart_library() -> FileResponse:
        if not CHART_JS.exists():
            raise HTTPException(404, "the chart library is not installed: run `make install` (npm ci)")
        return FileResponse(CHART_JS, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    return [reports, review_api, console_api, pages]
