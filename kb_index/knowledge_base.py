"""`KnowledgeBase`: one loaded index version and the encoder that embeds queries; search, entries, decisions.

`search` returns one `Hit` per entry (several phrasings of an entry count once, with their best score, see
`kb_index.scoring`); `decide` hands the hits to the answer / choices / none policy (`kb_index.decision`).

Languages: every entry exists once per language. With `language="it"`, an entry is returned in Italian
when it has an Italian version, otherwise in the language of its best-matching text (a fallback the
caller can see in `Hit.language`). Ranking is by similarity only: a better match in another language is
not pushed below a weaker one in the requested language.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from encoders.base import Encoder
from encoders.concat import weigh_queries
from encoders.language_means import LanguageCentring, centre, centring_key
from encoders.language_means import centring as language_centring
import kb_index.faiss_index as faiss_index
import kb_index.storage as storage
from kb_index.decision import (DEFAULT_ANSWER_THRESHOLD, DEFAULT_MARGIN, DEFAULT_SUGGEST_THRESHOLD, MAX_CHOICES,
                               Decision, Hit, decide_from_hits)
from kb_index.entry import Entry
from kb_index.scoring import ANSWER_WEIGHT, EntryScorer
from kb_index.self_calibration import ContentCalibration
from kb_index.storage import KBIndexError, Manifest

log = logging.getLogger(__name__)

REBUILD_HINT = "run `make kb` (python -m kb_index build)"


class KnowledgeBase:
    """A loaded index version plus the encoder that embeds queries. Thread-safe for searching."""

    def __init__(
        self,
        index: Any,
        entries: list[Entry],
        rows: list[tuple[int, str, str]],
        manifest: Manifest,
        encoder: Encoder,
        *,
        path: Path | None = None,
        answer_threshold: float | None = None,
        suggest_threshold: float | None = None,
        default_language: str = "en",
        answer_weight: float | None = None,
        margin: float | None = None,
        centring: LanguageCentring | None | bool = True,
    ):
        self.index = index
        self.entries = entries
        self.rows = rows
        self.manifest = manifest
        self.encoder = encoder
        self.path = path
        # None: the thresholds the content itself calls for (kb_index.self_calibration, stored at build time),
        # else the defaults of core.settings.
        calibration = ContentCalibration.from_dict(getattr(manifest, "calibration", None))
        self.calibration = calibration
        self._given = (answer_threshold, suggest_threshold)
        self.answer_threshold = answer_threshold if answer_threshold is not None else (
            calibration.answer_threshold if calibration else DEFAULT_ANSWER_THRESHOLD)
        self.suggest_threshold = suggest_threshold if suggest_threshold is not None else (
            calibration.suggest_threshold if calibration else DEFAULT_SUGGEST_THRESHOLD)
        self.default_language = default_language
        self.answer_weight = ANSWER_WEIGHT if answer_weight is None else answer_weight
        self.margin = DEFAULT_MARGIN if margin is None else margin
        # Queries are centred by their language as the rows were at build time (encoders.language_means);
        # True: the encoder's own centring.
        self.centring = language_centring(encoder) if centring is True else (centring or None)
        self._scorer = EntryScorer(index, faiss_index.stored_vectors(index), rows, len(entries),
                                   getattr(encoder, "part_bounds", None))
        self._by_key = {entry.key: entry for entry in entries}
        self._languages: dict[str, list[str]] = {}
        for entry in entries:
            self._languages.setdefault(entry.id, []).append(entry.language)

    # --- loading ------------------------------------------------------------------------------------

    @classmethod
    def load(cls, index_dir: str | Path, encoder: Encoder, **options: Any) -> "KnowledgeBase":
        """Load the live index under `index_dir` for `encoder`; `options` are those of the constructor
        (`answer_threshold`, `suggest_threshold`, `default_language`, `answer_weight`, `margin`).

        Raises `KBIndexError` when there is no index, when it is corrupt or inconsistent, or when it was
        built with another model or dimension than `encoder`; the message says what to run.
        """
        index_dir = Path(index_dir)
        version_dir = storage.live_version_dir(index_dir)
        if version_dir is None:
            raise KBIndexError(f"no knowledge-base index in {index_dir}: {REBUILD_HINT}")
        manifest = storage.read_manifest(version_dir)
        if manifest.format_version != storage.FORMAT_VERSION:
            raise KBIndexError(
                f"the index in {version_dir} has format version {manifest.format_version}, this code reads "
                f"{storage.FORMAT_VERSION}: {REBUILD_HINT}"
            )
        if manifest.model != encoder.name or manifest.dimension != encoder.dimension:
            raise KBIndexError(
                f"the index in {version_dir} was built with model {manifest.model!r} ({manifest.dimension} "
                f"dimensions) but the configured model is {encoder.name!r} ({encoder.dimension} dimensions): "
                f"rebuild it with the configured model — {REBUILD_HINT}"
            )
        if manifest.centring != centring_key(encoder.name):
            raise KBIndexError(
                f"the index in {version_dir} holds vectors made language-neutral differently "
                f"({manifest.centring or 'not at all'}) from what {encoder.name!r} calls for now: {REBUILD_HINT}"
            )
        try:
            index = faiss_index.read_index(version_dir / storage.INDEX_FILE)
            metadata = json.loads((version_dir / storage.METADATA_FILE).read_text(encoding="utf-8"))
            entries = [Entry.from_dict(item) for item in metadata["entries"]]
            rows = [(int(position), str(kind), str(text)) for position, kind, text in metadata["rows"]]
        except (OSError, RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise KBIndexError(f"the index in {version_dir} is unreadable ({exc}): {REBUILD_HINT}") from exc
        positions = [position for position, _, _ in rows]
        if (
            not (index.ntotal == len(rows) == manifest.vector_count and index.d == manifest.dimension)
            or positions != sorted(positions)
            or set(positions) != set(range(len(entries)))
        ):
            raise KBIndexError(
                f"the index in {version_dir} is inconsistent ({index.ntotal} vectors, {len(rows)} rows, "
                f"manifest says {manifest.vector_count}): {REBUILD_HINT}"
            )
        log.info("loaded knowledge base %s: %d entries, %d vectors", manifest.version or version_dir, len(entries), len(rows))
        return cls(index, entries, rows, manifest, encoder, path=version_dir, **options)

    # --- queries ------------------------------------------------------------------------------------

    def search(self, query: str, k: int = 5, language: str | None = None) -> list[Hit]:
        """The `k` best entries for `query`, best first, one hit per entry id (see the module doc for `language`)."""
        query = " ".join((query or "").split())
        if not query or k <= 0 or self.index.ntotal == 0:
            return []
        # Centred by the customer's language like the rows by theirs; then each encoder counts for what it is good
        # at in that language (encoders.concat.weigh).
        language_of_query = language or self.default_language
        vector = centre(self.centring, self.encoder.encode([query]), [language_of_query])
        vector = weigh_queries(self.encoder, vector, language_of_query)
        positions, scores, best_rows = self._scorer.score(vector, k, answer_weight=self.answer_weight)
        best: dict[str, tuple[float, int]] = {}  # entry id -> (score, best row), over all its languages
        for i in np.argsort(-scores, kind="stable").tolist():
            entry_id = self.entries[positions[i]].id
            if entry_id not in best:
                best[entry_id] = (float(scores[i]), int(best_rows[i]))
                if len(best) == k:
                    break
        return [self._hit(entry_id, score, row, language) for entry_id, (score, row) in best.items()]

    def _hit(self, entry_id: str, score: float, row: int, language: str | None) -> Hit:
        matched_entry = self.entries[self._scorer.row_entry[row]]
        entry = matched_entry
        if language is not None and language != matched_entry.language:
            entry = self._by_key.get((entry_id, language), matched_entry)
        return Hit(
            entry_id=entry.id,
            language=entry.language,
            score=round(float(score), 4),
            question=entry.question,
            answer=entry.answer,
            tags=entry.tags,
            team=entry.team,
            links=entry.links,
            matched=self.rows[row][2],
        )

    def entry(self, entry_id: str, language: str | None = None) -> Entry | None:
        """The entry `entry_id` in `language` if it exists, else in the default language, else in any; None if unknown."""
        languages = self._languages.get(entry_id)
        if not languages:
            return None
        for candidate in (language, self.default_language):
            if candidate in languages:
                return self._by_key[(entry_id, candidate)]
        return self._by_key[(entry_id, sorted(languages)[0])]

    def thresholds(self, language: str | None = None) -> tuple[float, float]:
        """The (answer, choices) thresholds for a query in `language`: those given to the constructor (settings),
        else the content's own for that language (scores differ in scale per language), else the content's
        pooled ones, else the defaults."""
        if self.calibration is None:
            return self.answer_threshold, self.suggest_threshold
        own_answer, own_suggest = self.calibration.for_language(language or self.default_language)
        answer = self._given[0] if self._given[0] is not None else own_answer
        suggest = self._given[1] if self._given[1] is not None else min(own_suggest, answer)
        return answer, suggest

    def decide(
        self,
        query: str,
        language: str | None = None,
        answer_threshold: float | None = None,
        suggest_threshold: float | None = None,
        *,
        max_choices: int = MAX_CHOICES,
        margin: float | None = None,
    ) -> Decision:
        """Search, then apply `kb_index.decision.decide_from_hits`. Thresholds and margin default to this
        knowledge base's `thresholds(language)` and `margin`."""
        hits = self.search(query, k=max(max_choices, 1), language=language)
        answer_at, suggest_at = self.thresholds(language)
        decision = decide_from_hits(
            query,
            hits,
            answer_at if answer_threshold is None else answer_threshold,
            suggest_at if suggest_threshold is None else suggest_threshold,
            max_choices=max_choices,
            margin=self.margin if margin is None else margin,
        )
        log.debug("decide %r -> %s (best %s)", query, decision.kind, decision.best_score)
        return decision

    def explain(self, query: str, language: str | None = None, answer_threshold: float | None = None,
                suggest_threshold: float | None = None, *, k: int = 5) -> dict[str, Any]:
        """What the bot would do with `query`, shown to a support team (the studio's "try a question"): the `k`
        best entries with their scores and which of them the decision chose, the decision at this knowledge
        base's thresholds for `language` (or those given: the bot's settings), and the index version. JSON-ready."""
        hits = self.search(query, k=k, language=language)
        answer_at, suggest_at = self.thresholds(language)
        answer_at = answer_at if answer_threshold is None else answer_threshold
        suggest_at = suggest_at if suggest_threshold is None else suggest_threshold
        decision = decide_from_hits(query, hits, answer_at, suggest_at, margin=self.margin)
        chosen = {h.entry_id for h in decision.hits}
        return {
            "query": query, "language": language, "decision": decision.kind,
            "thresholds": {"answer": answer_at, "suggest": suggest_at, "margin": self.margin},
            "hits": [{"entry_id": h.entry_id, "language": h.language, "question": h.question,
                      "score": round(h.score, 3), "matched": h.matched, "chosen": h.entry_id in chosen}
                     for h in hits],
            "index": {"version": self.manifest.version, "built_at": self.manifest.built_at,
                      "entries": self.manifest.entry_count},
        }
