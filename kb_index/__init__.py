"""FAQ knowledge base: content validation, embedding index, semantic search, decisions and hot reload.

Typical use::

    from kb_index import KnowledgeBaseHolder, load_encoder

    kb = KnowledgeBaseHolder(settings.kb_index_dir, lambda: load_encoder(settings.embedding_model),
                             answer_threshold=settings.kb_answer_threshold,
                             suggest_threshold=settings.kb_suggest_threshold)
    decision = kb.decide("where is my parcel?", language="en")

Build the index with ``python -m kb_index build`` (``make kb``).

Modules: `kb_index.schema` (content files: format and validation), `kb_index.entry` (a loaded entry),
`kb_index.build` (building and publishing an index), `kb_index.storage` (on-disk layout, manifest, atomic swap),
`kb_index.cache` (embedding cache), `kb_index.faiss_index` (FAISS specifics), `kb_index.scoring` (rows to
per-entry scores), `kb_index.decision` (answer / choices / none), `kb_index.knowledge_base` (`KnowledgeBase`:
search, entry, decide), `kb_index.holder` (`KnowledgeBaseHolder`: lazy load, hot reload), `kb_index.eval` and
`kb_index.calibrate` (quality and thresholds), `kb_index.cli` (``python -m kb_index``). Answers are Markdown:
render them per channel with `core.markdown`.

This package re-exports the public names and imports a module only when one of its names is first used (so
``import kb_index.schema`` does not load FAISS); the modules import each other directly, never this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from encoders.runtime import lazy_exports

if TYPE_CHECKING:
    from encoders.base import Encoder, EncoderError
    from encoders.loading import load_encoder
    from kb_index.build import build_index
    from kb_index.decision import Decision, Hit
    from kb_index.entry import Entry, Link
    from kb_index.holder import KnowledgeBaseHolder
    from kb_index.knowledge_base import KnowledgeBase
    from kb_index.schema import ContentError, Problem, load_content
    from kb_index.storage import BuildStats, KBIndexError, Manifest

__getattr__, __all__ = lazy_exports(__name__, {
    "encoders.base": ("Encoder", "EncoderError"),
    "encoders.loading": ("load_encoder",),
    "kb_index.build": ("build_index",),
    "kb_index.decision": ("Decision", "Hit"),
    "kb_index.entry": ("Entry", "Link"),
    "kb_index.holder": ("KnowledgeBaseHolder",),
    "kb_index.knowledge_base": ("KnowledgeBase",),
    "kb_index.schema": ("ContentError", "Problem", "load_content"),
    "kb_index.storage": ("BuildStats", "KBIndexError", "Manifest"),
})
