"""Regression tests of issue 8 ("trust"): silent wrong answers and unsafe inputs, one section each.

- Constant folding of broadcasting constants: an outer product of two constant arrays, and the
  gradient of a linear layer with constant weights under a constant weighting, keep their
  values through ``gc.optimize`` and ``gc.compile`` (random graphs of the same family are in
  ``tests/passes/test_random_graphs.py``).
"""

from __future__ import annotations

import numpy as np
from helpers import assert_same_values, outputs

import graphc as gc

# -- constant folding of broadcasting constants -----------------------------------------------


def _all_three_agree(graph: gc.Graph, *args: object) -> list[np.ndarray]:
    """The graph's values, checked equal through gc.optimize and gc.compile."""
    want = outputs(graph, *args)
    assert_same_values(outputs(gc.optimize(graph, verify=True), *args), want)
    compiled = gc.compile(graph)(*args)
    assert_same_values([compiled] if graph.single_output else list(compiled), want)
    return want


def test_folding_an_outer_product_of_constants():
    s = gc.scalar("s")
    graph = gc.Graph([s], s * (gc.constant([[1.0], [2.0], [3.0]]) * gc.constant([[10.0, 20.0]])))
    (value,) = _all_three_agree(graph, 1.0)
    np.testing.assert_array_equal(value, [[10.0, 20.0], [20.0, 40.0], [30.0, 60.0]])


def test_folding_the_gradient_of_a_linear_layer_with_constant_weights():
    x = gc.matrix("X", 3, 2)
    w, c = np.array([1.0, 2.0]), np.array([1.0, 2.0, 3.0])
    graph = gc.Graph([x], gc.grad(gc.sum((x @ gc.constant(w)) * gc.constant(c)), x))
    (value,) = _all_three_agree(graph, np.ones((3, 2)))
    np.testing.assert_array_equal(value, np.outer(c, w))
