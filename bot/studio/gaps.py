"""Which intents, bot responses and FAQ entries lack which language: the studio's "language gaps" page and
`make languages` (`tools.language_report`) read the same report.

- **Intents** (nlu_data/): every training example's language is detected (the hub's detector,
  `bot.conversations.language`); an intent with fewer than `min_examples` confidently detected examples in a
  language is reported, with the count, because the bot will understand that language poorly for that intent.
- **Responses** (domain.yml): the variation without a condition counts as the default language; the others
  count for the `language` slot value they are conditioned on.
- **Knowledge base** (kb_index/content): every entry id must have a version in each language; without one,
  customers get the answer in another language.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MIN_EXAMPLES = 10
MIN_CONFIDENCE = 0.1  # examples the detector is unsure of (a tie between languages) are not counted
#: Intents whose examples are not in one language: button payloads ("the first one"), and the words that greet
#: and take leave alike across languages ("ciao", "servus": actions/greetings.py reads them by their place).
SKIPPED_INTENTS = frozenset({"choose_kb_entry", "greet_or_goodbye"})


@dataclass
class Coverage:
    languages: list[str]
    intents: dict[str, dict[str, int]] = field(default_factory=dict)  # intent → language → examples
    responses: dict[str, list[str]] = field(default_factory=dict)  # response → languages it has
    entries: dict[str, list[str]] = field(default_factory=dict)  # entry id → languages it has
    min_examples: int = MIN_EXAMPLES

    def missing(self) -> dict[str, dict[str, list[str]]]:
        """kind → name → languages missing (intents: fewer than `min_examples` examples)."""
        out: dict[str, dict[str, list[str]]] = {"intents": {}, "responses": {}, "entries": {}}
        for intent, counts in self.intents.items():
            thin = [lang for lang in self.languages if counts.get(lang, 0) < self.min_examples]
            if thin:
                out["intents"][intent] = thin
        for kind, table in (("responses", self.responses), ("entries", self.entries)):
            for name, have in table.items():
                lacking = [lang for lang in self.languages if lang not in have]
                if lacking:
                    out[kind][name] = lacking
        return out


def intent_languages(data_dir: Path, detector: Any, skip: frozenset[str] | set[str] = SKIPPED_INTENTS
                     ) -> dict[str, dict[str, int]]:
    from nlu_components.validate import plain_text, validate

    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for example in validate([data_dir]).examples:
        if example.intent in skip:
            continue
        found = detector.detect(plain_text(example.text))
        counts[example.intent]["?" if found is None or found.confidence < MIN_CONFIDENCE else found.language] += 1
    return {intent: dict(c) for intent, c in sorted(counts.items())}


def response_languages(domain: Path, default_language: str) -> dict[str, list[str]]:
    data = yaml.safe_load(domain.read_text(encoding="utf-8")) or {}
    out = {}
    for name, variations in sorted((data.get("responses") or {}).items()):
        have = set()
        for variation in variations or []:
            conditioned = {str(c.get("value")) for c in (variation.get("condition") or []) if c.get("name") == "language"}
            have |= conditioned or {default_language}
        out[name] = sorted(have)
    return out


def entry_languages(content: Path) -> dict[str, list[str]]:
    from kb_index.schema import load_content

    out: dict[str, set[str]] = defaultdict(set)
    for entry in load_content(content):
        out[entry.id].add(entry.language)
    return {entry_id: sorted(langs) for entry_id, langs in sorted(out.items())}


def coverage(detector: Any, *, languages: list[str], data_dir: Path, domain: Path, content: Path,
             default_language: str, min_examples: int = MIN_EXAMPLES) -> Coverage:
    """The report for the given content, with `detector` (a `bot.conversations.language.LanguageDetector`)."""
    return Coverage(
        languages=list(languages),
        intents=intent_languages(data_dir, detector),
        responses=response_languages(domain, default_language),
        entries=entry_languages(content),
        min_examples=min_examples,
    )
