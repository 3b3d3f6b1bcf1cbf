"""Threshold calibration: the rule on a synthetic curve, and the in-place edit of config.yml."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from core.settings import PROJECT_ROOT
from nlu_components.calibrate import set_fallback_threshold
from nlu_components.metrics import Scores, choose_threshold, curve_point, fallback_settings


def synthetic() -> Scores:
    # 100 in-scope messages with top confidences 0.005, 0.015, ..., 0.995 (all correct), second 0;
    # 20 out-of-scope messages with top confidences 0.02 ... 0.40.
    top_in = (np.arange(100) + 0.5) / 100
    top_oos = np.linspace(0.02, 0.40, 20)
    top = np.concatenate([top_in, top_oos])
    return Scores(top=top, second=np.zeros_like(top), correct=np.r_[np.ones(100, bool), np.zeros(20, bool)],
                  oos=np.r_[np.zeros(100, bool), np.ones(20, bool)])


def test_handoff_target_picks_the_highest_threshold_within_the_rate() -> None:
    scores = synthetic()
    chosen = choose_threshold(scores, ambiguity=0.0, max_handoff_rate=0.05)
    # thresholds 0.01 .. 0.05 hand off 1..5 in-scope messages (≤ 5 %); 0.06 hands off 6.
    assert chosen["threshold"] == pytest.approx(0.05)
    assert chosen["in_scope_handoff_rate"] == pytest.approx(0.05)
    assert choose_threshold(scores, ambiguity=0.0, max_handoff_rate=0.20)["threshold"] == pytest.approx(0.20)
    assert choose_threshold(scores, ambiguity=0.0, max_handoff_rate=0.0)["threshold"] == pytest.approx(0.0)


def test_ambiguity_counts_as_handoff_like_rasas_fallback_classifier() -> None:
    s = Scores(top=np.array([0.9, 0.5, 0.45]), second=np.array([0.05, 0.45, 0.1]),
               correct=np.array([True, True, True]), oos=np.array([False, False, False]))
    point = curve_point(s, threshold=0.4, ambiguity=0.1)
    assert point["in_scope_handoff_rate"] == pytest.approx(1 / 3)  # 0.5 vs 0.45: too close
    assert point["in_scope_accuracy"] == pytest.approx(2 / 3)


def test_balanced_objective_maximises_in_scope_accuracy_plus_oos_recall() -> None:
    chosen = choose_threshold(synthetic(), ambiguity=0.0, objective="balanced")
    # Raising the threshold to 0.40 catches every OOS message (+1.0) and costs 40 in-scope (-0.40) → 0.41 (first
    # threshold above 0.40) is best: acc 0.59 + recall 1.0 = 1.59 vs. e.g. 0.2: 0.8 + 0.47.
    assert chosen["threshold"] == pytest.approx(0.41)
    assert chosen["oos_recall"] == 1.0


CONFIG = """# top comment
pipeline:
- name: WhitespaceTokenizer
# the fallback: keep this comment
- name: FallbackClassifier
  threshold: 0.4  # old note
  ambiguity_threshold: 0.1

policies:
- name: RulePolicy
  core_fallback_threshold: 0.3
"""


def test_threshold_line_is_edited_in_place() -> None:
    new = set_fallback_threshold(CONFIG, 0.37, "calibrated")
    assert new.splitlines()[5] == "  threshold: 0.37  # calibrated"
    changed = [(a, b) for a, b in zip(CONFIG.splitlines(), new.splitlines()) if a != b]
    assert len(changed) == 1 and len(new.splitlines()) == len(CONFIG.splitlines())
    assert fallback_settings(new) == {"threshold": 0.37, "ambiguity_threshold": 0.1}
    assert yaml.safe_load(new)["policies"][0]["core_fallback_threshold"] == 0.3
    # no note: the old comment stays
    assert set_fallback_threshold(CONFIG, 0.5).splitlines()[5] == "  threshold: 0.5  # old note"


def test_missing_threshold_line_is_added_and_missing_component_is_an_error() -> None:
    text = "pipeline:\n- name: FallbackClassifier\n  ambiguity_threshold: 0.1\n- name: Other\n"
    new = set_fallback_threshold(text, 0.25)
    assert yaml.safe_load(new)["pipeline"][0] == {"name": "FallbackClassifier", "threshold": 0.25,
                                                  "ambiguity_threshold": 0.1}
    with pytest.raises(ValueError, match="FallbackClassifier"):
        set_fallback_threshold("pipeline:\n- name: Other\n", 0.3)


def test_shipped_config_has_an_editable_fallback_threshold() -> None:
    text = (PROJECT_ROOT / "config.yml").read_text(encoding="utf-8")
    current = fallback_settings(text)["threshold"]
    assert fallback_settings(set_fallback_threshold(text, 0.123))["threshold"] == 0.123
    assert set_fallback_threshold(text, current) .count("\n") == text.count("\n")


def test_a_trained_out_of_scope_intent_counts_as_handoff_and_as_caught() -> None:
    # 4 in-scope (one of them predicted as the out-of-scope intent), 2 out-of-scope (one recognised as it).
    s = Scores(top=np.array([0.9, 0.8, 0.7, 0.9, 0.9, 0.9]), second=np.zeros(6),
               correct=np.array([True, True, True, False, False, False]),
               oos=np.array([False, False, False, False, True, True]),
               predicted_oos=np.array([False, False, False, True, True, False]))
    point = curve_point(s, threshold=0.5, ambiguity=0.0)
    assert point["in_scope_handoff_rate"] == pytest.approx(1 / 4)  # not answered as an in-scope intent
    assert point["in_scope_accuracy"] == pytest.approx(3 / 4)
    assert point["accuracy_when_answered"] == pytest.approx(1.0)
    assert point["oos_recall"] == pytest.approx(1 / 2)
    # the budget counts it: at most 25 % handed off allows threshold 0.75 (the 0.7 message), not 0.81
    assert choose_threshold(s, ambiguity=0.0, max_handoff_rate=0.25)["threshold"] == pytest.approx(0.70)
    assert choose_threshold(s, ambiguity=0.0, max_handoff_rate=0.5)["threshold"] == pytest.approx(0.80)


def test_a_budget_no_threshold_can_meet_is_a_warning_not_a_silent_zero() -> None:
    # a third of the in-scope messages are classified as the out-of-scope intent: no threshold helps
    s = Scores(top=np.array([0.9, 0.8, 0.95]), second=np.zeros(3), correct=np.array([True, True, False]),
               oos=np.zeros(3, bool), predicted_oos=np.array([False, False, True]))
    chosen = choose_threshold(s, ambiguity=0.0, max_handoff_rate=0.05)
    assert chosen["budget_met"] is False and chosen["threshold"] == 0.0
    assert "no threshold keeps the in-scope handoff within 5.0%" in chosen["warning"]
    assert "33.3%" in chosen["warning"]
    assert choose_threshold(synthetic(), ambiguity=0.0, max_handoff_rate=0.05)["budget_met"] is True
