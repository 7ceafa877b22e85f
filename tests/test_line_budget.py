"""The library's line budget: each part of the code may grow only by a deliberate commit.

A budget is the number of physical lines (comments and docstrings included: they are part of
what a reader reads) of the ``.py`` files of one part. When a change needs more, raise the number
here in the same commit and say why in its message; when a change frees lines, lower it. The
budgets are written down, with the reasons for their sizes, in docs/architecture.md ("Line
budget").
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# part -> (files, budget in lines)
BUDGETS: dict[str, tuple[str, int]] = {
    # the front half: nodes, DSL, graph, autodiff, evaluator, transforms, numpy's functions
    "graphc core": ("graphc/*.py", 6_600),
    # the fuzzer is a tool, not the library: its own budget so it cannot hide growth elsewhere
    "graphc/fuzz.py": ("graphc/fuzz.py", 3_050),
    "graphc/ops": ("graphc/ops/*.py", 5_900),
    "graphc/jit": ("graphc/jit/*.py", 5_180),
    "trace": ("graphc/trace*.py", 720),
    "passes": ("passes/*.py", 1_530),
}


def lines(pattern: str, exclude: tuple[str, ...] = ()) -> int:
    files = [p for p in ROOT.glob(pattern) if p.name not in exclude]
    assert files, f"no files match {pattern}"
    return sum(len(p.read_text(encoding="utf-8").splitlines()) for p in files)


@pytest.mark.parametrize("part", BUDGETS)
def test_part_within_its_line_budget(part: str):
    pattern, budget = BUDGETS[part]
    # The core's pattern also matches the fuzzer and the trace modules, which have their own.
    exclude = ("fuzz.py", "trace.py", "trace_format.py") if part == "graphc core" else ()
    used = lines(pattern, exclude)
    assert used <= budget, (
        f"{part} has {used} lines, over its budget of {budget}: make room, or raise the budget "
        "in tests/test_line_budget.py in a commit that says why"
    )
