"""What the project's own validators say about a planned change, before anything is written.

The planned texts are put in a temporary mirror of the folder (links to the unchanged files, the new texts in
place of the changed ones) and checked by the same code the build and the training use
(`kb_index.schema.load_content`, `nlu_components.validate`). Only the problems the change brings are
reported, each with the field it is about, so the page can show it next to that field.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kb_index.schema import ContentError, load_content
from nlu_components.validate import validate

_LINE_NUMBERS = re.compile(r":\d+")


@dataclass(frozen=True)
class FieldProblem:
    """A problem with one field of what was submitted; `level` error (refused) or warning (saved)."""

    field: str
    message: str
    level: str = "error"

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "level": self.level}


@contextlib.contextmanager
def mirror(root: Path, plans: dict[Path, str | None]) -> Iterator[Path]:
    """A temporary copy of the folder `root` as it would be after `plans` (links for unchanged files; a plan of
    None removes the file)."""
    tmp = Path(tempfile.mkdtemp(prefix="studio-check-"))
    try:
        if root.is_dir():
            for path in root.rglob("*"):
                if path.is_file() and path not in plans:
                    target = tmp / path.relative_to(root)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.symlink(path.resolve(), target)
        for path, text in plans.items():
            if text is not None and path.is_relative_to(root):
                target = tmp / path.relative_to(root)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _kb_problems(content_dir: Path) -> list[str]:
    try:
        load_content(content_dir)
    except ContentError as exc:
        return [str(p) for p in exc.problems]
    return []


def kb_problems(content_dir: Path, plans: dict[Path, str | None], *, entry_ids: set[str] = frozenset()) -> list[FieldProblem]:  # type: ignore[assignment]
    """The problems `plans` add to the FAQ content (all of them are errors: the build would refuse them)."""
    mine = {p: t for p, t in plans.items() if p.is_relative_to(content_dir)}
    if not mine:
        return []
    with mirror(content_dir, {}) as before_dir:
        before = {_LINE_NUMBERS.sub("", p) for p in _kb_problems(before_dir)}
    with mirror(content_dir, mine) as after_dir:
        try:
            load_content(after_dir)
            return []
        except ContentError as exc:
            found = exc.problems
    out = []
    for p in found:
        if _LINE_NUMBERS.sub("", str(p)) in before:
            continue
        field = p.field or ("id" if p.entry is None else "entry")
        message = p.message if p.entry in {f"'{e}'" for e in entry_ids} else f"{p}"
        out.append(FieldProblem(field, message))
    return out


def _relative(text: str, *roots: Path) -> str:
    for root in roots:
        text = text.replace(str(root) + os.sep, "")
    return text


def _nlu_signature(problem: object, *roots: Path) -> str:
    return _LINE_NUMBERS.sub("", _relative(str(problem), *roots))


def nlu_problems(data_dir: Path, plans: dict[Path, str | None]) -> list[FieldProblem]:
    """The problems `plans` add to the NLU data: errors (the training would refuse) and warnings."""
    mine = {p: t for p, t in plans.items() if p.is_relative_to(data_dir)}
    if not mine:
        return []
    with mirror(data_dir, {}) as before_dir:
        before = {_nlu_signature(p, before_dir, data_dir.resolve()) for p in validate([before_dir]).problems}
    with mirror(data_dir, mine) as after_dir:
        report = validate([after_dir])
        out = []
        for problem in report.problems:
            if _nlu_signature(problem, after_dir, data_dir.resolve()) in before:
                continue
            message = _relative(problem.message, after_dir, data_dir.resolve())
            out.append(FieldProblem("text", message, problem.level))
    return out
