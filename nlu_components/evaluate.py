"""Evaluate the shipped NLU pipeline on the project's own data, for the people who edit it.

    make test-nlu
    .venv-rasa/bin/python -m nlu_components.evaluate [--data nlu_data] [--heldout tests/actions/data/nlu_heldout.yml]
        [--folds 5] [--json var/nlu-report.json]

1. Checks the data (`nlu_components.validate`): errors stop here, warnings are listed.
2. k-fold cross-validation on `--data` and, if given, training on all of `--data` and testing on `--heldout`.
3. Reports accuracy, macro-F1, the intents recalled worst, and the most confused intent pairs with the
   messages that were confused and where they are (file:line), plus what the configured fallback threshold
   would hand off.

It reproduces the config's SentenceEmbeddingFeaturizer + LinearIntentClassifier outside Rasa (same encoder,
same settings, same code), which is what makes k-fold fast: each message is embedded once.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from nlu_components import PROJECT_ROOT
from nlu_components.metrics import Scores, curve_point, fallback_settings
from nlu_components.validate import Example, plain_text, validate


@dataclass
class CVResult:
    probas: np.ndarray
    classes: list[str]


def load_examples(paths: list[Path]) -> list[Example]:
    report = validate(paths)
    if report.errors:
        raise SystemExit("training data has errors:\n" + "\n".join(map(str, report.errors)))
    return [Example(plain_text(e.text), e.intent, e.path, e.line) for e in report.examples]


def pipeline_settings(config: Path) -> dict[str, dict[str, Any]]:
    """The featurizer and classifier settings of the config's pipeline."""
    data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    out: dict[str, dict[str, Any]] = {"featurizer": {}, "classifier": {}}
    found = set()
    for comp in data.get("pipeline") or []:
        name = str(comp.get("name", ""))
        if name.endswith("SentenceEmbeddingFeaturizer"):
            out["featurizer"] = {k: v for k, v in comp.items() if k != "name"}
            found.add("featurizer")
        elif name.endswith("LinearIntentClassifier"):
            out["classifier"] = {k: v for k, v in comp.items() if k != "name"}
            found.add("classifier")
    if "classifier" not in found:
        raise SystemExit(f"{config} has no nlu_components LinearIntentClassifier: this evaluation reproduces "
                         "that pipeline only (use `rasa test nlu` for other pipelines)")
    if "featurizer" not in found:
        out["featurizer"] = None  # type: ignore[assignment]
    return out


def embed(texts: list[str], featurizer: dict[str, Any] | None) -> np.ndarray | None:
    if featurizer is None:
        return None
    from encoders import as_model_list, encode_concat, load_encoder
    from encoders.onnx import OnnxSentenceEncoder

    directory = featurizer.get("encoder_dir")
    if directory:
        return OnnxSentenceEncoder(PROJECT_ROOT / directory, batch_size=int(featurizer.get("batch_size", 32))).encode(texts)
    encoders = [load_encoder(model, backend="onnx") for model in as_model_list(featurizer.get("model"))]
    return encode_concat(encoders, texts)


LANGUAGES = ("en", "it", "zh", "ro")


def language_of_path(path: str | Path | None) -> str:
    """The language of a data file from its name: nlu_it.yml → it, starter_heldout/zh.yml → zh; else en."""
    stem = Path(path or "").stem
    return next((lang for lang in LANGUAGES if stem == lang or stem.endswith(f"_{lang}")), "en")


def example_language(example: Example) -> str:
    """The language of an example, from its file's name (`language_of_path`)."""
    return language_of_path(example.path)


def _layout(settings: dict[str, dict[str, Any]]) -> list[tuple[int, bool]]:
    from encoders import as_model_list, load_encoder
    from encoders.specs import speaks_many_languages

    featurizer = settings.get("featurizer")
    return [] if not featurizer or featurizer.get("encoder_dir") else [
        (int(load_encoder(m, backend="onnx").dimension), speaks_many_languages(m))
        for m in as_model_list(featurizer.get("model"))]


def _routes(settings: dict[str, dict[str, Any]]) -> bool:
    """Whether the featurizer embeds parsed messages by their language's encoder only (as it does in Rasa)."""
    from encoders.specs import routes_intents

    featurizer = settings.get("featurizer") or {}
    return featurizer.get("route_by_language", True) is not False and routes_intents(featurizer.get("model"))


def routed(vectors: np.ndarray | None, examples: list[Example], settings: dict[str, dict[str, Any]]) -> np.ndarray | None:
    """The rows Rasa's featurizer gives these messages when they are parsed: with a routing profile, each row
    keeps only the parts its language is read with (the others are zeros); else the rows unchanged."""
    if vectors is None or not _routes(settings):
        return vectors
    from encoders.concat import keep_parts
    from encoders.specs import intent_parts

    dims = [d for d, _ in _layout(settings)]
    model = settings["featurizer"].get("model")
    out = np.empty_like(vectors, dtype=np.float32)
    languages = [example_language(e) for e in examples]
    for lang in set(languages):
        rows = [i for i, x in enumerate(languages) if x == lang]
        out[rows] = keep_parts(vectors[rows], dims, intent_parts(model, lang))
    return out


def neutral(vectors: np.ndarray | None, examples: list[Example], settings: dict[str, dict[str, Any]]
            ) -> np.ndarray | None:
    """The rows Rasa's featurizer gives these examples before routing: E5's part moved by each example's language
    mean when its `language_neutral` setting is on (`encoders.language_means`); `vectors` are the encoders' own."""
    from encoders.specs import neutral_intents

    featurizer = settings.get("featurizer") or {}
    if vectors is None or featurizer.get("encoder_dir") or not neutral_intents(featurizer):
        return vectors
    from encoders import as_model_list, load_encoder
    from encoders.language_means import centring_for

    centring = centring_for([load_encoder(m, backend="onnx") for m in as_model_list(featurizer.get("model"))])
    return vectors if centring is None else centring.apply(vectors, [example_language(e) for e in examples])


def _model_config(settings: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The classifier's model settings, as `LinearIntentClassifier` gives them to its model."""
    from nlu_components.linear_model import DEFAULTS, views_config

    classifier = settings["classifier"] or {}
    config = {k: v for k, v in classifier.items() if k in DEFAULTS}
    return {**config, **views_config(classifier.get("multilingual_views"), _layout(settings), routed=_routes(settings))}


def _full_probas(model: Any, probas: np.ndarray, classes: list[str]) -> np.ndarray:
    out = np.zeros((probas.shape[0], len(classes)))
    index = {c: i for i, c in enumerate(classes)}
    for j, c in enumerate(model.classes):
        out[:, index[c]] = probas[:, j]
    return out


def stable_folds(examples: list[Example], folds: int) -> np.ndarray:
    """Each example's fold from a hash of its intent and text: adding or removing one example moves no other one
    to another fold, so two versions of the data are compared on the same splits (the studio's gate)."""
    import hashlib

    return np.array([int(hashlib.sha1(f"{e.intent}\0{e.text}".encode()).hexdigest()[:8], 16) % folds
                     for e in examples], dtype=int)


def cross_validate(examples: list[Example], settings: dict[str, dict[str, Any]], *, folds: int = 5,
                   seed: int = 42, vectors: np.ndarray | None = None, stable: bool = False) -> CVResult:
    from nlu_components.linear_model import LinearTextModel

    texts = [e.text for e in examples]
    labels = np.array([e.intent for e in examples])
    if vectors is None:
        vectors = embed(texts, settings["featurizer"])
    vectors = neutral(vectors, examples, settings)
    classes = sorted(set(labels))
    probas = np.zeros((len(examples), len(classes)))
    rng = np.random.default_rng(seed)
    fold_of = stable_folds(examples, folds) if stable else np.zeros(len(examples), dtype=int)
    for c in classes if not stable else ():  # stratified: each intent's examples spread over the folds
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        fold_of[idx] = (np.arange(len(idx)) + rng.integers(folds)) % folds
    for k in range(folds):
        test, train = np.flatnonzero(fold_of == k), np.flatnonzero(fold_of != k)
        if len(test) == 0:
            continue
        model = LinearTextModel(config=_model_config(settings)).fit(
            None if vectors is None else vectors[train], [texts[i] for i in train], labels[train].tolist(),
            [example_language(examples[i]) for i in train])
        rows = routed(None if vectors is None else vectors[test], [examples[i] for i in test], settings)
        p = model.predict_proba(rows, [texts[i] for i in test], [example_language(examples[i]) for i in test])
        probas[test] = _full_probas(model, p, classes)
    return CVResult(probas, classes)


def train_and_test(train: list[Example], test: list[Example], settings: dict[str, dict[str, Any]], *,
                   vectors: np.ndarray | None = None) -> CVResult:
    """Train on `train`, predict `test`; `vectors` are the embeddings of `train + test` when already known."""
    from nlu_components.linear_model import LinearTextModel

    if vectors is None:
        vectors = embed([e.text for e in train + test], settings["featurizer"])
    vectors = neutral(vectors, train + test, settings)
    n = len(train)
    model = LinearTextModel(config=_model_config(settings)).fit(
        None if vectors is None else vectors[:n], [e.text for e in train], [e.intent for e in train],
        [example_language(e) for e in train])
    p = model.predict_proba(routed(None if vectors is None else vectors[n:], test, settings), [e.text for e in test],
                            [example_language(e) for e in test])
    return CVResult(p, list(model.classes))


def report(title: str, examples: list[Example], result: CVResult, *, fallback: dict[str, float] | None,
           top_pairs: int = 8, per_pair: int = 3) -> dict[str, Any]:
    from sklearn.metrics import f1_score


    labels = [e.intent for e in examples]
    pred_idx = result.probas.argmax(axis=1)
    pred = [result.classes[i] for i in pred_idx]
    conf = result.probas[np.arange(len(pred_idx)), pred_idx]
    acc = float(np.mean([p == y for p, y in zip(pred, labels)]))
    f1 = float(f1_score(labels, pred, average="macro", zero_division=0))
    print(f"\n== {title}: {len(examples)} messages, accuracy {acc:.3f}, macro-F1 {f1:.3f}")
    recall = {}
    for intent in sorted(set(labels)):
        idx = [i for i, y in enumerate(labels) if y == intent]
        recall[intent] = sum(pred[i] == intent for i in idx) / len(idx)
    worst = sorted(recall.items(), key=lambda kv: kv[1])[:5]
    print("   lowest recall: " + ", ".join(f"{k} {v:.2f}" for k, v in worst))
    pairs = Counter((y, p) for y, p in zip(labels, pred) if y != p)
    confused = []
    if pairs:
        print("   most confused (true → predicted: count), with the messages:")
    for (y, p), count in pairs.most_common(top_pairs):
        shown = [i for i in range(len(labels)) if labels[i] == y and pred[i] == p][:per_pair]
        print(f"   - {y} → {p}: {count}")
        for i in shown:
            where = f"{examples[i].path}:{examples[i].line}" if examples[i].line else examples[i].path
            print(f"       {examples[i].text!r} ({conf[i]:.2f})  {where}")
        confused.append({"true": y, "predicted": p, "count": count,
                         "examples": [{"text": examples[i].text, "where": f"{examples[i].path}:{examples[i].line}",
                                       "confidence": round(float(conf[i]), 3)} for i in shown]})
    out: dict[str, Any] = {"messages": len(examples), "accuracy": acc, "macro_f1": f1, "recall": recall,
                           "confused_pairs": confused}
    if fallback is not None:
        scores = Scores.from_probabilities(result.probas, result.classes, labels, {"out_of_scope"})
        point = curve_point(scores, fallback["threshold"], fallback["ambiguity_threshold"])
        print(f"   at the configured fallback (threshold {fallback['threshold']}, ambiguity "
              f"{fallback['ambiguity_threshold']}): {point['in_scope_handoff_rate']:.1%} of in-scope messages go "
              f"unanswered (fallback or out_of_scope); accuracy on the rest {point['accuracy_when_answered']:.1%}")
        out["fallback"] = point
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nlu_components.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=PROJECT_ROOT / "config.yml")
    parser.add_argument("--data", type=Path, nargs="+", default=[PROJECT_ROOT / "nlu_data"])
    parser.add_argument("--heldout", type=Path, default=None)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON here")
    args = parser.parse_args(argv)


    checked = validate(args.data + ([args.heldout] if args.heldout else []))
    for problem in checked.problems:
        print(problem)
    if checked.errors:
        print(f"{len(checked.errors)} errors in the data: fix them first")
        return 1
    settings = pipeline_settings(args.config)
    fallback = fallback_settings(args.config.read_text(encoding="utf-8"))
    examples = load_examples(args.data)
    print(f"{len(examples)} training examples, {len({e.intent for e in examples})} intents; "
          f"{args.folds}-fold cross-validation…", flush=True)
    out = {"cross_validation": report(f"{args.folds}-fold cross-validation on {', '.join(map(str, args.data))}",
                                      examples, cross_validate(examples, settings, folds=args.folds),
                                      fallback=fallback)}
    if args.heldout:
        heldout = load_examples([args.heldout])
        out["heldout"] = report(f"held-out {args.heldout}", heldout, train_and_test(examples, heldout, settings),
                                fallback=fallback)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2), encoding="utf-8")
        print(f"\nreport written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
