"""Answer-paragraph rows, the grey-zone margin rule, large-index candidate scoring and abstain metrics."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from kb_index import KnowledgeBase, build_index
from kb_index.build import answer_paragraphs, index_texts
from kb_index.eval import EvalReport, LabelledQuery, QueryResult
from kb_index.schema import Entry
from kb_index.search import ANSWER_ROW, Hit, _centroids, decide_from_hits
from kb_index.storage import Manifest


def _hit(entry_id: str, score: float) -> Hit:
    return Hit(entry_id=entry_id, language="en", score=score, question="q", answer="a")


def test_answer_paragraphs_are_plain_text_split_on_blank_lines() -> None:
    assert answer_paragraphs("Use **bold** here.\n\nSecond\nline.\n\n\n") == ["Use bold here.", "Second line."]
    entry = Entry(id="x", language="en", question="Q?", answer="One.\n\nTwo.", phrasings=("p",))
    assert [kind for _, kind, _ in index_texts([entry])] == ["question", "phrasing"]
    assert index_texts([entry], embed_answers=True)[2:] == [(0, ANSWER_ROW, "One."), (0, ANSWER_ROW, "Two.")]


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


def test_margin_rule_offers_choices_when_the_top_two_are_close() -> None:
    hits = [_hit("a", 0.80), _hit("b", 0.78), _hit("c", 0.70)]
    assert decide_from_hits("q", hits, 0.62, 0.45).kind == "answer"  # rule off by default
    decision = decide_from_hits("q", hits, 0.62, 0.45, margin=0.05)
    assert decision.kind == "choices" and [h.entry_id for h in decision.hits] == ["a", "b"]
    assert decide_from_hits("q", hits, 0.62, 0.45, margin=0.11).hits[-1].entry_id == "c"
    assert decide_from_hits("q", hits, 0.62, 0.45, margin=0.01).kind == "answer"  # clear winner
    assert decide_from_hits("q", hits[:1], 0.62, 0.45, margin=0.05).kind == "answer"  # nothing to compare with


def test_kb_decide_uses_its_margin(starter_kb: KnowledgeBase) -> None:
    query = "where can I download my invoice"
    assert starter_kb.decide(query, margin=0.0).kind == "answer"
    assert starter_kb.decide(query, margin=1.0).kind == "choices"


def test_centroids_match_the_per_entry_mean() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((7, 4)).astype(np.float32)
    row_entry = np.array([0, 0, 1, 2, 2, 2, 3])
    got = _centroids(vectors, row_entry, 4)
    for position in range(4):
        mean = vectors[row_entry == position].mean(axis=0)
        assert np.allclose(got[position], mean / np.linalg.norm(mean), atol=1e-6)


class _Fixed:
    name = "synthetic"
    dimension = 32

    def __init__(self) -> None:
        self.vector = np.zeros(32, dtype=np.float32)

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.vector[None, :]


def test_large_index_scores_only_candidates_and_finds_the_nearest(monkeypatch: pytest.MonkeyPatch) -> None:
    import kb_index.search as search

    rng = np.random.default_rng(1)
    size = 400
    vectors = rng.standard_normal((size * 2, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
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
    monkeypatch.setattr(search, "EXHAUSTIVE_SEARCH_LIMIT", 10)
    approximate = kb.search("q", k=3)
    assert exhaustive[0].entry_id == "e61" and exhaustive[0].matched == "t123"
    assert [(h.entry_id, h.score) for h in approximate] == [(h.entry_id, h.score) for h in exhaustive]


def test_abstain_precision_and_recall() -> None:
    def result(expected: str | None, decision: str) -> QueryResult:
        return QueryResult(LabelledQuery("q", expected), [("a", 0.5)], decision, ["a"] if decision != "none" else [])

    report = EvalReport([result(None, "none"), result(None, "choices"), result(None, "answer"), result("a", "none"),
                         result("a", "answer")])
    assert report.abstain() == {"abstain_precision": 0.5, "abstain_recall": 0.3333,
                                "no_answer_precision": 0.6667, "no_answer_recall": 0.6667}
    assert EvalReport([result("a", "answer")]).abstain()["abstain_recall"] is None


def test_cli_build_with_answers_is_not_up_to_date_without(mini_content: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from kb_index.__main__ import main

    args = ["--content", str(mini_content), "--out", str(tmp_path / "build"), "--no-progress"]
    assert main(["build", *args]) == 0
    assert "15 vectors" in capsys.readouterr().out
    assert main(["build", "--embed-answers", *args]) == 0
    out = capsys.readouterr().out
    assert "built" in out and "15 vectors" not in out  # answer paragraphs added rows
    assert main(["build", "--embed-answers", *args]) == 0
    assert "up to date" in capsys.readouterr().out


def test_cli_eval_reports_abstain_and_takes_a_margin(starter_index: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    from kb_index.__main__ import main

    results = {}
    for margin in ("0", "1"):
        assert main(["eval", "--out", str(starter_index), "--margin", margin, "--json"]) == 0
        results[margin] = json.loads(capsys.readouterr().out)
    assert "abstain_precision" in results["0"] and "no_answer_recall" in results["0"]
    assert results["1"]["answered_correctly"] + results["1"]["answered_wrongly"] == 0  # every answer became choices
