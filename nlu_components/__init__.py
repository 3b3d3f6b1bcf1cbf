"""Custom Rasa 3.6 NLU components and their tooling.

- (the sentence encoders themselves live in the shared `encoders` package)
- `export_onnx` exports a sentence-transformers model to ONNX (run in the Python 3.11 runtime; idempotent).
- `featurizer`  `SentenceEmbeddingFeaturizer`: Rasa dense featurizer over the ONNX encoder.
- `classifier`  `LinearIntentClassifier`: logistic regression over [sentence embedding ⊕ TF-IDF].
- `validate`    checks NLU training data before training (files, encodings, duplicates, tiny intents).
- `metrics`     the FallbackClassifier rule on validation predictions: trade-off curve, threshold choice.
- `calibrate`   picks the FallbackClassifier threshold from validation data and writes it into config.yml.
- `evaluate`    held-out / cross-validation report on the project's own nlu_data/ (`make test-nlu`).
- `hub_channel` `HubRestInput`: Rasa's REST channel that also returns the parsed intent (credentials.yml).

Nothing here imports Rasa at package import time, so the hub runtime (Python 3.11) can use the tooling.
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


