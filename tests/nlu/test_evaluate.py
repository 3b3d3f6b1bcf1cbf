"""The evaluation outside Rasa reads parsed messages the way Rasa's featurizer gives them."""

from __future__ import annotations

import numpy as np

from nlu_components.evaluate import example_language, routed
from nlu_components.validate import Example


def test_a_routing_profile_keeps_each_messages_language_part_only() -> None:
    examples = [Example("where is my order", "order_status", "nlu_data/nlu.yml", 3),
                Example("dov'è il mio ordine", "order_status", "nlu_data/nlu_it.yml", 3),
                Example("我的订单在哪里", "order_status", "benchmarks/data/starter_heldout/zh.yml", 3)]
    assert [example_language(e) for e in examples] == ["en", "it", "zh"]
    vectors = np.ones((3, 768), dtype=np.float32)
    fast = {"featurizer": {"model": "fast"}, "classifier": {}}
    rows = routed(vectors, examples, fast)
    assert rows[0, :384].all() and not rows[0, 384:].any()  # English: MiniLM only
    assert not rows[1, :384].any() and rows[1, 384:].all()  # Italian, Chinese: E5 only
    assert not rows[2, :384].any() and rows[2, 384:].all()
    assert vectors.all()  # the caller's rows are left as they were
    off = {"featurizer": {"model": "fast", "route_by_language": False}, "classifier": {}}
    classic = {"featurizer": {"model": "classic"}, "classifier": {}}
    accurate = {"featurizer": {"model": "accurate"}, "classifier": {}}  # reads every message with both encoders
    for settings in (off, classic, accurate):
        assert routed(vectors, examples, settings) is vectors


def test_the_evaluation_centres_fasts_e5_part_by_each_examples_language_like_the_featurizer() -> None:
    from encoders import load_encoder
    from encoders.concat import encode_concat
    from encoders.language_means import part_means
    from nlu_components.evaluate import neutral

    examples = [Example("where is my order", "order_status", "nlu_data/nlu.yml", 3),
                Example("dov'è il mio ordine", "order_status", "nlu_data/nlu_it.yml", 3)]
    encoders = [load_encoder("all-MiniLM-L6-v2", backend="onnx"), load_encoder("multilingual-e5-small", backend="onnx")]
    vectors = encode_concat(encoders, [e.text for e in examples])
    fast = {"featurizer": {"model": "fast"}, "classifier": {}}
    rows = neutral(vectors, examples, fast)
    assert np.allclose(rows[:, :384], vectors[:, :384])  # MiniLM as it was
    means = part_means(encoders[1])
    expected = vectors[1, 384:] * np.sqrt(2) - means["it"]
    assert np.allclose(rows[1, 384:], expected / np.linalg.norm(expected) / np.sqrt(2), atol=1e-5)
    for settings in ({"featurizer": {"model": "accurate"}, "classifier": {}},  # auto: off without routes
                     {"featurizer": {"model": "fast", "language_neutral": False}, "classifier": {}},
                     {"featurizer": {"model": "classic"}, "classifier": {}}):
        assert neutral(vectors, examples, settings) is vectors
