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
