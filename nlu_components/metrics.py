"""The FallbackClassifier's trade-off on validation predictions: what `calibrate` chooses from and what
`evaluate` reports (one definition of the rule, of a curve point and of the configured fallback settings).

Standard library, numpy and PyYAML only: used in both runtimes (Rasa's Python 3.10 and the hub's 3.11).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import yaml


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
    if not ok:  # even threshold 0 hands off more (ambiguity or a trained out-of-scope intent alone)
        return {**curve[0], "budget_met": False, "warning": budget_warning(curve[0], max_handoff_rate)}
    return {**max(ok, key=lambda p: p["threshold"]), "budget_met": True}


def budget_warning(point: dict[str, float], max_handoff_rate: float) -> str:
    """What to tell the user when no threshold keeps the in-scope handoff within the stated budget."""
    return (f"no threshold keeps the in-scope handoff within {max_handoff_rate:.1%}: even at threshold "
            f"{point['threshold']} {point['in_scope_handoff_rate']:.1%} of in-scope messages are not answered (the "
            "ambiguity threshold, or in-scope messages classified as out of scope). Raise the budget, lower "
            "ambiguity_threshold, or look at which in-scope examples are confused with out-of-scope ones.")


def fallback_settings(config_text: str) -> dict[str, float]:
    for comp in (yaml.safe_load(config_text) or {}).get("pipeline") or []:
        if str(comp.get("name", "")).endswith("FallbackClassifier"):
            return {"threshold": float(comp.get("threshold", 0.3)),
                    "ambiguity_threshold": float(comp.get("ambiguity_threshold", 0.1))}
    raise ValueError("config has no FallbackClassifier in its pipeline")
