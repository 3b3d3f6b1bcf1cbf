"""The hub's domain errors, and the one map from them to HTTP answers (`install_error_handlers`)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from connectors.base import MessageRejected


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


def install_error_handlers(app: FastAPI) -> None:
    """Domain errors → their status and `{"error", "detail"}`; refused messages → 413 (too long) or 422."""

    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status_code)

    @app.exception_handler(MessageRejected)
    async def rejected(_: Request, exc: MessageRejected) -> JSONResponse:
        code = 413 if exc.code == "message_too_long" else 422
        return JSONResponse({"error": exc.code, "detail": str(exc)}, status_code=code)
