"""Knowledge-base content files: their format (pydantic models), loading, and every problem found in them.

Content lives in YAML files (``*.yml`` / ``*.yaml``) under one directory, searched recursively. Each
file holds a list of entries::

    - id: returns-policy          # stable slug: never change it once published
      language: en                # one entry per (id, language): translations share the id
      question: What is your return policy?
      phrasings:                  # other ways customers ask (optional, strings)
        - can i send something back
      answer: |                   # Markdown
        You can return most items within **30 days**.
      links:                      # optional
        - {title: Returns policy, url: https://example.com/returns}
      tags: [returns]             # optional
      team: logistics             # optional: who handles follow-ups

`EntryFields` is the format of one entry; `load_content` reads every file and reports *all* problems at once in
a `ContentError`, each naming the file, the line, the entry (its id, or its position when the id is unusable)
and the field. The loaded entries are `kb_index.entry.Entry` objects.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError, ValidationInfo,
                      field_validator)
from pydantic_core import PydanticCustomError

from kb_index.entry import Entry, Link

log = logging.getLogger(__name__)

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
LANGUAGE_PATTERN = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
TEAM_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
LINK_SCHEMES = ("http://", "https://", "mailto:", "tel:")
CONTENT_SUFFIXES = (".yml", ".yaml")

__all__ = ["ContentError", "Entry", "EntryFields", "Link", "Problem", "content_files", "entry_problems",
           "load_content"]


# --- the format of one entry ------------------------------------------------------------------------
# Each check raises its message as the content author should read it; `_messages` adds where it applies
# ("item 2 ...") and words pydantic's own errors (missing or unknown fields) the same way.


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _fail(message: str, **context: Any) -> PydanticCustomError:
    return PydanticCustomError("content", message, context)


def _expect(kind: type, description: str) -> Callable[[Any], Any]:
    """A check that the value is a `kind`, failing with "must be <description>, got <what it is>"."""

    def check(value: Any) -> Any:
        if not isinstance(value, kind):
            raise _fail(f"must be {description}, got {{got}}", got=_type_name(value))
        return value

    return check


def _not_empty(value: str) -> str:
    if not value.strip():
        raise _fail("must not be empty")
    return value


def _matching(pattern: re.Pattern[str], message: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise _fail(message, got=repr(value))
        return value

    return check


def _link_part(name: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise _fail(f"needs a non-empty text '{name}'")
        return value.strip()

    return check


def _link_url(url: str) -> str:
    if not url.startswith(LINK_SCHEMES) and not url.startswith("/"):
        raise _fail("url must start with http://, https://, mailto:, tel: or /, got {got}", got=repr(url))
    return url


Text = Annotated[str, BeforeValidator(_expect(str, "text")), AfterValidator(_not_empty)]
Stripped = Annotated[Text, AfterValidator(str.strip)]
OneLine = Annotated[Text, AfterValidator(lambda text: " ".join(text.split()))]  # whitespace runs become one space
Texts = Annotated[list[OneLine], BeforeValidator(_expect(list, "a list of texts"))]


class LinkFields(BaseModel):
    """One entry of `links`: ``{title: ..., url: ...}``."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    title: Annotated[str, BeforeValidator(_link_part("title"))]
    url: Annotated[str, BeforeValidator(_link_part("url")), AfterValidator(_link_url)]


LinkItem = Annotated[LinkFields, BeforeValidator(_expect(dict, "a mapping with 'title' and 'url'"))]


class EntryFields(BaseModel):
    """One entry as written in a content file (see the module doc)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    id: Annotated[Stripped, AfterValidator(_matching(
        ID_PATTERN, "must be a slug: lowercase letters, digits, '-' or '_', starting with a letter or digit"))]
    language: Annotated[Stripped, AfterValidator(_matching(
        LANGUAGE_PATTERN, "must be a language code such as 'en', 'it' or 'pt-BR', got {got}"))]
    question: Stripped
    answer: Text  # Markdown: kept as written but for the blank lines around it
    phrasings: Texts | None = None
    links: Annotated[list[LinkItem], BeforeValidator(_expect(list, "a list of {title, url} mappings"))] | None = None
    tags: Texts | None = None
    team: Annotated[Stripped, AfterValidator(_matching(
        TEAM_PATTERN, "must be a short lowercase name such as 'billing', got {got}"))] | None = None

    @field_validator("phrasings")
    @classmethod
    def _distinct_phrasings(cls, phrasings: list[str] | None, info: ValidationInfo) -> list[str] | None:
        seen = {info.data["question"].casefold()} if "question" in info.data else set()
        repeated = []
        for phrasing in phrasings or ():
            if phrasing.casefold() in seen:
                repeated.append(repr(phrasing))
            seen.add(phrasing.casefold())
        if repeated:
            raise _fail(f"duplicate phrasing{'s' if len(repeated) > 1 else ''} {', '.join(repeated)}")
        return phrasings

    def to_entry(self, source: str) -> Entry:
        return Entry(
            id=self.id,
            language=self.language,
            question=self.question,
            answer=self.answer.strip(),
            phrasings=tuple(self.phrasings or ()),
            links=tuple(Link(link.title, link.url) for link in self.links or ()),
            tags=tuple(self.tags or ()),
            team=self.team,
            source=source,
        )


FIELDS = tuple(EntryFields.model_fields)  # in the order problems are reported
KNOWN_FIELDS = frozenset(FIELDS)


# --- problems ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the content, located as precisely as possible."""

    file: str
    message: str
    line: int | None = None
    entry: str | None = None  # "'returns-policy'" or "#3" (1-based position in the file)
    field: str | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [where]
        if self.entry is not None:
            parts.append(f"entry {self.entry}")
        if self.field is not None:
            parts.append(f"field '{self.field}'")
        return f"{': '.join(parts)}: {self.message}"


class ContentError(Exception):
    """The knowledge-base content is invalid. `problems` lists every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        count = len(self.problems)
        header = f"{count} problem{'s' if count != 1 else ''} in the knowledge-base content:"
        super().__init__("\n".join([header, *(f"  - {p}" for p in self.problems)]))


def _closest(name: str) -> str | None:
    match = difflib.get_close_matches(name, sorted(KNOWN_FIELDS), n=1, cutoff=0.7)
    return match[0] if match else None


def _unknown_field(name: str) -> str:
    hint = _closest(name)
    return f"unknown field{f' (did you mean {hint!r}?)' if hint else ''}; allowed: {', '.join(sorted(KNOWN_FIELDS))}"


def _messages(exc: ValidationError) -> list[tuple[str, str]]:
    """(field, message) for each error of one entry, worded for the content author, in the order of the fields
    and, within a list, of its items."""
    found: list[tuple[str, int, str]] = []  # (field, item number or 0, message)
    link_keys: dict[tuple[str, int], list[str]] = {}  # the unknown keys of one link, reported together
    for error in exc.errors(include_url=False):
        loc, kind = error["loc"], error["type"]
        field, item = str(loc[0]), int(loc[1]) + 1 if len(loc) > 1 else 0
        if kind in ("extra_forbidden", "invalid_key"):
            key = str(error["input"]) if kind == "invalid_key" else str(loc[-1])
            if item:
                link_keys.setdefault((field, item), []).append(key)
            else:
                found.append((key, 0, _unknown_field(key)))
            continue
        if kind == "missing" and len(loc) == 3:  # title or url of a link
            message = f"needs a non-empty text '{loc[-1]}'"
        elif kind == "missing" or (not item and error["input"] is None):  # absent, or `field:` and nothing
            message = "is missing"
        else:
            message = error["msg"]
        found.append((field, item, f"item {item} {message}" if item else message))
    found += [(field, item, f"item {item} has unknown keys {sorted(keys)}; allowed: title, url")
              for (field, item), keys in link_keys.items()]
    rank = {name: position for position, name in enumerate(FIELDS)}
    found.sort(key=lambda problem: (rank.get(problem[0], len(rank)), problem[1]))  # stable: same item keeps order
    return [(field, message) for field, _, message in found]


def entry_problems(item: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for each problem of one entry given as data (an editor's form, before it is written)."""
    try:
        EntryFields.model_validate(item)
    except ValidationError as exc:
        return _messages(exc)
    return []


# --- loading ----------------------------------------------------------------------------------------


def content_files(content_dir: Path) -> list[Path]:
    """The content files under `content_dir`, in a stable order."""
    return sorted(p for p in content_dir.rglob("*") if p.is_file() and p.suffix in CONTENT_SUFFIXES)


def load_content(content_dir: str | Path) -> list[Entry]:
    """Load and validate every entry under `content_dir`.

    Returns the entries sorted by (id, language). Raises `ContentError` listing all problems (malformed
    YAML, missing or empty fields, wrong types, unknown fields, duplicate (id, language), a phrasing used
    by two entries of one language), or when the directory is missing or holds no entries.
    """
    root = Path(content_dir)
    if not root.is_dir():
        raise ContentError([Problem(str(root), "content directory not found")])
    files = content_files(root)
    if not files:
        raise ContentError([Problem(str(root), "no content files (*.yml, *.yaml) found")])

    problems: list[Problem] = []
    entries: list[Entry] = []
    for path in files:
        file_entries, file_problems = _load_file(path, path.relative_to(root).as_posix())
        entries.extend(file_entries)
        problems.extend(file_problems)

    problems.extend(_cross_entry_problems(entries))
    if not problems and not entries:
        problems.append(Problem(str(root), "the content files hold no entries"))
    if problems:
        raise ContentError(problems)
    log.debug("loaded %d entries from %d files in %s", len(entries), len(files), root)
    return sorted(entries, key=lambda e: e.key)


# libyaml's parser when PyYAML was built with it: parsing a 1,000-entry file took ~14 s with the pure-Python
# parser on a busy 2-core machine, which dominated incremental rebuilds (benchmarks/bench_kb.py, rebuild).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_file(path: Path, name: str) -> tuple[list[Entry], list[Problem]]:
    def problem(message: str, line: int | None = None) -> tuple[list[Entry], list[Problem]]:
        return [], [Problem(name, message, line=line)]

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return problem(f"not valid UTF-8 ({exc.reason} at byte {exc.start})")
    except OSError as exc:
        return problem(f"cannot read the file: {exc.strerror or exc}")

    try:
        loader = _SAFE_LOADER(text)  # parse once: the node tree gives line numbers, the data is built from it
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        context = getattr(exc, "context", None)
        message = f"malformed YAML: {getattr(exc, 'problem', None) or exc}" + (f" ({context})" if context else "")
        return problem(message, mark.line + 1 if mark is not None else None)

    if data is None:
        log.warning("%s: empty content file", name)
        return [], []
    if not isinstance(data, list) or not isinstance(node, yaml.SequenceNode):
        return problem(f"the file must hold a list of entries (each starting with '- id: ...'), got {_type_name(data)}", 1)

    entries: list[Entry] = []
    problems: list[Problem] = []
    for position, (item, item_node) in enumerate(zip(data, node.value), start=1):
        entry, found = _validate_entry(name, item, item_node, position)
        problems.extend(found)
        if entry is not None:
            entries.append(entry)
    return entries, problems


def _validate_entry(file: str, item: Any, node: yaml.Node, position: int) -> tuple[Entry | None, list[Problem]]:
    line = node.start_mark.line + 1
    if not isinstance(item, dict) or not isinstance(node, yaml.MappingNode):
        return None, [Problem(file, f"an entry must be a mapping of fields, got {_type_name(item)}", line=line, entry=f"#{position}")]

    raw_id = item.get("id")
    label = f"'{raw_id}'" if isinstance(raw_id, str) and raw_id.strip() else f"#{position}"
    field_lines: dict[str, int] = {}
    problems: list[Problem] = []
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode):
            key_line = key_node.start_mark.line + 1
            if key_node.value in field_lines:
                problems.append(Problem(file, "appears twice in this entry", line=key_line, entry=label, field=key_node.value))
            field_lines.setdefault(key_node.value, key_line)

    try:
        fields = EntryFields.model_validate(item)
    except ValidationError as exc:
        problems += [Problem(file, message, line=field_lines.get(field, line), entry=label, field=field)
                     for field, message in _messages(exc)]
        return None, problems
    return (None if problems else fields.to_entry(file)), problems


def _cross_entry_problems(entries: list[Entry]) -> list[Problem]:
    problems: list[Problem] = []
    first_seen: dict[tuple[str, str], Entry] = {}
    for entry in entries:
        other = first_seen.setdefault(entry.key, entry)
        if other is not entry:
            problems.append(
                Problem(
                    entry.source,
                    f"duplicate (id, language) ({entry.id!r}, {entry.language!r}); first defined in {other.source}",
                    entry=f"'{entry.id}'",
                    field="id",
                )
            )
    owner: dict[tuple[str, str], Entry] = {}
    for entry in entries:
        for text in entry.texts:
            key = (entry.language, text.casefold())
            other = owner.setdefault(key, entry)
            if other.id != entry.id:
                problems.append(
                    Problem(
                        entry.source,
                        f"{text!r} is also a question or phrasing of entry {other.id!r} ({other.source}); "
                        "one wording must lead to one entry",
                        entry=f"'{entry.id}'",
                        field="phrasings",
                    )
                )
    return problems
