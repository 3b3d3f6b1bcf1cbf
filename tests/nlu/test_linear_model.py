"""The classifier's per-message prediction path gives the same confidences as its training-time features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

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


def test_multilingual_views_teach_each_intent_from_the_multilingual_part_alone() -> None:
    """With `multilingual_views`, a message whose English-only features say nothing (another language) is still
    classified by its multilingual part; without, the classifier leans on the strong English-only features."""
    from nlu_components.linear_model import LinearTextModel, views_config

    rng = np.random.default_rng(0)
    labels = [c for c in ("order", "refund", "password") for _ in range(20)]
    centres_en, centres_multi = rng.normal(size=(3, 8)) * 3, rng.normal(size=(3, 8)) * 0.6
    index = {"order": 0, "refund": 1, "password": 2}
    english = np.stack([centres_en[index[y]] + rng.normal(size=8) * 0.3 for y in labels])
    multi = np.stack([centres_multi[index[y]] + rng.normal(size=8) * 0.3 for y in labels])
    dense = np.hstack([english, multi]) / np.sqrt(2)
    texts = [f"{y} please" for y in labels]
    foreign = np.hstack([np.zeros_like(english), multi]) / np.sqrt(2)  # English part silent, other words

    def accuracy(config: dict) -> float:
        model = LinearTextModel(config={"C": 20, **config}).fit(dense, texts, labels)
        predicted = model.predict_proba(foreign, ["???"] * len(labels)).argmax(axis=1)
        return float(np.mean([model.classes[i] == y for i, y in zip(predicted, labels)]))

    views = views_config(True, [(8, False), (8, True)])
    assert views == {"multilingual_views": [1], "part_dimensions": [8, 8], "view_mode": "joint"}
    assert views_config(True, [(8, True), (8, True)])["multilingual_views"] == []  # nothing to tell apart
    assert views_config(False, [(8, False), (8, True)])["multilingual_views"] == []
    assert accuracy(views) == 1.0
    assert accuracy({}) < accuracy(views)
    with pytest.raises(ValueError, match="do not fit part_dimensions"):
        LinearTextModel(config={"multilingual_views": [1], "part_dimensions": [8, 4]}).fit(dense, texts, labels)


def test_routed_views_read_either_part_alone() -> None:
    """Routed (the featurizer embeds a parsed message by its language's encoder only): a row with only the
    English part and a row with only the multilingual part are both classified right, and a routing featurizer
    makes the classifier train routed even when `multilingual_views` is off."""
    from nlu_components.linear_model import views_config

    rng = np.random.default_rng(1)
    labels = [c for c in ("order", "refund", "password") for _ in range(20)]
    index = {"order": 0, "refund": 1, "password": 2}
    centres_en, centres_multi = rng.normal(size=(3, 8)), rng.normal(size=(3, 8))
    english = np.stack([centres_en[index[y]] + rng.normal(size=8) * 0.3 for y in labels])
    multi = np.stack([centres_multi[index[y]] + rng.normal(size=8) * 0.3 for y in labels])
    dense = np.hstack([english, multi]) / np.sqrt(2)
    texts = [f"{y} please" for y in labels]
    as_english = np.hstack([english, np.zeros_like(multi)]) / np.sqrt(2)
    as_foreign = np.hstack([np.zeros_like(english), multi]) / np.sqrt(2)

    config = views_config(False, [(8, False), (8, True)], routed=True)
    assert config == {"multilingual_views": [1], "part_dimensions": [8, 8], "view_mode": "routed"}
    model = LinearTextModel(config={"C": 20, **config}).fit(dense, texts, labels)
    for rows, words in ((as_english, texts), (as_foreign, ["???"] * len(labels))):
        predicted = model.predict_proba(rows, words).argmax(axis=1)
        assert [model.classes[i] for i in predicted] == labels


def test_a_message_in_an_untrained_language_is_read_by_its_multilingual_part_only(tmp_path: Path) -> None:
    """Trained on English only, an Italian message shares a few chance n-grams with English examples ("ordine",
    "order"): they must not outweigh its multilingual part. Such a message is read like a multilingual view row
    (no TF-IDF, no English-only part); English messages, typos and lone unknown words are read as before, and
    a model trained with Italian examples reads Italian with every feature."""
    from nlu_components.linear_model import views_config

    rng = np.random.default_rng(2)
    english_texts = {"order_status": ["where is my order", "track my order please", "order not arrived yet"],
                     "refund": ["refund please", "I want a refund for my purchase", "money back on my purchase"]}
    texts = [t for ts in english_texts.values() for t in ts]
    labels = [label for label, ts in english_texts.items() for _ in ts]
    config = {"C": 20, **views_config(True, [(4, False), (4, True)])}
    model = LinearTextModel(config=config).fit(rng.normal(size=(len(texts), 8)), texts, labels)

    assert model.unseen_language("vorrei un rimborso per il mio ordine")
    assert model.unseen_language("我想退款")
    assert not model.unseen_language("where is my ordr")  # a typo in English
    assert not model.unseen_language("tyvm")  # one unknown word says nothing about the language
    assert not model.unseen_language("refund my purchase")

    foreign, vector = "vorrei un rimborso per il mio ordine", rng.normal(size=(1, 8))
    as_view_row = vector.copy()
    as_view_row[:, :4] = 0.0  # the English-only part silent, as in the multilingual view rows
    np.testing.assert_allclose(model.decision(vector, [foreign]), model.decision(as_view_row, [""]))
    english = "track my order please"
    assert not np.allclose(model.decision(vector, [english]), model.decision(vector, [""]))  # TF-IDF counts

    model.save(tmp_path)
    loaded = LinearTextModel.load(tmp_path)
    assert loaded.unseen_language(foreign) and not loaded.unseen_language(english)
    np.testing.assert_allclose(loaded.decision(vector, [foreign]), model.decision(vector, [foreign]), rtol=1e-5)

    italian = LinearTextModel(config=config).fit(
        rng.normal(size=(len(texts) + 2, 8)), texts + ["vorrei un rimborso", "dov'è il mio ordine"],
        labels + ["refund", "order_status"])
    assert not italian.unseen_language(foreign)
    off = LinearTextModel(config={**config, "unseen_words": 0}).fit(rng.normal(size=(len(texts), 8)), texts, labels)
    assert not off.unseen_language(foreign)
    # without multilingual views no intent was learnt from the multilingual part alone: TF-IDF stays
    no_views = LinearTextModel(config={"C": 20}).fit(rng.normal(size=(len(texts), 8)), texts, labels)
    assert not no_views.unseen_language(foreign)


def test_the_solver_finds_scikit_learns_logistic_regression_and_skips_the_zero_blocks() -> None:
    """fit_softmax (the products over the non-zero row blocks only) reaches the optimum of scikit-learn's
    L2 multinomial logistic regression with the same C, and the views as blocks train the same model as the
    same rows written out with their zeros."""
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression

    from nlu_components.linear_model import RowBlocks, fit_softmax

    rng = np.random.default_rng(3)
    n, k = 240, 4
    y = rng.integers(0, k, size=n)
    centres = rng.normal(size=(k, 12))
    dense = centres[y] + rng.normal(size=(n, 12)) * 1.5
    words = sp.random(n, 30, density=0.1, random_state=3, format="csr") + sp.csr_matrix(
        (np.ones(n), (np.arange(n), y * 3)), shape=(n, 30))
    reference = LogisticRegression(C=2.0, max_iter=2000, tol=1e-10).fit(sp.hstack([dense, words]).toarray(), y)
    coef, intercept = fit_softmax(dense, words.tocsr(), y, k, C=2.0, max_iter=500, tol=1e-7)
    expected = reference.predict_proba(sp.hstack([dense, words]).toarray())
    X = np.hstack([dense, words.toarray()])
    logits = X @ coef.T + intercept
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(p / p.sum(axis=1, keepdims=True), expected, atol=2e-3)

    # routed views: the first 6 columns for the rows as they are, the last 6 alone for the repeated rows
    blocks = RowBlocks(2 * n, 12, [(0, np.arange(6), dense[:, :6]), (n, np.arange(6, 12), dense[:, 6:])])
    padded = blocks.toarray()
    assert np.all(padded[:n, 6:] == 0) and np.all(padded[n:, :6] == 0)
    empty = sp.csr_matrix((n, 30))
    twice = sp.vstack([words, empty], format="csr")
    as_blocks = fit_softmax(blocks, twice, np.concatenate([y, y]), k, C=2.0, max_iter=500, tol=1e-7)
    written_out = fit_softmax(padded, twice, np.concatenate([y, y]), k, C=2.0, max_iter=500, tol=1e-7)
    np.testing.assert_allclose(as_blocks[0], written_out[0], atol=1e-3)
    np.testing.assert_allclose(as_blocks[1], written_out[1], atol=1e-3)


def test_an_intent_lacking_a_language_is_filled_in_and_weighed_by_the_multilingual_reading(tmp_path: Path) -> None:
    """Three intents, two with Italian examples: an Italian message carries the Italian direction of the
    multilingual part, which without the languages only the translated intents were trained on. With the
    examples' languages the English-only intent gets its examples moved to Italian, and an Italian message
    compares it by the multilingual reading; English messages are read exactly as before; the languages are saved
    with the model. (Real encoders: tests/nlu/test_training_languages.py.)"""
    from nlu_components.linear_model import views_config

    rng = np.random.default_rng(3)
    intents = ("order", "refund", "password")
    centres = {y: rng.normal(size=8) for y in intents}
    italian_direction = rng.normal(size=8) * 3.0
    rows, texts, labels, languages = [], [], [], []
    for y in intents:
        for language in ("en", "it") if y != "password" else ("en",):
            for k in range(12):
                multi = centres[y] + (italian_direction if language == "it" else 0.0) + rng.normal(size=8) * 0.6
                english = (rng.normal(size=8) * 0.6 + centres[y]) if language == "en" else rng.normal(size=8)
                rows.append(np.concatenate([english, multi]) / np.sqrt(2))
                texts.append(f"{y} please {k}" if language == "en" else f"per favore {y[:3]}zz {k}")
                labels.append(y)
                languages.append(language)
    config = {"C": 20, **views_config(True, [(8, False), (8, True)])}
    filled = LinearTextModel(config=config).fit(np.array(rows), texts, labels, languages)
    plain = LinearTextModel(config=config).fit(np.array(rows), texts, labels)
    assert filled.intent_languages == {"order": {"en", "it"}, "refund": {"en", "it"}, "password": {"en"}}
    assert plain.intent_languages is None

    def italian(y: str, n: int) -> tuple[np.ndarray, list[str]]:
        multi = centres[y] + italian_direction + rng.normal(size=(n, 8)) * 0.6
        return np.hstack([rng.normal(size=(n, 8)), multi]) / np.sqrt(2), ["per favore aiuto"] * n

    vectors, words = italian("password", 20)
    by = lambda model, v, w, lang: [model.classes[i] for i in model.predict_proba(v, w, lang).argmax(axis=1)]
    assert by(filled, vectors, words, ["it"] * 20) == ["password"] * 20
    p = filled.classes.index("password")  # the translated intents' Italian examples no longer outweigh it
    assert filled.predict_proba(vectors, words, ["it"] * 20)[:, p].mean() > \
        plain.predict_proba(vectors, words, ["it"] * 20)[:, p].mean() + 0.1
    for y in ("order", "refund"):
        v, w = italian(y, 10)
        assert by(filled, v, w, ["it"] * 10) == [y] * 10

    english = np.array(rows[:3])
    np.testing.assert_allclose(filled.decision(english, texts[:3], ["en"] * 3), filled.decision(english, texts[:3]))
    assert filled.decision(vectors[:1], words[:1], ["IT-it"]).argmax() == filled.classes.index("password")

    filled.save(tmp_path)
    loaded = LinearTextModel.load(tmp_path)
    assert loaded.intent_languages == filled.intent_languages
    np.testing.assert_allclose(loaded.decision(vectors, words, ["it"] * 20), filled.decision(vectors, words, ["it"] * 20),
                               rtol=1e-4, atol=1e-4)
    off = LinearTextModel(config={**config, "fill_languages": False}).fit(np.array(rows), texts, labels, languages)
    assert off.intent_languages is None
