"""Knowledge-base benchmark: retrieval quality and latency on the starter FAQ, and FAISS index sizing.

    python -m benchmarks.bench_kb                 # top-1/top-5, decisions, query latency (starter FAQ)
    python -m benchmarks.bench_kb --faiss         # exact vs HNSW search cost at several index sizes

Runs on one math thread (as the services do). Writes a JSON summary to benchmarks/results/ with --save.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def bench_quality(repeat: int) -> dict[str, Any]:
    from kb_index import KnowledgeBase, build_index, load_encoder
    from kb_index.eval import STARTER_QUERIES, evaluate, load_queries

    content = Path(__file__).resolve().parents[1] / "kb_index" / "content"
    started = time.perf_counter()
    encoder = load_encoder()
    load_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        manifest = build_index(content, Path(tmp) / "build", encoder, progress=False)
        build_s = time.perf_counter() - started
        kb = KnowledgeBase.load(Path(tmp) / "build", encoder)
        queries = load_queries(STARTER_QUERIES)
        report = evaluate(kb, queries)
        timings = []
        for _ in range(repeat):
            for item in queries:
                t = time.perf_counter()
                kb.decide(item.query)
                timings.append((time.perf_counter() - t) * 1000)
    timings.sort()
    return {
        **report.summary(),
        "entries": manifest.entry_count,
        "vectors": manifest.vector_count,
        "model_load_s": round(load_s, 2),
        "build_s": round(build_s, 2),
        "decide_ms_p50": round(statistics.median(timings), 2),
        "decide_ms_p95": round(timings[int(len(timings) * 0.95) - 1], 2),
    }


def bench_faiss(sizes: list[int], hnsw_sizes: list[int], queries: int = 200, dim: int = 384) -> list[dict[str, Any]]:
    import faiss

    from kb_index.faiss_index import HNSW_EF_SEARCH, make_index

    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(0)
    rows = []
    for size in sorted(set(sizes) | set(hnsw_sizes)):
        base = rng.standard_normal((size, dim)).astype(np.float32)
        base /= np.linalg.norm(base, axis=1, keepdims=True)
        probe = base[rng.choice(size, queries)] + 0.05 * rng.standard_normal((queries, dim)).astype(np.float32)
        probe /= np.linalg.norm(probe, axis=1, keepdims=True)
        kinds = (["flat"] if size in sizes else []) + (["hnsw"] if size in hnsw_sizes else [])
        exact = None
        for kind in kinds:
            started = time.perf_counter()
            index, built = make_index(base, hnsw_threshold=0 if kind == "hnsw" else size + 1)
            build_s = time.perf_counter() - started
            timings = []
            found = []
            for q in probe:
                t = time.perf_counter()
                _, ids = index.search(q[None, :], 10)
                timings.append((time.perf_counter() - t) * 1000)
                found.append(ids[0])
            if kind == "flat":
                exact = found
            recall = None
            if kind == "hnsw" and exact is not None:
                recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact)]))
            rows.append(
                {
                    "vectors": size,
                    "index": built,
                    "build_s": round(build_s, 2),
                    "query_ms_p50": round(statistics.median(timings), 3),
                    "recall_at_10": None if recall is None else round(recall, 3),
                    "ef_search": HNSW_EF_SEARCH if built == "hnsw" else None,
                }
            )
            print(json.dumps(rows[-1]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faiss", action="store_true", help="measure FAISS index types instead of the starter FAQ")
    parser.add_argument("--sizes", default="10000,50000,100000", help="vector counts for exact search")
    parser.add_argument("--hnsw-sizes", default="20000", help="vector counts for HNSW (building is slow)")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the query set for latency")
    parser.add_argument("--save", action="store_true", help="write the result to benchmarks/results/")
    args = parser.parse_args()

    result: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "threads": 1}}
    if args.faiss:
        to_ints = lambda text: [int(x) for x in text.split(",") if x.strip()]  # noqa: E731
        result["faiss"] = bench_faiss(to_ints(args.sizes), to_ints(args.hnsw_sizes))
        name = "kb_faiss.json"
    else:
        result["starter_faq"] = bench_quality(args.repeat)
        print(json.dumps(result["starter_faq"], indent=2))
        name = "kb_quality.json"
    if args.save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
