"""Batching rules and ``gc.vmap``, and the Jacobians built on them.

- One table: every case of ``test_ops.TABLE`` (every op) is mapped with ``gc.vmap`` over a
  batch in several placements (all arguments at the first axis, all at the last, each one alone
  at a middle axis) and must equal the loop of the unbatched op over the entries; the batched
  graph must not grow with the batch size (no unrolling); one case per op is also compiled.
- Every op with arguments has a batching rule (its record's or its kind's).
- ``vmap`` itself: in_axes/out_axes forms, outputs that do not depend on the batch, nesting,
  errors; per-example gradients and random graphs with their gradients, against a loop.
- Jacobians and Hessians: one batched sweep whose graph does not grow with n.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import outputs, random_array, random_graphs
from hypothesis import HealthCheck, given, settings
from test_ops import CASES, TABLE, Case, input_dtype

import graphc as gc
from graphc.batching import batch_rule
from graphc.ops import OPS
from graphc.ops.base import arity
from graphc.sparsity import sparsity_rule

B = 3


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_with_arguments_has_batching_and_sparsity_rules(name):
    opdef = OPS[name]
    if arity(opdef) == 0:
        return  # sources: nothing to batch, no arguments to depend on
    assert batch_rule(opdef) is not None, f"{name}: add batch= to its record (graphc.batching)"
    assert sparsity_rule(opdef) is not None, f"{name}: add sparsity= to its record"


def placements(case: Case) -> list[tuple]:
    """in_axes to try: all first, all last, each argument alone at a middle axis."""
    ndims = [len(s) for s in case.shapes]
    result = [tuple(0 for _ in ndims), tuple(d for d in ndims)]
    for i, d in enumerate(ndims):
        result.append(tuple((d + 1) // 2 if j == i else None for j in range(len(ndims))))
    return list(dict.fromkeys(result))


def batched_inputs(case: Case, in_axes: tuple, size: int, seed: int = 0):
    """Input nodes carrying a batch of ``size`` at ``in_axes`` and their values."""
    rng = np.random.default_rng(seed)
    nodes, values = [], []
    for i, (shape, domain, axis) in enumerate(zip(case.shapes, case.domains, in_axes)):
        dtype = input_dtype(domain, case.dtypes[0])
        full = shape if axis is None else shape[:axis] + (size,) + shape[axis:]
        nodes.append(gc.tensor(f"x{i}", full, dtype))
        values.append(random_array(rng, full, dtype, domain, salt=i))
    return nodes, values


def entry(values, in_axes, k):
    return [v if axis is None else np.take(v, k, axis=axis) for v, axis in zip(values, in_axes)]


BATCH_CASES = [p for p in CASES if p.values[1].shapes]  # constants have no argument to map


@pytest.mark.parametrize("name, case", BATCH_CASES)
def test_batched_op_equals_the_loop_over_entries(name, case):
    for in_axes in placements(case):
        nodes, values = batched_inputs(case, in_axes, B)
        mapped = gc.vmap(case.build, in_axes=in_axes)(*nodes)
        assert mapped.shape[0] == B
        graph = gc.Graph(nodes, [mapped])
        # (a product of two batched matrices is a broadcast product and a sum, by design)
        both_batched = name == "matmul" and None not in in_axes
        if name not in ("input", "const") and not both_batched:
            assert any(n.op == name for n in graph.nodes), f"{name} is not in the batched graph"
        (got,) = outputs(graph, *values)
        unbatched = [
            gc.tensor(f"x{i}", s, n.dtype) for i, (s, n) in enumerate(zip(case.shapes, nodes))
        ]
        single = gc.Graph(unbatched, [case.build(*unbatched)])
        want = np.stack([outputs(single, *entry(values, in_axes, k))[0] for k in range(B)])
        assert got.shape == want.shape and got.dtype == want.dtype, (in_axes, got.shape)
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=0, err_msg=str(in_axes))


@pytest.mark.parametrize("name, case", BATCH_CASES)
def test_batched_graph_does_not_grow_with_the_batch(name, case):
    in_axes = tuple(0 for _ in case.shapes)
    sizes = []
    for size in (2, 7):
        nodes, _ = batched_inputs(case, in_axes, size)
        sizes.append(len(gc.Graph(nodes, [gc.vmap(case.build, in_axes)(*nodes)]).nodes))
    assert sizes[0] == sizes[1]


FIRST_CASE_PER_OP = [
    p for p in BATCH_CASES if p.values[1] is next(c for c in TABLE[p.values[0]] if c.shapes)
]


@pytest.mark.parametrize("name, case", FIRST_CASE_PER_OP)
def test_compiled_batched_op_agrees_with_the_evaluator(name, case):
    graphs_outputs, all_values, all_nodes = [], [], []
    for k, in_axes in enumerate(placements(case)):
        nodes, values = batched_inputs(case, in_axes, B, seed=k)
        nodes = [gc.tensor(f"p{k}_{i}", n.shape, n.dtype) for i, n in enumerate(nodes)]
        graphs_outputs.append(gc.vmap(case.build, in_axes=in_axes)(*nodes))
        all_nodes += nodes
        all_values += values
    graph = gc.Graph(all_nodes, graphs_outputs)
    want = outputs(graph, *all_values)
    got = gc.compile(graph, cache=False)(*all_values)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-13, atol=1e-300)


# -- vmap -------------------------------------------------------------------------------------


def evaluate(nodes, outs, *values):
    return outputs(gc.Graph(nodes, outs), *values)


def test_in_axes_none_out_axes_and_tuple_outputs():
    X, w = gc.matrix("X", 4, 3), gc.vector("w", 4)
    X0, w0 = np.random.default_rng(0).standard_normal((4, 3)), np.arange(4.0)

    def fun(row, weights):
        return row * weights, gc.sum(row)

    scaled, sums = gc.vmap(fun, in_axes=(1, None), out_axes=(-1, 0))(X, w)
    assert scaled.shape == (4, 3) and sums.shape == (3,)
    got = evaluate([X, w], [scaled, sums], X0, w0)
    np.testing.assert_array_equal(got[0], np.stack([X0[:, j] * w0 for j in range(3)], axis=-1))
    np.testing.assert_array_equal(got[1], X0.sum(axis=0))
    listed = gc.vmap(lambda r: [r * 2.0])(X)
    assert isinstance(listed, list) and listed[0].shape == (4, 3)


def test_output_that_does_not_depend_on_the_batch_is_broadcast():
    X, w = gc.matrix("X", 5, 2), gc.vector("w", 2)
    out = gc.vmap(lambda row: gc.sum(w * w), out_axes=0)(X)
    assert out.shape == (5,)
    (got,) = evaluate([X, w], [out], np.zeros((5, 2)), np.array([1.0, 2.0]))
    np.testing.assert_array_equal(got, np.full(5, 5.0))
    same = gc.vmap(lambda row: w, out_axes=None)(X)
    assert same is w


def test_nested_vmap_is_an_outer_product():
    a, b = gc.vector("a", 3), gc.vector("b", 4)
    table = gc.vmap(lambda u: gc.vmap(lambda v: u * v + 1.0)(b))(a)
    assert table.shape == (3, 4)
    a0, b0 = np.arange(3.0), np.arange(4.0) - 1.5
    (got,) = evaluate([a, b], [table], a0, b0)
    np.testing.assert_array_equal(got, np.outer(a0, b0) + 1.0)


def test_vmap_errors_name_the_problem():
    X, Y = gc.matrix("X", 4, 3), gc.matrix("Y", 5, 3)
    with pytest.raises(ValueError, match="different sizes"):
        gc.vmap(lambda a, b: a + b)(X, Y)
    with pytest.raises(ValueError, match="out of range"):
        gc.vmap(lambda a: a, in_axes=2)(X)
    with pytest.raises(ValueError, match="no argument is mapped"):
        gc.vmap(lambda a: a, in_axes=None)(X)
    with pytest.raises(ValueError, match="2 entries for 1 arguments"):
        gc.vmap(lambda a: a, in_axes=(0, 0))(X)
    with pytest.raises(ValueError, match="depends on a mapped argument"):
        gc.vmap(lambda a: a, out_axes=None)(X)
    with pytest.raises(TypeError, match="an int or None"):
        gc.vmap(lambda a: a, in_axes=1.5)(X)
    with pytest.raises(TypeError, match="function of nodes"):
        gc.vmap(3)


def per_example_loss(row, w):
    return gc.softplus(-(row @ w)) + 0.1 * gc.sum(gc.tanh(row * w))


def test_per_example_gradients_and_hessian_vector_products_match_a_loop():
    n, d = 6, 4
    X, w, v = gc.matrix("X", n, d), gc.vector("w", d), gc.vector("v", d)
    grads = gc.vmap(lambda row: gc.grad(per_example_loss(row, w), w))(X)
    hvps = gc.vmap(lambda row: gc.hvp(per_example_loss(row, w), w, v))(X)
    row_grads = gc.vmap(lambda row: gc.grad(per_example_loss(row, w), row))(X)
    rng = np.random.default_rng(3)
    X0, w0, v0 = rng.standard_normal((n, d)), rng.standard_normal(d), rng.standard_normal(d)
    got = evaluate([X, w, v], [grads, hvps, row_grads], X0, w0, v0)
    r, wn = gc.vector("r", d), gc.vector("wn", d)
    single = gc.Graph(
        [r, wn, v],
        [
            gc.grad(per_example_loss(r, wn), wn),
            gc.hvp(per_example_loss(r, wn), wn, v),
            gc.grad(per_example_loss(r, wn), r),
        ],
    )
    loop = [outputs(single, X0[k], w0, v0) for k in range(n)]
    for i in range(3):
        np.testing.assert_allclose(got[i], np.stack([o[i] for o in loop]), rtol=1e-13)
    compiled = gc.compile(gc.Graph([X, w, v], [grads, hvps, row_grads]), cache=False)(X0, w0, v0)
    for g, w_ in zip(compiled, got):
        np.testing.assert_allclose(g, w_, rtol=1e-13, atol=1e-15)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs(grad=True, specials=False))
def test_vmap_of_random_graphs_and_their_gradients_matches_a_loop(case):
    graph, args = case
    s, a, b = graph.inputs
    outs = [o for o in graph.outputs]
    clone = gc.tensor("a_batch", (B,) + a.shape)
    mapped = gc.vmap(lambda entry: _substitute(outs, a, entry), in_axes=0)(clone)
    batched_graph = gc.Graph([s, clone, b], list(mapped))
    rng = np.random.default_rng(7)
    a_values = np.stack([args[1]] + [rng.uniform(-2, 2, a.shape) for _ in range(B - 1)])
    got = outputs(batched_graph, args[0], a_values, args[2])
    for k in range(B):
        want = outputs(graph, args[0], a_values[k], args[2])
        for g, w in zip(got, want):
            np.testing.assert_allclose(g[k], w, rtol=1e-13, atol=1e-300, equal_nan=True)


def _substitute(outs, old, new):
    """The nodes ``outs`` rebuilt with ``new`` in place of ``old`` (a graph copy)."""
    from graphc.graph import topological_order
    from graphc.ops.base import rebuild

    env = {id(old): new}
    for node in topological_order(outs):
        if id(node) in env or not node.args:
            continue
        args = tuple(env.get(id(x), x) for x in node.args)
        env[id(node)] = rebuild(node, args)
    return [env.get(id(o), o) for o in outs]


# -- Jacobians --------------------------------------------------------------------------------


def rosenbrock(x):
    return gc.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


@pytest.mark.parametrize("mode", ["fwd", "rev"])
def test_jacobian_graphs_do_not_grow_with_n(mode):
    sizes = []
    for n in (5, 40):
        x = gc.vector("x", n)
        y = gc.sin(x[1:] * x[:-1]) + gc.sum(x * x)
        sizes.append(
            (
                len(gc.optimize(gc.Graph([x], [gc.jacobian(y, x, mode=mode)])).nodes),
                len(gc.optimize(gc.Graph([x], [gc.hessian(rosenbrock(x), x)])).nodes),
            )
        )
    assert sizes[0] == sizes[1]


def test_batched_jvp_and_vjp_equal_one_sweep_per_seed():
    from graphc.autodiff import batched_jvp, batched_vjp

    x = gc.matrix("x", 2, 3)
    y = gc.tanh(x @ gc.constant(np.arange(6.0).reshape(3, 2))).reshape(-1) * gc.sum(x)
    rng = np.random.default_rng(4)
    tangents, cotangents = rng.standard_normal((5, 2, 3)), rng.standard_normal((3, 4))
    x0 = rng.standard_normal((2, 3))
    forward = batched_jvp("test", y, x, gc.constant(tangents))
    last = batched_jvp("test", y, x, gc.constant(np.moveaxis(tangents, 0, -1)), axis=-1)
    reverse = batched_vjp("test", y, x, gc.constant(cotangents))
    got = evaluate([x], [forward, last, reverse], x0)
    ones = [gc.jvp(y, x, t) for t in tangents]
    rows = [gc.vjp(y, x, c) for c in cotangents]
    want = evaluate([x], [gc.stack(ones), gc.stack(rows)], x0)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-14)
    np.testing.assert_allclose(got[1], np.moveaxis(want[0], 0, -1), rtol=1e-14)
    np.testing.assert_allclose(got[2], want[1], rtol=1e-14)
