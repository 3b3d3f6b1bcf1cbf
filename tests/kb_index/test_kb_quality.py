"""Retrieval quality of the starter FAQ on its labelled query set."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb_index import KnowledgeBase, load_content
from kb_index.eval import STARTER_QUERIES, evaluate, load_queries

STARTER_CONTENT = Path(__file__).resolve().parents[2] / "kb_index" / "content"


@pytest.fixture(scope="module")
def report(starter_kb: KnowledgeBase):  # type: ignore[no-untyped-def]
    return evaluate(starter_kb, load_queries(STARTER_QUERIES))


def test_query_set_is_labelled_against_existing_entries_and_not_copied_from_phrasings() -> None:
    queries = load_queries(STARTER_QUERIES)
    entries = load_content(STARTER_CONTENT)
    ids = {e.id for e in entries}
    wordings = {t.casefold() for e in entries for t in e.texts}
    assert len([q for q in queries if q.expected]) >= 60 and len([q for q in queries if not q.expected]) >= 10
    assert {q.expected for q in queries if q.expected} <= ids
    assert [q.query for q in queries if q.query.casefold() in wordings] == []


def test_top1_and_top5_on_the_starter_queries(report) -> None:  # type: ignore[no-untyped-def]
    print(report.summary())
    assert report.top(1) >= 0.85
    assert report.top(5) >= 0.95


def test_default_thresholds_never_answer_out_of_scope_questions(report) -> None:  # type: ignore[no-untyped-def]
    """The thresholds are the content's own (kb_index/self_calibration.py, per language), no longer a fixed 0.43
    tuned on these very queries. What a customer notices: a question the FAQ cannot answer never gets a direct
    answer, a direct answer is right, and the right entry is put in front of them (as the answer or among the
    choices) for most questions. Measured with the shipped `classic` encoders (English answer threshold 0.63):
    27 answered directly, 0 wrong; 31 offered choices that include the right entry; 11 of 71 answerable and
    10 of 10 unanswerable handed to a person. (A fixed 0.43 answers 59 directly, also 0 wrong, on these queries:
    it was chosen on them; the content's own thresholds are chosen without them and must hold on a team's own
    FAQ, the leave-entries-out test in benchmarks/bench_kb.py.)"""
    counts = report.decision_counts()
    assert counts["unanswerable_answered"] == 0
    answered = counts["answered_correctly"] + counts["answered_wrongly"]
    answerable = len(report.answerable)
    assert answered >= answerable / 3  # a third and more answered directly
    assert counts["answered_wrongly"] <= answered / 10  # at most 1 wrong direct answer in 10
    shown_right = counts["answered_correctly"] + counts["choices_with_expected"]
    assert shown_right >= 0.8 * answerable  # the right entry in front of the customer
    assert counts["none_for_answerable"] <= answerable / 6  # at most 1 answerable question in 6 to a person
