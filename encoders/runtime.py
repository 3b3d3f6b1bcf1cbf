"""How many math threads a process uses, pinning the math libraries to it, and importing them late.

On small shared machines two or more math threads per process were 5–10× *slower* and erratic for embedding and
FAISS search (benchmarks/README.md), so the default is one thread; scale out with processes instead. Set
``MATH_THREADS`` to change it (``KB_INDEX_THREADS``, its former name, is still read).

Importing this module changes nothing. Entry points call `pin_environment()` first, before numpy, torch,
onnxruntime or FAISS are imported (they read the variables when they load); the torch backend calls `pin_torch()`
and the knowledge base pins FAISS (`kb_index.faiss_index`). So that an entry point can import this module (and
the packages) before pinning, `encoders` and `kb_index` export their names lazily (`lazy_exports`). Standard
library only, so that Rasa's runtime can import it too.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

THREADS_ENV = "MATH_THREADS"
THREADS_ENV_ALIASES = ("KB_INDEX_THREADS",)  # the former name
PINNED_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TOKENIZERS_PARALLELISM")


def thread_count() -> int:
    """The number of math threads to use (``MATH_THREADS``, else ``KB_INDEX_THREADS``, default 1)."""
    for name in (THREADS_ENV, *THREADS_ENV_ALIASES):
        raw = os.environ.get(name)
        if raw is None or not raw.strip():
            continue
        try:
            return max(1, int(raw))
        except ValueError:
            log.warning("%s=%r is not a whole number; using 1 thread", name, raw)
            return 1
    return 1


def pin_environment() -> None:
    """Set the math libraries' thread variables (only those not already set). Call before importing them."""
    count = str(thread_count())
    for name in PINNED_ENV_VARS:
        os.environ.setdefault(name, "false" if name == "TOKENIZERS_PARALLELISM" else count)


def pin_torch() -> None:
    """Limit torch's intra-op and inter-op pools."""
    import torch

    count = thread_count()
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    try:
        torch.set_num_interop_threads(count)
    except RuntimeError:  # only settable before the first parallel op; harmless afterwards
        pass


def onnx_session(path: Path, *, threads: int = 1) -> Any:
    """An onnxruntime CPU session for the model at `path`: `threads` intra-op threads, sequential, quiet."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def lazy_exports(package: str, exports: dict[str, tuple[str, ...]]) -> tuple[Callable[[str], Any], list[str]]:
    """A package's ``__getattr__`` and ``__all__`` (PEP 562) re-exporting `exports` ({module: names}): each name's
    module is imported when the name is first used, so importing the package loads no math library."""
    module_of = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in module_of:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module_of[name]), name)

    return __getattr__, sorted(module_of)
