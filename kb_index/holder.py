"""`KnowledgeBaseHolder`: what a server keeps to answer from the live index while new builds are published.

It loads lazily (the encoder on first use, then the index), notices a newly published build with a couple of
`stat` calls (`kb_index.storage.live_marker`), and swaps it in without blocking requests; a broken new build
is logged and the old one stays in service.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from encoders.base import Encoder
import kb_index.storage as storage
from kb_index.decision import Decision, Hit
from kb_index.entry import Entry
from kb_index.knowledge_base import KnowledgeBase

log = logging.getLogger(__name__)


class KnowledgeBaseHolder:
    """Keeps the live `KnowledgeBase` of `index_dir` and swaps in new builds while serving.

    `encoder_factory` is called once, on first use (e.g. ``lambda: load_encoder(settings.embedding_model)``).
    `search` and `decide` check for a new build at most every `check_interval_s` seconds.
    """

    def __init__(
        self,
        index_dir: str | Path,
        encoder_factory: Callable[[], Encoder],
        *,
        answer_threshold: float | None = None,  # None: the index's own (kb_index.self_calibration)
        suggest_threshold: float | None = None,
        default_language: str = "en",
        check_interval_s: float = 2.0,
    ):
        self.index_dir = Path(index_dir)
        self._encoder_factory = encoder_factory
        self._encoder: Encoder | None = None
        self._options = {
            "answer_threshold": answer_threshold,
            "suggest_threshold": suggest_threshold,
            "default_language": default_language,
        }
        self.check_interval_s = check_interval_s
        self._kb: KnowledgeBase | None = None
        self._marker: tuple[Any, ...] | None = None
        self._failed_marker: tuple[Any, ...] | None = None
        self._next_check = 0.0
        self._load_lock = threading.RLock()

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            with self._load_lock:
                if self._encoder is None:
                    self._encoder = self._encoder_factory()
        return self._encoder

    def get(self) -> KnowledgeBase:
        """The live knowledge base, loading it on first use; `KBIndexError` when none can be loaded."""
        kb = self._kb
        if kb is not None:
            return kb
        with self._load_lock:
            if self._kb is None:
                marker = storage.live_marker(self.index_dir)
                self._kb = self._load(self.encoder)
                self._marker = marker
            return self._kb

    def reload(self) -> bool:
        """Load the live index again and swap it in. Returns False (keeping the old one) when loading fails."""
        return self._reload(only_if_changed=False)

    def maybe_reload(self, *, force_check: bool = False) -> bool:
        """Reload when a new build was published since the last load (a few `stat` calls). True if swapped.

        Checks at most every `check_interval_s` seconds unless `force_check`. A build that failed to load is
        not retried until another one is published.
        """
        now = time.monotonic()
        if not force_check and now < self._next_check:
            return False
        self._next_check = now + self.check_interval_s
        marker = storage.live_marker(self.index_dir)
        if marker is None or marker == self._marker or marker == self._failed_marker:
            return False
        return self._reload(only_if_changed=True)

    def _reload(self, *, only_if_changed: bool) -> bool:
        try:
            encoder = self.encoder
        except Exception as exc:  # noqa: BLE001
            log.error("cannot load the embedding model: %s", exc)
            return False
        with self._load_lock:  # one loader at a time; requests keep using the current knowledge base
            marker = storage.live_marker(self.index_dir)
            if only_if_changed and (marker == self._marker or marker == self._failed_marker):
                return False  # another thread has just handled this version
            try:
                kb = self._load(encoder)
            except Exception as exc:  # noqa: BLE001 - keep serving the old index whatever went wrong
                self._failed_marker = marker
                if self._kb is None:
                    log.error("cannot load the knowledge base: %s", exc)
                else:
                    log.error("cannot load the new knowledge base, still serving %s: %s", self._kb.manifest.version, exc)
                return False
            self._kb, self._marker, self._failed_marker = kb, marker, None
        log.info("knowledge base now serving %s", kb.manifest.version or kb.path)
        return True

    def search(self, query: str, k: int = 5, language: str | None = None) -> list[Hit]:
        """`KnowledgeBase.search` on the live index (after a cheap check for a new build)."""
        self.maybe_reload()
        return self.get().search(query, k=k, language=language)

    def decide(self, query: str, language: str | None = None, **kwargs: Any) -> Decision:
        """`KnowledgeBase.decide` on the live index (after a cheap check for a new build)."""
        self.maybe_reload()
        return self.get().decide(query, language, **kwargs)

    def entry(self, entry_id: str, language: str | None = None) -> Entry | None:
        """`KnowledgeBase.entry` on the live index."""
        return self.get().entry(entry_id, language)

    def _load(self, encoder: Encoder) -> KnowledgeBase:
        return KnowledgeBase.load(self.index_dir, encoder, **self._options)
