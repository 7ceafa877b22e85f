"""Golden LLVM IR, one small graph per kind of kernel, so a codegen change shows as a diff.

Each case compiles a tiny graph and compares the IR graphc generated for its kernels (the text
given to LLVM, before LLVM's optimizer) with ``tests/golden/ir/<case>.ll``. After a deliberate
change to lowering, regenerate with ``python -m pytest tests/test_golden_ir.py --update-golden``
and read the diff before committing it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import graphc as gc

GOLDEN = Path(__file__).resolve().parent / "golden" / "ir"


def _cases() -> dict[str, gc.Graph]:
    x, y = gc.vector("x", 6), gc.vector("y", 6)
    s = gc.scalar("s")
    m = gc.matrix("m", (3, 4))
    a, b = gc.matrix("a", (4, 5)), gc.matrix("b", (5, 3))
    wide, tall = gc.matrix("wide", (5, 17)), gc.matrix("tall", (18, 6))
    x6 = gc.vector("x6", 6)
    flags = gc.tensor("flags", (6,), "bool")
    return {
        # one elementwise op on scalars: straight-line code in a part, no kernel function
        "scalar": gc.Graph([s], [gc.exp(s) * s + 1.0]),
        # a fused chain: one loop, a scalar parameter, a broadcast operand
        "map": gc.Graph([x, y, s], [gc.where(x > 0.5, gc.sin(x) * s, y)]),
        # reductions: reduced axis innermost (a register accumulator), and kept axis innermost
        "reduce_rows": gc.Graph([m], [gc.sum(gc.exp(m), axis=1)]),
        "reduce_columns": gc.Graph([m], [gc.max(m, axis=0)]),
        "reduce_scalar": gc.Graph([x], [gc.sum(x * x)]),
        # the matmul paths: dot product, rows of B contiguous (a deep product of more than
        # TILE_ALWAYS columns), dot products eight at a time (a matrix times a vector), and the
        # register tile (B's rows loaded as vectors, or gathered from a transposed B)
        "dot": gc.Graph([x, y], [x @ y]),
        "matmul_rows": gc.Graph([a, wide], [a @ wide]),
        "matmul_dots": gc.Graph([tall, x6], [tall @ x6]),
        "matmul_tile": gc.Graph([a, b], [a @ b]),
        "matmul_tile_gathered": gc.Graph([a, b], [b.T @ a.T]),
        "concat": gc.Graph([m, s], [gc.stack([gc.sum(m, axis=1), gc.sum(m, axis=1) * s], axis=1)]),
        "unslice": gc.Graph([m], [gc.grad(gc.sum(m[1:, ::2] ** 2), m)]),
        "copy": gc.Graph([m], [gc.reshape(m.T, (12,)), m]),
        "bool_result": gc.Graph([flags], [gc.logical_not(flags), gc.max(flags)]),
    }


def kernel_ir(graph: gc.Graph) -> str:
    """The IR of the kernels and parts (the entry points are the same for every graph)."""
    fn = gc.compile(graph, cache=False, vector_math=False)
    functions = fn.llvm_ir.split("\n\n")
    kept = [f for f in functions if "@kernel" in f.split("(")[0] or "@part" in f.split("(")[0]]
    return "\n\n".join(kept) + "\n"


@pytest.mark.parametrize("case", sorted(_cases()))
def test_kernel_ir_is_unchanged(case, request):
    text = kernel_ir(_cases()[case])
    path = GOLDEN / f"{case}.ll"
    if request.config.getoption("--update-golden"):
        path.write_text(text)
    assert path.exists(), f"no golden file for {case}: run with --update-golden"
    assert text == path.read_text(), f"the IR of {case} changed (see {path})"


def test_golden_graphs_compute_what_the_evaluator_does():
    rng = np.random.default_rng(0)
    for graph in _cases().values():
        args = []
        for node in graph.inputs:
            if node.dtype == "bool":
                args.append(rng.random(node.shape) > 0.5)
            else:
                args.append(np.asarray(rng.uniform(0.1, 1.0, node.shape)))
        args = [a.item() if a.ndim == 0 else a for a in args]
        got = gc.compile(graph, cache=False)(*args)
        want = gc.evaluate(graph, *args)
        for g, w in zip(got, want):
            np.testing.assert_allclose(np.asarray(g, float), np.asarray(w, float), rtol=1e-12)
