"""The studio's tables: content revisions with their items, and the audit log."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, insert, select

from bot.store.models import StudioAudit, StudioRevision, StudioRevisionItem, iso, utcnow

revisions = StudioRevision.__table__
items = StudioRevisionItem.__table__
audit = StudioAudit.__table__


@dataclass(frozen=True)
class ItemChange:
    """One item of a save: its key (`faq:<id>:<lang>`, `response:<name>`, `examples:<intent>:<lang>`,
    `intent:<name>`), a label people read, and its value before and after (None: absent)."""

    key: str
    label: str
    before: Any
    after: Any


@dataclass
class RevisionView:
    id: int
    created_at: str | None
    author: str
    author_name: str
    summary: str
    files: list[str]
    commit: str | None
    reverts: int | None
    items: list[ItemChange] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "created_at": self.created_at, "author": self.author, "author_name": self.author_name,
                "summary": self.summary, "files": self.files, "commit": self.commit, "reverts": self.reverts,
                "items": [{"key": i.key, "label": i.label, "before": i.before, "after": i.after} for i in self.items]}


def add_revision(conn: Connection, *, author: str, author_name: str, summary: str, files: list[str],
                 commit: str | None, changes: list[ItemChange], reverts: int | None = None) -> int:
    revision_id = conn.execute(insert(revisions).values(
        created_at=utcnow(), author=author, author_name=author_name, summary=summary, files=files, commit=commit,
        reverts=reverts).returning(revisions.c.id)).scalar_one()
    if changes:
        conn.execute(insert(items), [{"revision_id": revision_id, "key": c.key, "label": c.label, "before": c.before,
                                      "after": c.after} for c in changes])
    return int(revision_id)


def _view(row: Row[Any], changes: list[Row[Any]]) -> RevisionView:
    return RevisionView(row.id, iso(row.created_at), row.author, row.author_name, row.summary, list(row.files or []),
                        row.commit, row.reverts, [ItemChange(c.key, c.label, c.before, c.after) for c in changes])


def revision(conn: Connection, revision_id: int) -> RevisionView | None:
    row = conn.execute(select(revisions).where(revisions.c.id == revision_id)).first()
    if row is None:
        return None
    changes = list(conn.execute(select(items).where(items.c.revision_id == revision_id).order_by(items.c.id)))
    return _view(row, changes)


def history(conn: Connection, key: str, limit: int = 50) -> list[RevisionView]:
    """The revisions that changed item `key`, newest first (each with that item's change only)."""
    rows = conn.execute(select(revisions, items.c.key, items.c.label, items.c.before, items.c.after)
                        .join(items, items.c.revision_id == revisions.c.id).where(items.c.key == key)
                        .order_by(revisions.c.id.desc()).limit(limit))
    return [RevisionView(r.id, iso(r.created_at), r.author, r.author_name, r.summary, list(r.files or []), r.commit,
                         r.reverts, [ItemChange(r.key, r.label, r.before, r.after)]) for r in rows]


def latest_change(conn: Connection, key: str) -> RevisionView | None:
    found = history(conn, key, limit=1)
    return found[0] if found else None


def since(conn: Connection, revision_id: int, limit: int = 200) -> list[RevisionView]:
    """The revisions after `revision_id` (what a publish would bring), newest first."""
    rows = list(conn.execute(select(revisions).where(revisions.c.id > revision_id)
                             .order_by(revisions.c.id.desc()).limit(limit)))
    return [_view(r, []) for r in rows]


def recent(conn: Connection, limit: int = 50) -> list[RevisionView]:
    rows = list(conn.execute(select(revisions).order_by(revisions.c.id.desc()).limit(limit)))
    return [_view(r, []) for r in rows]


def add_audit(conn: Connection, *, actor: str, actor_name: str, action: str, summary: str,
              details: dict[str, Any] | None = None, revision_id: int | None = None, release: str | None = None) -> int:
    return int(conn.execute(insert(audit).values(
        at=utcnow(), actor=actor, actor_name=actor_name, action=action, summary=summary, details=details,
        revision_id=revision_id, release=release).returning(audit.c.id)).scalar_one())


def audit_log(conn: Connection, *, limit: int = 200, before_id: int | None = None) -> list[dict[str, Any]]:
    query = select(audit).order_by(audit.c.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(audit.c.id < before_id)
    return [{"id": r.id, "at": iso(r.at), "actor": r.actor, "actor_name": r.actor_name, "action": r.action,
             "summary": r.summary, "details": r.details, "revision_id": r.revision_id, "release": r.release}
            for r in conn.execute(query)]
