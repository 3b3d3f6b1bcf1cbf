"""Files the install steps produce (reassembled weights, ONNX exports): checksums and putting a built folder in
place. Standard library only."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def replace_folder(staged: Path, target: Path) -> None:
    """Put the folder `staged` where `target` is, never leaving `target` half written: a reader sees the old
    folder or the new one."""
    if target.exists():
        old = target.with_name(f".{target.name}-old-{os.getpid()}")
        os.replace(target, old)
        os.replace(staged, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staged, target)


MANIFEST = "manifest.json"


def read_manifest(directory: Path) -> dict[str, Any] | None:
    """The folder's manifest.json, or None when it is missing or unreadable."""
    try:
        return json.loads((Path(directory) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def export_graph(target: Path, *, model: str, fingerprint: str, version: str, build: Callable[[Path], dict[str, Any]],
                 force: bool = False, say: Callable[[str], Any] = print) -> Path:
    """Write an encoder's ONNX graph folder unless an up-to-date one is there (same source `fingerprint` and
    exporter `version`): `build(folder)` writes `model.onnx` into a staging folder, checks it (raising to refuse
    it) and returns the manifest's other fields; the folder is then put in place whole (`replace_folder`)."""
    manifest = read_manifest(target)
    if not force and manifest and manifest.get("source_sha256") == fingerprint \
            and manifest.get("export_version") == version and (target / "model.onnx").exists():
        say(f"ONNX encoder is up to date ({target})")
        return target
    started = time.monotonic()
    say(f"writing {model} as an ONNX graph in {target} (once; a few seconds)…")
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    staged.chmod(0o755)
    try:
        extra = build(staged)
        (staged / MANIFEST).write_text(json.dumps({"model": model, "export_version": version, **extra,
                                                   "source_sha256": fingerprint}, indent=2) + "\n", encoding="utf-8")
        replace_folder(staged, target)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    say(f"exported {model} in {time.monotonic() - started:.1f} s → {target}")
    return target
