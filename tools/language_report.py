"""Which intents, bot responses and knowledge-base entries lack which language: a report for content editors.

    make languages
    .venv/bin/python -m tools.language_report [--languages en,it,zh,ro] [--min-examples 10] [--json] [--strict]

- **Intents** (nlu_data/): every training example's language is detected (bot.conversations.language, the detector the hub
  uses); an intent with fewer than `--min-examples` confidently detected examples in a language is reported,
  with the count, because the bot will understand that language poorly for that intent.
- **Responses** (domain.yml): the variation without a condition counts as the default language; the others
  count for the `language` slot value they are conditioned on (see the header of domain.yml).
- **Knowledge base** (kb_index/content): every entry id must have a version in each language; without one,
  customers get the answer in another language.

Exit status: 0; with `--strict`, 1 when anything is missing (for CI or a pre-merge check).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.settings import PROJECT_ROOT, HubSettings

MIN_EXAMPLES = 10
MIN_CONFIDENCE = 0.1  # examples the detector is unsure of (a tie between languages) are not counted


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


def intent_languages(data_dir: Path, detector: Any, skip: set[str]) -> dict[str, dict[str, int]]:
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


def report(settings: HubSettings, *, languages: list[str] | None = None, min_examples: int = MIN_EXAMPLES,
           data_dir: Path | None = None, domain: Path | None = None, content: Path | None = None) -> Coverage:
    from bot.conversations.language import LanguageDetector

    langs = languages or list(settings.supported_languages)
    detector = LanguageDetector(langs, settings.language_detector_model)
    return Coverage(
        languages=langs,
        intents=intent_languages(data_dir or PROJECT_ROOT / "nlu_data", detector, skip={"choose_kb_entry"}),
        responses=response_languages(domain or PROJECT_ROOT / "domain.yml", settings.default_language),
        entries=entry_languages(content or settings.kb_content_dir),
        min_examples=min_examples,
    )


def format_report(coverage: Coverage) -> str:
    missing = coverage.missing()
    lines = [f"Languages: {', '.join(coverage.languages)}", ""]
    header = "intent".ljust(20) + "".join(lang.rjust(6) for lang in coverage.languages) + "     ?"
    lines += [f"Training examples per language (fewer than {coverage.min_examples} is reported):", header]
    for intent, counts in coverage.intents.items():
        cells = "".join(str(counts.get(lang, 0)).rjust(6) for lang in coverage.languages)
        lines.append(f"{intent:<20}{cells}{str(counts.get('?', 0)).rjust(6)}")
    lines.append("")
    titles = {"intents": "Intents with too few examples", "responses": "Responses without a variation",
              "entries": "Knowledge-base entries without a version"}
    for kind, title in titles.items():
        if missing[kind]:
            lines.append(f"{title} ({len(missing[kind])}):")
            lines += [f"  {name}: {', '.join(langs)}" for name, langs in missing[kind].items()]
        else:
            lines.append(f"{title}: none")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.language_report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--languages", default=None, help="comma separated (default: SUPPORTED_LANGUAGES)")
    parser.add_argument("--min-examples", type=int, default=MIN_EXAMPLES)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--strict", action="store_true", help="exit 1 when anything is missing")
    args = parser.parse_args(argv)
    settings = HubSettings.from_env()
    languages = [x.strip() for x in args.languages.split(",") if x.strip()] if args.languages else None
    coverage = report(settings, languages=languages, min_examples=args.min_examples)
    if args.json:
        print(json.dumps({**asdict(coverage), "missing": coverage.missing()}, indent=2, ensure_ascii=False))
    else:
        print(format_report(coverage))
    return 1 if args.strict and any(coverage.missing().values()) else 0


if __name__ == "__main__":
    sys.exit(main())
