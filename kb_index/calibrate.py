"""Pick the knowledge base's answer and choices thresholds from labelled queries, and write them into `.env`.

    make calibrate-kb
    .venv/bin/python -m kb_index calibrate [--queries a.yml b.yml] [--min-precision 0.95]
        [--min-unanswerable-handoff 0.5] [--env-file .env] [--dry-run]

The customer sees the result: at or above the answer threshold the bot answers with the best entry; between
the two thresholds it offers the best 2-3 entries as choices; below, it hands the conversation to a person.
The support team states two targets, and the lowest thresholds that meet them are chosen (lowest = the bot
answers as much as it can):

- `--min-precision`: the share of direct answers that must be the right entry (default 95 %; an answer to a
  question the FAQ cannot answer counts as wrong);
- `--min-unanswerable-handoff`: the share of questions the FAQ cannot answer that must go to a person rather
  than get choices (default 50 %; the others get choices, which include "talk to a person").

The choices threshold is the lowest that meets the second target; the answer threshold is the lowest that
meets the first, but never below the choices threshold.

The queries (default: the English starter queries and the it/zh/ro cross-lingual ones in kb_index/eval/) are
searched in the live index, with the grey-zone margin of `kb_index.decision`. The trade-off curve is printed;
KB_ANSWER_THRESHOLD and KB_SUGGEST_THRESHOLD are written into the env file (other lines are kept).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kb_index.eval import EvalReport, LabelledQuery, evaluate, search_all

GRID = [round(0.20 + 0.01 * i, 2) for i in range(71)]  # 0.20 … 0.90


@dataclass(frozen=True)
class Point:
    threshold: float
    answered_right: int
    answered_wrong: int  # wrong entry, or an answer to an unanswerable question
    precision: float | None
    coverage: float  # answered right / answerable
    unanswerable_handoff: float | None  # unanswerable questions handed to a person (with suggest = threshold)


@dataclass(frozen=True)
class Calibration:
    answer_threshold: float
    suggest_threshold: float
    curve: list[Point]
    report: EvalReport  # decisions at the chosen thresholds
    met: bool  # both targets reached


def _point(report: EvalReport, threshold: float) -> Point:
    c = report.decision_counts()
    right = c["answered_correctly"]
    wrong = c["answered_wrongly"] + c["unanswerable_answered"]
    answerable = len(report.answerable) or 1
    unanswerable = len(report.unanswerable)
    return Point(threshold, right, wrong, round(right / (right + wrong), 4) if right + wrong else None,
                 round(right / answerable, 4),
                 round(c["unanswerable_none"] / unanswerable, 4) if unanswerable else None)


def calibrate(kb: Any, queries: list[LabelledQuery], *, min_precision: float = 0.95,
              min_unanswerable_handoff: float = 0.5) -> Calibration:
    """The lowest thresholds meeting both targets (see the module doc), with the trade-off curve."""
    hits = search_all(kb, queries)  # each query embedded and searched once, then decided at every threshold
    curve = [_point(evaluate(kb, queries, answer_threshold=t, suggest_threshold=t, hits=hits), t) for t in GRID]
    # Questions scored below the choices threshold go to a person, so that threshold is set first, by the
    # unanswerable questions; the answer threshold cannot be lower than it.
    has_unanswerable = any(q.expected is None for q in queries)
    suggest = next((p.threshold for p in curve if p.unanswerable_handoff is not None
                    and p.unanswerable_handoff >= min_unanswerable_handoff), None)
    met = suggest is not None or not has_unanswerable
    suggest = GRID[0] if suggest is None and not has_unanswerable else (GRID[-1] if suggest is None else suggest)
    precise = next((p.threshold for p in curve if p.precision is not None and p.precision >= min_precision), None)
    met = met and precise is not None
    answer = max(suggest, GRID[-1] if precise is None else precise)
    report = evaluate(kb, queries, answer_threshold=answer, suggest_threshold=suggest, hits=hits)
    return Calibration(answer, suggest, curve, report, met)


def format_curve(calibration: Calibration) -> str:
    lines = ["threshold  answered right  wrong  precision  coverage  unanswerable handed off"]
    for p in calibration.curve:
        if p.threshold * 100 % 5 and p.threshold not in (calibration.answer_threshold, calibration.suggest_threshold):
            continue
        mark = " <- answer" if p.threshold == calibration.answer_threshold else ""
        mark += " <- choices" if p.threshold == calibration.suggest_threshold else ""
        precision = "-" if p.precision is None else f"{p.precision:.3f}"
        handoff = "-" if p.unanswerable_handoff is None else f"{p.unanswerable_handoff:.2f}"
        lines.append(f"{p.threshold:9.2f}  {p.answered_right:14d}  {p.answered_wrong:5d}  {precision:>9}  "
                     f"{p.coverage:8.3f}  {handoff:>23}{mark}")
    return "\n".join(lines)


def write_env(path: Path, values: dict[str, str]) -> None:
    """Set `values` in the env file at `path` (created if missing), keeping every other line."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    todo = dict(values)
    for i, line in enumerate(lines):
        match = re.match(r"^\s*(?:export\s+)?([A-Z0-9_]+)\s*=", line)
        if match and match.group(1) in todo:
            lines[i] = f"{match.group(1)}={todo.pop(match.group(1))}"
    lines += [f"{key}={value}" for key, value in todo.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
