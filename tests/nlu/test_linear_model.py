"""The classifier's per-message prediction path gives the same confidences as its training-time features."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nlu_components.linear_model import LinearTextModel

TEXTS = {
    "order_status": ["where is my order", "track my parcel BC-123456", "has my package shipped yet?",
                     "dov'è il mio ordine", "我的订单在哪里"],
    "refund": ["I want my money back", "refund please", "how do I get a refund for order #123456",
               "vorrei un rimborso", "我要退款"],
    "greet": ["hi", "hello there", "good morning", "ciao", "你好"],
}


def _matrix_logits(model: LinearTextModel, embeddings: np.ndarray, texts: list[str]) -> np.ndarray:
    """The reference: the same numbers through the scipy feature matrices that training uses."""
    dense, sparse = model.features(embeddings, texts)
    return dense @ model.coef[:, : dense.shape[1]].T + sparse @ model.coef[:, dense.shape[1]:].T + model.intercept


def test_prediction_matches_training_features_before_and_after_save(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    texts = [t for ts in TEXTS.values() for t in ts]
    labels = [label for label, ts in TEXTS.items() for _ in ts]
    embeddings = rng.normal(size=(len(texts), 8)).astype(np.float32)
    model = LinearTextModel(config={"C": 10, "dense_weight": 0.7}).fit(embeddings, texts, labels)

    queries = ["where is my parcel?", "REFUND my order BC-123456 please", "ciao!", "", "zzz qqq", "我的包裹"]
    query_vectors = rng.normal(size=(len(queries), 8)).astype(np.float32)
    expected = _matrix_logits(model, query_vectors, queries)
    np.testing.assert_allclose(model.decision(query_vectors, queries), expected, rtol=1e-5, atol=1e-5)

    model.save(tmp_path)
    loaded = LinearTextModel.load(tmp_path)
    np.testing.assert_allclose(loaded.decision(query_vectors, queries), expected, rtol=1e-4, atol=1e-4)
    assert loaded.classes[int(np.argmax(loaded.predict_proba(query_vectors[:1], queries[:1])))] == "order_status"


def test_refit_forgets_the_previous_vocabulary() -> None:
    model = LinearTextModel(config={"dense_weight": 0.0})
    model.fit(np.zeros((4, 2), np.float32), ["aa bb", "cc dd", "aa", "cc"], ["x", "y", "x", "y"])
    model.predict_proba(np.zeros((1, 2), np.float32), ["aa"])
    model.fit(np.zeros((4, 2), np.float32), ["ee ff", "gg hh", "ee", "gg"], ["x", "y", "x", "y"])
    p = model.predict_proba(np.zeros((2, 2), np.float32), ["ee", "gg"])
    assert model.classes[int(np.argmax(p[0]))] == "x" and model.classes[int(np.argmax(p[1]))] == "y"
