"""Publishing: from the content files to the bot customers talk to, without a restart and without losing a message.

One publish at a time, each step shown live in the studio (`PublishRun.view`):

1. **check** — a snapshot of the content is taken under the studio's lock (edits made meanwhile go to the
   next publish) and checked with the NLU and FAQ validators;
2. **kb** — the knowledge-base index is rebuilt from the snapshot, incrementally (only changed texts are
   embedded), beside the live one: not served yet. The build runs in a child process (`kb_index.build_job`):
   the sentence encoder costs 300 MB – 1 GB, which the hub never holds (the action server has its own);
3. **train** — when the NLU inputs changed (examples, responses, config), a Rasa model is trained in a scratch
   folder; a change to the FAQ alone publishes without training;
4. **gate** — at the same time, the new data and the live model's data are measured the same way
   (`bot.studio.gate`); a drop of accuracy beyond the margin refuses the publish, stops the training, and names
   the intents that got worse; the live bot is untouched;
5. **swap** — the new index is switched on and the action server told (`POST /kb/reload`), then the new
   model is loaded into every Rasa replica with `PUT /model` (`RasaClient.load_model` holds that replica's
   messages meanwhile, so each is answered once, by the old model or the new one). If a replica refuses, the
   ones already swapped and the index go back to the previous release.

The release is kept (`bot.studio.releases`, the last N) and installed as `models/current.tar.gz`, so the next
`make run` starts the same bot; rollback returns the bot *and the content files* to an earlier release.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import anyio
import yaml
from anyio.abc import ByteReceiveStream, Process

from bot.clients.actions import ActionServerClient
from bot.clients.rasa import RasaClient, RasaUnavailable
from bot.errors import Conflict, NotFound
from bot.store import studio as studio_store
from bot.store.db import Database
from bot.studio import gate
from bot.studio.content import Author, ContentService, InvalidContent
from bot.studio.releases import Release, ReleaseStore, link_or_copy, now_iso, snapshot
from core.errors import CallError
from core.settings import PROJECT_ROOT, HubSettings
from kb_index import storage
from kb_index.entry import content_hash
from kb_index.schema import ContentError, load_content
from nlu_components import training
from nlu_components.training import TrainingError, TrainingProgress
from nlu_components.validate import validate

log = logging.getLogger(__name__)

KB_ERROR_LINES = 20  # the tail of the build process's stderr kept for the error message and the log
CANCEL_POLL_S = 0.2

STAGES = (("check", "Check the content"), ("kb", "Rebuild the knowledge base"), ("train", "Train the Rasa model"),
          ("gate", "Evaluation gate"), ("swap", "Go live"))


class PublishBusy(Conflict):
    code = "publish_running"


class UnknownRelease(NotFound):
    code = "unknown_release"


class PublishFailed(Exception):
    """A step failed; the live bot is unchanged. The message says what to do."""


class Refused(Exception):
    """The gate refused the new model."""


@dataclass
class Stage:
    name: str
    title: str
    state: str = "pending"  # pending | running | done | skipped | failed
    detail: str = ""
    progress: float | None = None
    started: float | None = None
    finished: float | None = None

    def begin(self, detail: str = "") -> None:
        self.state, self.detail, self.started, self.finished = "running", detail, time.monotonic(), None

    def end(self, state: str, detail: str | None = None) -> None:
        self.state, self.finished = state, time.monotonic()
        if detail is not None:
            self.detail = detail
        if state == "done":
            self.progress = 1.0 if self.progress is not None else None

    def view(self) -> dict[str, Any]:
        seconds = None
        if self.started is not None:
            seconds = round((self.finished or time.monotonic()) - self.started, 1)
        return {"name": self.name, "title": self.title, "state": self.state, "detail": self.detail,
                "progress": None if self.progress is None else round(self.progress, 3), "seconds": seconds}


@dataclass
class PublishRun:
    id: str
    author: Author
    message: str
    kind: str = "publish"  # publish | check | rollback
    started_at: str = field(default_factory=now_iso)
    stages: list[Stage] = field(default_factory=lambda: [Stage(n, t) for n, t in STAGES])
    state: str = "running"  # running | live | unchanged | refused | failed | cancelled | passed
    finished_at: str | None = None
    release: str | None = None
    gate: dict[str, Any] | None = None
    error: str | None = None
    log: deque[str] = field(default_factory=lambda: deque(maxlen=300))
    cancel: threading.Event = field(default_factory=threading.Event)
    t0: float = field(default_factory=time.monotonic)
    seconds: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def say(self, line: str) -> None:
        self.log.append(line)

    def finish(self, state: str, error: str | None = None) -> None:
        self.state, self.error = state, error
        self.finished_at = now_iso()
        self.seconds = round(time.monotonic() - self.t0, 1)
        for s in self.stages:
            if s.state == "running":
                s.end("failed" if state in ("failed", "cancelled") else "done")
        self.done.set()

    def view(self, log_lines: int = 40) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "state": self.state, "author": self.author.name,
                "message": self.message, "started_at": self.started_at, "finished_at": self.finished_at,
                "seconds": self.seconds if self.seconds is not None else round(time.monotonic() - self.t0, 1),
                "stages": [s.view() for s in self.stages], "release": self.release, "gate": self.gate,
                "error": self.error, "log": list(self.log)[-log_lines:]}


def needs_rasa_validation(inputs: Path, live_inputs: Path) -> bool:
    """Whether Rasa should check the domain and stories: they changed since the live release (or it is unknown).
    Examples and response texts are checked by the studio itself."""
    if not live_inputs.exists():
        return True

    def structure(folder: Path) -> tuple[Any, dict[str, str]]:
        domain = yaml.safe_load((folder / "domain.yml").read_text(encoding="utf-8")) or {}
        domain.pop("responses", None)
        stories = {}
        for path in sorted((folder / "nlu_data").rglob("*.y*ml")):
            text = path.read_text(encoding="utf-8")
            data = yaml.safe_load(text) or {}
            if isinstance(data, dict) and ("rules" in data or "stories" in data):
                stories[str(path.relative_to(folder))] = text
        return domain, stories

    try:
        return structure(inputs) != structure(live_inputs)
    except (OSError, yaml.YAMLError):
        return True


class Publisher:
    """Publishes, checks and rolls back releases (see the module docstring)."""

    def __init__(self, settings: HubSettings, *, content: ContentService, releases: ReleaseStore, rasa: RasaClient,
                 actions: ActionServerClient, db: Database) -> None:
        self.settings = settings
        self.content = content
        self.releases = releases
        self.rasa = rasa
        self.actions = actions
        self.db = db
        self.runs: deque[PublishRun] = deque(maxlen=10)
        self._busy = asyncio.Lock()
        self._adopting = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._baseline: asyncio.Task[Any] | None = None
        self._encoders: list[Path] | None = None
        self._counter = 0
        # The running bot was started from the files as they were when this hub started: a release adopted later
        # (on first use) must not claim the studio changes made in between (they are still to be published).
        last = db.read_sync(studio_store.recent, 1)
        self._revision_at_start = last[0].id if last else 0

    # -- what is live ------------------------------------------------------------------------------

    async def live_release(self) -> Release:
        """The release being served; the first time, the model the bot was started with is adopted."""
        live = self.releases.live()
        if live is not None:
            return live
        async with self._adopting:
            live = self.releases.live()
            if live is None:
                live = await self._adopt()
        return live

    async def _adopt(self) -> Release:
        try:
            status = await self.rasa.status()
        except RasaUnavailable:
            status = {}
        served = str(status.get("model_file") or "current.tar.gz")
        model = self.settings.rasa_model_dir / served
        stamp = model.with_name(served.removesuffix(".tar.gz") + ".fingerprint")
        number = self.releases.next_number()
        release_id = f"release-{number:04d}"
        scratch = self.releases.scratch()
        taken = await self.content.snapshot(lambda: self._snapshot(scratch))
        notes = []
        model_file = None
        if model.exists():
            model_file = f"{release_id}.tar.gz"
            await anyio.to_thread.run_sync(link_or_copy, model, scratch / model_file)
        else:
            notes.append(f"the model Rasa serves ({served}) is not in {self.settings.rasa_model_dir}: "
                         "this release cannot be rolled back to")
        trained_from = stamp.read_text().strip() if stamp.exists() else None
        if trained_from is not None and trained_from != taken["model_fingerprint"]:
            notes.append("the files changed after this model was trained: the gate compares new models with the "
                         "files as they were when the studio first looked")
        if taken["revision"] > self._revision_at_start:
            notes.append("studio changes made since the hub started are not part of this release: publish them")
        manifest = storage.live_manifest(self.settings.kb_index_dir)
        release = Release(id=release_id, number=number, created_at=now_iso(), author="launcher",
                          author_name="make run", summary="The bot as it was started", kind="adopted",
                          model_file=model_file, model_fingerprint=trained_from or taken["model_fingerprint"],
                          model_from=release_id, kb_version=manifest.version if manifest else None,
                          kb_content_hash=manifest.content_hash if manifest else None,
                          revision=min(taken["revision"], self._revision_at_start), commit=None, notes=notes)
        self.releases.create(release, scratch)
        self.releases.set_live(release_id)
        log.info("studio: adopted the running bot as %s", release_id)
        return release

    def warm_up(self) -> None:
        """Measure the live release for the gate in the background (the first publish then waits less)."""
        if self._baseline is None or self._baseline.done():
            self._baseline = asyncio.create_task(self._measure_live(), name="studio-baseline")

    async def _measure_live(self) -> None:
        with contextlib.suppress(Exception):
            live = await self.live_release()
            inputs = self.releases.inputs(live)
            if inputs.exists():
                await gate.evaluate(inputs / "config.yml", inputs / "nlu_data", self._heldout(),
                                    folds=self.settings.studio_cv_folds, cache_dir=self._evaluations())

    def _heldout(self) -> Path | None:
        held = self.settings.nlu_heldout_dir
        return held if held.exists() else None

    def _evaluations(self) -> Path:
        return self.releases.root / ".evaluations"

    async def status(self) -> dict[str, Any]:
        live = await self.live_release()
        revisions = await self.db.read(studio_store.since, live.revision or 0)
        replicas = []
        for url in self.rasa.urls:
            try:
                st = await self.rasa.replica_status(url)
                replicas.append({"url": url, "ok": True, "model_file": st.get("model_file")})
            except RasaUnavailable as exc:
                replicas.append({"url": url, "ok": False, "error": str(exc)})
        manifest = storage.live_manifest(self.settings.kb_index_dir)
        run = self.runs[-1] if self.runs else None
        return {"live": live.as_dict(), "releases": [self._release_view(r, live) for r in self.releases.all()],
                "pending": [r.as_dict() for r in revisions], "replicas": replicas,
                "kb": {"version": manifest.version, "entries": manifest.entry_count, "built_at": manifest.built_at}
                if manifest else None,
                "run": run.view() if run else None, "busy": self._busy.locked(),
                "gate_margin": self.settings.studio_gate_margin}

    def _release_view(self, release: Release, live: Release) -> dict[str, Any]:
        return {**release.as_dict(), "live": release.id == live.id,
                "can_roll_back": release.id != live.id and self.releases.model_path(release) is not None}

    def current(self) -> PublishRun | None:
        return self.runs[-1] if self.runs else None

    def run(self, run_id: str) -> PublishRun:
        for r in self.runs:
            if r.id == run_id:
                return r
        raise NotFound(f"no publish {run_id!r}")

    # -- publishing ------------------------------------------------------------------------------------

    async def start(self, author: Author, message: str = "", *, check_only: bool = False) -> PublishRun:
        """Start a publish (or, `check_only`, everything but going live) in the background."""
        if self._busy.locked():
            raise PublishBusy("a publish is running: follow it in the studio, or wait for it to finish")
        self._counter += 1
        run = PublishRun(f"p{int(time.time())}-{self._counter}", author, message, "check" if check_only else "publish")
        self.runs.append(run)
        ready = asyncio.Event()

        async def go() -> None:
            async with self._busy:
                ready.set()
                await self._publish(run, check_only=check_only)

        self._task = asyncio.create_task(go(), name=f"studio-{run.id}")
        await ready.wait()
        return run

    async def cancel(self) -> bool:
        run = self.current()
        if run is None or run.state != "running":
            return False
        run.cancel.set()
        run.say("cancel requested")
        return True

    async def stop(self) -> None:
        for task in (self._task, self._baseline):
            if task is not None and not task.done():
                if self.current() is not None:
                    self.current().cancel.set()  # type: ignore[union-attr]
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    def _snapshot(self, scratch: Path) -> dict[str, Any]:
        """Copy the inputs (under the content lock) and fingerprint them as the launcher does."""
        s = self.settings
        inputs = snapshot(scratch / "inputs", data_dir=s.rasa_data_dir, domain=s.rasa_domain, config=s.rasa_config,
                          kb_content=s.kb_content_dir)
        if self._encoders is None:
            self._encoders = training.ensure_encoders(s.rasa_config)
        fp = training.fingerprint(training.model_inputs(s.rasa_config, s.rasa_domain, s.rasa_data_dir, self._encoders))
        last = self.db.read_sync(studio_store.recent, 1)
        return {"inputs": inputs, "model_fingerprint": fp, "revision": last[0].id if last else 0,
                "commit": last[0].commit if last else None}

    async def _publish(self, run: PublishRun, *, check_only: bool) -> None:
        scratch = self.releases.scratch()
        created: Release | None = None
        try:
            live = await self.live_release()
            check = run.stage("check")
            check.begin("taking a snapshot of the content")
            taken = await self.content.snapshot(lambda: self._snapshot(scratch))
            inputs: Path = taken["inputs"]
            nlu_changed = taken["model_fingerprint"] != live.model_fingerprint or self.releases.model_path(live) is None
            summary, entries = await anyio.to_thread.run_sync(self._check, inputs, nlu_changed)
            check.end("done", summary)
            self._cancelled(run)

            kb_stage = run.stage("kb")
            kb_hash = content_hash(entries)
            kb_changed = kb_hash != live.kb_content_hash
            if not kb_changed and not nlu_changed:
                for stage in run.stages[1:]:
                    stage.end("skipped", "nothing changed")
                run.finish("unchanged")
                run.say("the live bot already has this content: nothing to publish")
                return
            staged = None
            if kb_changed:
                staged = await self._build_kb(run, kb_stage, inputs)
                kb_stage.end("done", f"built {staged.version}: {staged.entry_count} entries; embedded "
                                     f"{staged.stats.embedded} new texts, {staged.stats.cache_hits} from the cache")
            else:
                kb_stage.end("skipped", "the FAQ did not change")
            self._cancelled(run)

            number = self.releases.next_number()
            release_id = f"release-{number:04d}"
            model_file = f"{release_id}.tar.gz"
            verdict: dict[str, Any] | None = None
            if nlu_changed:
                verdict = await self._train_and_gate(run, inputs, live, scratch, release_id)
            else:
                run.stage("train").end("skipped", "examples, responses and config did not change: the live model stays")
                run.stage("gate").end("skipped", "no new model")
                live_model = self.releases.model_path(live)
                assert live_model is not None
                model_file = live_model.name
                await anyio.to_thread.run_sync(link_or_copy, live_model, scratch / model_file)
                report = self.releases.report(live)
                if report is not None:
                    (scratch / "report.json").write_text(json.dumps(report), encoding="utf-8")
            if check_only:
                run.stage("swap").end("skipped", "a check: nothing goes live")
                run.finish("passed")
                return

            created = Release(
                id=release_id, number=number, created_at=now_iso(), author=run.author.key,
                author_name=run.author.name, summary=run.message or await self._summary(live), kind="full"
                if nlu_changed else "kb", model_file=model_file, model_fingerprint=taken["model_fingerprint"],
                model_from=release_id if nlu_changed else live.model_from, kb_version=staged.version if staged else
                live.kb_version, kb_content_hash=kb_hash, revision=taken["revision"], commit=taken["commit"],
                gate=verdict)
            folder = await anyio.to_thread.run_sync(self.releases.create, created, scratch)
            await self._swap(run, kb_version=staged.version if staged else None,
                             model=folder / model_file if nlu_changed else None, previous=live)
            created.seconds = round(time.monotonic() - run.t0, 1)
            self.releases.update(created)
            self.releases.set_live(created.id)
            await anyio.to_thread.run_sync(self._install, created)
            removed = self.releases.prune()
            run.release = created.id
            run.finish("live")
            run.say(f"{created.id} is live" + (f"; removed old releases {', '.join(removed)}" if removed else ""))
            await self._audit(run.author, "publish", f"Published {created.id}: {created.summary}",
                              {"seconds": created.seconds, "kind": created.kind, "gate": verdict}, created.id)
        except Refused as exc:
            run.finish("refused", str(exc))
            await self._audit(run.author, "publish_refused", f"Publish refused by the evaluation gate: {exc}",
                              {"gate": run.gate})
        except (PublishFailed, TrainingError, InvalidContent, ContentError, gate.EvaluationError, RasaUnavailable,
                storage.KBIndexError, OSError) as exc:
            if created is not None:
                self.releases.remove(created.id)
            state = "cancelled" if run.cancel.is_set() else "failed"
            run.finish(state, str(exc))
            await self._audit(run.author, "publish_failed" if state == "failed" else "publish_cancelled",
                              f"Publish {state}: {exc}", {})
        except asyncio.CancelledError:
            run.finish("cancelled", "the hub is stopping")
            raise
        except Exception as exc:  # noqa: BLE001 - a bug must still end the run visibly, with the bot unchanged
            log.exception("publish %s failed", run.id)
            if created is not None:
                self.releases.remove(created.id)
            run.finish("failed", f"unexpected error: {exc}")
            await self._audit(run.author, "publish_failed", f"Publish failed: {exc}", {})
        finally:
            if scratch.exists():
                shutil.rmtree(scratch, ignore_errors=True)

    def _cancelled(self, run: PublishRun) -> None:
        if run.cancel.is_set():
            raise PublishFailed("cancelled; the live bot is unchanged")

    def _check(self, inputs: Path, nlu_changed: bool) -> tuple[str, list[Any]]:
        """The summary of the snapshot's check and its FAQ entries; `PublishFailed` with the problems. NLU data
        the live model was trained from (same fingerprint) was checked then: an FAQ-only publish skips it."""
        entries = load_content(inputs / "kb")  # raises ContentError with every problem
        if not nlu_changed:
            return f"{len(entries)} FAQ entries; the NLU data is the live model's", entries
        report = validate([inputs / "nlu_data"])
        if report.errors:
            raise PublishFailed(f"{len(report.errors)} error(s) in the NLU data: "
                                + "; ".join(str(p).replace(str(inputs) + "/", "") for p in report.errors[:5]))
        intents = {e.intent for e in report.examples}
        return (f"{len(report.examples)} examples in {len(intents)} intents, {len(entries)} FAQ entries; "
                f"{len(report.warnings)} warning(s)"), entries

    async def _build_kb(self, run: PublishRun, stage: Stage, inputs: Path) -> storage.Manifest:
        """Build the index of the snapshot `inputs` beside the live one, in a child process (`kb_index.build_job`),
        showing its progress in `stage`. The child is killed when the run is cancelled (`PublishFailed`) or the hub
        stops (`asyncio.CancelledError`); `storage.KBIndexError` with its message when it fails."""
        stage.begin("starting the build process")
        stage.progress = 0.0
        built: dict[str, Any] = {}
        errors: deque[str] = deque(maxlen=KB_ERROR_LINES)
        process = await anyio.open_process(self._build_command(inputs), stdin=subprocess.DEVNULL, cwd=PROJECT_ROOT)
        assert process.stdout is not None and process.stderr is not None
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_read_lines, process.stdout, lambda line: _on_build_event(stage, line, built, run.say))
                tg.start_soon(_read_lines, process.stderr, errors.append)
                await _wait_or_kill(process, run)
        finally:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):  # it may have ended a moment ago
                    process.kill()
            with anyio.CancelScope(shield=True):
                await process.aclose()
        self._cancelled(run)
        if process.returncode != 0:
            if errors:
                log.error("the knowledge-base build of %s failed:\n%s", run.id, "\n".join(errors))
            raise storage.KBIndexError(_build_failure(process.returncode, errors))
        return _staged_manifest(self.settings.kb_index_dir, built)

    def _build_command(self, inputs: Path) -> list[str]:
        """`kb_index.build_job` on the snapshot's FAQ, into the live index folder (so its embedding cache, inside
        it, serves every publish), with the hub's model and the versions releases may roll back to."""
        command = [sys.executable, "-m", "kb_index.build_job", "--content", str(inputs / "kb"),
                   "--out", str(self.settings.kb_index_dir), "--model", self.settings.embedding_model,
                   "--parent-pid", str(os.getpid())]  # the build ends if the hub is killed
        for version in sorted(self.releases.protected_kb_versions()):
            command += ["--keep", version]
        return command

    async def _train_and_gate(self, run: PublishRun, inputs: Path, live: Release, scratch: Path,
                              release_id: str) -> dict[str, Any]:
        train_stage, gate_stage = run.stage("train"), run.stage("gate")
        train_stage.begin("starting Rasa")
        train_stage.progress = 0.0

        def progress(p: TrainingProgress) -> None:
            train_stage.detail = p.step
            train_stage.progress = 0.05 + 0.9 * p.fraction

        validate_stories = needs_rasa_validation(inputs, self.releases.inputs(live))
        if not validate_stories:
            run.say("rules, stories and the domain's intents, slots and actions are as live: Rasa's own (slow) "
                    "check of them is skipped")
        training_task = asyncio.create_task(anyio.to_thread.run_sync(lambda: training.train(
            config=inputs / "config.yml", domain=inputs / "domain.yml", data=inputs / "nlu_data", out_dir=scratch,
            name=release_id, on_progress=progress, on_line=run.say, cancel=run.cancel,
            rasa_validation=validate_stories)))
        gate_stage.begin("measuring the new data and the live model's")
        try:
            verdict = await self._gate(run, inputs, live, scratch)
        except BaseException:
            run.cancel.set()
            with contextlib.suppress(BaseException):
                await training_task
            raise
        run.gate = verdict
        if not verdict["passed"]:
            gate_stage.end("failed", gate.explain(verdict))
            run.cancel.set()
            with contextlib.suppress(TrainingError):
                await training_task
            train_stage.end("skipped", "stopped: the gate refused the new data")
            raise Refused(gate.explain(verdict))
        checks = ", ".join(f"{c['title']} {c['candidate']:.1%} (live {c['live']:.1%})" for c in verdict["checks"])
        gate_stage.end("done", f"passed: {checks}" if checks else "passed: " + "; ".join(verdict["notes"]))
        train_stage.detail = train_stage.detail or "training"
        await training_task
        train_stage.end("done", "model trained")
        return verdict

    async def _gate(self, run: PublishRun, inputs: Path, live: Release, scratch: Path) -> dict[str, Any]:
        heldout, folds, cache = self._heldout(), self.settings.studio_cv_folds, self._evaluations()
        candidate = asyncio.create_task(gate.evaluate(inputs / "config.yml", inputs / "nlu_data", heldout,
                                                      folds=folds, cache_dir=cache))
        live_inputs = self.releases.inputs(live)
        baseline = None
        if live_inputs.exists():
            baseline = asyncio.create_task(gate.evaluate(live_inputs / "config.yml", live_inputs / "nlu_data", heldout,
                                                         folds=folds, cache_dir=cache))
        try:
            while not candidate.done() or (baseline is not None and not baseline.done()):
                if run.cancel.is_set():
                    raise PublishFailed("cancelled; the live bot is unchanged")
                await asyncio.wait([t for t in (candidate, baseline) if t is not None], timeout=0.5)
            report = candidate.result()
            base = baseline.result() if baseline is not None else None
        finally:
            for task in (candidate, baseline):
                if task is not None and not task.done():
                    task.cancel()
        (scratch / "report.json").write_text(json.dumps(report), encoding="utf-8")
        return gate.compare(base, report, self.settings.studio_gate_margin)

    async def _swap(self, run: PublishRun, *, kb_version: str | None, model: Path | None, previous: Release) -> None:
        stage = run.stage("swap")
        stage.begin("switching the knowledge base" if kb_version else "loading the model")
        index_dir = self.settings.kb_index_dir
        before = storage.live_manifest(index_dir)
        if kb_version:
            await anyio.to_thread.run_sync(storage.activate, index_dir, kb_version)
            await self._reload_kb(run, kb_version)
        swapped: list[str] = []
        try:
            if model is not None:
                for url in self.rasa.urls:
                    stage.detail = f"loading the new model into Rasa at {url}"
                    started = time.monotonic()
                    status = await self.rasa.load_model(url, str(model),
                                                        timeout_s=self.settings.rasa_model_load_timeout_s)
                    if status.get("model_file") != model.name:
                        raise PublishFailed(f"Rasa at {url} reports {status.get('model_file')!r} after loading "
                                            f"{model.name}")
                    swapped.append(url)
                    run.say(f"Rasa at {url} serves {model.name} (loaded in {time.monotonic() - started:.1f} s)")
        except (RasaUnavailable, PublishFailed) as exc:
            back = self.releases.model_path(previous)
            for url in swapped:
                try:
                    if back is not None:
                        await self.rasa.load_model(url, str(back), timeout_s=self.settings.rasa_model_load_timeout_s)
                except RasaUnavailable as again:
                    log.error("could not put %s back on %s: %s", previous.id, url, again)
            if kb_version and before is not None:
                await anyio.to_thread.run_sync(storage.activate, index_dir, before.version)
                await self._reload_kb(run, before.version)
            raise PublishFailed(f"{exc}; the previous release ({previous.id}) is back in service") from exc
        stage.end("done", "live: " + ", ".join(filter(None, [
            f"knowledge base {kb_version}" if kb_version else None,
            f"model {model.name} on {len(swapped)} Rasa server{'s' if len(swapped) != 1 else ''}" if model else None])))

    async def _reload_kb(self, run: PublishRun, version: str) -> None:
        try:
            answer = await self.actions.kb_reload()
            serving = (answer.get("kb") or {}).get("version")
            if serving != version:
                run.say(f"the action server serves {serving!r}, not {version!r}: it checks again every 2 s")
        except CallError as exc:
            run.say(f"the action server did not answer the reload ({exc}); it picks up the new index by itself "
                    "within 2 s of its next question")

    def _install(self, release: Release) -> None:
        """The live release's model as `models/current.tar.gz` (with its fingerprint): `make run` starts it."""
        model = self.releases.model_path(release)
        if model is None or not release.model_fingerprint:
            return
        target = self.settings.rasa_model_dir / "current.tar.gz"
        link_or_copy(model, target)
        (self.settings.rasa_model_dir / "current.fingerprint").write_text(release.model_fingerprint)

    async def _summary(self, live: Release) -> str:
        revisions = await self.db.read(studio_store.since, live.revision or 0)
        if not revisions:
            return "Files changed outside the studio"
        first = revisions[-1].summary
        return first if len(revisions) == 1 else f"{first} and {len(revisions) - 1} more change(s)"

    async def _audit(self, author: Author, action: str, summary: str, details: dict[str, Any],
                     release: str | None = None) -> None:
        def work(tx: Any) -> None:
            studio_store.add_audit(tx.conn, actor=author.key, actor_name=author.name, action=action, summary=summary,
                                   details=details, release=release)
            tx.emit("studio_" + action, release=release)

        await self.db.write(work)

    # -- rollback ------------------------------------------------------------------------------------

    async def rollback(self, author: Author, release_id: str) -> dict[str, Any]:
        """Serve release `release_id` again, with its content restored in the files (a new revision)."""
        if self._busy.locked():
            raise PublishBusy("a publish is running: roll back when it has finished")
        async with self._busy:
            live = await self.live_release()
            target = self.releases.get(release_id)
            if target is None:
                raise UnknownRelease(f"no release {release_id!r} (the last {self.releases.keep} are kept)")
            if target.id == live.id:
                raise PublishBusy(f"{release_id} is already live")
            model = self.releases.model_path(target)
            if model is None:
                raise UnknownRelease(f"the model of {release_id} was not kept: it cannot be rolled back to")
            run = PublishRun(f"r{int(time.time())}", author, f"Roll back to {release_id}", "rollback")
            for stage in run.stages[:4]:
                stage.end("skipped", "a rollback")
            self.runs.append(run)
            try:
                kb_version = target.kb_version
                if kb_version and not (self.settings.kb_index_dir / kb_version).is_dir():
                    run.say(f"{kb_version} was removed: rebuilding it from {release_id}'s content")
                    kb_version = (await self._build_kb(run, run.stage("kb"), self.releases.inputs(target))).version
                    run.stage("kb").end("done", f"rebuilt {kb_version}")
                restored = await self.content.restore(author, self.releases.inputs(target),
                                                      f"Roll back the content to {release_id}")
                if restored is not None:
                    run.say(f"content restored as revision {restored.revision}")
                current_kb = storage.live_manifest(self.settings.kb_index_dir)
                await self._swap(run, kb_version=kb_version if not current_kb or current_kb.version != kb_version else None,
                                 model=model if target.model_fingerprint != live.model_fingerprint
                                 or target.model_from != live.model_from else None, previous=live)
                self.releases.set_live(target.id)
                await anyio.to_thread.run_sync(self._install, target)
                run.release = target.id
                run.finish("live")
                await self._audit(author, "rollback", f"Rolled back from {live.id} to {target.id}",
                                  {"revision": restored.revision if restored else None}, target.id)
            except (PublishFailed, RasaUnavailable, InvalidContent, OSError, storage.KBIndexError) as exc:
                run.finish("failed", str(exc))
                await self._audit(author, "rollback_failed", f"Rollback to {release_id} failed: {exc}", {})
            return run.view()

    async def wait(self, run: PublishRun, timeout_s: float | None = None) -> PublishRun:
        await asyncio.wait_for(run.done.wait(), timeout_s)
        return run


# -- the knowledge-base build process (Publisher._build_kb) ----------------------------------------------------


async def _read_lines(stream: ByteReceiveStream, on_line: Callable[[str], None]) -> None:
    """Call `on_line` with each line of `stream` (decoded, without its line break) until the stream ends."""
    pending = b""
    async for chunk in stream:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            on_line(line.decode("utf-8", "replace").rstrip("\r"))
    if pending:
        on_line(pending.decode("utf-8", "replace"))


async def _wait_or_kill(process: Process, run: PublishRun) -> None:
    """Wait for `process` to exit, killing it as soon as `run` is cancelled (`run.cancel` is a thread event)."""
    while True:
        with anyio.move_on_after(CANCEL_POLL_S):
            await process.wait()
            return
        if run.cancel.is_set():
            run.say("stopping the knowledge-base build")
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            return


def _on_build_event(stage: Stage, line: str, built: dict[str, Any], say: Callable[[str], None]) -> None:
    """Show one line of `kb_index.build_job`'s output in `stage`; keep its final `built` event in `built`."""
    try:
        event = json.loads(line)
    except ValueError:
        event = None
    if not isinstance(event, dict):
        if line.strip():
            say(line)
        return
    kind = event.get("event")
    if kind == "stage":
        stage.detail, stage.progress = str(event.get("detail") or stage.detail), 0.05
    elif kind == "progress" and isinstance(event.get("done"), int) and isinstance(event.get("total"), int):
        done, total = event["done"], event["total"]
        # loading the encoder 0-10 %, embedding 10-90 %, the index and its calibration the rest
        stage.progress = 0.1 + 0.8 * (done / total if total else 1.0)
        if done < total:
            stage.detail = f"embedding changed texts: {done} of {total}"
        else:
            stage.detail = (f"embedded {total} changed text{'s' if total != 1 else ''}; writing the index" if total
                            else "every text was in the embedding cache; writing the index")
    elif kind == "built":
        built.update(event)


def _build_failure(returncode: int, errors: deque[str]) -> str:
    """The error of a failed build: the child's own `error: ...` line, else what can be told of its end."""
    said = [line.removeprefix("error: ") for line in errors if line.startswith("error: ")]
    if said:
        reason = said[-1]
    elif returncode < 0:
        reason = f"the build process was killed (signal {-returncode}); was the machine short of memory?"
    else:
        last = next((line.strip() for line in reversed(errors) if line.strip()), "")
        reason = f"the build process stopped with exit code {returncode}{f': {last}' if last else ''}; the hub's log " \
                 "has its output"
    return f"the knowledge-base build failed: {reason}; the live bot is unchanged"


def _staged_manifest(index_dir: Path, built: dict[str, Any]) -> storage.Manifest:
    """The manifest of the version the build process reported, read from its folder, with this build's stats."""
    version = built.get("version")
    if not isinstance(version, str) or not version:
        raise storage.KBIndexError("the knowledge-base build ended without naming the index it built")
    manifest = storage.read_manifest(index_dir / version)
    try:
        stats = storage.Manifest.from_dict(built.get("manifest") or {}).stats
    except (TypeError, ValueError):
        stats = manifest.stats
    return replace(manifest, stats=stats)
