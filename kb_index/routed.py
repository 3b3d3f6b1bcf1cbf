"""Two indexes of the same content, chosen per question by the customer's language.

The English sentence encoder (all-MiniLM-L6-v2 by default) ranks English questions best, but it does not
understand Italian, Chinese or Romanian; the multilingual encoder (USE multilingual v3) does, in one space for
all languages, but ranks English questions less well (benchmarks/README.md, KB and multilingual sections).
So the content is indexed twice, and a question goes to the primary index when its language is one of
`primary_languages` (setting EMBEDDING_LANGUAGES), else to the multilingual one. Each index has its own
thresholds, because the two encoders' scores live on different scales.

In the multilingual index every language version of an entry is a row, so a question finds the entry in its
own language or, when the entry has no version in that language, in another one; the answer is then given in
the customer's language when the entry has that version, else in the best-matching one (`Hit.language`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from kb_index.schema import Entry
from kb_index.search import Decision, Hit, KnowledgeBase, KnowledgeBaseHolder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoutedKnowledgeBase:
    """A `KnowledgeBase` look-alike over a primary and an optional multilingual index."""

    primary: KnowledgeBase
    multilingual: KnowledgeBase | None
    primary_languages: frozenset[str]
    default_language: str = "en"

    def pick(self, language: str | None) -> KnowledgeBase:
        """The index that serves questions in `language` (None: the default language)."""
        lang = (language or self.default_language).lower().split("-")[0]
        if self.multilingual is None or lang in self.primary_languages:
            return self.primary
        return self.multilingual

    @property
    def manifest(self) -> Any:
        return self.primary.manifest

    @property
    def manifests(self) -> dict[str, Any]:
        found = {"primary": self.primary.manifest}
        if self.multilingual is not None:
            found["multilingual"] = self.multilingual.manifest
        return found

    def search(self, query: str, k: int = 5, language: str | None = None) -> list[Hit]:
        return self.pick(language).search(query, k=k, language=language)

    def decide(self, query: str, language: str | None = None, **kwargs: Any) -> Decision:
        return self.pick(language).decide(query, language, **kwargs)

    def entry(self, entry_id: str, language: str | None = None) -> Entry | None:
        return self.pick(language).entry(entry_id, language)


class RoutedHolder:
    """Holds both indexes (each a `KnowledgeBaseHolder`, each hot-reloaded on its own).

    Without a usable multilingual index every question goes to the primary one (logged once), so a broken or
    missing multilingual build degrades answers in other languages and never stops the bot.
    """

    def __init__(self, primary: KnowledgeBaseHolder, multilingual: KnowledgeBaseHolder | None,
                 primary_languages: tuple[str, ...] | frozenset[str] = ("en",), default_language: str = "en"):
        self.primary = primary
        self.multilingual = multilingual
        self.primary_languages = frozenset(lang.lower() for lang in primary_languages)
        self.default_language = default_language
        self._warned = False

    def get(self) -> RoutedKnowledgeBase:
        primary = self.primary.get()
        multilingual = None
        if self.multilingual is not None:
            try:
                multilingual = self.multilingual.get()
            except Exception as exc:  # noqa: BLE001 - keep answering from the primary index
                if not self._warned:
                    log.error("the multilingual knowledge-base index is unusable (%s); questions in every "
                              "language use the primary index until it is rebuilt (`make kb`)", exc)
                    self._warned = True
        return RoutedKnowledgeBase(primary, multilingual, self.primary_languages, self.default_language)

    def maybe_reload(self, *, force_check: bool = False) -> bool:
        swapped = self.primary.maybe_reload(force_check=force_check)
        if self.multilingual is not None and self.multilingual.maybe_reload(force_check=force_check):
            self._warned = False
            swapped = True
        return swapped

    def reload(self) -> bool:
        """Reload both indexes; True when the primary one loaded (the multilingual one is optional)."""
        ok = self.primary.reload()
        if self.multilingual is not None:
            if self.multilingual.reload():
                self._warned = False
        return ok

    def search(self, query: str, k: int = 5, language: str | None = None) -> list[Hit]:
        self.maybe_reload()
        return self.get().search(query, k=k, language=language)

    def decide(self, query: str, language: str | None = None, **kwargs: Any) -> Decision:
        self.maybe_reload()
        return self.get().decide(query, language, **kwargs)

    def entry(self, entry_id: str, language: str | None = None) -> Entry | None:
        return self.get().entry(entry_id, language)


def holder_from_settings(settings: Any) -> KnowledgeBaseHolder | RoutedHolder:
    """The knowledge base the actions use, as configured (see the module doc)."""
    from encoders import load_encoder

    primary = KnowledgeBaseHolder(
        settings.kb_index_dir, lambda: load_encoder(settings.embedding_model or None),
        answer_threshold=settings.kb_answer_threshold, suggest_threshold=settings.kb_suggest_threshold,
        default_language=settings.default_language)
    model = (settings.multilingual_embedding_model or "").strip()
    if not model:
        return primary
    multilingual = KnowledgeBaseHolder(
        settings.kb_multilingual_index_dir, lambda: load_encoder(model),
        answer_threshold=settings.kb_multilingual_answer_threshold,
        suggest_threshold=settings.kb_multilingual_suggest_threshold,
        default_language=settings.default_language)
    return RoutedHolder(primary, multilingual, settings.embedding_languages, settings.default_language)


__all__ = ["RoutedHolder", "RoutedKnowledgeBase", "holder_from_settings"]
