"""Edit YAML files the way a careful person would: change the lines of one item and leave every other byte alone.

The content files are hand-written (comments, key order, quoting, flow lists, two indentation styles in one
file), and no YAML library re-emits all of that exactly. So an edit here is a splice: the file is parsed once
for positions (PyYAML's node tree, with libyaml when built with it), the lines of the item that changed are
replaced by a fragment rendered with ruamel.yaml in the file's own indentation and quoting, and the rest of the
text is kept as it was. `git diff` then shows the change and nothing else.

`atomic_write` puts a file in place all at once (temporary file in the same folder, fsync, rename), so a crash
or a full disk never leaves half a file behind.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class YamlEditError(Exception):
    """The file cannot be edited safely (malformed YAML, an unexpected layout); the message says where."""


def compose(text: str, name: str = "file") -> yaml.Node | None:
    """The node tree of `text` (positions of every key and value); `YamlEditError` when it is not YAML."""
    try:
        return yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        raise YamlEditError(f"{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None


def load(text: str) -> Any:
    """The data of `text` (safe loader)."""
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - the C safe loader


def mapping_get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    """The value node of `key` in a mapping node (None when absent or not a mapping)."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def mapping_key(node: yaml.Node | None, key: str) -> yaml.ScalarNode | None:
    """The key node of `key` in a mapping node."""
    if isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return k
    return None


class FileCache:
    """Parsed files by path, valid while the file's size and modification time are unchanged (the pages read
    the same files many times between two saves)."""

    def __init__(self) -> None:
        self._entries: dict[Path, tuple[tuple[int, int, int], Any]] = {}

    def get(self, path: Path, parse: Any) -> Any:
        st = path.stat()
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)  # a save replaces the file: a new inode
        found = self._entries.get(path)
        if found is not None and found[0] == stamp:
            return found[1]
        value = parse()
        self._entries[path] = (stamp, value)
        return value


# -- lines -----------------------------------------------------------------------------------------


def is_filler(line: str) -> bool:
    """A blank line or a comment-only line: what separates items and belongs to none of them."""
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def trim_tail(lines: Sequence[str], start: int, end: int) -> int:
    """`end` moved up past the blank and comment lines at the bottom of `lines[start:end]`."""
    while end > start + 1 and is_filler(lines[end - 1]):
        end -= 1
    return end


def item_spans(seq: yaml.SequenceNode, lines: Sequence[str], end: int | None = None) -> list[tuple[int, int]]:
    """The line span `[start, stop)` of every item of a block sequence, from its dash to its last line (the
    blank lines and comments after an item stay where they are)."""
    spans = []
    items = seq.value
    for i, item in enumerate(items):
        start = item.start_mark.line
        stop = items[i + 1].start_mark.line if i + 1 < len(items) else (end if end is not None else _node_end(item, lines))
        spans.append((start, trim_tail(lines, start, stop)))
    return spans


def key_spans(mapping: yaml.MappingNode, lines: Sequence[str], end: int) -> list[tuple[str, int, int]]:
    """(key, start, stop) of every key of a block mapping: its key line to the line before the next key."""
    pairs = mapping.value
    spans = []
    for i, (k, _v) in enumerate(pairs):
        start = k.start_mark.line
        stop = pairs[i + 1][0].start_mark.line if i + 1 < len(pairs) else end
        spans.append((str(k.value), start, trim_tail(lines, start, stop)))
    return spans


def _node_end(node: yaml.Node, lines: Sequence[str]) -> int:
    """The line after a node's last line (its end mark; a mark at column 0 is the start of the next line)."""
    mark = node.end_mark
    return mark.line if mark.column == 0 else min(mark.line + 1, len(lines))


def node_end(node: yaml.Node, lines: Sequence[str]) -> int:
    """`_node_end` with the trailing blank and comment lines left out."""
    return trim_tail(lines, node.start_mark.line, _node_end(node, lines))


def splice(lines: list[str], start: int, stop: int, new: Iterable[str]) -> list[str]:
    """`lines` with `[start, stop)` replaced by `new` (each ending with a newline)."""
    return lines[:start] + [line if line.endswith("\n") else line + "\n" for line in new] + lines[stop:]


def with_final_newline(lines: list[str]) -> list[str]:
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return lines


def replace_scalar(lines: list[str], node: yaml.ScalarNode, new: str) -> None:
    """Replace one plain one-line scalar in place (a key or value), keeping the rest of its line."""
    if node.start_mark.line != node.end_mark.line or node.style not in (None, ""):
        raise YamlEditError(f"line {node.start_mark.line + 1}: {node.value!r} is quoted or spans lines; "
                            "change it in the file")
    i = node.start_mark.line
    line = lines[i]
    lines[i] = line[: node.start_mark.column] + new + line[node.end_mark.column:]


def indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


# -- rendering ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Style:
    """How a file indents: `offset` is where a nested sequence's dash sits relative to its parent key
    (0: `key:` then `- item` under it; 2: `key:` then `  - item`), `quoted` the keys whose texts are
    double-quoted, `flow` the keys written as flow lists (`tags: [a, b]`)."""

    offset: int = 2
    quoted: frozenset[str] = frozenset()
    flow: frozenset[str] = frozenset()

    @classmethod
    def of(cls, root: yaml.Node | None, *, quoted_keys: Iterable[str] = ("text",)) -> "Style":
        """The style of a parsed file: the most common nested-sequence offset, which of `quoted_keys` are
        mostly double-quoted, which keys hold flow lists."""
        offsets: dict[int, int] = {}
        votes: dict[str, int] = {}
        flow: set[str] = set()
        watch = set(quoted_keys)
        for k, v in _pairs(root):
            if isinstance(v, yaml.SequenceNode) and v.value and not v.flow_style:
                first = v.value[0]
                offset = first.start_mark.column - 2 - k.start_mark.column
                offsets[offset] = offsets.get(offset, 0) + 1
            if isinstance(v, yaml.SequenceNode) and v.flow_style:
                flow.add(str(k.value))
            if isinstance(v, yaml.ScalarNode) and k.value in watch:
                votes[k.value] = votes.get(k.value, 0) + (1 if v.style == '"' else -1)
        offset = max(offsets, key=lambda o: offsets[o]) if offsets else 2
        return cls(offset=max(offset, 0), quoted=frozenset(k for k, n in votes.items() if n > 0),
                   flow=frozenset(flow))


def _pairs(node: yaml.Node | None) -> Iterable[tuple[yaml.Node, yaml.Node]]:
    stack = [node] if node is not None else []
    while stack:
        n = stack.pop()
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                yield k, v
                stack.append(v)
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)


def _ruamel(style: Style) -> YAML:
    y = YAML()
    y.width = 1_000_000  # never fold a long line
    y.allow_unicode = True
    y.indent(mapping=2, sequence=2 + style.offset, offset=style.offset)
    return y


def _prepare(value: Any, style: Style, key: str | None = None) -> Any:
    """Plain data → ruamel objects that carry the file's style (literal blocks, quotes, flow lists)."""
    if isinstance(value, dict):
        out = CommentedMap()
        for k, v in value.items():
            out[k] = _prepare(v, style, k)
        return out
    if isinstance(value, (list, tuple)):
        seq = CommentedSeq(_prepare(v, style, None) for v in value)
        if key in style.flow and all(isinstance(v, str) and _PLAIN_NAME.match(v) for v in value):
            seq.fa.set_flow_style()
        return seq
    if isinstance(value, str):
        if "\n" in value.rstrip("\n"):
            return LiteralScalarString(value if value.endswith("\n") else value + "\n")
        if key in style.quoted:
            return DoubleQuotedScalarString(value)
    return value


def render(data: Any, style: Style, *, literal: Iterable[str] = ()) -> list[str]:
    """`data` (a mapping or a list) as YAML lines in `style`, unindented; keys in `literal` are written as
    `|` blocks even when they hold one line."""
    prepared = _prepare(data, style)
    forced = set(literal)
    if forced and isinstance(prepared, CommentedMap):
        for k in forced & set(prepared):
            if isinstance(prepared[k], str):
                text = str(prepared[k])
                prepared[k] = LiteralScalarString(text if text.endswith("\n") else text + "\n")
    out = io.StringIO()
    _ruamel(style).dump(prepared, out)
    return out.getvalue().splitlines(keepends=True)


def as_item(lines: list[str], indent: int) -> list[str]:
    """Rendered mapping lines as one item of a block sequence whose dash is at column `indent`."""
    pad = " " * indent
    return [(pad + "- " if i == 0 else pad + "  ") + line if line.strip() else line for i, line in enumerate(lines)]


def indented(lines: list[str], indent: int) -> list[str]:
    pad = " " * indent
    return [pad + line if line.strip() else line for line in lines]


# -- writing -----------------------------------------------------------------------------------------


def atomic_write(path: Path, text: str) -> None:
    """Replace `path` with `text` all at once (same folder temp file, fsync, rename); keeps the file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
