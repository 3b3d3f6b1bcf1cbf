"""Multilingual benchmark (issue 7): intent accuracy per language, cross-lingual knowledge base, encoder latency.

    .venv/bin/python -m benchmarks.bench_multilingual [--save]      # make bench-multilingual

1. **Intents.** The starter domain's NLU data (nlu_data/, English + Italian + Chinese + Romanian) trains the
   shipped classifier (config.yml's LinearIntentClassifier settings, same code as in Rasa) with several sentence
   encoders; each language is tested on its own held-out examples (benchmarks/data/starter_heldout/<lang>.yml,
   never trained on). Two designs: one model for all languages, and one model per language (trained on that
   language's examples only).
2. **Knowledge base.** kb_index/eval/crosslingual_queries.yml (Italian, Chinese, Romanian customer questions)
   against the English-only entries (cross-lingual), and against the full content with translations (the live
   set-up); the English starter queries against each encoder. Thresholds for the multilingual index are chosen
   on half of the queries (even positions) and reported on the other half.
3. **Latency.** One message at a time, one thread: each encoder, and the knowledge base's `decide` per language.

Results: benchmarks/results/multilingual.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from encoders.runtime import pin_environment  # noqa: E402

pin_environment()

RESULTS = ROOT / "benchmarks" / "results"
HELDOUT = ROOT / "benchmarks" / "data" / "starter_heldout"
NLU_DATA = ROOT / "nlu_data"
CONTENT = ROOT / "kb_index" / "content"
CROSS_QUERIES = ROOT / "kb_index" / "eval" / "crosslingual_queries.yml"
LANGS = ("en", "it", "zh", "ro")
ENCODER_SETS = {  # intents: the config's classifier with each encoder set (profiles: encoders/specs.py)
    "accurate (mpnet + E5, opt-in)": ["accurate"],
    "fast (MiniLM + E5, opt-in)": ["fast"],
    "classic (MiniLM + USE, shipped)": ["classic"],
}
KB_MODELS = ("accurate", "fast", "classic")
#: The classifier settings the README's opt-in instructions give a profile (`fast` routes by language, which trains
#: its views whatever the option says).
OPT_IN_CLASSIFIER: dict[str, dict[str, Any]] = {"accurate": {"multilingual_views": True}}
EXCLUDED_INTENTS = {"choose_kb_entry"}  # quick-reply payloads, not typed by customers


def say(message: str) -> None:
    print(f"[bench-multilingual] {message}", file=sys.stderr, flush=True)


def _percentiles(ms: list[float]) -> dict[str, float]:
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "n": len(ms)}


# -- 1. intents --------------------------------------------------------------------------------------


def language_of(path: Path) -> str:
    """nlu_data/nlu_it.yml → it; nlu.yml → en; starter_heldout/zh.yml → zh."""
    from nlu_components.evaluate import language_of_path

    return language_of_path(path)


def bench_intents(sets: list[str] | None = None, per_language: bool = True) -> dict[str, Any]:
    import nlu_components.evaluate as evaluate_module
    from nlu_components.evaluate import load_examples, pipeline_settings, train_and_test

    evaluate_module.embed = _cached_embed  # the same vectors, embedded once per text (benchmarks/cache/)

    train_files = sorted(NLU_DATA.glob("nlu*.yml"))
    train = [e for e in load_examples(train_files) if e.intent not in EXCLUDED_INTENTS]
    test = {lang: [e for e in load_examples([HELDOUT / f"{lang}.yml"]) if e.intent not in EXCLUDED_INTENTS]
            for lang in LANGS if (HELDOUT / f"{lang}.yml").exists()}
    by_lang = {lang: [e for e in train if language_of(Path(e.path)) == lang] for lang in LANGS}
    base = pipeline_settings(ROOT / "config.yml")
    out: dict[str, Any] = {"train_examples": {k: len(v) for k, v in by_lang.items()},
                           "heldout_examples": {k: len(v) for k, v in test.items()}, "designs": {}}

    def accuracy(result: Any, examples: list[Any]) -> float:
        pred = [result.classes[i] for i in result.probas.argmax(axis=1)]
        return round(float(np.mean([p == e.intent for p, e in zip(pred, examples)])), 4)

    for name, models in ENCODER_SETS.items():
        if sets and models[0] not in sets:
            continue
        settings = {**base, "featurizer": {**base["featurizer"], "model": models},
                    "classifier": {**base["classifier"], **OPT_IN_CLASSIFIER.get(models[0], {})}}
        started = time.perf_counter()
        say(f"intents: one model for all languages, {name}")
        everything = [e for lang in LANGS for e in test.get(lang, [])]
        result = train_and_test(train, everything, settings)
        one: dict[str, float] = {}
        start = 0  # train_and_test keeps the order of the test examples: slice them back per language
        for lang in LANGS:
            block = test.get(lang, [])
            if block:
                one[lang] = accuracy(type(result)(result.probas[start:start + len(block)], result.classes), block)
            start += len(block)
        per: dict[str, float] = {}
        for lang in (test if per_language else ()):
            say(f"intents: one model per language, {name}, {lang}")
            per[lang] = accuracy(train_and_test(by_lang[lang], test[lang], settings), test[lang])
        english_only = train_and_test(by_lang["en"], everything, settings)
        transfer: dict[str, float] = {}
        start = 0
        for lang in LANGS:
            block = test.get(lang, [])
            if block:
                transfer[lang] = accuracy(type(english_only)(english_only.probas[start:start + len(block)],
                                                             english_only.classes), block)
            start += len(block)
        say(f"intents: some intents in English only beside translated ones, {name}")
        mixed = {"filled": _some_english_only(train, test, settings, accuracy, fill=True),
                 "not_filled": _some_english_only(train, test, settings, accuracy, fill=False)}
        out["designs"][name] = {"one_model": one, "per_language": per, "english_only_transfer": transfer,
                                "some_intents_english_only": mixed,
                                "seconds": round(time.perf_counter() - started, 1)}
    shipped = next(name for name in ENCODER_SETS if name in out["designs"])
    # issue 17: an intent with English examples only, understood in the other languages (the shipped encoders)
    out["english_only_transfer"] = out["designs"][shipped]["english_only_transfer"]
    return out


#: Every MIXED_SPLITS-th intent (by name) keeps its English examples only, in MIXED_SPLITS rounds: each intent is
#: English-only once, as when a team adds an intent in English beside translated ones.
MIXED_SPLITS = 4


def _some_english_only(train: list[Any], test: dict[str, list[Any]], settings: dict[str, Any], accuracy: Any, *,
                       fill: bool) -> dict[str, dict[str, float]]:
    """Per language, the held-out accuracy on the English-only intents' messages and on the other intents', over
    the rounds (`MIXED_SPLITS`); `fill`: the classifier's ``fill_languages`` (off: the classifier before it)."""
    from nlu_components.evaluate import CVResult, train_and_test

    settings = {**settings, "classifier": {**settings["classifier"], "fill_languages": fill}}
    intents = sorted({e.intent for e in train})
    everything = [e for lang in LANGS for e in test.get(lang, [])]
    right: dict[str, dict[str, list[int]]] = {lang: {"english_only_intents": [0, 0], "translated_intents": [0, 0]}
                                              for lang in LANGS if test.get(lang)}
    for split in range(MIXED_SPLITS):
        english_only = set(intents[split::MIXED_SPLITS])
        kept = [e for e in train if e.intent not in english_only or language_of(Path(e.path)) == "en"]
        result = train_and_test(kept, everything, settings)
        start = 0
        for lang in LANGS:
            block = test.get(lang, [])
            for kind in ("english_only_intents", "translated_intents"):
                rows = [i for i, e in enumerate(block) if (e.intent in english_only) == (kind == "english_only_intents")]
                if rows:
                    acc = accuracy(CVResult(result.probas[[start + i for i in rows]], result.classes),
                                   [block[i] for i in rows])
                    right[lang][kind][0] += round(acc * len(rows))
                    right[lang][kind][1] += len(rows)
            start += len(block)
    return {lang: {kind: round(n / total, 4) for kind, (n, total) in kinds.items() if total}
            for lang, kinds in right.items()}


def _cached_embed(texts: list[str], featurizer: dict[str, Any] | None) -> np.ndarray | None:
    """`nlu_components.evaluate.embed` through the benchmarks' disk cache."""
    from benchmarks.embedding_cache import cached
    from encoders import as_model_list, encode_concat, load_encoder

    if featurizer is None:
        return None
    encoders = [cached(load_encoder(m, backend="onnx")) for m in as_model_list(featurizer.get("model"))]
    return encode_concat(encoders, texts)


# -- 2. knowledge base -------------------------------------------------------------------------------


def _english_only(tmp: Path) -> Path:
    out = tmp / "content-en"
    out.mkdir()
    for path in CONTENT.glob("*.yml"):  # the English entries; translations live in per-language folders
        shutil.copy(path, out / path.name)
    return out


def _partly_translated(tmp: Path, language: str, untranslated: set[str], name: str) -> Path:
    """The English entries plus the `language` versions of every entry but `untranslated` (a team part-way through
    translating its content)."""
    import yaml

    out = tmp / name
    out.mkdir()
    for path in CONTENT.glob("*.yml"):
        shutil.copy(path, out / path.name)
    (out / language).mkdir()
    for path in sorted((CONTENT / language).glob("*.yml")):
        entries = [e for e in yaml.safe_load(path.read_text(encoding="utf-8")) or [] if e["id"] not in untranslated]
        (out / language / path.name).write_text(yaml.safe_dump(entries, allow_unicode=True, sort_keys=False),
                                                encoding="utf-8")
    return out


def bench_kb(tmp: Path, sets: list[str] | None = None) -> dict[str, Any]:
    from encoders import load_encoder
    from kb_index import KnowledgeBase, build_index
    from kb_index.eval import STARTER_QUERIES, evaluate, load_queries

    cross = load_queries(CROSS_QUERIES)
    starter = load_queries(STARTER_QUERIES)
    english = _english_only(tmp)
    out: dict[str, Any] = {"queries": {lang: sum(1 for q in cross if q.language == lang) for lang in LANGS[1:]}}

    def by_language(kb: Any, queries: list[Any], **kw: Any) -> dict[str, Any]:
        rows = {}
        for lang in LANGS[1:]:
            subset = [q for q in queries if q.language == lang]
            s = evaluate(kb, subset, **kw).summary()
            rows[lang] = {k: s[k] for k in ("top1", "top5", "mrr", "answered_correctly", "answered_wrongly",
                                          "choices_with_expected", "none_for_answerable", "unanswerable_none",
                                          "unanswerable_answered")}
        s = evaluate(kb, queries, **kw).summary()
        rows["all"] = {k: s[k] for k in ("top1", "top5", "mrr")}
        return rows

    from benchmarks.embedding_cache import cached

    for model in KB_MODELS:
        if sets and model not in sets:
            continue
        encoder = cached(load_encoder(model))
        say(f"knowledge base: {model}")
        build_index(english, tmp / f"{model}-en", encoder, progress=False)
        build_index(CONTENT, tmp / f"{model}-all", encoder, progress=False)
        en_kb = KnowledgeBase.load(tmp / f"{model}-en", encoder)
        all_kb = KnowledgeBase.load(tmp / f"{model}-all", encoder)
        # Part-way through translating: each language's questions whose entry has no version in it yet, while the
        # other entries have one (a translated entry about something else competes in the customer's language).
        # Two rounds (the answerable questions at even, then odd positions), so every question is asked once.
        partly: dict[str, Any] = {}
        for lang in LANGS[1:]:
            answerable = [q for q in cross if q.language == lang and q.expected]
            right = 0
            for rnd in (0, 1):
                asked = answerable[rnd::2]
                folder = _partly_translated(tmp, lang, {q.expected for q in asked}, f"{model}-{lang}-{rnd}")
                build_index(folder, tmp / f"{model}-{lang}-{rnd}-index", encoder, progress=False)
                kb = KnowledgeBase.load(tmp / f"{model}-{lang}-{rnd}-index", encoder)
                for q in asked:
                    hits = kb.search(q.query, k=1, language=lang)
                    right += bool(hits) and hits[0].entry_id == q.expected
            partly[lang] = {"top1": round(right / len(answerable), 4), "questions": len(answerable)}
        entry: dict[str, Any] = {
            "crosslingual_english_entries": by_language(en_kb, cross),
            "translated_entries": by_language(all_kb, cross),
            "partly_translated": partly,
            "english_starter_queries": {k: evaluate(all_kb, starter).summary()[k] for k in ("top1", "top5", "mrr")},
        }
        out[model] = entry
    return out


# -- 3. latency --------------------------------------------------------------------------------------


def bench_latency(tmp: Path, repeat: int = 3) -> dict[str, Any]:
    from encoders import load_encoder
    from kb_index import KnowledgeBase, build_index
    from kb_index.eval import STARTER_QUERIES, load_queries

    cross = load_queries(CROSS_QUERIES)
    starter = load_queries(STARTER_QUERIES)
    messages = [q.query for q in cross] + [q.query for q in starter]
    out: dict[str, Any] = {"encode_one_message": {}, "decide_one_message": {}}
    for model in KB_MODELS:
        encoder = load_encoder(model)
        encoder.encode(messages[:8])
        ms = []
        for _ in range(repeat):
            for text in messages:
                t = time.perf_counter()
                encoder.encode([text])
                ms.append((time.perf_counter() - t) * 1000)
        out["encode_one_message"][model] = _percentiles(ms)
    say("latency: knowledge base decide() with the shipped encoder")
    from benchmarks.embedding_cache import cached

    encoder = load_encoder(KB_MODELS[0])
    build_index(CONTENT, tmp / "live", cached(encoder), progress=False)  # the index from the cache, queries live
    kb = KnowledgeBase.load(tmp / "live", encoder)
    for lang in LANGS:
        texts = [q.query for q in (starter if lang == "en" else [q for q in cross if q.language == lang])]
        ms = []
        for _ in range(repeat):
            for text in texts:
                t = time.perf_counter()
                kb.decide(text, lang)
                ms.append((time.perf_counter() - t) * 1000)
        out["decide_one_message"][lang] = _percentiles(ms)
    return out


# -- report ------------------------------------------------------------------------------------------


def markdown(result: dict[str, Any]) -> str:
    lines = ["# Multilingual: intents, knowledge base, latency (`make bench-multilingual`)", "",
             f"Command: `.venv/bin/{result.get('command') or 'python -m benchmarks.bench_multilingual --save'}`. "
             f"{result['machine']}. Finished {result.get('finished', '?')}.", ""]
    intents = result.get("intents")
    if intents:
        lines += ["## Intent accuracy on held-out examples per language", "",
                  f"Training examples per language: {intents['train_examples']}; held-out: "
                  f"{intents['heldout_examples']} (`choose_kb_entry` excluded: quick-reply payloads).", "",
                  "| encoder | design | en | it | zh | ro | worst gap to en |", "|---|---|---|---|---|---|---|"]
        for name, d in intents["designs"].items():
            for design, label in (("one_model", "one model, 4 languages"), ("per_language", "one model per language"),
                                  ("english_only_transfer", "trained on English only")):
                acc = d[design]
                if not acc:  # a design left out of this run (--no-per-language)
                    continue
                gap = max((acc["en"] - acc[lang]) for lang in LANGS[1:] if lang in acc) if "en" in acc else None
                cells = " | ".join(f"{acc.get(lang, float('nan')):.3f}" for lang in LANGS)
                lines.append(f"| {name} | {label} | {cells} | {gap * 100:+.1f} pts |" if gap is not None else
                             f"| {name} | {label} | {cells} | |")
        lines += ["", f"Some intents in English only beside translated ones: in {MIXED_SPLITS} rounds, every "
                  f"{MIXED_SPLITS}th intent keeps its English examples only (each intent once); held-out accuracy on "
                  "those intents' messages and on the other intents', with the classifier's `fill_languages` "
                  "(nlu_components/linear_model.py) and without.", "",
                  "| encoder | fill_languages | intents | en | it | zh | ro |", "|---|---|---|---|---|---|---|"]
        for name, d in intents["designs"].items():
            for fill, label in (("not_filled", "off"), ("filled", "on")):
                r = (d.get("some_intents_english_only") or {}).get(fill)
                if not r:
                    continue
                for kind, what in (("english_only_intents", "English-only"), ("translated_intents", "translated")):
                    cells = " | ".join(f"{r[lang][kind]:.3f}" if lang in r and kind in r[lang] else "" for lang in LANGS)
                    lines.append(f"| {name} | {label} | {what} | {cells} |")
        lines.append("")
    kb = result.get("kb")
    if kb:
        lines += ["## Knowledge base across languages", "",
                  f"Queries per language: {kb['queries']} (kb_index/eval/crosslingual_queries.yml), searched against "
                  "the English entries only (cross-lingual: the entry has no version in the customer's language) and "
                  "against the full content with its it/zh/ro versions (the live set-up). English: the starter "
                  "queries (kb_index/eval/starter_queries.yml) on the full content. Default thresholds and margin.", "",
                  "| encoder | entries searched | en top-1 | it top-1 | zh top-1 | ro top-1 | it+zh+ro top-1 | top-5 | MRR |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for model in KB_MODELS:
            if model not in kb:
                continue
            en = kb[model]["english_starter_queries"]["top1"]
            for key, label in (("crosslingual_english_entries", "English only (cross-lingual)"),
                               ("translated_entries", "with translations (live)")):
                r = kb[model][key]
                lines.append(f"| {model} | {label} | {en:.3f} | {r['it']['top1']:.3f} | {r['zh']['top1']:.3f} | "
                             f"{r['ro']['top1']:.3f} | {r['all']['top1']:.3f} | {r['all']['top5']:.3f} | "
                             f"{r['all']['mrr']:.3f} |")
        lines += ["", "Part-way through translating: a question whose entry has no version in its language yet, while "
                  "the other entries have one (two rounds, half of the questions each), top-1:", "",
                  "| encoder | it | zh | ro |", "|---|---|---|---|"]
        for model in KB_MODELS:
            partly = (kb.get(model) or {}).get("partly_translated")
            if partly:
                lines.append(f"| {model} | " + " | ".join(f"{partly[lang]['top1']:.3f}" for lang in LANGS[1:]) + " |")
        lines.append("")
    lat = result.get("latency")
    if lat:
        lines += ["## Latency, one message at a time (one thread)", "", "| what | p50 ms | p95 ms |", "|---|---|---|"]
        for model, p in lat["encode_one_message"].items():
            lines.append(f"| encode, {model} | {p['p50_ms']} | {p['p95_ms']} |")
        for lang, p in lat["decide_one_message"].items():
            lines.append(f"| knowledge-base decide, {lang} question (embedding included) | {p['p50_ms']} | {p['p95_ms']} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("intents", "kb", "latency"), action="append")
    parser.add_argument("--profiles", default="", help="comma-separated: only these encoder profiles (default all)")
    parser.add_argument("--no-per-language", action="store_true", help="intents: skip the one-model-per-language design")
    parser.add_argument("--save", action="store_true", help="write benchmarks/results/multilingual.{json,md}")
    args = parser.parse_args(argv)
    parts = args.only or ["intents", "kb", "latency"]
    import os

    result: dict[str, Any] = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, one math thread, "
                                         f"load average {os.getloadavg()[0]:.1f} at start"}
    with tempfile.TemporaryDirectory() as tmp:
        sets = [p.strip() for p in args.profiles.split(",") if p.strip()] or None
        if "intents" in parts:
            result["intents"] = bench_intents(sets, per_language=not args.no_per_language)
        if "kb" in parts:
            result["kb"] = bench_kb(Path(tmp), sets)
        if "latency" in parts:
            result["latency"] = bench_latency(Path(tmp))
    result["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    result["command"] = "python -m benchmarks.bench_multilingual " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(result)
    print(text)
    if args.save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        name = "multilingual" if {"intents", "kb"} <= set(parts) else "multilingual-" + "-".join(parts)
        from benchmarks.bench_nlu import keep_previous

        keep_previous(RESULTS, name)  # the previous run moves to results/history/, never overwritten
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (RESULTS / f"{name}.md").write_text(text, encoding="utf-8")
        say(f"wrote {RESULTS / name}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
