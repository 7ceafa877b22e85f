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
  naive graph is finite; with ``unsafe_math`` the pipeline keeps graphs valid and typed.
"""

from __future__ import annotations

import numpy as np
from helpers import STABLE_OPS, assert_same_values, outputs, random_graphs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc as gc
import passes
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
    assert_same_values(outputs(result.graph, *args), outputs(graph, *args))
    assert passes.run(result.graph).graph is result.graph


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
