"""Several encoders as one: their vectors side by side, each part scaled by 1/sqrt(n) so rows stay unit length.

Cosine similarity of two such vectors is the mean of the parts' cosine similarities. That mean is what an index
stores; at query time `weigh` lets each encoder count for what it is good at in the query's language: with
weights w (summing to 1) for a language, a weighed query row q' gives ``q' · e = Σ w_i cos_i(q, e)`` against the
stored rows, so an English question can lean on the English encoder and a Romanian one on the multilingual
encoder, from the same index (concatenating alone dilutes the cross-lingual signal: benchmarks/README.md).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from encoders.base import Encoder, encode_passages, identity

DEFAULT_LANGUAGE_KEY = "*"


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="encoder-part")
        return _POOL


#: Texts per task when many are encoded at once (training, indexing) by encoders that run `concurrent`ly.
BULK_CHUNK = 256


def _parts(encoders: list[Encoder], texts: list[str], run: Any) -> list[np.ndarray]:
    """`run(encoder, texts)` for every encoder, side by side (each on its own single math thread).

    A few texts (a parsed message): one task per encoder, so a message costs the slowest encoder's time. Many
    texts: every encoder's share cut into chunks of `BULK_CHUNK`, run by as many workers as there are encoders
    (the same cores as one task each), so the core of an encoder that is done helps the slower one instead of
    idling (E5 takes twice MiniLM's time). Only encoders whose runs may overlap (`concurrent`: onnxruntime) are
    cut; chunks encode exactly as the whole list does (vectors never depend on the other texts of a call)."""
    if len(encoders) == 1:
        return [run(encoders[0], texts)]
    if len(texts) <= BULK_CHUNK or not all(getattr(enc, "concurrent", False) for enc in encoders):
        return list(_pool().map(lambda enc: run(enc, texts), encoders))
    tasks = [(enc, start) for enc in encoders for start in range(0, len(texts), BULK_CHUNK)]
    with ThreadPoolExecutor(max_workers=len(encoders), thread_name_prefix="encoder-bulk") as workers:
        chunks = list(workers.map(lambda task: run(task[0], texts[task[1]:task[1] + BULK_CHUNK]), tasks))
    per_encoder = len(chunks) // len(encoders)
    return [np.vstack(chunks[i * per_encoder:(i + 1) * per_encoder]) for i in range(len(encoders))]


def encode_concat(encoders: list[Encoder], texts: list[str], *, passages: bool = False) -> np.ndarray:
    """`texts` encoded by every encoder and concatenated (see the module doc).

    The parts run side by side (`_parts`): a message costs the slowest encoder's time, not the sum (mpnet + E5:
    about 35 instead of 55 ms)."""
    run = (lambda enc, batch: encode_passages(enc, batch)) if passages else (lambda enc, batch: enc.encode(batch))
    parts = _parts(encoders, texts, run)
    vectors = parts[0] if len(parts) == 1 else np.hstack(parts) / np.sqrt(len(parts))
    return np.ascontiguousarray(vectors, dtype=np.float32)


def encode_some(encoders: list[Encoder], texts: list[str], parts: Sequence[int] | None) -> np.ndarray:
    """`encode_concat(encoders, texts)` with only the encoders at `parts` run: the other parts are zeros (the
    same columns and scale, so a model trained on full rows reads these). `parts=None`: every encoder."""
    if parts is None or len(encoders) == 1 or sorted(set(parts)) == list(range(len(encoders))):
        return encode_concat(encoders, texts)
    computed = iter(_parts([encoders[i] for i in sorted(set(parts))], texts, lambda enc, batch: enc.encode(batch)))
    blocks = [next(computed) if i in parts else np.zeros((len(texts), int(enc.dimension)), dtype=np.float32)
              for i, enc in enumerate(encoders)]
    return np.ascontiguousarray(np.hstack(blocks) / np.sqrt(len(encoders)), dtype=np.float32)


def keep_parts(vectors: np.ndarray, dimensions: Sequence[int], parts: Sequence[int] | None) -> np.ndarray:
    """Rows of concatenated vectors with every part but `parts` set to zero (what `encode_some` computes)."""
    if parts is None:
        return vectors
    out = np.array(vectors, dtype=np.float32, copy=True)
    bounds = np.cumsum([0] + [int(d) for d in dimensions])
    for i in range(len(dimensions)):
        if i not in parts:
            out[:, bounds[i]:bounds[i + 1]] = 0.0
    return out


def normalise_weights(weights: Mapping[str, Sequence[float]] | None, n_parts: int) -> dict[str, tuple[float, ...]]:
    """Per-language part weights, each list checked and scaled to sum to 1."""
    out: dict[str, tuple[float, ...]] = {}
    for language, values in (weights or {}).items():
        values = tuple(float(v) for v in values)
        if len(values) != n_parts or any(v < 0 for v in values) or sum(values) <= 0:
            raise ValueError(f"weights for {language!r} must be {n_parts} non-negative numbers, not {values}")
        total = sum(values)
        out[str(language).lower()] = tuple(v / total for v in values)
    return out


class ConcatEncoder:
    """Several encoders as one `Encoder` (see the module doc).

    `weights`: {language code or "*": one weight per part} for `weigh`; languages not listed use "*", and
    without "*" the parts count equally.
    """

    def __init__(self, parts: list[Encoder], weights: Mapping[str, Sequence[float]] | None = None) -> None:
        if len(parts) < 2:
            raise ValueError("ConcatEncoder needs at least two encoders")
        self.parts = parts
        self.name = "+".join(part.name for part in parts)
        self.dimension = sum(int(part.dimension) for part in parts)
        self.weights = normalise_weights(weights, len(parts))
        self._bounds = np.cumsum([0] + [int(p.dimension) for p in parts])

    @property
    def identity(self) -> dict[str, Any]:
        # The weights are a query-time policy, not part of the stored vectors: an index stays valid when they change.
        return {"model": self.name, "dimension": self.dimension, "parts": [identity(p) for p in self.parts]}

    def encode(self, texts: list[str]) -> np.ndarray:
        return encode_concat(self.parts, texts)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return encode_concat(self.parts, texts, passages=True)

    @property
    def part_bounds(self) -> list[int]:
        """Column bounds of the parts in a row: part i is ``row[bounds[i]:bounds[i + 1]]``."""
        return [int(b) for b in self._bounds]

    def part_weights(self, language: str | None) -> tuple[float, ...]:
        """The weight of each part for a query in `language`."""
        key = (language or "").lower()
        equal = tuple(1.0 / len(self.parts) for _ in self.parts)
        return self.weights.get(key) or self.weights.get(DEFAULT_LANGUAGE_KEY) or equal

    def weigh(self, vectors: np.ndarray, language: str | None) -> np.ndarray:
        """Query rows rescaled so that their inner product with stored rows is Σ w_i cos_i (module doc)."""
        weights = self.part_weights(language)
        n = len(self.parts)
        if all(abs(w - 1.0 / n) < 1e-9 for w in weights):
            return vectors
        out = np.array(vectors, dtype=np.float32, copy=True)
        for i, w in enumerate(weights):
            out[:, self._bounds[i]:self._bounds[i + 1]] *= w * n
        return out

    def part_scores(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """(n_parts, len(rows)): each part's cosine between one query row and stored rows."""
        n = len(self.parts)
        return np.stack([rows[:, a:b] @ query[a:b] * n for a, b in zip(self._bounds[:-1], self._bounds[1:])])

    def __repr__(self) -> str:
        return f"ConcatEncoder({self.name!r}, dimension={self.dimension})"


def weigh_queries(encoder: Any, vectors: np.ndarray, language: str | None) -> np.ndarray:
    """`encoder.weigh(vectors, language)` for encoders that weigh their parts by language, else `vectors`."""
    own = getattr(encoder, "weigh", None)
    return own(vectors, language) if callable(own) else vectors
