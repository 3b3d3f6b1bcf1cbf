"""The content-editing layer: what the studio (and any other part of the hub) calls to read and change the bot's
content — intents and their examples per language, `domain.yml` responses, FAQ entries.

The YAML files stay the source of truth: every change is planned as new file texts (one item's lines change,
`bot.studio.yaml_text`), checked by the project's own validators (`bot.studio.checks`: refused with each
problem at its field), written atomically, committed to git when the content is in a work tree, and recorded
as a revision (who, when, each item before and after) with an audit entry, in one unit of work.

Every item has a version (`version` in what the reads return). A write names the version it was based on;
when the item changed since, the write is refused with both versions (`EditConflict`) and nothing is
overwritten — except for examples, where changes that do not touch the same example are merged (adding
"hello there" while someone else removed "yo" from the same intent is not a conflict).

    content = container.studio.content
    await content.add_example(Author("maria@example.com", "Maria"), "greet", "it", "buongiorno a tutti")
    await content.save_faq(author, "gift-wrap", "ro", {"question": "...", "answer": "..."}, base=None, topic="orders")

Reads are synchronous (cheap file reads); writes are coroutines (they take the studio's lock, write in a worker
thread, then record the revision).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import yaml
from babel import Locale, UnknownLocaleError

from bot.errors import Conflict, DomainError, NotFound
from bot.store import studio as studio_store
from bot.store.db import Database
from bot.store.studio import ItemChange
from bot.studio import yaml_text as yt
from bot.studio.checks import FieldProblem, kb_problems, nlu_problems
from bot.studio.domain_file import DomainFile, step_intent_nodes, variation_language
from bot.studio.faq_files import FaqFiles, normalise_fields, version_of
from bot.studio.git import GitError, GitRepo
from bot.studio.nlu_files import INTENT_NAME, NluFiles
from kb_index.schema import entry_problems as schema_problems

log = logging.getLogger(__name__)

#: Code that names intents: a rename must not silently break it.
CODE_DIRS = ("actions", "bot", "core", "connectors", "nlu_components", "kb_index")
#: Intents the bot's own machinery relies on (never renamed or deleted from the studio).
PROTECTED_INTENTS = frozenset({"nlu_fallback", "choose_kb_entry"})
MAX_EXAMPLE_CHARS = 500


# -- errors a caller can act on ------------------------------------------------------------------------


class InvalidContent(DomainError):
    """The change is refused: `problems` says what is wrong, field by field."""

    status_code = 422
    code = "invalid_content"

    def __init__(self, problems: list[FieldProblem], message: str | None = None) -> None:
        errors = [p for p in problems if p.level == "error"]
        super().__init__(message or "; ".join(f"{p.field}: {p.message}" for p in errors) or "invalid content")
        self.problems = problems

    def body(self) -> dict[str, object]:
        return {**super().body(), "problems": [p.as_dict() for p in self.problems]}


class EditConflict(Conflict):
    """Someone saved the item after the version this change was based on: both versions, and who and when."""

    code = "edit_conflict"

    def __init__(self, key: str, *, yours: Any, theirs: Any, version: str | None, by: str | None,
                 at: str | None, detail: str | None = None) -> None:
        who = f" by {by}" if by else ""
        super().__init__(detail or f"this was changed{who} after you opened it: compare both versions and choose")
        self.key, self.yours, self.theirs, self.version, self.by, self.at = key, yours, theirs, version, by, at

    def body(self) -> dict[str, object]:
        return {**super().body(), "key": self.key, "yours": self.yours, "theirs": self.theirs,
                "version": self.version, "changed_by": self.by, "changed_at": self.at}


class UnknownItem(NotFound):
    code = "unknown_item"


# -- who and where ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Author:
    """Who makes a change: `key` is the account's e-mail (or an API caller's name)."""

    key: str
    name: str

    @property
    def email(self) -> str:
        return self.key if "@" in self.key else f"{re.sub(r'[^A-Za-z0-9._-]+', '-', self.key) or 'editor'}@studio.invalid"


@dataclass(frozen=True)
class ContentPaths:
    data_dir: Path  # nlu_data/: examples, rules, stories
    domain: Path
    kb_content: Path
    heldout_dir: Path | None = None  # held-out examples (renames follow them)
    project: Path | None = None  # for short file names and the code search of a rename

    @classmethod
    def from_settings(cls, settings: Any) -> "ContentPaths":
        from core.settings import PROJECT_ROOT

        return cls(settings.rasa_data_dir, settings.rasa_domain, settings.kb_content_dir, settings.nlu_heldout_dir,
                   PROJECT_ROOT)

    def all_roots(self) -> list[Path]:
        return [p for p in (self.data_dir, self.domain, self.kb_content, self.heldout_dir) if p is not None]


@dataclass
class Saved:
    """What a write did: the revision, the git commit (if any), the item as it is now, warnings."""

    revision: int | None
    commit: str | None
    item: dict[str, Any]
    warnings: list[FieldProblem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"revision": self.revision, "commit": self.commit, "item": self.item,
                "warnings": [w.as_dict() for w in self.warnings]}


def language_name(code: str) -> str:
    try:
        return Locale.parse(code).get_display_name("en") or code
    except (ValueError, UnknownLocaleError):
        return code


def a_language(code: str) -> str:
    """"an Italian", "a Romanian"."""
    name = language_name(code)
    return ("an " if name[:1].lower() in "aeiou" else "a ") + name


@dataclass
class _Change:
    """A planned change: the new file texts, the items, and how to describe it."""

    plans: dict[Path, str | None]  # new text of each file (None: the file is removed)
    changes: list[ItemChange]
    summary: str
    action: str = "save"
    reverts: int | None = None
    warnings: list[FieldProblem] = field(default_factory=list)


class ContentService:
    """Reads and changes the bot's content (see the module docstring)."""

    def __init__(self, paths: ContentPaths, *, languages: tuple[str, ...], default_language: str,
                 db: Database, use_git: bool = True, lock_file: Path | None = None,
                 on_change: Callable[[], None] | None = None) -> None:
        self.paths = paths
        self.languages = tuple(languages)
        self.default_language = default_language
        self.db = db
        self.nlu = NluFiles(paths.data_dir, self.languages, default_language)
        self.domain = DomainFile(paths.domain, default_language)
        self.faq = FaqFiles(paths.kb_content, default_language)
        self.git = GitRepo.find(paths.data_dir) if use_git else None
        self.lock_file = lock_file
        self.on_change = on_change
        self._async_lock = asyncio.Lock()
        self._thread_lock = threading.Lock()

    # ================================================================================================
    # reads
    # ================================================================================================

    def shown(self, path: Path) -> str:
        """A file name as people read it (relative to the project or its git work tree)."""
        for root in filter(None, (self.git.root if self.git else None, self.paths.project)):
            if path.resolve().is_relative_to(root.resolve()):
                return str(path.resolve().relative_to(root.resolve()))
        return str(path)

    def _check_language(self, language: str, field_name: str = "language") -> None:
        if language not in self.languages:
            raise InvalidContent([FieldProblem(field_name, f"must be one of {', '.join(self.languages)}, "
                                                           f"got {language!r}")])

    # -- intents -------------------------------------------------------------------------------------

    def intents(self) -> dict[str, Any]:
        """Every intent with its example counts per language and the validator's problems."""
        table = self.nlu.intents()
        declared = self.domain.intents()
        from nlu_components.validate import validate

        report = validate([self.paths.data_dir])
        problems: dict[str, list[dict[str, str]]] = {}
        for p in report.problems:
            match = re.search(r"intent '([^']+)'", p.message)
            if match:
                problems.setdefault(match.group(1), []).append({"level": p.level, "message": self._short(str(p))})
        names = list(table) + [n for n in declared if n not in table]
        return {"languages": list(self.languages), "intents": [
            {"name": name, "counts": {lang: len(table.get(name, {}).get(lang, [])) for lang in self.languages},
             "declared": name in declared, "problems": problems.get(name, []),
             "protected": name in PROTECTED_INTENTS} for name in names]}

    def _short(self, text: str) -> str:
        for root in {self.paths.data_dir.resolve(), self.paths.data_dir}:
            text = text.replace(str(root) + "/", f"{self.paths.data_dir.name}/")
        return text

    def intent(self, name: str) -> dict[str, Any]:
        table = self.nlu.intents()
        if name not in table and name not in self.domain.intents():
            raise UnknownItem(f"no intent {name!r}")
        per_language = table.get(name, {})
        return {"name": name, "protected": name in PROTECTED_INTENTS, "read_only_files": self.nlu.read_only(name),
                "references": self.references(name),
                "languages": {lang: {"examples": per_language.get(lang, []),
                                     "version": version_of(per_language.get(lang, [])),
                                     "key": f"examples:{name}:{lang}"} for lang in self.languages}}

    def search(self, query: str, language: str | None = None, limit: int = 200) -> list[dict[str, str]]:
        """Examples containing `query` (case- and accent-insensitive), in every intent."""
        needle = _fold(query)
        if not needle:
            return []
        out = []
        for intent, per_language in self.nlu.intents().items():
            for lang, examples in per_language.items():
                if language and lang != language:
                    continue
                out += [{"intent": intent, "language": lang, "text": t} for t in examples if needle in _fold(t)]
        return out[:limit]

    def references(self, intent: str) -> dict[str, list[str]]:
        """Where an intent is named: rules/stories/domain/held-out (a rename updates these) and code or other
        configuration (a rename refuses while these exist)."""
        updatable: list[str] = []
        for path in self._story_files():
            root = yt.compose(path.read_text(encoding="utf-8"), path.name)
            for node in step_intent_nodes(root, intent):
                updatable.append(f"{self.shown(path)}:{node.start_mark.line + 1}")
        if intent in self.domain.intents():
            updatable.append(self.shown(self.paths.domain))
        blocking: list[str] = []
        pattern = re.compile(r"[\"']" + re.escape(intent) + r"[\"']")
        project = self.paths.project
        if project is not None:
            for folder in CODE_DIRS:
                for path in sorted((project / folder).rglob("*.py")):
                    if path.is_relative_to(Path(__file__).parent):
                        continue  # the studio names kinds of items, not intents
                    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                        if pattern.search(line):
                            blocking.append(f"{folder}/{path.relative_to(project / folder)}:{number}")
            for config in ("handoff.yml", "config.yml"):
                path = project / config
                if path.exists() and re.search(r"(^|\s)" + re.escape(intent) + r"\s*:", path.read_text(encoding="utf-8"),
                                               re.M):
                    blocking.append(config)
        return {"updated": updatable, "blocking": blocking}

    def _story_files(self) -> list[Path]:
        out = []
        for path in self.nlu.paths():
            try:
                data = yt.load(path.read_text(encoding="utf-8"))
            except yaml.YAMLError:
                continue
            if isinstance(data, dict) and ("rules" in data or "stories" in data):
                out.append(path)
        return out

    def _heldout_files(self) -> list[Path]:
        folder = self.paths.heldout_dir
        if folder is None or not folder.exists():
            return []
        return [folder] if folder.is_file() else sorted(p for p in folder.rglob("*.yml"))

    # -- responses -------------------------------------------------------------------------------------

    def responses(self) -> dict[str, Any]:
        out = []
        for r in self.domain.responses():
            have = sorted({variation_language(v, self.default_language) for v in r.variations})
            out.append({"name": r.name, "languages": have, "missing": [l for l in self.languages if l not in have],
                        "variations": len(r.variations), "version": r.version,
                        "preview": next((str(v.get("text", "")) for v in r.variations
                                         if variation_language(v, self.default_language) == self.default_language), "")})
        return {"languages": list(self.languages), "responses": out}

    def response(self, name: str) -> dict[str, Any]:
        r = self.domain.response(name)
        if r is None:
            raise UnknownItem(f"no response {name!r}")
        return {"name": r.name, "key": r.key, "version": r.version,
                "variations": [{**self.domain.view(v), "index": i} for i, v in enumerate(r.variations)],
                "languages": list(self.languages)}

    # -- FAQ -------------------------------------------------------------------------------------------

    def faq_entries(self) -> dict[str, Any]:
        groups: dict[str, dict[str, Any]] = {}
        for v in self.faq.versions():
            g = groups.setdefault(v.id, {"id": v.id, "topic": v.topic, "versions": {}})
            g["versions"][v.language] = {"question": v.fields.get("question", ""), "file": v.file,
                                         "version": v.version}
        for g in groups.values():
            g["missing"] = [l for l in self.languages if l not in g["versions"]]
        return {"languages": list(self.languages), "topics": self.faq.topics(),
                "entries": sorted(groups.values(), key=lambda g: (g["topic"], g["id"]))}

    def faq_entry(self, entry_id: str) -> dict[str, Any]:
        versions = [v for v in self.faq.versions() if v.id == entry_id]
        if not versions:
            raise UnknownItem(f"no FAQ entry {entry_id!r}")
        return {"id": entry_id, "topic": versions[0].topic, "languages": list(self.languages),
                "versions": {v.language: {**normalise_fields(v.fields), "file": v.file, "version": v.version,
                                          "key": v.key} for v in versions}}

    # -- history -----------------------------------------------------------------------------------------

    async def history(self, key: str, limit: int = 50) -> list[dict[str, Any]]:
        return [r.as_dict() for r in await self.db.read(studio_store.history, key, limit)]

    # ================================================================================================
    # writes
    # ================================================================================================

    async def add_example(self, author: Author, intent: str, language: str, text: str, *,
                          base: str | None = None) -> Saved:
        """Add one example to an intent in one language (a new block in the language's file if needed)."""
        return await self._change(author, lambda: self._plan_examples(intent, language, "add", None, text, base))

    async def edit_example(self, author: Author, intent: str, language: str, old: str, new: str, *,
                           base: str | None = None) -> Saved:
        return await self._change(author, lambda: self._plan_examples(intent, language, "edit", old, new, base))

    async def delete_example(self, author: Author, intent: str, language: str, text: str, *,
                             base: str | None = None) -> Saved:
        return await self._change(author, lambda: self._plan_examples(intent, language, "delete", text, None, base))

    async def move_example(self, author: Author, intent: str, language: str, text: str | list[str], to_intent: str,
                           *, base: str | None = None) -> Saved:
        """Move one example (or several: one revision) to another intent, in the same language."""
        texts = [text] if isinstance(text, str) else list(text)
        return await self._change(author, lambda: self._plan_move(intent, language, texts, to_intent, base))

    async def create_intent(self, author: Author, name: str, examples: dict[str, list[str]]) -> Saved:
        """A new intent with its first examples (per language), declared in the domain."""
        return await self._change(author, lambda: self._plan_create(name, examples))

    async def rename_intent(self, author: Author, old: str, new: str) -> Saved:
        """Rename an intent in the NLU files, rules, stories, the domain and the held-out examples; refused with
        the list of places when code or other configuration names it."""
        return await self._change(author, lambda: self._plan_rename(old, new))

    async def delete_intent(self, author: Author, name: str) -> Saved:
        return await self._change(author, lambda: self._plan_delete_intent(name))

    async def save_response(self, author: Author, name: str, variations: list[dict[str, Any]], *,
                            base: str | None) -> Saved:
        """Replace a response's variations (views: language, text, buttons; other keys are kept)."""
        return await self._change(author, lambda: self._plan_response(name, variations, base))

    async def save_faq(self, author: Author, entry_id: str, language: str, fields: dict[str, Any], *,
                       base: str | None, topic: str | None = None) -> Saved:
        """Create (`base` None) or change one FAQ entry in one language."""
        return await self._change(author, lambda: self._plan_faq(entry_id, language, fields, base, topic))

    async def delete_faq(self, author: Author, entry_id: str, language: str, *, base: str | None) -> Saved:
        return await self._change(author, lambda: self._plan_faq_delete(entry_id, language, base))

    async def revert(self, author: Author, revision_id: int, key: str | None = None, *, force: bool = False) -> Saved:
        """Undo what revision `revision_id` did to item `key` — or, with no key, to every item it changed (a move
        changed two intents: undoing one without the other would put an example under both) — as a new
        revision."""
        found = await self.db.read(studio_store.revision, revision_id)
        if found is None:
            raise UnknownItem(f"no revision {revision_id}")
        if key is not None and len(found.items) > 1 and all(c.key.startswith("examples:") for c in found.items):
            key = None  # the examples a revision moved go back together
        if key is None:
            if len(found.items) == 1:
                key = found.items[0].key
            elif all(c.key.startswith("examples:") for c in found.items):
                return await self._change(author, lambda: self._plan_revert_examples(found, found.items))
            else:
                raise InvalidContent([FieldProblem("", "this revision changed several kinds of items: revert them one "
                                                       "by one from their history")])
        change = next((c for c in found.items if c.key == key), None)
        if change is None:
            raise UnknownItem(f"revision {revision_id} did not change {key}")
        latest = await self.db.read(studio_store.latest_change, key)
        return await self._change(author, lambda: self._plan_revert(found, change, latest, force))

    async def restore(self, author: Author, inputs: Path, summary: str) -> Saved | None:
        """Make the content what a release snapshot holds (`inputs`: nlu_data/, domain.yml, kb/), as one revision
        listing every item that changes; None when it already is."""
        try:
            return await self._change(author, lambda: self._plan_restore(inputs, summary))
        except InvalidContent as exc:
            if str(exc) == "nothing changed":
                return None
            raise

    async def snapshot(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` (in a worker thread) while no change can be half-written: what it reads is consistent."""
        async with self._async_lock:
            def locked() -> Any:
                with self._locked():
                    return fn()

            return await anyio.to_thread.run_sync(locked)

    # -- the one write path ---------------------------------------------------------------------------

    async def _change(self, author: Author, plan: Callable[[], _Change]) -> Saved:
        async with self._async_lock:
            applied = await anyio.to_thread.run_sync(self._apply, author, plan)
            change, commit, originals = applied
            try:
                revision = await self.db.write(self._record, author, change, commit)
            except BaseException:
                await anyio.to_thread.run_sync(self._undo, originals, commit)
                raise
        if self.on_change is not None:
            self.on_change()
        return Saved(revision, commit, self._item_after(change), change.warnings)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock:
            if self.lock_file is None:
                yield
                return
            self.lock_file.parent.mkdir(parents=True, exist_ok=True)
            with open(self.lock_file, "a+") as handle:  # other processes editing the same project wait
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    def _apply(self, author: Author, plan: Callable[[], _Change]) -> tuple[_Change, str | None, dict[Path, str | None]]:
        """Plan under the lock (so the versions compared are the current ones), validate, write, commit."""
        with self._locked():
            try:
                change = plan()
            except yt.YamlEditError as exc:
                raise InvalidContent([FieldProblem("", str(exc))], f"the file cannot be edited safely: {exc}") from exc
            except KeyError as exc:
                raise UnknownItem(str(exc.args[0]) if exc.args else "not found") from exc
            if not change.plans:
                raise InvalidContent([FieldProblem("", "nothing changed")], "nothing changed")
            problems = self._validate(change)
            errors = [p for p in problems if p.level == "error"]
            if errors:
                raise InvalidContent(problems)
            change.warnings += [p for p in problems if p.level != "error"]
            originals: dict[Path, str | None] = {p: (p.read_text(encoding="utf-8") if p.exists() else None)
                                                 for p in change.plans}
            written: list[Path] = []
            try:
                for path, text in change.plans.items():
                    if text is None:
                        with contextlib.suppress(FileNotFoundError):
                            path.unlink()
                    else:
                        yt.atomic_write(path, text)
                    written.append(path)
                commit = None
                if self.git is not None:
                    commit = self.git.commit(list(change.plans), self._message(author, change),
                                             author_name=author.name, author_email=author.email)
            except (OSError, GitError) as exc:
                self._restore(originals, written)
                raise InvalidContent([FieldProblem("", f"could not save: {exc}")], f"could not save: {exc}") from exc
            return change, commit, originals

    def _restore(self, originals: dict[Path, str | None], written: list[Path]) -> None:
        for path in written:
            before = originals.get(path)
            if before is None:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            else:
                yt.atomic_write(path, before)

    def _undo(self, originals: dict[Path, str | None], commit: str | None) -> None:
        with self._locked():
            if commit and self.git is not None:
                with contextlib.suppress(GitError):
                    self.git.restore(list(originals), commit)
            self._restore(originals, list(originals))

    def _record(self, tx: Any, author: Author, change: _Change, commit: str | None) -> int:
        files = sorted(self.shown(p) for p in change.plans)
        revision = studio_store.add_revision(tx.conn, author=author.key, author_name=author.name,
                                             summary=change.summary, files=files, commit=commit,
                                             changes=change.changes, reverts=change.reverts)
        studio_store.add_audit(tx.conn, actor=author.key, actor_name=author.name, action=change.action,
                               summary=change.summary, revision_id=revision,
                               details={"files": files, "commit": commit, "items": [c.key for c in change.changes]})
        tx.emit("content_changed", revision=revision, items=[c.key for c in change.changes])
        return revision

    def _message(self, author: Author, change: _Change) -> str:
        trailers = "\n".join(f"Studio-Item: {c.key}" for c in change.changes)
        return f"{change.summary}\n\nSaved in the studio by {author.name} <{author.email}>.\n\n{trailers}\n"

    def _validate(self, change: _Change) -> list[FieldProblem]:
        plans = change.plans
        problems: list[FieldProblem] = []
        for path, text in plans.items():  # every planned text must at least be YAML
            if text is None:
                continue
            try:
                yt.compose(text, path.name)
            except yt.YamlEditError as exc:
                problems.append(FieldProblem("", f"internal error, nothing saved: {exc}"))
        if problems:
            return problems
        problems += nlu_problems(self.paths.data_dir, plans)
        entries = {c.key.split(":")[1] for c in change.changes if c.key.startswith("faq:")}
        problems += kb_problems(self.paths.kb_content, plans, entry_ids=entries)
        return problems

    def _item_after(self, change: _Change) -> dict[str, Any]:
        key = change.changes[0].key if change.changes else ""
        kind, _, rest = key.partition(":")
        try:
            if kind == "faq":
                return self.faq_entry(rest.split(":")[0])
            if kind == "response":
                return self.response(rest)
            if kind in ("examples", "intent"):
                return self.intent(change.changes[0].after.get("name") if kind == "intent" and change.changes[0].after
                                   else rest.split(":")[0])
        except UnknownItem:
            return {}
        return {}

    # -- planning: examples -------------------------------------------------------------------------------

    def _check_example(self, text: str | None) -> str:
        cleaned = " ".join((text or "").split())
        if not cleaned:
            raise InvalidContent([FieldProblem("text", "must not be empty")])
        if len(cleaned) > MAX_EXAMPLE_CHARS:
            raise InvalidContent([FieldProblem("text", f"is {len(cleaned)} characters long; keep examples under "
                                                       f"{MAX_EXAMPLE_CHARS} (one customer message)")])
        if cleaned.startswith(("#", "- ")):
            raise InvalidContent([FieldProblem("text", "must not start with '#' or '- '")])
        return cleaned

    def _check_intent_exists(self, intent: str) -> None:
        if intent not in self.nlu.intents() and intent not in self.domain.intents():
            raise UnknownItem(f"no intent {intent!r}")

    def _plan_examples(self, intent: str, language: str, op: str, old: str | None, new: str | None,
                       base: str | None) -> _Change:
        self._check_language(language)
        self._check_intent_exists(intent)
        if self.nlu.read_only(intent):
            raise InvalidContent([FieldProblem("text", "this intent's examples in "
                                               f"{', '.join(self.nlu.read_only(intent))} are not a `|` block: "
                                               "edit them in the file")])
        before = self.nlu.examples(intent, language)
        key = f"examples:{intent}:{language}"
        new = self._check_example(new) if op in ("add", "edit") else None
        if op in ("edit", "delete") and old not in before:
            raise self._conflict_for_examples(key, before, f"{old!r} is no longer an example of {intent} in "
                                                           f"{language_name(language)}: it was changed or removed",
                                              yours={"op": op, "old": old, "new": new})
        if op == "add" and new in before:
            raise InvalidContent([FieldProblem("text", f"{new!r} is already an example of {intent}")])
        if op == "edit" and new == old:
            raise InvalidContent([FieldProblem("text", "nothing changed")], "nothing changed")
        if op == "add":
            plans = self.nlu.plan_add(intent, language, [new])  # type: ignore[list-item]
            after = before + [new]
            summary = f"Add {a_language(language)} example to {intent}: “{new}”"
        elif op == "edit":
            plans = self.nlu.plan_replace(intent, language, old, new)  # type: ignore[arg-type]
            after = [new if t == old else t for t in before]
            summary = f"Change {a_language(language)} example of {intent}: “{old}” → “{new}”"
        else:
            plans = self.nlu.plan_replace(intent, language, old, None)  # type: ignore[arg-type]
            after = [t for t in before if t != old]
            summary = f"Remove {a_language(language)} example of {intent}: “{old}”"
        label = f"examples of {intent} ({language_name(language)})"
        return _Change(plans, [ItemChange(key, label, before, after)], summary)

    def _conflict_for_examples(self, key: str, current: list[str], detail: str, yours: Any) -> EditConflict:
        """The conflict for an example that is gone: who changed or removed that very example, and when."""
        gone = yours.get("old") if isinstance(yours, dict) else None
        found = None
        for revision in self.db.read_sync(studio_store.history, key, 50):
            change = revision.items[0]
            if gone in (change.before or []) and gone not in (change.after or []):
                found = revision
                break
        return EditConflict(key, yours=yours, theirs=current, version=version_of(current),
                            by=found.author_name if found else None, at=found.created_at if found else None,
                            detail=detail)

    def _plan_move(self, intent: str, language: str, texts: list[str], to_intent: str, base: str | None) -> _Change:
        self._check_language(language)
        self._check_intent_exists(intent)
        self._check_intent_exists(to_intent)
        if to_intent == intent:
            raise InvalidContent([FieldProblem("to_intent", "choose another intent")])
        texts = list(dict.fromkeys(texts))
        if not texts:
            raise InvalidContent([FieldProblem("text", "choose the examples to move")])
        before = self.nlu.examples(intent, language)
        target_before = self.nlu.examples(to_intent, language)
        key = f"examples:{intent}:{language}"
        gone = [t for t in texts if t not in before]
        if gone:
            raise self._conflict_for_examples(key, before, f"{gone[0]!r} is no longer an example of {intent}",
                                              yours={"op": "move", "old": gone[0], "to": to_intent})
        plans: dict[Path, str | None] = {}
        for text in texts:
            plans = self.nlu.plan_replace(intent, language, text, None, plans)  # type: ignore[arg-type]
        new = [t for t in texts if t not in target_before]
        if new:
            plans = self.nlu.plan_add(to_intent, language, new, plans)  # type: ignore[arg-type]
        lang = language_name(language)
        what = f"“{texts[0]}”" if len(texts) == 1 else f"{len(texts)} examples"
        return _Change(plans, [
            ItemChange(key, f"examples of {intent} ({lang})", before, [t for t in before if t not in texts]),
            ItemChange(f"examples:{to_intent}:{language}", f"examples of {to_intent} ({lang})", target_before,
                       target_before + new),
        ], (f"Move {a_language(language)} example" if len(texts) == 1 else f"Move {lang} examples")
           + f" from {intent} to {to_intent}: {what}")

    def _check_intent_name(self, name: str, field_name: str = "name") -> None:
        if not INTENT_NAME.match(name or ""):
            raise InvalidContent([FieldProblem(field_name, "must be lowercase letters, digits and '_', starting with "
                                                           "a letter (e.g. gift_cards); no '/'")])
        if name in self.nlu.intents() or name in self.domain.intents():
            raise InvalidContent([FieldProblem(field_name, f"intent {name!r} exists already")])

    def _plan_create(self, name: str, examples: dict[str, list[str]]) -> _Change:
        name = (name or "").strip()
        self._check_intent_name(name)
        cleaned: dict[str, list[str]] = {}
        for language, texts in examples.items():
            self._check_language(language, f"examples.{language}")
            cleaned[language] = [self._check_example(t) for t in texts if (t or "").strip()]
        if not any(cleaned.values()):
            raise InvalidContent([FieldProblem("examples", "give at least one example")])
        plans: dict[Path, str] = {}
        changes = [ItemChange(f"intent:{name}", f"intent {name}", None, {"name": name})]
        for language, texts in cleaned.items():
            if texts:
                plans = self.nlu.plan_add(name, language, texts, plans)
                changes.append(ItemChange(f"examples:{name}:{language}",
                                          f"examples of {name} ({language_name(language)})", [], texts))
        plans[self.paths.domain] = self.domain.plan_add_intent(name, plans.get(self.paths.domain))
        return _Change(plans, changes, f"Create intent {name}")

    def _plan_rename(self, old: str, new: str) -> _Change:
        new = (new or "").strip()
        self._check_intent_exists(old)
        if old in PROTECTED_INTENTS:
            raise InvalidContent([FieldProblem("name", f"{old} is used by the bot itself and cannot be renamed")])
        self._check_intent_name(new)
        refs = self.references(old)
        if refs["blocking"]:
            raise InvalidContent([FieldProblem("name", f"{old!r} is named in code or configuration the studio does "
                                                       f"not change: {', '.join(refs['blocking'])}. Ask a developer "
                                                       "to rename it there first.")],
                                 f"cannot rename {old}: it is used in {', '.join(refs['blocking'])}")
        plans = self.nlu.plan_rename(old, new)
        for path in self._story_files():
            text = plans.get(path) or path.read_text(encoding="utf-8")
            root = yt.compose(text, path.name)
            lines = text.splitlines(keepends=True)
            nodes = step_intent_nodes(root, old)
            for node in nodes:
                yt.replace_scalar(lines, node, new)
            if nodes:
                plans[path] = "".join(lines)
        if old in self.domain.intents():
            plans[self.paths.domain] = self.domain.plan_rename_intent(old, new, plans.get(self.paths.domain))
        heldout = NluFiles(self.paths.heldout_dir, self.languages, self.default_language) \
            if self.paths.heldout_dir is not None and self.paths.heldout_dir.is_dir() else None
        if heldout is not None:
            plans.update(heldout.plan_rename(old, new))
        before = self.nlu.intents().get(old, {})
        changes = [ItemChange(f"intent:{new}", f"intent {new} (was {old})", {"name": old}, {"name": new})]
        changes += [ItemChange(f"examples:{old}:{lang}", f"examples of {old} ({language_name(lang)})", texts, [])
                    for lang, texts in before.items()]
        changes += [ItemChange(f"examples:{new}:{lang}", f"examples of {new} ({language_name(lang)})", [], texts)
                    for lang, texts in before.items()]
        return _Change(plans, changes, f"Rename intent {old} to {new}")

    def _plan_delete_intent(self, name: str) -> _Change:
        self._check_intent_exists(name)
        if name in PROTECTED_INTENTS:
            raise InvalidContent([FieldProblem("name", f"{name} is used by the bot itself and cannot be deleted")])
        refs = self.references(name)
        places = [r for r in refs["updated"] if r != self.shown(self.paths.domain)] + refs["blocking"]
        if places:
            raise InvalidContent([FieldProblem("name", f"{name!r} is still used in {', '.join(places)}: remove "
                                                       "those rules, stories or code first")],
                                 f"cannot delete {name}: it is used in {', '.join(places)}")
        before = self.nlu.intents().get(name, {})
        plans = self.nlu.plan_remove_intent(name)
        plans[self.paths.domain] = self.domain.plan_remove_intent(name)
        changes = [ItemChange(f"intent:{name}", f"intent {name}", {"name": name}, None)]
        changes += [ItemChange(f"examples:{name}:{lang}", f"examples of {name} ({language_name(lang)})", texts, [])
                    for lang, texts in before.items()]
        return _Change(plans, changes, f"Delete intent {name}")

    # -- planning: responses --------------------------------------------------------------------------

    def _plan_response(self, name: str, views: list[dict[str, Any]], base: str | None) -> _Change:
        current = self.domain.response(name)
        if current is None:
            raise UnknownItem(f"no response {name!r}")
        key = current.key
        originals = list(current.variations)
        problems: list[FieldProblem] = []
        known = set(self.nlu.intents()) | set(self.domain.intents())
        for i, view in enumerate(views):
            language = str(view.get("language") or "")
            if language not in self.languages:
                problems.append(FieldProblem(f"variations.{i}.language", f"must be one of {', '.join(self.languages)}"))
            if not str(view.get("text") or "").strip():
                problems.append(FieldProblem(f"variations.{i}.text", "must not be empty"))
            for j, button in enumerate(view.get("buttons") or []):
                title, payload = str(button.get("title", "")).strip(), str(button.get("payload", "")).strip()
                if not title:
                    problems.append(FieldProblem(f"variations.{i}.buttons.{j}.title", "needs a title"))
                if not payload:
                    problems.append(FieldProblem(f"variations.{i}.buttons.{j}.payload", "needs a payload (e.g. "
                                                                                        "/request_human)"))
                elif payload.startswith("/"):
                    intent = re.split(r"[{\s]", payload[1:], maxsplit=1)[0]
                    if intent not in known:
                        problems.append(FieldProblem(f"variations.{i}.buttons.{j}.payload",
                                                     f"/{intent} is not an intent of this bot"))
        if not any(str(v.get("language")) == self.default_language for v in views):
            problems.append(FieldProblem("variations", f"keep at least one {language_name(self.default_language)} "
                                                       "variation: the bot falls back to it"))
        if problems:
            raise InvalidContent(problems)
        variations = []
        for view in views:  # `index`: the variation of the file this view was made from (None: a new one)
            index = view.get("index")
            original = originals[index] if isinstance(index, int) and 0 <= index < len(originals) else None
            variations.append(self.domain.from_view(view, original))
        if base != current.version:
            latest = self.db.read_sync(studio_store.latest_change, key)
            raise EditConflict(key, yours=[self.domain.view(v) for v in variations],
                               theirs=[self.domain.view(v) for v in originals], version=current.version,
                               by=latest.author_name if latest else None, at=latest.created_at if latest else None)
        if variations == originals:
            raise InvalidContent([FieldProblem("", "nothing changed")], "nothing changed")
        text = self.domain.plan_response(name, variations)
        written = (yt.load(text).get("responses") or {}).get(name)
        if written != variations:
            raise InvalidContent([FieldProblem("", "internal error: the response would not be written as entered; "
                                                   "nothing saved")])
        return _Change({self.paths.domain: text}, [ItemChange(key, f"response {name}", originals, variations)],
                       f"Change response {name}")

    # -- planning: FAQ ------------------------------------------------------------------------------

    def _plan_faq(self, entry_id: str, language: str, submitted: dict[str, Any], base: str | None,
                  topic: str | None) -> _Change:
        entry_id = (entry_id or "").strip()
        self._check_language(language)
        fields = normalise_fields({**submitted, "id": entry_id, "language": language})
        problems = entry_problems(fields)
        if topic is not None and not re.match(r"^[a-z0-9][a-z0-9_-]{0,39}$", topic):
            problems.append(FieldProblem("topic", "must be a short lowercase name such as 'orders'"))
        if problems:
            raise InvalidContent(problems)
        current = self.faq.get(entry_id, language)
        key = f"faq:{entry_id}:{language}"
        if (current.version if current else None) != base:
            latest = self.db.read_sync(studio_store.latest_change, key)
            theirs = normalise_fields(current.fields) if current else None
            if base is None and current is not None:
                detail = f"an FAQ entry {entry_id!r} in {language_name(language)} exists already"
            elif current is None:
                detail = f"this entry was deleted{' by ' + latest.author_name if latest else ''} after you opened it"
            else:
                detail = None
            raise EditConflict(key, yours=fields, theirs=theirs, version=current.version if current else None,
                               by=latest.author_name if latest else None, at=latest.created_at if latest else None,
                               detail=detail)
        before = normalise_fields(current.fields) if current else None
        if before == fields:
            raise InvalidContent([FieldProblem("", "nothing changed")], "nothing changed")
        path, text = self.faq.plan_save(fields, topic=topic)
        written = [e for e in self.faq.parse_text(path, text) if e.get("id") == entry_id and e.get("language") == language]
        if len(written) != 1 or normalise_fields(written[0]) != fields:
            raise InvalidContent([FieldProblem("", "internal error: the entry would not be written as entered; "
                                                   "nothing saved")])
        what = "Add" if current is None else "Change"
        lang = language_name(language)
        return _Change({path: text}, [ItemChange(key, f"FAQ {entry_id} ({lang})", before, fields)],
                       f"{what} FAQ entry {entry_id} ({lang}): {fields.get('question', '')}")

    def _plan_faq_delete(self, entry_id: str, language: str, base: str | None) -> _Change:
        current = self.faq.get(entry_id, language)
        key = f"faq:{entry_id}:{language}"
        if current is None:
            raise UnknownItem(f"no FAQ entry {entry_id!r} in {language!r}")
        if current.version != base:
            latest = self.db.read_sync(studio_store.latest_change, key)
            raise EditConflict(key, yours=None, theirs=normalise_fields(current.fields), version=current.version,
                               by=latest.author_name if latest else None, at=latest.created_at if latest else None)
        path, text = self.faq.plan_delete(entry_id, language)
        return _Change({path: text}, [ItemChange(key, f"FAQ {entry_id} ({language_name(language)})",
                                                 normalise_fields(current.fields), None)],
                       f"Delete FAQ entry {entry_id} ({language_name(language)})")

    # -- planning: restore -----------------------------------------------------------------------------

    def _plan_restore(self, inputs: Path, summary: str) -> _Change:
        plans: dict[Path, str | None] = {}
        for source, target in ((inputs / "nlu_data", self.paths.data_dir), (inputs / "kb", self.paths.kb_content)):
            wanted = {p.relative_to(source): p for p in source.rglob("*") if p.is_file()}
            present = {p.relative_to(target): p for p in target.rglob("*") if p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(target).parts)}
            for rel, path in wanted.items():
                text = path.read_text(encoding="utf-8")
                if rel not in present or present[rel].read_text(encoding="utf-8") != text:
                    plans[target / rel] = text
            for rel in present.keys() - wanted.keys():
                plans[target / rel] = None
        domain = (inputs / "domain.yml").read_text(encoding="utf-8")
        if domain != self.paths.domain.read_text(encoding="utf-8"):
            plans[self.paths.domain] = domain
        then = ContentService(ContentPaths(inputs / "nlu_data", inputs / "domain.yml", inputs / "kb"),
                              languages=self.languages, default_language=self.default_language, db=self.db,
                              use_git=False)
        changes: list[ItemChange] = []
        now_faq = {v.key: normalise_fields(v.fields) for v in self.faq.versions()}
        then_faq = {v.key: normalise_fields(v.fields) for v in then.faq.versions()}
        for key in sorted(now_faq.keys() | then_faq.keys()):
            if now_faq.get(key) != then_faq.get(key):
                _, entry_id, lang = key.split(":")
                changes.append(ItemChange(key, f"FAQ {entry_id} ({language_name(lang)})", now_faq.get(key),
                                          then_faq.get(key)))
        now_r = {r.name: r.variations for r in self.domain.responses()}
        then_r = {r.name: r.variations for r in then.domain.responses()}
        for name in sorted(now_r.keys() | then_r.keys()):
            if now_r.get(name) != then_r.get(name):
                changes.append(ItemChange(f"response:{name}", f"response {name}", now_r.get(name), then_r.get(name)))
        now_x, then_x = self.nlu.intents(), then.nlu.intents()
        for intent in sorted(now_x.keys() | then_x.keys()):
            for lang in self.languages:
                a, b = now_x.get(intent, {}).get(lang, []), then_x.get(intent, {}).get(lang, [])
                if a != b:
                    changes.append(ItemChange(f"examples:{intent}:{lang}",
                                              f"examples of {intent} ({language_name(lang)})", a, b))
        return _Change(plans, changes, summary, "rollback")

    # -- planning: revert ------------------------------------------------------------------------------

    def _plan_revert_examples(self, revision: studio_store.RevisionView, changes: list[ItemChange]) -> _Change:
        """Undo examples changes: what they added is removed, what they removed is added back (other examples
        saved since are left alone)."""
        plans: dict[Path, str | None] = {}
        items = []
        removals = []
        for change in changes:  # removals first: a moved example leaves its new intent before it is back
            intent, _, language = change.key.removeprefix("examples:").rpartition(":")
            current = self.nlu.examples_in(plans, intent, language)  # type: ignore[arg-type]
            target = list(current)
            for text in [t for t in change.after or [] if t not in (change.before or [])]:
                if text in target:
                    plans = self.nlu.plan_replace(intent, language, text, None, plans)  # type: ignore[arg-type]
                    target.remove(text)
            removals.append((change, intent, language, current, target))
        for change, intent, language, current, target in removals:
            before = list(change.before or [])
            back = [t for t in before if t not in (change.after or []) and t not in target]
            if back and intent not in self.nlu.intents() and intent not in self.domain.intents():
                raise InvalidContent([FieldProblem("", f"intent {intent} no longer exists")])
            for text in back:  # each one where it was: after the example that preceded it
                i = before.index(text)
                after = next((t for t in reversed(before[:i]) if t in target), None)
                plans = self.nlu.plan_insert(intent, language, text, after, plans)  # type: ignore[arg-type]
                target.insert(target.index(after) + 1 if after is not None else 0, text)
            if target != current:
                items.append(ItemChange(change.key, change.label, current, target))
        if not plans:
            raise InvalidContent([FieldProblem("", "nothing to revert: the change was undone already")],
                                 "nothing to revert: the change was undone already")
        return _Change(plans, items, f"Revert “{revision.summary}” (revision {revision.id})", "revert", revision.id)

    def _plan_revert(self, revision: studio_store.RevisionView, change: ItemChange,
                     latest: studio_store.RevisionView | None, force: bool) -> _Change:
        kind, _, rest = change.key.partition(":")
        note = f"Revert “{revision.summary}” (revision {revision.id})"
        if kind == "examples":
            return self._plan_revert_examples(revision, [change])
        if kind == "intent":
            before, after = change.before, change.after
            if before and after and before.get("name") != after.get("name"):
                inner = self._plan_rename(after["name"], before["name"])
                return _Change(inner.plans, inner.changes, note, "revert", revision.id)
            raise InvalidContent([FieldProblem("", "creating or deleting an intent is undone on the intents page "
                                                   "(delete it, or create it again)")])
        if kind == "response":
            current = self.domain.response(rest)
            if current is None:
                raise UnknownItem(f"no response {rest!r}")
            if current.variations != change.after and not force:
                raise EditConflict(change.key, yours=[self.domain.view(v) for v in change.before or []],
                                   theirs=[self.domain.view(v) for v in current.variations], version=current.version,
                                   by=latest.author_name if latest else None, at=latest.created_at if latest else None,
                                   detail="the response changed again after this revision: reverting would undo "
                                          "those changes too")
            text = self.domain.plan_response(rest, list(change.before or []))
            return _Change({self.paths.domain: text}, [ItemChange(change.key, change.label, current.variations,
                                                                  change.before)], note, "revert", revision.id)
        if kind == "faq":
            entry_id, _, language = rest.rpartition(":")
            current = self.faq.get(entry_id, language)
            now = normalise_fields(current.fields) if current else None
            if now != change.after and not force:
                raise EditConflict(change.key, yours=change.before, theirs=now,
                                   version=current.version if current else None,
                                   by=latest.author_name if latest else None, at=latest.created_at if latest else None,
                                   detail="the entry changed again after this revision: reverting would undo those "
                                          "changes too")
            if change.before is None:
                if current is None:
                    raise InvalidContent([FieldProblem("", "nothing to revert: the entry is gone already")])
                path, text = self.faq.plan_delete(entry_id, language)
            else:
                topic = None if current else Path(revision.files[0]).stem if revision.files else None
                path, text = self.faq.plan_save(dict(change.before), topic=topic)
            return _Change({path: text}, [ItemChange(change.key, change.label, now, change.before)], note, "revert",
                           revision.id)
        raise InvalidContent([FieldProblem("", f"cannot revert {change.key}")])


def entry_problems(fields: dict[str, Any]) -> list[FieldProblem]:
    """The FAQ format's problems with one entry (`kb_index.schema.EntryFields`), by field."""
    return [FieldProblem(f, m) for f, m in schema_problems(fields)]


def _fold(text: str) -> str:
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip()
