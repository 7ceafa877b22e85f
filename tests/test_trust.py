"""Regression tests of issue 8 ("trust"): silent wrong answers and unsafe inputs, one section each.

- Constant folding of broadcasting constants: an outer product of two constant arrays, and the
  gradient of a linear layer with constant weights under a constant weighting, keep their
  values through ``gc.optimize`` and ``gc.compile`` (random graphs of the same family are in
  ``tests/passes/test_random_graphs.py``).
- Shapes of more than ``2**60 - 1`` elements (whose size in bytes overflows int64) are refused
  when the node is built, by whichever op makes them, and when a serialised graph is loaded.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import assert_same_values, outputs

import graphc as gc
from graphc import serialize
from graphc.shapes import MAX_ELEMENTS

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


# -- shapes whose element count overflows -----------------------------------------------------

HUGE = 2**32


@pytest.mark.parametrize(
    "build, op, shape",
    [
        (lambda: gc.broadcast_to(gc.scalar("a"), (HUGE, HUGE, 4)), "broadcast_to", (HUGE, HUGE, 4)),
        (lambda: gc.vector("v", 2**70), "input 'v'", (2**70,)),
        (lambda: gc.tensor("t", (HUGE, HUGE, 4), "bool"), "input 't'", (HUGE, HUGE, 4)),
        (lambda: gc.vector("p", HUGE)[:, None] * gc.vector("q", HUGE), "mul", (HUGE, HUGE)),
        (lambda: gc.matrix("m", HUGE, 1) @ gc.matrix("n", 1, HUGE), "matmul", (HUGE, HUGE)),
        (lambda: gc.concatenate([gc.vector("c", 2**60 - 1)] * 2), "concatenate", (2**61 - 2,)),
    ],
)
def test_shapes_of_more_than_2_60_elements_are_refused_when_built(build, op, shape):
    # broadcast_to(a, (2**32, 2**32, 4)) used to build, and compiled code summed it to 1.0.
    with pytest.raises(ValueError, match=re.escape(f"{op}: the shape {shape}")):
        build()


def test_the_largest_shape_builds_and_the_next_one_does_not():
    a = gc.scalar("a")
    assert gc.broadcast_to(a, (MAX_ELEMENTS,)).shape == (MAX_ELEMENTS,)
    assert MAX_ELEMENTS * 8 <= 2**63 - 1 < (MAX_ELEMENTS + 1) * 8
    with pytest.raises(ValueError, match=r"2\*\*60 - 1\) graphc allows"):
        gc.broadcast_to(a, (2, 2**59))


def test_a_serialised_graph_with_a_huge_shape_is_refused_at_load():
    data = serialize.to_dict(gc.Graph([x := gc.vector("x", 3)], [x * 2.0]))
    for record in data["nodes"]:
        if record["op"] == "input":
            record["attrs"]["shape"] = [HUGE, HUGE, 4]
            record["shape"] = [HUGE, HUGE, 4]
    with pytest.raises(ValueError, match="input 'x': the shape"):
        serialize.from_dict(data)
