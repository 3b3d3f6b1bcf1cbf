"""Which intents, bot responses and knowledge-base entries lack which language: a report for content editors.

    make languages
    .venv/bin/python -m tools.language_report [--languages en,it,zh,ro] [--min-examples 10] [--json] [--strict]

The report itself is `bot.studio.gaps` (the studio's "language gaps" page shows the same, with links to each
missing piece); this prints it.

Exit status: 0; with `--strict`, 1 when anything is missing (for CI or a pre-merge check).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from bot.studio.gaps import MIN_EXAMPLES, Coverage, coverage
from core.settings import HubSettings

__all__ = ["Coverage", "format_report", "main", "report"]


def report(settings: HubSettings, *, languages: list[str] | None = None, min_examples: int = MIN_EXAMPLES,
           data_dir: Path | None = None, domain: Path | None = None, content: Path | None = None) -> Coverage:
    from bot.conversations.language import LanguageDetector

    langs = languages or list(settings.supported_languages)
    detector = LanguageDetector(langs, settings.language_detector_model)
    return coverage(detector, languages=langs, data_dir=data_dir or settings.rasa_data_dir,
                    domain=domain or settings.rasa_domain, content=content or settings.kb_content_dir,
                    default_language=settings.default_language, min_examples=min_examples)


def format_report(found: Coverage) -> str:
    missing = found.missing()
    lines = [f"Languages: {', '.join(found.languages)}", ""]
    header = "intent".ljust(20) + "".join(lang.rjust(6) for lang in found.languages) + "     ?"
    lines += [f"Training examples per language (fewer than {found.min_examples} is reported):", header]
    for intent, counts in found.intents.items():
        cells = "".join(str(counts.get(lang, 0)).rjust(6) for lang in found.languages)
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
    found = report(settings, languages=languages, min_examples=args.min_examples)
    if args.json:
        print(json.dumps({**asdict(found), "missing": found.missing()}, indent=2, ensure_ascii=False))
    else:
        print(format_report(found))
    return 1 if args.strict and any(found.missing().values()) else 0


if __name__ == "__main__":
    sys.exit(main())
