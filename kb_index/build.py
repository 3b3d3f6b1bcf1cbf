"""Build the searchable index from the content directory.

`build_index` validates the content, embeds every customer-side text (the canonical question and the
phrasings of each entry), and publishes a new index version atomically (see `kb_index.storage`). Vectors
come from an embedding cache when the same text was embedded by the same model before, so editing one
entry re-embeds only that entry's changed texts. When neither the content nor the model changed, the
build is skipped.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

import kb_index.faiss_index as faiss_index
import kb_index.storage as storage
from core.markdown import to_plain
from encoders.base import Encoder, encode_passages
from encoders.language_means import centre, centring_key
from encoders.language_means import centring as language_centring
from kb_index.cache import EmbeddingCache, cache_file
from kb_index.entry import Entry, content_hash
from kb_index.schema import load_content
from kb_index.storage import ANSWER_ROW, PHRASING_ROW, QUESTION_ROW, BuildStats, Manifest

log = logging.getLogger(__name__)

PROGRESS_MIN_TEXTS = 256  # show a progress bar only when at least this many texts must be embedded

# Whether `build_index` embeds answer paragraphs too (scored with kb_index.scoring.ANSWER_WEIGHT). Off by
# default: on StackFAQ (entries with a question and no phrasings) it raised top-1 from 0.945 to 0.958, but on
# the starter FAQ (entries with 5-7 phrasings each) it lowered top-1 from 0.958 to 0.930 and answered fewer
# queries confidently (benchmarks/results/kb-quality.md). Turn it on (`build --embed-answers`) for content
# whose entries have few phrasings.
EMBED_ANSWERS = False


def answer_paragraphs(answer: str) -> list[str]:
    """The answer as plain-text paragraphs (split on blank lines), the units embedded with `embed_answers`."""
    return [" ".join(part.split()) for part in to_plain(answer).split("\n\n") if part.strip()]


def index_texts(entries: list[Entry], *, embed_answers: bool = False) -> list[tuple[int, str, str]]:
    """The rows of the index, grouped by entry: (entry position, kind, text), kind "question", "phrasing"
    or, with `embed_answers`, "answer" (one row per answer paragraph, after the entry's customer-side rows).

    By default only customer-side texts are embedded (see `EMBED_ANSWERS` for the measurement).
    Earlier, answer text as a row inside the centroid/max scoring was measured on the starter FAQ
    (kb_index/eval/starter_queries.yml): as an extra vector per entry it moved top-1 from 0.80 to 0.83
    with max-phrasing scoring, and blended into the entry centroid it changed nothing (0.958 either way)
    while making builds slower and answers subject to the model's 256-token truncation.
    """
    rows: list[tuple[int, str, str]] = []
    for position, entry in enumerate(entries):
        rows.append((position, QUESTION_ROW, entry.question))
        rows.extend((position, PHRASING_ROW, text) for text in entry.phrasings)
        if embed_answers:
            rows.extend((position, ANSWER_ROW, text) for text in answer_paragraphs(entry.answer))
    return rows


def build_index(
    content_dir: str | Path,
    out_dir: str | Path,
    encoder: Encoder,
    *,
    progress: bool = True,
    force: bool = False,
    hnsw_threshold: int = faiss_index.HNSW_THRESHOLD,
    embed_answers: bool | None = None,
    activate: bool = True,
    keep: frozenset[str] | set[str] = frozenset(),
    cache_dir: str | Path | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Manifest:
    """Build the index of `content_dir` into `out_dir` and make it the live version.

    `cache_dir`: where the embedding cache lives (default: inside `out_dir`); several indexes of the same texts
    can share one (the test suite does).
    `on_progress(done, total)`: called with the number of texts embedded so far out of those the cache lacks,
    once before the first batch and after each one (`progress` is the terminal's bar, this is for a caller that
    reports elsewhere, e.g. `kb_index.build_job`).

    Returns the manifest of the live index; its `stats` say whether the build was skipped (content, model
    unchanged, and not `force`) and how many texts were embedded or taken from the cache.
    Raises `ContentError` for invalid content. On any error or interruption the previous live index is
    left untouched. With `activate=False` the new version is built beside the live one but not served
    (`kb_index.storage.activate(out_dir, manifest.version)` serves it later); versions in `keep` are never
    removed as stale.
    """
    started = time.monotonic()
    embed_answers = EMBED_ANSWERS if embed_answers is None else embed_answers
    content_dir, out_dir = Path(content_dir), Path(out_dir)
    entries = load_content(content_dir)
    digest = content_hash(entries)

    if not force:
        live = storage.live_manifest(out_dir)
        if _is_current(live, digest, encoder.name, encoder.dimension) and live is not None and live.answers == embed_answers:
            assert live is not None
            log.info("index is up to date (%d entries, model %s); nothing to build", live.entry_count, live.model)
            return replace(live, stats=BuildStats(skipped=True, texts=live.vector_count, seconds=time.monotonic() - started))

    with storage.build_lock(out_dir):
        rows = index_texts(entries, embed_answers=embed_answers)
        texts = cache_keys(rows)
        cache_root = Path(cache_dir) if cache_dir is not None else out_dir / storage.CACHE_DIR
        cache = EmbeddingCache(cache_file(cache_root, encoder.name), encoder.name, encoder.dimension)
        try:
            vectors = _embed(cache, texts, encoder, progress=progress, on_progress=on_progress)
        finally:
            # keep what was embedded even if the build fails later; a shared cache keeps other indexes' texts too
            cache.save(keep=None if cache_dir is not None else texts)
        # The cache keeps the encoder's own vectors; the index holds them centred by their entry's language.
        centring_ = language_centring(encoder)
        vectors = centre(centring_, vectors, [entries[position].language for position, _, _ in rows])

        index, index_type = faiss_index.make_index(vectors, hnsw_threshold=hnsw_threshold)
        built_at = datetime.now(timezone.utc)
        version = f"{storage.VERSION_PREFIX}{built_at.strftime('%Y%m%dT%H%M%S%fZ')}-{digest[:8]}"
        stats = BuildStats(texts=len(texts), embedded=cache.misses, cache_hits=cache.hits, seconds=time.monotonic() - started)
        manifest = Manifest(
            model=encoder.name,
            dimension=encoder.dimension,
            content_hash=digest,
            entry_count=len(entries),
            vector_count=int(index.ntotal),
            index_type=index_type,
            built_at=built_at.isoformat(timespec="seconds"),
            build_seconds=round(stats.seconds, 3),
            languages=tuple(sorted({e.language for e in entries})),
            answers=embed_answers,
            version=version,
            centring=centring_.key if centring_ is not None else "",
            stats=stats,
        )
        manifest = replace(manifest, calibration=_self_calibration(index, entries, rows, manifest, encoder, centring_))
        temp = storage.new_temp_dir(out_dir)
        try:
            faiss_index.write_index(index, temp / storage.INDEX_FILE)
            metadata = {
                "entries": [entry.to_dict() for entry in entries],
                "rows": [[position, kind, text] for position, kind, text in rows],
            }
            (temp / storage.METADATA_FILE).write_text(json.dumps(metadata, ensure_ascii=False), encoding="utf-8")
            (temp / storage.MANIFEST_FILE).write_text(manifest.to_json(), encoding="utf-8")
            if activate:
                storage.publish(out_dir, temp, version)
            else:
                storage.stage(out_dir, temp, version)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
        storage.remove_stale(out_dir, version, keep)

    log.info(
        "built %s: %d entries, %d vectors (%s), %d embedded, %d from cache, %.1f s",
        version, len(entries), index.ntotal, index_type, stats.embedded, stats.cache_hits, stats.seconds,
    )
    return manifest


def _self_calibration(index: Any, entries: list[Entry], rows: list[tuple[int, str, str]], manifest: Manifest,
                      encoder: Encoder, centring_: Any) -> dict[str, Any] | None:
    """The thresholds this content calls for (kb_index.self_calibration), computed on the new index."""
    from kb_index.knowledge_base import KnowledgeBase
    from kb_index.self_calibration import calibrate_from_content

    calibration = calibrate_from_content(KnowledgeBase(index, entries, rows, manifest, encoder, centring=centring_))
    return None if calibration is None else calibration.to_dict()


def up_to_date(
    content_dir: str | Path, out_dir: str | Path, model_name: str, *, embed_answers: bool | None = None
) -> Manifest | None:
    """The live manifest when the index in `out_dir` was built from exactly this content with `model_name`.

    Cheap (reads the content and one JSON file, no model): lets a caller skip loading the encoder.
    Raises `ContentError` when the content is invalid.
    """
    live = storage.live_manifest(Path(out_dir))
    digest = content_hash(load_content(content_dir))
    wanted = EMBED_ANSWERS if embed_answers is None else embed_answers
    return live if _is_current(live, digest, model_name, None) and live is not None and live.answers == wanted else None


def _is_current(live: Manifest | None, digest: str, model_name: str, dimension: int | None) -> bool:
    return (
        live is not None
        and live.format_version == storage.FORMAT_VERSION
        and live.content_hash == digest
        and live.model == model_name
        and (dimension is None or live.dimension == dimension)
        and live.centring == centring_key(model_name)
    )


# Answer paragraphs are embedded as passages (E5 tells them from queries), under their own cache keys.
PASSAGE_KEY = "\x00passage\x00"


def cache_keys(rows: list[tuple[int, str, str]]) -> list[str]:
    """What each row's vector is cached under: its text, or PASSAGE_KEY + text for an answer paragraph."""
    return [PASSAGE_KEY + text if kind == ANSWER_ROW else text for _, kind, text in rows]


def _encode_keys(encoder: Encoder, keys: list[str]) -> np.ndarray:
    """Vectors for cache keys: queries through `encode`, passages through `encode_passages`."""
    passages = [i for i, key in enumerate(keys) if key.startswith(PASSAGE_KEY)]
    if not passages:
        return encoder.encode(keys)
    out = np.zeros((len(keys), encoder.dimension), dtype=np.float32)
    queries = [i for i, key in enumerate(keys) if not key.startswith(PASSAGE_KEY)]
    if queries:
        out[queries] = encoder.encode([keys[i] for i in queries])
    out[passages] = encode_passages(encoder, [keys[i][len(PASSAGE_KEY):] for i in passages])
    return out


def _embed(cache: EmbeddingCache, texts: list[str], encoder: Encoder, *, progress: bool,
           on_progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    todo = cache.count_missing(texts)
    encode = lambda keys: _encode_keys(encoder, keys)  # noqa: E731
    if not progress or todo < PROGRESS_MIN_TEXTS:
        return _embed_counting(cache, texts, encode, todo, on_progress)
    from tqdm import tqdm

    with tqdm(total=todo, desc="Embedding", unit="text") as bar:
        return _embed_counting(cache, texts, encode, todo, on_progress, on_batch=bar.update)


def _embed_counting(cache: EmbeddingCache, texts: list[str], encode: Callable[[list[str]], np.ndarray], todo: int,
                    on_progress: Callable[[int, int], None] | None,
                    on_batch: Callable[[int], None] | None = None) -> np.ndarray:
    """`cache.embed`, telling `on_progress(done, todo)` before the first batch and after each (and `on_batch(n)`)."""
    done = 0

    def batch(count: int) -> None:
        nonlocal done
        done += count
        if on_batch is not None:
            on_batch(count)
        if on_progress is not None:
            on_progress(done, todo)

    if on_progress is not None:
        on_progress(0, todo)
    return cache.embed(texts, encode, batch_size=64, on_batch=batch)
