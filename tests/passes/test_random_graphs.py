"""Random graphs (hypothesis) through every pass and through the whole pipeline.

The graphs mix elementwise ops, broadcasting, reductions, shape ops, matmul, the constants the
simplifier has rules for (0.0, -0.0, 1.0, -1.0, 2.0, nan, inf ...) and often their own gradient;
their inputs sometimes hold nan, inf and -0.0 (see ``helpers.random_graphs``). Checked:

- each exact pass (simplify, fold_constants, cse, dce) keeps every output's value, shape and
  dtype, leaves a valid graph, grows it by at most one node per replaced node, and returns the
  very same graph when it changes nothing;
- the default pipeline keeps the values of graphs without log and exp (on which ``stabilize``,
  the one pass that changes values on purpose, has nothing to do) and reaches a fixpoint;
- with every op, ``stabilize`` and the pipeline keep graphs valid and values close wherever the
  naive graph is finite; with ``unsafe_math`` the pipeline keeps graphs valid and typed;
- graphs over constants whose shapes broadcast against each other (outer products, broadcasts
  of small payloads, constant weights meeting inputs, and their gradients) keep their values
  through ``gc.optimize`` and ``gc.compile`` (constant folding once collapsed them).
"""

from __future__ import annotations

import numpy as np
from helpers import STABLE_OPS, assert_same_values, outputs, random_graphs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc as gc
import passes
from graphc.evaluate import evaluate_all
from passes import dce, make_pass

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EXACT_PASSES = ("simplify", "fold_constants", "cse", "dce")


def _types(graph: gc.Graph) -> list[tuple]:
    return [(o.shape, o.dtype) for o in graph.outputs]


def assert_no_growth(new: gc.Graph, old: gc.Graph) -> None:
    """A rewrite replaces a node by at most one more node than it removes (``x ** 0`` becomes
    a broadcast of a new constant 1.0 while the 0.0 may stay, used elsewhere), so a graph grows
    by at most one node per replaced node, however often the passes run."""
    kept = set(new.nodes)
    replaced = sum(1 for n in old.nodes if n not in kept)
    assert len(dce(new).nodes) <= len(old.nodes) + replaced


@SETTINGS
@given(random_graphs(), st.sampled_from(EXACT_PASSES))
def test_each_exact_pass_keeps_values(case, name):
    graph, args = case
    new = make_pass(name)(graph)
    new.verify()
    assert new.inputs == graph.inputs and _types(new) == _types(graph)
    assert_no_growth(new, graph)
    assert_same_values(outputs(new, *args), outputs(graph, *args))
    if new is not graph:
        assert str(new) != str(graph) or name == "cse"
    if name == "dce":
        assert dce(new) is new


@SETTINGS
@given(random_graphs(ops=STABLE_OPS))
def test_pipeline_keeps_values_and_reaches_a_fixpoint(case):
    graph, args = case
    result = passes.run(graph, verify=True)
    assert _types(result.graph) == _types(graph)
    assert_no_growth(result.graph, graph)
    # stabilize's rewrites round differently: where terms cancel to nearly zero, the result may
    # differ by a rounding of the terms (seen: +2.8e-17 against -2.8e-17), not of the result.
    atol = 1e-12 * _largest_value(graph, args)
    assert_same_values(outputs(result.graph, *args), outputs(graph, *args), atol=atol)
    assert passes.run(result.graph).graph is result.graph


def _largest_value(graph, args) -> float:
    """The largest finite magnitude among the values of the graph's nodes (at least 1)."""
    values = evaluate_all(graph, list(args), keep_all=True).values()
    finite = [np.abs(v[np.isfinite(v)]) for v in map(np.asarray, values) if v.dtype.kind == "f"]
    return max([1.0, *(float(v.max()) for v in finite if v.size)])


def _close_where_finite(got: list, want: list) -> None:
    """Where the naive graph is finite the stabilized one agrees with it; elsewhere it may be
    finite (log(exp(800)) is inf, its rewrite 800), or non-finite in the same way."""
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype
        if w.dtype.kind != "f":
            continue
        finite = np.isfinite(w)
        np.testing.assert_allclose(g[finite], w[finite], rtol=1e-6, atol=1e-9)


@settings(SETTINGS, derandomize=True)
@given(random_graphs(), st.booleans())
def test_stabilize_and_pipeline_keep_graphs_valid_and_close(case, whole_pipeline):
    graph, args = case
    if whole_pipeline:
        new = passes.run(graph, verify=True).graph
    else:
        new = passes.stabilize(graph).verify()
    assert _types(new) == _types(graph)
    _close_where_finite(outputs(new, *args), outputs(graph, *args))


@settings(SETTINGS, max_examples=30)
@given(random_graphs())
def test_unsafe_pipeline_keeps_graphs_valid(case):
    graph, args = case
    new = passes.run(graph, unsafe_math=True, verify=True).graph
    assert _types(new) == _types(graph)
    assert_no_growth(new, graph)
    for got, want in zip(outputs(new, *args), outputs(graph, *args)):
        assert got.shape == want.shape and got.dtype == want.dtype


# -- folding constants that broadcast ----------------------------------------------------------

# Shapes that all broadcast to (4, 2, 3), so any two combine: payloads of 1 to 24 elements whose
# elementwise results range from no larger than the biggest payload (folded to a constant, or to
# a broadcast of a small one) to outer products (left alone by the size guard).
_CONST_SHAPES = ((), (1,), (3,), (1, 3), (2, 1), (2, 3), (1, 1, 3), (4, 1, 1), (4, 2, 1), (4, 2, 3))
_CONST_BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: gc.abs(a) ** b,
    "maximum": gc.maximum,
    "where": lambda a, b: gc.where(a > b, b, a * 3.0),
}
_CONST_UNARY = {
    "neg": lambda x: -x,
    "sin": gc.sin,
    "sqrt": lambda x: gc.sqrt(gc.abs(x)),
    "cast": lambda x: gc.astype(gc.astype(x, "float32"), "float64"),
    "sum": lambda x: gc.sum(x, axis=-1, keepdims=True) if x.ndim else x,
}


@st.composite
def broadcast_constant_graphs(draw):
    """``(graph, args)``: elementwise ops, broadcasts and reductions over constants of distinct
    elements whose shapes broadcast against each other, multiplied by inputs ``s: f64[]`` and
    ``X: f64[2, 3]`` (also through ``X @ w`` for a constant ``w``), with their gradient."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def fresh_constant() -> gc.Node:
        shape = _CONST_SHAPES[draw(st.integers(0, len(_CONST_SHAPES) - 1))]
        value = np.round(rng.uniform(-3.0, 3.0, shape), 2)  # distinct: a collapse shows
        if draw(st.integers(0, 4)) == 0:
            value = np.where(rng.random(shape) < 0.3, rng.choice(SPECIALS, shape), value)
        return gc.constant(value)

    s, x = gc.scalar("s"), gc.matrix("X", 2, 3)
    pool = [fresh_constant() for _ in range(draw(st.integers(2, 4)))]
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["binary", "unary", "broadcast", "constant", "matmul"]))
        a = pool[draw(st.integers(0, len(pool) - 1))]
        b = pool[draw(st.integers(0, len(pool) - 1))]
        try:
            if kind == "binary":
                new = _CONST_BINARY[draw(st.sampled_from(sorted(_CONST_BINARY)))](a, b)
            elif kind == "unary":
                new = _CONST_UNARY[draw(st.sampled_from(sorted(_CONST_UNARY)))](a)
            elif kind == "broadcast":
                new = gc.broadcast_to(a, draw(st.sampled_from([(3,), (2, 3), (4, 2, 3)])))
            elif kind == "constant":
                new = fresh_constant()
            else:  # X @ w, the shape of a linear layer with constant weights
                new = x @ gc.constant(np.round(rng.uniform(-2.0, 2.0, (3,) + a.shape[-1:]), 2))
        except ValueError:  # shapes that do not fit together: skip the step
            continue
        pool.append(new)
    picked = [pool[-1]] + [
        pool[i] for i in draw(st.lists(st.integers(0, len(pool) - 1), max_size=2))
    ]
    outs = [s * node for node in picked]
    total = gc.sum(outs[0]) + gc.sum(gc.sum(x * 0.5) * outs[-1])
    outs += gc.grad(total, [s, x])
    graph = gc.Graph([s, x], outs)
    return graph, [1.5, np.round(rng.uniform(-2.0, 2.0, (2, 3)), 2)]


SPECIALS = (0.0, -0.0, float("nan"), float("inf"), -float("inf"))


@settings(SETTINGS, max_examples=25)
@given(broadcast_constant_graphs())
def test_folding_broadcast_constants_keeps_values(case):
    """Regression: fold_constants used to read the first element of every constant when a
    result was larger than the constants it read, so ``s * ([[1], [2], [3]] * [[10, 20]])`` was
    all 10s (optimized and compiled); and so was ``grad(sum((X @ w) * c), X)``."""
    graph, args = case
    want = outputs(graph, *args)
    assert_same_values(outputs(gc.optimize(graph, verify=True), *args), want)
    compiled = gc.compile(graph)(*args)
    assert_same_values([compiled] if graph.single_output else compiled, want, rtol=1e-9, atol=1e-12)
