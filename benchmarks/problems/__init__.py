"""The benchmark problems, one module each, in the order ``run.py`` runs them.

Every module has ``NAME``, ``TITLE``, ``run(ctx) -> dict`` (build, cross-check, time; the dict
is written to ``benchmarks/results/NAME.json``) and ``render(result) -> dict[str, str]`` (the
markdown blocks of ``docs/performance.md`` it owns, by marker name), and may have
``plot(result, directory, pyplot) -> list[str]``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

ORDER = (
    "helmholtz",
    "higher_order",
    "overhead",
    "batch",
    "swell",
    "mlp",
    "compile_time",
    "blocks",
    "jacobians",
    "linalg",
    "loops",
)


def load(name: str) -> ModuleType:
    """The problem module ``name`` (imported on demand: each pulls in its own peers)."""
    if name not in ORDER:
        raise ValueError(f"unknown problem {name!r}; the problems are {', '.join(ORDER)}")
    return importlib.import_module(f"problems.{name}")
