"""Building: manifest, skip when unchanged, incremental embedding, atomic publication."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import kb_index.build as build_module
import kb_index.scoring as scoring_module
import kb_index.storage as storage
from encoders import Encoder
from kb_index import ContentError, KnowledgeBase, build_index
from tests_support import TEST_EMBEDDINGS
from kb_index.build import answer_paragraphs, index_texts
from kb_index.entry import Entry


def live_version(out: Path) -> str:
    return os.readlink(out / "current")


def test_answer_paragraphs_are_plain_text_split_on_blank_lines() -> None:
    assert answer_paragraphs("Use **bold** here.\n\nSecond\nline.\n\n\n") == ["Use bold here.", "Second line."]
    entry = Entry(id="x", language="en", question="Q?", answer="One.\n\nTwo.", phrasings=("p",))
    assert [kind for _, kind, _ in index_texts([entry])] == ["question", "phrasing"]
    assert index_texts([entry], embed_answers=True)[2:] == [(0, storage.ANSWER_ROW, "One."), (0, storage.ANSWER_ROW, "Two.")]


def test_build_writes_manifest_and_index(mini_content: Path, tmp_path: Path, encoder: Encoder) -> None:
    out = tmp_path / "build"
    manifest = build_index(mini_content, out, encoder, progress=False)
    assert (manifest.model, manifest.dimension, manifest.index_type) == (encoder.name, encoder.dimension, "flat")
    assert (manifest.entry_count, manifest.vector_count) == (5, 15)
    assert manifest.languages == ("en", "it")
    assert manifest.stats.embedded == 15 and manifest.stats.cache_hits == 0 and not manifest.stats.skipped
    on_disk = storage.read_manifest(out / "current")
    assert on_disk.content_hash == manifest.content_hash and on_disk.version == live_version(out)
    assert {p.name for p in (out / "current").iterdir()} == {"manifest.json", "metadata.json", "index.faiss"}


def test_unchanged_content_skips_the_build(mini_content: Path, tmp_path: Path, encoder: Encoder) -> None:
    out = tmp_path / "build"
    first = build_index(mini_content, out, encoder, progress=False)
    again = build_index(mini_content, out, encoder, progress=False)
    assert again.stats.skipped and again.version == first.version == live_version(out)
    assert build_module.up_to_date(mini_content, out, encoder.name) is not None
    assert build_module.up_to_date(mini_content, out, "another-model") is None

    forced = build_index(mini_content, out, encoder, progress=False, force=True)
    assert not forced.stats.skipped and forced.version != first.version
    assert forced.stats.embedded == 0 and forced.stats.cache_hits == 15  # everything came from the cache


def test_editing_one_entry_re_embeds_only_its_changed_texts(
    starter_copy: Path, tmp_path: Path, encoder: Encoder
) -> None:
    out, cache = tmp_path / "build", tmp_path / "cache"
    if TEST_EMBEDDINGS.exists():  # the suite's shared cache: this test is about the second build
        shutil.copytree(TEST_EMBEDDINGS, cache)
    first = build_index(starter_copy, out, encoder, progress=False, cache_dir=cache)
    unique = first.stats.embedded + first.stats.cache_hits  # translations share a few texts ("Apple Pay")
    assert first.vector_count - 5 <= unique <= first.vector_count

    shipping = starter_copy / "shipping.yml"
    text = shipping.read_text(encoding="utf-8")
    edited = text.replace("    - how fast do you ship\n", "    - how quickly do you dispatch orders\n")
    assert edited != text
    shipping.write_text(edited.replace("Your exact estimate is shown", "The exact estimate is shown"), encoding="utf-8")

    second = build_index(starter_copy, out, encoder, progress=False, cache_dir=cache)
    assert not second.stats.skipped
    assert second.content_hash != first.content_hash  # the answer edit alone changes the index content
    assert (second.stats.embedded, second.stats.cache_hits) == (1, second.vector_count - 1)

    kb = KnowledgeBase.load(out, encoder)
    assert "The exact estimate is shown" in kb.entry("shipping-times").answer
    assert kb.search("how quickly do you dispatch orders", k=1)[0].matched == "how quickly do you dispatch orders"


def test_broken_content_leaves_the_previous_index_in_service(
    mini_content: Path, tmp_path: Path, encoder: Encoder
) -> None:
    out = tmp_path / "build"
    build_index(mini_content, out, encoder, progress=False)
    before = live_version(out)
    (mini_content / "broken.yml").write_text("- id: half-written\n  language: en\n  question: [oops\n", encoding="utf-8")

    with pytest.raises(ContentError):
        build_index(mini_content, out, encoder, progress=False, force=True)

    assert live_version(out) == before
    kb = KnowledgeBase.load(out, encoder)
    assert kb.search("where is my package", k=1)[0].entry_id == "track-order"


@pytest.mark.parametrize("failure", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_failure_while_writing_leaves_the_previous_index_and_no_debris(
    mini_content: Path, tmp_path: Path, encoder: Encoder, monkeypatch: pytest.MonkeyPatch, failure: BaseException
) -> None:
    out = tmp_path / "build"
    build_index(mini_content, out, encoder, progress=False)
    before = sorted(p.name for p in out.iterdir())

    def explode(*args: object, **kwargs: object) -> None:
        raise failure

    monkeypatch.setattr(build_module.faiss_index, "write_index", explode)
    with pytest.raises(type(failure)):
        build_index(mini_content, out, encoder, progress=False, force=True)

    assert sorted(p.name for p in out.iterdir()) == before  # no half-written version, no temp directory
    assert KnowledgeBase.load(out, encoder).search("reset my password", k=1)[0].entry_id == "password-reset"


def test_old_versions_are_pruned(mini_content: Path, tmp_path: Path, encoder: Encoder) -> None:
    out = tmp_path / "build"
    for _ in range(5):
        build_index(mini_content, out, encoder, progress=False, force=True)
    versions = [p for p in out.iterdir() if p.name.startswith(storage.VERSION_PREFIX)]
    assert len(versions) == storage.KEEP_OLD_VERSIONS + 1
    assert (out / live_version(out)) in versions


def test_large_indexes_use_hnsw_and_find_the_same_entries(
    starter_copy: Path, tmp_path: Path, encoder: Encoder, starter_kb: KnowledgeBase,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "build"
    manifest = build_index(starter_copy, out, encoder, progress=False, hnsw_threshold=100, cache_dir=TEST_EMBEDDINGS)
    assert manifest.index_type == "hnsw"
    monkeypatch.setattr(scoring_module, "EXHAUSTIVE_SEARCH_LIMIT", 0)  # take the candidate path of big indexes
    kb = KnowledgeBase.load(out, encoder)
    for query in ("I can't remember my password", "my parcel arrived broken", "do you take paypal"):
        assert [h.entry_id for h in kb.search(query, k=3)] == [h.entry_id for h in starter_kb.search(query, k=3)]


def test_a_staged_build_is_not_served_until_activated_and_kept_versions_survive(
        mini_content: Path, tmp_path: Path, encoder: Encoder) -> None:
    out = tmp_path / "index"
    first = build_index(mini_content, out, encoder, progress=False)
    shipping = mini_content / "shipping.yml"
    shipping.write_text(shipping.read_text().replace("2–4 working days", "1–3 working days"))
    staged = build_index(mini_content, out, encoder, progress=False, activate=False)
    assert staged.version != first.version and (out / staged.version / "manifest.json").is_file()
    assert storage.live_manifest(out).version == first.version  # customers still get the first build
    storage.activate(out, staged.version)
    assert storage.live_manifest(out).version == staged.version
    for n in range(4):  # later builds prune old versions, but not the ones a release may roll back to
        shipping.write_text(shipping.read_text().replace("working days", f"working days{'!' * (n + 1)}", 1))
        build_index(mini_content, out, encoder, progress=False, keep={first.version})
    assert (out / first.version).is_dir()
    with pytest.raises(storage.KBIndexError):
        storage.activate(out, "index-nonexistent")
