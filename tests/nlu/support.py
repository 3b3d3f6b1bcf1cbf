"""Helpers for the NLU tests: run code in the Rasa runtime (Python 3.10)."""

from __future__ import annotations

import os
import subprocess

import pytest

from core.settings import PROJECT_ROOT
from tools.launcher import child_env

RASA_PYTHON = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"

SENTENCES = [
    "where is my order BC-100002?",
    "I want to talk to a real person",
    "hi",
    "Can I return a blender that arrived broken, and how long does the refund take?",
    "",
    "Wo ist mein Paket?",
]


def run_in_rasa(script: str, *, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run a Python script in the Rasa runtime, with the project on the path and one math thread."""
    if not RASA_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail("the Rasa runtime is not installed: run `make install`")
        pytest.skip("the Rasa runtime is not installed: run `make install`")
    return subprocess.run([str(RASA_PYTHON), "-c", script], cwd=PROJECT_ROOT, env=child_env(**(env or {})),
                          capture_output=True, text=True, timeout=timeout)
