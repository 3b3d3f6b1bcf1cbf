"""Check Rasa training data before training; every problem names the file and the line.

    python -m nlu_components.validate [nlu_data/ ...]      # exit 1 when there are errors

Errors (training would fail or learn contradictions; the launcher refuses to train and keeps the previous
model in service):
- a file that is not UTF-8 (the line of the first bad byte), an empty file, a YAML syntax error;
- the same example under two different intents;
- an intent name with a ``/``: Rasa reads ``weather/find`` as a retrieval intent and silently merges every
  ``weather/…`` intent into ``weather`` (only a flood of warnings in the training log says so).
Warnings (training goes on):
- an intent with a single example (too few to learn from; add paraphrases);
- the same example twice under one intent.

Runs in either runtime (needs PyYAML only).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DATA_SUFFIXES = {".yml", ".yaml", ".json", ".md"}
# libyaml's composer when PyYAML has it: the same nodes and marks, several times faster on 600-line files
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_ANNOTATION = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")


@dataclass(frozen=True)
class Problem:
    level: str  # "error" | "warning"
    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.level}: {self.message}"


@dataclass
class Example:
    text: str
    intent: str
    path: str
    line: int | None


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "warning"]

    def add(self, level: str, path: Path | str, line: int | None, message: str) -> None:
        self.problems.append(Problem(level, display(path), line, message))


def display(path: Path | str) -> str:
    """A path as the user would type it: relative to the working folder when inside it."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def plain_text(example: str) -> str:
    """The text of an example without entity annotations: `[BC-1](order_number)` → `BC-1`."""
    return _ANNOTATION.sub(r"\1", example).strip()


def normalise(text: str) -> str:
    return " ".join(plain_text(text).lower().split())


def _decode(path: Path, raw: bytes, report: Report) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        report.add("error", path, line, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                   "save the file as UTF-8")
        return None


def _examples_from_block(node: yaml.Node, intent: str, path: Path, report: Report) -> None:
    """The `examples:` of one intent: a `|` block of `- text` lines, or a list of {text: ...} mappings."""
    if isinstance(node, yaml.ScalarNode):
        literal = node.style == "|"
        for offset, raw_line in enumerate(str(node.value).split("\n")):
            stripped = raw_line.strip()
            if not stripped.startswith("- ") and stripped != "-":
                continue
            text = stripped[1:].strip()
            line = node.start_mark.line + 2 + offset if literal else node.start_mark.line + 1
            report.examples.append(Example(text, intent, display(path), line))
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            if isinstance(item, yaml.MappingNode):
                for key, value in item.value:
                    if key.value == "text" and isinstance(value, yaml.ScalarNode):
                        report.examples.append(Example(str(value.value).strip(), intent, display(path),
                                                       value.start_mark.line + 1))


def _check_yaml(path: Path, text: str, report: Report) -> None:
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        report.add("error", path, mark.line + 1 if mark else None, f"YAML syntax error: {exc}".splitlines()[0])
        return
    if root is None:
        report.add("error", path, None, "empty file (no training data); delete it or add data")
        return
    if not isinstance(root, yaml.MappingNode):
        return
    for key, value in root.value:
        if key.value != "nlu" or not isinstance(value, yaml.SequenceNode):
            continue
        for item in value.value:
            if not isinstance(item, yaml.MappingNode):
                continue
            fields = {k.value: (k, v) for k, v in item.value}
            if "intent" in fields and "examples" in fields:
                intent = str(fields["intent"][1].value)
                _check_intent_name(intent, path, fields["intent"][1].start_mark.line + 1, report)
                _examples_from_block(fields["examples"][1], intent, path, report)


def _check_intent_name(intent: str, path: Path, line: int | None, report: Report) -> None:
    if "/" in intent:
        prefix = intent.split("/", 1)[0]
        report.add("error", path, line, f"intent name {intent!r} contains '/': Rasa reads it as a retrieval intent "
                   f"and merges it with every other '{prefix}/…' intent into '{prefix}'; rename it "
                   f"(e.g. {intent.replace('/', '_')!r})")


def _check_json(path: Path, text: str, report: Report) -> None:
    try:
        data = json.loads(text)
    except ValueError as exc:
        report.add("error", path, getattr(exc, "lineno", None), f"JSON syntax error: {exc}")
        return
    examples = (data.get("rasa_nlu_data") or {}).get("common_examples") or [] if isinstance(data, dict) else []
    named: set[str] = set()
    for ex in examples:
        if isinstance(ex, dict) and ex.get("intent") and isinstance(ex.get("text"), str):
            if str(ex["intent"]) not in named:
                named.add(str(ex["intent"]))
                _check_intent_name(str(ex["intent"]), path, _json_line(text, str(ex["intent"])), report)
            report.examples.append(Example(ex["text"], str(ex["intent"]), display(path), None))


def _json_line(text: str, value: str) -> int | None:
    """The line where `value` first appears as a JSON string in `text` (for messages), or None."""
    at = text.find(json.dumps(value))
    return text.count("\n", 0, at) + 1 if at >= 0 else None


def validate(paths: list[Path]) -> Report:
    report = Report()
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in DATA_SUFFIXES
                            and not any(part.startswith(".") or part == "__pycache__" for part in f.parts))
        elif p.exists():
            files.append(p)
        else:
            report.add("error", p, None, "no such file or folder")
    for f in files:
        raw = f.read_bytes()
        if not raw.strip():
            report.add("error", f, None, "empty file (no training data); delete it or add data")
            continue
        text = _decode(f, raw, report)
        if text is None:
            continue
        if f.suffix.lower() == ".json":
            _check_json(f, text, report)
        elif f.suffix.lower() in {".yml", ".yaml"}:
            _check_yaml(f, text, report)

    by_intent: dict[str, list[Example]] = defaultdict(list)
    by_text: dict[str, list[Example]] = defaultdict(list)
    for ex in report.examples:
        by_intent[ex.intent].append(ex)
        by_text[normalise(ex.text)].append(ex)
    for intent, exs in sorted(by_intent.items()):
        if len(exs) == 1:
            report.add("warning", exs[0].path, exs[0].line,
                       f"intent '{intent}' has a single example ({exs[0].text!r}); add a few more paraphrases")
    for key, exs in by_text.items():
        if not key:
            continue
        intents = sorted({e.intent for e in exs})
        if len(intents) > 1:
            first = exs[0]
            where = ", ".join(f"'{e.intent}' at {e.path}:{e.line}" for e in exs[1:])
            report.add("error", first.path, first.line,
                       f"example {first.text!r} of intent '{first.intent}' is also an example of {where}; "
                       "keep it under one intent")
        else:
            for dup in exs[1:]:
                report.add("warning", dup.path, dup.line,
                           f"example {dup.text!r} appears twice in intent '{dup.intent}' (first at "
                           f"{exs[0].path}:{exs[0].line})")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nlu_components.validate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", type=Path, default=[Path("nlu_data")])
    args = parser.parse_args(argv)
    report = validate(args.paths)
    for problem in report.problems:
        print(problem, file=sys.stderr)
    n_intents = len({e.intent for e in report.examples})
    print(f"{len(report.examples)} examples, {n_intents} intents: {len(report.errors)} errors, "
          f"{len(report.warnings)} warnings")
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
