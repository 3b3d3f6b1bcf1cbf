"""Pin the math libraries to a fixed number of threads.

On small shared machines two or more math threads per process were 5–10× *slower* and erratic for
embedding and FAISS search (see docs), so the default is one thread; scale out with processes instead.
Set ``KB_INDEX_THREADS`` to change it.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

_THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TOKENIZERS_PARALLELISM")


def thread_count() -> int:
    """The number of math threads to use (``KB_INDEX_THREADS``, default 1)."""
    raw = os.environ.get("KB_INDEX_THREADS", "1")
    try:
        return max(1, int(raw))
    except ValueError:
        log.warning("KB_INDEX_THREADS=%r is not a whole number; using 1 thread", raw)
        return 1


def pin_environment() -> None:
    """Set the thread environment variables (only those not already set). Call before importing torch."""
    count = str(thread_count())
    for name in _THREAD_ENV_VARS:
        os.environ.setdefault(name, "false" if name == "TOKENIZERS_PARALLELISM" else count)


def pin_faiss() -> None:
    """Limit FAISS's OpenMP pool."""
    import faiss

    faiss.omp_set_num_threads(thread_count())


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


pin_environment()
