"""The studio's "try a question": the live index's top entries and what the bot would do with them, answered by
the action server (the hub loads no encoder)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT, HubSettings
from tests_support import TEST_EMBEDDINGS, action_server, free_port_dead


def test_try_a_question_decides_at_the_bots_own_thresholds(tmp_path: Path) -> None:
    """With KB_ANSWER_THRESHOLD / KB_SUGGEST_THRESHOLD unset (the default) the bot answers at the thresholds its
    index computed from the content, per language: "try a question" must show and apply those, not fail on the
    unset settings."""
    from bot.studio.knowledge import HubKnowledgeBase
    from encoders import load_encoder
    from kb_index import KnowledgeBase
    from kb_index.build import build_index

    # the classic profile's encoders named as a spec: no fixed pair of the profile, the content's thresholds
    settings = HubSettings.from_env(tmp_path / "missing.env", data_dir=tmp_path, kb_index_dir=tmp_path / "kb",
                                    embedding_model="all-MiniLM-L6-v2+use-multilingual-v3")
    assert settings.kb_answer_threshold is None and settings.kb_suggest_threshold is None
    encoder = load_encoder(settings.embedding_model)
    build_index(PROJECT_ROOT / "kb_index" / "content", settings.kb_index_dir, encoder, progress=False,
                cache_dir=TEST_EMBEDDINGS)
    answer_at, suggest_at = KnowledgeBase.load(settings.kb_index_dir, encoder).thresholds("en")

    async def ask() -> tuple[dict, dict]:
        knowledge = HubKnowledgeBase(action_server(settings))
        try:
            return (await knowledge.try_question("do gift cards expire?", "en"),
                    await knowledge.try_question("what is the capital of France?", "en"))
        finally:
            await knowledge.actions.aclose()

    result, unrelated = asyncio.run(ask())
    assert result["thresholds"]["answer"] == answer_at and result["thresholds"]["suggest"] == suggest_at
    assert result["decision"] == "answer" and result["hits"][0]["entry_id"] == "gift-cards"
    assert result["hits"][0]["chosen"] and result["hits"][0]["score"] >= answer_at
    assert result["index"]["entries"] > 0 and result["index"]["version"]
    assert unrelated["decision"] == "none" and not any(h["chosen"] for h in unrelated["hits"])


def test_try_a_question_says_what_to_do_when_the_action_server_is_down(tmp_path: Path) -> None:
    from bot.clients.actions import ActionServerClient
    from bot.studio.knowledge import HubKnowledgeBase, KnowledgeBaseUnreachable

    async def ask() -> None:
        knowledge = HubKnowledgeBase(ActionServerClient(f"http://127.0.0.1:{free_port_dead()}", timeout_s=2.0))
        try:
            await knowledge.try_question("do gift cards expire?", "en")
        finally:
            await knowledge.actions.aclose()

    with pytest.raises(KnowledgeBaseUnreachable, match="not answering.*make run"):
        asyncio.run(ask())
