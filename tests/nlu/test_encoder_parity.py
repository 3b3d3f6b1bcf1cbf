"""The ONNX encoder in the Rasa runtime gives the knowledge base's sentence-transformers vectors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.nlu.support import SENTENCES, run_in_rasa


def test_rasa_runtime_onnx_vectors_match_sentence_transformers(encoder_dir: Path) -> None:
    from encoders import load_encoder

    expected = load_encoder(backend="torch").encode(SENTENCES)  # the reference: sentence-transformers on torch
    script = (
        "import json, sys\n"
        "from encoders.onnx import OnnxSentenceEncoder\n"
        f"enc = OnnxSentenceEncoder({str(encoder_dir)!r}, batch_size=3)\n"
        f"print(json.dumps(enc.encode({SENTENCES!r}).tolist()))\n"
    )
    proc = run_in_rasa(script)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = np.array(json.loads(proc.stdout.strip().splitlines()[-1]), dtype=np.float32)
    assert got.shape == expected.shape == (len(SENTENCES), 384)
    cosine = (got * expected).sum(axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(expected, axis=1)
    assert cosine.min() >= 0.999, cosine
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_manifest_names_model_dimension_pooling_and_normalisation(encoder_dir: Path) -> None:
    manifest = json.loads((encoder_dir / "manifest.json").read_text())
    assert manifest["model"] == "all-MiniLM-L6-v2"
    assert manifest["dimension"] == 384
    assert manifest["pooling"] == "mean"
    assert manifest["normalize"] is True
    assert manifest["parity_min_cosine"] >= 0.9999
    assert (encoder_dir / manifest["onnx"]).exists() and (encoder_dir / manifest["tokenizer"]).exists()


def test_export_is_idempotent(encoder_dir: Path) -> None:
    from nlu_components.export_onnx import export

    before = (encoder_dir / "model.onnx").stat().st_mtime_ns
    assert export("all-MiniLM-L6-v2", encoder_dir.parent) == encoder_dir
    assert (encoder_dir / "model.onnx").stat().st_mtime_ns == before
