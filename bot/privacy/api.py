"""The admin API of personal data: export and erase a customer's data, and the retention sweep (admins only;
every call is in the audit log)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from bot.agents.auth import Actor
from bot.audit import who_of
from bot.errors import AUTHENTICATED, Invalid, responses
from bot.privacy.service import Subject

if TYPE_CHECKING:
    from bot.container import Container


class SubjectBody(BaseModel):
    """Whose data: their id on one channel, or the customer key agents linked their conversations with. In the
    body, not the URL, so that phone numbers and e-mails stay out of access logs."""

    model_config = {"extra": "forbid", "json_schema_extra": {
        "examples": [{"channel": "whatsapp", "external_id": "whatsapp:+447700900123", "reference": "DSR-2026-041"},
                     {"customer_key": "jo@example.org"}]}}
    channel: str | None = Field(None, max_length=32, description="web, telegram, whatsapp, sms")
    external_id: str | None = Field(None, max_length=255, description="The customer's id on that channel (the "
                                                                      "console shows it under Customer)")
    customer_key: str | None = Field(None, max_length=255, description="The key that links their conversations")
    include_linked: bool = Field(True, description="Also the conversations linked to these by a customer key")
    reference: str | None = Field(None, max_length=100, description="Your request's reference, kept in the audit "
                                                                    "log (e.g. DSR-2026-041)")

    def subject(self) -> Subject:
        return Subject(channel=self.channel, external_id=self.external_id, customer_key=self.customer_key,
                       include_linked=self.include_linked)


class EraseBody(SubjectBody):
    confirm: bool = Field(False, description="Must be true: an erasure cannot be undone")


class RetentionBody(BaseModel):
    model_config = {"extra": "forbid"}
    days: int | None = Field(None, ge=1, le=36500, description="Delete conversations inactive this long "
                                                               "(default RETENTION_DAYS)")


class ExportSummary(BaseModel):
    conversations: int
    records: dict[str, int] = Field(description="Rows per table")
    rasa_tracker_events: int
    log_lines: int


class ExportDocument(BaseModel):
    """The file handed to the customer (docs/privacy.md)."""

    model_config = {"extra": "allow"}
    format: str = Field(description="supportbot-personal-data/1")
    generated_at: str
    reference: str | None
    subject: dict[str, Any]
    summary: ExportSummary
    conversations: list[dict[str, Any]] = Field(description="Each conversation with its readable transcript")
    records: dict[str, list[dict[str, Any]]] = Field(description="Every stored row, per table")
    rasa_tracker: dict[str, list[dict[str, Any]]] = Field(description="Rasa's events, per conversation id")
    logs: list[dict[str, str]] = Field(description="Log lines naming the customer's ids: {file, line}")
    held_elsewhere: list[str] = Field(description="Copies beyond the hub's reach")


class Erased(BaseModel):
    conversations: int
    records: dict[str, int] = Field(description="Rows deleted per table")
    rasa_tracker_events: int
    log_ids_masked: int
    in_memory_copies: int


class EraseReport(BaseModel):
    erased: Erased
    conversation_ids: list[str]
    reference: str | None
    held_elsewhere: list[str]


class Sweep(BaseModel):
    model_config = {"extra": "allow"}
    retention_days: int
    conversations: int = Field(description="Conversations deleted")
    cutoff: str | None = None
    records: dict[str, int] = Field(default_factory=dict)
    rasa_tracker_events: int = 0


class RetentionStatus(BaseModel):
    retention_days: int = Field(description="RETENTION_DAYS (0: keep everything)")
    last_sweep: Sweep | None


def build_privacy_api(c: "Container") -> APIRouter:
    admin_only = Depends(c.auth.admin_actor)
    api = APIRouter(prefix="/api/admin/privacy", tags=["privacy"], responses=responses(*AUTHENTICATED))

    @api.post("/export", summary="Everything held about a customer, as a JSON file (GDPR access request)",
              responses={200: {"model": ExportDocument}, **responses(503)})
    async def export(body: SubjectBody, request: Request, admin: Actor = admin_only) -> JSONResponse:
        document = await c.privacy.export(body.subject(), who_of(admin, request), reference=body.reference)
        name = f"personal-data-{date.today().isoformat()}.json"
        return JSONResponse(document, headers={"Content-Disposition": f'attachment; filename="{name}"',
                                               "Cache-Control": "no-store"})

    @api.post("/erase", summary="Erase everything held about a customer (irreversible; repeating it is harmless)",
              responses=responses(503), response_model=EraseReport)
    async def erase(body: EraseBody, request: Request, admin: Actor = admin_only) -> dict[str, Any]:
        if not body.confirm:
            raise Invalid("an erasure cannot be undone: send confirm=true")
        return await c.privacy.erase(body.subject(), who_of(admin, request), reference=body.reference)

    @api.get("/retention", summary="The retention setting and the last sweep", response_model=RetentionStatus)
    async def retention(admin: Actor = admin_only) -> dict[str, Any]:
        return {"retention_days": c.privacy.retention_days, "last_sweep": c.privacy.last_sweep}

    @api.post("/retention", summary="Run the retention sweep now (RETENTION_DAYS, or the days given)",
              responses=responses(503), response_model=Sweep)
    async def sweep(request: Request, body: RetentionBody | None = None, admin: Actor = admin_only) -> dict[str, Any]:
        days = body.days if body and body.days else None
        if days is None and c.privacy.retention_days <= 0:
            raise Invalid("RETENTION_DAYS is 0 (keep everything): give the days to delete after")
        return await c.privacy.sweep(days=days, who=who_of(admin, request))

    return api
