"""A FAQ part-way through translation, with the shipped encoder: an Italian question about an entry that has no
Italian version yet finds the English entry, and is not answered with a translated entry about something else."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from encoders import SHIPPED_MODEL
from kb_index import KnowledgeBase, build_index, load_encoder

CONTENT = Path(__file__).resolve().parents[2] / "kb_index" / "content"

# Written for this test (not the benchmark's queries, kb_index/eval/).
ITALIAN = [("vorrei restituire un paio di scarpe, come si fa?", "start-return"),
           ("quanto costa la consegna a casa mia?", "shipping-costs"),
           ("ho dimenticato la password e non riesco ad accedere", "password-reset"),
           ("il pacco è arrivato con la scatola distrutta e il prodotto rotto", "package-damaged"),
           ("spedite anche in Germania?", "international-shipping"),
           ("dopo il reso in quanti giorni mi tornano i soldi?", "refund-timing"),
           ("mi avete addebitato due volte lo stesso ordine", "double-charge"),
           ("come si usa una carta regalo?", "gift-cards"),
           ("mi serve la fattura per la mia azienda", "invoice-vat"),
           ("dove posso vedere dove si trova il mio pacco?", "track-order"),
           ("posso cambiare il prodotto con un'altra taglia?", "exchanges"),
           ("il codice sconto non funziona", "discount-codes")]


@pytest.fixture(scope="module")
def part_translated(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    """The starter FAQ with Italian versions of every entry except those the questions are about."""
    root = tmp_path_factory.mktemp("part-translated")
    content = root / "content"
    shutil.copytree(CONTENT, content, ignore=shutil.ignore_patterns("it"))
    (content / "it").mkdir()
    asked = {entry for _, entry in ITALIAN}
    for path in sorted((CONTENT / "it").glob("*.yml")):
        entries = [e for e in yaml.safe_load(path.read_text(encoding="utf-8")) if e["id"] not in asked]
        (content / "it" / path.name).write_text(yaml.safe_dump(entries, allow_unicode=True), encoding="utf-8")
    encoder = load_encoder(SHIPPED_MODEL)
    build_index(content, root / "index", encoder, progress=False)
    return KnowledgeBase.load(root / "index", encoder, answer_threshold=0.43, suggest_threshold=0.43)


def test_italian_questions_about_untranslated_entries_are_not_answered_with_another_entry(
        part_translated: KnowledgeBase) -> None:
    decisions = [(part_translated.decide(question, language="it"), entry) for question, entry in ITALIAN]
    wrong = [(d.query, d.hits[0].entry_id) for d, entry in decisions if d.kind == "answer" and d.hits[0].entry_id != entry]
    right = sum(1 for d, entry in decisions if d.kind == "answer" and d.hits[0].entry_id == entry)
    first = sum(part_translated.search(q, k=1, language="it")[0].entry_id == entry for q, entry in ITALIAN)
    assert wrong == []
    # Measured: 9 of 12 first, 8 answered (with MiniLM and USE weighed equally for Italian: 1 first, 6 answered
    # with a translated entry about something else).
    assert first >= 8 and right >= 6, (first, right)
    hit = part_translated.search("come si usa una carta regalo?", k=1, language="it")[0]
    assert hit.language == "en" and hit.entry_id == "gift-cards"  # no Italian version: the English answer


def test_weighing_italian_like_english_brings_the_fault_back(part_translated: KnowledgeBase) -> None:
    """What the weights prevent (so the test above can fail): both encoders counting equally for Italian."""
    encoder = part_translated.encoder
    saved = encoder.weights
    try:
        encoder.weights = {}
        first = sum(part_translated.search(q, k=1, language="it")[0].entry_id == entry for q, entry in ITALIAN)
    finally:
        encoder.weights = saved
    assert first <= 4
