"""Which encoders, weighted how, per language: the measurement the shipped profile is chosen by (issue 17).

    .venv/bin/python -m benchmarks.bench_encoders [--save] [--only kb|intents] [--models mpnet,e5,...]

Every candidate encoder embeds each text once (`benchmarks/embedding_cache.py`, kept in `benchmarks/cache/`), so
every combination and weighting below is scored on the same vectors:

1. **Knowledge base** (the product's own `build_index` + `KnowledgeBase`): StackFAQ top-1 (English; the question
   only: `bench_kb` measures the shipped profile with answer paragraphs too), the English starter queries on the full
   starter FAQ, and the Italian, Chinese and Romanian questions of `kb_index/eval/crosslingual_queries.yml` against
   the English entries only. Combinations weigh their parts by the query's language (`encoders.concat.weigh`):
   ``en`` and ``*`` (every other language) get their own weights, from a grid.
2. **Intents** (the shipped classifier, `nlu_components.linear_model`): trained on English `nlu_data/` only and
   tested on the held-out sets in it/zh/ro (`benchmarks/data/starter_heldout/`): does an intent written in English
   only reach customers in the other languages? And trained on all four languages, tested on all four.
   Designs: the embeddings concatenated as today, and `multilingual views` (`nlu_components.linear_model`
   ``multilingual_views``: every example is also trained on with only its multilingual parts, so the classifier
   cannot lean on English-only features alone).

Results: `benchmarks/results/encoders.{json,md}`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from encoders.runtime import pin_environment  # noqa: E402

pin_environment()

import numpy as np  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
LANGS = ("en", "it", "zh", "ro")
ALIASES = {"minilm": "all-MiniLM-L6-v2", "mpnet": "all-mpnet-base-v2", "use": "use-multilingual-v3",
           "e5": "multilingual-e5-small"}
MULTILINGUAL = {"use-multilingual-v3", "multilingual-e5-small"}
WEIGHT_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)


def say(message: str) -> None:
    print(f"[bench-encoders {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _encoders(names: list[str]) -> dict[str, Any]:
    from benchmarks.embedding_cache import cached
    from encoders import load_encoder

    return {name: cached(load_encoder(ALIASES.get(name, name))) for name in names}


def _combos(names: list[str]) -> list[tuple[str, ...]]:
    out = [(n,) for n in names]
    for a, b in itertools.combinations(names, 2):
        out.append((a, b))
    return out


def _weight_options(parts: tuple[str, ...]) -> list[dict[str, tuple[float, ...]]]:
    """Per-language weights for a pair: (en weight of the first part, other languages' weight of the first)."""
    if len(parts) == 1:
        return [{}]
    return [{"en": (a, 1 - a), "*": (b, 1 - b)} for a in WEIGHT_GRID for b in WEIGHT_GRID]


# -- 1. knowledge base -------------------------------------------------------------------------------


def bench_kb(encoders: dict[str, Any], tmp: Path) -> dict[str, Any]:
    import yaml

    from benchmarks.bench_kb import _metrics, _ranks, load_stackfaq
    from benchmarks.bench_multilingual import CONTENT, CROSS_QUERIES, _english_only
    from encoders.concat import ConcatEncoder
    from kb_index import KnowledgeBase, build_index
    from kb_index.eval import STARTER_QUERIES, evaluate, load_queries

    entries, queries = load_stackfaq()
    stack_content = tmp / "stackfaq"
    stack_content.mkdir()
    (stack_content / "stackfaq.yml").write_text(yaml.safe_dump(entries, allow_unicode=True, sort_keys=False),
                                                encoding="utf-8")
    texts, expected = [q for q, _ in queries], [e for _, e in queries]
    cross, starter = load_queries(CROSS_QUERIES), load_queries(STARTER_QUERIES)
    english = _english_only(tmp)
    for enc in encoders.values():  # embed every query once, in batches
        enc.encode(texts + [q.query for q in cross + starter])
    out: dict[str, Any] = {}
    for parts in _combos(list(encoders)):
        label = "+".join(parts)
        base = encoders[parts[0]] if len(parts) == 1 else ConcatEncoder([encoders[p] for p in parts])
        say(f"knowledge base: {label}")
        # Question only: answer paragraphs are long (mpnet and E5 spend 0.5 s of CPU on one); the shipped profile
        # is measured with them by bench_kb (stackfaq.dense_with_answers).
        build_index(stack_content, tmp / f"{label}-stack", base, progress=False, embed_answers=False)
        build_index(english, tmp / f"{label}-en", base, progress=False)
        build_index(CONTENT, tmp / f"{label}-all", base, progress=False)
        rows = []
        for weights in _weight_options(parts):
            enc = base if not weights else ConcatEncoder(base.parts, weights)
            stack = KnowledgeBase.load(tmp / f"{label}-stack", enc)
            ranks = _ranks([{h.entry_id: h.score for h in stack.search(q, k=len(entries), language="en")}
                            for q in texts], expected)
            en_kb = KnowledgeBase.load(tmp / f"{label}-en", enc)
            all_kb = KnowledgeBase.load(tmp / f"{label}-all", enc)
            row: dict[str, Any] = {"weights": {k: list(v) for k, v in weights.items()},
                                   "stackfaq_top1": _metrics(ranks)["top1"],
                                   "starter_en_top1": evaluate(all_kb, starter).summary()["top1"]}
            for lang in LANGS[1:]:
                subset = [q for q in cross if q.language == lang]
                row[f"cross_{lang}_top1"] = evaluate(en_kb, subset).summary()["top1"]
                row[f"translated_{lang}_top1"] = evaluate(all_kb, subset).summary()["top1"]
            row["cross_min"] = min(row[f"cross_{lang}_top1"] for lang in LANGS[1:])
            rows.append(row)
        out[label] = rows
    return out


# -- 2. intents --------------------------------------------------------------------------------------


def bench_intents(encoders: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.bench_multilingual import EXCLUDED_INTENTS, HELDOUT, NLU_DATA, language_of
    from nlu_components.evaluate import load_examples, pipeline_settings
    from nlu_components.linear_model import LinearTextModel

    train = [e for e in load_examples(sorted(NLU_DATA.glob("nlu*.yml"))) if e.intent not in EXCLUDED_INTENTS]
    test = {lang: [e for e in load_examples([HELDOUT / f"{lang}.yml"]) if e.intent not in EXCLUDED_INTENTS]
            for lang in LANGS}
    english = [e for e in train if language_of(Path(e.path)) == "en"]
    classifier = {k: v for k, v in pipeline_settings(ROOT / "config.yml")["classifier"].items()
                  if k not in ("ranking_length",)}
    vectors: dict[str, dict[str, np.ndarray]] = {}
    every = list(dict.fromkeys([e.text for e in train] + [e.text for lang in LANGS for e in test[lang]]))
    for name, enc in encoders.items():
        matrix = enc.encode(every)
        vectors[name] = dict(zip(every, matrix))

    def dense(parts: tuple[str, ...], texts: list[str]) -> np.ndarray:
        return np.hstack([np.stack([vectors[p][t] for t in texts]) for p in parts]) / np.sqrt(len(parts))

    def run(parts: tuple[str, ...], train_set: list[Any], views: bool) -> dict[str, float]:
        cfg = dict(classifier)
        if views:
            cfg["multilingual_views"] = [i for i, p in enumerate(parts) if ALIASES.get(p, p) in MULTILINGUAL]
            cfg["part_dimensions"] = [int(encoders[p].dimension) for p in parts]
        model = LinearTextModel(config=cfg).fit(dense(parts, [e.text for e in train_set]),
                                                [e.text for e in train_set], [e.intent for e in train_set])
        result = {}
        for lang in LANGS:
            texts = [e.text for e in test[lang]]
            probas = model.predict_proba(dense(parts, texts), texts)
            predicted = [model.classes[i] for i in probas.argmax(axis=1)]
            result[lang] = round(float(np.mean([p == e.intent for p, e in zip(predicted, test[lang])])), 4)
        result["fit_s"] = round(model.fit_seconds, 1)
        return result

    out: dict[str, Any] = {"train_examples": len(train), "english_examples": len(english),
                           "heldout": {lang: len(v) for lang, v in test.items()}, "designs": {}}
    for parts in _combos(list(encoders)):
        label = "+".join(parts)
        has_multi = any(ALIASES.get(p, p) in MULTILINGUAL for p in parts)
        for views in ((False, True) if has_multi and len(parts) > 1 else (False,)):
            key = label + (" (multilingual views)" if views else "")
            say(f"intents: {key}")
            out["designs"][key] = {"english_only": run(parts, english, views), "all_languages": run(parts, train, views)}
    return out


# -- report ------------------------------------------------------------------------------------------


def markdown(result: dict[str, Any]) -> str:
    lines = ["# Encoders compared (`python -m benchmarks.bench_encoders --save`)", "", result["machine"], ""]
    kb = result.get("kb")
    if kb:
        lines += ["## Knowledge base: best weighting per combination", "",
                  "Weights: (first part, second part) for English queries / for every other language. Chosen "
                  "here by the worst cross-lingual top-1, then StackFAQ.", "",
                  "| encoders | weights en / other | StackFAQ top-1 | starter en | it → en | zh → en | ro → en | "
                  "it / zh / ro with translations |", "|---|---|---|---|---|---|---|---|"]
        for label, rows in kb.items():
            best = max(rows, key=lambda r: (round(r["cross_min"], 3), r["stackfaq_top1"]))
            w = best["weights"]
            weights = f"{w['en']} / {w['*']}" if w else "—"
            lines.append(f"| {label} | {weights} | {best['stackfaq_top1']:.3f} | {best['starter_en_top1']:.3f} | "
                         f"{best['cross_it_top1']:.3f} | {best['cross_zh_top1']:.3f} | {best['cross_ro_top1']:.3f} | "
                         f"{best['translated_it_top1']:.3f} / {best['translated_zh_top1']:.3f} / "
                         f"{best['translated_ro_top1']:.3f} |")
        lines.append("")
    intents = result.get("intents")
    if intents:
        lines += ["## Intents: trained on English only / on all four languages, held-out accuracy", "",
                  f"{intents['english_examples']} English training examples of {intents['train_examples']}; "
                  f"held-out {intents['heldout']}.", "",
                  "| encoders (design) | English only: en | it | zh | ro | all languages: en | it | zh | ro |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for key, d in intents["designs"].items():
            e, a = d["english_only"], d["all_languages"]
            lines.append(f"| {key} | " + " | ".join(f"{e[l]:.3f}" for l in LANGS) + " | "
                         + " | ".join(f"{a[l]:.3f}" for l in LANGS) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="minilm,mpnet,use,e5", help="comma-separated (aliases: "
                        + ", ".join(f"{k}={v}" for k, v in ALIASES.items()) + ")")
    parser.add_argument("--only", choices=("kb", "intents"), action="append")
    parser.add_argument("--save", action="store_true", help="write benchmarks/results/encoders.{json,md}")
    args = parser.parse_args(argv)
    parts = args.only or ["kb", "intents"]
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    result: dict[str, Any] = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, one math thread, load "
                                         f"average {os.getloadavg()[0]:.1f} at start", "models": names}
    encoders = _encoders(names)
    from benchmarks.embedding_cache import flush_all

    tmp = Path(tempfile.mkdtemp(prefix="bench-encoders-"))
    try:
        if "intents" in parts:
            result["intents"] = bench_intents(encoders)
        if "kb" in parts:
            result["kb"] = bench_kb(encoders, tmp)
    finally:
        for enc in encoders.values():
            flush_all(enc)
        shutil.rmtree(tmp, ignore_errors=True)
    result["machine"] += f", {os.getloadavg()[0]:.1f} at the end"
    text = markdown(result)
    print(text)
    if args.save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        suffix = "" if len(parts) == 2 and names == ["minilm", "mpnet", "use", "e5"] else \
            "-" + "-".join(parts + names)
        (RESULTS / f"encoders{suffix}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        (RESULTS / f"encoders{suffix}.md").write_text(text, encoding="utf-8")
        say(f"wrote {RESULTS / ('encoders' + suffix)}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
