"""`python -m kb_index calibrate`: thresholds from labelled queries, each query embedded once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kb_index import KnowledgeBase
from kb_index.calibrate import GRID, calibrate
from kb_index.eval import STARTER_QUERIES, load_queries


class CountingEncoder:
    """The real encoder, counting the texts it is asked to embed."""

    def __init__(self, inner: Any) -> None:
        self._inner, self.name, self.dimension = inner, inner.name, inner.dimension
        self.texts: list[str] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.texts.extend(texts)
        return self._inner.encode(texts)


def test_calibration_embeds_each_query_once_and_meets_its_targets(starter_index: Path, encoder: Any) -> None:
    counting = CountingEncoder(encoder)
    kb = KnowledgeBase.load(starter_index, counting)
    queries = load_queries(STARTER_QUERIES)
    result = calibrate(kb, queries, min_precision=0.95, min_unanswerable_handoff=0.5)
    assert len(counting.texts) == len(queries) and len(GRID) > 50  # was once per query per grid point
    summary = result.report.summary()
    right, wrong = summary["answered_correctly"], summary["answered_wrongly"] + summary["unanswerable_answered"]
    assert result.met and right / (right + wrong) >= 0.95
    assert summary["unanswerable_none"] / summary["unanswerable"] >= 0.5
