"""Helpers importable from any test module (the tests folder is on sys.path via conftest)."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path


def free_port_dead() -> int:
    """A loopback port with nothing listening on it (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: One embedding cache for every knowledge-base index the tests build (git-ignored, kept between runs): the
#: shipped encoder embeds the starter FAQ once, not once per session fixture.
TEST_EMBEDDINGS = Path(__file__).resolve().parents[1] / "var" / "test-embeddings"


def copy_content(target: Path, *, git: bool = True) -> Path:
    """The project's content (NLU data, domain, config, FAQ, held-out examples) copied to `target`, committed to a
    git repository of its own: what the studio's tests edit, never the real repository."""
    from core.settings import PROJECT_ROOT

    for rel in ("nlu_data", "kb_index/content", "benchmarks/data/starter_heldout"):
        shutil.copytree(PROJECT_ROOT / rel, target / rel)
    for rel in ("domain.yml", "config.yml"):
        shutil.copy2(PROJECT_ROOT / rel, target / rel)
    if git:
        run = ["git", "-C", str(target)]
        subprocess.run([*run, "init", "-q"], check=True)
        subprocess.run([*run, "add", "."], check=True)
        subprocess.run([*run, "-c", "user.name=Developer", "-c", "user.email=dev@example.com", "commit", "-q", "-m",
                        "The starter content"], check=True)
    return target
