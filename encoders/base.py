"""The `Encoder` interface every backend implements, its error, and the identity indexes and models record."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np


@runtime_checkable
class Encoder(Protocol):
    """What the index builder, the search and the NLU featurizer need from an embedding model."""

    name: str
    """Identifies the model; stored in index manifests and trained models, compared at load time."""
    dimension: int
    """Length of each vector."""

    def encode(self, texts: list[str]) -> np.ndarray:
        """Encode `texts` into a float32 array of shape (len(texts), dimension), each row L2-normalised.

        `texts` are queries (what a customer types, or a question's phrasings); an encoder that embeds answer
        text differently also has ``encode_passages(texts)`` (call it through `encode_passages`)."""
        ...


class EncoderError(RuntimeError):
    """The embedding model cannot be loaded; the message says what to do."""


def identity(encoder: Any) -> dict[str, Any]:
    """What an index or a trained model records about `encoder` (its own `identity` when it has one)."""
    own = getattr(encoder, "identity", None)
    return dict(own) if isinstance(own, dict) else {"model": encoder.name, "dimension": int(encoder.dimension)}


def encode_passages(encoder: Any, texts: list[str]) -> np.ndarray:
    """`texts` as passages (answer text) for encoders that distinguish them from queries (E5), else `encode`."""
    own = getattr(encoder, "encode_passages", None)
    return own(texts) if callable(own) else encoder.encode(texts)
