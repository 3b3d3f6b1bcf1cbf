"""Helpers importable from any test module (the tests folder is on sys.path via conftest)."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any


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


def action_server(settings: Any) -> Any:
    """The hub's `ActionServerClient` talking to the real action server app in-process (`httpx.ASGITransport`),
    with the knowledge base of `settings` (the hub's `HubSettings`: its `kb_index_dir` and `embedding_model`).
    The hub's knowledge-base and encoder calls (try a question, content gaps, suggestions) all go there."""
    import httpx

    from actions.server import create_app as action_app, default_holder
    from bot.clients.actions import ActionServerClient
    from core.settings import ActionSettings

    action_settings = ActionSettings.from_env(
        Path("/nonexistent.env"), kb_index_dir=settings.kb_index_dir, embedding_model=settings.embedding_model,
        kb_answer_threshold=settings.kb_answer_threshold, kb_suggest_threshold=settings.kb_suggest_threshold,
        default_language=settings.default_language)
    app = action_app(holder=default_holder(action_settings), settings=action_settings, warm_up=False)
    return ActionServerClient("http://action-server", transport=httpx.ASGITransport(app=app))
