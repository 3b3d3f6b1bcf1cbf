"""What a Rasa message says about its language: a training example's (its intent's metadata, which
`nlu_components.training` adds) and a parsed message's (the hub's ``metadata.language``). Read by the featurizer
and the classifier alike."""

from __future__ import annotations

from typing import Any, Optional


def example_language(example: Any) -> Optional[str]:
    """A training example's language: its intent's (or its own) ``metadata: {language: …}``, which
    `nlu_components.training.train` adds from the data file's name (nlu_it.yml: it); None when not given."""
    metadata = example.get("metadata")
    if not isinstance(metadata, dict):
        return None
    for key in ("example", "intent"):
        own = metadata.get(key)
        if isinstance(own, dict) and isinstance(own.get("language"), str):
            return own["language"]
    return None


def message_language(message: Any) -> Optional[str]:
    """A parsed message's language as the hub sends it (``metadata.language``), else None."""
    metadata = message.get("metadata")
    language = metadata.get("language") if isinstance(metadata, dict) else None
    return language if isinstance(language, str) else None
