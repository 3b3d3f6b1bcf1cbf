"""Changes to the bot's content made from the review inbox: a new example of an intent, a new phrasing of an FAQ
entry, a draft of a new FAQ entry.

`ContentChanges` is the interface the review inbox uses. Until the studio (its content layer and publishing)
exists, `ContentFiles` implements it on the content files themselves: examples go into `nlu_data/nlu*.yml`
under their intent, phrasings into the entry's `phrasings` in `kb_index/content/`, and drafts into
`kb_index/drafts/<language>.yml` (outside the content folder, so the index never serves a draft). Each change
is a small text edit that keeps the files' comments and layout, checked by parsing the result: a change that
would break a file is refused and the file is left as it was. They take effect when the bot is retrained and
the index rebuilt (`make run` does both when the content changed). To move to the studio, implement this
protocol on its pending-changes API and hand that object to `ReviewInbox` in `bot/container.py`.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from kb_index.schema import ContentError, load_content


class ContentChangeError(ValueError):
    """A change that cannot be made (unknown intent or entry, a duplicate, a file that would break)."""


@dataclass(frozen=True)
class Written:
    kind: str  # intent_example | faq_phrasing | faq_draft
    target: str  # the intent, or the FAQ entry id
    language: str
    text: str
    file: str
    answer: str | None = None


class ContentChanges(Protocol):
    def intents(self) -> dict[str, list[str]]:
        """Intent names per language that examples can be added to."""

    def faq_entries(self) -> list[dict[str, str]]:
        """Every FAQ entry: id, language, question."""

    def add_intent_example(self, intent: str, language: str, text: str) -> Written: ...

    def add_faq_phrasing(self, entry_id: str, language: str, text: str) -> Written: ...

    def draft_faq_entry(self, question: str, answer: str, language: str) -> Written: ...


def one_line(text: str) -> str:
    line = " ".join((text or "").split())
    if not line:
        raise ContentChangeError("the text is empty")
    if len(line) > 500:
        raise ContentChangeError("the text is longer than 500 characters")
    return line


def slug(text: str) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(words)[:60].strip("-") or "draft"


class ContentFiles:
    """`ContentChanges` on the content files (see the module docstring)."""

    def __init__(self, nlu_dir: Path, kb_content_dir: Path, drafts_dir: Path, *, default_language: str = "en") -> None:
        self.nlu_dir = Path(nlu_dir)
        self.kb_content_dir = Path(kb_content_dir)
        self.drafts_dir = Path(drafts_dir)
        self.default_language = default_language
        self._lock = threading.Lock()

    # -- NLU examples ----------------------------------------------------------------------------------

    def nlu_file(self, language: str) -> Path:
        name = "nlu.yml" if language == self.default_language else f"nlu_{language}.yml"
        return self.nlu_dir / name

    def intents(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for path in sorted(self.nlu_dir.glob("nlu*.yml")):
            stem = path.stem
            language = self.default_language if stem == "nlu" else stem.removeprefix("nlu_")
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            out[language] = sorted({str(item["intent"]) for item in data.get("nlu") or []
                                    if isinstance(item, dict) and item.get("intent")})
        return out

    def add_intent_example(self, intent: str, language: str, text: str) -> Written:
        line = one_line(text)
        path = self.nlu_file(language)
        if not path.exists():
            raise ContentChangeError(f"there is no NLU file for language {language!r} ({path.name})")
        known = set(self.intents().get(language, [])) | {i for names in self.intents().values() for i in names}
        if intent not in known:
            raise ContentChangeError(f"no intent {intent!r}: add examples to one of {', '.join(sorted(known))}")
        with self._lock:
            original = path.read_text(encoding="utf-8")
            data = yaml.safe_load(original) or {}
            for item in data.get("nlu") or []:
                if isinstance(item, dict) and item.get("intent") == intent:
                    examples = [e.strip()[2:].strip() for e in str(item.get("examples") or "").splitlines()
                                if e.strip().startswith("- ")]
                    if line.casefold() in {e.casefold() for e in examples}:
                        raise ContentChangeError(f"{line!r} is already an example of {intent} ({language})")
            updated = _insert_example(original, intent, line)

            def check(parsed: Any) -> bool:
                return any(isinstance(i, dict) and i.get("intent") == intent and
                           f"- {line}" in str(i.get("examples")) for i in parsed.get("nlu") or [])

            _write_checked(path, original, updated, check)
        return Written("intent_example", intent, language, line, str(path))

    # -- FAQ phrasings and drafts ----------------------------------------------------------------------

    def _entries(self) -> list[Any]:
        try:
            return list(load_content(self.kb_content_dir))
        except ContentError as exc:
            raise ContentChangeError(f"the knowledge-base content has errors; fix them first: {exc}") from None

    def faq_entries(self) -> list[dict[str, str]]:
        return [{"id": e.id, "language": e.language, "question": e.question} for e in self._entries()]

    def add_faq_phrasing(self, entry_id: str, language: str, text: str) -> Written:
        line = one_line(text)
        entries = [e for e in self._entries() if e.id == entry_id]
        entry = next((e for e in entries if e.language == language), None)
        if entry is None:
            have = ", ".join(sorted(e.language for e in entries)) or "none"
            raise ContentChangeError(f"no FAQ entry {entry_id!r} in {language!r} (languages: {have})")
        if line.casefold() in {p.casefold() for p in (entry.phrasings or ())} | {entry.question.casefold()}:
            raise ContentChangeError(f"{line!r} is already a phrasing of {entry_id} ({language})")
        path = _entry_file(self.kb_content_dir, entry)
        with self._lock:
            original = path.read_text(encoding="utf-8")
            updated = _insert_phrasing(original, entry_id, language, line)
            _write_checked(path, original, updated, lambda parsed: any(
                isinstance(i, dict) and i.get("id") == entry_id and i.get("language") == language
                and line in (i.get("phrasings") or []) for i in parsed or []))
            try:
                self._entries()
            except ContentChangeError:
                path.write_text(original, encoding="utf-8")
                raise
        return Written("faq_phrasing", entry_id, language, line, str(path))

    def draft_faq_entry(self, question: str, answer: str, language: str) -> Written:
        q = one_line(question)
        a = (answer or "").strip()
        if not a:
            raise ContentChangeError("the draft needs an answer")
        taken = {e.id for e in self._entries()}
        path = self.drafts_dir / f"{language}.yml"
        with self._lock:
            self.drafts_dir.mkdir(parents=True, exist_ok=True)
            original = path.read_text(encoding="utf-8") if path.exists() else (
                "# Drafts of new FAQ entries from the review inbox (/console/reports). Not served: an editor\n"
                "# checks each one, moves it into kb_index/content/ and rebuilds the index (make kb).\n")
            drafted = {str(i.get("id")) for i in (yaml.safe_load(original) or []) if isinstance(i, dict)}
            base = slug(q)
            entry_id, n = base, 2
            while entry_id in taken or entry_id in drafted:
                entry_id, n = f"{base}-{n}", n + 1
            body = "\n".join(("    " + ln) if ln.strip() else "" for ln in a.splitlines())
            block = (f"- id: {entry_id}\n  language: {language}\n  question: {json.dumps(q, ensure_ascii=False)}\n"
                     f"  answer: |\n{body}\n")
            updated = original.rstrip("\n") + "\n\n" + block
            _write_checked(path, original if path.exists() else "", updated, lambda parsed: any(
                isinstance(i, dict) and i.get("id") == entry_id for i in parsed or []))
        return Written("faq_draft", entry_id, language, q, str(path), answer=a)


def _entry_file(content_dir: Path, entry: Any) -> Path:
    source = getattr(entry, "source", None) or getattr(entry, "file", None)
    if source:
        path = Path(str(source).split(":")[0])
        return path if path.is_absolute() else content_dir / path
    for path in sorted(content_dir.rglob("*.y*ml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            if isinstance(item, dict) and item.get("id") == entry.id and item.get("language") == entry.language:
                return path
    raise ContentChangeError(f"cannot find the file of FAQ entry {entry.id}")


def _write_checked(path: Path, original: str, updated: str, check: Any) -> None:
    try:
        parsed = yaml.safe_load(updated)
    except yaml.YAMLError as exc:
        raise ContentChangeError(f"the change would break {path.name}: {exc}") from None
    if not check(parsed):
        raise ContentChangeError(f"could not place the change in {path.name}: edit it by hand")
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(updated, encoding="utf-8")
    tmp.replace(path)


def _insert_example(text: str, intent: str, line: str) -> str:
    """`line` as the last example of `intent` (a new block at the end when the file lacks the intent)."""
    lines = text.splitlines()
    head = re.compile(r"^- intent:\s*" + re.escape(intent) + r"\s*(#.*)?$")
    start = next((i for i, ln in enumerate(lines) if head.match(ln)), None)
    if start is None:
        block = ["", f"- intent: {intent}", "  examples: |", f"    - {line}"]
        return "\n".join(lines + block) + "\n"
    examples = next((i for i in range(start + 1, len(lines)) if lines[i].strip().startswith("examples:")), None)
    if examples is None:
        raise ContentChangeError(f"intent {intent} has no examples block")
    last, indent = examples, "    "
    for i in range(examples + 1, len(lines)):
        ln = lines[i]
        if not ln.strip():
            continue
        if len(ln) - len(ln.lstrip()) <= 2:
            break
        if ln.lstrip().startswith("- "):
            indent = ln[: len(ln) - len(ln.lstrip())]
        last = i
    lines.insert(last + 1, f"{indent}- {line}")
    return "\n".join(lines) + "\n"


def _insert_phrasing(text: str, entry_id: str, language: str, line: str) -> str:
    """`line` as the last phrasing of the entry (`id` + `language`), creating `phrasings` when missing."""
    lines = text.splitlines()
    quoted = json.dumps(line, ensure_ascii=False)
    starts = [i for i, ln in enumerate(lines) if ln.startswith("- ")]
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        block = lines[start:end]
        first = block[0][2:].strip()
        keys = [first] + [ln.strip() for ln in block[1:] if ln.startswith("  ") and not ln.startswith("   ")]
        if f"id: {entry_id}" not in keys or f"language: {language}" not in keys:
            continue
        at = next((start + j for j, ln in enumerate(block) if ln.rstrip() == "  phrasings:"), None)
        if at is None:
            answer = next((start + j for j, ln in enumerate(block) if ln.startswith("  answer:")), end)
            lines[answer:answer] = ["  phrasings:", f"    - {quoted}"]
            return "\n".join(lines) + "\n"
        last = at
        for i in range(at + 1, end):
            if lines[i].startswith("    - ") or (lines[i].startswith("      ") and last > at):
                last = i
            elif lines[i].strip():
                break
        lines.insert(last + 1, f"    - {quoted}")
        return "\n".join(lines) + "\n"
    raise ContentChangeError(f"could not find entry {entry_id} ({language}) in its file")
