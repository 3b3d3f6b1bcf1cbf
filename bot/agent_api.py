"""The agent REST API: list the queue, read a conversation, claim, reply, resolve, hand back.

Authentication: `Authorization: Bearer <AGENT_API_TOKEN>`; the acting agent names themself in the
`X-Agent` header. (The agent console issue replaces this with per-agent logins.)
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from pydantic import BaseModel, Field

from bot.models import iso
from bot.router import Router, conversation_view, message_view
from bot.store import AsyncStore


class ReplyBody(BaseModel):
    text: str = Field(..., description="What the agent says to the customer.")


def _require_agent(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_agent: Annotated[str | None, Header()] = None,
) -> str:
    expected = str(request.app.state.settings.agent_api_token)
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        raise HTTPException(401, "missing or wrong agent token (Authorization: Bearer <AGENT_API_TOKEN>)")
    if not x_agent or not x_agent.strip() or len(x_agent) > 100:
        raise HTTPException(400, "name the acting agent in the X-Agent header")
    return x_agent.strip()


Agent = Annotated[str, Depends(_require_agent)]


def _router(request: Request) -> Router:
    return request.app.state.router


def _store(request: Request) -> AsyncStore:
    return request.app.state.store


api = APIRouter(prefix="/api/agent", tags=["agent"])


@api.get("/queue", summary="Queued conversations, highest priority first, then oldest first")
async def queue(request: Request, agent: Agent, limit: int = 100) -> dict[str, Any]:
    store = _store(request)
    items = await store.queue(limit=min(max(limit, 1), 500))
    return {"conversations": [conversation_view(c) for c in items]}


@api.get("/conversations", summary="Conversations by status and/or assigned agent")
async def conversations(
    request: Request, agent: Agent, status: str | None = None, mine: bool = False, limit: int = 100
) -> dict[str, Any]:
    items = await _store(request).list(status=status, agent=agent if mine else None, limit=min(max(limit, 1), 500))
    return {"conversations": [conversation_view(c) for c in items]}


@api.get("/conversations/{conversation_id}", summary="A conversation with its transcript and handoff reasons")
async def conversation(request: Request, conversation_id: str, agent: Agent) -> dict[str, Any]:
    store = _store(request)
    conv = await store.get(conversation_id)
    messages = await store.messages(conversation_id)
    handoffs = await store.handoffs(conversation_id)
    return {
        "conversation": conversation_view(conv),
        "messages": [message_view(m) for m in messages],
        "handoffs": [
            {"reason": h.reason, "summary": h.summary, "details": h.details,
             "created_at": iso(h.created_at)}
            for h in handoffs
        ],
    }


@api.post("/conversations/{conversation_id}/claim", summary="Take a queued conversation")
async def claim(request: Request, conversation_id: str, agent: Agent) -> dict[str, Any]:
    conv = await _router(request).claim(conversation_id, agent)
    return {"conversation": conversation_view(conv)}


@api.post("/conversations/{conversation_id}/reply", summary="Reply to the customer through their channel")
async def reply(request: Request, conversation_id: str, body: ReplyBody, agent: Agent) -> dict[str, Any]:
    message = await _router(request).agent_reply(conversation_id, agent, body.text)
    return {"message": message_view(message)}


@api.post("/conversations/{conversation_id}/resolve", summary="Close the conversation")
async def resolve(request: Request, conversation_id: str, agent: Agent) -> dict[str, Any]:
    conv = await _router(request).resolve(conversation_id, agent)
    return {"conversation": conversation_view(conv)}


@api.post("/conversations/{conversation_id}/hand-back", summary="Give the conversation back to the bot")
async def hand_back(request: Request, conversation_id: str, agent: Agent) -> dict[str, Any]:
    conv = await _router(request).hand_back(conversation_id)
    return {"conversation": conversation_view(conv)}
