"""The review inbox's content changes (`bot.insights.content_changes.ContentChanges`) made through the studio.

Each change is one studio revision by the editor who clicked it: the same checks as an edit in the studio, the
same conflict rules, in the studio's history (and git, when the content is a git work tree), among the
unpublished changes until an editor publishes. A draft of a new FAQ entry is a new entry under the topic
`drafts`, so the editor finds it in the studio, rewrites the agent's reply into an answer, and publishes it.
"""

from __future__ import annotations

from typing import Any

from bot.errors import DomainError
from bot.insights.content_changes import ContentChangeError, Editor, Written, one_line, slug
from bot.studio.content import Author, ContentService, Saved

DRAFT_TOPIC = "drafts"


class StudioChanges:
    def __init__(self, content: ContentService) -> None:
        self.content = content

    def intents(self) -> dict[str, list[str]]:
        names = sorted(set(self.content.nlu.intents()) | set(self.content.domain.intents()))
        return {language: names for language in self.content.languages}

    def faq_entries(self) -> list[dict[str, str]]:
        return [{"id": v.id, "language": v.language, "question": str(v.fields.get("question", ""))}
                for v in self.content.faq.versions()]

    async def add_intent_example(self, editor: Editor, intent: str, language: str, text: str) -> Written:
        line = one_line(text)
        saved = await self._save(self.content.add_example(_author(editor), intent, language, line))
        files = [self.content.shown(f.path) for f in self.content.nlu.files() for b in f.blocks
                 if b.intent == intent and b.language == language and any(t == line for _, t in b.examples)]
        return Written("intent_example", intent, language, line, ", ".join(files), revision=saved.revision)

    async def add_faq_phrasing(self, editor: Editor, entry_id: str, language: str, text: str) -> Written:
        line = one_line(text)
        current = self.content.faq.get(entry_id, language)
        if current is None:
            have = sorted(v.language for v in self.content.faq.versions() if v.id == entry_id)
            raise ContentChangeError(f"no FAQ entry {entry_id!r} in {language!r} "
                                     f"(languages: {', '.join(have) or 'none'})")
        phrasings = list(current.fields.get("phrasings") or [])
        if line.casefold() in {str(p).casefold() for p in phrasings} | {str(current.fields.get("question")).casefold()}:
            raise ContentChangeError(f"{line!r} is already a phrasing of {entry_id} ({language})")
        fields = {**current.fields, "phrasings": phrasings + [line]}
        saved = await self._save(self.content.save_faq(_author(editor), entry_id, language, fields,
                                                       base=current.version))
        return Written("faq_phrasing", entry_id, language, line, current.file, revision=saved.revision)

    async def draft_faq_entry(self, editor: Editor, question: str, answer: str, language: str) -> Written:
        question = one_line(question)
        if not (answer or "").strip():
            raise ContentChangeError("a draft needs an answer: start from the agent's reply")
        taken = {v.id for v in self.content.faq.versions()}
        entry_id, n = slug(question), 0
        while entry_id in taken:  # another question with the same words in its id: a new id, not its entry
            n += 1
            entry_id = f"{slug(question)}-{n}"
        saved = await self._save(self.content.save_faq(
            _author(editor), entry_id, language, {"question": question, "answer": answer.strip()}, base=None,
            topic=DRAFT_TOPIC))
        written = self.content.faq.get(entry_id, language)
        return Written("faq_draft", entry_id, language, question, written.file if written else "", answer=answer.strip(),
                       revision=saved.revision)

    async def _save(self, change: Any) -> Saved:
        try:
            return await change
        except DomainError as exc:  # invalid, unknown, conflicting: the studio's own words
            raise ContentChangeError(str(exc)) from None


def _author(editor: Editor) -> Author:
    return Author(editor.key, editor.name)
