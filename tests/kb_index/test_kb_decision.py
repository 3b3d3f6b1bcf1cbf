"""The answer / choices / none policy on scored hits alone (no index, no encoder)."""

from __future__ import annotations

from kb_index.decision import MAX_CHOICES, Hit, decide_from_hits


def _hit(entry_id: str, score: float) -> Hit:
    return Hit(entry_id=entry_id, language="en", score=score, question="q", answer="a")


def _ids(decision) -> list[str]:  # type: ignore[no-untyped-def]
    return [hit.entry_id for hit in decision.hits]


def test_answers_with_the_best_hit_at_the_answer_threshold() -> None:
    hits = [_hit("a", 0.62), _hit("b", 0.50)]
    decision = decide_from_hits("q", hits, 0.62, 0.45)
    assert decision.kind == "answer" and _ids(decision) == ["a"] and decision.hit == hits[0]
    assert decision.query == "q" and decision.best_score == 0.62
    assert decide_from_hits("q", hits, 0.63, 0.45).kind == "choices"  # just below: no direct answer


def test_offers_at_most_three_choices_above_the_suggest_threshold() -> None:
    hits = [_hit("a", 0.60), _hit("b", 0.55), _hit("c", 0.50), _hit("d", 0.49), _hit("e", 0.30)]
    decision = decide_from_hits("q", hits, 0.62, 0.45)
    assert decision.kind == "choices" and _ids(decision) == ["a", "b", "c"] and MAX_CHOICES == 3
    assert _ids(decide_from_hits("q", hits, 0.62, 0.52)) == ["a", "b"]
    assert _ids(decide_from_hits("q", hits, 0.62, 0.45, max_choices=1)) == ["a"]


def test_nothing_close_enough_is_none_with_the_best_score() -> None:
    decision = decide_from_hits("lasagne recipe", [_hit("a", 0.31), _hit("b", 0.2)], 0.62, 0.45)
    assert decision.kind == "none" and decision.hits == [] and decision.hit is None and decision.best_score == 0.31
    empty = decide_from_hits("", [], 0.62, 0.45)
    assert empty.kind == "none" and empty.best_score is None


def test_margin_rule_offers_choices_when_the_top_two_are_close() -> None:
    hits = [_hit("a", 0.80), _hit("b", 0.78), _hit("c", 0.70)]
    assert decide_from_hits("q", hits, 0.62, 0.45).kind == "answer"  # rule off by default
    decision = decide_from_hits("q", hits, 0.62, 0.45, margin=0.05)
    assert decision.kind == "choices" and _ids(decision) == ["a", "b"]
    assert decide_from_hits("q", hits, 0.62, 0.45, margin=0.11).hits[-1].entry_id == "c"
    assert decide_from_hits("q", hits, 0.62, 0.45, margin=0.01).kind == "answer"  # clear winner
    assert decide_from_hits("q", hits[:1], 0.62, 0.45, margin=0.05).kind == "answer"  # nothing to compare with
    assert decide_from_hits("q", hits, 0.62, 0.45, margin=0.05, max_choices=1).kind == "answer"  # no room to choose


def test_hits_serialise_for_the_search_endpoint() -> None:
    from kb_index.entry import Link

    hit = Hit(entry_id="a", language="it", score=0.7, question="q", answer="a", tags=("t",),
              links=(Link("Docs", "https://x"),), matched="m")
    assert hit.to_dict() == {"entry_id": "a", "language": "it", "score": 0.7, "question": "q", "answer": "a",
                             "tags": ["t"], "team": None, "links": [{"title": "Docs", "url": "https://x"}],
                             "matched": "m"}
