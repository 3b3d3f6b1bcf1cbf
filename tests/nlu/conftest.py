"""Fixtures for the NLU component tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT
from tools.launcher import child_env


@pytest.fixture(scope="session")
def encoder_dir() -> Path:
    """The ONNX export of the bundled model (idempotent: instant when it is up to date)."""
    proc = subprocess.run([sys.executable, "-m", "nlu_components.export_onnx", "--model", "all-MiniLM-L6-v2"], cwd=PROJECT_ROOT, env=child_env(),
                          stdout=subprocess.PIPE, text=True, timeout=600)
    assert proc.returncode == 0, "ONNX export failed"
    return Path(proc.stdout.strip().splitlines()[-1])
