"""The agent REST API: every console action is one of these endpoints (OpenAPI at /docs).

Authentication (see `bot.agents.auth`): a console session cookie from `POST /api/auth/login` (state-changing
requests also send the `X-CSRF-Token` header), or `Authorization: Bearer <AGENT_API_TOKEN>` with the acting
agent in `X-Agent` (a registered agent's e-mail acts as that agent), or `Bearer <ADMIN_API_TOKEN>`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field

from bot import audit
from bot.audit import who_of
from bot.agents.accounts import AccountError, agent_view
from bot.agents.auth import COOKIE, Actor
from bot.conversations.agent_actions import AgentRef
from bot.delivery import outbox
from bot.errors import AUTHENTICATED, MAX_ID, Conflict, Invalid, NotFound, UnknownTarget, responses
from bot.store import conversations as conversation_store
from bot.store import messages as message_store
from bot.store import audit as audit_store
from bot.store import notes as note_store
from bot.store.models import Status, iso
from bot.views import conversation_view, handoff_view, message_view, note_view
from core.errors import CallError

if TYPE_CHECKING:
    from bot.container import Container


class ReplyBody(BaseModel):
    text: str = Field(..., description="What the agent says to the customer.")


class NoteBody(BaseModel):
    text: str = Field(..., description="A private note: agents see it, the customer never does.")


class TransferBody(BaseModel):
    team: str | None = Field(None, max_length=64, description="Team key from handoff.yml: back into that team's queue.")
    agent: str | None = Field(None, max_length=255, description="E-mail of the agent who takes over directly.")
    note: str = Field("", max_length=2000, description="Why, for whoever picks it up (kept as a private note).")


class ReadBody(BaseModel):
    seq: int | None = Field(None, ge=0, le=MAX_ID,
                            description="Read up to this message seq; default: everything so far.")


class CustomerBody(BaseModel):
    customer_key: str | None = Field(None, max_length=255,
                                     description="Links this conversation with the customer's others "
                                                 "(e.g. their e-mail); null unlinks.")


class PresenceBody(BaseModel):
    available: bool = Field(True, description="False: stay logged in but get no auto-assigned conversations.")


class LoginBody(BaseModel):
    email: str = Field(..., max_length=320)
    password: str = Field(..., max_length=1024)


# A str (not a Literal) so that a wrong role gets the accounts' own sentence; the schema still lists the three.
Role = Annotated[str, Field(max_length=16, json_schema_extra={"enum": ["agent", "editor", "admin"]})]
Keys = list[Annotated[str, Field(min_length=1, max_length=64)]]


class NewAgentBody(BaseModel):
    email: str = Field(..., max_length=255)
    password: str = Field(..., max_length=1024, description="At least 8 characters, at most 72 bytes.")
    display_name: str | None = Field(None, max_length=255)
    role: Role = Field("agent", description="agent (answers customers), editor (content and reports) or admin")
    teams: Keys = Field(default_factory=list, max_length=50)
    skills: Keys = Field(default_factory=list, max_length=50)
    max_concurrent: int = Field(3, ge=1, le=100, description="Most conversations the agent handles at once.")


class AgentPatchBody(BaseModel):
    display_name: str | None = Field(None, max_length=255)
    password: str | None = Field(None, max_length=1024)
    role: Role | None = None
    teams: Keys | None = Field(None, max_length=50)
    skills: Keys | None = Field(None, max_length=50)
    max_concurrent: int | None = Field(None, ge=1, le=100)
    active: bool | None = None


AuditAction = Literal[audit.ACTIONS + audit.FAMILIES]  # type: ignore[valid-type]


class AuditFilters(BaseModel):
    """What `GET /api/admin/audit` returns: every filter given must match."""

    model_config = {"extra": "forbid"}
    actor: str | None = Field(None, max_length=255, description="Who acted (an agent's e-mail, an X-Agent name)")
    action: AuditAction | None = Field(None, description="An action, or a family such as `conversation.`")
    target: str | None = Field(None, max_length=255, description="The account, dead letter … acted on")
    conversation_id: str | None = Field(None, max_length=64)
    since: AwareDatetime | None = Field(None, description="From this time on (ISO 8601 with a time zone)")
    until: AwareDatetime | None = Field(None, description="Before this time")
    before: int | None = Field(None, ge=1, le=MAX_ID, description="Page on: entries older than this id "
                                                                  "(`next_before` of the previous page)")
    limit: int = Field(100, ge=1, le=500)

class AuditEntryView(BaseModel):
    id: int
    at: str
    action: str
    actor: str | None = Field(description="An agent's e-mail, an X-Agent name, system, cli:<user>; null: unknown")
    role: str | None
    via: str | None = Field(description="session, token, auto, cli or system")
    client: str | None = Field(description="The caller's address")
    conversation_id: str | None
    target: str | None = Field(description="The account, dead letter … acted on")
    details: dict[str, Any] = Field(description="Never content or passwords")


class AuditPage(BaseModel):
    entries: list[AuditEntryView]
    next_before: int | None = Field(description="Pass as `before` for the next (older) page; null: no more")


# Path and query parameters, range-checked (a 422 says which and why; an out-of-range id never reaches the database).
ConversationId = Annotated[str, Path(min_length=1, max_length=64, description="The conversation's id")]
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=500, description="At most this many (1-500)")]
TeamKey = Annotated[str | None, Query(max_length=64, description="Only this team's (handoff.yml key)")]


def actor_view(actor: Actor) -> dict[str, Any]:
    return {"key": actor.key, "display_name": actor.display_name, "role": actor.role, "via": actor.via,
            "agent_id": actor.agent_id}


def preview(m: Any) -> dict[str, Any] | None:
    if m is None:
        return None
    text = " ".join((m.text or "").split())
    return {"sender": m.sender, "sender_name": m.sender_name, "text": text[:140] + ("…" if len(text) > 140 else ""),
            "created_at": iso(m.created_at)}


def _dead_letter_view(row: Any) -> dict[str, Any]:
    return {"id": row.id, "message_id": row.message_id, "conversation_id": row.conversation_id,
            "channel": row.channel, "text": (row.body or {}).get("text", ""), "attempts": row.attempts,
            "last_error": row.last_error, "created_at": iso(row.created_at), "updated_at": iso(row.updated_at)}


def _account_error(exc: AccountError) -> Exception:
    return Conflict(str(exc)) if exc.conflict else Invalid(str(exc))


def build_routers(c: "Container") -> list[APIRouter]:
    """The auth, agent and admin routers, with their dependencies from the composition root."""
    settings, accounts, auth, db, agents = c.settings, c.accounts, c.auth, c.db, c.agents
    current = Depends(auth.current_actor)  # any logged-in account (login, logout, me)
    agent = Depends(auth.agent_actor)  # answers customers: agents and admins
    admin_only = Depends(auth.admin_actor)

    def ref(actor: Actor, request: Request) -> AgentRef:
        """The actor as agent actions know agents: registered agents bring their capacity."""
        max_concurrent = None
        if actor.agent_id is not None:
            agent = accounts.get(actor.agent_id)
            max_concurrent = agent.max_concurrent if agent else None
        return AgentRef(actor.key, actor.display_name, max_concurrent=max_concurrent, is_admin=actor.is_admin,
                        who=who_of(actor, request))

    # -- login -------------------------------------------------------------------------------------

    auth_api = APIRouter(prefix="/api/auth", tags=["auth"])

    @auth_api.post("/login", summary="Log in to the console: sets the session cookie, returns the CSRF token",
                   responses=responses(401, 422, 429))
    async def login(request: Request, body: LoginBody, response: Response) -> dict[str, Any]:
        client = request.client.host if request.client else "?"  # the proxy's word only from FORWARDED_ALLOW_IPS
        account = body.email.strip().lower()
        wait = await anyio.to_thread.run_sync(auth.throttle.wait_s, account, client)
        if wait > 0:
            seconds = max(1, round(wait))
            if await anyio.to_thread.run_sync(auth.throttle.first_refusal, account, client, wait):
                await _audit_failed_login(account, request, "auth.login_refused", retry_after_s=seconds)
            raise HTTPException(429, f"too many failed logins: try again in {seconds} s",
                                headers={"Retry-After": str(seconds)})
        agent = await anyio.to_thread.run_sync(accounts.authenticate, body.email, body.password)
        if agent is None:
            imposed = await anyio.to_thread.run_sync(auth.throttle.failed, account, client)
            await _audit_failed_login(account, request, **({"wait_s": max(1, round(imposed))} if imposed else {}))
            raise HTTPException(401, "wrong e-mail or password")
        await anyio.to_thread.run_sync(auth.throttle.succeeded, account, client)
        token, csrf = accounts.open_session(agent.id, settings.session_max_age_s)
        await db.write(lambda tx: audit.record(tx.conn, audit.Who(agent.email, role=agent.role, via="session",
                                                                  client=client), "auth.login"))
        response.set_cookie(
            COOKIE, auth.signer.dumps(token), max_age=settings.session_max_age_s, httponly=True, samesite="strict",
            secure=settings.public_base_url.startswith("https://"), path="/",
        )
        return {"agent": agent_view(agent), "csrf_token": csrf}

    @auth_api.post("/logout", summary="End this console session", responses=responses(*AUTHENTICATED))
    async def logout(request: Request, response: Response, actor: Actor = current) -> dict[str, Any]:
        cookie = request.cookies.get(COOKIE)
        if actor.via == "session" and cookie:
            accounts.close_session(auth.signer.loads(cookie))
            await db.write(lambda tx: audit.record(tx.conn, who_of(actor, request), "auth.logout"))
        response.delete_cookie(COOKIE, path="/")
        return {"ok": True}

    @auth_api.get("/me", summary="Who is logged in, with the CSRF token for state-changing requests",
                  responses=responses(*AUTHENTICATED))
    async def me(actor: Actor = current) -> dict[str, Any]:
        agent = accounts.get(actor.agent_id) if actor.agent_id is not None else None
        return {"actor": actor_view(actor), "agent": agent_view(agent) if agent else None,
                "csrf_token": actor.csrf_token}

    # -- agents ------------------------------------------------------------------------------------

    api = APIRouter(prefix="/api/agent", tags=["agent"], responses=responses(*AUTHENTICATED))

    def with_unread(conn: Any, items: list[Any]) -> list[dict[str, Any]]:
        """List rows: the conversation, its unread count and a preview of its last message."""
        ids = [c.id for c in items]
        unread = conversation_store.unread(conn, ids)
        last = message_store.last_messages(conn, ids)
        return [{**conversation_view(c), "unread": unread.get(c.id, 0), "last_message": preview(last.get(c.id))}
                for c in items]

    @api.get("/queue", summary="Queued conversations, highest priority first, then oldest first")
    async def queue(limit: Limit = 100, team: TeamKey = None, actor: Actor = agent) -> dict[str, Any]:
        def read(conn: Any) -> list[dict[str, Any]]:
            items = conversation_store.queue(conn, limit=limit)
            return with_unread(conn, [c for c in items if not team or c.team == team])

        views = await db.read(read)
        for position, view in enumerate(views, start=1):
            view["position"] = position
        return {"conversations": views}

    @api.get("/conversations", summary="Conversations by status and/or assigned agent (mine=true: the caller's)")
    async def conversations(status: Status | None = None, mine: bool = False, limit: Limit = 100,
                            actor: Actor = agent) -> dict[str, Any]:
        def read(conn: Any) -> list[dict[str, Any]]:
            items = conversation_store.listing(conn, status=status.value if status else None,
                                               agent=actor.key if mine else None, limit=limit)
            return with_unread(conn, items)

        return {"conversations": await db.read(read)}

    @api.get("/conversations/{conversation_id}",
             summary="A conversation: latest handoff (reason, summary, intents, KB candidates) first, then the "
                     "transcript, private notes, CSAT and the customer's other conversations",
                     responses=responses(404))
    async def conversation(conversation_id: ConversationId, actor: Actor = agent) -> dict[str, Any]:
        def read(conn: Any) -> dict[str, Any]:
            conv = conversation_store.get(conn, conversation_id)
            messages = message_store.listing(conn, conversation_id, limit=2000)
            handoffs = [handoff_view(h) for h in conversation_store.handoff_rows(conn, conversation_id)]
            unread = conversation_store.unread(conn, [conv.id]).get(conv.id, 0)
            return {
                "conversation": {**conversation_view(conv), "unread": unread},
                "handoff": handoffs[-1] if handoffs else None,
                "queue_position": conversation_store.queue_position(conn, conv),
                "messages": [message_view(m) for m in messages],
                "handoffs": handoffs,
                "notes": [note_view(n) for n in note_store.notes_of(conn, conversation_id)],
                "csat": [{"score": r.score, "agent": r.agent, "requested_at": iso(r.requested_at),
                          "answered_at": iso(r.answered_at)} for r in note_store.csat_of(conn, conversation_id)],
                "customer": {
                    "name": conv.customer_name, "channel": conv.channel, "id": conv.external_user_id,
                    "language": conv.language, "customer_key": conv.customer_key,
                    "conversations": [conversation_view(r) for r in conversation_store.related(conn, conv)],
                    "messages": sum(1 for m in messages if m.sender == "customer"),
                    "handoffs": len(handoffs),
                },
            }

        return await db.read(read)

    @api.post("/conversations/{conversation_id}/claim", summary="Take a queued conversation (409 if taken)",
              responses=responses(404, 409))
    async def claim(conversation_id: ConversationId, request: Request, actor: Actor = agent) -> dict[str, Any]:
        return {"conversation": conversation_view(await agents.claim(conversation_id, ref(actor, request)))}

    @api.post("/conversations/{conversation_id}/reply", summary="Reply to the customer through their channel",
              responses=responses(404, 409, 413))
    async def reply(conversation_id: ConversationId, request: Request, body: ReplyBody,
                    actor: Actor = agent) -> dict[str, Any]:
        return {"message": await agents.reply(conversation_id, ref(actor, request), body.text)}

    @api.post("/conversations/{conversation_id}/resolve",
              summary="Close the conversation; the customer is asked for a 1-5 rating", responses=responses(404, 409))
    async def resolve(conversation_id: ConversationId, request: Request, actor: Actor = agent) -> dict[str, Any]:
        return {"conversation": conversation_view(await agents.resolve(conversation_id, ref(actor, request)))}

    @api.post("/conversations/{conversation_id}/hand-back", summary="Give the conversation back to the bot",
              responses=responses(404, 409))
    async def hand_back(conversation_id: ConversationId, request: Request, actor: Actor = agent) -> dict[str, Any]:
        return {"conversation": conversation_view(await agents.hand_back(conversation_id, ref(actor, request)))}

    @api.post("/conversations/{conversation_id}/transfer",
              summary="Transfer to a team's queue or to another agent, with a private note",
              responses=responses(404, 409))
    async def transfer(conversation_id: ConversationId, request: Request, body: TransferBody,
                       actor: Actor = agent) -> dict[str, Any]:
        to_agent = None
        if body.agent:
            target = accounts.by_email(body.agent)
            if target is None or not target.active:
                raise UnknownTarget(f"no active agent {body.agent!r}")
            to_agent = AgentRef(target.email, target.display_name, max_concurrent=target.max_concurrent)
        if (body.team is None) == (to_agent is None):
            raise Invalid("name either a team or an agent to transfer to")
        conv = await agents.transfer(conversation_id, ref(actor, request), team=body.team, to_agent=to_agent,
                                     note=body.note)
        return {"conversation": conversation_view(conv)}

    @api.post("/conversations/{conversation_id}/notes", summary="Add a private note (never sent to the customer)",
              responses=responses(404, 413))
    async def add_note(conversation_id: ConversationId, request: Request, body: NoteBody,
                       actor: Actor = agent) -> dict[str, Any]:
        return {"note": note_view(await agents.add_note(conversation_id, ref(actor, request), body.text))}

    @api.post("/conversations/{conversation_id}/read", summary="Mark the customer's messages read (unread counts)",
              responses=responses(404))
    async def mark_read(conversation_id: ConversationId, body: ReadBody, actor: Actor = agent) -> dict[str, Any]:
        def work(tx: Any) -> int:
            conv = conversation_store.get(tx.conn, conversation_id)
            if conv.assigned_agent == actor.key:
                seq = body.seq if body.seq is not None else message_store.last_seq(tx.conn, conversation_id)
                conversation_store.mark_read(tx.conn, conversation_id, seq)
            return conversation_store.unread(tx.conn, [conversation_id]).get(conversation_id, 0)

        return {"unread": await db.write(work)}

    @api.post("/conversations/{conversation_id}/customer",
              summary="Link the conversation to a customer identity (its linked conversations follow)",
              responses=responses(404))
    async def link_customer(conversation_id: ConversationId, request: Request, body: CustomerBody,
                            actor: Actor = agent) -> dict[str, Any]:
        key = body.customer_key.strip().lower() if body.customer_key and body.customer_key.strip() else None

        def work(tx: Any) -> Any:
            conv = conversation_store.get(tx.conn, conversation_id)
            conversation_store.link_customer(tx.conn, conv, key)
            # never the key itself: it is the customer's e-mail or the like
            audit.record(tx.conn, who_of(actor, request), "conversation.link_customer",
                         conversation_id=conversation_id, linked=key is not None)
            return conversation_store.get(tx.conn, conversation_id)

        return {"conversation": conversation_view(await db.write(work))}

    @api.get("/conversations/{conversation_id}/suggestions",
             summary="Knowledge-base entries for the customer's last message (from the action server)",
             responses=responses(404))
    async def suggestions(conversation_id: ConversationId, k: Annotated[int, Query(ge=1, le=10)] = 3,
                          actor: Actor = agent) -> dict[str, Any]:
        def read(conn: Any) -> tuple[Any, str | None]:
            return (conversation_store.get(conn, conversation_id),
                    message_store.last_customer_text(conn, conversation_id))

        conv, query = await db.read(read)
        if not query:
            return {"query": None, "hits": []}
        try:
            hits = await c.actions.kb_search(query, conv.language, k=k)
        except CallError as exc:
            return {"query": query, "hits": [], "error": f"knowledge base unavailable: {exc}"}
        return {"query": query, "hits": [
            {"entry_id": h.get("entry_id"), "question": h.get("question"), "answer": h.get("answer"),
             "score": h.get("score"), "language": h.get("language"), "team": h.get("team")} for h in hits]}

    @api.get("/canned", summary="Canned responses in a language (handoff.yml `canned:`), English as fallback")
    async def canned(language: Annotated[str, Query(min_length=2, max_length=35)] = "en",
                     actor: Actor = agent) -> dict[str, Any]:
        return {"language": language, "responses": c.handoff_config.canned_for(language)}

    @api.get("/teams", summary="Teams (skills, hours: open now?) and the agents online with their load")
    async def teams(actor: Actor = agent) -> dict[str, Any]:
        load = await db.read(conversation_store.load)
        agents_online = await c.presence.online()
        online = [{"key": a.key, "display_name": a.display_name, "teams": list(a.teams), "load": load.get(a.key, 0),
                   "max_concurrent": a.max_concurrent} for a in agents_online]
        keys = {a.key for a in agents_online}
        registered = [{"email": a.email, "display_name": a.display_name, "teams": list(a.teams or []),
                       "online": a.email in keys, "load": load.get(a.email, 0)}
                      for a in accounts.all() if a.active]
        return {"teams": [t.view() for t in c.handoff_config.teams.values()], "online": online, "agents": registered}

    @api.post("/presence", summary="Heartbeat for API clients; available=false stops auto-assignment to you")
    async def presence(body: PresenceBody, actor: Actor = agent) -> dict[str, Any]:
        record = accounts.get(actor.agent_id) if actor.agent_id is not None else None
        await c.presence.heartbeat(actor.key, actor.display_name, tuple(record.teams or []) if record else (),
                                   record.max_concurrent if record else 3, available=body.available)
        assigned = await c.dispatcher.dispatch() if body.available else []
        return {"online": await c.presence.is_online(actor.key),
                "assigned": [cid for cid, a in assigned if a == actor.key]}

    @api.get("/dead-letters", summary="Outbound messages that could not be delivered after every retry round")
    async def dead_letters(limit: Limit = 100, actor: Actor = agent) -> dict[str, Any]:
        rows = await db.read(outbox.dead_letters, limit)
        return {"dead_letters": [_dead_letter_view(r) for r in rows]}

    @api.post("/dead-letters/{letter_id}/retry", summary="Try a dead letter again (a fresh set of delivery rounds)",
              responses=responses(404, 409))
    async def retry_dead_letter(letter_id: RowId, request: Request, actor: Actor = agent) -> dict[str, Any]:
        try:
            state = await c.delivery.retry(letter_id, who=who_of(actor, request))
        except ValueError as exc:
            raise Conflict(f"message {letter_id} is {exc}, not a dead letter") from None
        if state is None:
            raise NotFound(f"no dead letter {letter_id}")
        return {"state": state}

    # -- admins ------------------------------------------------------------------------------------

    admin_api = APIRouter(prefix="/api/admin", tags=["admin"], responses=responses(*AUTHENTICATED))

    @admin_api.get("/agents", summary="All agent accounts")
    async def list_agents(admin: Actor = admin_only) -> dict[str, Any]:
        return {"agents": [agent_view(a) for a in accounts.all()]}

    @admin_api.post("/agents", status_code=201, summary="Create an agent or admin account", responses=responses(409))
    async def create_agent(body: NewAgentBody, request: Request, admin: Actor = admin_only) -> dict[str, Any]:
        try:
            agent = await anyio.to_thread.run_sync(lambda: accounts.create(**body.model_dump(),
                                                                           who=who_of(admin, request)))
        except AccountError as exc:
            raise _account_error(exc) from None
        return {"agent": agent_view(agent)}

    @admin_api.patch("/agents/{agent_id}", summary="Change an account (password, role, teams, capacity, active)",
                     responses=responses(404, 409))
    async def update_agent(agent_id: RowId, body: AgentPatchBody, request: Request,
                           admin: Actor = admin_only) -> dict[str, Any]:
        try:
            agent = await anyio.to_thread.run_sync(
                lambda: accounts.update(agent_id, **body.model_dump(exclude_unset=True),
                                        who=who_of(admin, request)))
        except AccountError as exc:
            raise _account_error(exc) from None
        except LookupError as exc:
            raise NotFound(str(exc)) from None
        return {"agent": agent_view(agent)}

    @admin_api.post("/visitors/{visitor}/revoke-tokens",
                    summary="Sign a web chat visitor out everywhere: their tokens are refused and open chats closed")
    async def revoke_visitor(visitor: Annotated[str, Path(min_length=1, max_length=64)], request: Request,
                             admin: Actor = admin_only) -> dict[str, Any]:
        closed = await c.connectors["web"].revoke(visitor)  # type: ignore[attr-defined]  # the web chat is always on
        await db.write(lambda tx: audit.record(tx.conn, who_of(admin, request), "visitor.revoke_tokens",
                                               target=visitor, closed_chats=closed))
        return {"visitor": visitor, "revoked": True, "closed_chats": closed}

    @admin_api.get("/csat", summary="Average CSAT per agent (agent null: the bot)")
    async def csat_summary(admin: Actor = admin_only) -> dict[str, Any]:
        return {"csat": await db.read(note_store.csat_summary)}

    @admin_api.get("/webhooks", summary="Recent outgoing webhook deliveries and their state")
    async def webhook_deliveries(admin: Actor = admin_only) -> dict[str, Any]:
        sender = c.webhooks
        return {"urls": list(sender.urls), "deliveries": [
            {"id": d.delivery_id, "event": d.event, "url": d.url, "attempts": d.attempts, "ok": d.ok, "done": d.done,
             "last_status": d.last_status, "last_error": d.last_error} for d in reversed(sender.deliveries)]}

    @admin_api.get("/audit", summary="The audit log: agent and admin actions, newest first (never message content)",
                   response_model=AuditPage)
    async def audit_log(filters: Annotated[AuditFilters, Query()], admin: Actor = admin_only) -> dict[str, Any]:
        f = filters
        rows = await db.read(audit_store.search, actor=f.actor.strip().lower() if f.actor else None, action=f.action,
                             target=f.target, conversation_id=f.conversation_id, since=f.since, until=f.until,
                             before_id=f.before, limit=f.limit)
        return {"entries": [audit.entry_view(r) for r in rows],
                "next_before": rows[-1].id if len(rows) == f.limit else None}

    async def _audit_failed_login(email: str, request: Request, action: str = "auth.login_failed",
                                  **details: Any) -> None:
        """A failed (or throttled: `auth.login_refused`, once per wait) login names the account only if it exists
        (what was typed could be a password); `wait_s`: the wait this failure imposes on the next try."""
        known = await anyio.to_thread.run_sync(accounts.by_email, email)
        client = request.client.host if request.client else None
        await db.write(lambda tx: audit.record(tx.conn, audit.Who(None, via="session", client=client),
                                               action, target=known.email if known else None,
                                               known_account=known is not None, **details))

    return [auth_api, api, admin_api]
