"""Content validation: every problem names the file, the entry and the field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kb_index import ContentError, load_content
from kb_index.cli import main

VALID = """
- id: shipping-times
  language: en
  question: How long does delivery take?
  phrasings: ["When will my order arrive?"]
  answer: Two to four days.
"""


def problems_of(content: Path) -> list[str]:
    with pytest.raises(ContentError) as info:
        load_content(content)
    return [str(p) for p in info.value.problems]


def test_malformed_yaml_names_file_and_line(make_content: Callable[[dict[str, str]], Path]) -> None:
    content = make_content({"good.yml": VALID, "broken.yml": "- id: a\n  question: [unclosed\n  answer: x\n"})
    problems = problems_of(content)
    assert len(problems) == 1
    assert problems[0].startswith("broken.yml:3: malformed YAML")


def test_missing_and_empty_fields_name_entry_and_field(make_content: Callable[[dict[str, str]], Path]) -> None:
    content = make_content(
        {
            "faq.yml": """
                - id: no-question
                  language: en
                  answer: Something.
                - id: empty-answer
                  language: en
                  question: A question?
                  answer: "   "
                - language: en
                  question: Who am I?
                  answer: An entry without id.
            """
        }
    )
    problems = problems_of(content)
    assert "faq.yml:1: entry 'no-question': field 'question': is missing" in problems
    assert "faq.yml:7: entry 'empty-answer': field 'answer': must not be empty" in problems
    assert "faq.yml:8: entry #3: field 'id': is missing" in problems
    assert len(problems) == 3


def test_wrong_types_and_unknown_fields(make_content: Callable[[dict[str, str]], Path]) -> None:
    content = make_content(
        {
            "faq.yml": """
                - id: Bad Id
                  language: english
                  question: How?
                  answer: Like this.
                  phrasings: just one string
                  tags: [ok, 3]
                  links: [{title: Docs, url: "javascript:alert(1)"}]
                  teams: billing
            """
        }
    )
    problems = "\n".join(problems_of(content))
    assert "entry 'Bad Id': field 'id': must be a slug" in problems
    assert "field 'language': must be a language code" in problems
    assert "field 'phrasings': must be a list of texts, got text" in problems
    assert "field 'tags': item 2 must be text, got a number" in problems
    assert "field 'links': item 1 url must start with http://" in problems
    assert "field 'teams': unknown field (did you mean 'team'?)" in problems


def test_file_must_hold_a_list(make_content: Callable[[dict[str, str]], Path]) -> None:
    content = make_content({"faq.yml": "id: x\nquestion: y\n"})
    assert problems_of(content) == ["faq.yml:1: the file must hold a list of entries (each starting with '- id: ...'), got a mapping"]


def test_duplicate_id_and_language_names_both_files(make_content: Callable[[dict[str, str]], Path]) -> None:
    content = make_content({"a.yml": VALID, "b.yml": VALID.replace("Two to four days.", "Other text.")})
    problems = problems_of(content)
    assert problems[0].startswith("b.yml: entry 'shipping-times': field 'id': duplicate (id, language)")
    assert "first defined in a.yml" in problems[0]


def test_same_id_in_two_languages_is_allowed(make_content: Callable[[dict[str, str]], Path]) -> None:
    italian = VALID.replace("language: en", "language: it").replace("How long does delivery take?", "Quanto dura la consegna?")
    italian = italian.replace("When will my order arrive?", "Quando arriva il mio ordine?")
    entries = load_content(make_content({"en.yml": VALID, "it.yml": italian}))
    assert [(e.id, e.language) for e in entries] == [("shipping-times", "en"), ("shipping-times", "it")]
    assert entries[1].source == "it.yml"


def test_one_wording_cannot_lead_to_two_entries(make_content: Callable[[dict[str, str]], Path]) -> None:
    other = VALID.replace("shipping-times", "delivery-speed").replace("How long does delivery take?", "Delivery speed?")
    problems = problems_of(make_content({"a.yml": VALID, "b.yml": other}))
    assert len(problems) == 1 and "'When will my order arrive?' is also a question or phrasing of entry 'shipping-times'" in problems[0]


def test_all_problems_are_reported_at_once(make_content: Callable[[dict[str, str]], Path]) -> None:
    content = make_content({"a.yml": "- id: a\n  language: en\n  answer: x\n", "b.yml": "- id: b\n  language: en\n  question: q\n"})
    assert len(problems_of(content)) == 2


def test_starter_content_is_valid_and_complete() -> None:
    entries = load_content(Path(__file__).resolve().parents[2] / "kb_index" / "content")
    assert len(entries) >= 34
    assert all(4 <= len(e.phrasings) <= 8 for e in entries), [e.id for e in entries if not 4 <= len(e.phrasings) <= 8]
    assert len({e.source for e in entries}) >= 5
    versions: dict[str, set[str]] = {}
    for e in entries:
        versions.setdefault(e.id, set()).add(e.language)
    assert {i: v for i, v in versions.items() if v != {"en", "it", "zh", "ro"}} == {}  # every entry in 4 languages


def test_cli_validate_reports_problems_without_traceback(
    make_content: Callable[[dict[str, str]], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    content = make_content({"faq.yml": "- id: x\n  language: en\n  question: q\n"})
    assert main(["validate", "--content", str(content)]) == 2
    err = capsys.readouterr().err
    assert "faq.yml:1: entry 'x': field 'answer': is missing" in err
    assert "Traceback" not in err


def test_cli_validate_ok(mini_content: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--content", str(mini_content)]) == 0
    assert "5 entries in 2 files" in capsys.readouterr().out


def test_problems_inside_lists_and_links_name_the_item(make_content: Callable[[dict[str, str]], Path]) -> None:
    content = make_content(
        {
            "faq.yml": """
                - id: links
                  language: en
                  question: Where are the docs?
                  answer: Here.
                  phrasings: [docs, "  "]
                  links:
                    - {title: Docs, url: /docs, rel: x, target: y}
                    - just a string
                    - {url: "https://shop.example"}
                  team: Billing Team
                  team: billing
                - id: repeats
                  language: en
                  question: Can I pay later?
                  answer: "Yes."
                  phrasings: [pay later, can i pay later?, "pay   later"]
            """
        }
    )
    assert problems_of(content) == [
        "faq.yml:11: entry 'links': field 'team': appears twice in this entry",
        "faq.yml:5: entry 'links': field 'phrasings': item 2 must not be empty",
        "faq.yml:6: entry 'links': field 'links': item 1 has unknown keys ['rel', 'target']; allowed: title, url",
        "faq.yml:6: entry 'links': field 'links': item 2 must be a mapping with 'title' and 'url', got text",
        "faq.yml:6: entry 'links': field 'links': item 3 needs a non-empty text 'title'",
        "faq.yml:16: entry 'repeats': field 'phrasings': duplicate phrasings 'can i pay later?', 'pay later'",
    ]
