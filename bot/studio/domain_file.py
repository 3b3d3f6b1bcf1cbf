"""`domain.yml`: the bot's responses (one variation per language, conditioned on the `language` slot, with their
buttons) and its intent list; plans for changing one response or one intent name.

A variation without a `language` condition is the default language's; Rasa falls back to it, so a response
always keeps one. Keys a variation has besides `text`, `buttons` and the language condition (images, custom
payloads, channels) are kept as they are.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.studio import yaml_text as yt
from bot.studio.faq_files import version_of

QUOTED = ("text", "title", "payload")


def variation_language(variation: dict[str, Any], default_language: str) -> str:
    for c in variation.get("condition") or []:
        if isinstance(c, dict) and c.get("name") == "language" and c.get("type", "slot") == "slot":
            return str(c.get("value"))
    return default_language


@dataclass(frozen=True)
class Response:
    name: str
    variations: list[dict[str, Any]]  # as written in the file

    @property
    def key(self) -> str:
        return f"response:{self.name}"

    @property
    def version(self) -> str:
        return version_of(self.variations)


class DomainFile:
    def __init__(self, path: Path, default_language: str) -> None:
        self.path = path
        self.default_language = default_language
        self._cache = yt.FileCache()

    def _parse(self, text: str | None = None) -> tuple[list[str], yaml.Node | None, Any]:
        if text is None:
            lines, root, data = self._cache.get(self.path, lambda: self._read(self.path.read_text(encoding="utf-8")))
            return list(lines), root, copy.deepcopy(data)
        return self._read(text)

    def _read(self, text: str) -> tuple[list[str], yaml.Node | None, Any]:
        root = yt.compose(text, self.path.name)
        return text.splitlines(keepends=True), root, yt.load(text) if root is not None else None

    # -- reading -----------------------------------------------------------------------------------

    def responses(self) -> list[Response]:
        _lines, _root, data = self._parse()
        table = (data or {}).get("responses") or {}
        return [Response(str(name), [dict(v) for v in variations or [] if isinstance(v, dict)])
                for name, variations in table.items()]

    def response(self, name: str) -> Response | None:
        return next((r for r in self.responses() if r.name == name), None)

    def intents(self, text: str | None = None) -> list[str]:
        _lines, _root, data = self._parse(text)
        out = []
        for item in (data or {}).get("intents") or []:
            out.append(str(next(iter(item))) if isinstance(item, dict) else str(item))
        return out

    # -- view ↔ file -------------------------------------------------------------------------------

    def view(self, variation: dict[str, Any]) -> dict[str, Any]:
        """A variation as the studio shows it: language, text, buttons, and what else it has (kept as is)."""
        rest = {k: v for k, v in variation.items() if k not in ("text", "buttons", "condition")}
        others = [c for c in variation.get("condition") or [] if not (isinstance(c, dict) and c.get("name") == "language")]
        if others:
            rest["condition"] = others
        return {"language": variation_language(variation, self.default_language), "text": variation.get("text", ""),
                "buttons": [{"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
                            for b in variation.get("buttons") or [] if isinstance(b, dict)],
                "extra": rest}

    def from_view(self, view: dict[str, Any], original: dict[str, Any] | None) -> dict[str, Any]:
        """The variation to write for an edited view; keys it had are kept in their order."""
        language = str(view.get("language") or self.default_language)
        out: dict[str, Any] = {}
        base = dict(original or {})
        if language != self.default_language:
            condition = [c for c in base.get("condition") or [] if not (isinstance(c, dict) and c.get("name") == "language")]
            condition.append({"type": "slot", "name": "language", "value": language})
            base["condition"] = condition
        else:
            others = [c for c in base.get("condition") or [] if not (isinstance(c, dict) and c.get("name") == "language")]
            if others:
                base["condition"] = others
            else:
                base.pop("condition", None)
        text = str(view.get("text") or "").strip()
        buttons = [{"title": str(b.get("title", "")).strip(), "payload": str(b.get("payload", "")).strip()}
                   for b in view.get("buttons") or []]
        order = list(base) if original else ["condition", "text", "buttons"]
        for key in ("condition", "text", "buttons"):
            if key not in order:
                order.append(key)
        for key in order:
            if key == "text":
                out["text"] = text
            elif key == "buttons":
                if buttons:
                    out["buttons"] = buttons
            elif key in base:
                out[key] = base[key]
        for key, value in (view.get("extra") or {}).items():
            if key not in out and key != "condition" and original and key in original:
                out[key] = original[key]
        return out

    # -- planning ------------------------------------------------------------------------------------

    def plan_response(self, name: str, variations: list[dict[str, Any]], text: str | None = None) -> str:
        """The domain's text with response `name` holding `variations` (unchanged ones keep their lines)."""
        lines, root, data = self._parse(text)
        responses = yt.mapping_get(root, "responses")
        if not isinstance(responses, yaml.MappingNode):
            raise yt.YamlEditError(f"{self.path.name} has no `responses:` mapping")
        style = yt.Style.of(root, quoted_keys=QUOTED)
        end = yt.node_end(responses, lines)
        spans = {k: (s, e) for k, s, e in yt.key_spans(responses, lines, end)}
        key_node = yt.mapping_key(responses, name)
        if key_node is None:
            raise KeyError(f"no response {name!r} in {self.path.name}")
        start, stop = spans[name]
        value = yt.mapping_get(responses, name)
        old = [dict(v) for v in (data.get("responses") or {}).get(name) or []]
        key_col = key_node.start_mark.column
        dash = key_col + style.offset
        item_spans = yt.item_spans(value, lines, stop) if isinstance(value, yaml.SequenceNode) else []
        new_lines = [lines[start]]  # `  utter_x:`
        for variation in variations:
            same = next((i for i, o in enumerate(old) if o == variation and i < len(item_spans)), None)
            if same is not None:
                s, e = item_spans[same]
                new_lines += lines[s:e]
                old[same] = {"__used__": True}  # each original keeps its lines once
            else:
                new_lines += yt.as_item(yt.render(variation, style), dash)
        return "".join(yt.splice(lines, start, stop, new_lines))

    def plan_add_intent(self, name: str, text: str | None = None) -> str:
        lines, root, _data = self._parse(text)
        intents = yt.mapping_get(root, "intents")
        if not isinstance(intents, yaml.SequenceNode) or not intents.value:
            raise yt.YamlEditError(f"{self.path.name} has no `intents:` list")
        last = intents.value[-1]
        at = yt.node_end(last, lines)
        dash = max(last.start_mark.column - 2, 0)
        return "".join(yt.splice(lines, at, at, [" " * dash + f"- {name}\n"]))

    def plan_rename_intent(self, old: str, new: str, text: str | None = None) -> str:
        lines, root, _data = self._parse(text)
        for node in self._intent_nodes(root, old):
            yt.replace_scalar(lines, node, new)
        return "".join(lines)

    def plan_remove_intent(self, name: str, text: str | None = None) -> str:
        lines, root, _data = self._parse(text)
        intents = yt.mapping_get(root, "intents")
        if not isinstance(intents, yaml.SequenceNode):
            return "".join(lines)
        spans = yt.item_spans(intents, lines)
        for item, (s, e) in reversed(list(zip(intents.value, spans))):
            node = item.value[0][0] if isinstance(item, yaml.MappingNode) else item
            if isinstance(node, yaml.ScalarNode) and node.value == name:
                lines = lines[:s] + lines[e:]
        return "".join(lines)

    @staticmethod
    def _intent_nodes(root: yaml.Node | None, name: str) -> list[yaml.ScalarNode]:
        intents = yt.mapping_get(root, "intents")
        out = []
        for item in intents.value if isinstance(intents, yaml.SequenceNode) else []:
            node = item.value[0][0] if isinstance(item, yaml.MappingNode) and item.value else item
            if isinstance(node, yaml.ScalarNode) and node.value == name:
                out.append(node)
        return out


def step_intent_nodes(root: yaml.Node | None, name: str) -> list[yaml.ScalarNode]:
    """`intent: <name>` values in the steps of rules and stories (and in `or:` alternatives)."""
    out: list[yaml.ScalarNode] = []
    for section in ("rules", "stories"):
        items = yt.mapping_get(root, section)
        for item in items.value if isinstance(items, yaml.SequenceNode) else []:
            for part in ("steps", "condition"):
                steps = yt.mapping_get(item, part)
                stack = list(steps.value) if isinstance(steps, yaml.SequenceNode) else []
                while stack:
                    step = stack.pop()
                    value = yt.mapping_get(step, "intent")
                    if isinstance(value, yaml.ScalarNode) and value.value == name:
                        out.append(value)
                    alternatives = yt.mapping_get(step, "or")
                    if isinstance(alternatives, yaml.SequenceNode):
                        stack.extend(alternatives.value)
    return out
