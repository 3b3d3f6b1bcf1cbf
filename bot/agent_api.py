"""The agent REST API: every console action is one of these endpoints (OpenAPI at /docs).

Authentication (see `bot.console.auth`): a console session cookie from `POST /api/auth/login` (state-changing
requests also send the `X-CSRF-Token` header), or `Authorization: Bearer <AGENT_API_TOKEN>` with the acting
agent in `X-Agent` (a registered agent's e-mail acts as that agent), or `Bearer <ADMIN_API_TOKEN>`.
"""

from __future__ import annotations

from typing import Any

import anyio
import httpx
from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

from bot.console.accounts import AccountError, AgentStore, agent_view
from bot.console.auth import COOKIE, AdminActor, Actor, CurrentActor, LoginThrottle, session_actor, signer
from bot.models import iso
from bot.router import AgentRef, Router, UnknownTarget, conversation_view, message_view, note_view
from bot.store import AsyncStore


class ReplyBody(BaseModel):
    text: str = Field(..., description="What the agent says to the customer.")


class NoteBody(BaseModel):
    text: str = Field(..., description="A private note: agents see it, the customer never does.")


class TransferBody(BaseModel):
    team: str | None = Field(None, description="Team key from handoff.yml: back into that team's queue.")
    agent: str | None = Field(None, description="E-mail of the agent who takes over directly.")
    note: str = Field("", max_length=2000, description="Why, for whoever picks it up (kept as a private note).")


class ReadBody(BaseModel):
    seq: int | None = Field(None, description="Read up to this message seq; default: everything so far.")


class CustomerBody(BaseModel):
    customer_key: str | None = Field(None, max_length=255,
                                     description="Links this conversation with the customer's others "
                                                 "(e.g. their e-mail); null unlinks.")


class PresenceBody(BaseModel):
    available: bool = Field(True, description="False: stay logged in but get no auto-assigned conversations.")


class LoginBody(BaseModel):
    email: str
    password: str


class NewAgentBody(BaseModel):
    email: str
    password: str
    display_name: str | None = None
    role: str = Field("agent", description="agent or admin")
    teams: list[str] = Field(default_factory=list)
    skills: list[str] = Field(default_factory=list)
    max_concurrent: int = Field(3, description="Most conversations the agent handles at once.")


class AgentPatchBody(BaseModel):
    display_name: str | None = None
    password: str | None = None
    role: str | None = None
    teams: list[str] | None = None
    skills: list[str] | None = None
    max_concurrent: int | None = None
    active: bool | None = None


def _router(request: Request) -> Router:
    return request.app.state.router


def _store(request: Request) -> AsyncStore:
    return request.app.state.store


def _accounts(request: Request) -> AgentStore:
    return request.app.state.accounts


def _ref(request: Request, actor: Actor) -> AgentRef:
    """The actor as the router knows agents: registered agents bring their capacity."""
    max_concurrent = None
    if actor.agent_id is not None:
        agent = _accounts(request).get(actor.agent_id)
        max_concurrent = agent.max_concurrent if agent else None
    return AgentRef(actor.key, actor.display_name, max_concurrent=max_concurrent, is_admin=actor.is_admin)


def actor_view(actor: Actor) -> dict[str, Any]:
    return {"key": actor.key, "display_name": actor.display_name, "role": actor.role, "via": actor.via,
            "agent_id": actor.agent_id}


# -- login -----------------------------------------------------------------------------------------

auth_api = APIRouter(prefix="/api/auth", tags=["auth"])


def _throttles(request: Request) -> tuple[LoginThrottle, LoginThrottle]:
    """Per e-mail (5 failures in 5 minutes) and per client address (30), kept per app."""
    state = request.app.state
    if not hasattr(state, "login_throttles"):
        state.login_throttles = (LoginThrottle(limit=5), LoginThrottle(limit=30))
    return state.login_throttles


@auth_api.post("/login", summary="Log in to the console: sets the session cookie, returns the CSRF token")
async def login(request: Request, body: LoginBody, response: Response) -> dict[str, Any]:
    settings = request.app.state.settings
    client = request.client.host if request.client else "?"
    by_email, by_ip = _throttles(request)
    email_key, ip_key = body.email.strip().lower(), client
    if by_email.blocked(email_key) or by_ip.blocked(ip_key):
        raise HTTPException(429, "too many failed logins: wait a few minutes and try again")
    accounts = _accounts(request)
    agent = await anyio.to_thread.run_sync(accounts.authenticate, body.email, body.password)
    if agent is None:
        by_email.failed(email_key)
        by_ip.failed(ip_key)
        raise HTTPException(401, "wrong e-mail or password")
    by_email.succeeded(email_key)
    token, csrf = accounts.open_session(agent.id, settings.session_max_age_s)
    response.set_cookie(
        COOKIE, signer(request).dumps(token), max_age=settings.session_max_age_s, httponly=True, samesite="strict",
        secure=settings.public_base_url.startswith("https://"), path="/",
    )
    return {"agent": agent_view(agent), "csrf_token": csrf}


@auth_api.post("/logout", summary="End this console session")
async def logout(request: Request, actor: CurrentActor, response: Response) -> dict[str, Any]:
    cookie = request.cookies.get(COOKIE)
    if actor.via == "session" and cookie:
        _accounts(request).close_session(signer(request).loads(cookie))
    response.delete_cookie(COOKIE, path="/")
    return {"ok": True}


@auth_api.get("/me", summary="Who is logged in, with the CSRF token for state-changing requests")
async def me(request: Request, actor: CurrentActor) -> dict[str, Any]:
    agent = _accounts(request).get(actor.agent_id) if actor.agent_id is not None else None
    return {"actor": actor_view(actor), "agent": agent_view(agent) if agent else None,
            "csrf_token": actor.csrf_token}


# -- agents ----------------------------------------------------------------------------------------

api = APIRouter(prefix="/api/agent", tags=["agent"])


async def _with_unread(request: Request, items: list[Any]) -> list[dict[str, Any]]:
    store = _store(request)
    unread = await store.unread([c.id for c in items])
    out = []
    for c in items:
        view = conversation_view(c)
        view["unread"] = unread.get(c.id, 0)
        out.append(view)
    return out


@api.get("/queue", summary="Queued conversations, highest priority first, then oldest first")
async def queue(request: Request, agent: CurrentActor, limit: int = 100, team: str | None = None) -> dict[str, Any]:
    store = _store(request)
    items = await store.queue(limit=min(max(limit, 1), 500))
    if team:
        items = [c for c in items if c.team == team]
    views = await _with_unread(request, items)
    for position, view in enumerate(views, start=1):
        view["position"] = position
    return {"conversations": views}


@api.get("/conversations", summary="Conversations by status and/or assigned agent (mine=true: the caller's)")
async def conversations(
    request: Request, agent: CurrentActor, status: str | None = None, mine: bool = False, limit: int = 100
) -> dict[str, Any]:
    items = await _store(request).list(status=status, agent=agent.key if mine else None,
                                       limit=min(max(limit, 1), 500))
    return {"conversations": await _with_unread(request, items)}


@api.get("/conversations/{conversation_id}",
         summary="A conversation: latest handoff (reason, summary, intents, KB candidates) first, then the "
                 "transcript, private notes, CSAT and the customer's other conversations")
async def conversation(request: Request, conversation_id: str, agent: CurrentActor) -> dict[str, Any]:
    store = _store(request)
    conv = await store.get(conversation_id)
    messages = await store.messages(conversation_id, limit=2000)
    handoffs = await store.handoffs(conversation_id)
    notes = await store.notes(conversation_id)
    csat = await store.csat(conversation_id)
    related = await store.related(conv)
    unread = (await store.unread([conv.id])).get(conv.id, 0)
    handoff_views = [
        {"reason": h.reason, "summary": h.summary, "details": h.details, "team": h.team, "priority": h.priority,
         "created_at": iso(h.created_at), "claimed_at": iso(h.claimed_at), "claimed_by": h.claimed_by}
        for h in handoffs
    ]
    return {
        "conversation": {**conversation_view(conv), "unread": unread},
        "handoff": handoff_views[-1] if handoff_views else None,
        "queue_position": await store.queue_position(conversation_id),
        "messages": [message_view(m) for m in messages],
        "handoffs": handoff_views,
        "notes": [note_view(n) for n in notes],
        "csat": [{"score": c.score, "agent": c.agent, "requested_at": iso(c.requested_at),
                  "answered_at": iso(c.answered_at)} for c in csat],
        "customer": {
            "name": conv.customer_name, "channel": conv.channel, "id": conv.external_user_id,
            "language": conv.language, "customer_key": conv.customer_key,
            "conversations": [conversation_view(c) for c in related],
            "messages": sum(1 for m in messages if m.sender == "customer"),
            "handoffs": len(handoffs),
        },
    }


@api.post("/conversations/{conversation_id}/claim", summary="Take a queued conversation (409 if taken)")
async def claim(request: Request, conversation_id: str, agent: CurrentActor) -> dict[str, Any]:
    conv = await _router(request).claim(conversation_id, _ref(request, agent))
    return {"conversation": conversation_view(conv)}


@api.post("/conversations/{conversation_id}/reply", summary="Reply to the customer through their channel")
async def reply(request: Request, conversation_id: str, body: ReplyBody, agent: CurrentActor) -> dict[str, Any]:
    message = await _router(request).agent_reply(conversation_id, _ref(request, agent), body.text)
    return {"message": message_view(message)}


@api.post("/conversations/{conversation_id}/resolve", summary="Close the conversation; the customer is asked "
                                                              "for a 1-5 rating")
async def resolve(request: Request, conversation_id: str, agent: CurrentActor) -> dict[str, Any]:
    conv = await _router(request).resolve(conversation_id, _ref(request, agent))
    return {"conversation": conversation_view(conv)}


@api.post("/conversations/{conversation_id}/hand-back", summary="Give the conversation back to the bot")
async def hand_back(request: Request, conversation_id: str, agent: CurrentActor) -> dict[str, Any]:
    conv = await _router(request).hand_back(conversation_id, _ref(request, agent))
    return {"conversation": conversation_view(conv)}


@api.post("/conversations/{conversation_id}/transfer",
          summary="Transfer to a team's queue or to another agent, with a private note")
async def transfer(request: Request, conversation_id: str, body: TransferBody, agent: CurrentActor) -> dict[str, Any]:
    router = _router(request)
    to_agent = None
    if body.agent:
        target = _accounts(request).by_email(body.agent)
        if target is None or not target.active:
            raise UnknownTarget(f"no active agent {body.agent!r}")
        to_agent = AgentRef(target.email, target.display_name, max_concurrent=target.max_concurrent)
    if (body.team is None) == (to_agent is None):
        raise HTTPException(422, "name either a team or an agent to transfer to")
    conv = await router.transfer(conversation_id, _ref(request, agent), team=body.team, to_agent=to_agent,
                                 note=body.note)
    return {"conversation": conversation_view(conv)}


@api.post("/conversations/{conversation_id}/notes", summary="Add a private note (never sent to the customer)")
async def add_note(request: Request, conversation_id: str, body: NoteBody, agent: CurrentActor) -> dict[str, Any]:
    note = await _router(request).add_note(conversation_id, _ref(request, agent), body.text)
    return {"note": note_view(note)}


@api.post("/conversations/{conversation_id}/read", summary="Mark the customer's messages read (unread counts)")
async def mark_read(request: Request, conversation_id: str, body: ReadBody, agent: CurrentActor) -> dict[str, Any]:
    store = _store(request)
    conv = await store.get(conversation_id)
    if conv.assigned_agent == agent.key:
        seq = body.seq
        if seq is None:
            messages = await store.messages(conversation_id, limit=100000)
            seq = messages[-1].seq if messages else 0
        await store.mark_read(conversation_id, seq)
    return {"unread": (await store.unread([conversation_id])).get(conversation_id, 0)}


@api.post("/conversations/{conversation_id}/customer", summary="Link the conversation to a customer identity")
async def link_customer(request: Request, conversation_id: str, body: CustomerBody, agent: CurrentActor) -> dict[str, Any]:
    key = body.customer_key.strip().lower() if body.customer_key and body.customer_key.strip() else None
    conv = await _store(request).set_customer_key(conversation_id, key)
    return {"conversation": conversation_view(conv)}


@api.get("/conversations/{conversation_id}/suggestions",
         summary="Knowledge-base entries for the customer's last message (from the action server)")
async def suggestions(request: Request, conversation_id: str, agent: CurrentActor, k: int = 3) -> dict[str, Any]:
    store = _store(request)
    conv = await store.get(conversation_id)
    customer = [m for m in await store.messages(conversation_id, limit=100000) if m.sender == "customer"
                and m.text.strip() and not m.text.startswith("/")]
    if not customer:
        return {"query": None, "hits": []}
    query = customer[-1].text
    base = request.app.state.settings.action_endpoint.removesuffix("/").removesuffix("/webhook")
    try:
        async with httpx.AsyncClient(timeout=8) as client:
            resp = await client.post(f"{base}/kb/search",
                                     json={"query": query, "language": conv.language, "k": min(max(k, 1), 10)})
        resp.raise_for_status()
        hits = resp.json().get("hits") or []
    except (httpx.HTTPError, ValueError) as exc:
        return {"query": query, "hits": [], "error": f"knowledge base unavailable: {exc}"}
    return {"query": query, "hits": [
        {"entry_id": h.get("entry_id"), "question": h.get("question"), "answer": h.get("answer"),
         "score": h.get("score"), "language": h.get("language"), "team": h.get("team")} for h in hits]}


@api.get("/canned", summary="Canned responses in a language (handoff.yml `canned:`), English as fallback")
async def canned(request: Request, agent: CurrentActor, language: str = "en") -> dict[str, Any]:
    return {"language": language, "responses": request.app.state.router.config.canned_for(language)}


@api.get("/teams", summary="Teams (skills, hours: open now?) and the agents online with their load")
async def teams(request: Request, agent: CurrentActor) -> dict[str, Any]:
    router = _router(request)
    load = await _store(request).load()
    agents = [{"key": a.key, "display_name": a.display_name, "teams": list(a.teams), "load": load.get(a.key, 0),
               "max_concurrent": a.max_concurrent} for a in router.presence.online()]
    registered = [{"email": a.email, "display_name": a.display_name, "teams": list(a.teams or []),
                   "online": router.presence.is_online(a.email), "load": load.get(a.email, 0)}
                  for a in _accounts(request).all() if a.active]
    return {"teams": [t.view() for t in router.config.teams.values()], "online": agents, "agents": registered}


@api.post("/presence", summary="Heartbeat for API clients; available=false stops auto-assignment to you")
async def presence(request: Request, body: PresenceBody, agent: CurrentActor) -> dict[str, Any]:
    router = _router(request)
    record = _accounts(request).get(agent.agent_id) if agent.agent_id is not None else None
    router.presence.heartbeat(agent.key, agent.display_name, tuple(record.teams or []) if record else (),
                              record.max_concurrent if record else 3, available=body.available)
    assigned = await router.dispatch() if body.available else []
    return {"online": router.presence.is_online(agent.key), "assigned": [c for c, a in assigned if a == agent.key]}


# -- admins ----------------------------------------------------------------------------------------

admin_api = APIRouter(prefix="/api/admin", tags=["admin"])


def _account_error(exc: AccountError) -> HTTPException:
    return HTTPException(409 if exc.conflict else 422, str(exc))


@admin_api.get("/agents", summary="All agent accounts")
async def list_agents(request: Request, admin: AdminActor) -> dict[str, Any]:
    return {"agents": [agent_view(a) for a in _accounts(request).all()]}


@admin_api.post("/agents", status_code=201, summary="Create an agent or admin account")
async def create_agent(request: Request, body: NewAgentBody, admin: AdminActor) -> dict[str, Any]:
    try:
        agent = await anyio.to_thread.run_sync(lambda: _accounts(request).create(**body.model_dump()))
    except AccountError as exc:
        raise _account_error(exc) from None
    return {"agent": agent_view(agent)}


@admin_api.patch("/agents/{agent_id}", summary="Change an account (password, role, teams, capacity, active)")
async def update_agent(request: Request, agent_id: int, body: AgentPatchBody, admin: AdminActor) -> dict[str, Any]:
    try:
        agent = await anyio.to_thread.run_sync(
            lambda: _accounts(request).update(agent_id, **body.model_dump(exclude_unset=True)))
    except AccountError as exc:
        raise _account_error(exc) from None
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    return {"agent": agent_view(agent)}


@admin_api.get("/csat", summary="Average CSAT per agent (agent null: the bot)")
async def csat_summary(request: Request, admin: AdminActor) -> dict[str, Any]:
    return {"csat": await _store(request).csat_summary()}


@admin_api.get("/webhooks", summary="Recent outgoing webhook deliveries and their state")
async def webhook_deliveries(request: Request, admin: AdminActor) -> dict[str, Any]:
    sender = request.app.state.webhooks
    return {"urls": list(sender.urls), "deliveries": [
        {"id": d.delivery_id, "event": d.event, "url": d.url, "attempts": d.attempts, "ok": d.ok, "done": d.done,
         "last_status": d.last_status, "last_error": d.last_error} for d in reversed(sender.deliveries)]}


__all__ = ["admin_api", "api", "auth_api", "session_actor"]


def _dead_letter_view(row: Any) -> dict[str, Any]:
    return {"id": row.id, "message_id": row.message_id, "conversation_id": row.conversation_id,
            "channel": row.channel, "text": (row.body or {}).get("text", ""), "attempts": row.attempts,
            "last_error": row.last_error, "created_at": iso(row.created_at), "updated_at": iso(row.updated_at)}


@api.get("/dead-letters", summary="Outbound messages that could not be delivered after every retry round")
async def dead_letters(request: Request, agent: CurrentActor, limit: int = 100) -> dict[str, Any]:
    queue = _router(request).delivery
    rows = await anyio.to_thread.run_sync(queue.dead_letters, min(max(limit, 1), 500))
    return {"dead_letters": [_dead_letter_view(r) for r in rows]}


@api.post("/dead-letters/{letter_id}/retry", summary="Try a dead letter again (a fresh set of delivery rounds)")
async def retry_dead_letter(request: Request, letter_id: int, agent: CurrentActor) -> dict[str, Any]:
    queue = _router(request).delivery
    if not await queue.retry(letter_id):
        row = await anyio.to_thread.run_sync(queue.get, letter_id)
        if row is None:
            raise HTTPException(404, f"no dead letter {letter_id}")
        raise HTTPException(409, f"message {letter_id} is {row.state}, not a dead letter")
    await queue.run_due()
    row = await anyio.to_thread.run_sync(queue.get, letter_id)
    return {"state": row.state if row else "missing"}
