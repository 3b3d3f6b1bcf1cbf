"""Changes to the bot's content made from the review inbox: a new example of an intent, a new phrasing of an FAQ
entry, a draft of a new FAQ entry.

`ContentChanges` is the port the review inbox uses; `bot.studio.review_changes.StudioChanges` implements it on
the studio's content layer, so a change made from the inbox is a studio revision by the editor who made it —
checked like an edit in the studio, listed among the unpublished changes, undone from the studio's history,
and live when an editor publishes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol


class ContentChangeError(ValueError):
    """A change that cannot be made (unknown intent or entry, a duplicate, an invalid text)."""


@dataclass(frozen=True)
class Written:
    kind: str  # intent_example | faq_phrasing | faq_draft
    target: str  # the intent, or the FAQ entry id
    language: str
    text: str
    file: str
    answer: str | None = None
    revision: int | None = None  # the studio revision that holds the change


@dataclass(frozen=True)
class Editor:
    """Who makes the change (an account's e-mail and display name)."""

    key: str
    name: str


class ContentChanges(Protocol):
    def intents(self) -> dict[str, list[str]]:
        """Intent names per language that examples can be added to."""

    def faq_entries(self) -> list[dict[str, str]]:
        """Every FAQ entry: id, language, question."""

    async def add_intent_example(self, editor: Editor, intent: str, language: str, text: str) -> Written: ...

    async def add_faq_phrasing(self, editor: Editor, entry_id: str, language: str, text: str) -> Written: ...

    async def draft_faq_entry(self, editor: Editor, question: str, answer: str, language: str) -> Written: ...


def one_line(text: str) -> str:
    line = " ".join((text or "").split())
    if not line:
        raise ContentChangeError("the text is empty")
    if len(line) > 500:
        raise ContentChangeError("the text is longer than 500 characters")
    return line


def slug(text: str) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(words)[:60].strip("-") or "draft"
