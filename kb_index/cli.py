"""Command line: ``python -m kb_index validate|build|search|eval|calibrate``.

Defaults come from `core.settings.KBSettings.from_env()` (KB_CONTENT_DIR, KB_INDEX_DIR, EMBEDDING_MODEL,
KB_ANSWER_THRESHOLD, KB_SUGGEST_THRESHOLD, DEFAULT_LANGUAGE). Exit codes: 0 success, 2 a problem to fix (invalid
content, missing or mismatched index, unusable model, a bad setting), 1 for a failing `eval` gate or `calibrate`
targets that cannot be met.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from core.settings import PROJECT_ROOT, KBSettings, SettingsError
from encoders.runtime import pin_environment
from kb_index.decision import DEFAULT_MARGIN

log = logging.getLogger("kb_index")

EXIT_FIX = 2


def _parser(settings: KBSettings) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--content", type=Path, default=settings.kb_content_dir, help="content directory (default: %(default)s)")
    common.add_argument("--out", type=Path, default=settings.kb_index_dir, help="index directory (default: %(default)s)")
    common.add_argument("--model", default=settings.embedding_model,
                        help="sentence encoder: a sentence-transformers name or path, use-multilingual-v3, or several "
                             "joined with + (default: %(default)s)")
    common.add_argument("--language", default=None, help="preferred language of the answers, e.g. en")
    common.add_argument("--force", action="store_true", help="rebuild even when content and model are unchanged")
    common.add_argument("-v", "--verbose", action="store_true", help="log debug messages")

    def thresholds(command: argparse.ArgumentParser) -> None:
        command.add_argument("--answer-threshold", type=float, default=settings.kb_answer_threshold,
                             help="answer at or above this score (default: %(default)s)")
        command.add_argument("--suggest-threshold", type=float, default=settings.kb_suggest_threshold,
                             help="offer choices at or above this score (default: %(default)s)")
        command.add_argument("--margin", type=float, default=None, help=f"grey-zone margin (default: {DEFAULT_MARGIN})")

    parser = argparse.ArgumentParser(prog="python -m kb_index", description="Build and query the FAQ knowledge base.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("validate", parents=[common], help="check the content files and report every problem")
    build = sub.add_parser("build", parents=[common], help="build the index (skipped when nothing changed)")
    build.add_argument("--no-progress", action="store_true", help="no progress bar")
    build.add_argument("--embed-answers", action="store_true", default=None,
                       help="also embed answer paragraphs (helps content whose entries have few phrasings)")
    build.add_argument("--cache-dir", type=Path, default=None,
                       help="embedding cache shared by several indexes (default: inside --out)")
    search = sub.add_parser("search", parents=[common], help="search the index and show the decision")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=5, help="number of hits (default: %(default)s)")
    search.add_argument("--json", action="store_true", help="print JSON")
    thresholds(search)
    evaluate = sub.add_parser("eval", parents=[common], help="measure top-1/top-5 on a labelled query set")
    evaluate.add_argument("--queries", type=Path, default=None, help="query file (default: the starter queries)")
    thresholds(evaluate)
    evaluate.add_argument("--min-top1", type=float, default=None, help="exit 1 when top-1 is below this")
    evaluate.add_argument("--show-misses", action="store_true", help="list queries whose top hit is wrong")
    evaluate.add_argument("--json", action="store_true", help="print JSON")
    calibrate = sub.add_parser("calibrate", parents=[common],
                               help="pick the answer and choices thresholds from labelled queries; write them to .env")
    calibrate.add_argument("--queries", type=Path, nargs="+", default=None,
                           help="query files (default: the starter and the cross-lingual queries)")
    calibrate.add_argument("--min-precision", type=float, default=0.95,
                           help="share of direct answers that must be right (default: %(default)s)")
    calibrate.add_argument("--min-unanswerable-handoff", type=float, default=0.5,
                           help="share of unanswerable questions that must go to a person (default: %(default)s)")
    calibrate.add_argument("--env-file", type=Path, default=PROJECT_ROOT / ".env",
                           help="where the thresholds are written (default: %(default)s)")
    calibrate.add_argument("--dry-run", action="store_true", help="print the curve and the choice only")
    return parser


def main(argv: list[str] | None = None) -> int:
    pin_environment()  # before numpy, torch, onnxruntime or FAISS load: one math thread per process
    try:
        settings = KBSettings.from_env()
    except SettingsError as exc:  # a malformed setting in the environment or .env
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FIX
    args = _parser(settings).parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from encoders.base import EncoderError
    from kb_index.schema import ContentError
    from kb_index.storage import KBIndexError

    try:
        return _COMMANDS[args.command](args, settings)
    except ContentError as exc:
        print(f"error: {exc}\nFix the content files above, then run the command again.", file=sys.stderr)
        return EXIT_FIX
    except (KBIndexError, EncoderError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FIX
    except KeyboardInterrupt:
        print("interrupted; the previous index is still in service", file=sys.stderr)
        return 130


def _validate(args: argparse.Namespace, settings: KBSettings) -> int:
    from collections import Counter

    from kb_index.schema import content_files, load_content

    entries = load_content(args.content)
    languages = Counter(entry.language for entry in entries)
    texts = sum(len(entry.texts) for entry in entries)
    print(
        f"{args.content}: {len(entries)} entries in {len(content_files(args.content))} files, {texts} questions "
        f"and phrasings; languages: {', '.join(f'{lang} ({n})' for lang, n in sorted(languages.items()))}"
    )
    return 0


def _build(args: argparse.Namespace, settings: KBSettings) -> int:
    from encoders.loading import load_encoder
    from encoders.specs import encoder_name
    from kb_index.build import build_index, up_to_date

    # Up to date: answered without loading the model (seconds).
    live = None if args.force else up_to_date(args.content, args.out, encoder_name(args.model),
                                              embed_answers=args.embed_answers)
    manifest = live or build_index(
        args.content, args.out, load_encoder(args.model), progress=not args.no_progress, force=args.force,
        embed_answers=args.embed_answers, cache_dir=args.cache_dir,
    )
    stats = manifest.stats
    if live is None and not stats.skipped and manifest.calibration:
        c = manifest.calibration
        print(f"thresholds from the content ({c['pseudo_queries']} phrasings as questions about missing entries): "
              f"answer >= {c['answer_threshold']}, choices >= {c['suggest_threshold']}"
              + "".join(f"; {lang}: {pair[0]} / {pair[1]}" for lang, pair in sorted((c.get("per_language") or {}).items()))
              + (f" (not used: the bot answers at {settings.kb_answer_threshold} / {settings.kb_suggest_threshold}, "
                 "KB_ANSWER_THRESHOLD / KB_SUGGEST_THRESHOLD or the encoder profile's measured pair)"
                 if settings.kb_answer_threshold is not None and settings.kb_suggest_threshold is not None
                 else " (used unless KB_ANSWER_THRESHOLD / KB_SUGGEST_THRESHOLD are set)"))
    if live is not None or stats.skipped:
        print(f"index in {args.out} is up to date ({manifest.entry_count} entries, model {manifest.model}); use --force to rebuild")
    else:
        print(
            f"built {manifest.version}: {manifest.entry_count} entries, {manifest.vector_count} vectors "
            f"({manifest.index_type}, {manifest.model}); embedded {stats.embedded}, cached {stats.cache_hits}, "
            f"{stats.seconds:.1f} s"
        )
    return 0


def _load_kb(args: argparse.Namespace, settings: KBSettings) -> Any:
    from encoders.loading import load_encoder
    from kb_index.knowledge_base import KnowledgeBase

    return KnowledgeBase.load(
        args.out, load_encoder(args.model), default_language=settings.default_language,
        answer_threshold=getattr(args, "answer_threshold", settings.kb_answer_threshold),
        suggest_threshold=getattr(args, "suggest_threshold", settings.kb_suggest_threshold),
        margin=getattr(args, "margin", None),
    )


def _search(args: argparse.Namespace, settings: KBSettings) -> int:
    from kb_index.decision import decide_from_hits

    kb = _load_kb(args, settings)
    hits = kb.search(args.query, k=max(args.k, 3), language=args.language)
    answer_at, suggest_at = kb.thresholds(args.language)
    decision = decide_from_hits(args.query, hits, answer_at, suggest_at, margin=kb.margin)
    hits = hits[: args.k]
    if args.json:
        print(json.dumps({"decision": decision.kind, "hits": [hit.to_dict() for hit in hits]}, indent=2, ensure_ascii=False))
        return 0
    print(f"decision: {decision.kind} (answer ≥ {answer_at}, choices ≥ {suggest_at})")
    for rank, hit in enumerate(hits, start=1):
        print(f"{rank}. {hit.score:.3f}  {hit.entry_id} [{hit.language}]  {hit.question}")
        print(f"          matched: {hit.matched}")
    if decision.kind == "answer":
        from core.markdown import to_plain

        print("\n" + to_plain(decision.hits[0].answer))
    return 0


def _eval(args: argparse.Namespace, settings: KBSettings) -> int:
    from kb_index.eval import STARTER_QUERIES, evaluate, load_queries

    kb = _load_kb(args, settings)
    report = evaluate(kb, load_queries(args.queries or STARTER_QUERIES))
    summary = report.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for key, value in summary.items():
            print(f"{key:>26}: {value}")
    if args.show_misses:
        for result in report.answerable:
            top = result.ranked[0] if result.ranked else ("-", 0.0)
            if top[0] != result.query.expected:
                print(f"MISS {result.query.query!r}: expected {result.query.expected} (rank {result.rank}), got {top[0]} {top[1]:.3f}")
        for result in report.unanswerable:
            top = result.ranked[0] if result.ranked else ("-", 0.0)
            print(f"OUT-OF-SCOPE {result.query.query!r}: top {top[0]} {top[1]:.3f} -> {result.decision}")
    if args.min_top1 is not None and report.top(1) < args.min_top1:
        print(f"top-1 {report.top(1):.3f} is below --min-top1 {args.min_top1}", file=sys.stderr)
        return 1
    return 0


def _calibrate(args: argparse.Namespace, settings: KBSettings) -> int:
    from kb_index.calibrate import calibrate, format_curve, write_env
    from kb_index.eval import CROSSLINGUAL_QUERIES, STARTER_QUERIES, load_queries

    kb = _load_kb(args, settings)
    queries = [q for path in (args.queries or [STARTER_QUERIES, CROSSLINGUAL_QUERIES]) for q in load_queries(path)]
    result = calibrate(kb, queries, min_precision=args.min_precision,
                       min_unanswerable_handoff=args.min_unanswerable_handoff)
    print(f"{len(queries)} queries ({len(result.report.unanswerable)} unanswerable), index {kb.manifest.version} "
          f"({kb.manifest.model})\n")
    print(format_curve(result))
    s = result.report.summary()
    print(f"\nchosen: answer >= {result.answer_threshold}, choices >= {result.suggest_threshold}: answered right "
          f"{s['answered_correctly']}, wrong {s['answered_wrongly'] + s['unanswerable_answered']}, choices with the "
          f"right entry {s['choices_with_expected']}, handed off {s['none_for_answerable']} answerable and "
          f"{s['unanswerable_none']} of {s['unanswerable']} unanswerable")
    if not result.met:
        print("warning: the targets cannot both be met with this content and encoder; the closest thresholds are "
              "shown. Add phrasings for the entries missed (`python -m kb_index eval --show-misses`).", file=sys.stderr)
    if args.dry_run:
        return 0 if result.met else 1
    write_env(args.env_file, {"KB_ANSWER_THRESHOLD": str(result.answer_threshold),
                              "KB_SUGGEST_THRESHOLD": str(result.suggest_threshold)})
    print(f"wrote KB_ANSWER_THRESHOLD and KB_SUGGEST_THRESHOLD to {args.env_file}; restart the bot (make run) to use them")
    return 0 if result.met else 1


_COMMANDS = {"validate": _validate, "build": _build, "search": _search, "eval": _eval, "calibrate": _calibrate}
