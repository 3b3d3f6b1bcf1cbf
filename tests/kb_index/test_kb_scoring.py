"""Scoring rows into entries: centroids, best rows, answer-paragraph rows and large-index candidates."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from kb_index import KnowledgeBase, build_index
from kb_index.entry import Entry
from kb_index.scoring import CENTROID_WEIGHT, EntryScorer, centroids, segment_max
from kb_index.storage import ANSWER_ROW, Manifest


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _scorer(vectors: np.ndarray, rows: list[tuple[int, str, str]], entry_count: int) -> EntryScorer:
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    return EntryScorer(index, vectors, rows, entry_count)


def test_centroids_match_the_per_entry_mean() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((7, 4)).astype(np.float32)
    row_entry = np.array([0, 0, 1, 2, 2, 2, 3])
    got = centroids(vectors, row_entry, 4)
    for position in range(4):
        mean = vectors[row_entry == position].mean(axis=0)
        assert np.allclose(got[position], mean / np.linalg.norm(mean), atol=1e-6)


def test_segment_max_finds_the_best_row_of_each_range() -> None:
    vectors = np.eye(4, dtype=np.float32)
    query = np.array([0.1, 0.9, 0.3, 0.2], dtype=np.float32)
    best, rows = segment_max(np.array([0, 2, 3]), np.array([2, 2, 4]), None, vectors, query)
    assert rows.tolist() == [1, -1, 3] and np.isnan(best[1])  # the middle range is empty
    assert best[[0, 2]] == pytest.approx([0.9, 0.2])
    precomputed = vectors @ query
    assert segment_max(np.array([0, 2, 3]), np.array([2, 2, 4]), precomputed, vectors, query)[1].tolist() == [1, -1, 3]


def test_an_entry_scores_the_blend_of_its_centroid_and_its_best_phrasing() -> None:
    vectors = _unit(np.array([[1, 0, 0], [0.6, 0.8, 0], [0, 0, 1]], dtype=np.float32))
    rows = [(0, "question", "q0"), (0, "phrasing", "p0"), (1, "question", "q1")]
    scorer = _scorer(vectors, rows, 2)
    query = _unit(np.array([[0.6, 0.8, 0.0]], dtype=np.float32))
    positions, scores, best_rows = scorer.score(query, k=2)
    centroid = _unit(vectors[:2].sum(axis=0, keepdims=True))[0]
    expected = CENTROID_WEIGHT * float(centroid @ query[0]) + (1 - CENTROID_WEIGHT) * 1.0
    assert positions.tolist() == [0, 1] and best_rows.tolist() == [1, 2]
    assert scores[0] == pytest.approx(expected, abs=1e-6) and scores[1] == pytest.approx(0.0, abs=1e-6)


def test_answer_rows_count_only_through_the_answer_weight() -> None:
    vectors = _unit(np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32))
    rows = [(0, "question", "q0"), (0, ANSWER_ROW, "a0"), (1, "question", "q1")]
    scorer = _scorer(vectors, rows, 2)
    query = vectors[1:2]  # exactly entry 0's answer paragraph
    _, without, best_rows = scorer.score(query, k=2, answer_weight=0.0)
    assert without.tolist() == pytest.approx([0.0, 0.0], abs=1e-6)  # not in the centroid, never the best row
    assert best_rows.tolist() == [0, 2]
    _, weighted, _ = scorer.score(query, k=2, answer_weight=0.3)
    assert weighted.tolist() == pytest.approx([0.3, 0.0], abs=1e-6)


def test_answer_rows_score_only_through_the_answer_weight(mini_content: Path, tmp_path: Path, encoder) -> None:
    plain = build_index(mini_content, tmp_path / "plain", encoder, progress=False)
    with_answers = build_index(mini_content, tmp_path / "answers", encoder, progress=False, embed_answers=True)
    assert with_answers.answers and not plain.answers and with_answers.vector_count > plain.vector_count
    base = KnowledgeBase.load(tmp_path / "plain", encoder)
    kb = KnowledgeBase.load(tmp_path / "answers", encoder, answer_weight=0.0)
    query = "how long does delivery take"
    # weight 0: answer rows change nothing (not in the centroid, never the matched text)
    assert [(h.entry_id, h.score, h.matched) for h in kb.search(query)] == [
        (h.entry_id, h.score, h.matched) for h in base.search(query)
    ]
    kb.answer_weight = 0.5
    hits = kb.search("use the tracking link in the shipping e-mail")
    assert hits[0].entry_id == "track-order" and hits[0].matched in {"How can I track my order?", "Where is my parcel?", "tracking number"}
    assert hits[0].score != base.search("use the tracking link in the shipping e-mail")[0].score
    # rebuilding with another answer setting is not skipped as "up to date"
    again = build_index(mini_content, tmp_path / "plain", encoder, progress=False, embed_answers=True)
    assert not again.stats.skipped and again.answers


class _Fixed:
    name = "synthetic"
    dimension = 32

    def __init__(self) -> None:
        self.vector = np.zeros(32, dtype=np.float32)

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.vector[None, :]


def test_large_index_scores_only_candidates_and_finds_the_nearest(monkeypatch: pytest.MonkeyPatch) -> None:
    import kb_index.scoring as scoring

    rng = np.random.default_rng(1)
    size = 400
    vectors = _unit(rng.standard_normal((size * 2, 32)).astype(np.float32))
    index = faiss.IndexFlatIP(32)
    index.add(vectors)
    entries = [Entry(id=f"e{i}", language="en", question=f"q{i}", answer="a") for i in range(size)]
    rows = [(i // 2, "question" if i % 2 == 0 else "phrasing", f"t{i}") for i in range(size * 2)]
    manifest = Manifest(model="synthetic", dimension=32, content_hash="", entry_count=size, vector_count=size * 2,
                        index_type="flat", built_at="", build_seconds=0.0)
    encoder = _Fixed()
    kb = KnowledgeBase(index, entries, rows, manifest, encoder)
    encoder.vector = vectors[123]
    exhaustive = kb.search("q", k=3)
    monkeypatch.setattr(scoring, "EXHAUSTIVE_SEARCH_LIMIT", 10)
    approximate = kb.search("q", k=3)
    assert exhaustive[0].entry_id == "e61" and exhaustive[0].matched == "t123"
    assert [(h.entry_id, h.score) for h in approximate] == [(h.entry_id, h.score) for h in exhaustive]
