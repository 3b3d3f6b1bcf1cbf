"""`LinearIntentClassifier`: Rasa 3.6 intent classifier, logistic regression over
[dense sentence features ⊕ word TF-IDF ⊕ char TF-IDF] (see `nlu_components.linear_model`).

    - name: nlu_components.classifier.LinearIntentClassifier
      C: 20
      word_ngrams: [1, 2]
      char_ngrams: [2, 5]
      ranking_length: 10
      multilingual_views: true   # also learn each intent from the multilingual encoders' parts alone
      fill_languages: true       # with views: an intent that lacks a language the others have still reaches it

Dense sentence features come from the featurizers before it (e.g. `SentenceEmbeddingFeaturizer`); sparse
features of other featurizers are not used (the TF-IDF blocks are built here from the message text).
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text, Type

import numpy as np

from nlu_components.linear_model import DEFAULTS, LinearTextModel, views_config
from nlu_components.message_languages import example_language, message_language
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.featurizers.featurizer import Featurizer
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LinearIntentClassifier(IntentClassifier, GraphComponent):
    """Calibrated-by-threshold linear intent classifier over sentence embeddings and TF-IDF."""

    @classmethod
    def required_components(cls) -> List[Type]:
        return [Featurizer]

    @staticmethod
    def required_packages() -> List[Text]:
        return ["sklearn", "scipy"]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**DEFAULTS, "ranking_length": 10, "multilingual_views": False}

    def __init__(self, config: Dict[Text, Any], name: Text, model_storage: ModelStorage, resource: Resource,
                 model: Optional[LinearTextModel] = None) -> None:
        self.name = name
        self.component_config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.model = model

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "LinearIntentClassifier":
        return cls(config, execution_context.node_name, model_storage, resource)

    @staticmethod
    def _dense(messages: List[Message]) -> Optional[np.ndarray]:
        rows = []
        for m in messages:
            _, sentence = m.get_dense_features(TEXT)
            rows.append(None if sentence is None else np.asarray(sentence.features, dtype=np.float32).reshape(-1))
        if all(r is None for r in rows):
            return None
        width = max(r.shape[0] for r in rows if r is not None)
        return np.stack([r if r is not None else np.zeros(width, dtype=np.float32) for r in rows])

    def train(self, training_data: TrainingData) -> Resource:
        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        if not examples:
            logger.debug("LinearIntentClassifier: no intent examples, nothing to train")
            return self._resource
        model_cfg = {k: v for k, v in self.component_config.items() if k in DEFAULTS}
        model_cfg.update(self._views(examples))  # after: the option's `true` becomes the parts' indices
        languages = [example_language(e) for e in examples]
        self.model = LinearTextModel(config=model_cfg).fit(
            self._dense(examples), [e.get(TEXT) for e in examples], [e.get(INTENT) for e in examples],
            languages if any(languages) else None)
        logger.info("LinearIntentClassifier: %d examples, %d intents, trained in %.1f s",
                    len(examples), len(self.model.classes), self.model.fit_seconds)
        with self._model_storage.write_to(self._resource) as directory:
            self.model.save(directory)
        return self._resource

    def _views(self, examples: List[Message]) -> Dict[str, Any]:
        """`multilingual_views: true` → the parts of the sentence feature that are multilingual, from the layout
        the featurizer declares (views need an English-only part beside a multilingual one to mean anything);
        routed views when the featurizer embeds parsed messages by their language's encoder only."""
        from nlu_components.featurizer import PARTS_ATTRIBUTE, ROUTED_ATTRIBUTE

        layout = next((m.get(PARTS_ATTRIBUTE) for m in examples if m.get(PARTS_ATTRIBUTE)), None) or []
        routed = any(m.get(ROUTED_ATTRIBUTE) for m in examples)
        return views_config(self.component_config.get("multilingual_views"), layout, routed=routed)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "LinearIntentClassifier":
        model = None
        try:
            with model_storage.read_from(resource) as directory:
                model = LinearTextModel.load(directory)
        except (ValueError, OSError) as exc:
            logger.debug("LinearIntentClassifier: no trained model in %s (%s)", resource.name, exc)
        return cls(config, execution_context.node_name, model_storage, resource, model)

    def process(self, messages: List[Message]) -> List[Message]:
        if self.model is None or not messages:
            for m in messages:
                m.set(INTENT, {"name": None, "confidence": 0.0}, add_to_output=True)
                m.set("intent_ranking", [], add_to_output=True)
            return messages
        probas = self.model.predict_proba(self._dense(messages), [m.get(TEXT) or "" for m in messages],
                                          [message_language(m) for m in messages])
        n = int(self.component_config.get("ranking_length") or 0)
        for message, p in zip(messages, probas):
            order = np.argsort(-p)
            ranking = [{"name": self.model.classes[i], "confidence": float(p[i])} for i in order]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set("intent_ranking", ranking[:n] if n > 0 else ranking, add_to_output=True)
        return messages
