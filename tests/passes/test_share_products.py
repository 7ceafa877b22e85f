"""share_products: column sums read off the diagonal of a product the graph computes anyway."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import block_model

import graphc as gc
import passes
from passes.share_products import share_products


def _column_sums_of_products(graph: gc.Graph) -> int:
    return sum(
        1
        for n in graph.nodes
        if n.op == "sum" and n.attrs["axes"] == (0,) and n.args[0].op == "mul" and n.ndim == 1
    )


@pytest.mark.parametrize("swap", [False, True])
def test_a_column_sum_becomes_the_diagonal_of_the_product(swap):
    a, b = gc.matrix("a", (7, 3)), gc.matrix("b", (7, 3))
    product = a.T @ b
    sums = gc.sum(b * a if swap else a * b, axis=0)
    graph = gc.Graph([a, b], [product, sums])
    shared = share_products(graph)
    assert _column_sums_of_products(graph) == 1 and _column_sums_of_products(shared) == 0
    rng = np.random.default_rng(0)
    values = [rng.standard_normal((7, 3)), rng.standard_normal((7, 3))]
    np.testing.assert_allclose(gc.evaluate(shared, *values)[1], np.sum(values[0] * values[1], 0))
    # Compiled, both forms add the same terms in the same order: the same bits.
    got = gc.compile(shared, optimize=False, cache=False)(*values)
    want = gc.compile(graph, optimize=False, cache=False)(*values)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize(
    "build",
    [
        lambda a, b: [gc.sum(a * b, axis=0)],  # no product to read it from
        lambda a, b: [a.T @ b, gc.sum(a * b, axis=1)],  # row sums are not its diagonal
        lambda a, b: [a.T @ b, gc.sum(a * b, axis=0, keepdims=True)],
        lambda a, b: [a.T @ a, gc.sum(a * b, axis=0)],  # another product
        lambda a, b: [a @ b.T, gc.sum(a * b, axis=0)],
    ],
)
def test_nothing_else_changes(build):
    a, b = gc.matrix("a", (5, 5)), gc.matrix("b", (5, 5))
    graph = gc.Graph([a, b], build(a, b))
    assert share_products(graph) is graph


def test_the_block_models_gradient_reads_its_scale_gradient_off_the_weight_gradient():
    (mu, q, L), loss, values = block_model(40, 3, 3)
    graph = gc.Graph([mu, q, L], [loss, *gc.grad(loss, [mu, q, L])])
    without = [name for name in passes.DEFAULT_PIPELINE if name != "share_products"]
    assert _column_sums_of_products(gc.optimize(graph, pipeline=without)) == 3
    assert _column_sums_of_products(gc.optimize(graph)) == 0
    got = gc.compile(graph, cache=False)(*values)
    want = gc.compile(graph, cache=False, pipeline=without)(*values)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    for g, w in zip(gc.evaluate(gc.optimize(graph), *values), gc.evaluate(graph, *values)):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)
