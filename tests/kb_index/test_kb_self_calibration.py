"""Thresholds from the content itself (kb_index.self_calibration): each entry's phrasings asked while the entry is
left out say how high a question about a missing entry scores here; the index stores them; the bot uses them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from kb_index import KnowledgeBase, build_index
from kb_index.self_calibration import calibrate_from_content, left_out_scores
from kb_index.storage import live_manifest
from tests.kb_index.conftest import STARTER_CONTENT
from tests_support import TEST_EMBEDDINGS


def test_the_index_stores_the_thresholds_its_content_calls_for(starter_index: Path, starter_kb: KnowledgeBase) -> None:
    stored = live_manifest(starter_index).calibration
    assert stored and stored["pseudo_queries"] >= 500  # every question and phrasing, in four languages
    assert -1.0 < stored["suggest_threshold"] <= stored["answer_threshold"] < 1.0
    # nine in ten questions about a missing entry score below the answer threshold, half below the choices one
    scores = left_out_scores(starter_kb)
    assert abs(float((scores < stored["answer_threshold"]).mean()) - 0.90) < 0.01
    assert abs(float((scores < stored["suggest_threshold"]).mean()) - 0.50) < 0.01
    # no threshold given: the knowledge base decides with the content's own
    assert (starter_kb.answer_threshold, starter_kb.suggest_threshold) == (
        stored["answer_threshold"], stored["suggest_threshold"])


def test_each_language_is_decided_with_its_own_thresholds(starter_index: Path, starter_kb: KnowledgeBase) -> None:
    """The multilingual part's cosines sit much higher than the English part's: one pooled pair, dominated by the
    three other languages' phrasings, would leave even an English entry's own question without a direct answer."""
    stored = live_manifest(starter_index).calibration
    per_language = stored["per_language"]
    assert set(per_language) == {"en", "it", "zh", "ro"}
    assert per_language["en"][0] < min(per_language[lang][0] for lang in ("it", "zh", "ro"))
    assert starter_kb.thresholds("en") == tuple(per_language["en"])
    assert starter_kb.thresholds("it") == tuple(per_language["it"])
    for question in ("How long does delivery take?", "do you ship to canada", "I forgot my password"):
        decision = starter_kb.decide(question, "en")
        assert decision.kind == "answer", (question, decision.best_score, per_language["en"])
    assert starter_kb.decide("quanto tempo ci vuole per la consegna?", "it").hits[0].entry_id == "shipping-times"
    assert starter_kb.decide("what's the meaning of life", "en").kind == "none"
    # thresholds set by the team (KB_ANSWER_THRESHOLD …) win over the content's in every language
    given = KnowledgeBase.load(starter_index, starter_kb.encoder, answer_threshold=0.5, suggest_threshold=0.4)
    assert given.thresholds("en") == given.thresholds("zh") == (0.5, 0.4)


def test_a_question_about_a_removed_entry_is_not_answered_with_another(tmp_path: Path, encoder: Any) -> None:
    """The leave-entries-out test in small: remove the gift-card entries, ask about gift cards."""
    content = tmp_path / "content"
    shutil.copytree(STARTER_CONTENT, content)
    removed = 0
    for path in content.rglob("*.yml"):
        entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        kept = [e for e in entries if e.get("id") != "gift-cards"]
        removed += len(entries) - len(kept)
        path.write_text(yaml.safe_dump(kept, allow_unicode=True, sort_keys=False), encoding="utf-8")
    assert removed == 4  # en, it, zh, ro
    build_index(content, tmp_path / "index", encoder, progress=False, cache_dir=TEST_EMBEDDINGS)
    kb = KnowledgeBase.load(tmp_path / "index", encoder)
    for question, language in (("do your gift cards expire?", "en"), ("i buoni regalo hanno una scadenza?", "it")):
        assert kb.decide(question, language).kind != "answer", question
    full = KnowledgeBase.load(tmp_path / "index", encoder)
    assert full.decide("How long does delivery take?", "en").kind == "answer"


def test_too_little_content_keeps_the_fixed_defaults(tmp_path: Path, mini_content: Path, encoder: Any) -> None:
    from kb_index.decision import DEFAULT_ANSWER_THRESHOLD, DEFAULT_SUGGEST_THRESHOLD

    build_index(mini_content, tmp_path / "mini", encoder, progress=False, cache_dir=TEST_EMBEDDINGS)
    kb = KnowledgeBase.load(tmp_path / "mini", encoder)
    assert calibrate_from_content(kb) is None and kb.calibration is None
    assert (kb.answer_threshold, kb.suggest_threshold) == (DEFAULT_ANSWER_THRESHOLD, DEFAULT_SUGGEST_THRESHOLD)
    assert KnowledgeBase.load(tmp_path / "mini", encoder, answer_threshold=0.9).answer_threshold == 0.9
