"""An ONNX sentence encoder: onnxruntime + tokenizers + numpy, no torch.

Reads a folder written by `python -m nlu_components.export_onnx` (`make encoder`) (default `models/encoder/<model>/`):
`model.onnx`, `tokenizer.json` and `manifest.json` (model name, dimension, pooling, normalisation, hashes).
It returns the same L2-normalised vectors as sentence-transformers (tests/nlu/test_encoder_parity.py), runs on
one thread, and never touches the network.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from encoders.files import file_sha256
from encoders.runtime import onnx_session
from encoders.specs import DEFAULT_MODEL, ENCODER_ROOT, SHIPPED_MODEL, as_model_list, encoder_name

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


class EncoderNotFound(RuntimeError):
    """The exported encoder folder is missing or incomplete."""


def model_slug(model: str) -> str:
    """Folder name for a model name or path: `sentence-transformers/all-MiniLM-L6-v2` → `all-MiniLM-L6-v2`."""
    name = (model or DEFAULT_MODEL).strip().rstrip("/")
    name = name.split("/")[-1] if not Path(name).expanduser().is_dir() else Path(name).expanduser().resolve().name
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "model"


def encoder_dir(model: str | None = None, root: Path | None = None) -> Path:
    return (root or ENCODER_ROOT) / model_slug(model or DEFAULT_MODEL)


def read_manifest(directory: Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EncoderNotFound(
            f"no exported sentence encoder in {directory} ({MANIFEST} is missing). Build it once with "
            "`make encoder` (runs `.venv/bin/python -m nlu_components.export_onnx`)."
        ) from None
    except (OSError, ValueError) as exc:
        raise EncoderNotFound(f"cannot read {path}: {exc}. Rebuild it with `make encoder`.") from exc
    for key in ("model", "dimension", "onnx", "tokenizer", "max_seq_length"):
        if key not in manifest:
            raise EncoderNotFound(f"{path} has no {key!r}; rebuild it with `make encoder`.")
    return manifest




class OnnxSentenceEncoder:
    """Encode texts into float32 vectors of shape (n, dimension), each row L2-normalised.

    Thread-safe and `concurrent`: onnxruntime runs one session from several threads at once."""

    concurrent = True

    def __init__(self, directory: str | Path, *, batch_size: int = 32, threads: int = 1,
                 expect_model: str | None = None) -> None:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from tokenizers import Tokenizer

        self.directory = Path(directory)
        self.manifest = read_manifest(self.directory)
        self.name: str = self.manifest["model"]
        if expect_model is not None and model_slug(expect_model) != model_slug(self.name):
            raise EncoderNotFound(f"{self.directory} holds an export of {self.name!r}, not {expect_model!r}; "
                                  "export the configured model with `make encoder`.")
        self.dimension: int = int(self.manifest["dimension"])
        self.normalize: bool = bool(self.manifest.get("normalize", True))
        self.batch_size = batch_size
        onnx_path = self.directory / self.manifest["onnx"]
        tok_path = self.directory / self.manifest["tokenizer"]
        for p in (onnx_path, tok_path):
            if not p.exists():
                raise EncoderNotFound(f"{p} is missing; rebuild the encoder with `make encoder`.")

        self._tokenizer = Tokenizer.from_file(str(tok_path))
        self._tokenizer.enable_truncation(max_length=int(self.manifest["max_seq_length"]))
        self._tokenizer.no_padding()
        self._pad_id = int(self.manifest.get("pad_token_id", 0))

        self._session = onnx_session(onnx_path, threads=threads)
        self._inputs = [i.name for i in self._session.get_inputs()]
        self._output = self.manifest.get("output", self._session.get_outputs()[0].name)

    @property
    def identity(self) -> dict[str, Any]:
        """What a trained model records about the encoder it was trained with."""
        keys = ("model", "dimension", "pooling", "normalize", "max_seq_length", "source_sha256", "onnx_sha256")
        return {k: self.manifest.get(k) for k in keys}

    def _run(self, ids: list[list[int]], type_ids: list[list[int]]) -> np.ndarray:
        width = max(len(x) for x in ids)
        n = len(ids)
        input_ids = np.full((n, width), self._pad_id, dtype=np.int64)
        attention = np.zeros((n, width), dtype=np.int64)
        token_types = np.zeros((n, width), dtype=np.int64)
        for i, (row, types) in enumerate(zip(ids, type_ids)):
            input_ids[i, : len(row)] = row
            attention[i, : len(row)] = 1
            token_types[i, : len(types)] = types
        feeds = {"input_ids": input_ids, "attention_mask": attention, "token_type_ids": token_types}
        (out,) = self._session.run([self._output], {k: feeds[k] for k in self._inputs})
        return out

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # sentence-transformers strips each text before tokenising.
        encodings = self._tokenizer.encode_batch([str(t).strip() for t in texts])
        # Batches of similar lengths: little padding, and padding never changes a vector (masked pooling).
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            vectors = self._run([encodings[i].ids for i in chunk], [encodings[i].type_ids for i in chunk])
            out[chunk] = vectors
        if self.normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out /= np.maximum(norms, 1e-12)
        return np.ascontiguousarray(out, dtype=np.float32)

    def __repr__(self) -> str:
        return f"OnnxSentenceEncoder({self.name!r}, dimension={self.dimension}, dir={str(self.directory)!r})"


def check_kb_model(models: str | list[str]) -> str | None:
    """A warning text when the NLU uses a sentence encoder that the knowledge base does not, else None."""
    kb_spec = (os.environ.get("EMBEDDING_MODEL") or SHIPPED_MODEL).strip()
    kb = {model_slug(encoder_name(m)) for m in as_model_list(kb_spec)}
    foreign = [m for m in as_model_list(models) if model_slug(encoder_name(m)) not in kb]
    if not foreign:
        return None
    return (f"The NLU featurizer uses the sentence encoder(s) {', '.join(map(repr, foreign))}, which the knowledge "
            f"base does not (EMBEDDING_MODEL={kb_spec!r}). Make the `model` of SentenceEmbeddingFeaturizer in "
            "config.yml and EMBEDDING_MODEL name the same models (then `make encoder` and retrain), so the bot and "
            "the knowledge base understand messages the same way.")
