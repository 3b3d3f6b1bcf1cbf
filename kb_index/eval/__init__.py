"""Retrieval quality on a labelled query set (by default the starter FAQ queries).

`evaluate` reports top-1 / top-5 accuracy on answerable queries, and how `decide` behaves with the given
thresholds: how often it answers, answers wrongly, offers choices, or (for unanswerable queries) claims
an answer it does not have.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kb_index.decision import decide_from_hits
from kb_index.knowledge_base import KnowledgeBase

log = logging.getLogger(__name__)

STARTER_QUERIES = Path(__file__).resolve().parent / "starter_queries.yml"
CROSSLINGUAL_QUERIES = Path(__file__).resolve().parent / "crosslingual_queries.yml"  # it / zh / ro


@dataclass(frozen=True)
class LabelledQuery:
    query: str
    expected: str | None  # entry id, or None when the FAQ cannot answer the query
    language: str | None = None


@dataclass(frozen=True)
class QueryResult:
    query: LabelledQuery
    ranked: list[tuple[str, float]]  # (entry id, score), best first
    decision: str  # answer / choices / none
    decided: list[str]  # entry ids in the decision

    @property
    def rank(self) -> int | None:
        """1-based rank of the expected entry, None when not in the results."""
        ids = [entry_id for entry_id, _ in self.ranked]
        return ids.index(self.query.expected) + 1 if self.query.expected in ids else None


@dataclass
class EvalReport:
    results: list[QueryResult] = field(default_factory=list)
    answer_threshold: float = 0.0
    suggest_threshold: float = 0.0

    @property
    def answerable(self) -> list[QueryResult]:
        return [r for r in self.results if r.query.expected is not None]

    @property
    def unanswerable(self) -> list[QueryResult]:
        return [r for r in self.results if r.query.expected is None]

    def top(self, k: int) -> float:
        """Share of answerable queries whose expected entry is in the top `k`."""
        rows = self.answerable
        return sum(1 for r in rows if r.rank is not None and r.rank <= k) / len(rows) if rows else 0.0

    @property
    def mrr(self) -> float:
        rows = self.answerable
        return sum(1 / r.rank for r in rows if r.rank) / len(rows) if rows else 0.0

    def decision_counts(self) -> dict[str, Any]:
        ans, un = self.answerable, self.unanswerable
        return {
            "answered_correctly": sum(1 for r in ans if r.decision == "answer" and r.decided[0] == r.query.expected),
            "answered_wrongly": sum(1 for r in ans if r.decision == "answer" and r.decided[0] != r.query.expected),
            "choices_with_expected": sum(1 for r in ans if r.decision == "choices" and r.query.expected in r.decided),
            "choices_without_expected": sum(1 for r in ans if r.decision == "choices" and r.query.expected not in r.decided),
            "none_for_answerable": sum(1 for r in ans if r.decision == "none"),
            "unanswerable_answered": sum(1 for r in un if r.decision == "answer"),
            "unanswerable_choices": sum(1 for r in un if r.decision == "choices"),
            "unanswerable_none": sum(1 for r in un if r.decision == "none"),
        }

    def abstain(self) -> dict[str, float | None]:
        """Abstain precision/recall for sets with unanswerable queries.

        "Abstain" is the hand-off decision (`none`): precision = share of abstentions that were unanswerable,
        recall = share of unanswerable queries abstained on. The `no_answer_*` pair counts `choices` as an
        abstention too (the bot did not claim an answer).
        """
        def pr(abstained: list[QueryResult]) -> tuple[float | None, float | None]:
            hits = sum(1 for r in abstained if r.query.expected is None)
            unanswerable = len(self.unanswerable)
            precision = round(hits / len(abstained), 4) if abstained else None
            recall = round(hits / unanswerable, 4) if unanswerable else None
            return precision, recall

        p1, r1 = pr([r for r in self.results if r.decision == "none"])
        p2, r2 = pr([r for r in self.results if r.decision != "answer"])
        return {"abstain_precision": p1, "abstain_recall": r1, "no_answer_precision": p2, "no_answer_recall": r2}

    def summary(self) -> dict[str, Any]:
        return {
            "answerable": len(self.answerable),
            "unanswerable": len(self.unanswerable),
            "top1": round(self.top(1), 4),
            "top3": round(self.top(3), 4),
            "top5": round(self.top(5), 4),
            "mrr": round(self.mrr, 4),
            "answer_threshold": self.answer_threshold,
            "suggest_threshold": self.suggest_threshold,
            **self.decision_counts(),
            **self.abstain(),
        }


def load_queries(path: str | Path = STARTER_QUERIES) -> list[LabelledQuery]:
    """Read a query file: a list of {query, expected, language?} mappings."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or []
    return [LabelledQuery(str(item["query"]), item.get("expected"), item.get("language")) for item in data]


def search_all(kb: KnowledgeBase, queries: list[LabelledQuery], *, k: int = 5) -> list[list[Any]]:
    """Every query searched once (each embedded once): reuse the hits with `evaluate(..., hits=)` to try many
    thresholds (`kb_index.calibrate`)."""
    return [kb.search(item.query, k=max(k, 3), language=item.language) for item in queries]


def evaluate(
    kb: KnowledgeBase,
    queries: list[LabelledQuery],
    *,
    k: int = 5,
    answer_threshold: float | None = None,
    suggest_threshold: float | None = None,
    margin: float | None = None,
    hits: list[list[Any]] | None = None,
) -> EvalReport:
    """Search and decide every query (or decide the `hits` of `search_all`); see `EvalReport`."""
    answer_at = kb.answer_threshold if answer_threshold is None else answer_threshold
    suggest_at = kb.suggest_threshold if suggest_threshold is None else suggest_threshold
    report = EvalReport(answer_threshold=answer_at, suggest_threshold=suggest_at)
    searched = hits if hits is not None else search_all(kb, queries, k=k)
    for item, hits in zip(queries, searched):
        own_answer, own_suggest = kb.thresholds(item.language)  # the knowledge base's, for the query's language
        decision = decide_from_hits(item.query, hits, own_answer if answer_threshold is None else answer_threshold,
                                    own_suggest if suggest_threshold is None else suggest_threshold,
                                    margin=kb.margin if margin is None else margin)
        ranked = [(h.entry_id, h.score) for h in hits]
        report.results.append(QueryResult(item, ranked, decision.kind, [h.entry_id for h in decision.hits]))
    return report
