"""Who is calling: a console session (signed cookie + CSRF header) or the API bearer tokens.

- Console: `POST /api/auth/login` sets the `sb_console` cookie (HttpOnly, SameSite=Strict, signed with
  SESSION_SECRET, backed by a row in `agent_sessions` so logout really ends it) and returns a CSRF token. Every
  state-changing request with the cookie must send that token in the `X-CSRF-Token` header.
- Integrations: `Authorization: Bearer <AGENT_API_TOKEN>` with `X-Agent: <name or agent e-mail>`, or
  `Authorization: Bearer <ADMIN_API_TOKEN>` for admin endpoints. Bearer requests carry no ambient
  credentials, so they need no CSRF token.

Errors: no or bad credentials → 401; a missing/wrong CSRF token → 403; an agent on admin endpoints → 403.
"""

from __future__ import annotations

import hmac
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from fastapi import HTTPException, Request
from itsdangerous import BadSignature, URLSafeSerializer

from bot.agents.accounts import AgentStore
from core.settings import HubSettings

COOKIE = "sb_console"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Actor:
    """The acting person. `key` is what `Conversation.assigned_agent` holds (an agent's e-mail, or the
    X-Agent name of a bearer-token caller that is not a registered agent)."""

    key: str
    display_name: str
    role: str  # agent | admin
    via: str  # session | token
    agent_id: int | None = None
    csrf_token: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class Auth:
    """Authenticates callers of the agent API and the console socket (the module docstring says how)."""

    def __init__(self, settings: HubSettings, accounts: AgentStore) -> None:
        self.settings = settings
        self.accounts = accounts
        self.signer = URLSafeSerializer(settings.session_secret.get_secret_value(), salt="console-session")
        self.login_by_email = LoginThrottle(limit=5)
        self.login_by_client = LoginThrottle(limit=30)

    def session_actor(self, cookie: str | None) -> Actor | None:
        """The agent behind a console cookie, or None for a missing, forged, expired or logged-out one."""
        if not cookie:
            return None
        try:
            token = self.signer.loads(cookie)
        except BadSignature:
            return None
        if not isinstance(token, str):
            return None
        info = self.accounts.session(token)
        if info is None:
            return None
        a = info.agent
        return Actor(key=a.email, display_name=a.display_name, role=a.role, via="session", agent_id=a.id,
                     csrf_token=info.csrf_token)

    def _bearer_actor(self, request: Request, token: str) -> Actor:
        x_agent = (request.headers.get("x-agent") or "").strip()
        if len(x_agent) > 100:
            raise HTTPException(400, "the X-Agent header is too long (100 characters at most)")
        admin = self.settings.admin_api_token.get_secret_value()
        agent = self.settings.agent_api_token.get_secret_value()  # empty (not configured): no bearer access
        if admin and hmac.compare_digest(token.encode(), admin.encode()):
            role = "admin"
        elif agent and hmac.compare_digest(token.encode(), agent.encode()):
            role = "agent"
            if not x_agent:
                raise HTTPException(400, "name the acting agent in the X-Agent header")
        else:
            raise HTTPException(401, "missing or wrong agent token (Authorization: Bearer <AGENT_API_TOKEN>)")
        x_agent = x_agent or "admin"
        known = self.accounts.by_email(x_agent) if "@" in x_agent else None
        if known is not None and known.active:
            return Actor(key=known.email, display_name=known.display_name, role=role, via="token", agent_id=known.id)
        return Actor(key=x_agent, display_name=x_agent, role=role, via="token")

    def current_actor(self, request: Request) -> Actor:
        """FastAPI dependency: the authenticated caller (see the module docstring)."""
        authorization = request.headers.get("authorization")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise HTTPException(401, "missing or wrong agent token (Authorization: Bearer <AGENT_API_TOKEN>)")
            return self._bearer_actor(request, token.strip())
        cookie = request.cookies.get(COOKIE)
        if not cookie:
            raise HTTPException(401, "log in first (POST /api/auth/login) or send Authorization: Bearer <token>")
        actor = self.session_actor(cookie)
        if actor is None:
            raise HTTPException(401, "your session is not valid (expired, logged out or forged): log in again")
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER.lower()) or ""
            if not sent or not hmac.compare_digest(sent.encode(), (actor.csrf_token or "").encode()):
                raise HTTPException(403, f"missing or wrong CSRF token: send the {CSRF_HEADER} header from login")
        return actor

    def admin_actor(self, request: Request) -> Actor:
        """FastAPI dependency: the caller, who must be an admin."""
        actor = self.current_actor(request)
        if not actor.is_admin:
            raise HTTPException(403, "admins only")
        return actor

    def agent_actor(self, request: Request) -> Actor:
        """FastAPI dependency: someone who answers customers (an agent or an admin; not an editor)."""
        actor = self.current_actor(request)
        if actor.role not in ("agent", "admin"):
            raise HTTPException(403, "agents and admins only: editors change content in the studio")
        return actor

    def editor_actor(self, request: Request) -> Actor:
        """FastAPI dependency: someone who may change the bot's content and read reports (editor or admin)."""
        actor = self.current_actor(request)
        if actor.role not in ("editor", "admin"):
            raise HTTPException(403, "editors and admins only")
        return actor


class LoginThrottle:
    """At most `limit` failed logins per e-mail and per client address in `window_s` seconds."""

    def __init__(self, limit: int = 5, window_s: float = 300.0) -> None:
        self.limit, self.window_s = limit, window_s
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str) -> deque[float]:
        q = self._failures[key]
        cutoff = time.monotonic() - self.window_s
        while q and q[0] < cutoff:
            q.popleft()
        return q

    def blocked(self, *keys: str) -> bool:
        return any(len(self._recent(k)) >= self.limit for k in keys)

    def failed(self, *keys: str) -> None:
        for k in keys:
            self._recent(k).append(time.monotonic())

    def succeeded(self, *keys: str) -> None:
        for k in keys:
            self._failures.pop(k, None)
