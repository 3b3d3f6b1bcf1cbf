"""The NLU training files (`nlu_data/*.yml`): the examples of each intent per language, and plans for changing
them one line at a time.

A file's language is in its name: `nlu_it.yml` holds Italian, `nlu.yml` (no known language suffix) the default
language. Examples are the `- text` lines of an intent's `examples: |` block; adding, editing or removing one
touches exactly one line. Other parts of the files (regexes, synonyms, comments) are never rewritten.

A plan is `{path: new text}`; `bot.studio.content` validates and writes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.studio import yaml_text as yt

SUFFIXES = (".yml", ".yaml")
INTENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass
class Block:
    """One `- intent: x` item of one file with an `examples: |` block."""

    intent: str
    path: Path
    language: str
    item_start: int  # line of the item's dash
    key_column: int  # column of `examples:`
    header: int  # line of `examples: |`
    stop: int  # line after the block's last content line
    indent: int  # column of the examples' dashes
    examples: list[tuple[int, str]] = field(default_factory=list)  # (line, text)
    editable: bool = True  # False: the examples are not a `|` block (edit the file by hand)


@dataclass
class NluFile:
    path: Path
    language: str
    lines: list[str]
    root: yaml.Node | None
    blocks: list[Block]
    item_column: int  # column of the `- intent:` dashes
    end: int  # line after the `nlu:` list's last item


class NluFiles:
    """The NLU files under `data_dir`, their languages among `languages`."""

    def __init__(self, data_dir: Path, languages: tuple[str, ...], default_language: str) -> None:
        self.data_dir = data_dir
        self.languages = tuple(languages)
        self.default_language = default_language
        self._cache = yt.FileCache()

    # -- reading -----------------------------------------------------------------------------------

    def language_of(self, path: Path) -> str:
        suffix = path.stem.rsplit("_", 1)[-1] if "_" in path.stem else ""
        return suffix if suffix in self.languages else self.default_language

    def paths(self) -> list[Path]:
        if not self.data_dir.is_dir():
            return []
        return sorted(p for p in self.data_dir.rglob("*") if p.is_file() and p.suffix in SUFFIXES
                      and not any(part.startswith(".") for part in p.relative_to(self.data_dir).parts))

    def parse(self, path: Path, text: str | None = None) -> NluFile | None:
        """The file's intent blocks; None when it holds no `nlu:` list (rules, stories)."""
        if text is None:
            return self._cache.get(path, lambda: self._parse(path, path.read_text(encoding="utf-8")))
        return self._parse(path, text)

    def _parse(self, path: Path, text: str) -> NluFile | None:
        root = yt.compose(text, path.name)
        nlu = yt.mapping_get(root, "nlu")
        if not isinstance(nlu, yaml.SequenceNode):
            return None
        lines = text.splitlines(keepends=True)
        language = self.language_of(path)
        blocks = []
        spans = yt.item_spans(nlu, lines)
        for item, (start, stop) in zip(nlu.value, spans):
            name = yt.mapping_get(item, "intent")
            if not isinstance(name, yaml.ScalarNode):
                continue
            key = yt.mapping_key(item, "examples")
            value = yt.mapping_get(item, "examples")
            if key is None or value is None:
                continue
            block = Block(str(name.value), path, language, start, key.start_mark.column, key.start_mark.line,
                          key.start_mark.line + 1, key.start_mark.column + 2)
            if not (isinstance(value, yaml.ScalarNode) and value.style == "|"):
                block.editable = False
                blocks.append(block)
                continue
            i, last = key.start_mark.line + 1, key.start_mark.line
            while i < len(lines):  # the block: the lines indented deeper than `examples:` (blank ones too)
                line = lines[i]
                if line.strip():
                    if yt.indent_of(line) <= key.start_mark.column:
                        break
                    last = i
                    stripped = line.strip()
                    if stripped.startswith("- ") or stripped == "-":
                        block.indent = yt.indent_of(line)
                        block.examples.append((i, stripped[1:].strip()))
                i += 1
            block.stop = last + 1
            blocks.append(block)
        item_column = max(nlu.value[0].start_mark.column - 2, 0) if nlu.value else 0
        end = yt.node_end(nlu, lines) if nlu.value else len(lines)
        return NluFile(path, language, lines, root, blocks, item_column, end)

    def files(self) -> list[NluFile]:
        out = []
        for path in self.paths():
            try:
                parsed = self.parse(path)
            except (yt.YamlEditError, OSError, UnicodeDecodeError):
                continue
            if parsed is not None:
                out.append(parsed)
        return out

    def intents(self) -> dict[str, dict[str, list[str]]]:
        """intent → language → examples, over every file."""
        out: dict[str, dict[str, list[str]]] = {}
        for f in self.files():
            for b in f.blocks:
                out.setdefault(b.intent, {}).setdefault(b.language, []).extend(t for _, t in b.examples)
        return out

    def examples(self, intent: str, language: str) -> list[str]:
        return self.intents().get(intent, {}).get(language, [])

    def read_only(self, intent: str) -> list[str]:
        """Files where the intent's examples are not a `|` block (the studio leaves those to the file)."""
        return [str(b.path.relative_to(self.data_dir)) for f in self.files() for b in f.blocks
                if b.intent == intent and not b.editable]

    # -- planning --------------------------------------------------------------------------------------

    def file_for(self, language: str) -> Path:
        """The file new examples in `language` go to: the one named for it, else the first of that language,
        else a new `nlu_<language>.yml` (`nlu.yml` for the default language)."""
        files = [p for p in self.paths() if self.parse_safely(p) is not None and self.language_of(p) == language]
        named = [p for p in files if p.stem.endswith(f"_{language}")] or [p for p in files if p.stem == "nlu"]
        if named or files:
            return (named or files)[0]
        return self.data_dir / ("nlu.yml" if language == self.default_language else f"nlu_{language}.yml")

    def parse_safely(self, path: Path) -> NluFile | None:
        try:
            return self.parse(path)
        except (yt.YamlEditError, OSError, UnicodeDecodeError):
            return None

    def _blocks(self, intent: str, language: str) -> list[tuple[NluFile, Block]]:
        return [(f, b) for f in self.files() for b in f.blocks if b.intent == intent and b.language == language]

    def plan_add(self, intent: str, language: str, texts: list[str],
                 plans: dict[Path, str] | None = None) -> dict[Path, str]:
        """Add examples at the end of the intent's block in `language` (a new block when it has none)."""
        plans = dict(plans or {})
        found = [(f, b) for f, b in self._blocks_in(plans, intent, language) if b.editable]
        if found:
            f, b = found[-1]
            new = [" " * b.indent + "- " + t + "\n" for t in texts]
            plans[f.path] = "".join(yt.splice(yt.with_final_newline(list(f.lines)), b.stop, b.stop, new))
            return plans
        path = self.file_for(language)
        text = plans.get(path) if path in plans else (path.read_text(encoding="utf-8") if path.exists() else None)
        block = [f"- intent: {intent}\n", "  examples: |\n", *(f"    - {t}\n" for t in texts)]
        if text is None:
            plans[path] = f'# NLU examples ({language}). Edited in the studio (/studio) or by hand.\nversion: "3.1"\n\nnlu:\n' \
                          + "".join(block)
            return plans
        parsed = self.parse(path, text)
        if parsed is None:
            raise yt.YamlEditError(f"{path.name} has no `nlu:` list to add intent {intent!r} to")
        lines = yt.with_final_newline(list(parsed.lines))
        block = yt.indented(block, parsed.item_column)
        at = parsed.end
        plans[path] = "".join(lines[:at] + ["\n"] + block + lines[at:])
        return plans

    def _planned(self, plans: dict[Path, str]) -> Iterator[tuple[Path, NluFile]]:
        """Every NLU file as it would be after `plans` (files that are not NLU data left out)."""
        for path in self.paths():
            parsed = self.parse(path, plans.get(path) or path.read_text(encoding="utf-8"))
            if parsed is not None:
                yield path, parsed

    def _blocks_in(self, plans: dict[Path, str], intent: str, language: str) -> list[tuple[NluFile, Block]]:
        """`_blocks`, reading planned texts where a plan changed a file already."""
        out = []
        for path in self.paths():
            parsed = self.parse(path, plans[path]) if path in plans else self.parse_safely(path)
            if parsed is None:
                continue
            out += [(parsed, b) for b in parsed.blocks if b.intent == intent and b.language == language]
        return out

    def plan_insert(self, intent: str, language: str, text: str, after: str | None,
                    plans: dict[Path, str] | None = None) -> dict[Path, str]:
        """Put `text` back right after the example `after` (None: before the first one), where it was."""
        plans = dict(plans or {})
        found = [(f, b) for f, b in self._blocks_in(plans, intent, language) if b.editable]
        for f, b in found:
            for line_no, existing in b.examples:
                if after is not None and existing == after:
                    at = line_no + 1
                    break
            else:
                continue
            break
        else:
            if not found or not found[0][1].examples:
                return self.plan_add(intent, language, [text], plans)
            f, b = found[0]
            at = b.examples[0][0]
        new = " " * b.indent + "- " + text + "\n"
        plans[f.path] = "".join(yt.splice(yt.with_final_newline(list(f.lines)), at, at, [new]))
        return plans

    def examples_in(self, plans: dict[Path, str], intent: str, language: str) -> list[str]:
        """The examples as they would be after `plans`."""
        return [t for _f, b in self._blocks_in(plans, intent, language) for _line, t in b.examples]

    def plan_replace(self, intent: str, language: str, old: str, new: str | None,
                     plans: dict[Path, str] | None = None) -> dict[Path, str]:
        """Change the example `old` to `new`, or remove it (`new` None). `KeyError` when it is not there."""
        plans = dict(plans or {})
        for f, b in self._blocks_in(plans, intent, language):
            for line_no, text in b.examples:
                if text == old:
                    if not b.editable:
                        break
                    lines = list(f.lines)
                    if new is None:
                        lines = lines[:line_no] + lines[line_no + 1:]
                    else:
                        line = lines[line_no]
                        lines[line_no] = line[: yt.indent_of(line)] + "- " + new + "\n"
                    plans[f.path] = "".join(lines)
                    return plans
        raise KeyError(f"{old!r} is not an example of intent {intent!r} in {language!r}")

    def plan_rename(self, old: str, new: str, plans: dict[Path, str] | None = None) -> dict[Path, str]:
        """Rename the intent in every NLU file (`- intent: old` → `- intent: new`)."""
        plans = dict(plans or {})
        for path, parsed in self._planned(plans):
            lines = list(parsed.lines)
            nlu = yt.mapping_get(parsed.root, "nlu")
            changed = False
            for item in nlu.value if isinstance(nlu, yaml.SequenceNode) else []:
                name = yt.mapping_get(item, "intent")
                if isinstance(name, yaml.ScalarNode) and name.value == old:
                    yt.replace_scalar(lines, name, new)
                    changed = True
            if changed:
                plans[path] = "".join(lines)
        return plans

    def plan_remove_intent(self, intent: str, plans: dict[Path, str] | None = None) -> dict[Path, str]:
        """Remove the intent's blocks from every file."""
        plans = dict(plans or {})
        for path, parsed in self._planned(plans):
            nlu = yt.mapping_get(parsed.root, "nlu")
            spans = yt.item_spans(nlu, parsed.lines) if isinstance(nlu, yaml.SequenceNode) else []
            lines = list(parsed.lines)
            for item, (start, stop) in reversed(list(zip(nlu.value if nlu else [], spans))):
                name = yt.mapping_get(item, "intent")
                if isinstance(name, yaml.ScalarNode) and name.value == intent:
                    while stop < len(lines) and not lines[stop].strip():
                        stop += 1
                    lines = lines[:start] + lines[stop:]
            if lines != parsed.lines:
                plans[path] = "".join(lines)
        return plans
