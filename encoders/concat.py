"""Several encoders as one: their vectors side by side, each part scaled by 1/sqrt(n) so rows stay unit length.

Cosine similarity of two such vectors is the mean of the parts' cosine similarities.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from encoders.base import Encoder, identity


def encode_concat(encoders: list[Encoder], texts: list[str]) -> np.ndarray:
    """`texts` encoded by every encoder and concatenated (see the module doc)."""
    parts = [enc.encode(texts) for enc in encoders]
    vectors = parts[0] if len(parts) == 1 else np.hstack(parts) / np.sqrt(len(parts))
    return np.ascontiguousarray(vectors, dtype=np.float32)


class ConcatEncoder:
    """Several encoders as one `Encoder` (see the module doc)."""

    def __init__(self, parts: list[Encoder]) -> None:
        if len(parts) < 2:
            raise ValueError("ConcatEncoder needs at least two encoders")
        self.parts = parts
        self.name = "+".join(part.name for part in parts)
        self.dimension = sum(int(part.dimension) for part in parts)

    @property
    def identity(self) -> dict[str, Any]:
        return {"model": self.name, "dimension": self.dimension, "parts": [identity(p) for p in self.parts]}

    def encode(self, texts: list[str]) -> np.ndarray:
        return encode_concat(self.parts, texts)

    def __repr__(self) -> str:
        return f"ConcatEncoder({self.name!r}, dimension={self.dimension})"
