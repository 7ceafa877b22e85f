"""The benchmark suite's cross-checks, without timing: every problem of ``benchmarks/run.py``
builds, and graphc's values and gradients agree with its independent oracles (numpy, the complex
step, the hand-written C baselines) and with every peer that is installed. Peers that are absent
(the test extra installs none) are skipped by the suite itself; no timing is asserted."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import problems  # noqa: E402
from harness import Context  # noqa: E402

# compile_time spends its time in child processes compiling with every peer (a minute with the
# peers installed); its generated graphs are checked directly below instead.
CHEAP = [name for name in problems.ORDER if name != "compile_time"]


@pytest.fixture(scope="module")
def ctx() -> Context:
    return Context(quick=True, timing=False, log=lambda message: None)


@pytest.mark.parametrize("name", CHEAP)
def test_problem_cross_checks(ctx: Context, name: str) -> None:
    failures, disagreements = len(ctx.failures), len(ctx.disagreements)
    result = problems.load(name).run(ctx)
    assert ctx.failures[failures:] == []
    assert ctx.disagreements[disagreements:] == []
    assert problems.load(name).render(result)  # the tables render from a check-only run


def test_compile_time_graph_agrees_with_numpy() -> None:
    # The generated programs themselves, evaluated by graphc and by plain floats.
    import math

    from problems import compile_time

    import graphc as gc

    for kind in compile_time.KINDS:
        ops = compile_time.program(kind, 300)
        args = compile_time.point(kind)
        xs = [gc.scalar(f"x{i}") for i in range(len(args))]
        fn = gc.compile(gc.Graph(xs, compile_time.interpret(ops, xs, gc.sin, gc.tanh)), cache=False)
        expected = compile_time.interpret(ops, args, math.sin, math.tanh)
        assert fn(*args) == pytest.approx(expected, rel=1e-12, abs=1e-300)
