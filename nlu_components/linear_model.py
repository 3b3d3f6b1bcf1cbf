"""The model behind `LinearIntentClassifier`, free of Rasa: multinomial logistic regression over
[sentence embedding ⊕ word TF-IDF ⊕ character TF-IDF].

- Sentence embeddings carry meaning (paraphrases, synonyms); the TF-IDF blocks carry the exact words and the
  spelling variants (typos, product and banking terms) that a general-purpose encoder blurs.
- One multinomial logistic regression: probabilities that sum to 1 over the intents, so one confidence
  threshold (Rasa's FallbackClassifier) means the same thing for every intent; the threshold itself is
  chosen on validation data (`python -m nlu_components.calibrate`).
- Saved as JSON + .npy (no pickle): vocabularies, idf weights, coefficients.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from core.languages import base_language

DEFAULTS: dict[str, Any] = {
    "C": 20.0,  # inverse regularisation strength
    "dense_weight": 1.0,  # scale of the (unit-length) embedding block against the (unit-length) TF-IDF blocks
    "word_ngrams": [1, 2],  # word TF-IDF n-gram range; [] to switch the block off
    "char_ngrams": [2, 5],  # char_wb TF-IDF n-gram range; [] to switch the block off
    "min_df": "auto",  # n-grams seen in fewer examples are dropped; auto: 1 below 2,000 examples, else 2
    "max_features": 50000,  # per TF-IDF block
    "class_weight": None,  # or "balanced"
    "max_iter": 300,
    "tol": 1e-4,
    "random_state": 42,
    # Indices of the dense parts (one per sentence encoder, of `part_dimensions` each) that are multilingual.
    # When set, every example is trained on twice: as it is, and with only those parts (no English-only part, no
    # TF-IDF), so each intent is also learnt from language-independent features alone and an intent with English
    # examples only still reaches customers in other languages (benchmarks/README.md, issue 17).
    "multilingual_views": [],
    "part_dimensions": [],
    # "joint": the rows as they are plus the multilingual view (above). "routed": messages are embedded by their
    # language's encoder only (`SentenceEmbeddingFeaturizer`, profiles that route), so each example is learnt from
    # its English-only parts with the TF-IDF blocks and, apart, from its multilingual parts alone: either kind of
    # row then reads like the training rows, and no message needs both encoders.
    "view_mode": "joint",
    # With multilingual views, a message in a language the training data does not have (fewer than `unseen_words`
    # of its words, and fewer than `unseen_chars` of its character 4-grams, were seen in training; CJK text counts
    # characters as words; at least `unseen_min_words` words) is read like a view row: without the TF-IDF blocks,
    # and in the "joint" view mode without the English-only dense parts. Its few chance n-gram matches would
    # otherwise be normalised into a full-strength lexical vector pointing at whatever English intent shares
    # them. Trained on English only, the starter held-out sets it/zh/ro went from 0.772/0.794/0.743 to
    # 0.816/0.801/0.838 (`fast`) and from 0.809/0.772/0.757 to 0.831/0.794/0.838 (`accurate`); trained on all
    # four languages, `fast` is unchanged and `accurate` lost one Chinese message of 136; no BANKING77 or CLINC150
    # test message is gated (benchmarks/README.md, Intents). 0 switches the gate off.
    "unseen_words": 0.34,
    "unseen_chars": 0.4,
    "unseen_min_words": 2,
    # With multilingual views and the examples' languages known (`fit(..., languages=)`): an intent that lacks a
    # language the others have (a new intent written in English beside translated ones) is also trained on its
    # examples' multilingual parts moved to that language (shifted by the difference of the two languages' mean
    # multilingual vectors), and a message whose language an intent lacks weighs that intent by the multilingual
    # reading only (`decision(..., languages=)`). Without both, such an intent lost to every translated one: its
    # Italian, Chinese and Romanian messages carry the language's direction and words, which the classifier had
    # learnt only from the other intents (benchmarks/README.md, Intents: 0.13-0.14 → about 0.5-0.6).
    "fill_languages": True,
}

def language_code(value: Any) -> str | None:
    """A language tag as the classifier compares them: "it", "zh-CN" → "zh"; None for anything else."""
    return base_language(value) or None


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\u0e00-\u0e7f]")
_WORD = re.compile(r"\w+")


def words_of(text: str) -> list[str]:
    """The words of `text` for the unseen-language gate: lowercased word tokens without numbers, each CJK
    (or Thai) character on its own (those scripts do not separate words by spaces)."""
    out: list[str] = []
    for token in _WORD.findall((text or "").lower()):
        if _CJK.search(token):
            out.extend(c for c in token if _CJK.match(c))
        elif not token.isdigit():
            out.append(token)
    return out


def views_config(enabled: Any, layout: Sequence[tuple[int, bool]], routed: bool = False) -> dict[str, Any]:
    """The model's `multilingual_views` / `part_dimensions` / `view_mode` for the classifier option
    ``multilingual_views: true`` and the featurizer's layout [(dimension, multilingual), …]: views need an
    English-only part beside a multilingual one, else there is nothing to learn apart. `routed` (the featurizer
    embeds parsed messages by their language's encoder only) trains routed views whatever the option says: a
    model trained on joint rows would read a half-empty row."""
    views = [i for i, (_, multilingual) in enumerate(layout) if multilingual] if enabled is True or routed else []
    if not views or len(views) == len(layout):
        return {"multilingual_views": [], "part_dimensions": [], "view_mode": "joint"}
    return {"multilingual_views": views, "part_dimensions": [int(d) for d, _ in layout],
            "view_mode": "routed" if routed else "joint"}


def _vectorizer(kind: str, ngrams: Sequence[int], cfg: dict[str, Any], vocabulary: dict[str, int] | None = None,
                n_examples: int = 0):
    from sklearn.feature_extraction.text import TfidfVectorizer

    min_df = cfg["min_df"]
    if min_df == "auto":
        min_df = 1 if n_examples < 2000 else 2

    return TfidfVectorizer(
        analyzer="word" if kind == "word" else "char_wb",
        ngram_range=(int(ngrams[0]), int(ngrams[1])),
        lowercase=True,
        sublinear_tf=True,
        min_df=1 if vocabulary is not None else int(min_df),
        max_features=None if vocabulary is not None else int(cfg["max_features"]),
        # keeps one-letter words ("i", "a") that matter in short messages; char n-grams take no token pattern
        token_pattern=r"(?u)\b\w+\b" if kind == "word" else None,
        dtype=np.float32,
        vocabulary=vocabulary,
    )


def _softmax_log(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max()
    return shifted - np.log(np.exp(shifted).sum())


def _fused(full: np.ndarray, view: np.ndarray, lacking: np.ndarray) -> np.ndarray:
    """Log-probabilities of one message: the intents that lack its language (`lacking`) keep the probabilities of
    the multilingual reading (`view` logits), which alone compares them fairly with the others (their examples
    have none of the message's words, nor its language's direction); the other intents share what remains in the
    proportions of the full reading (`full` logits)."""
    p_view = np.exp(_softmax_log(view))
    p_full = np.exp(_softmax_log(full))
    rest = 1.0 - float(p_view[lacking].sum())
    have = p_full[~lacking]
    fused = np.where(lacking, p_view, 0.0)
    if have.sum() > 0:
        fused[~lacking] = have / have.sum() * rest
    return np.log(np.maximum(fused, 1e-300))


class RowBlocks:
    """A dense feature matrix kept as its non-zero blocks: groups of consecutive rows, each with values in some
    columns only (`(first row, columns, values)`). The multilingual views repeat every example with part of its
    columns zero; kept as blocks, the products over those zeros are never computed."""

    def __init__(self, n_rows: int, n_columns: int, blocks: Sequence[tuple[int, np.ndarray, np.ndarray]]) -> None:
        self.shape = (int(n_rows), int(n_columns))
        self.blocks = [(int(start), np.asarray(columns, dtype=np.int64), np.ascontiguousarray(values, dtype=np.float64))
                       for start, columns, values in blocks]
        # a block over every column in order multiplies the coefficients as they are, with no gather
        self._whole = [len(c) == n_columns and bool(np.all(c == np.arange(n_columns))) for _, c, _ in self.blocks]

    @classmethod
    def of(cls, dense: np.ndarray) -> "RowBlocks":
        return cls(dense.shape[0], dense.shape[1], [(0, np.arange(dense.shape[1]), dense)])

    def toarray(self) -> np.ndarray:
        out = np.zeros(self.shape, dtype=np.float64)
        for start, columns, values in self.blocks:
            out[start:start + len(values), columns] = values
        return out

    def __matmul__(self, W: np.ndarray) -> np.ndarray:
        out = np.zeros((self.shape[0], W.shape[1]), dtype=np.float64)
        for (start, columns, values), whole in zip(self.blocks, self._whole):
            out[start:start + len(values)] += values @ (W if whole else W[columns])
        return out

    def rmatmul(self, G: np.ndarray) -> np.ndarray:
        """selfᵀ @ G."""
        out = np.zeros((self.shape[1], G.shape[1]), dtype=np.float64)
        for (start, columns, values), whole in zip(self.blocks, self._whole):
            product = values.T @ G[start:start + len(values)]
            if whole:
                out += product
            else:
                out[columns] += product
        return out


def fit_softmax(dense: np.ndarray | RowBlocks | None, sparse: sp.csr_matrix | None, y: np.ndarray, n_classes: int,
                *, C: float, max_iter: int, tol: float,
                sample_weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression, L2-penalised (the objective of scikit-learn's
    `LogisticRegression(C=C)`: C·Σ log-loss + ½‖W‖², intercept not penalised), solved with L-BFGS.

    Written out because the dense block goes through BLAS and the sparse block through scipy separately
    (several times faster than one mixed sparse matrix in scikit-learn on a one-thread machine), and the dense
    rows through their non-zero blocks only (`RowBlocks`: a quarter less time for the multilingual views, the
    same numbers). Returns (coef (n_classes, n_features), intercept (n_classes,)).
    """
    from scipy.optimize import minimize

    n = len(y)
    blocks = None if dense is None else dense if isinstance(dense, RowBlocks) else RowBlocks.of(dense)
    d_dense = 0 if blocks is None else blocks.shape[1]
    d_sparse = 0 if sparse is None else sparse.shape[1]
    d = d_dense + d_sparse
    k = n_classes
    Y = np.zeros((n, k))
    Y[np.arange(n), y] = 1.0
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    sparse_t = None if sparse is None else sparse.T.tocsr()

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        W = w[: d * k].reshape(d, k)
        b = w[d * k :]
        Z = np.zeros((n, k)) + b
        if blocks is not None:
            Z += blocks @ W[:d_dense]
        if sparse is not None:
            Z += sparse @ W[d_dense:]
        Z -= Z.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(Z).sum(axis=1))
        loss = float(np.sum(sw * (log_norm - Z[np.arange(n), y])))
        P = np.exp(Z - log_norm[:, None])
        G = (P - Y) * sw[:, None]
        grad_w = np.empty((d, k))
        if blocks is not None:
            grad_w[:d_dense] = blocks.rmatmul(G)
        if sparse_t is not None:
            grad_w[d_dense:] = sparse_t @ G
        grad_w += W / C
        value = (loss + 0.5 * float(np.sum(W * W)) / C) / n
        return value, np.concatenate([grad_w.ravel(), G.sum(axis=0)]) / n

    result = minimize(objective, np.zeros(d * k + k), jac=True, method="L-BFGS-B",
                      options={"maxiter": max_iter, "gtol": tol, "ftol": 1e-10, "maxcor": 10})
    W = result.x[: d * k].reshape(d, k)
    fit_softmax.last_info = {"iterations": int(result.nit), "evaluations": int(result.nfev),  # type: ignore[attr-defined]
                             "converged": bool(result.success), "message": str(result.message)}
    return W.T.copy(), result.x[d * k :].copy()


@dataclass
class LinearTextModel:
    config: dict[str, Any] = field(default_factory=dict)
    classes: list[str] = field(default_factory=list)
    coef: np.ndarray | None = None  # (n_classes, n_features)
    intercept: np.ndarray | None = None
    vectorizers: dict[str, Any] = field(default_factory=dict)
    fit_seconds: float = 0.0
    fit_info: dict[str, Any] = field(default_factory=dict)
    known_words: frozenset[str] | None = None  # the training texts' words (`words_of`); None: no gate (old model)
    # {intent: the languages of its examples}, when `fit` was given them (see DEFAULTS, ``fill_languages``)
    intent_languages: dict[str, frozenset[str]] | None = None

    def __post_init__(self) -> None:
        self.config = {**DEFAULTS, **(self.config or {})}

    # -- features ----------------------------------------------------------------------------------

    def _blocks(self) -> list[tuple[str, Sequence[int]]]:
        out = []
        for kind in ("word", "char"):
            ngrams = self.config.get(f"{kind}_ngrams") or []
            if len(ngrams) == 2:
                out.append((kind, ngrams))
        return out

    def features(self, embeddings: np.ndarray | None, texts: Sequence[str], *,
                 fit: bool = False) -> tuple[np.ndarray | None, sp.csr_matrix | None]:
        """(dense block, sparse TF-IDF blocks): kept apart so the dense products run on BLAS. Training builds
        them for all examples at once; prediction (`decision`) computes the same numbers per message."""
        dense = None
        if embeddings is not None and embeddings.shape[1] > 0:
            dense = np.asarray(embeddings, dtype=np.float64) * float(self.config["dense_weight"])
        texts = [t or "" for t in texts]
        parts = []
        for kind, ngrams in self._blocks():
            if fit:
                self.vectorizers[kind] = _vectorizer(kind, ngrams, self.config, n_examples=len(texts))
                parts.append(self.vectorizers[kind].fit_transform(texts))
            else:
                parts.append(self.vectorizers[kind].transform(texts))
        if dense is None and not parts:
            raise ValueError("LinearIntentClassifier has no features: no dense features and no TF-IDF block")
        return dense, (sp.hstack(parts, format="csr", dtype=np.float64) if parts else None)

    # -- training and prediction -------------------------------------------------------------------

    def fit(self, embeddings: np.ndarray | None, texts: Sequence[str], labels: Sequence[str],
            languages: Sequence[str | None] | None = None) -> "LinearTextModel":
        """Train on the examples; `languages` (one tag per example, or None) lets an intent that lacks a
        language the others have be filled in (DEFAULTS, ``fill_languages``)."""
        started = time.monotonic()
        self._coef_t = self._lean = self._char_analyzer = None  # caches of the previous fit
        dense, sparse = self.features(embeddings, texts, fit=True)
        self.known_words = frozenset(w for text in texts for w in words_of(text))
        self.classes = sorted(set(labels))
        index = {c: i for i, c in enumerate(self.classes)}
        y = np.array([index[label] for label in labels])
        codes = [language_code(lang) for lang in languages] if languages is not None else None
        if codes is not None and len(codes) != len(labels):
            raise ValueError(f"{len(codes)} languages for {len(labels)} examples")
        filling = bool(self.config.get("fill_languages")) and codes is not None and any(codes) \
            and bool(self.config.get("multilingual_views")) and dense is not None
        self.intent_languages = None
        if filling:
            by_intent: dict[str, set[str]] = {}
            for label, code in zip(labels, codes):
                if code:
                    by_intent.setdefault(label, set()).add(code)
            self.intent_languages = {c: frozenset(by_intent.get(c, ())) for c in self.classes}
        filled = self._filled_rows(dense, y, codes) if filling else None
        dense, sparse, y = self._with_multilingual_views(dense, sparse, y, filled)
        n_features = (0 if dense is None else dense.shape[1]) + (0 if sparse is None else sparse.shape[1])
        if len(self.classes) == 1:  # a one-intent bot: always that intent
            self.coef = np.zeros((1, n_features), dtype=np.float32)
            self.intercept = np.zeros(1, dtype=np.float32)
        else:
            weights = None
            if self.config["class_weight"] == "balanced":
                counts = np.bincount(y, minlength=len(self.classes))
                weights = (len(y) / (len(self.classes) * counts))[y]
            coef, intercept = fit_softmax(dense, sparse, y, len(self.classes), C=float(self.config["C"]),
                                          max_iter=int(self.config["max_iter"]), tol=float(self.config["tol"]),
                                          sample_weight=weights)
            self.coef, self.intercept = coef.astype(np.float32), intercept.astype(np.float32)
            self.fit_info = dict(getattr(fit_softmax, "last_info", {}))
        self.fit_seconds = time.monotonic() - started
        return self

    def _view_columns(self, d_dense: int) -> np.ndarray:
        """Mask of the dense columns that belong to the multilingual parts."""
        dims = [int(d) for d in self.config.get("part_dimensions") or []]
        bounds = np.cumsum([0] + dims)
        keep = np.zeros(d_dense, dtype=bool)
        for i in (int(v) for v in self.config.get("multilingual_views") or []):
            keep[bounds[i]:bounds[i + 1]] = True
        return keep

    def _filled_rows(self, dense: np.ndarray, y: np.ndarray, codes: Sequence[str | None]
                     ) -> tuple[np.ndarray, np.ndarray] | None:
        """(multilingual-part rows, labels) that stand in for the languages each intent lacks: every example of
        the intent, its multilingual parts moved from its language to the missing one by the difference of the
        two languages' mean rows (the direction a multilingual encoder gives a language), each part rescaled to
        its norm. None when no intent lacks a language another one has."""
        dims = [int(d) for d in self.config.get("part_dimensions") or []]
        if sum(dims) != dense.shape[1] or self.intent_languages is None:
            return None
        keep = self._view_columns(dense.shape[1])
        views = dense[:, keep]
        known = sorted({c for c in codes if c})
        means = {lang: views[[i for i, c in enumerate(codes) if c == lang]].mean(axis=0) for lang in known}
        bounds = np.cumsum([0] + [int(dims[i]) for i in sorted(int(v) for v in self.config["multilingual_views"])])
        rows, labels = [], []
        for i, (label, code) in enumerate(zip(y, codes)):
            if not code:
                continue
            for lang in known:
                if lang in self.intent_languages[self.classes[label]]:
                    continue
                moved = views[i] + means[lang] - means[code]
                for a, b in zip(bounds[:-1], bounds[1:]):
                    norm = float(np.linalg.norm(moved[a:b]))
                    if norm > 0:
                        moved[a:b] *= float(np.linalg.norm(views[i, a:b])) / norm
                rows.append(moved)
                labels.append(label)
        if not rows:
            return None
        return np.asarray(rows, dtype=dense.dtype), np.asarray(labels, dtype=y.dtype)

    def _with_multilingual_views(self, dense: np.ndarray | None, sparse: sp.csr_matrix | None, y: np.ndarray,
                                 filled: tuple[np.ndarray, np.ndarray] | None = None
                                 ) -> tuple[RowBlocks | None, sp.csr_matrix | None, np.ndarray]:
        """The training rows, plus (with `multilingual_views`) each row again with only its multilingual parts,
        plus the `filled` rows (`_filled_rows`, multilingual parts only); the dense rows as `RowBlocks` (either
        view's zeros are not stored)."""
        views = [int(i) for i in self.config.get("multilingual_views") or []]
        dims = [int(d) for d in self.config.get("part_dimensions") or []]
        if dense is None:
            return None, sparse, y
        if not views:
            return RowBlocks.of(dense), sparse, y
        if sum(dims) != dense.shape[1] or any(not 0 <= i < len(dims) for i in views):
            raise ValueError(f"multilingual_views {views} do not fit part_dimensions {dims} "
                             f"({dense.shape[1]} dense features)")
        keep = self._view_columns(dense.shape[1])
        columns = np.arange(dense.shape[1])
        # routed: the English-only parts with the TF-IDF blocks; the multilingual parts apart
        first = columns[~keep] if self.config.get("view_mode") == "routed" else columns
        # Not rescaled: a message in another language carries its multilingual parts at this same scale.
        parts = [(0, first, dense[:, first]), (len(dense), columns[keep], dense[:, keep])]
        extra_rows, extra_y = filled if filled is not None else (np.zeros((0, int(keep.sum()))), y[:0])
        if len(extra_rows):
            parts.append((2 * len(dense), columns[keep], extra_rows))
        n_rows = 2 * len(dense) + len(extra_rows)
        blocks = RowBlocks(n_rows, dense.shape[1], parts)
        if sparse is not None:
            sparse = sp.vstack([sparse, sp.csr_matrix((n_rows - sparse.shape[0], sparse.shape[1]),
                                                      dtype=sparse.dtype)], format="csr")
        return blocks, sparse, np.concatenate([y, y, extra_y])

    def _blocks_t(self, d_dense: int) -> tuple[np.ndarray, np.ndarray]:
        """Contiguous transposed coefficient blocks (dense part, sparse part), made once: a per-call copy of a
        (features × intents) slice costs more than the whole prediction."""
        cached = getattr(self, "_coef_t", None)
        if cached is None or cached[0] != d_dense:
            # float64 like the features: a mixed-dtype product would convert the whole matrix on every call
            cached = (d_dense, np.ascontiguousarray(self.coef[:, :d_dense].T, dtype=np.float64),
                      np.ascontiguousarray(self.coef[:, d_dense:].T, dtype=np.float64))
            self._coef_t = cached
        return cached[1], cached[2]

    def decision(self, embeddings: np.ndarray | None, texts: Sequence[str],
                 languages: Sequence[str | None] | None = None) -> np.ndarray:
        """Logits (len(texts), n_classes): softmax of a row gives the intents' probabilities.

        The TF-IDF blocks are computed per text straight from the n-grams (the same numbers as
        `features`, tested): a parse is one message, and scipy's sparse-matrix bookkeeping cost more than
        the arithmetic (about 2 ms of a 3 ms prediction).

        `languages` (the language each message is in, or None): a message in a language some intents have no
        example in gets, for those intents, the probabilities of its multilingual reading, and the other intents
        share the rest as the full reading orders them (DEFAULTS, ``fill_languages``); such rows come back as
        log-probabilities.
        """
        unseen = [self.unseen_language(text) for text in texts]
        logits = self._logits(embeddings, texts, unseen)
        lacking = self._lacking(languages, len(texts))
        rows = [r for r in range(len(texts)) if lacking[r] is not None and not unseen[r]]
        if not rows or embeddings is None:
            return logits
        embeddings = np.asarray(embeddings)
        views = self._logits(embeddings[rows], [texts[r] for r in rows], [True] * len(rows))
        multilingual = self._view_columns(embeddings.shape[1])
        for view, r in zip(views, rows):
            if not np.any(embeddings[r, multilingual]):  # routed English message: no multilingual part
                continue
            logits[r] = _fused(logits[r], view, lacking[r])
        return logits

    def _lacking(self, languages: Sequence[str | None] | None, n: int) -> list[np.ndarray | None]:
        """Per message, the mask of intents with no example in its language (None: every intent has some, or
        unknown)."""
        if languages is None or self.intent_languages is None or not self.config.get("fill_languages"):
            return [None] * n
        out: list[np.ndarray | None] = []
        for language in languages:
            code = language_code(language)
            mask = None if code is None else np.array([code not in self.intent_languages.get(c, ()) for c in
                                                       self.classes])
            out.append(mask if mask is not None and mask.any() else None)
        return out

    def _logits(self, embeddings: np.ndarray | None, texts: Sequence[str], as_view: Sequence[bool]) -> np.ndarray:
        """The linear scores; rows with `as_view` read like the multilingual view rows they were trained on (no
        TF-IDF, and in the "joint" mode no English-only part)."""
        d_dense = 0 if embeddings is None or embeddings.shape[1] == 0 else embeddings.shape[1]
        w_dense, w_sparse = self._blocks_t(d_dense)
        logits = np.zeros((len(texts), len(self.classes)), dtype=np.float64) + self.intercept
        if d_dense:
            dense = np.asarray(embeddings, dtype=np.float64) * float(self.config["dense_weight"])
            english_only = self._english_only_columns(d_dense)
            if english_only is not None and any(as_view):
                dense = dense.copy()
                dense[np.ix_(np.flatnonzero(as_view), english_only)] = 0.0
            logits += dense @ w_dense
        blocks = self._lean_blocks()
        if blocks:
            for row, text in enumerate(texts):
                if as_view[row]:
                    continue
                for analyze, vocabulary, idf, offset in blocks:
                    counts: dict[int, int] = {}
                    for gram in analyze(text or ""):
                        index = vocabulary.get(gram)
                        if index is not None:
                            counts[index] = counts.get(index, 0) + 1
                    if not counts:
                        continue
                    indices = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
                    values = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
                    values = (1.0 + np.log(values)) * idf[indices]
                    values /= np.sqrt(values @ values)
                    logits[row] += values @ w_sparse[indices + offset]
        return logits

    def unseen_language(self, text: str) -> bool:
        """Whether `text` looks written in a language the training data does not have (see `DEFAULTS`,
        ``unseen_words``): then its TF-IDF n-grams are chance matches, and only the multilingual parts count."""
        threshold = float(self.config.get("unseen_words") or 0.0)
        # Only a model with multilingual views has learnt every intent from its multilingual part alone; without
        # them (`classic`) the lexical block is all it has for a language its encoders do not cover (Romanian).
        if self.known_words is None or threshold <= 0 or not self.config.get("multilingual_views"):
            return False
        words = words_of(text)
        if len(words) < int(self.config.get("unseen_min_words") or 1):
            return False
        if sum(w in self.known_words for w in words) / len(words) >= threshold:
            return False
        char = self.vectorizers.get("char")
        if char is None:
            return True
        analyze = getattr(self, "_char_analyzer", None)
        if analyze is None:
            analyze = self._char_analyzer = char.build_analyzer()
        grams = [g for g in analyze(text or "") if len(g) == 4 and not _CJK.search(g)]
        if not grams:
            return True
        return sum(g in char.vocabulary_ for g in grams) / len(grams) < float(self.config.get("unseen_chars") or 0.0)

    def _english_only_columns(self, d_dense: int) -> np.ndarray | None:
        """The dense columns of the English-only parts, in the "joint" view mode with multilingual views (in the
        "routed" mode the featurizer already embeds such a message by its language's encoder only); else None."""
        views = [int(i) for i in self.config.get("multilingual_views") or []]
        dims = [int(d) for d in self.config.get("part_dimensions") or []]
        if not views or self.config.get("view_mode") == "routed" or sum(dims) != d_dense:
            return None
        return np.flatnonzero(~self._view_columns(d_dense))

    def _lean_blocks(self) -> list[tuple[Any, dict[str, int], np.ndarray, int]]:
        """(analyzer, vocabulary, idf, column offset) per TF-IDF block, made once."""
        cached = getattr(self, "_lean", None)
        if cached is None:
            cached, offset = [], 0
            for kind, _ in self._blocks():
                vec = self.vectorizers[kind]
                cached.append((vec.build_analyzer(), vec.vocabulary_, np.asarray(vec.idf_, dtype=np.float64), offset))
                offset += len(vec.vocabulary_)
            self._lean = cached
        return cached

    def predict_proba(self, embeddings: np.ndarray | None, texts: Sequence[str],
                      languages: Sequence[str | None] | None = None) -> np.ndarray:
        logits = self.decision(embeddings, texts, languages)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    # -- persistence (no pickle) -------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"config": self.config, "classes": self.classes, "vectorizers": {},
                "known_words": None if self.known_words is None else sorted(self.known_words),
                "intent_languages": None if self.intent_languages is None else
                {c: sorted(langs) for c, langs in self.intent_languages.items()}}
        for kind, vec in self.vectorizers.items():
            meta["vectorizers"][kind] = {"vocabulary": {k: int(v) for k, v in vec.vocabulary_.items()}}
            np.save(directory / f"idf_{kind}.npy", vec.idf_.astype(np.float32))
        (directory / "linear_model.json").write_text(json.dumps(meta), encoding="utf-8")
        np.save(directory / "coef.npy", self.coef)
        np.save(directory / "intercept.npy", self.intercept)

    @classmethod
    def load(cls, directory: Path) -> "LinearTextModel":
        meta = json.loads((directory / "linear_model.json").read_text(encoding="utf-8"))
        known = meta.get("known_words")
        languages = meta.get("intent_languages")
        model = cls(config=meta["config"], classes=list(meta["classes"]),
                    known_words=None if known is None else frozenset(known),
                    intent_languages=None if languages is None else
                    {c: frozenset(langs) for c, langs in languages.items()})
        for kind, ngrams in model._blocks():
            vocab = meta["vectorizers"][kind]["vocabulary"]
            vec = _vectorizer(kind, ngrams, model.config, vocabulary=vocab)
            vec._validate_vocabulary()
            vec.idf_ = np.load(directory / f"idf_{kind}.npy")
            model.vectorizers[kind] = vec
        model.coef = np.load(directory / "coef.npy")
        model.intercept = np.load(directory / "intercept.npy")
        return model
