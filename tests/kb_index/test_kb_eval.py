"""The evaluation report: abstain metrics."""

from __future__ import annotations

from kb_index.eval import EvalReport, LabelledQuery, QueryResult


def test_abstain_precision_and_recall() -> None:
    def result(expected: str | None, decision: str) -> QueryResult:
        return QueryResult(LabelledQuery("q", expected), [("a", 0.5)], decision, ["a"] if decision != "none" else [])

    report = EvalReport([result(None, "none"), result(None, "choices"), result(None, "answer"), result("a", "none"),
                         result("a", "answer")])
    assert report.abstain() == {"abstain_precision": 0.5, "abstain_recall": 0.3333,
                                "no_answer_precision": 0.6667, "no_answer_recall": 0.6667}
    assert EvalReport([result("a", "answer")]).abstain()["abstain_recall"] is None
