"""The studio's "try a question": the live index's top entries and what the bot would do with them."""

from __future__ import annotations

from pathlib import Path

from core.settings import PROJECT_ROOT, HubSettings
from tests_support import TEST_EMBEDDINGS


def test_try_a_question_decides_at_the_bots_own_thresholds(tmp_path: Path) -> None:
    """With KB_ANSWER_THRESHOLD / KB_SUGGEST_THRESHOLD unset (the default) the bot answers at the thresholds its
    index computed from the content, per language: "try a question" must show and apply those, not fail on the
    unset settings."""
    from bot.studio.knowledge import HubKnowledgeBase
    from encoders import load_encoder
    from kb_index.build import build_index

    # the classic profile's encoders named as a spec: no fixed pair of the profile, the content's thresholds
    settings = HubSettings.from_env(tmp_path / "missing.env", data_dir=tmp_path, kb_index_dir=tmp_path / "kb",
                                    embedding_model="all-MiniLM-L6-v2+use-multilingual-v3")
    assert settings.kb_answer_threshold is None and settings.kb_suggest_threshold is None
    build_index(PROJECT_ROOT / "kb_index" / "content", settings.kb_index_dir, load_encoder(settings.embedding_model),
                progress=False, cache_dir=TEST_EMBEDDINGS)
    knowledge = HubKnowledgeBase(settings)
    result = knowledge.try_question("do gift cards expire?", "en")
    answer_at, suggest_at = knowledge.holder.get().thresholds("en")
    assert result["thresholds"]["answer"] == answer_at and result["thresholds"]["suggest"] == suggest_at
    assert result["decision"] == "answer" and result["hits"][0]["entry_id"] == "gift-cards"
    assert result["hits"][0]["chosen"] and result["hits"][0]["score"] >= answer_at
    assert knowledge.try_question("what is the capital of France?", "en")["decision"] == "none"
