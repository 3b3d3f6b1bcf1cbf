"""A loaded knowledge-base entry (`Entry`, with its `Link`s) and the hash of a set of entries.

What the index stores, searches and answers with; `kb_index.schema` makes them from the content files.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Link:
    """A link shown under an answer."""

    title: str
    url: str


@dataclass(frozen=True)
class Entry:
    """One FAQ entry in one language."""

    id: str
    language: str
    question: str
    answer: str
    phrasings: tuple[str, ...] = ()
    links: tuple[Link, ...] = ()
    tags: tuple[str, ...] = ()
    team: str | None = None
    source: str = ""  # file the entry came from, relative to the content directory

    @property
    def key(self) -> tuple[str, str]:
        """The unique key of an entry: (id, language)."""
        return (self.id, self.language)

    @property
    def texts(self) -> tuple[str, ...]:
        """The customer-side texts of the entry: canonical question first, then the phrasings."""
        return (self.question, *self.phrasings)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form (used in index metadata and the content hash)."""
        data = asdict(self)
        data["phrasings"] = list(self.phrasings)
        data["links"] = [asdict(link) for link in self.links]
        data["tags"] = list(self.tags)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Entry":
        return cls(
            id=data["id"],
            language=data["language"],
            question=data["question"],
            answer=data["answer"],
            phrasings=tuple(data.get("phrasings", ())),
            links=tuple(Link(**link) for link in data.get("links", ())),
            tags=tuple(data.get("tags", ())),
            team=data.get("team"),
            source=data.get("source", ""),
        )


def content_hash(entries: list[Entry]) -> str:
    """A hash of everything in the entries that the index depends on (not comments or formatting)."""
    digest = hashlib.sha256()
    for entry in sorted(entries, key=lambda e: e.key):
        digest.update(json.dumps(entry.to_dict(), sort_keys=True, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()
