"""Hot reload: a running server picks up new builds and survives broken ones."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from core.settings import KBSettings
from encoders import Encoder
from kb_index import KBIndexError, KnowledgeBaseHolder, build_index

NEW_ENTRY = """
- id: gift-cards
  language: en
  question: How do gift cards work?
  phrasings: [can I buy a gift voucher, check my gift card balance]
  answer: Gift cards are valid for 3 years.
"""


def test_holder_loads_lazily_and_reports_a_missing_index(tmp_path: Path, encoder: Encoder) -> None:
    calls = []

    def factory() -> Encoder:
        calls.append(1)
        return encoder

    holder = KnowledgeBaseHolder(tmp_path / "build", factory)
    assert calls == []
    with pytest.raises(KBIndexError, match="make kb"):
        holder.get()
    assert holder.maybe_reload(force_check=True) is False


def test_without_thresholds_it_decides_as_the_bot_does_without_settings(starter_index: Path, encoder: Encoder) -> None:
    # an opt-in profile leaves the thresholds to the content (the shipped one has a measured pair: test_settings)
    bot = KBSettings.from_env(embedding_model="fast")
    kb = KnowledgeBaseHolder(starter_index, lambda: encoder).get()
    assert (bot.kb_answer_threshold, bot.kb_suggest_threshold) == (None, None)
    calibrated = kb.manifest.calibration
    assert (kb.answer_threshold, kb.suggest_threshold) == (calibrated["answer_threshold"], calibrated["suggest_threshold"])
    decided = kb.decide("how long does delivery take?", "en",
                        answer_threshold=bot.kb_answer_threshold, suggest_threshold=bot.kb_suggest_threshold)
    assert decided == kb.decide("how long does delivery take?", "en")


def test_holder_swaps_in_a_new_build(mini_content: Path, tmp_path: Path, encoder: Encoder) -> None:
    out = tmp_path / "build"
    build_index(mini_content, out, encoder, progress=False)
    holder = KnowledgeBaseHolder(out, lambda: encoder, check_interval_s=0)
    old = holder.get()
    assert holder.decide("can I buy a gift voucher").kind != "answer"  # not in the content yet
    assert holder.maybe_reload() is False  # nothing new

    (mini_content / "gifts.yml").write_text(NEW_ENTRY, encoding="utf-8")
    build_index(mini_content, out, encoder, progress=False)

    decision = holder.decide("can I buy a gift voucher")  # checks for the new build itself
    assert decision.kind == "answer" and decision.hits[0].entry_id == "gift-cards"
    assert holder.get() is not old
    assert holder.entry("gift-cards") is not None


def test_holder_keeps_serving_when_the_new_build_is_broken(
    mini_content: Path, tmp_path: Path, encoder: Encoder, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "build"
    build_index(mini_content, out, encoder, progress=False)
    holder = KnowledgeBaseHolder(out, lambda: encoder)
    serving = holder.get()

    build_index(mini_content, out, encoder, progress=False, force=True)
    (out / "current" / "metadata.json").write_text("{ truncated", encoding="utf-8")  # e.g. a bad copy by hand
    with caplog.at_level(logging.ERROR, logger="kb_index.holder"):
        assert holder.maybe_reload(force_check=True) is False
    assert "still serving" in caplog.text
    assert holder.get() is serving
    assert holder.search("where is my parcel", k=1)[0].entry_id == "track-order"
    assert holder.maybe_reload(force_check=True) is False  # the same broken build is not retried on every request

    build_index(mini_content, out, encoder, progress=False, force=True)
    assert holder.maybe_reload(force_check=True) is True
    assert holder.get() is not serving


def test_requests_keep_working_during_reloads(mini_content: Path, tmp_path: Path, encoder: Encoder) -> None:
    out = tmp_path / "build"
    build_index(mini_content, out, encoder, progress=False)
    holder = KnowledgeBaseHolder(out, lambda: encoder, check_interval_s=0)
    holder.get()
    errors: list[BaseException] = []
    answers: list[str] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            try:
                hit = holder.decide("I forgot my password").hit
                answers.append(hit.entry_id if hit else "-")
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

    workers = [threading.Thread(target=client) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        for _ in range(4):
            build_index(mini_content, out, encoder, progress=False, force=True)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
    assert errors == []
    assert answers and set(answers) == {"password-reset"}
