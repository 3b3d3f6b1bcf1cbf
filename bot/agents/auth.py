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
from dataclasses import dataclass
from fastapi import HTTPException, Request
from itsdangerous import BadSignature, URLSafeSerializer
from limits.storage import storage_from_string

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
        self.throttle = LoginThrottle(settings.redis_url or "memory://")

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


@dataclass(frozen=True)
class Tier:
    """Failures of one kind allowed freely within `window_s`; after that each one doubles the wait (≤ `max_s`)."""

    name: str
    free: int
    max_s: float
    window_s: float = 900.0

    def delay(self, failures: int) -> float:
        return 0.0 if failures < self.free else min(2.0 ** (failures - self.free), self.max_s)


class LoginThrottle:
    """Failed logins slow down, never lock everyone out: growing delays per account *and* client address (the
    guesser waits, the real owner logging in from elsewhere does not), a higher bar per client address (one
    address trying many accounts) and a short one per account (many addresses guessing one account).

    Counters live in a `limits` storage: in memory (one hub process), or Redis (`REDIS_URL`), shared by every
    hub process. A successful login clears its account+client counter."""

    PAIR = Tier("account+client", free=3, max_s=300.0)  # the guesser: 1 s, 2 s, 4 s … up to 5 minutes
    CLIENT = Tier("client", free=20, max_s=10.0)  # one address, many accounts: slowed, but never locks an office out
    ACCOUNT = Tier("account", free=10, max_s=30.0)  # many addresses, one account: the owner waits seconds at most

    def __init__(self, storage_uri: str = "memory://") -> None:
        self.storage = storage_from_string(storage_uri)

    def _keys(self, account: str, client: str) -> list[tuple[Tier, str]]:
        return [(self.PAIR, f"login:{account}|{client}"), (self.CLIENT, f"login:*|{client}"),
                (self.ACCOUNT, f"login:{account}|*")]

    def wait_s(self, account: str, client: str) -> float:
        """How long this account may not be tried from this client (0: go ahead)."""
        now = time.time()
        waits = [self.storage.get_expiry(f"wait:{key}") - now for _, key in self._keys(account, client)
                 if self.storage.get(f"wait:{key}")]
        return max([0.0, *waits])

    def failed(self, account: str, client: str) -> float:
        """Count a failure; returns the wait it imposes now."""
        longest = 0.0
        for tier, key in self._keys(account, client):
            failures = self.storage.incr(key, int(tier.window_s))
            delay = tier.delay(failures)
            if delay:
                self.storage.clear(f"wait:{key}")
                self.storage.incr(f"wait:{key}", max(1, round(delay)))
                longest = max(longest, delay)
        return longest

    def first_refusal(self, account: str, client: str, wait_s: float) -> bool:
        """Whether this is the first attempt refused during the current wait of this account+client (the audit
        log records that one, not every retry of a guesser)."""
        return self.storage.incr(f"refused:{account}|{client}", max(1, round(wait_s))) == 1

    def succeeded(self, account: str, client: str) -> None:
        pair = self._keys(account, client)[0][1]
        self.storage.clear(pair)
        self.storage.clear(f"wait:{pair}")
