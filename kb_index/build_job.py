"""One knowledge-base build in a process of its own, reporting as JSON lines: what the studio's publish runs.

::

    python -m kb_index.build_job --content DIR --out DIR --model SPEC [--keep VERSION ...] [--cache-dir DIR]
                                 [--parent-pid PID]

The sentence encoder costs 300 MB – 1 GB per process; a build in a child process gives that memory back when it
ends, so the hub that starts it never holds an encoder. The new version is built beside the live one and *not*
served (`build_index(..., activate=False)`); the caller switches it on (`kb_index.storage.activate`).

Standard output carries only JSON lines, one object each, in this order:

- ``{"event": "stage", "stage": "encoder", "detail": "..."}`` while the encoder loads;
- ``{"event": "progress", "done": n, "total": m}`` while the texts the embedding cache lacks are embedded
  (``total`` may be 0: everything came from the cache);
- ``{"event": "built", "version": "index-...", "manifest": {...}}`` at the end (`storage.Manifest.from_dict`
  reads the manifest back, this build's `stats` included).

Exit codes: 0 built; 2 a problem to fix (invalid content, unusable index folder or model, a file-system error),
with one line on standard error, ``error: <what went wrong>; <what to do>``; 3 the process that started it ended
first (the job does not outlive the hub); anything else is a bug (a traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from encoders.runtime import pin_environment

EXIT_FIX = 2
EXIT_ORPHANED = 3  # the process that started the build ended first


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kb_index.build_job",
                                     description="Build a knowledge-base index version beside the live one (not "
                                                 "served), reporting progress as JSON lines on stdout.")
    parser.add_argument("--content", type=Path, required=True, help="content directory (the FAQ files)")
    parser.add_argument("--out", type=Path, required=True, help="index directory (the live version's folder)")
    parser.add_argument("--model", required=True, help="the sentence encoder's spec or profile (EMBEDDING_MODEL)")
    parser.add_argument("--keep", action="append", default=[], metavar="VERSION",
                        help="a version never removed as stale (repeat for several)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="embedding cache shared by several indexes (default: inside --out)")
    parser.add_argument("--parent-pid", type=int, default=None,
                        help="stop (exit 3) when this process ends (default: the parent at start)")
    return parser


class Reporter:
    """Writes the job's events to `stream` (the real stdout), one JSON object a line, flushed at once."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def emit(self, event: str, **fields: Any) -> None:
        self.stream.write(json.dumps({"event": event, **fields}, ensure_ascii=False) + "\n")
        self.stream.flush()

    def progress(self, done: int, total: int) -> None:
        self.emit("progress", done=done, total=total)


def build(args: argparse.Namespace, report: Reporter) -> None:
    """Load the encoder, build the version (not served), report it."""
    from encoders.loading import load_encoder
    from kb_index.build import build_index
    from kb_index.schema import load_content

    load_content(args.content)  # its problems in milliseconds, before the seconds the encoder takes to load
    report.emit("stage", stage="encoder", detail=f"loading the sentence encoder ({args.model or 'default'})")
    encoder = load_encoder(args.model or None)
    manifest = build_index(args.content, args.out, encoder, progress=False, activate=False, keep=set(args.keep),
                           cache_dir=args.cache_dir, on_progress=report.progress)
    report.emit("built", version=manifest.version, manifest=json.loads(manifest.to_json()))


def problem(exc: BaseException) -> str:
    """The one line that says what went wrong and what to do, for the errors a user can fix."""
    from encoders.base import EncoderError
    from encoders.specs import PROFILES
    from kb_index.schema import ContentError

    if isinstance(exc, ContentError):
        return (f"error: invalid knowledge-base content: {'; '.join(map(str, exc.problems))}; fix the FAQ files, "
                "then build again")
    said = " ".join(str(exc).split())
    if isinstance(exc, OSError):
        return (f"error: {said}; check that the folder exists and is writable and that the disk has room, "
                "then build again")
    if isinstance(exc, EncoderError):
        return (f"error: {said}; check EMBEDDING_MODEL: a profile ({', '.join(PROFILES)}), a sentence-transformers "
                "name or an existing model folder")
    return f"error: {said}"


def exit_with_parent(parent: int | None = None, poll_s: float = 1.0) -> None:
    """End this process when the one that started it (`parent`, by default the current parent) ends, e.g. the hub
    killed outright: nobody would read the build's result, and it would hold an encoder's memory for nothing. The
    half-written version is a leftover the next build removes (`storage.remove_stale`). The caller passes its pid
    (``--parent-pid``) because it may be gone before this process gets here."""
    parent = os.getppid() if parent is None else parent

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(EXIT_ORPHANED)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    pin_environment()  # before numpy, onnxruntime or FAISS load: one math thread
    args = _parser().parse_args(argv)
    exit_with_parent(args.parent_pid)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")

    from encoders.base import EncoderError
    from kb_index.schema import ContentError
    from kb_index.storage import KBIndexError

    report = Reporter(sys.stdout)
    try:
        # whatever a library prints goes to stderr: stdout is the JSON protocol
        with contextlib.redirect_stdout(sys.stderr):
            build(args, report)
    except (ContentError, KBIndexError, EncoderError, OSError) as exc:
        print(problem(exc), file=sys.stderr)
        return EXIT_FIX
    except KeyboardInterrupt:
        print("error: interrupted; the live index is unchanged", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
