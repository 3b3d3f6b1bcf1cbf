"""Embeddings cached on disk for the benchmarks (`benchmarks/cache/`, git-ignored), one store per encoder and role.

Embedding BANKING77 or CLINC150 with mpnet takes minutes on one thread; every benchmark run after the first reads
the vectors back. A store is keyed by the encoder's identity (model, version, hashes), so a re-exported or
upgraded encoder starts a new store, and by role (queries, or passages for encoders that tell them apart).

    encoder = cached(load_encoder("all-mpnet-base-v2+multilingual-e5-small"))   # parts cached one by one
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from encoders.base import encode_passages, identity

CACHE_ROOT = Path(__file__).resolve().parent / "cache" / "embeddings"
BATCH = 256
FLUSH_EVERY_S = 60


def say(message: str) -> None:
    print(f"[embedding-cache] {message}", file=sys.stderr, flush=True)


class _Store:
    """text → vector for one encoder identity and role, loaded whole, appended to, saved on `flush`."""

    def __init__(self, directory: Path, dimension: int) -> None:
        self.directory = directory
        self.dimension = dimension
        self.index: dict[str, int] = {}
        self.vectors = np.zeros((0, dimension), dtype=np.float32)
        self._pending: list[tuple[str, np.ndarray]] = []
        texts_file, vectors_file = directory / "texts.json", directory / "vectors.npy"
        if texts_file.exists() and vectors_file.exists():
            texts = json.loads(texts_file.read_text(encoding="utf-8"))
            vectors = np.load(vectors_file)
            if len(texts) == len(vectors) and vectors.shape[1:] == (dimension,):
                self.index = {t: i for i, t in enumerate(texts)}
                self.vectors = vectors

    def get(self, texts: list[str]) -> list[np.ndarray | None]:
        pending = dict(self._pending)
        return [self.vectors[self.index[t]] if t in self.index else pending.get(t) for t in texts]

    def add(self, texts: list[str], vectors: np.ndarray) -> None:
        self._pending.extend(zip(texts, vectors))

    def flush(self) -> None:
        if not self._pending:
            return
        fresh = dict(self._pending)
        fresh = {t: v for t, v in fresh.items() if t not in self.index}
        texts = [None] * len(self.index)
        for t, i in self.index.items():
            texts[i] = t
        start = len(texts)
        texts.extend(fresh)
        self.vectors = np.vstack([self.vectors, np.stack(list(fresh.values()))]) if fresh else self.vectors
        self.index.update({t: start + i for i, t in enumerate(fresh)})
        self._pending = []
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp_vectors = self.directory / "vectors.tmp.npy"
        np.save(tmp_vectors, self.vectors)
        (self.directory / "texts.tmp.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        tmp_vectors.replace(self.directory / "vectors.npy")
        (self.directory / "texts.tmp.json").replace(self.directory / "texts.json")


class CachedEncoder:
    """An `Encoder` answering from the disk cache and embedding (in batches, with progress) what it lacks."""

    def __init__(self, encoder: Any, root: Path = CACHE_ROOT) -> None:
        self.inner = encoder
        self.name = encoder.name
        self.dimension = int(encoder.dimension)
        ident = identity(encoder)
        self.identity = ident
        key = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:12]
        folder = root / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', self.name)}-{key}"
        self._stores = {"query": _Store(folder / "query", self.dimension),
                        "passage": _Store(folder / "passage", self.dimension)}
        self._lock = threading.Lock()
        self._flushed = time.monotonic()

    def _encode(self, texts: list[str], role: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        store = self._stores[role]
        with self._lock:
            found = store.get(texts)
            missing = list(dict.fromkeys(t for t, v in zip(texts, found) if v is None))
            if missing:
                started, done = time.monotonic(), 0
                for i in range(0, len(missing), BATCH):
                    chunk = missing[i:i + BATCH]
                    vectors = encode_passages(self.inner, chunk) if role == "passage" else self.inner.encode(chunk)
                    store.add(chunk, vectors)
                    done += len(chunk)
                    if len(missing) > BATCH:
                        rate = done / max(time.monotonic() - started, 1e-9)
                        what = "queries" if role == "query" else "passages"
                        say(f"{self.name} ({what}): {done}/{len(missing)} embedded, "
                            f"{(len(missing) - done) / rate:.0f} s left")
                if len(missing) > BATCH or time.monotonic() - self._flushed > FLUSH_EVERY_S:
                    store.flush()  # an interrupted run keeps what it embedded
                    self._flushed = time.monotonic()
                found = store.get(texts)
        return np.ascontiguousarray(np.stack(found), dtype=np.float32)

    def encode(self, texts: list[str]) -> np.ndarray:
        return self._encode(list(texts), "query")

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(list(texts), "passage")

    def flush(self) -> None:
        with self._lock:
            for store in self._stores.values():
                store.flush()


def cached(encoder: Any, root: Path = CACHE_ROOT) -> Any:
    """`encoder` with its vectors cached on disk; a `ConcatEncoder` is rebuilt over cached parts (same weights)."""
    parts = getattr(encoder, "parts", None)
    if parts:
        from encoders.concat import ConcatEncoder

        return ConcatEncoder([CachedEncoder(p, root) for p in parts], weights=encoder.weights)
    return CachedEncoder(encoder, root)


def flush_all(encoder: Any) -> None:
    """Save every cached part's new vectors."""
    for part in getattr(encoder, "parts", None) or [encoder]:
        if isinstance(part, CachedEncoder):
            part.flush()
