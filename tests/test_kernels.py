"""Loop kernels as functions of their own: identical kernels are emitted once.

A model of K blocks written as a Python loop has K copies of each block's kernels; their
structure is the same (only the pointers differ), so the module holds one function per distinct
kernel and ``fn.stats["kernel_functions"]`` does not grow with K. Results are unchanged: the
compiled model agrees with the evaluator.
"""

from __future__ import annotations

import numpy as np
from helpers import block_model

import graphc as gc


def blocks(K: int, d: int = 3, n: int = 40):
    (mu, q, L), loss, args = block_model(n, d, K)
    return gc.Graph([mu, q, L], [loss, *gc.grad(loss, [mu, q, L])]), args


def test_kernels_of_repeated_blocks_are_emitted_once():
    counts = {}
    for K in (2, 6):
        graph, args = blocks(K)
        fn = gc.compile(graph, cache=False)
        for got, want in zip(fn(*args), gc.evaluate(graph, *args)):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        counts[K] = fn.stats["kernel_functions"], fn.stats["kernel_calls"]
    assert counts[6][0] == counts[2][0]  # distinct kernels: independent of K
    assert counts[6][1] > counts[2][1]  # calls: one per block
    assert counts[6][1] >= 2 * counts[6][0]


def test_a_stack_of_columns_is_one_loop_over_rows():
    x = gc.matrix("x", (50, 4))
    columns = [gc.sum(x * float(k + 1), axis=1) for k in range(12)]
    graph = gc.Graph([x], gc.stack(columns, axis=1))
    fn = gc.compile(graph, cache=False)
    value = np.random.default_rng(1).standard_normal((50, 4))
    np.testing.assert_array_equal(fn(value), gc.evaluate(graph, value))
    concat = [f for f in fn.llvm_ir.split("\n\n") if "@kernel" in f and "loop" in f]
    # The stack's kernel has one loop over the 50 rows, not one strided copy loop per column.
    assert max(f.count("phi i64") for f in concat) <= 2
