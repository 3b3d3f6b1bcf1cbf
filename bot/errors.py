"""The hub's domain errors, the one map from them to HTTP answers (`install_error_handlers`), and how those
answers are documented in the OpenAPI schema (`ErrorBody`, `responses`).

Every 4xx the hub sends has one shape: `{"error": <machine-readable code>, "detail": <what to do>}` (validation
errors carry FastAPI's list of problems as `detail`; a refused state change adds the conversation's `status`;
the studio adds refused content's `problems`, and an edit conflict's item and both versions).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from connectors.base import MessageRejected

#: The largest id an integer column holds on every database the hub supports (PostgreSQL INTEGER).
MAX_ID = 2**31 - 1


class DomainError(Exception):
    """Base of the errors a caller can act on (4xx)."""

    status_code = 400
    code = "bad_request"

    def body(self) -> dict[str, object]:
        return {"error": self.code, "detail": str(self)}


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class UnknownTarget(NotFound):
    """A transfer to a team or agent that does not exist."""


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class InvalidTransition(Conflict):
    """The conversation's status does not allow this change (someone else got there first, or it is closed)."""

    def __init__(self, conversation_id: str, action: str, current: str) -> None:
        super().__init__(f"cannot {action.replace('_', ' ')} conversation {conversation_id}: it is {current}")
        self.conversation_id = conversation_id
        self.action = action
        self.current = current

    def body(self) -> dict[str, object]:
        return {**super().body(), "status": self.current}


class NotAllowed(Conflict):
    """An agent action the conversation's ownership or the agent's capacity does not allow."""


class Invalid(DomainError):
    """A value that is well-formed but cannot be used (an unknown role, a too-short password)."""

    status_code = 422
    code = "invalid_request"


# -- the documented shape -------------------------------------------------------------------------------


class ValidationIssue(BaseModel):
    """One problem with the request, as FastAPI reports it."""

    model_config = ConfigDict(extra="allow")
    loc: list[str | int] = Field(description="Where: body / query / path / header, then the field")
    msg: str
    type: str


class ContentProblem(BaseModel):
    """One problem with content submitted to the studio."""

    field: str = Field(description="The field (e.g. `text`, `variations.0.buttons.0.payload`); empty: the whole item")
    message: str
    level: str = Field(description="error (refused) or warning (saved anyway)")


class ErrorBody(BaseModel):
    """Every 4xx answer of the hub."""

    model_config = ConfigDict(extra="allow")
    error: str = Field(description="Machine-readable code: bad_request, unauthorized, forbidden, not_found, "
                                   "conflict, invalid_request, message_too_long, empty_message, too_many_requests …")
    detail: str | list[ValidationIssue] = Field(description="What went wrong and what to do; for invalid input "
                                                            "the list of problems")
    status: str | None = Field(None, description="A refused state change: the conversation's current status")
    # The studio's refusals (`/api/studio`) add what the editor needs to fix or merge the change:
    problems: list[ContentProblem] | None = Field(None, description="Refused studio content (invalid_content): "
                                                                    "what is wrong, field by field")
    key: str | None = Field(None, description="A studio edit conflict (edit_conflict): the item, e.g. faq:<id>:<lang>")
    yours: Any = Field(None, description="An edit conflict: the version you sent (null: you deleted it)")
    theirs: Any = Field(None, description="An edit conflict: the version saved now (null: it was deleted)")
    version: str | None = Field(None, description="An edit conflict: the current version, the `base` of a retry")
    changed_by: str | None = Field(None, description="An edit conflict: who saved the current version")
    changed_at: str | None = Field(None, description="An edit conflict: when (ISO 8601)")


_DESCRIPTIONS = {  # status → (what it means, an example body)
    400: ("Bad request (for example the X-Agent header is missing or too long)",
          {"error": "bad_request", "detail": "name the acting agent in the X-Agent header"}),
    401: ("Not authenticated: log in, or send `Authorization: Bearer <token>`",
          {"error": "unauthorized", "detail": "log in first (POST /api/auth/login) or send Authorization: Bearer "
                                              "<token>"}),
    403: ("Authenticated but not allowed: wrong role, or a cookie request without its X-CSRF-Token",
          {"error": "forbidden", "detail": "admins only"}),
    404: ("No such conversation, account or record", {"error": "not_found", "detail": "no conversation 3f2a…"}),
    409: ("The current state does not allow this (someone else got there first, or it is closed)",
          {"error": "conflict", "detail": "cannot claim conversation 3f2a…: it is assigned", "status": "assigned"}),
    413: ("Too long (`message_too_long`: more than MAX_MESSAGE_CHARS)",
          {"error": "message_too_long", "detail": "A reply can be at most 4096 characters."}),
    422: ("Invalid input: `detail` lists the problems, or says which value cannot be used",
          {"error": "invalid_request", "detail": [{"loc": ["query", "limit"], "type": "less_than_equal",
                                                   "msg": "Input should be less than or equal to 500"}]}),
    429: ("Too many attempts: wait and try again (see Retry-After)",
          {"error": "too_many_requests", "detail": "too many failed logins: wait a few minutes and try again"}),
    503: ("A store the hub needs is unreachable (Rasa's tracker store): nothing was changed, try again",
          {"error": "tracker_unavailable", "detail": "Rasa's tracker store is unreachable: check "
                                                     "RASA_TRACKER_STORE_URL and try again"}),
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, each with the `ErrorBody` model and an example."""
    return {code: {"model": ErrorBody, "description": _DESCRIPTIONS[code][0],
                   "content": {"application/json": {"example": _DESCRIPTIONS[code][1]}}} for code in codes}


def described(code: int, description: str, example: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for one error status with the `ErrorBody` model, in an endpoint's own words."""
    return {code: {"model": ErrorBody, "description": description,
                   "content": {"application/json": {"example": example}}}}


#: What any authenticated endpoint can answer besides its own errors.
AUTHENTICATED = (400, 401, 403, 422)


def _code(status: int) -> str:
    return {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
            409: "conflict", 413: "too_large", 422: "invalid_request", 429: "too_many_requests",
            }.get(status) or HTTPStatus(status).phrase.lower().replace(" ", "_")


def install_error_handlers(app: FastAPI) -> None:
    """Domain errors → their status and `{"error", "detail"}`; refused messages → 413 (too long) or 422; FastAPI's
    own HTTP and validation errors → the same shape."""

    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status_code)

    @app.exception_handler(MessageRejected)
    async def rejected(_: Request, exc: MessageRejected) -> JSONResponse:
        code = 413 if exc.code == "message_too_long" else 422
        return JSONResponse({"error": exc.code, "detail": str(exc)}, status_code=code)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": _code(exc.status_code), "detail": exc.detail}, status_code=exc.status_code,
                            headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        issues = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        return JSONResponse({"error": "invalid_request", "detail": jsonable_encoder(issues)}, status_code=422)
