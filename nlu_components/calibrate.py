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
from pathlib import Path

import numpy as np

from nlu_components import PROJECT_ROOT
from nlu_components.evaluate import cross_validate, load_examples, pipeline_settings
from nlu_components.metrics import Scores, choose_threshold, fallback_settings, trade_off


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
    if not chosen.get("budget_met", True):
        print(f"[calibrate] warning: {chosen['warning']}", file=sys.stderr)
        print(f"[calibrate] config.yml left unchanged: the stated target cannot be met", file=sys.stderr)
        return 1
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
