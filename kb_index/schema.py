"""Knowledge-base content: the entry model, loading and validation.

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

`load_content` reads every file and reports *all* problems at once in a `ContentError`, each naming the
file, the line, the entry (its id, or its position when the id is unusable) and the field.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
LANGUAGE_PATTERN = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
TEAM_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
LINK_SCHEMES = ("http://", "https://", "mailto:", "tel:")

REQUIRED_FIELDS = ("id", "language", "question", "answer")
OPTIONAL_FIELDS = ("phrasings", "links", "tags", "team")
KNOWN_FIELDS = frozenset(REQUIRED_FIELDS + OPTIONAL_FIELDS)
CONTENT_SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True)
class Link:
    """A link shown under an answer."""

    title: str
    url: str


@dataclass(frozen=True)
class Entry:
    """One FAQ entry in one language."""

    id: str
    language: str
    question: str
    answer: str
    phrasings: tuple[str, ...] = ()
    links: tuple[Link, ...] = ()
    tags: tuple[str, ...] = ()
    team: str | None = None
    source: str = ""  # file the entry came from, relative to the content directory

    @property
    def key(self) -> tuple[str, str]:
        """The unique key of an entry: (id, language)."""
        return (self.id, self.language)

    @property
    def texts(self) -> tuple[str, ...]:
        """The customer-side texts of the entry: canonical question first, then the phrasings."""
        return (self.question, *self.phrasings)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form (used in index metadata and the content hash)."""
        data = asdict(self)
        data["phrasings"] = list(self.phrasings)
        data["links"] = [asdict(link) for link in self.links]
        data["tags"] = list(self.tags)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Entry":
        return cls(
            id=data["id"],
            language=data["language"],
            question=data["question"],
            answer=data["answer"],
            phrasings=tuple(data.get("phrasings", ())),
            links=tuple(Link(**link) for link in data.get("links", ())),
            tags=tuple(data.get("tags", ())),
            team=data.get("team"),
            source=data.get("source", ""),
        )


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


@dataclass
class _FileContext:
    """Collects the problems of one file while its entries are validated."""

    name: str
    problems: list[Problem] = field(default_factory=list)

    def add(self, message: str, *, line: int | None = None, entry: str | None = None, field: str | None = None) -> None:
        self.problems.append(Problem(self.name, message, line=line, entry=entry, field=field))


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


def content_hash(entries: list[Entry]) -> str:
    """A hash of everything in the entries that the index depends on (not comments or formatting)."""
    digest = hashlib.sha256()
    for entry in sorted(entries, key=lambda e: e.key):
        digest.update(json.dumps(entry.to_dict(), sort_keys=True, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


# --- one file ---------------------------------------------------------------------------------------


# libyaml's parser when PyYAML was built with it: parsing a 1,000-entry file took ~14 s with the pure-Python
# parser on a busy 2-core machine, which dominated incremental rebuilds (benchmarks/bench_kb.py, rebuild).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_file(path: Path, name: str) -> tuple[list[Entry], list[Problem]]:
    ctx = _FileContext(name)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        ctx.add(f"not valid UTF-8 ({exc.reason} at byte {exc.start})")
        return [], ctx.problems
    except OSError as exc:
        ctx.add(f"cannot read the file: {exc.strerror or exc}")
        return [], ctx.problems

    try:
        loader = _SAFE_LOADER(text)  # parse once: the node tree gives line numbers, the data is built from it
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        message = f"malformed YAML: {problem}" + (f" ({context})" if context else "")
        ctx.add(message, line=line)
        return [], ctx.problems

    if data is None:
        log.warning("%s: empty content file", name)
        return [], ctx.problems
    if not isinstance(data, list) or not isinstance(node, yaml.SequenceNode):
        ctx.add(f"the file must hold a list of entries (each starting with '- id: ...'), got {_type_name(data)}", line=1)
        return [], ctx.problems

    entries: list[Entry] = []
    for position, (item, item_node) in enumerate(zip(data, node.value), start=1):
        entry = _validate_entry(ctx, item, item_node, position)
        if entry is not None:
            entries.append(replace(entry, source=name))
    return entries, ctx.problems


def _validate_entry(ctx: _FileContext, item: Any, node: yaml.Node, position: int) -> Entry | None:
    line = node.start_mark.line + 1
    if not isinstance(item, dict) or not isinstance(node, yaml.MappingNode):
        ctx.add(f"an entry must be a mapping of fields, got {_type_name(item)}", line=line, entry=f"#{position}")
        return None

    field_lines = {key.value: key.start_mark.line + 1 for key, _ in node.value if isinstance(key, yaml.ScalarNode)}
    raw_id = item.get("id")
    label = f"'{raw_id}'" if isinstance(raw_id, str) and raw_id.strip() else f"#{position}"
    before = len(ctx.problems)

    def add(message: str, field_name: str | None = None) -> None:
        ctx.add(message, line=field_lines.get(field_name, line) if field_name else line, entry=label, field=field_name)

    seen_keys: set[str] = set()
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode):
            if key_node.value in seen_keys:
                ctx.add("appears twice in this entry", line=key_node.start_mark.line + 1, entry=label, field=key_node.value)
            seen_keys.add(key_node.value)

    for key in item:
        if key not in KNOWN_FIELDS:
            hint = _closest(str(key), KNOWN_FIELDS)
            add(f"unknown field{f' (did you mean {hint!r}?)' if hint else ''}; allowed: {', '.join(sorted(KNOWN_FIELDS))}", str(key))

    for name in REQUIRED_FIELDS:
        if name not in item or item[name] is None:
            add("is missing", name)

    entry_id = _string(item, "id", add)
    if entry_id is not None and not ID_PATTERN.match(entry_id):
        add("must be a slug: lowercase letters, digits, '-' or '_', starting with a letter or digit", "id")
    language = _string(item, "language", add)
    if language is not None and not LANGUAGE_PATTERN.match(language):
        add(f"must be a language code such as 'en', 'it' or 'pt-BR', got {language!r}", "language")
    question = _string(item, "question", add)
    answer = _string(item, "answer", add)
    phrasings = _string_list(item, "phrasings", add)
    tags = _string_list(item, "tags", add)
    team = _string(item, "team", add)
    if team is not None and not TEAM_PATTERN.match(team):
        add(f"must be a short lowercase name such as 'billing', got {team!r}", "team")
    links = _links(item, add)

    if phrasings is not None and question is not None:
        seen = {question.casefold()}
        for phrasing in phrasings:
            if phrasing.casefold() in seen:
                add(f"duplicate phrasing {phrasing!r}", "phrasings")
            seen.add(phrasing.casefold())

    if len(ctx.problems) > before:
        return None
    assert entry_id is not None and language is not None and question is not None and answer is not None
    return Entry(
        id=entry_id,
        language=language,
        question=question,
        answer=answer.strip(),
        phrasings=tuple(phrasings or ()),
        links=tuple(links or ()),
        tags=tuple(tags or ()),
        team=team,
    )


def _string(item: dict[str, Any], name: str, add: Any) -> str | None:
    value = item.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        add(f"must be text, got {_type_name(value)}", name)
        return None
    if not value.strip():
        add("must not be empty", name)
        return None
    return value.strip() if name != "answer" else value


def _string_list(item: dict[str, Any], name: str, add: Any) -> list[str] | None:
    value = item.get(name)
    if value is None:
        return None
    if not isinstance(value, list):
        add(f"must be a list of texts, got {_type_name(value)}", name)
        return None
    result: list[str] = []
    for index, element in enumerate(value, start=1):
        if not isinstance(element, str):
            add(f"item {index} must be text, got {_type_name(element)}", name)
        elif not element.strip():
            add(f"item {index} must not be empty", name)
        else:
            result.append(" ".join(element.split()))
    return result


def _links(item: dict[str, Any], add: Any) -> list[Link] | None:
    value = item.get("links")
    if value is None:
        return None
    if not isinstance(value, list):
        add(f"must be a list of {{title, url}} mappings, got {_type_name(value)}", "links")
        return None
    links: list[Link] = []
    for index, element in enumerate(value, start=1):
        if not isinstance(element, dict):
            add(f"item {index} must be a mapping with 'title' and 'url', got {_type_name(element)}", "links")
            continue
        extra = sorted(set(map(str, element)) - {"title", "url"})
        if extra:
            add(f"item {index} has unknown keys {extra}; allowed: title, url", "links")
        title, url = element.get("title"), element.get("url")
        if not isinstance(title, str) or not title.strip():
            add(f"item {index} needs a non-empty text 'title'", "links")
        if not isinstance(url, str) or not url.strip():
            add(f"item {index} needs a non-empty text 'url'", "links")
        elif not url.strip().startswith(LINK_SCHEMES) and not url.strip().startswith("/"):
            add(f"item {index} url must start with http://, https://, mailto:, tel: or /, got {url!r}", "links")
        if isinstance(title, str) and title.strip() and isinstance(url, str) and url.strip():
            links.append(Link(title.strip(), url.strip()))
    return links


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


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _closest(name: str, candidates: frozenset[str]) -> str | None:
    import difflib

    match = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.7)
    return match[0] if match else None
