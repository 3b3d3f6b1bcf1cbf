"""The FAQ content files (`kb_index/content/**/*.yml`, format in `kb_index.schema`): reading every entry with
where it is written, and planning the text of a file after one entry is created, changed or removed.

A plan is `{path: new text}`; nothing is written here (`bot.studio.content` validates and writes). An entry's
lines are the only ones that change: unchanged fields keep their original lines, changed ones are rendered in
the file's own style (`bot.studio.yaml_text`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.studio import yaml_text as yt
from kb_index.schema import content_files

#: The order fields are written in (the starter files' order).
FIELD_ORDER = ("id", "language", "question", "phrasings", "answer", "links", "tags", "team")
OPTIONAL = ("phrasings", "links", "tags", "team")
#: Fields written as flow lists (`tags: [a, b]`) in a file that has none yet.
FLOW_DEFAULT = frozenset({"tags"})


def version_of(value: Any) -> str:
    """The version (ETag) of an item's value: a short hash of its canonical JSON."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def normalise_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """An entry's fields as they compare and are written: texts stripped (the answer keeps its inner lines),
    empty optional fields left out, in `FIELD_ORDER`."""
    out: dict[str, Any] = {}
    for key in FIELD_ORDER:
        value = fields.get(key)
        if isinstance(value, str):
            value = value.strip() if key != "answer" else value.strip("\n").rstrip()
        elif isinstance(value, list):
            value = [(v.strip() if isinstance(v, str) else
                      {k: (x.strip() if isinstance(x, str) else x) for k, x in v.items()} if isinstance(v, dict) else v)
                     for v in value]
            value = [v for v in value if v not in ("", {}, None)]
        if key in OPTIONAL and value in (None, "", [], {}):
            continue
        out[key] = value
    extra = {k: v for k, v in fields.items() if k not in FIELD_ORDER}
    out.update(extra)  # unknown fields are kept, so that the validator can say what is wrong with them
    return out


@dataclass(frozen=True)
class FaqVersion:
    """One entry in one language, as written in its file."""

    id: str
    language: str
    fields: dict[str, Any]
    file: str  # relative to the content folder
    topic: str

    @property
    def key(self) -> str:
        return f"faq:{self.id}:{self.language}"

    @property
    def version(self) -> str:
        return version_of(normalise_fields(self.fields))


@dataclass
class _Parsed:
    path: Path
    lines: list[str]
    root: yaml.Node | None
    data: Any
    style: yt.Style


class FaqFiles:
    """The FAQ content under `content_dir`; `default_language` is the language of the top-level files."""

    def __init__(self, content_dir: Path, default_language: str = "en") -> None:
        self.content_dir = content_dir
        self.default_language = default_language
        self._cache = yt.FileCache()

    # -- reading -----------------------------------------------------------------------------------

    def _parse(self, path: Path, text: str | None = None) -> _Parsed:
        if text is None:
            return self._cache.get(path, lambda: self._parse(path, path.read_text(encoding="utf-8")))
        root = yt.compose(text, self._name(path))
        data = yt.load(text) if root is not None else None
        style = yt.Style.of(root, quoted_keys=())
        if not style.flow and not _has_lists(root):
            style = yt.Style(offset=style.offset, flow=FLOW_DEFAULT)
        return _Parsed(path, text.splitlines(keepends=True), root, data, style)

    def _name(self, path: Path) -> str:
        return path.relative_to(self.content_dir).as_posix() if path.is_relative_to(self.content_dir) else str(path)

    def versions(self) -> list[FaqVersion]:
        """Every entry of every file, in file order (unreadable files are skipped: the validator reports them)."""
        out: list[FaqVersion] = []
        if not self.content_dir.is_dir():
            return out
        for path in content_files(self.content_dir):
            try:
                parsed = self._parse(path)
            except (yt.YamlEditError, OSError, UnicodeDecodeError):
                continue
            if not isinstance(parsed.data, list):
                continue
            for item in parsed.data:
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    out.append(FaqVersion(str(item["id"]), str(item.get("language", "")), dict(item),
                                          self._name(path), _topic(path)))
        return out

    def get(self, entry_id: str, language: str) -> FaqVersion | None:
        for v in self.versions():
            if v.id == entry_id and v.language == language:
                return v
        return None

    def topics(self) -> list[str]:
        """The topics (file names without folder and suffix) that content is filed under."""
        return sorted({_topic(p) for p in content_files(self.content_dir)}) if self.content_dir.is_dir() else []

    # -- planning ------------------------------------------------------------------------------------

    def path_for(self, language: str, topic: str) -> Path:
        """The file a new entry of `language` on `topic` goes to: an existing file of that topic which holds
        that language, else `<topic>.yml` for the default language and `<language>/<topic>.yml` for others."""
        for v in self.versions():
            if v.language == language and v.topic == topic:
                return self.content_dir / v.file
        return self.content_dir / (f"{topic}.yml" if language == self.default_language else f"{language}/{topic}.yml")

    def plan_save(self, fields: dict[str, Any], *, topic: str | None = None) -> tuple[Path, str]:
        """The new text of the file that holds (or will hold) the entry `fields` describes."""
        fields = normalise_fields(fields)
        entry_id, language = str(fields.get("id", "")), str(fields.get("language", ""))
        current = self.get(entry_id, language)
        if current is not None:
            path = self.content_dir / current.file
            parsed = self._parse(path)
            index, span = self._locate(parsed, entry_id, language)
            item = parsed.root.value[index]  # type: ignore[union-attr]
            new_lines = self._render_update(parsed, item, span, parsed.data[index], fields)
            lines = yt.splice(parsed.lines, span[0], span[1], new_lines)
            return path, "".join(lines)
        siblings = [v for v in self.versions() if v.id == entry_id]
        chosen = topic or (siblings[0].topic if siblings else "general")
        path = self.path_for(language, chosen)
        if path.exists():
            parsed = self._parse(path)
            lines = yt.with_final_newline(list(parsed.lines))
            dash = _dash_column(parsed.root)
            new = yt.as_item(yt.render(fields, parsed.style, literal=("answer",)), dash)
            sep = [] if not lines or not lines[-1].strip() else ["\n"]
            return path, "".join(lines + sep + new)
        header = f"# FAQ ({language}): {chosen}. Edited in the studio (/studio) or by hand; format: kb_index/schema.py\n\n"
        style = yt.Style(offset=2, flow=FLOW_DEFAULT)
        return path, header + "".join(yt.as_item(yt.render(fields, style, literal=("answer",)), 0))

    def plan_delete(self, entry_id: str, language: str) -> tuple[Path, str]:
        current = self.get(entry_id, language)
        if current is None:
            raise KeyError(f"no FAQ entry {entry_id!r} in {language!r}")
        path = self.content_dir / current.file
        parsed = self._parse(path)
        _index, (start, stop) = self._locate(parsed, entry_id, language)
        lines = list(parsed.lines)
        # the blank line that separated it from the next entry goes with it
        while stop < len(lines) and not lines[stop].strip():
            stop += 1
        return path, "".join(lines[:start] + lines[stop:])

    def parse_text(self, path: Path, text: str) -> list[dict[str, Any]]:
        """The entries a planned text holds (to check a plan before it is written)."""
        data = self._parse(path, text).data
        return [dict(i) for i in data] if isinstance(data, list) else []

    # -- helpers -------------------------------------------------------------------------------------

    def _locate(self, parsed: _Parsed, entry_id: str, language: str) -> tuple[int, tuple[int, int]]:
        if not isinstance(parsed.root, yaml.SequenceNode) or not isinstance(parsed.data, list):
            raise yt.YamlEditError(f"{self._name(parsed.path)} does not hold a list of entries")
        spans = yt.item_spans(parsed.root, parsed.lines)
        for index, item in enumerate(parsed.data):
            if isinstance(item, dict) and item.get("id") == entry_id and item.get("language") == language:
                return index, spans[index]
        raise KeyError(f"no FAQ entry {entry_id!r} in {language!r} in {self._name(parsed.path)}")

    def _render_update(self, parsed: _Parsed, node: yaml.Node, span: tuple[int, int], old: dict[str, Any],
                       new: dict[str, Any]) -> list[str]:
        """The entry's lines after the change: unchanged fields as they were written, changed ones rendered."""
        if not isinstance(node, yaml.MappingNode):
            raise yt.YamlEditError(f"{self._name(parsed.path)}:{span[0] + 1}: the entry is not a mapping")
        dash = _dash_column(parsed.root)
        base = dash + 2
        old_norm = normalise_fields(old)
        original = {key: (start, stop) for key, start, stop in yt.key_spans(node, parsed.lines, span[1])}
        order = [k for k in (str(k.value) for k, _ in node.value) if k in new]
        for key in new:  # new fields go after the last present field that comes before them
            if key not in order:
                rank = FIELD_ORDER.index(key) if key in FIELD_ORDER else len(FIELD_ORDER)
                at = max((i + 1 for i, k in enumerate(order)
                          if (FIELD_ORDER.index(k) if k in FIELD_ORDER else len(FIELD_ORDER)) <= rank), default=0)
                order.insert(at, key)
        out: list[str] = []
        for key in order:
            if key in original and old_norm.get(key) == new[key]:
                start, stop = original[key]
                chunk = list(parsed.lines[start:stop])
                if start == span[0]:  # the entry's first line carries the dash: keep the key's own column
                    chunk[0] = " " * base + chunk[0][base:]
                out += chunk
            else:
                out += yt.indented(yt.render({key: new[key]}, parsed.style, literal=("answer",)), base)
        first = out[0]
        out[0] = " " * dash + "- " + first[base:]
        return out


def _topic(path: Path) -> str:
    return path.stem


def _dash_column(root: yaml.Node | None) -> int:
    if isinstance(root, yaml.SequenceNode) and root.value:
        return max(root.value[0].start_mark.column - 2, 0)
    return 0


def _has_lists(root: yaml.Node | None) -> bool:
    if not isinstance(root, yaml.SequenceNode):
        return False
    return any(isinstance(v, yaml.SequenceNode) for item in root.value if isinstance(item, yaml.MappingNode)
               for _k, v in item.value)
