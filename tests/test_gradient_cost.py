"""The gradient's own cost: reverse mode builds cheap forms (issue 9), with unchanged values.

The block model of ``benchmarks/problems/blocks.py`` (K blocks of matrix work on an (n, d) data
constant) is the reference: its gradient with respect to the rows ``mu[k]`` is a sum over the n
rows of ``dY @ L[k] + dY * s``, which reverse mode used to compute as an (n, d) matrix product
per block before summing it. These tests pin the cheaper structure and check the values against
finite differences, numpy and the plain-sum form.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import block_model, function_of, numeric_vjp

import graphc as gc
import passes
from graphc import dsl
from graphc.jit.plan import make_plan
from graphc.ops.cotangent_sums import summed


def test_block_model_gradient_has_no_extra_row_products():
    """Only the forward pass multiplies (n, d) matrices by (d, d) ones: the gradient of the
    rows ``mu[k]`` sums the cotangent's rows first and multiplies a d-vector."""
    n, d, K = 50, 4, 3
    (mu, q, L), loss, _ = block_model(n, d, K)
    graph = gc.optimize(gc.Graph([mu, q, L], [loss, *gc.grad(loss, [mu, q, L])]))
    products = [node for node in graph.nodes if node.op == "matmul"]
    row_products = [p for p in products if p.shape == (n, d)]
    assert len(row_products) == K  # the forward's Z @ L[k].T, none in reverse
    # Per block: Z @ L.T, the gradient of L (d, d) and of mu (a d-vector times L).
    assert sorted(p.shape for p in products) == sorted([(n, d)] * K + [(d, d)] * K + [(d,)] * K)
    # No sum of all n d elements in one chain: every full sum goes through its columns first.
    assert not any(
        node.op == "sum" and node.args[0].shape == (n, d) and len(node.attrs["axes"]) == 2
        for node in graph.nodes
    )


def test_block_model_kernels():
    """The compiled gradient's kernel calls (pinned, so a regression in the planner or the rule
    forms shows): 11 per block (3 forward kernels over (n, d) data, and in reverse dY, its two
    column sums, the product dY.T @ Z and a few on d-vectors), 10 for the log-sum-exp and the
    joins (12 K + 10 before Y was recomputed rather than stored)."""
    n, d, K = 60, 3, 4
    (mu, q, L), loss, _ = block_model(n, d, K)
    fg = gc.compile(gc.Graph([mu, q, L], [loss, *gc.grad(loss, [mu, q, L])]), cache=False)
    assert fg.stats["kernel_calls"] <= 11 * K + 10, fg.stats


@pytest.mark.parametrize("jit", [False, True])
def test_block_model_gradient_values(jit):
    (mu, q, L), loss, values = block_model(30, 3, 3)
    grads = gc.grad(loss, [mu, q, L])
    graph = gc.Graph([mu, q, L], grads)
    got = gc.compile(graph, cache=False)(*values) if jit else gc.evaluate(graph, *values)
    want = numeric_vjp(function_of([mu, q, L], loss), values, np.ones(()), [0, 1, 2])
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)


def test_summed_matches_the_plain_sum():
    """Every pushed form equals the plain sum (up to rounding), for each axis choice."""
    rng = np.random.default_rng(1)
    A, B, C = gc.matrix("A", (7, 5)), gc.matrix("B", (5, 6)), gc.matrix("C", (7, 6))
    s = gc.scalar("s")
    ct = -(A @ B + C * s) - (A @ B) * s
    args = (rng.standard_normal((7, 5)), rng.standard_normal((5, 6)))
    args += (rng.standard_normal((7, 6)), np.float64(1.7))
    for axes in [(0,), (1,), (0, 1)]:
        graph = gc.Graph([A, B, C, s], [summed(ct, axes), dsl.sum(ct, axes)])
        got, want = gc.evaluate(graph, *args)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        assert not any(
            node.op == "matmul" and node.shape == (7, 6)
            for node in gc.Graph([A, B, C, s], summed(ct, axes)).nodes
        )


def test_summed_leaves_sums_without_products_alone():
    """A cotangent without a matrix product is summed as one expression (one pass), and a sum
    over every axis goes through the leading axis first."""
    x, y = gc.matrix("x", (4, 3)), gc.matrix("y", (4, 3))
    one_axis = summed(x * y + x, (0,))
    assert one_axis.op == "sum" and one_axis.args[0].op == "add"
    every_axis = summed(x * y, (0, 1))
    assert every_axis.op == "sum" and every_axis.attrs["axes"] == (0,)
    assert every_axis.args[0].op == "sum" and every_axis.args[0].attrs["axes"] == (0,)
    rng = np.random.default_rng(2)
    xv, yv = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    value = gc.evaluate(gc.Graph([x, y], every_axis), xv, yv)
    np.testing.assert_allclose(value, np.sum(xv * yv), rtol=1e-14)


def _in_order_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` with each element's terms added in order from 0, in the operands' dtype (what
    every matmul path of the JIT computes, without fused multiply-adds)."""
    m, k = a.shape
    c = np.zeros((m, b.shape[1]), a.dtype)
    for kk in range(k):
        c = c + a[:, kk : kk + 1] * b[kk : kk + 1, :]  # row kk's terms, rounded in a.dtype
    return c


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "shape",
    [(1000, 10, 10), (10, 1000, 10), (5, 7, 16), (6, 3, 2), (13, 4, 9), (1, 6, 5)]
    + [(200, 20, 20), (9, 7, 41), (3, 50, 17), (130, 5, 130)],  # column groups, other paths
)
def test_register_tile_matmul_adds_in_order(shape, dtype):
    """The register-tile path of the matmul gives bitwise the in-order sums, with B contiguous
    (vector loads) or transposed (gathered), A transposed, tiles of fewer rows at the end and
    columns in groups; as do the paths it does not take (a deep product, 130 columns)."""
    m, k, n = shape
    rng = np.random.default_rng(3)
    va, vb = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    a, b = gc.tensor("a", (m, k), dtype), gc.tensor("b", (k, n), dtype)
    at, bt = gc.tensor("at", (k, m), dtype), gc.tensor("bt", (n, k), dtype)
    fn = gc.compile(gc.Graph([a, b, at, bt], [a @ b, a @ bt.T, at.T @ b]), cache=False)
    want = _in_order_product(va, vb)
    for got in fn(va, vb, va.T.copy(), vb.T.copy()):
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes()


def test_cheap_values_are_recomputed_not_stored():
    """Y = Z * s + Z @ W, read by the forward's sum(Y * Y) and the reverse sweep's 2 w Y, is
    recomputed in both kernels: the gradient stores no (n, d) value the function alone does
    not, other than the cotangent dY the product dY.T @ Z reads."""
    n, d, K = 40, 3, 2
    (mu, q, L), loss, values = block_model(n, d, K)
    graph = gc.Graph([mu, q, L], [loss, *gc.grad(loss, [mu, q, L])])
    lowered = passes.run(gc.optimize(graph), passes.LOWERING_PIPELINE, max_rounds=1).graph
    plan = make_plan(lowered)
    stored = [k for k in plan.kernels if k.kind in ("map", "matmul") and k.root.shape == (n, d)]
    # Per block: Z = X - mu[k], Z @ L[k].T and dY; Y is not among them.
    assert len(stored) == 3 * K
    assert sum(k.kind == "map" for k in stored) == 2 * K
    got = gc.compile(graph, cache=False)(*values)
    want = gc.evaluate(graph, *values)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


def _symmetric(n: int, seed: int = 4) -> np.ndarray:
    m = np.random.default_rng(seed).standard_normal((n, n))
    return (m + m.T) / 2


@pytest.mark.parametrize("n", [1, 7, 50])
def test_symmetric_constant_matvec_reads_rows(n):
    """A v of a symmetric constant A becomes v A (rows read contiguously), bitwise equal, and
    the gradient of x . (A x) shares that one product: one pass over A for f and gradient."""
    A = _symmetric(n)
    x = gc.vector("x", n)
    xv = np.random.default_rng(5).standard_normal(n)
    y = gc.dot(x, gc.constant(A) @ x)
    graph = gc.Graph([x], [y, gc.grad(y, x)])
    optimized = gc.optimize(graph)
    over_a = [node for node in optimized.nodes if node.op == "matmul" and node.args[1].ndim == 2]
    assert len(over_a) == 1 and over_a[0].args[0].ndim == 1  # one v A product
    got = gc.compile(graph, cache=False)(xv)
    np.testing.assert_allclose(got[1], 2 * A @ xv, rtol=1e-12, atol=1e-12)
    # Bitwise: the compiled A v (rewritten) against v A as written.
    fv = gc.compile(gc.Graph([x], gc.constant(A) @ x), cache=False)
    fw = gc.compile(gc.Graph([x], x @ gc.constant(A)), cache=False)
    assert fv(xv).tobytes() == fw(xv).tobytes()
    unoptimized = gc.compile(gc.Graph([x], gc.constant(A) @ x), cache=False, optimize=False)
    assert fv(xv).tobytes() == unoptimized(xv).tobytes()


def test_non_symmetric_constant_matvec_is_left_alone():
    A = _symmetric(6)
    A[0, 1] = np.nextafter(A[0, 1], 1.0)  # one bit off symmetric
    x = gc.vector("x", 6)
    optimized = gc.optimize(gc.Graph([x], gc.constant(A) @ x))
    (product,) = [node for node in optimized.nodes if node.op == "matmul"]
    assert product.args[0].ndim == 2
