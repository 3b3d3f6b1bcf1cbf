"""Thresholds from the team's own content, without labelled queries: each entry's phrasings as pseudo-queries.

A threshold tuned on one FAQ says little about another: how high a wrong entry scores depends on how close the
entries of *this* FAQ are to one another. What the answer threshold must do is not answer a question whose
entry does not exist; such questions can be made from the content itself. Every question and phrasing of an
entry is taken as a customer's question and searched while that entry (in every language) is left out, as if it
had never been written: the best score it still gets is what an unanswerable-but-on-topic question scores here.

- the **answer** threshold is the `not_answered` quantile of those scores (default 0.90: nine in ten questions
  about missing entries are not answered directly);
- the **choices** threshold is the `handoff` quantile (default 0.50: half of them go to a person, the others
  get choices, which include "talk to a person").

Scores are not comparable across query languages: a weighed encoder scores an English question mostly with
its English part and an Italian one with the multilingual part alone, whose cosines sit much higher (measured on
the starter FAQ with `accurate`: a question about a missing entry scores 0.61 in English, 0.91–0.93 in it/zh/ro,
median). So both thresholds are computed per language too (from the pseudo-queries of that language's entries),
and a query is decided with its own language's pair; the pooled pair is for languages with too few phrasings.

Both are computed when the index is built (`kb_index.build`), stored in its manifest, and used when
``KB_ANSWER_THRESHOLD`` / ``KB_SUGGEST_THRESHOLD`` are not set (`KnowledgeBase`). Measured with the
leave-entries-out test on StackFAQ (benchmarks/bench_kb.py ``leave_out``): the thresholds are chosen on the
index of the kept entries only, then real customer questions about the removed entries are asked.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from encoders.concat import weigh_queries

NOT_ANSWERED = 0.90
HANDOFF = 0.50
MAX_PSEUDO_QUERIES = 4000  # a sample of the rows of a large index: enough for two quantiles
MIN_PSEUDO_QUERIES = 20  # below this (tiny FAQs) the quantiles mean nothing: the fixed defaults are kept


@dataclass(frozen=True)
class ContentCalibration:
    """What the content says the thresholds should be (see the module doc)."""

    answer_threshold: float
    suggest_threshold: float
    pseudo_queries: int
    not_answered: float = NOT_ANSWERED
    handoff: float = HANDOFF
    method: str = "leave-one-entry-out pseudo-queries"
    #: language -> (answer, choices) thresholds for queries in that language (languages with enough phrasings)
    per_language: dict[str, tuple[float, float]] = field(default_factory=dict)

    def for_language(self, language: str | None) -> tuple[float, float]:
        """The (answer, choices) thresholds for a query in `language`: its own when measured, else the pooled."""
        return self.per_language.get(language or "", (self.answer_threshold, self.suggest_threshold))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "ContentCalibration | None":
        if not data:
            return None
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        if isinstance(fields.get("per_language"), dict):
            fields["per_language"] = {str(lang): (float(pair[0]), float(pair[1]))
                                      for lang, pair in fields["per_language"].items()}
        try:
            return cls(**fields)
        except TypeError:
            return None


def left_out_scores(kb: Any, *, limit: int = MAX_PSEUDO_QUERIES, seed: int = 0) -> np.ndarray:
    """For each pseudo-query (a question or phrasing row of the index), the best score of any *other* entry id."""
    return left_out(kb, limit=limit, seed=seed)[0]


def left_out(kb: Any, *, limit: int = MAX_PSEUDO_QUERIES, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`left_out_scores` and, for each pseudo-query, the language it is written in (its entry's)."""
    scorer = kb._scorer
    customer_rows = [i for i, (_, kind, _) in enumerate(kb.rows) if kind != "answer"]
    if len(customer_rows) > limit:
        customer_rows = sorted(np.random.default_rng(seed).choice(customer_rows, limit, replace=False).tolist())
    entry_ids = np.array([entry.id for entry in kb.entries])
    best = np.empty(len(customer_rows), dtype=np.float32)
    languages = np.array([kb.entries[kb.rows[row][0]].language for row in customer_rows], dtype=object)
    for n, row in enumerate(customer_rows):
        position = kb.rows[row][0]
        language = languages[n]
        query = weigh_queries(kb.encoder, scorer.vectors[row][np.newaxis, :], language)
        positions, scores, _ = scorer.score(query, k=8, answer_weight=kb.answer_weight)
        others = entry_ids[positions] != kb.entries[position].id
        best[n] = float(scores[others].max()) if others.any() else -1.0
    return best, languages


def calibrate_from_content(kb: Any, *, not_answered: float = NOT_ANSWERED,
                           handoff: float = HANDOFF) -> ContentCalibration | None:
    """The thresholds for `kb`'s own content (see the module doc), or None when it has too few rows or ids."""
    if len({entry.id for entry in kb.entries}) < 3:
        return None
    scores, languages = left_out(kb)
    found = scores > -1.0
    scores, languages = scores[found], languages[found]
    if len(scores) < MIN_PSEUDO_QUERIES:
        return None

    def pair(sample: np.ndarray) -> tuple[float, float]:
        answer = float(np.quantile(sample, not_answered))
        return round(answer, 4), round(min(float(np.quantile(sample, handoff)), answer), 4)

    per_language = {str(lang): pair(scores[languages == lang]) for lang in sorted(set(languages.tolist()))
                    if int((languages == lang).sum()) >= MIN_PSEUDO_QUERIES}
    answer, suggest = pair(scores)
    return ContentCalibration(answer, suggest, int(len(scores)), not_answered, handoff, per_language=per_language)
