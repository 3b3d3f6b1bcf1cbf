"""The answer / choices / none policy: what to do with the entries found for a query.

A pure function of the scored hits (`decide_from_hits`), so it is the same wherever the hits come from:

- ``answer`` when the best hit reaches the answer threshold, unless the runner-up is within the grey-zone
  margin of it (then the close hits are offered as choices instead);
- ``choices`` with the hits (at most `MAX_CHOICES`) that reach the suggest threshold;
- ``none`` otherwise: the conversation goes to a person.

The thresholds are the content's own (`kb_index.self_calibration`, stored in the index at build time) unless
``KB_ANSWER_THRESHOLD`` / ``KB_SUGGEST_THRESHOLD`` fix them: a tool that opens a knowledge base without settings
decides as the bot does without a `.env`. The constants below serve an index too small to calibrate itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from kb_index.entry import Link

# For indexes too small to calibrate themselves (fewer than 3 entries or 20 phrasings): what the content calibration
# gives the starter FAQ with the shipped encoder (benchmarks/README.md, "Thresholds that hold on unseen content").
DEFAULT_ANSWER_THRESHOLD: float = 0.60
DEFAULT_SUGGEST_THRESHOLD: float = 0.50
MAX_CHOICES = 3

# Grey-zone margin: when the best entry reaches the answer threshold but the runner-up is within this
# margin of it, offer the close entries as choices instead of answering (0 disables the rule). Chosen on the
# starter queries (python -m benchmarks.bench_kb): at the bot's thresholds (0.55 / 0.40) 0.04 turned both wrong
# confident answers into choices and 3 of 52 right answers into choices (1 at the 0.62 default). Checked on
# StackFAQ, which played no part in choosing it: wrong confident answers 45 -> 25, right ones 1118 -> 1079 at
# 0.55 (32 -> 16 and 1018 -> 988 at 0.62).
DEFAULT_MARGIN = 0.04


@dataclass(frozen=True)
class Hit:
    """One entry found for a query."""

    entry_id: str
    language: str
    score: float  # similarity in [-1, 1] (kb_index.scoring)
    question: str
    answer: str  # Markdown; render per channel with core.markdown
    tags: tuple[str, ...] = ()
    team: str | None = None
    links: tuple[Link, ...] = ()
    matched: str = ""  # the question or phrasing that matched best

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tags"] = list(self.tags)
        data["links"] = [asdict(link) for link in self.links]
        return data


@dataclass(frozen=True)
class Decision:
    """How to respond to a query.

    - ``answer``: `hits` holds the one entry to answer with (its score reached the answer threshold);
    - ``choices``: `hits` holds 1–3 entries above the suggest threshold to offer ("Did you mean…?");
    - ``none``: nothing is close enough (`hits` is empty; `best_score` says how close the best one was).
    """

    kind: Literal["answer", "choices", "none"]
    hits: list[Hit] = field(default_factory=list)
    query: str = ""
    best_score: float | None = None

    @property
    def hit(self) -> Hit | None:
        """The best hit, if any."""
        return self.hits[0] if self.hits else None


def decide_from_hits(
    query: str,
    hits: list[Hit],
    answer_threshold: float,
    suggest_threshold: float,
    *,
    max_choices: int = MAX_CHOICES,
    margin: float = 0.0,
) -> Decision:
    """The decision for `hits` (best first; see the module doc).

    With `margin` > 0, a best hit above the answer threshold whose runner-up scores within `margin` of it
    is not answered: the close entries are offered as choices (the "grey zone" between two entries).
    """
    best = hits[0].score if hits else None
    if hits and hits[0].score >= answer_threshold:
        if margin > 0 and max_choices > 1 and len(hits) > 1 and hits[0].score - hits[1].score < margin:
            close = [hit for hit in hits[:max_choices] if hits[0].score - hit.score < margin]
            return Decision("choices", close, query, best)
        return Decision("answer", hits[:1], query, best)
    choices = [hit for hit in hits[:max_choices] if hit.score >= suggest_threshold]
    return Decision("choices", choices, query, best) if choices else Decision("none", [], query, best)
