"""Files the install steps produce (reassembled weights, ONNX exports): checksums and putting a built folder in
place. Standard library only."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path


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
