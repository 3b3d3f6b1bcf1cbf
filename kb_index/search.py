"""Search a built index, decide how to answer, and hot-swap the index in a running server.

- `KnowledgeBase`: one loaded index version. `search` returns one `Hit` per entry (several phrasings of an
  entry count once, with their best score); `decide` turns the hits into an `answer`, `choices` or `none`.
- `KnowledgeBaseHolder`: what a server keeps. It loads lazily, notices a newly published build with a
  couple of `stat` calls, and swaps it in without blocking requests; a broken new build is logged and
  the old one stays in service.

Languages: every entry exists once per language. With `language="it"`, an entry is returned in Italian
when it has an Italian version, otherwise in the language of its best-matching text (a fallback the
caller can see in `Hit.language`). Ranking is by similarity only: a better match in another language is
not pushed below a weaker one in the requested language.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from kb_index import faiss_index, storage
from encoders import Encoder
from kb_index.schema import Entry, Link
from kb_index.storage import KBIndexError, Manifest

log = logging.getLogger(__name__)

# Cosine-similarity thresholds for the shipped encoder (all-MiniLM-L6-v2+use-multilingual-v3) and starter FAQ,
# chosen by `python -m kb_index calibrate` (make calibrate-kb); the `KB_ANSWER_THRESHOLD` /
# `KB_SUGGEST_THRESHOLD` settings override them. Another encoder or content: calibrate again.
DEFAULT_ANSWER_THRESHOLD = 0.43
DEFAULT_SUGGEST_THRESHOLD = 0.43
MAX_CHOICES = 3
EXHAUSTIVE_SEARCH_LIMIT = 8192  # indexes up to this many vectors are scored completely on every query
OVERFETCH = 16  # above it, the entries of the k * OVERFETCH nearest vectors are the candidates

# An entry's score blends its centroid (the normalised mean of its question and phrasing vectors) with its
# best single question or phrasing: score = CENTROID_WEIGHT * centroid + (1 - CENTROID_WEIGHT) * best.
# On the starter FAQ queries (python -m kb_index eval) top-1 was 0.80 with the best phrasing alone, 0.90
# at a 0.5 blend and 0.96 at 0.8 (also 0.96 with the centroid alone); the centroid also kept unrelated
# questions lower (highest out-of-scope score 0.47 against 0.66 with the best phrasing alone). A single
# stray word shared with one phrasing no longer decides the match, while an exact phrasing still counts.
CENTROID_WEIGHT = 0.8

# Indexes built with answer text (kb_index.build, `embed_answers` / `build --embed-answers`) also hold one row
# per answer paragraph, kind ANSWER_ROW. They never enter the centroid or the matched text; an entry's final
# score is (1 - ANSWER_WEIGHT) * blend + ANSWER_WEIGHT * best answer paragraph. Chosen on half of StackFAQ
# (rephrasings of the even-numbered threads; grid 0-0.5): 0.3, which moved held-out top-1 (odd threads) from
# 0.935 to 0.953 and the full set from 0.945 to 0.958. Ignored for indexes built without answers (the default,
# see kb_index.build.EMBED_ANSWERS).
ANSWER_ROW = "answer"
ANSWER_WEIGHT = 0.3

# Grey-zone margin: when the best entry reaches the answer threshold but the runner-up is within this
# margin of it, offer the close entries as choices instead of answering (0 disables the rule). Chosen on the
# starter queries (python -m benchmarks.bench_kb): at the bot's thresholds (0.55 / 0.40) 0.04 turned both wrong
# confident answers into choices and 3 of 52 right answers into choices (1 at the 0.62 default). Checked on
# StackFAQ, which played no part in choosing it: wrong confident answers 45 -> 25, right ones 1118 -> 1079 at
# 0.55 (32 -> 16 and 1018 -> 988 at 0.62).
DEFAULT_MARGIN = 0.04
REBUILD_HINT = "run `make kb` (python -m kb_index build)"


@dataclass(frozen=True)
class Hit:
    """One entry found for a query."""

    entry_id: str
    language: str
    score: float  # similarity in [-1, 1]: blend of the entry centroid and its best question/phrasing
    question: str
    answer: str  # Markdown; render per channel with core.markdown
    tags: tuple[str, ...] = ()
    team: str | None = None
    links: tuple[Link, ...] = ()
    matched: str = ""  # the question or phrasing that matched best

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tags"] = list(self.tags)
        data["links"] = [asdict(link) for link in self.links]
        return data


@dataclass(frozen=True)
class Decision:
    """How to respond to a query.

    - ``answer``: `hits` holds the one entry to answer with (its score reached the answer threshold);
    - ``choices``: `hits` holds 1–3 entries above the suggest threshold to offer ("Did you mean…?");
    - ``none``: nothing is close enough (`hits` is empty; `best_score` says how close the best one was).
    """

    kind: Literal["answer", "choices", "none"]
    hits: list[Hit] = field(default_factory=list)
    query: str = ""
    best_score: float | None = None

    @property
    def hit(self) -> Hit | None:
        """The best hit, if any."""
        return self.hits[0] if self.hits else None


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
        answer_threshold: float = DEFAULT_ANSWER_THRESHOLD,
        suggest_threshold: float = DEFAULT_SUGGEST_THRESHOLD,
        default_language: str = "en",
        answer_weight: float | None = None,
        margin: float | None = None,
    ):
        self.index = index
        self.entries = entries
        self.rows = rows
        self.manifest = manifest
        self.encoder = encoder
        self.path = path
        self.answer_threshold = answer_threshold
        self.suggest_threshold = suggest_threshold
        self.default_language = default_language
        self.answer_weight = ANSWER_WEIGHT if answer_weight is None else answer_weight
        self.margin = DEFAULT_MARGIN if margin is None else margin
        self._row_entry = np.array([position for position, _, _ in rows], dtype=np.int64)
        self._vectors = _stored_vectors(index)
        self._spans = _entry_spans(self._row_entry, len(entries))
        # Within an entry's rows, its question and phrasings come first, then its answer paragraphs (if the
        # index has them); `_customer_end[p]` is the end of entry p's customer-side rows.
        is_answer = np.array([kind == ANSWER_ROW for _, kind, _ in rows], dtype=bool)
        self._has_answer_rows = bool(is_answer.any())
        customer = ~is_answer
        self._customer_end = np.searchsorted(self._row_entry[customer], np.arange(len(entries)), side="right")
        if self._has_answer_rows:  # map the count of customer rows back to row numbers of the full table
            starts = np.array([start for start, _ in self._spans], dtype=np.int64)
            before = np.searchsorted(self._row_entry[customer], np.arange(len(entries)), side="left")
            self._customer_end = starts + (self._customer_end - before)
        self._starts = np.array([start for start, _ in self._spans], dtype=np.int64)
        self._ends = np.array([end for _, end in self._spans], dtype=np.int64)
        self._centroids = _centroids(np.ascontiguousarray(self._vectors[customer]) if self._has_answer_rows else self._vectors,
                                     self._row_entry[customer], len(entries))
        self._by_key = {entry.key: entry for entry in entries}
        self._languages: dict[str, list[str]] = {}
        for entry in entries:
            self._languages.setdefault(entry.id, []).append(entry.language)

    # --- loading ------------------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        index_dir: str | Path,
        encoder: Encoder,
        *,
        answer_threshold: float = DEFAULT_ANSWER_THRESHOLD,
        suggest_threshold: float = DEFAULT_SUGGEST_THRESHOLD,
        default_language: str = "en",
        answer_weight: float | None = None,
        margin: float | None = None,
    ) -> "KnowledgeBase":
        """Load the live index under `index_dir` for `encoder`.

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
        return cls(
            index, entries, rows, manifest, encoder,
            path=version_dir,
            answer_threshold=answer_threshold,
            suggest_threshold=suggest_threshold,
            default_language=default_language,
            answer_weight=answer_weight,
            margin=margin,
        )

    # --- queries ------------------------------------------------------------------------------------

    def search(self, query: str, k: int = 5, language: str | None = None) -> list[Hit]:
        """The `k` best entries for `query`, best first, one hit per entry id (see the module doc for `language`)."""
        query = " ".join((query or "").split())
        if not query or k <= 0 or self.index.ntotal == 0:
            return []
        vector = self.encoder.encode([query])
        positions, scores, best_rows = self._entry_scores(vector, k)
        best: dict[str, tuple[float, int]] = {}  # entry id -> (score, best row), over all its languages
        for i in np.argsort(-scores, kind="stable").tolist():
            entry_id = self.entries[positions[i]].id
            if entry_id not in best:
                best[entry_id] = (float(scores[i]), int(best_rows[i]))
                if len(best) == k:
                    break
        return [self._hit(entry_id, score, row, language) for entry_id, (score, row) in best.items()]

    def _entry_scores(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidate entry positions, their scores for one query vector, and the row of each one's best
        question or phrasing. Small indexes score every entry; larger ones the entries of the nearest rows."""
        total = int(self.index.ntotal)
        if total <= EXHAUSTIVE_SEARCH_LIMIT:
            positions = np.arange(len(self.entries))
            row_scores = self._vectors @ vector[0]
        else:
            # Only the entries of the k * OVERFETCH nearest rows found by the (approximate) index are scored,
            # so the cost does not grow with the number of entries (a full scan of the centroids alone took
            # tens of ms at 1M entries; see benchmarks/bench_kb.py --scale).
            _, ids = self.index.search(vector, min(total, k * OVERFETCH))
            positions = np.unique(self._row_entry[ids[0][ids[0] >= 0]])
            row_scores = None
        starts = self._starts[positions]
        customer_end = self._customer_end[positions]
        best_scores, best_rows = _segment_max(starts, customer_end, row_scores, self._vectors, vector[0])
        answer_scores = None
        if self.answer_weight > 0 and self._has_answer_rows:
            answer_scores, _ = _segment_max(customer_end, self._ends[positions], row_scores, self._vectors, vector[0])
        centroid_scores = self._centroids[positions] @ vector[0]
        blended = CENTROID_WEIGHT * centroid_scores + (1.0 - CENTROID_WEIGHT) * best_scores
        if answer_scores is not None:
            has = ~np.isnan(answer_scores)
            blended[has] = (1.0 - self.answer_weight) * blended[has] + self.answer_weight * answer_scores[has]
        return positions, blended, best_rows

    def _hit(self, entry_id: str, score: float, row: int, language: str | None) -> Hit:
        matched_entry = self.entries[self._row_entry[row]]
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
        """Answer when the best entry scores at least `answer_threshold`; otherwise offer up to `max_choices`
        entries scoring at least `suggest_threshold`; otherwise none. Thresholds default to this knowledge
        base's `answer_threshold` / `suggest_threshold`."""
        answer_at = self.answer_threshold if answer_threshold is None else answer_threshold
        suggest_at = self.suggest_threshold if suggest_threshold is None else suggest_threshold
        hits = self.search(query, k=max(max_choices, 1), language=language)
        decision = decide_from_hits(
            query, hits, answer_at, suggest_at, max_choices=max_choices, margin=self.margin if margin is None else margin
        )
        log.debug("decide %r -> %s (best %s)", query, decision.kind, decision.best_score)
        return decision


def _stored_vectors(index: Any) -> np.ndarray:
    """The (n, d) vectors held by a flat or HNSW-flat index, as a read-only view (no copy)."""
    import faiss

    flat = index if isinstance(index, faiss.IndexFlat) else faiss.downcast_index(index.storage)
    if index.ntotal == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    view = faiss.rev_swig_ptr(flat.get_xb(), index.ntotal * index.d).reshape(index.ntotal, index.d)
    view.flags.writeable = False
    return view


def _segment_max(
    starts: np.ndarray, ends: np.ndarray, row_scores: np.ndarray | None, vectors: np.ndarray, query: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Best score and its row within each row range [starts[i], ends[i]) (NaN and -1 for an empty range).

    Scores come from `row_scores` (all rows already scored) or are computed from `vectors` for these rows only.
    """
    lengths = ends - starts
    best = np.full(len(starts), np.nan, dtype=np.float32)
    best_rows = np.full(len(starts), -1, dtype=np.int64)
    filled = lengths > 0
    if not filled.any():
        return best, best_rows
    starts, lengths = starts[filled], lengths[filled]
    offsets = np.cumsum(lengths) - lengths
    rows = np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()))
    scores = row_scores[rows] if row_scores is not None else vectors[rows] @ query
    maxima = np.maximum.reduceat(scores, offsets)
    segment = np.repeat(np.arange(len(starts)), lengths)
    first = np.flatnonzero(scores == maxima[segment])
    _, at = np.unique(segment[first], return_index=True)
    best[filled] = maxima
    best_rows[filled] = rows[first[at]]
    return best, best_rows


def _centroids(vectors: np.ndarray, row_entry: np.ndarray, count: int) -> np.ndarray:
    """Normalised mean vector of each entry's rows (rows are grouped by entry; every entry has one or more)."""
    if count == 0:
        return np.zeros((0, vectors.shape[1]), dtype=np.float32)
    starts = np.searchsorted(row_entry, np.arange(count), side="left")
    sums = np.add.reduceat(vectors, starts, axis=0).astype(np.float32, copy=False)
    norms = np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    return np.ascontiguousarray(sums / norms, dtype=np.float32)


def _entry_spans(row_entry: np.ndarray, count: int) -> list[tuple[int, int]]:
    """(start, end) rows of each entry; rows are grouped by entry in build order."""
    starts = np.searchsorted(row_entry, np.arange(count), side="left")
    ends = np.searchsorted(row_entry, np.arange(count), side="right")
    return list(zip(starts.tolist(), ends.tolist()))


def decide_from_hits(
    query: str,
    hits: list[Hit],
    answer_threshold: float,
    suggest_threshold: float,
    *,
    max_choices: int = MAX_CHOICES,
    margin: float = 0.0,
) -> Decision:
    """The decision rule of `KnowledgeBase.decide`, applied to hits already found (best first).

    With `margin` > 0, a best hit above the answer threshold whose runner-up scores within `margin` of it
    is not answered: the close entries are offered as choices (the "grey zone" between two entries).
    """
    best = hits[0].score if hits else None
    if hits and hits[0].score >= answer_threshold:
        if margin > 0 and max_choices > 1 and len(hits) > 1 and hits[0].score - hits[1].score < margin:
            close = [hit for hit in hits[:max_choices] if hits[0].score - hit.score < margin]
            return Decision("choices", close, query, best)
        return Decision("answer", hits[:1], query, best)
    choices = [hit for hit in hits[:max_choices] if hit.score >= suggest_threshold]
    return Decision("choices", choices, query, best) if choices else Decision("none", [], query, best)


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
        answer_threshold: float = DEFAULT_ANSWER_THRESHOLD,
        suggest_threshold: float = DEFAULT_SUGGEST_THRESHOLD,
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
                self._kb = self._load()
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
                kb = KnowledgeBase.load(self.index_dir, encoder, **self._options)  # type: ignore[arg-type]
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

    def _load(self) -> KnowledgeBase:
        return KnowledgeBase.load(self.index_dir, self.encoder, **self._options)  # type: ignore[arg-type]
