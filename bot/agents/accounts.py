"""Agent accounts and console sessions (tables `agents`, `agent_sessions`). Passwords are bcrypt hashes."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import bcrypt
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.exc import IntegrityError

from bot import audit
from bot.store.db import session_factory
from bot.store.models import Agent, AgentSession, Role, iso, utcnow

log = logging.getLogger(__name__)

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")
MIN_PASSWORD = 8
# bcrypt looks at the first 72 bytes only; longer passwords are refused rather than silently cut.
MAX_PASSWORD_BYTES = 72


class AccountError(ValueError):
    """Bad account data (maps to 422) or a duplicate e-mail (409)."""

    def __init__(self, message: str, *, conflict: bool = False) -> None:
        super().__init__(message)
        self.conflict = conflict


#: bcrypt cost factor. Tests lower it (`accounts.BCRYPT_ROUNDS = 4`) to stay fast; never lower it in production.
BCRYPT_ROUNDS = 12


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode("ascii")


def check_password(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode("utf-8"), hashed.encode("ascii"))
    except ValueError:
        return False


_dummy_hash: str | None = None


def _dummy() -> str:
    """A hash to compare against when the e-mail is unknown, so a login takes as long either way."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hash_password("not-a-password")
    return _dummy_hash


def validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise AccountError(f"the password can be at most {MAX_PASSWORD_BYTES} bytes")


def agent_view(a: Agent) -> dict[str, Any]:
    return {"id": a.id, "email": a.email, "display_name": a.display_name, "role": a.role,
            "teams": list(a.teams or []), "skills": list(a.skills or []), "max_concurrent": a.max_concurrent,
            "active": a.active, "created_at": iso(a.created_at)}


@dataclass(frozen=True)
class SessionInfo:
    agent: Agent
    csrf_token: str


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class AgentStore:
    def __init__(self, engine: Engine) -> None:
        self._session = session_factory(engine)

    # -- accounts ------------------------------------------------------------------------------

    def create(self, *, email: str, password: str, display_name: str | None = None, role: str = "agent",
               teams: list[str] | None = None, skills: list[str] | None = None, max_concurrent: int = 3,
               who: audit.Who | None = None) -> Agent:
        """A new account; with `who`, recorded in the audit log in the same transaction."""
        email = email.strip().lower()
        if not EMAIL_RE.match(email) or len(email) > 255:
            raise AccountError(f"not an e-mail address: {email!r}")
        if role not in {r.value for r in Role}:
            raise AccountError(f"role must be agent, editor or admin, not {role!r}")
        if not 1 <= max_concurrent <= 100:
            raise AccountError("max_concurrent must be between 1 and 100")
        validate_password(password)
        agent = Agent(email=email, display_name=(display_name or email.split("@")[0]).strip()[:255],
                      password_hash=hash_password(password), role=role, teams=list(teams or []),
                      skills=list(skills or []), max_concurrent=max_concurrent, active=True)
        try:
            with self._session.begin() as s:
                s.add(agent)
                if who is not None:
                    s.flush()  # the constraint fails here, before anything is recorded
                    audit.record(s.connection(), who, "account.create", target=email, role=role,
                                 teams=list(teams or []))
        except IntegrityError:
            raise AccountError(f"an agent with e-mail {email} exists already", conflict=True) from None
        log.info("agent %s created (%s)", email, role)
        return agent

    def update(self, agent_id: int, *, who: audit.Who | None = None, **values: Any) -> Agent:
        """Change an account; with `who`, recorded in the audit log (the fields changed, never their values)."""
        with self._session.begin() as s:
            agent = s.get(Agent, agent_id)
            if agent is None:
                raise LookupError(f"no agent {agent_id}")
            changed = sorted(k for k, v in values.items() if v is not None)
            if "password" in values:
                password = values.pop("password")
                if password is not None:
                    validate_password(password)
                    agent.password_hash = hash_password(password)
                    s.execute(delete(AgentSession).where(AgentSession.agent_id == agent_id))
            if values.get("role") is not None and values["role"] not in {r.value for r in Role}:
                raise AccountError(f"role must be agent, editor or admin, not {values['role']!r}")
            if values.get("max_concurrent") is not None and not 1 <= values["max_concurrent"] <= 100:
                raise AccountError("max_concurrent must be between 1 and 100")
            for key, value in values.items():
                if value is not None:
                    setattr(agent, key, value)
            if values.get("active") is False:
                s.execute(delete(AgentSession).where(AgentSession.agent_id == agent_id))
            if who is not None:
                audit.record(s.connection(), who, "account.update", target=agent.email, fields=changed)
            return agent

    def get(self, agent_id: int) -> Agent | None:
        with self._session() as s:
            return s.get(Agent, agent_id)

    def by_email(self, email: str) -> Agent | None:
        with self._session() as s:
            return s.scalars(select(Agent).where(Agent.email == email.strip().lower())).first()

    def all(self) -> list[Agent]:
        with self._session() as s:
            return list(s.scalars(select(Agent).order_by(Agent.id)))

    def count(self) -> int:
        with self._session() as s:
            return int(s.scalar(select(func.count()).select_from(Agent)) or 0)

    def authenticate(self, email: str, password: str) -> Agent | None:
        agent = self.by_email(email)
        if agent is None or not agent.active:
            check_password(password, _dummy())
            return None
        return agent if check_password(password, agent.password_hash) else None

    def ensure_admin(self, email: str, password: str, display_name: str = "Admin") -> Agent | None:
        """Create the first admin from settings if no agent with that e-mail exists; never overwrites one."""
        if not email or not password:
            return None
        existing = self.by_email(email)
        if existing is not None:
            return existing
        try:
            return self.create(email=email, password=password, display_name=display_name, role="admin",
                               who=audit.SYSTEM)  # from ADMIN_EMAIL / ADMIN_PASSWORD
        except AccountError as exc:
            if exc.conflict:  # another worker created it at the same moment
                return self.by_email(email)
            raise

    # -- sessions ------------------------------------------------------------------------------

    def open_session(self, agent_id: int, max_age_s: int) -> tuple[str, str]:
        """A new session: (secret token for the cookie, CSRF token)."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = utcnow()
        with self._session.begin() as s:
            s.execute(delete(AgentSession).where(AgentSession.expires_at < now))
            s.add(AgentSession(token_hash=token_hash(token), agent_id=agent_id, csrf_token=csrf,
                               expires_at=now + timedelta(seconds=max_age_s)))
        return token, csrf

    def session(self, token: str) -> SessionInfo | None:
        with self._session() as s:
            row = s.get(AgentSession, token_hash(token))
            if row is None or _aware(row.expires_at) < utcnow():
                return None
            agent = s.get(Agent, row.agent_id)
            if agent is None or not agent.active:
                return None
            return SessionInfo(agent, row.csrf_token)

    def close_session(self, token: str) -> None:
        with self._session.begin() as s:
            s.execute(delete(AgentSession).where(AgentSession.token_hash == token_hash(token)))
