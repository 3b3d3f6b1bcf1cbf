"""FAISS specifics: which index type to build, reading/writing it, and the vectors it holds.

Vectors are L2-normalised, so inner product = cosine similarity and scores are in [-1, 1]. FAISS's OpenMP pool
is pinned to `encoders.runtime.thread_count()` threads when this module first makes, reads or opens an index.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import faiss
import numpy as np

from encoders.runtime import thread_count

log = logging.getLogger(__name__)

# Below this many vectors the exact IndexFlatIP is used, above it HNSW. Measured with one thread on a shared
# 2-core machine, 384 dimensions (python -m benchmarks.bench_kb --faiss): an exact search took 0.6 ms at 10k
# vectors, 1.3 ms at 20k, 3.4 ms at 50k and 13.9 ms at 100k, while embedding the query itself costs about
# 10 ms. HNSW (M=32) answered in about 0.6 ms but took 9–11 s to build 20k vectors and is approximate.
# Exact search therefore stays cheaper overall until its scan approaches the cost of the query embedding,
# i.e. around 50k vectors (several thousand FAQ entries); HNSW only pays off beyond that.
# Re-measured with `make bench-kb-scale` (python -m benchmarks.bench_kb --scale, results/kb-scale.md; machine
# heavily shared, load average ~5): at 100k vectors exact search took p50 16-48 ms, HNSW (M=32, efConstruction
# 80) p50 1.7 ms / p95 6.4 ms but 4.5-6 min to build (quiet machine: p95 1.7 ms, 90 s, recall@1 0.97); at 1M,
# IVF-Flat (1024 lists, nprobe 16, trained on 50k) p95 3-12 ms but recall@1 only 0.61-0.62 on uniformly random
# vectors (its worst case), and a cheaper HNSW (M=16, efConstruction 40) p95 2 ms but recall@1 0.13-0.14. HNSW
# with these parameters stays the type above the threshold; 1M entries are not yet shown to work well.
HNSW_THRESHOLD = 50_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128  # recall@10 ≈ 0.99 against exact search on MiniLM vectors


@functools.cache
def pin_threads() -> None:
    """Limit FAISS's OpenMP pool (once per process)."""
    faiss.omp_set_num_threads(thread_count())


def make_index(vectors: np.ndarray, *, hnsw_threshold: int = HNSW_THRESHOLD) -> tuple[faiss.Index, str]:
    """Build an index over `vectors` (n, d) float32; returns it and its type name ("flat" or "hnsw")."""
    pin_threads()
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
    pin_threads()
    index = faiss.read_index(str(path))
    hnsw = getattr(index, "hnsw", None)
    if hnsw is not None:
        hnsw.efSearch = max(hnsw.efSearch, HNSW_EF_SEARCH)
    return index


def stored_vectors(index: faiss.Index) -> np.ndarray:
    """The (n, d) vectors held by a flat or HNSW-flat index, as a read-only view (no copy)."""
    pin_threads()
    flat = index if isinstance(index, faiss.IndexFlat) else faiss.downcast_index(index.storage)
    if index.ntotal == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    view = faiss.rev_swig_ptr(flat.get_xb(), index.ntotal * index.d).reshape(index.ntotal, index.d)
    view.flags.writeable = False
    return view
