"""Language-neutral vectors from a multilingual encoder: each vector minus its language's mean, per part.

A multilingual encoder's vectors carry a direction per language, so a Romanian question sits nearer to Romanian
text about anything than to the English entry that answers it. Subtracting each language's mean vector, estimated
on a parallel sample (about the same messages in every language, `REFERENCE`), removes that direction (Libovický
et al., 2020, "On the language neutrality of pre-trained multilingual representations"). On the starter content
with multilingual-e5-small, Romanian questions against English-only entries went from 0.771 to 0.857 top-1,
Chinese from 0.914 to 0.943 and English questions from 0.901 to 0.915, with the translations present unchanged
(benchmarks/README.md). USE moved little; only E5 parts are centred (`is_centred`).

Both sides are centred by their own language: an index's rows by their entry's language, a query by the
customer's. A language the sample lacks is centred by the mean of the sample's languages. Within a concatenated
vector (`encoders.concat`) each centred part is scaled back to its share of the row's length, so the row stays
unit length and the part weights (`weigh`) keep their meaning.

`python -m encoders.language_means` works the means out for the encoders the project uses and stores them beside
the ONNX exports (`make encoder` runs it), so that loading a knowledge base does not encode the sample.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from encoders.base import identity
from encoders.specs import ENCODER_ROOT, is_e5

log = logging.getLogger(__name__)

REFERENCE = Path(__file__).resolve().parent / "reference" / "languages.yml"
MEANS_DIR = ENCODER_ROOT / "language-means"


def reference_sentences(path: Path = REFERENCE) -> dict[str, list[str]]:
    """{language code: messages} of the parallel sample."""
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out = {str(lang).lower(): [str(t) for t in texts if str(t).strip()] for lang, texts in data.items()}
    if not out or any(not texts for texts in out.values()):
        raise ValueError(f"{path}: every language needs a list of messages")
    return out


@functools.lru_cache(maxsize=8)
def reference_digest(path: Path = REFERENCE) -> str:
    """The sample's sha256 (read once per process: indexes and models record it, every load compares it)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def is_centred(model_name: str) -> bool:
    """Whether a part is centred: the multilingual encoders whose language direction was measured to mislead (E5)."""
    return is_e5(model_name)


def _means_file(part: Any, digest: str, root: Path) -> Path:
    key = hashlib.sha256(json.dumps([identity(part), digest], sort_keys=True).encode()).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in part.name)
    return root / f"{safe}-{key}.npz"


def part_means(part: Any, *, root: Path = MEANS_DIR, path: Path = REFERENCE, say: Any = None) -> dict[str, np.ndarray]:
    """{language: unit-free mean vector} of `part` on the sample, read from `root` or worked out (and stored there
    when it can be written)."""
    digest = reference_digest(path)
    stored = _means_file(part, digest, root)
    if stored.exists():
        with np.load(stored) as data:
            return {lang: data[lang].astype(np.float32) for lang in data.files}
    sentences = reference_sentences(path)
    total = sum(len(texts) for texts in sentences.values())
    if say:
        say(f"[encoder] language means of {part.name}: encoding {total} reference messages once")
    log.info("working out the language means of %s from %d reference messages", part.name, total)
    means = {lang: np.asarray(part.encode(texts), dtype=np.float32).mean(axis=0) for lang, texts in sentences.items()}
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = stored.with_name(f".{stored.name}.{os.getpid()}.npz")
        np.savez(tmp, **means)
        os.replace(tmp, stored)
    except OSError as exc:  # a read-only models folder: the means are worked out again next time
        log.warning("could not store the language means in %s (%s)", root, exc)
    return means


def centring_key(model_name: str) -> str:
    """What an index built with the encoder named `model_name` records of its centring ("" for none), worked out
    from the name alone (parts joined with "+"), so that a caller can tell a stale index without loading a model."""
    chosen = [i for i, name in enumerate(model_name.split("+")) if is_centred(name)]
    if not chosen:
        return ""
    return f"{reference_digest()[:16]}:parts={','.join(str(i) for i in chosen)}"


class LanguageCentring:
    """Centres the parts of an encoder's vectors that `is_centred` names (see the module doc)."""

    def __init__(self, bounds: Sequence[int], means: dict[int, dict[str, np.ndarray]], key: str) -> None:
        self.bounds = [int(b) for b in bounds]  # column bounds of the parts, [0, d] for a single encoder
        self.means = means  # {part index: {language: mean}}
        self.fallback = {i: np.mean(list(m.values()), axis=0) for i, m in means.items()}
        self.key = key  # `centring_key` of the encoder's name

    def _mean(self, part: int, language: str | None) -> np.ndarray:
        code = (language or "").strip().lower().split("-")[0]
        return self.means[part].get(code, self.fallback[part])

    def apply(self, vectors: np.ndarray, languages: Sequence[str | None],
              parts: Sequence[int] | None = None) -> np.ndarray:
        """`vectors` (rows as the encoder returns them) with each centred part minus the mean of the row's language,
        rescaled to the part's share of a unit row. `parts`: the parts that were computed (`encoders.concat.
        encode_some`); the others are zeros and stay so. None: every part."""
        if len(languages) != len(vectors):
            raise ValueError(f"{len(vectors)} vectors but {len(languages)} languages")
        out = np.array(vectors, dtype=np.float32, copy=True)
        n_parts = len(self.bounds) - 1
        share = 1.0 / np.sqrt(n_parts)
        codes = list(languages)
        for part in self.means:
            if parts is not None and part not in parts:
                continue
            a, b = self.bounds[part], self.bounds[part + 1]
            block = out[:, a:b] / share  # the part's own unit vectors
            shift = np.stack([self._mean(part, code) for code in codes]) if codes else np.zeros((0, b - a))
            block = block - shift
            norms = np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)
            out[:, a:b] = block / norms * share
        return np.ascontiguousarray(out, dtype=np.float32)


def centring(encoder: Any, *, root: Path = MEANS_DIR, say: Any = None) -> LanguageCentring | None:
    """The centring for `encoder`'s vectors, or None when none of its parts is centred."""
    return centring_for(list(getattr(encoder, "parts", None) or [encoder]), root=root, say=say)


def centring_for(parts: Sequence[Any], *, root: Path = MEANS_DIR, say: Any = None) -> LanguageCentring | None:
    """The centring for the vectors of `parts` side by side (`encoders.concat.encode_concat`), or None when none
    of them is centred."""
    chosen = [i for i, part in enumerate(parts) if is_centred(part.name)]
    if not chosen:
        return None
    bounds = np.cumsum([0] + [int(part.dimension) for part in parts]).tolist()
    means = {i: part_means(parts[i], root=root, say=say) for i in chosen}
    return LanguageCentring(bounds, means, centring_key("+".join(part.name for part in parts)))


def centre(centring_: LanguageCentring | None, vectors: np.ndarray, languages: Sequence[str | None]) -> np.ndarray:
    """`centring_.apply(vectors, languages)`, or `vectors` when there is no centring."""
    return vectors if centring_ is None else centring_.apply(vectors, languages)


def main(argv: list[str] | None = None) -> int:
    """Work out and store the language means of the E5 encoder (`make encoder`)."""
    parser = argparse.ArgumentParser(prog="python -m encoders.language_means", description=main.__doc__)
    parser.add_argument("--model", default="multilingual-e5-small", help="an encoder spec (default: %(default)s)")
    args = parser.parse_args(argv)
    from encoders.loading import load_encoder

    encoder = load_encoder(args.model)
    result = centring(encoder, say=lambda message: print(message, file=sys.stderr))
    if result is None:
        print(f"{args.model}: no part is centred", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
