"""Pick the FallbackClassifier threshold from validation data and write it into config.yml.

    make calibrate                                   # = the command below with the defaults
    .venv-rasa/bin/python -m nlu_components.calibrate [--max-handoff-rate 0.05] [--config config.yml]
        [--data nlu_data] [--folds 5] [--oos-intent out_of_scope] [--dry-run]

A message is handed off (becomes `nlu_fallback`, which the rules send to the knowledge base and, failing
that, to a person) when its top intent confidence is below `threshold` or the top two are closer than
`ambiguity_threshold` — exactly Rasa's FallbackClassifier rule, simulated here on validation predictions.

Validation predictions come from k-fold cross-validation of the shipped pipeline (the config's
SentenceEmbeddingFeaturizer + LinearIntentClassifier, same settings) on the project's own training data, so
no message is scored by a model that saw it. The target the support team states is the largest share of
in-scope messages that may be handed off (`--max-handoff-rate`, default 5 %): the highest threshold that
keeps the in-scope handoff rate at or below it is chosen (highest = catches the most out-of-scope and
misunderstood messages). Examples of `--oos-intent` (default `out_of_scope`, a trained intent here) count as
out-of-scope: caught when handed off or recognised as that intent; an in-scope message recognised as that
intent is not answered either, so it counts against the handoff budget. The trade-off curve is
printed; the value is written into the `threshold:` line of the FallbackClassifier in place (comments and
layout of config.yml are kept).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nlu_components import PROJECT_ROOT


@dataclass
class Scores:
    """Validation predictions: per message the top-two confidences, the predicted and the true label."""

    top: np.ndarray  # confidence of the top intent
    second: np.ndarray  # confidence of the runner-up (0 when there is none)
    correct: np.ndarray  # bool: top intent == true intent
    oos: np.ndarray  # bool: the true label is out of scope
    predicted_oos: np.ndarray | None = None  # bool: the top intent is itself an out-of-scope intent

    @classmethod
    def from_probabilities(cls, probas: np.ndarray, classes: list[str], labels: list[str],
                           oos_labels: set[str]) -> "Scores":
        order = np.argsort(-probas, axis=1)
        top = probas[np.arange(len(probas)), order[:, 0]]
        second = probas[np.arange(len(probas)), order[:, 1]] if probas.shape[1] > 1 else np.zeros(len(probas))
        predicted = [classes[i] for i in order[:, 0]]
        return cls(top=top, second=second, correct=np.array([p == y for p, y in zip(predicted, labels)]),
                   oos=np.array([y in oos_labels for y in labels]),
                   predicted_oos=np.array([p in oos_labels for p in predicted]))


def handed_off(scores: Scores, threshold: float, ambiguity: float) -> np.ndarray:
    """Rasa FallbackClassifier: fallback when top < threshold, or top - second < ambiguity_threshold."""
    return (scores.top < threshold) | ((scores.top - scores.second) < ambiguity)


def curve_point(scores: Scores, threshold: float, ambiguity: float) -> dict[str, float]:
    """One point of the trade-off. A message is "not answered" when the FallbackClassifier fires or when its
    top intent is a trained out-of-scope intent (`Scores.predicted_oos`): both count as handoff for in-scope
    messages (and against the handoff budget), both count as caught for out-of-scope ones."""
    off = handed_off(scores, threshold, ambiguity)
    if scores.predicted_oos is not None:
        off = off | scores.predicted_oos
    ins = ~scores.oos
    n_in = max(int(ins.sum()), 1)
    kept_in = ins & ~off
    return {
        "threshold": round(float(threshold), 4),
        "in_scope_handoff_rate": float((off & ins).sum() / n_in),
        "in_scope_accuracy": float((kept_in & scores.correct).sum() / n_in),  # handed off counts as wrong
        "accuracy_when_answered": float((kept_in & scores.correct).sum() / max(int(kept_in.sum()), 1)),
        "oos_recall": float((off & scores.oos).sum() / scores.oos.sum()) if scores.oos.any() else float("nan"),
    }


def trade_off(scores: Scores, ambiguity: float, thresholds: np.ndarray | None = None) -> list[dict[str, float]]:
    if thresholds is None:
        thresholds = np.round(np.arange(0.0, 1.0001, 0.01), 2)
    return [curve_point(scores, float(t), ambiguity) for t in thresholds]


def choose_threshold(scores: Scores, *, ambiguity: float, max_handoff_rate: float | None = None,
                     objective: str = "handoff") -> dict[str, float]:
    """The threshold for the stated target.

    objective "handoff": the highest threshold with in-scope handoff rate ≤ `max_handoff_rate`.
    objective "balanced": the threshold maximising in-scope accuracy + out-of-scope recall (needs OOS data;
    the rule of Larson et al. 2019 for CLINC150); ties go to the lower threshold.
    """
    curve = trade_off(scores, ambiguity)
    if objective == "balanced":
        if not scores.oos.any():
            raise ValueError("the balanced objective needs out-of-scope validation examples")
        return max(curve, key=lambda p: (round(p["in_scope_accuracy"] + p["oos_recall"], 9), -p["threshold"]))
    if max_handoff_rate is None:
        raise ValueError("state the target: max_handoff_rate")
    ok = [p for p in curve if p["in_scope_handoff_rate"] <= max_handoff_rate + 1e-12]
    if not ok:  # even threshold 0 hands off more (ambiguity alone): take the lowest threshold
        return curve[0]
    return max(ok, key=lambda p: p["threshold"])


def format_curve(curve: list[dict[str, float]], chosen: float | None = None, step: float = 0.05) -> str:
    lines = ["threshold  in-scope handoff  in-scope acc  acc when answered  OOS recall"]
    for p in curve:
        t = p["threshold"]
        if abs(t / step - round(t / step)) > 1e-6 and (chosen is None or abs(t - chosen) > 1e-9):
            continue
        mark = "  ← chosen" if chosen is not None and abs(t - chosen) < 1e-9 else ""
        oos = "" if np.isnan(p["oos_recall"]) else f"{p['oos_recall']:.3f}"
        lines.append(f"{t:9.2f}  {p['in_scope_handoff_rate']:16.3f}  {p['in_scope_accuracy']:12.3f}  "
                     f"{p['accuracy_when_answered']:17.3f}  {oos:>10}{mark}")
    return "\n".join(lines)


# -- config.yml editing (text, not a YAML re-dump: comments and layout stay) ------------------------------

_ITEM = re.compile(r"^(\s*)-\s+name:\s*['\"]?([\w.]+)['\"]?\s*(#.*)?$")


def fallback_settings(config_text: str) -> dict[str, float]:
    import yaml

    for comp in (yaml.safe_load(config_text) or {}).get("pipeline") or []:
        if str(comp.get("name", "")).endswith("FallbackClassifier"):
            return {"threshold": float(comp.get("threshold", 0.3)),
                    "ambiguity_threshold": float(comp.get("ambiguity_threshold", 0.1))}
    raise ValueError("config has no FallbackClassifier in its pipeline")


def set_fallback_threshold(config_text: str, value: float, note: str = "") -> str:
    """`config_text` with the FallbackClassifier's `threshold:` set to `value`; everything else unchanged."""
    lines = config_text.splitlines(keepends=True)
    start = indent = None
    for i, line in enumerate(lines):
        m = _ITEM.match(line.rstrip("\n"))
        if m and m.group(2).endswith("FallbackClassifier"):
            start, indent = i, len(m.group(1))
            break
    if start is None:
        raise ValueError("config has no `- name: FallbackClassifier` item in its pipeline")
    end = len(lines)
    for j in range(start + 1, len(lines)):
        stripped = lines[j].strip()
        if not stripped or stripped.startswith("#"):
            continue
        lead = len(lines[j]) - len(lines[j].lstrip())
        if lead <= indent:  # next item (`- name:` at the same indent) or a new top-level key
            end = j
            break
    value_text = f"{value:g}"
    comment = f"  # {note}" if note else ""
    for j in range(start + 1, end):
        m = re.match(r"^(\s*)threshold:\s*[^#\n]*?(\s*#.*)?$", lines[j].rstrip("\n"))
        if m:
            eol = "\n" if lines[j].endswith("\n") else ""
            keep = comment or (m.group(2) or "")
            lines[j] = f"{m.group(1)}threshold: {value_text}{keep}{eol}"
            return "".join(lines)
    # no threshold line yet: add one right after `- name: FallbackClassifier`
    lines.insert(start + 1, f"{' ' * (indent + 2)}threshold: {value_text}{comment}\n")
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nlu_components.calibrate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=PROJECT_ROOT / "config.yml")
    parser.add_argument("--data", type=Path, nargs="+", default=[PROJECT_ROOT / "nlu_data"])
    parser.add_argument("--max-handoff-rate", type=float, default=0.05,
                        help="largest share of in-scope messages that may be handed off (default 0.05)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--oos-intent", action="append", default=None,
                        help="intent(s) that mean out of scope (default: out_of_scope)")
    parser.add_argument("--dry-run", action="store_true", help="print the curve and the choice; leave config.yml")
    args = parser.parse_args(argv)

    from nlu_components.evaluate import cross_validate, load_examples, pipeline_settings

    config_text = args.config.read_text(encoding="utf-8")
    fallback = fallback_settings(config_text)
    examples = load_examples(args.data)
    oos = set(args.oos_intent or ["out_of_scope"])
    print(f"[calibrate] {args.folds}-fold cross-validation of the pipeline in {args.config.name} on "
          f"{len(examples)} examples…", flush=True)
    result = cross_validate(examples, pipeline_settings(args.config), folds=args.folds)
    scores = Scores.from_probabilities(result.probas, result.classes, [e.intent for e in examples], oos)
    chosen = choose_threshold(scores, ambiguity=fallback["ambiguity_threshold"],
                              max_handoff_rate=args.max_handoff_rate)
    curve = trade_off(scores, fallback["ambiguity_threshold"])
    print(f"[calibrate] trade-off (ambiguity_threshold {fallback['ambiguity_threshold']}; "
          f"{int((~scores.oos).sum())} in-scope, {int(scores.oos.sum())} out-of-scope examples):")
    print(format_curve(curve, chosen["threshold"]))
    print(f"[calibrate] target: at most {args.max_handoff_rate:.1%} of in-scope messages handed off → threshold "
          f"{chosen['threshold']:g} (in-scope handoff {chosen['in_scope_handoff_rate']:.1%}, accuracy when answered "
          f"{chosen['accuracy_when_answered']:.1%}"
          + ("" if np.isnan(chosen["oos_recall"]) else f", out-of-scope caught {chosen['oos_recall']:.1%}") + ")")
    if args.dry_run:
        return 0
    note = f"calibrated: <= {args.max_handoff_rate:g} in-scope handoff ({args.folds}-fold CV; make calibrate)"
    new_text = set_fallback_threshold(config_text, chosen["threshold"], note)
    if new_text != config_text:
        args.config.write_text(new_text, encoding="utf-8")
        print(f"[calibrate] wrote threshold {chosen['threshold']:g} into {args.config}")
    else:
        print(f"[calibrate] {args.config} already has threshold {chosen['threshold']:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
