"""The numbers the publish gate compares: the NLU pipeline's accuracy on a snapshot of the project's data.

    python -m bot.studio.evaluation --config C --data D [--heldout H] --folds 5 --cache DIR --out report.json

Cross-validation on the training examples (folds fixed by a hash of each example, `stable_folds`, so two versions
of the data are split alike) and, with held-out examples, training on all the data and testing on them. Both
reproduce the config's featurizer and classifier outside Rasa (`nlu_components.evaluate`: same encoder, same
settings, same code). Each text is embedded once and kept in an embedding cache, so a later run embeds only the
examples that changed.

It runs in its own process (the publisher starts it next to Rasa's training: the two use the two cores).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any


def featurizer_identity(featurizer: dict[str, Any] | None) -> str:
    """A name for the cache: the featurizer's settings and the manifests of the encoders it loads."""
    from encoders import ENCODER_ROOT, as_model_list

    if featurizer is None:
        return "none"
    parts = [json.dumps(featurizer, sort_keys=True, default=str)]
    for model in as_model_list(featurizer.get("model")):
        manifest = ENCODER_ROOT / model / "manifest.json"
        parts.append(manifest.read_text(encoding="utf-8") if manifest.exists() else model)
    return "nlu-" + hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def scores(labels: list[str], probas: Any, classes: list[str]) -> dict[str, Any]:
    """Accuracy, per-intent recall and support of one set of predictions."""
    predicted = [classes[i] for i in probas.argmax(axis=1)] if len(labels) else []
    recall: dict[str, float] = {}
    support: dict[str, int] = {}
    for intent in sorted(set(labels)):
        idx = [i for i, y in enumerate(labels) if y == intent]
        support[intent] = len(idx)
        recall[intent] = round(sum(predicted[i] == intent for i in idx) / len(idx), 4)
    correct = sum(p == y for p, y in zip(predicted, labels))
    return {"messages": len(labels), "accuracy": round(correct / len(labels), 4) if labels else 0.0,
            "recall": recall, "support": support}


def evaluate_snapshot(config: Path, data: Path, heldout: Path | None, *, folds: int, cache_dir: Path) -> dict[str, Any]:
    from encoders.runtime import pin_environment

    pin_environment()
    from kb_index.cache import EmbeddingCache, cache_file
    from nlu_components import evaluate

    started = time.monotonic()
    settings = evaluate.pipeline_settings(config)
    train = evaluate.load_examples([data])
    test = evaluate.load_examples([heldout]) if heldout is not None and heldout.exists() else []
    featurizer = settings["featurizer"]
    vectors = None
    if featurizer is not None:
        identity = featurizer_identity(featurizer)
        texts = [e.text for e in train + test]
        probe = evaluate.embed(texts[:1], featurizer)
        cache = EmbeddingCache(cache_file(cache_dir, identity), identity, int(probe.shape[1]))
        try:
            vectors = cache.embed(texts, lambda batch: evaluate.embed(batch, featurizer), batch_size=4096)
        finally:
            cache.save()
    n = len(train)
    cv = evaluate.cross_validate(train, settings, folds=folds, stable=True,
                                 vectors=None if vectors is None else vectors[:n])
    out: dict[str, Any] = {"examples": n, "intents": len({e.intent for e in train}), "folds": folds,
                           "cross_validation": scores([e.intent for e in train], cv.probas, cv.classes)}
    if test:
        held = evaluate.train_and_test(train, test, settings, vectors=vectors)
        out["heldout"] = scores([e.intent for e in test], held.probas, held.classes)
    out["seconds"] = round(time.monotonic() - started, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.studio.evaluation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--heldout", type=Path, default=None)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        report = evaluate_snapshot(args.config, args.data, args.heldout, folds=args.folds, cache_dir=args.cache)
    except SystemExit as exc:  # the data checks refuse invalid data with a message
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=1), encoding="utf-8")
    tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
