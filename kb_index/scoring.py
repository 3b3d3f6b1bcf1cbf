"""Scoring: from the similarity of a query to every row of the index, one score per entry.

The index holds one row (vector) per question and phrasing of each entry, and with ``build --embed-answers``
one per answer paragraph (kind `kb_index.storage.ANSWER_ROW`); rows are grouped by entry in build order.
An entry's score blends its centroid (the normalised mean of its question and phrasing vectors) with its best
single question or phrasing, then, where the index has answer rows, with its best answer paragraph:

    blend = CENTROID_WEIGHT * centroid + (1 - CENTROID_WEIGHT) * best question or phrasing
    score = (1 - answer_weight) * blend + answer_weight * best answer paragraph     (answer rows only)

Small indexes are scored completely on every query; larger ones only for the entries of the rows the (maybe
approximate) FAISS index finds nearest.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kb_index.storage import ANSWER_ROW

# On the starter FAQ queries (python -m kb_index eval) top-1 was 0.80 with the best phrasing alone, 0.90
# at a 0.5 blend and 0.96 at 0.8 (also 0.96 with the centroid alone); the centroid also kept unrelated
# questions lower (highest out-of-scope score 0.47 against 0.66 with the best phrasing alone). A single
# stray word shared with one phrasing no longer decides the match, while an exact phrasing still counts.
CENTROID_WEIGHT = 0.8

# Chosen on half of StackFAQ (rephrasings of the even-numbered threads; grid 0-0.5): 0.3, which moved held-out
# top-1 (odd threads) from 0.935 to 0.953 and the full set from 0.945 to 0.958. Ignored for indexes built
# without answers (the default, see kb_index.build.EMBED_ANSWERS).
ANSWER_WEIGHT = 0.3

EXHAUSTIVE_SEARCH_LIMIT = 8192  # indexes up to this many vectors are scored completely on every query
OVERFETCH = 16  # above it, the entries of the k * OVERFETCH nearest vectors are the candidates


class EntryScorer:
    """Scores the entries of one index version for a query vector (thread-safe: nothing changes after init).

    `index` answers ``index.search(queries, n)`` (FAISS); `vectors` are its rows, (n, d) and unit length;
    `rows` are ``(entry position, kind, text)`` per vector, grouped by entry.
    """

    def __init__(self, index: Any, vectors: np.ndarray, rows: list[tuple[int, str, str]], entry_count: int,
                 part_bounds: list[int] | None = None):
        self.index = index
        self.vectors = vectors
        self.row_entry = np.array([position for position, _, _ in rows], dtype=np.int64)
        spans = entry_spans(self.row_entry, entry_count)
        self._starts = np.array([start for start, _ in spans], dtype=np.int64)
        self._ends = np.array([end for _, end in spans], dtype=np.int64)
        # Within an entry's rows, its question and phrasings come first, then its answer paragraphs (if the
        # index has them); `_customer_end[p]` is the end of entry p's customer-side rows.
        is_answer = np.array([kind == ANSWER_ROW for _, kind, _ in rows], dtype=bool)
        self.has_answer_rows = bool(is_answer.any())
        customer = ~is_answer
        self._customer_end = np.searchsorted(self.row_entry[customer], np.arange(entry_count), side="right")
        if self.has_answer_rows:  # map the count of customer rows back to row numbers of the full table
            before = np.searchsorted(self.row_entry[customer], np.arange(entry_count), side="left")
            self._customer_end = self._starts + (self._customer_end - before)
        customer_vectors = np.ascontiguousarray(vectors[customer]) if self.has_answer_rows else vectors
        self._centroids = centroids(customer_vectors, self.row_entry[customer], entry_count, part_bounds)

    def score(self, query: np.ndarray, k: int, *, answer_weight: float = ANSWER_WEIGHT
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidate entry positions, their scores for one query vector (1, d), and the row of each one's best
        question or phrasing. `k` is how many entries the caller wants (it sizes the candidate set)."""
        total = int(self.index.ntotal)
        if total <= EXHAUSTIVE_SEARCH_LIMIT:
            positions = np.arange(len(self._starts))
            row_scores = self.vectors @ query[0]
        else:
            # Only the entries of the k * OVERFETCH nearest rows found by the (approximate) index are scored,
            # so the cost does not grow with the number of entries (a full scan of the centroids alone took
            # tens of ms at 1M entries; see benchmarks/bench_kb.py --scale).
            _, ids = self.index.search(query, min(total, k * OVERFETCH))
            positions = np.unique(self.row_entry[ids[0][ids[0] >= 0]])
            row_scores = None
        starts = self._starts[positions]
        customer_end = self._customer_end[positions]
        best_scores, best_rows = segment_max(starts, customer_end, row_scores, self.vectors, query[0])
        blended = CENTROID_WEIGHT * (self._centroids[positions] @ query[0]) + (1.0 - CENTROID_WEIGHT) * best_scores
        if answer_weight > 0 and self.has_answer_rows:
            answer_scores, _ = segment_max(customer_end, self._ends[positions], row_scores, self.vectors, query[0])
            has = ~np.isnan(answer_scores)
            blended[has] = (1.0 - answer_weight) * blended[has] + answer_weight * answer_scores[has]
        return positions, blended, best_rows


def segment_max(
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


def centroids(vectors: np.ndarray, row_entry: np.ndarray, count: int,
              part_bounds: list[int] | None = None) -> np.ndarray:
    """Normalised mean vector of each entry's rows (rows are grouped by entry; every entry has one or more).

    With `part_bounds` (the column bounds of a concatenated encoder's parts), each part is normalised on its own
    to 1/sqrt(n), like the rows: a weighed query's score against a centroid is then Σ w_i cos_i, at most 1."""
    if count == 0:
        return np.zeros((0, vectors.shape[1]), dtype=np.float32)
    starts = np.searchsorted(row_entry, np.arange(count), side="left")
    sums = np.add.reduceat(vectors, starts, axis=0).astype(np.float32, copy=False)
    bounds = list(part_bounds) if part_bounds and len(part_bounds) > 2 else [0, vectors.shape[1]]
    scale = 1.0 / np.sqrt(len(bounds) - 1)
    out = np.empty_like(sums)
    for a, b in zip(bounds[:-1], bounds[1:]):
        norms = np.maximum(np.linalg.norm(sums[:, a:b], axis=1, keepdims=True), 1e-12)
        out[:, a:b] = sums[:, a:b] / norms * scale
    return np.ascontiguousarray(out, dtype=np.float32)


def entry_spans(row_entry: np.ndarray, count: int) -> list[tuple[int, int]]:
    """(start, end) rows of each entry; rows are grouped by entry in build order."""
    starts = np.searchsorted(row_entry, np.arange(count), side="left")
    ends = np.searchsorted(row_entry, np.arange(count), side="right")
    return list(zip(starts.tolist(), ends.tolist()))
