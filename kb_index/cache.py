"""Embedding cache: vectors keyed by model name + text hash, so a rebuild only embeds changed texts."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def text_key(text: str) -> str:
    """The cache key of a text (sha256 of its UTF-8 bytes)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_file(cache_dir: Path, model: str) -> Path:
    """Cache file for one model: readable slug plus a short hash, so two model names never collide."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model).strip("_")[-60:] or "model"
    digest = hashlib.sha256(model.encode("utf-8")).hexdigest()[:8]
    return cache_dir / f"embeddings-{slug}-{digest}.npz"


class EmbeddingCache:
    """Vectors of one model, loaded from and saved to one ``.npz`` file.

    `hits` and `misses` count lookups since the cache was opened.
    """

    def __init__(self, path: Path, model: str, dimension: int):
        self.path = path
        self.model = model
        self.dimension = dimension
        self.hits = 0
        self.misses = 0
        self._vectors: dict[str, np.ndarray] = {}
        self._dirty = False
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        try:
            with np.load(self.path, allow_pickle=False) as data:
                keys = [str(k) for k in data["keys"]]
                vectors = np.asarray(data["vectors"], dtype=np.float32)
                model = str(data["model"])
        except Exception as exc:  # noqa: BLE001 - a broken cache is only a slower build
            log.warning("ignoring unreadable embedding cache %s: %s", self.path, exc)
            return
        if model != self.model or vectors.ndim != 2 or vectors.shape[1] != self.dimension or len(keys) != len(vectors):
            log.warning("ignoring embedding cache %s: it was made by another model or is inconsistent", self.path)
            return
        self._vectors = dict(zip(keys, vectors))
        log.debug("embedding cache %s: %d vectors", self.path, len(self._vectors))

    def __len__(self) -> int:
        return len(self._vectors)

    def count_missing(self, texts: Sequence[str]) -> int:
        """How many distinct texts of `texts` are not cached yet."""
        return len({text_key(t) for t in texts} - self._vectors.keys())

    def embed(
        self,
        texts: Sequence[str],
        encode: Callable[[list[str]], np.ndarray],
        *,
        batch_size: int = 256,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Vectors for `texts`, encoding only those not cached yet (in batches; `on_batch(n)` after each)."""
        keys = [text_key(t) for t in texts]
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts):
            if key not in self._vectors and key not in missing:
                missing[key] = text
        self.misses += len(missing)
        self.hits += len(texts) - sum(1 for k in keys if k in missing)
        pending = list(missing.items())
        for start in range(0, len(pending), batch_size):
            chunk = pending[start : start + batch_size]
            vectors = np.asarray(encode([text for _, text in chunk]), dtype=np.float32)
            if vectors.shape != (len(chunk), self.dimension) or not np.isfinite(vectors).all():
                raise ValueError(
                    f"the encoder returned {vectors.shape} values (or non-finite ones) for {len(chunk)} texts; "
                    f"expected ({len(chunk)}, {self.dimension})"
                )
            for (key, _), vector in zip(chunk, vectors):
                self._vectors[key] = vector
            self._dirty = True
            if on_batch is not None:
                on_batch(len(chunk))
        if not keys:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self._vectors[k] for k in keys]).astype(np.float32, copy=False)

    def save(self, keep: Sequence[str] | None = None) -> None:
        """Write the cache atomically. With `keep`, drop vectors of texts not in it (so the file stays small)."""
        if keep is not None:
            wanted = {text_key(t) for t in keep}
            if set(self._vectors) - wanted:
                self._vectors = {k: v for k, v in self._vectors.items() if k in wanted}
                self._dirty = True
        if not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        keys = list(self._vectors)
        vectors = np.stack([self._vectors[k] for k in keys]) if keys else np.zeros((0, self.dimension), np.float32)
        try:
            with open(tmp, "wb") as handle:
                np.savez(handle, keys=np.array(keys, dtype="U64"), vectors=vectors, model=np.array(self.model))
            os.replace(tmp, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        self._dirty = False
        log.debug("saved %d vectors to %s", len(keys), self.path)
