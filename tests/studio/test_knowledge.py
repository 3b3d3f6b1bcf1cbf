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


def test_a_started_hub_answers_try_a_question_without_loading_an_encoder(tmp_path: Path) -> None:
    """The hub process holds no sentence encoder (hundreds of MB): a started hub asked to try a question, with its
    action server down, says so and has imported neither the encoders' loader nor onnxruntime nor FAISS."""
    import json
    import subprocess
    import sys

    code = f"""
import json, sys
from starlette.testclient import TestClient
from bot.app import create_app
from core.settings import HubSettings
settings = HubSettings.from_env({str(tmp_path / "none.env")!r}, data_dir={str(tmp_path)!r}, dev_mode=True,
                                admin_api_token="t" * 32, action_port={free_port_dead()}, rasa_retries=0)
with TestClient(create_app(settings)) as client:
    resp = client.post("/api/studio/try", json={{"text": "do gift cards expire?"}},
                       headers={{"Authorization": "Bearer " + "t" * 32}})
print(json.dumps({{"status": resp.status_code, "body": resp.json(),
                  "loaded": sorted(m for m in ("encoders.loading", "onnxruntime", "faiss", "torch") if m in sys.modules)}}))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == 503 and "not answering" in result["body"]["detail"], result
    assert result["loaded"] == []
