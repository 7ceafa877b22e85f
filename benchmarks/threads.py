"""Thread settings for fair one-core comparisons, applied before any numeric library loads.

This module imports nothing numeric on purpose: ``run.py`` and ``worker.py`` call
:func:`set_thread_env` first thing, because OpenBLAS, MKL and XLA read these variables once, when
they are loaded (on these 2-vCPU machines threaded BLAS makes small matvecs far slower).
``torch.set_num_threads(1)`` is applied when torch is imported (``harness.Context.peer``).
"""

from __future__ import annotations

import os

THREAD_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}


def set_thread_env() -> None:
    """Pin every numeric library to one thread; must run before they are imported."""
    for key, value in THREAD_ENV.items():
        os.environ[key] = value
