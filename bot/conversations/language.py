"""The language of a message and of a conversation (issue 7).

`detect(text)` names the language of one customer message, restricted to the supported languages, with a
confidence in [0, 1]; it returns None when the text carries no usable evidence (empty, emoji, digits or order
numbers only, a script none of the supported languages uses, or two scripts in comparable amounts).

The detector is `langidentify` (character n-grams plus a whole-word "topwords" signal, trained on Wikipedia; the
weights ship inside the wheels, nothing is downloaded at run time). Chosen by measurement against lingua, langid,
langdetect, fastText lid.176 and CLD2 on short support messages: `benchmarks/README.md`, "Language identification".
The confidence is langidentify's score gap between the best and the second-best language (0 = a tie).

`ConversationLanguage` keeps the language of a conversation with hysteresis, so that one English word in an
Italian conversation does not switch it:

- it starts from the channel's hint (Telegram `language_code`, the web widget's browser language), or the default;
- the customer's explicit choice ("italiano", "english please", "中文", "în română", or the button payload
  `/set_language{"language": "it"}`) switches at once;
- the first message of a conversation overrides the hint when it is confident and has at least three words
  (a browser language is weak evidence; "hi" or "person please" is weaker still);
- later, it switches only on confident evidence: two consecutive confident messages in the same other language
  with at least four words between them, or one long (eight words or more) very confident message.

Its state is derived from the languages stored on the conversation's last customer messages: a message stores
the language detected for it when the detection was confident, otherwise the conversation's language.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import math
import os
import pickle
import re
import tempfile
import threading
import unicodedata
from importlib import metadata
from pathlib import Path
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from core.languages import base_language

log = logging.getLogger(__name__)

BACKEND_DISTRIBUTION = "langidentify"
DEFAULT_SUPPORTED = ("en", "it", "zh", "ro")
MODELS = ("full", "lite")  # langidentify-full-model (default: best on short texts) or the lite model in langidentify
MAX_DETECT_CHARS = 1000  # the start of a long message is evidence enough
# Languages the "is this an unsupported language?" check can name, beside the supported ones: the most common
# languages of online shoppers in Europe and Asia. Measured with the lite model on
# benchmarks/data/langid_{short,dev}.tsv: with at least UNSUPPORTED_MIN_WORDS words and a gap of
# UNSUPPORTED_MIN_GAP, no supported message (0 of 470) was called unsupported, and 13 of 14 test sentences in
# de/fr/es/pt/ru/ja/nl/pl/tr/ar were.
OTHER_LANGUAGES = ("de", "fr", "es", "pt", "nl", "pl", "tr", "ru", "uk", "ar", "ja", "ko", "el", "he", "hi", "vi",
                   "id", "sv", "da", "cs", "hu")
UNSUPPORTED_MIN_WORDS = 3
UNSUPPORTED_MIN_GAP = 0.1
CACHE_FORMAT = "2"  # the sentinel kept by reference
CACHE_DIR = Path(__file__).resolve().parents[2] / "models" / "langid"  # git-ignored, like the encoder export


def load_model(variant: str, codes: Iterable[str], cache_dir: Path | None = CACHE_DIR) -> Any:
    """langidentify's model for `codes`, from a cache of the parsed model when there is one.

    Parsing the model's n-gram files is pure Python and holds the interpreter lock for 10-15 s (the wide
    model); a hub serving customers meanwhile answered 60 % slower. The parsed model is kept as a pickle
    (written by this process, in the git-ignored models folder, keyed by the packages' versions, the variant
    and the languages), which loads in under a second. The objects are then frozen out of the garbage
    collector's scans: millions of n-gram entries would otherwise make every full collection a pause.
    """
    from langidentify import Language, Model

    codes = list(dict.fromkeys(codes))
    languages = Language.from_comma_separated(",".join(codes))
    path = _cache_path(cache_dir, variant, codes) if cache_dir is not None else None
    model = None
    if path is not None and path.exists():
        try:
            with path.open("rb") as f:
                enabled = gc.isenabled()
                gc.disable()  # a collection per few thousand new objects would triple the load time
                try:
                    model = _Unpickler(f).load()
                finally:
                    if enabled:
                        gc.enable()
        except Exception as exc:  # noqa: BLE001 - a stale or truncated cache: parse again, rewrite it
            log.warning("language model cache %s is unreadable (%s); parsing the model again", path.name, exc)
    if model is None:
        model = Model.load_variant(variant, languages)
        if path is not None:
            _write_cache(path, model)
    gc.freeze()
    return model


class _Pickler(pickle.Pickler):
    """The model marks skip-words with the loader's `SKIP` sentinel, compared by identity: it is written as a
    reference and read back as the same object, not as a copy that no lookup would recognise."""

    def persistent_id(self, obj: Any) -> str | None:
        from langidentify.model_loader import SKIP

        return "langidentify.SKIP" if obj is SKIP else None


class _Unpickler(pickle.Unpickler):  # noqa: S301 - reads only the cache this program wrote in its models folder
    def persistent_load(self, pid: Any) -> Any:
        if pid == "langidentify.SKIP":
            from langidentify.model_loader import SKIP

            return SKIP
        raise pickle.UnpicklingError(f"unknown reference {pid!r} in the language model cache")


def _cache_path(cache_dir: Path, variant: str, codes: list[str]) -> Path:
    versions = []
    for dist in ("langidentify", "langidentify-full-model"):
        try:
            versions.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{dist}=none")
    key = hashlib.sha256("|".join([*versions, CACHE_FORMAT, variant, *codes]).encode()).hexdigest()[:16]
    return cache_dir / f"{variant}-{len(codes)}-{key}.pickle"


def _write_cache(path: Path, model: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            _Pickler(f, protocol=pickle.HIGHEST_PROTOCOL).dump(model)
        os.replace(tmp, path)  # several processes may write it at once: the last complete file wins
    except OSError as exc:
        log.warning("could not cache the language model in %s (%s); the next start parses it again", path, exc)

_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
_HAN_RE = re.compile(f"[{_HAN}]")
_NOISE_RE = re.compile(
    r"https?://\S+|www\.\S+|\S+@\S+\.\S+|[@#]\w+"  # links, e-mail addresses, handles and hashtags
    r"|[^\s" + _HAN + r"]*\d[^\s" + _HAN + r"]*"  # tokens with digits: order numbers, prices, phone numbers
)
_SET_LANGUAGE_RE = re.compile(r"^\s*/set_language\s*(\{.*\})\s*$", re.S)


class Detection(NamedTuple):
    """A message's language and how sure the detector is (0 = a tie with another language, 1 = certain)."""

    language: str
    confidence: float


def words(text: str) -> int:
    """How many words a message has; Chinese has no spaces, so two Han characters count as one word."""
    han = len(_HAN_RE.findall(text))
    latin = len([t for t in _HAN_RE.sub(" ", text).split() if any(ch.isalpha() for ch in t)])
    return latin + math.ceil(han / 2)


def _without_noise(text: str) -> str:
    """The start of `text` without links, addresses, handles and tokens with digits, whitespace collapsed."""
    return " ".join(_NOISE_RE.sub(" ", text[:MAX_DETECT_CHARS]).split())


def _scripts(text: str) -> dict[str, float]:
    """Evidence per script, in words: Han characters count two to a word, other scripts by whitespace tokens."""
    units: dict[str, float] = {}
    han = len(_HAN_RE.findall(text))
    if han:
        units["han"] = math.ceil(han / 2)
    for token in _HAN_RE.sub(" ", text).split():
        letters = [ch for ch in token if ch.isalpha()]
        if not letters:
            continue
        names = [unicodedata.name(ch, "") for ch in letters]
        script = "latin" if sum(n.startswith("LATIN") for n in names) * 2 >= len(names) else "other"
        units[script] = units.get(script, 0) + 1
    return units


class LanguageDetector:
    """`langidentify` restricted to the supported languages. Thread-safe (one detector object per thread)."""

    def __init__(self, supported: Iterable[str] = DEFAULT_SUPPORTED, model: str = "full",
                 cache_dir: Path | None = CACHE_DIR) -> None:
        self.supported = tuple(dict.fromkeys(base_language(s) for s in supported if base_language(s)))
        if not self.supported:
            raise ValueError("SUPPORTED_LANGUAGES is empty")
        if model not in MODELS:
            raise ValueError(f"LANGUAGE_DETECTOR_MODEL must be one of {', '.join(MODELS)}, got {model!r}")
        self.model_name = model
        self.cache_dir = cache_dir
        self._model: Any = None
        self._wide_model: Any = None
        self._wide_loading = False
        self._load_lock = threading.Lock()
        self._local = threading.local()

    def _load(self) -> Any:
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    from langidentify import Language

                    try:
                        Language.from_comma_separated(",".join(self.supported))
                    except Exception as exc:
                        raise ValueError(f"SUPPORTED_LANGUAGES has a language the detector does not know: {exc}") from exc
                    try:
                        self._model = load_model(self.model_name, self.supported, self.cache_dir)
                    except Exception as exc:  # the full model's package is missing: degrade, loudly
                        if self.model_name == "lite":
                            raise
                        log.warning("language detector: the %s model is unavailable (%s); using the lite model",
                                    self.model_name, exc)
                        self.model_name = "lite"
                        self._model = load_model("lite", self.supported, self.cache_dir)
        return self._model

    def ensure_loaded(self) -> None:
        """Load the main model now if it is not yet (seconds, once): call from a worker thread."""
        self._load()

    def ensure_wide_loaded(self) -> None:
        """Load the unsupported-language check's model now, in this thread (a set-up step caches it)."""
        if self._wide_model is None:
            self._load_wide_model()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def wide_loaded(self) -> bool:
        return self._wide_model is not None

    def _wide_detector(self) -> Any:
        """A detector over the supported and OTHER_LANGUAGES, or None while its model is still loading: the
        unsupported-language check never holds up a message (the model takes seconds to load)."""
        det = getattr(self._local, "wide", None)
        if det is not None:
            return det
        if self._wide_model is None:
            self.load_wide_model_in_background()
            return None
        from langidentify import Detector

        det = self._local.wide = Detector(self._wide_model)
        return det

    def load_wide_model_in_background(self) -> None:
        with self._load_lock:
            if self._wide_loading:
                return
            self._wide_loading = True
        threading.Thread(target=self._load_wide_model, name="language-model-wide", daemon=True).start()

    def _load_wide_model(self) -> None:
        try:
            # the lite model: a quarter of the full one's memory and load time, and as good for this check
            self._wide_model = load_model("lite", self.supported + OTHER_LANGUAGES, self.cache_dir)
        except Exception:  # noqa: BLE001 - the check is a courtesy; without it messages go to the bot as before
            log.exception("language detector: the model for the unsupported-language check failed to load")

    def unsupported(self, text: object) -> str | None:
        """The language of `text` when it is confidently one the bot does not support (e.g. "de"), else None.

        Short messages (fewer than three words) never count: "ok", "grazie mille" or a product name are not
        evidence enough to tell a customer the bot cannot understand them.
        """
        if not isinstance(text, str) or words(text) < UNSUPPORTED_MIN_WORDS:
            return None
        clean = _without_noise(text)
        if words(clean) < UNSUPPORTED_MIN_WORDS:
            return None
        det = self._wide_detector()
        if det is None:
            return None
        found = det.detect(clean)
        code = base_language(getattr(found, "iso_code", "") or "")
        gap = float(getattr(det.results, "gap", 0.0) or 0.0)
        if not code or code in self.supported or gap < UNSUPPORTED_MIN_GAP:
            return None
        return code

    def warm_up(self) -> None:
        """Load the models now (they take seconds); meant for a background thread at start-up."""
        try:
            self.detect("warm up")
        except Exception:
            log.exception("language detector failed to load")
        self.load_wide_model_in_background()

    def _detector(self) -> Any:
        det = getattr(self._local, "detector", None)
        if det is None:
            from langidentify import Detector

            det = self._local.detector = Detector(self._load())
        return det

    def detect(self, text: object) -> Detection | None:
        if not isinstance(text, str):
            return None
        clean = _without_noise(text)
        if sum(ch.isalpha() for ch in clean) < 2 and not _HAN_RE.search(clean):
            return None  # empty, emoji, digits, punctuation, an order number, a single Latin letter
        units = _scripts(clean)
        total = sum(units.values())
        if not total:
            return None
        main = max(units, key=units.__getitem__)
        if units[main] / total < 2 / 3:
            return None  # mixed scripts in comparable amounts: no single language to name
        if main == "other" or (main == "han" and "zh" not in self.supported):
            return None  # a script none of the supported languages is written in (Cyrillic, Arabic, kana…)
        if main == "latin" and not set(self.supported) - {"zh"}:
            return None
        det = self._detector()
        found = det.detect(clean)
        code = base_language(getattr(found, "iso_code", "") or "")
        if code not in self.supported:
            return None
        gap = float(getattr(det.results, "gap", 0.0) or 0.0)
        return Detection(code, round(min(1.0, max(0.0, gap)), 4))


# -- explicit choices -----------------------------------------------------------------------------------------

_NAMES: dict[str, tuple[str, ...]] = {
    "en": ("english", "inglese", "engleza", "engleză", "英文", "英语", "英語"),
    "it": ("italian", "italiano", "italiana", "italiană", "意大利语", "意大利文", "意大利語"),
    "zh": ("chinese", "mandarin", "cinese", "chineza", "chineză", "中文", "汉语", "漢語", "普通话", "华语", "國語", "国语"),
    "ro": ("romanian", "română", "romana", "româna", "romînă", "rumeno", "romeno", "罗马尼亚语", "羅馬尼亞語"),
}
_NAME_TO_LANG = {name: lang for lang, names in _NAMES.items() for name in names}
_FILLERS = frozenset(
    # en
    "please pls plz in speak talk write switch to language use can could we you i do lets let's us the answer "
    "reply only thanks ok "
    # it
    "per favore piacere parla parli parlate parlare scrivi scrivete scrivere in lingua posso possiamo puoi può "
    "si si' in grazie ok "
    # ro
    "vă va rog te în in limba vorbiți vorbiti vorbești vorbesti vorbim scrie scrieți scrieti se poate putem "
    "puteți puteti mersi mulțumesc multumesc".split()
)
_ZH_CHOICE_RE = re.compile(
    r"^(?:请|麻烦)?(?:你|您)?(?:可以|能|能不能)?(?:用|说|讲|换成|切换到|改成|改用)?"
    r"(中文|汉语|漢語|普通话|华语|英文|英语|英語|意大利语|意大利文|罗马尼亚语)"
    r"(?:吗|吧|好吗|可以吗|谢谢|回复|交流|沟通|聊)?$"
)


def explicit_choice(text: str | None, payload: object = None, supported: Sequence[str] = DEFAULT_SUPPORTED) -> str | None:
    """The language the customer asked for, if this message is such a request; None otherwise."""
    if isinstance(payload, str):
        m = _SET_LANGUAGE_RE.match(payload)
        if m:
            try:
                data = json.loads(m.group(1))
            except ValueError:
                data = None
            lang = base_language(data.get("language")) if isinstance(data, dict) and isinstance(data.get("language"), str) else ""
            return lang if lang in supported else None
    if not isinstance(text, str) or len(text) > 60:
        return None
    lowered = text.strip().lower()
    compact = re.sub(r"[\s\W_]+", "", lowered)
    m = _ZH_CHOICE_RE.match(compact)
    if m:
        lang = _NAME_TO_LANG.get(m.group(1))
        return lang if lang in supported else None
    tokens = [t for t in re.split(r"[\s,.!?;:¿¡()\"“”«»。！？，、]+", lowered) if t]
    if not tokens or len(tokens) > 6:
        return None
    names = [t for t in tokens if t in _NAME_TO_LANG]
    if len(names) != 1 or any(t not in _FILLERS and t not in _NAME_TO_LANG for t in tokens):
        return None
    lang = _NAME_TO_LANG[names[0]]
    return lang if lang in supported else None




# -- the conversation's language ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LanguagePolicy:
    """When a conversation changes language. Set by hand on the development set benchmarks/data/langid_dev.tsv;
    `bench_langid.py` simulates them on the held-out set (benchmarks/README.md, "Language identification")."""

    min_confidence: float = 0.1  # below this a detection is not evidence (langidentify's gap; 0.1 ≈ 99 % right)
    switch_after: int = 2  # consecutive confident messages in another language…
    min_run_words: int = 4  # …with at least this many words together
    long_message_words: int = 8  # or one message this long…
    long_message_confidence: float = 0.2  # …detected at least this confidently
    first_message_words: int = 3  # the first message overrides the channel hint from this many words
    first_message_confidence: float = 0.2


@dataclass(frozen=True)
class LanguageDecision:
    language: str  # the conversation's language after this message
    message_language: str  # what to store on the message
    detection: Detection | None
    switched: bool = False
    reason: str | None = None  # explicit | first_message | run | long_message


def seed_language(hint: str | None, default: str, supported: Sequence[str] = DEFAULT_SUPPORTED) -> str:
    """A new conversation's language: the channel's hint when it is supported, otherwise the default."""
    lang = base_language(hint)
    if lang in supported:
        return lang
    default_lang = base_language(default)
    return default_lang if default_lang in supported or not supported else supported[0]


class ConversationLanguage:
    """A conversation's language with hysteresis. `history`: (stored language, text) of the earlier customer
    messages, oldest first (only the last few matter)."""

    def __init__(
        self,
        current: str,
        *,
        detector: LanguageDetector,
        history: Iterable[tuple[str | None, str]] = (),
        policy: LanguagePolicy | None = None,
    ) -> None:
        self.current = base_language(current) or "en"
        self.detector = detector
        self.policy = policy or LanguagePolicy()
        self.history: list[tuple[str | None, str]] = list(history)[-20:]

    @classmethod
    def seeded(cls, hint: str | None, default: str, *, detector: LanguageDetector,
               policy: LanguagePolicy | None = None) -> "ConversationLanguage":
        return cls(seed_language(hint, default, detector.supported), detector=detector, policy=policy)

    def decide(self, text: str, payload: object = None, detection: Detection | None = None) -> LanguageDecision:
        """What this message does to the conversation's language (nothing is changed)."""
        p = self.policy
        chosen = explicit_choice(text, payload, self.detector.supported)
        if chosen is not None:
            return LanguageDecision(chosen, chosen, Detection(chosen, 1.0), chosen != self.current, "explicit")
        if detection is None:
            try:
                detection = self.detector.detect(text)
            except Exception:  # detection is a hint, never a reason to lose a message
                log.exception("language detection failed")
                detection = None
        if detection is None or detection.confidence < p.min_confidence:
            return LanguageDecision(self.current, self.current, detection)
        lang = detection.language
        if lang == self.current:
            return LanguageDecision(self.current, lang, detection)
        n_words = words(text)
        if not self.history and n_words >= p.first_message_words and detection.confidence >= p.first_message_confidence:
            return LanguageDecision(lang, lang, detection, True, "first_message")
        if n_words >= p.long_message_words and detection.confidence >= p.long_message_confidence:
            return LanguageDecision(lang, lang, detection, True, "long_message")
        run, run_words = 1, n_words
        for stored, earlier in reversed(self.history):
            if base_language(stored) != lang:
                break
            run += 1
            run_words += words(earlier)
        if run >= p.switch_after and run_words >= p.min_run_words:
            return LanguageDecision(lang, lang, detection, True, "run")
        return LanguageDecision(self.current, lang, detection)

    def observe(self, text: str, payload: object = None) -> LanguageDecision:
        """Decide, then remember the message and the new language."""
        decision = self.decide(text, payload)
        self.history = (self.history + [(decision.message_language, text)])[-20:]
        self.current = decision.language
        return decision


_shared: dict[tuple[tuple[str, ...], str], LanguageDetector] = {}
_shared_lock = threading.Lock()


def shared_detector(supported: Iterable[str] = DEFAULT_SUPPORTED, model: str = "full") -> LanguageDetector:
    """One detector per (languages, model) per process: the model takes seconds and ~150 MB to load."""
    key = (tuple(supported), model)
    with _shared_lock:
        det = _shared.get(key)
        if det is None:
            det = _shared[key] = LanguageDetector(key[0], model)
        return det



def detect(text: object, supported: Iterable[str] | None = None) -> Detection | None:
    """The language of one message among `supported` (default en/it/zh/ro), or None: see `LanguageDetector`."""
    return shared_detector(tuple(supported) if supported is not None else DEFAULT_SUPPORTED).detect(text)


def main() -> None:
    """`python -m bot.conversations.language`: parse and cache the detector's models now (the set-up steps run
    it, so the hub's first start does not spend its first seconds parsing them)."""
    from core.settings import HubSettings

    settings = HubSettings.from_env()
    detector = LanguageDetector(settings.supported_languages, settings.language_detector_model)
    detector.ensure_loaded()
    detector.ensure_wide_loaded()
    print(f"[supportbot] language models cached in {CACHE_DIR}", flush=True)


if __name__ == "__main__":
    main()
