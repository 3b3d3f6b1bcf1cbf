"""Rasa trains on a copy of the NLU data whose intents carry their file's language; the intent classifier reads
it, so that an intent written in English beside translated ones still reaches customers in the other languages."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from nlu_components.training import file_language, tag_languages
from tests.nlu.support import run_in_rasa

ENGLISH = """version: "3.1"
nlu:
- intent: order_status
  examples: |
    - where is my order
    - track my parcel
    - has my package shipped
    - order status please
    - when will my order arrive
    - I am still waiting for my delivery
- intent: refund
  examples: |
    - I want my money back
    - refund please
    - how do I get a refund
    - return this for a refund
    - money back for the broken lamp
    - can you reimburse me
- intent: password
  examples: |
    - I forgot my password
    - reset my password
    - I cannot log in
    - my login does not work
    - change my password
    - locked out of my account
- regex: order_number
  examples: |
    - BC-\\d{6}
"""
# `password` has no Italian examples: a team added it in English only.
ITALIAN = """version: "3.1"
nlu:
- intent: order_status
  examples: |
    - dov'è il mio ordine
    - traccia il mio pacco
    - il mio pacco è stato spedito?
    - stato del mio ordine per favore
    - quando arriva il mio ordine
    - sto ancora aspettando la consegna
- intent: refund
  metadata:
    reviewed: true
  examples: |
    - voglio indietro i miei soldi
    - rimborso per favore
    - come ottengo un rimborso
    - restituisco questo per un rimborso
    - rivoglio i soldi per la lampada rotta
    - potete rimborsarmi
"""


def _data(root: Path) -> Path:
    root.mkdir()
    (root / "nlu.yml").write_text(ENGLISH, encoding="utf-8")
    (root / "nlu_it.yml").write_text(ITALIAN, encoding="utf-8")
    (root / "rules.yml").write_text('version: "3.1"\nrules: []\n', encoding="utf-8")
    return root


def test_every_intent_says_its_files_language_and_nothing_else_changes(tmp_path: Path) -> None:
    data = _data(tmp_path / "data")
    (data / "faq_extra.yml").write_text('version: "3.1"\nnlu:\n- intent: greet\n  metadata:\n    language: ro\n'
                                        '  examples: |\n    - salut\n', encoding="utf-8")
    tagged = tag_languages(data, tmp_path / "tagged")

    assert sorted(p.name for p in tagged.iterdir()) == ["faq_extra.yml", "nlu.yml", "nlu_it.yml", "rules.yml"]
    assert (tagged / "rules.yml").read_text(encoding="utf-8") == (data / "rules.yml").read_text(encoding="utf-8")
    for name, language in (("nlu.yml", "en"), ("nlu_it.yml", "it")):
        before = yaml.safe_load((data / name).read_text(encoding="utf-8"))
        after = yaml.safe_load((tagged / name).read_text(encoding="utf-8"))
        for old, new in zip(before["nlu"], after["nlu"]):
            assert new["examples"] == old["examples"]  # the same examples, in the same block
            if "intent" in old:
                assert new["metadata"] == {**(old.get("metadata") or {}), "language": language}
            else:
                assert "metadata" not in new  # a regex is not an intent
    assert "    - dov'è il mio ordine\n" in (tagged / "nlu_it.yml").read_text(encoding="utf-8")  # still a block
    # a language the intent states wins; a file name without a known language suffix is the default language
    assert yaml.safe_load((tagged / "faq_extra.yml").read_text(encoding="utf-8"))["nlu"][0]["metadata"] == {
        "language": "ro"}
    assert file_language(Path("faq_extra.yml")) == "en" and file_language(Path("nlu_zh.yml")) == "zh"
    assert file_language(Path("nlu.yml"), default_language="it") == "it"
    one = tag_languages(data / "nlu_it.yml", tmp_path / "one")
    assert one == tmp_path / "one" / "nlu_it.yml" and "language: it" in one.read_text(encoding="utf-8")


SCRIPT = r'''
import json, sys, tempfile
from pathlib import Path
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.message import Message
from nlu_components.featurizer import SentenceEmbeddingFeaturizer
from nlu_components.classifier import LinearIntentClassifier, example_language

files = sorted(Path(sys.argv[1]).glob("nlu*.yml"))  # the NLU files (load_data refuses rules)
data = load_data(str(files[0])).merge(*[load_data(str(f)) for f in files[1:]])
storage = LocalModelStorage(Path(tempfile.mkdtemp()))
ctx = ExecutionContext(GraphSchema({}), "test")
tok = WhitespaceTokenizer.create(WhitespaceTokenizer.get_default_config(), storage, Resource("tok"), ctx)
tok.process_training_data(data)
feat = SentenceEmbeddingFeaturizer.create({**SentenceEmbeddingFeaturizer.get_default_config(), "model": "fast"},
                                          storage, Resource("f"), ctx)
feat.train(data)
feat.process_training_data(data)
languages = sorted({(e.get("intent"), example_language(e)) for e in data.intent_examples})
out = {}
for fill in (False, True):
    cfg = {**LinearIntentClassifier.get_default_config(), "C": 20, "multilingual_views": True, "fill_languages": fill}
    LinearIntentClassifier.create(cfg, storage, Resource(f"c{fill}"), ctx).train(data)
    clf = LinearIntentClassifier.load(cfg, storage, Resource(f"c{fill}"), ctx)  # as the server loads it
    msgs = [Message(data={"text": t, "metadata": {"language": lang}}) for t, lang in json.loads(sys.argv[2])]
    tok.process(msgs)
    feat.process(msgs)
    clf.process(msgs)
    out[str(fill).lower()] = [m.get("intent")["name"] for m in msgs]
print(json.dumps({"languages": languages, "out": out}))
'''

CASES = [  # (message, the language the hub sends, the intent)
    ("ho dimenticato la parola d'ordine per accedere", "it", "password"),
    ("nu mă pot autentifica", "ro", "password"),
    ("dov'è il mio pacco?", "it", "order_status"),
    ("voglio un rimborso", "it", "refund"),
    ("I forgot my password", "en", "password"),
]


def test_an_intent_in_english_only_is_understood_beside_translated_ones(tmp_path: Path, encoder_dir: Path) -> None:
    """The real featurizer (`fast`: MiniLM + E5) and classifier, on data read by Rasa's own reader: the English-only
    intent's Italian and Romanian messages are recognised, and the translated intents' are as before. Without
    `fill_languages` the Italian one goes to an intent that has Italian examples (what customers got before)."""
    tagged = tag_languages(_data(tmp_path / "data"), tmp_path / "tagged")
    proc = run_in_rasa(SCRIPT.replace("sys.argv[1]", repr(str(tagged))).replace(
        "sys.argv[2]", repr(json.dumps([[t, lang] for t, lang, _ in CASES]))))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["languages"] == [["order_status", "en"], ["order_status", "it"], ["password", "en"],
                                   ["refund", "en"], ["refund", "it"]]
    assert result["out"]["true"] == [intent for _, _, intent in CASES]
    assert result["out"]["false"][0] != "password"
