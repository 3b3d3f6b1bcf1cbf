"""The editors' report of missing languages (tools/language_report.py) on small, deliberately incomplete content."""

from __future__ import annotations

import textwrap
from pathlib import Path

from core.settings import HubSettings
from tools.language_report import format_report, main, report


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_missing_languages_are_reported_per_intent_response_and_entry(tmp_path: Path) -> None:
    english = "\n".join(f"    - where is my parcel number {n}, it has not arrived" for n in range(12))
    italian = "\n".join(f"    - dov'è finito il mio pacco numero {n}, non è ancora arrivato" for n in range(3))
    write(tmp_path / "nlu" / "nlu.yml", f'version: "3.1"\nnlu:\n- intent: order_status\n  examples: |\n{english}\n'
                                        f"{italian}\n")
    domain = write(tmp_path / "domain.yml", """\
        version: "3.1"
        responses:
          utter_greet:
          - text: "Hi!"
          - condition: [{type: slot, name: language, value: it}]
            text: "Ciao!"
          utter_goodbye:
          - text: "Bye!"
        """)
    write(tmp_path / "kb" / "faq.yml", """\
        - {id: returns, language: en, question: How do I return an item?, answer: Within 30 days.}
        - {id: returns, language: it, question: Come faccio un reso?, answer: Entro 30 giorni.}
        """)
    coverage = report(HubSettings.from_env(), languages=["en", "it"], min_examples=10, data_dir=tmp_path / "nlu",
                      domain=domain, content=tmp_path / "kb")
    assert coverage.intents["order_status"]["en"] == 12 and coverage.intents["order_status"]["it"] == 3
    assert coverage.missing() == {"intents": {"order_status": ["it"]}, "responses": {"utter_goodbye": ["it"]},
                                  "entries": {}}
    text = format_report(coverage)
    assert "utter_goodbye: it" in text and "order_status: it" in text and "entries without a version: none" in text


def test_the_shipped_content_is_complete_in_the_four_languages(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["--strict"]) == 0, capsys.readouterr().out
