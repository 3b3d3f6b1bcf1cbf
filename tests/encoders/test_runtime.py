"""Math-thread pinning (encoders.runtime): explicit, never a side effect of an import."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

from core.settings import PROJECT_ROOT
from encoders import runtime

PINNED = runtime.PINNED_ENV_VARS


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (*PINNED, runtime.THREADS_ENV, *runtime.THREADS_ENV_ALIASES):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_pin_environment_sets_one_thread_and_keeps_what_is_set(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("MKL_NUM_THREADS", "3")
    runtime.pin_environment()
    assert {name: os.environ[name] for name in PINNED} == {
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def test_the_thread_count_is_configurable_under_both_names(clean_env: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    assert runtime.thread_count() == 1
    clean_env.setenv("KB_INDEX_THREADS", "2")  # the former name still works
    assert runtime.thread_count() == 2
    clean_env.setenv("MATH_THREADS", "4")  # and the new one wins
    runtime.pin_environment()
    assert runtime.thread_count() == 4 and os.environ["OMP_NUM_THREADS"] == "4"
    clean_env.setenv("MATH_THREADS", "many")
    with caplog.at_level(logging.WARNING, logger="encoders.runtime"):
        assert runtime.thread_count() == 1
    assert "MATH_THREADS='many' is not a whole number" in caplog.text


def test_importing_the_packages_pins_nothing() -> None:
    """Only entry points pin (before numpy and the backends load); a library import leaves the environment alone."""
    env = {k: v for k, v in os.environ.items() if k not in PINNED}
    script = ("import json, os\n"
              "import encoders, encoders.runtime, encoders.loading, encoders.onnx, kb_index, kb_index.cli, "
              "kb_index.knowledge_base, kb_index.holder, kb_index.build\n"
              f"print(json.dumps({{name: os.environ.get(name) for name in {list(PINNED)!r}}}))\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == dict.fromkeys(PINNED)
