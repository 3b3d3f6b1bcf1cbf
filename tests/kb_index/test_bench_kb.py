"""The KB benchmark reads StackFAQ as published (its JSON is not uniform)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.bench_kb import load_stackfaq


def test_a_thread_whose_single_answer_is_a_string_keeps_it_whole(tmp_path: Path) -> None:
    threads = [
        {"rephr": ["How to cross out text on github?", "*", " "], "question": "Strikethrough with GitHub Markdown",
         "answer": ["Use ~~tildes~~.", "Or <del>…</del>."]},
        {"rephr": ["Link to a moment of a Vimeo video"], "question": "Link to a time in a Vimeo video",
         "answer": "Add #t=1m2s to the URL."},  # one answer, stored as a string in the published file
    ]
    (tmp_path / "stackExchange-FAQ.json").write_text(json.dumps({"root": {"qapair": threads}}))
    entries, queries = load_stackfaq(tmp_path)
    assert entries[0]["answer"] == "Use ~~tildes~~.\n\nOr <del>…</del>."
    assert entries[1]["answer"] == "Add #t=1m2s to the URL."  # not 23 one-character paragraphs
    assert queries == [("How to cross out text on github?", "t000"), ("Link to a moment of a Vimeo video", "t001")]
