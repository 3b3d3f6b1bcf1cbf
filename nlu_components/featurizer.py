"""`SentenceEmbeddingFeaturizer`: a Rasa 3.6 dense featurizer over an ONNX-exported sentence-transformers model.

    - name: nlu_components.featurizer.SentenceEmbeddingFeaturizer
      model: all-MiniLM-L6-v2      # the sentence-transformers model; keep it equal to the KB's EMBEDDING_MODEL
      # encoder_dir: models/encoder/all-MiniLM-L6-v2   (default: derived from `model`)
      batch_size: 32

Adds one dense *sentence* feature (the L2-normalised sentence embedding, same vectors as sentence-transformers)
to the `text` of every message; no sequence features. Runs onnxruntime on one thread; no torch, no network.
The encoder's identity (model, dimension, pooling, hashes) is stored in the trained model and checked when
the model is loaded: a model trained with another encoder is refused with a message that says what to do.
A model other than the knowledge base's (`EMBEDDING_MODEL`) is reported as a warning.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Text, Type

import numpy as np

from nlu_components import DEFAULT_MODEL, PROJECT_ROOT
from nlu_components.encoder import (EncoderNotFound, OnnxSentenceEncoder, check_kb_model, encoder_dir, model_slug,
                                    read_manifest)
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
_ENCODERS: Dict[str, OnnxSentenceEncoder] = {}  # one ONNX session per folder and process


class EncoderMismatch(RasaException):
    """The trained model was built with a different sentence encoder than the one installed."""


def resolve_encoder_dir(config: Dict[Text, Any]) -> Path:
    configured = config.get("encoder_dir")
    if configured:
        path = Path(str(configured)).expanduser()
        return path if path.is_absolute() else PROJECT_ROOT / path
    return encoder_dir(config.get("model") or DEFAULT_MODEL)


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
                "batch_size": 32}

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        if int(config.get("batch_size") or 0) < 1:
            raise RasaException("SentenceEmbeddingFeaturizer: `batch_size` must be a positive integer")

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        """Rasa's training cache must notice a re-exported encoder even when config.yml did not change."""
        try:
            manifest = read_manifest(resolve_encoder_dir({**cls.get_default_config(), **config}))
        except EncoderNotFound:
            return None
        return f"{manifest.get('source_sha256')}:{manifest.get('onnx_sha256')}"

    def __init__(self, config: Dict[Text, Any], name: Text, model_storage: ModelStorage,
                 resource: Resource) -> None:
        super().__init__(name, config)
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.encoder = get_encoder(resolve_encoder_dir(self._config), int(self._config["batch_size"]))
        configured = self._config.get("model") or DEFAULT_MODEL
        if model_slug(configured) != model_slug(self.encoder.name):
            raise EncoderMismatch(f"SentenceEmbeddingFeaturizer: config.yml names the model {configured!r} but "
                                  f"{self.encoder.directory} holds {self.encoder.name!r}. Run `make encoder`.")
        warning = check_kb_model(self.encoder.name)
        if warning:
            raise_warning(warning)

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "SentenceEmbeddingFeaturizer":
        return cls(config, execution_context.node_name, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        """Nothing to learn: records which encoder the model is trained with."""
        with self._model_storage.write_to(self._resource) as directory:
            (directory / IDENTITY_FILE).write_text(json.dumps(self.encoder.identity, indent=2), encoding="utf-8")
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
            now = component.encoder.identity
            different = [k for k in ("model", "dimension", "pooling", "max_seq_length", "source_sha256")
                         if trained.get(k) != now.get(k)]
            if different:
                raise EncoderMismatch(
                    f"This Rasa model was trained with the sentence encoder {trained.get('model')!r} "
                    f"({trained.get('dimension')} dimensions) but the installed encoder in "
                    f"{component.encoder.directory} is {now.get('model')!r} ({now.get('dimension')} dimensions; "
                    f"differs in {', '.join(different)}). Retrain the model (`make train`).")
            if trained.get("onnx_sha256") != now.get("onnx_sha256"):
                logger.info("the ONNX file was re-exported from the same source model since training")
        return component

    def _featurize(self, messages: List[Message]) -> None:
        todo = [m for m in messages if isinstance(m.get(TEXT), str)]
        if not todo:
            return
        vectors = self.encoder.encode([m.get(TEXT) for m in todo])
        for message, vector in zip(todo, vectors):
            self.add_features_to_message(sequence=None, sentence=vector[np.newaxis, :].astype(np.float32),
                                         attribute=TEXT, message=message)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._featurize(training_data.training_examples)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        self._featurize(messages)
        return messages
