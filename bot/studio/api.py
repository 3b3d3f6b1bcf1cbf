"""The studio: its page (`GET /studio`) and REST API (`/api/studio/...`, OpenAPI at /docs).

Same login as the console (`POST /api/auth/login`, cookie + `X-CSRF-Token`, or the bearer tokens). Editors
and admins may read and change content, publish and roll back; the audit log is for admins; agents get 403.
Every write names the version of the item it was based on (`base`); a stale one gets 409 with both versions.
Refused content gets 422 with `problems: [{field, message, level}]`. Every error body is `bot.errors.ErrorBody`
(documented per endpoint below); trying a question before the knowledge-base index is built gets 503.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from bot.agents.auth import Actor
from bot.errors import AUTHENTICATED, MAX_ID, DomainError, described, responses
from bot.store import studio as studio_store
from bot.studio.content import Author
from bot.studio.knowledge import KnowledgeBaseUnreachable, previews
from bot.pages import staff_page

if TYPE_CHECKING:
    from bot.container import Container



class KnowledgeBaseUnavailable(DomainError):
    """The action server cannot search the live index (not running, no index built yet, or no encoder)."""

    status_code = 503
    code = "kb_unavailable"


# -- the errors the studio answers, as the OpenAPI schema documents them (every body is `ErrorBody`) --------

#: Every studio endpoint (no session, not an editor, invalid input).
SIGNED_IN = responses(*AUTHENTICATED)

NOT_FOUND = described(404, "No such intent, response, FAQ entry, revision, publish or release",
                      {"error": "unknown_item", "detail": "no intent 'gift_cards'"})
REFUSED = described(422, "Refused content (`invalid_content`: `problems` says what is wrong, field by field), or "
                         "invalid input (`detail` lists the problems)",
                    {"error": "invalid_content", "detail": "question: must not be empty",
                     "problems": [{"field": "question", "message": "must not be empty", "level": "error"}]})
EDIT_CONFLICT = described(409, "Someone saved the item after the version you based the change on (`base`): "
                               "`yours` and `theirs` are both versions, `version` the current one to base a retry on",
                          {"error": "edit_conflict", "detail": "this was changed by Maria after you opened it: "
                                                               "compare both versions and choose",
                           "key": "faq:returns-policy:en", "yours": {"answer": "Tom's answer."},
                           "theirs": {"answer": "Maria's answer."}, "version": "9f3c2a1b",
                           "changed_by": "Maria", "changed_at": "2026-12-01T10:41:06+00:00"})
PUBLISH_BUSY = described(409, "A publish or rollback is running (`publish_running`), or that release is live already",
                         {"error": "publish_running",
                          "detail": "a publish is running: follow it in the studio, or wait for it to finish"})
KB_UNAVAILABLE = described(503, "The action server cannot search the knowledge base: it is not running (start it: "
                                "`make run` starts everything), or no index is built yet (publish, or run `make kb`)",
                           {"error": "kb_unavailable", "detail": "no knowledge-base index in kb_index/build: run "
                                                                 "`make kb` (python -m kb_index build)"})
#: A change to one item: it may be gone, refused, or based on a version someone else replaced.
EDIT = {**NOT_FOUND, **EDIT_CONFLICT, **REFUSED}
#: A change that names no version (`base`): gone or refused.
CHANGE = {**NOT_FOUND, **REFUSED}


class NewExample(BaseModel):
    language: str
    text: str = Field(..., description="One customer message, as customers write it.")
    base: str | None = Field(None, description="The version of the intent's examples in that language you saw.")


class EditedExample(BaseModel):
    language: str
    old: str
    new: str
    base: str | None = None


class GoneExample(BaseModel):
    language: str
    text: str
    base: str | None = None


class MovedExample(BaseModel):
    language: str
    text: str | None = None
    texts: list[str] = Field(default_factory=list, description="Several examples at once (one revision).")
    to_intent: str
    base: str | None = None


class NewIntent(BaseModel):
    name: str
    examples: dict[str, list[str]] = Field(..., description="Language → its first examples.")


class Rename(BaseModel):
    new_name: str


class ResponseBody(BaseModel):
    variations: list[dict[str, Any]] = Field(..., description="[{index?, language, text, buttons: [{title, payload}]}]")
    base: str | None = None


class FaqBody(BaseModel):
    question: str = ""
    answer: str = ""
    phrasings: list[str] = Field(default_factory=list)
    links: list[dict[str, str]] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    team: str | None = None
    topic: str | None = Field(None, description="The file a new entry goes to (e.g. orders).")
    base: str | None = Field(None, description="The version you edited; null creates the entry.")


class PreviewBody(BaseModel):
    answer: str = Field("", max_length=20000)
    links: list[dict[str, str]] = Field(default_factory=list)


class TryBody(BaseModel):
    text: str = Field(..., min_length=1, max_length=1000)
    language: str | None = None


class RevertBody(BaseModel):
    revision: int = Field(..., ge=1, le=MAX_ID)
    key: str | None = Field(None, description="The item to revert; none: everything the revision changed.")
    force: bool = False


class PublishBody(BaseModel):
    message: str = Field("", max_length=500, description="What changed, for the audit log.")
    check_only: bool = Field(False, description="Validate, build, train and run the gate; publish nothing.")


def author_of(actor: Actor) -> Author:
    return Author(actor.key, actor.display_name)


def build_studio(c: "Container") -> list[APIRouter]:
    """The studio page and API, with their dependencies from the composition root."""
    studio, auth = c.studio, c.auth
    content, publisher = studio.content, studio.publisher
    editor = Depends(auth.editor_actor)
    admin = Depends(auth.admin_actor)

    pages = APIRouter(include_in_schema=False)

    @pages.get("/studio")
    async def studio_page() -> HTMLResponse:
        return staff_page("studio.html")

    api = APIRouter(prefix="/api/studio", tags=["studio"], responses=SIGNED_IN)

    async def read(fn: Any, *args: Any) -> Any:
        return await anyio.to_thread.run_sync(fn, *args)

    @api.get("/status", summary="What is live, what is waiting to be published, the running publish")
    async def status(actor: Actor = editor) -> dict[str, Any]:
        studio.opened()
        return {**await publisher.status(), "languages": list(c.settings.supported_languages),
                "default_language": c.settings.default_language, "me": {"name": actor.display_name,
                                                                       "role": actor.role},
                "git": str(content.git.root) if content.git else None}

    # -- intents ---------------------------------------------------------------------------------------

    @api.get("/intents", summary="Intents: example counts per language and the validator's warnings")
    async def intents(actor: Actor = editor) -> dict[str, Any]:
        return await read(content.intents)

    @api.get("/intents/{name}", summary="One intent: its examples per language with their versions",
             responses=NOT_FOUND)
    async def intent(name: str, actor: Actor = editor) -> dict[str, Any]:
        return await read(content.intent, name)

    @api.post("/intents", status_code=201, summary="Create an intent with its first examples", responses=CHANGE)
    async def create_intent(body: NewIntent, actor: Actor = editor) -> dict[str, Any]:
        return (await content.create_intent(author_of(actor), body.name, body.examples)).as_dict()

    @api.post("/intents/{name}/rename", summary="Rename an intent (rules, stories, domain, held-out follow)",
              responses=CHANGE)
    async def rename_intent(name: str, body: Rename, actor: Actor = editor) -> dict[str, Any]:
        return (await content.rename_intent(author_of(actor), name, body.new_name)).as_dict()

    @api.delete("/intents/{name}", summary="Delete an intent no rule, story or code uses", responses=CHANGE)
    async def delete_intent(name: str, actor: Actor = editor) -> dict[str, Any]:
        return (await content.delete_intent(author_of(actor), name)).as_dict()

    @api.post("/intents/{name}/examples", status_code=201, summary="Add an example in a language", responses=EDIT)
    async def add_example(name: str, body: NewExample, actor: Actor = editor) -> dict[str, Any]:
        return (await content.add_example(author_of(actor), name, body.language, body.text, base=body.base)).as_dict()

    @api.put("/intents/{name}/examples", summary="Change an example", responses=EDIT)
    async def edit_example(name: str, body: EditedExample, actor: Actor = editor) -> dict[str, Any]:
        return (await content.edit_example(author_of(actor), name, body.language, body.old, body.new,
                                           base=body.base)).as_dict()

    @api.post("/intents/{name}/examples/delete", summary="Remove an example", responses=EDIT)
    async def delete_example(name: str, body: GoneExample, actor: Actor = editor) -> dict[str, Any]:
        return (await content.delete_example(author_of(actor), name, body.language, body.text,
                                             base=body.base)).as_dict()

    @api.post("/intents/{name}/examples/move", summary="Move an example to another intent", responses=EDIT)
    async def move_example(name: str, body: MovedExample, actor: Actor = editor) -> dict[str, Any]:
        texts = body.texts or ([body.text] if body.text else [])
        return (await content.move_example(author_of(actor), name, body.language, texts, body.to_intent,
                                           base=body.base)).as_dict()

    @api.get("/examples", summary="Search every example of every intent (case and accents ignored)")
    async def search(q: str, language: str | None = None, actor: Actor = editor) -> dict[str, Any]:
        return {"query": q, "hits": await read(content.search, q, language)}

    # -- responses ----------------------------------------------------------------------------------

    @api.get("/responses", summary="Every response of domain.yml with the languages it has")
    async def responses(actor: Actor = editor) -> dict[str, Any]:
        return await read(content.responses)

    @api.get("/responses/{name}", summary="One response: its variations per language, with buttons",
             responses=NOT_FOUND)
    async def response(name: str, actor: Actor = editor) -> dict[str, Any]:
        return await read(content.response, name)

    @api.put("/responses/{name}", summary="Replace a response's variations", responses=EDIT)
    async def save_response(name: str, body: ResponseBody, actor: Actor = editor) -> dict[str, Any]:
        return (await content.save_response(author_of(actor), name, body.variations, base=body.base)).as_dict()

    # -- FAQ ---------------------------------------------------------------------------------------

    @api.get("/faq", summary="FAQ entries with their languages")
    async def faq(actor: Actor = editor) -> dict[str, Any]:
        return await read(content.faq_entries)

    @api.get("/faq/{entry_id}", summary="One FAQ entry in every language", responses=NOT_FOUND)
    async def faq_entry(entry_id: str, actor: Actor = editor) -> dict[str, Any]:
        return await read(content.faq_entry, entry_id)

    @api.put("/faq/{entry_id}/{language}", summary="Create (base null) or change one FAQ entry in one language",
             responses=EDIT)
    async def save_faq(entry_id: str, language: str, body: FaqBody, actor: Actor = editor) -> dict[str, Any]:
        fields = body.model_dump(exclude={"topic", "base"})
        return (await content.save_faq(author_of(actor), entry_id, language, fields, base=body.base,
                                       topic=body.topic)).as_dict()

    @api.delete("/faq/{entry_id}/{language}", summary="Delete one language version of an FAQ entry", responses=EDIT)
    async def delete_faq(entry_id: str, language: str, base: str, actor: Actor = editor) -> dict[str, Any]:
        return (await content.delete_faq(author_of(actor), entry_id, language, base=base)).as_dict()

    @api.post("/preview", summary="An answer as the web chat, Telegram, WhatsApp and SMS show it")
    async def preview(body: PreviewBody, actor: Actor = editor) -> dict[str, Any]:
        return previews(body.answer, body.links, base_url=c.settings.public_base_url)

    @api.post("/try", summary="Ask the live index: top entries, scores, and what the bot would do",
              responses=KB_UNAVAILABLE)
    async def try_question(body: TryBody, actor: Actor = editor) -> dict[str, Any]:
        try:
            result = await studio.knowledge.try_question(body.text, body.language)
        except KnowledgeBaseUnreachable as exc:
            raise KnowledgeBaseUnavailable(str(exc)) from exc
        try:
            parse = await c.rasa.parse(body.text, body.language)
            intent = parse.get("intent") or {}
            result["nlu"] = {"intent": intent.get("name"), "confidence": intent.get("confidence")}
        except Exception as exc:  # noqa: BLE001 - the KB answer is what the box is for
            result["nlu"] = {"error": f"Rasa did not answer: {exc}"}
        return result

    @api.get("/gaps", summary="Which intents, responses and FAQ entries lack which language")
    async def gaps(actor: Actor = editor) -> dict[str, Any]:
        return await studio.gaps()

    # -- history ------------------------------------------------------------------------------------

    @api.get("/history", summary="The revisions of one item (key: faq:<id>:<lang>, response:<name>, "
                                 "examples:<intent>:<lang>, intent:<name>)")
    async def history(key: str, actor: Actor = editor) -> dict[str, Any]:
        return {"key": key, "revisions": await content.history(key)}

    @api.get("/revisions", summary="The latest revisions")
    async def revisions(limit: int = 50, actor: Actor = editor) -> dict[str, Any]:
        rows = await c.db.read(studio_store.recent, min(max(limit, 1), 500))
        return {"revisions": [r.as_dict() for r in rows]}

    @api.post("/revert", summary="Undo what a revision did to one item (a new revision)", responses=EDIT)
    async def revert(body: RevertBody, actor: Actor = editor) -> dict[str, Any]:
        return (await content.revert(author_of(actor), body.revision, body.key, force=body.force)).as_dict()

    # -- publishing ---------------------------------------------------------------------------------

    @api.post("/publish", status_code=202, summary="Publish the content (or check it): follow GET /status",
              responses=PUBLISH_BUSY)
    async def publish(body: PublishBody, actor: Actor = editor) -> dict[str, Any]:
        run = await publisher.start(author_of(actor), body.message, check_only=body.check_only)
        return {"run": run.view()}

    @api.get("/publish/{run_id}", summary="One publish, with its steps and log", responses=NOT_FOUND)
    async def publish_run(run_id: str, actor: Actor = editor) -> dict[str, Any]:
        return {"run": publisher.run(run_id).view(log_lines=300)}

    @api.post("/publish/cancel", summary="Stop the running publish (the live bot stays)")
    async def cancel(actor: Actor = editor) -> dict[str, Any]:
        return {"cancelled": await publisher.cancel()}

    @api.post("/releases/{release_id}/rollback", summary="Serve an earlier release again (content included)",
              responses={**NOT_FOUND, **PUBLISH_BUSY})
    async def rollback(release_id: str, actor: Actor = editor) -> dict[str, Any]:
        return {"run": await publisher.rollback(author_of(actor), release_id)}

    @api.get("/audit", summary="Content changes, publishes and rollbacks (admins only)")
    async def audit(limit: int = 200, before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                    actor: Actor = admin) -> dict[str, Any]:
        return {"entries": await c.db.read(studio_store.audit_log, limit=min(max(limit, 1), 1000), before_id=before)}

    return [pages, api]
