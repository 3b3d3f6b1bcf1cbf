"""The audit log of agent and admin actions: who did what, to which conversation or account, when, from where.

It never holds message content, note text, passwords or customer contact details: replies and notes are recorded
without their text, account changes name the fields changed, a failed login names the account only when it exists.
Every entry is written inside the unit of work of the change it records (`record(tx.conn, ...)`), so a change and
its record commit or roll back together; logins, which change nothing else, are a unit of work of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from bot.store import audit as audit_store
from bot.store.models import iso

#: Every action the log records (the admin API's `action` filter takes one of these, or a family such as
#: "conversation.").
ACTIONS = (
    "auth.login", "auth.login_failed", "auth.login_refused", "auth.logout",
    "conversation.claim", "conversation.reply", "conversation.resolve", "conversation.hand_back",
    "conversation.transfer", "conversation.note", "conversation.link_customer",
    "account.create", "account.update",
    "dead_letter.retry",
    "visitor.revoke_tokens",
    "privacy.export", "privacy.erase", "privacy.retention",
)
FAMILIES = tuple(sorted({a.split(".")[0] + "." for a in ACTIONS}))


@dataclass(frozen=True)
class Who:
    """The acting person as the audit log knows them."""

    key: str | None  # an agent's e-mail, an X-Agent name, "system"; None: an unknown account (failed login)
    role: str | None = None
    via: str | None = None  # session | token | auto | cli | system
    client: str | None = None  # the caller's address (after FORWARDED_ALLOW_IPS)


SYSTEM = Who("system", via="system")


def who_of(actor: Any, request: Any) -> Who:
    """An API caller (`bot.agents.auth.Actor`) as the audit log records them; the address is the one uvicorn
    resolved (X-Forwarded-For only from trusted proxies)."""
    client = request.client.host if request.client else None
    return Who(actor.key, role=actor.role, via=actor.via, client=client)


def record(conn: Connection, who: Who | None, action: str, *, conversation_id: str | None = None,
           target: str | int | None = None, **details: Any) -> None:
    """Append one entry in the caller's transaction. `details` must hold no content (texts, passwords)."""
    assert action in ACTIONS, action
    who = who or SYSTEM
    audit_store.append(conn, action=action, actor=who.key, role=who.role, via=who.via,
                       client=(who.client or None) and who.client[:64], conversation_id=conversation_id,
                       target=None if target is None else str(target)[:255], details=details or None)


def entry_view(row: Any) -> dict[str, Any]:
    return {"id": row.id, "at": iso(row.at), "action": row.action, "actor": row.actor, "role": row.role,
            "via": row.via, "client": row.client, "conversation_id": row.conversation_id, "target": row.target,
            "details": row.details or {}}
