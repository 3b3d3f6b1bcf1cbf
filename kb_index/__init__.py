"""FAQ knowledge base: content validation, embedding index, semantic search and channel rendering.

Typical use::

    from kb_index import KnowledgeBaseHolder, load_encoder

    kb = KnowledgeBaseHolder(settings.kb_index_dir, lambda: load_encoder(settings.embedding_model),
                             answer_threshold=settings.kb_answer_threshold,
                             suggest_threshold=settings.kb_suggest_threshold)
    decision = kb.decide("where is my parcel?", language="en")

Build the index with ``python -m kb_index build`` (``make kb``).
"""

from kb_index.build import build_index
from encoders import Encoder, EncoderError, load_encoder
from core.markdown import to_html, to_plain, to_telegram_html
from kb_index.schema import ContentError, Entry, Link, Problem, load_content
from kb_index.search import Decision, Hit, KnowledgeBase, KnowledgeBaseHolder
from kb_index.storage import BuildStats, KBIndexError, Manifest

__all__ = [
    "BuildStats",
    "ContentError",
    "Decision",
    "Encoder",
    "EncoderError",
    "Entry",
    "Hit",
    "KBIndexError",
    "KnowledgeBase",
    "KnowledgeBaseHolder",
    "Link",
    "Manifest",
    "Problem",
    "build_index",
    "load_content",
    "load_encoder",
    "to_html",
    "to_plain",
    "to_telegram_html",
]
