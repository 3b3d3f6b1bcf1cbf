"""FAISS specifics: which index type to build, and reading/writing it.

Vectors are L2-normalised, so inner product = cosine similarity and scores are in [-1, 1].
"""

from __future__ import annotations

import logging
from pathlib import Path

import faiss
import numpy as np

from kb_index import threads

log = logging.getLogger(__name__)

# Below this many vectors the exact IndexFlatIP is used, above it HNSW. Measured with one thread on a shared
# 2-core machine, 384 dimensions (python -m benchmarks.bench_kb --faiss): an exact search took 0.6 ms at 10k
# vectors, 1.3 ms at 20k, 3.4 ms at 50k and 13.9 ms at 100k, while embedding the query itself costs about
# 10 ms. HNSW (M=32) answered in about 0.6 ms but took 9–11 s to build 20k vectors and is approximate.
# Exact search therefore stays cheaper overall until its scan approaches the cost of the query embedding,
# i.e. around 50k vectors (several thousand FAQ entries); HNSW only pays off beyond that.
HNSW_THRESHOLD = 50_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128  # recall@10 ≈ 0.99 against exact search on MiniLM vectors

threads.pin_faiss()


def make_index(vectors: np.ndarray, *, hnsw_threshold: int = HNSW_THRESHOLD) -> tuple[faiss.Index, str]:
    """Build an index over `vectors` (n, d) float32; returns it and its type name ("flat" or "hnsw")."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dimension = vectors.shape[1]
    if len(vectors) < hnsw_threshold:
        index: faiss.Index = faiss.IndexFlatIP(dimension)
        kind = "flat"
    else:
        index = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
        kind = "hnsw"
    index.add(vectors)
    return index, kind


def write_index(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))


def read_index(path: Path) -> faiss.Index:
    """Read an index written by `write_index` (raises RuntimeError from FAISS when it is corrupt)."""
    index = faiss.read_index(str(path))
    hnsw = getattr(index, "hnsw", None)
    if hnsw is not None:
        hnsw.efSearch = max(hnsw.efSearch, HNSW_EF_SEARCH)
    return index
