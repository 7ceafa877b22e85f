"""The optimizer passes on small graphs, and the pipeline that runs them.

- Golden before/after text for ``simplify`` (exact and unsafe rules), ``cse``,
  ``fold_constants`` and ``stabilize``.
- IEEE caveats: every exact simplification is bitwise exact on all pairs of special values
  (nan, +-inf, +-0.0, subnormals, huge numbers); every unsafe one changes some result, which is
  why it only fires with ``unsafe_math=True``. CSE merges ``a+b`` with ``b+a`` and equal
  constants but never ``0.0`` with ``-0.0``. Constant folding respects its size guard.
  ``stabilize`` makes results more accurate and keeps derivatives.
- The pipeline: explicit, reaches a fixpoint (``new is old``), never mutates its input, keeps
  ``verify()`` true after every pass, reports per-pass statistics and calls ``on_pass``.
- No growth: the logistic map's value and gradient optimize to at most 2.5x the nodes of the
  function alone (n = 4..50), and a 100,000-node graph optimizes (node counts asserted).

Random graphs through every pass are in ``test_random_graphs.py``.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from helpers import outputs

import graphc as gc
import passes
from graphc.graph import topological_order
from passes import dce, make_pass

# -- helpers ----------------------------------------------------------------------------------


def apply(name: str, graph: gc.Graph, unsafe_math: bool = False) -> gc.Graph:
    """One pass, then ``dce`` so the golden text shows no orphans."""
    return dce(make_pass(name, unsafe_math)(graph))


def golden(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


SPECIALS = np.array(
    [np.nan, np.inf, -np.inf, -0.0, 0.0, 1.5, -2.5, 5e-324, -1e-310, 1.7e308, 3.0, -1.0]
)
# Every ordered pair of special values: x[i], y[i] run over the grid.
X_ALL, Y_ALL = (a.reshape(-1) for a in np.meshgrid(SPECIALS, SPECIALS))


def assert_ieee_identical(got: np.ndarray, want: np.ndarray) -> None:
    """Same nan positions, and the very same bits everywhere else (so -0.0 != 0.0)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    nan = np.isnan(want)
    np.testing.assert_array_equal(np.isnan(got), nan)
    differ = got[~nan].view(np.uint64) != want[~nan].view(np.uint64)
    assert not differ.any(), (got[~nan][differ], want[~nan][differ])


# -- simplify: golden text --------------------------------------------------------------------


def test_simplify_golden_exact_rules():
    x, y = gc.vector("x", 3), gc.vector("y", 3)
    graph = gc.Graph(
        [x, y],
        [
            x * 1.0,
            x + -0.0,
            x - 0.0,
            -(-x),  # noqa: B002
            x**2,
            x / 2.0,
            x / 3.0,  # 1/3 is inexact: stays a division
            1.0 * x,
            x + (-y),
            (-x) * (-y),
            gc.abs(gc.abs(x)),
            gc.abs(-x),
            x**1.0,
            x**0.0,
            x * -1.0,
            x**-1.0,
        ],
    )
    assert str(apply("simplify", graph)) == golden("""
        graph(%x: f64[3], %y: f64[3]):
          %0: f64[3] = mul %x %x
          %1: f64[3] = mul %x 0.5
          %2: f64[3] = div %x 3.0
          %3: f64[3] = sub %x %y
          %4: f64[3] = mul %x %y
          %5: f64[3] = abs %x
          %6: f64[3] = abs %x
          %7: f64[3] = broadcast_to[shape=(3,)] 1.0
          %8: f64[3] = neg %x
          %9: f64[3] = div 1.0 %x
          return %x, %x, %x, %x, %0, %1, %2, %x, %3, %4, %5, %6, %x, %7, %8, %9
    """)


def test_simplify_golden_shape_rules():
    x, c, m = gc.vector("x", 6), gc.vector("c", 6, "bool"), gc.matrix("m", 2, 3)
    graph = gc.Graph(
        [x, c, m],
        [
            x.reshape(2, 3).reshape(3, 2),
            m.T.T,
            x[1:][::2],
            x[::-1][1:4][::-1],
            gc.broadcast_to(gc.broadcast_to(x, (2, 6)), (3, 2, 6)),
            gc.where(c, x, x),
            gc.where(True, x, m.reshape(-1)),
            x.astype("float32").astype("float32"),
        ],
    )
    assert str(apply("simplify", graph)) == golden("""
        graph(%x: f64[6], %c: bool[6], %m: f64[2,3]):
          %0: f64[3,2] = reshape[shape=(3, 2)] %x
          %1: f64[3] = slice[spec=((1, 2, 3),)] %x
          %2: f64[3] = slice[spec=((2, 1, 3),)] %x
          %3: f64[3,2,6] = broadcast_to[shape=(3, 2, 6)] %x
          %4: f32[6] = cast[dtype='float32'] %x
          return %0, %m, %1, %2, %3, %x, %x, %4
    """)


UNSAFE_GRAPH_OUTPUTS = [
    lambda x, y: x + 0.0,
    lambda x, y: x * 0.0,
    lambda x, y: x - x,
    lambda x, y: x / x,
    lambda x, y: -(x - y),
    lambda x, y: 0.0 - x,
    lambda x, y: x**0.5,
    lambda x, y: (x * 2.0) * 3.0,
]


def test_simplify_golden_unsafe_rules_fire_only_when_asked():
    x, y = gc.vector("x", 3), gc.vector("y", 3)
    graph = gc.Graph([x, y], [build(x, y) for build in UNSAFE_GRAPH_OUTPUTS])
    before = golden("""
        graph(%x: f64[3], %y: f64[3]):
          %0: f64[3] = add %x 0.0
          %1: f64[3] = mul %x 0.0
          %2: f64[3] = sub %x %x
          %3: f64[3] = div %x %x
          %4: f64[3] = sub %x %y
          %5: f64[3] = neg %4
          %6: f64[3] = sub 0.0 %x
          %7: f64[3] = pow %x 0.5
          %8: f64[3] = mul %x 2.0
          %9: f64[3] = mul %8 3.0
          return %0, %1, %2, %3, %5, %6, %7, %9
    """)
    assert str(graph) == before
    assert apply("simplify", graph) is graph  # nothing here is exact
    assert str(gc.optimize(graph)) == before
    assert str(apply("simplify", graph, unsafe_math=True)) == golden("""
        graph(%x: f64[3], %y: f64[3]):
          %0: f64[3] = broadcast_to[shape=(3,)] 0.0
          %1: f64[3] = broadcast_to[shape=(3,)] 0.0
          %2: f64[3] = broadcast_to[shape=(3,)] 1.0
          %3: f64[3] = sub %y %x
          %4: f64[3] = neg %x
          %5: f64[3] = sqrt %x
          %6: f64[3] = mul %x 6.0
          return %x, %0, %1, %2, %3, %4, %5, %6
    """)


# -- simplify: IEEE exactness -----------------------------------------------------------------

EXACT_RULES = {
    "x*1": lambda x, y: x * 1.0,
    "1*x": lambda x, y: 1.0 * x,
    "x/1": lambda x, y: x / 1.0,
    "x*-1": lambda x, y: x * -1.0,
    "x/-1": lambda x, y: x / -1.0,
    "x+-0": lambda x, y: x + -0.0,
    "-0+x": lambda x, y: -0.0 + x,
    "x-0": lambda x, y: x - 0.0,
    "x+(-y)": lambda x, y: x + (-y),
    "(-x)+y": lambda x, y: (-x) + y,
    "x-(-y)": lambda x, y: x - (-y),
    "(-x)*(-y)": lambda x, y: (-x) * (-y),
    "(-x)/(-y)": lambda x, y: (-x) / (-y),
    "x/2": lambda x, y: x / 2.0,
    "x/0.25": lambda x, y: x / 0.25,
    "x/-8": lambda x, y: x / -8.0,
    "x/2^-1022": lambda x, y: x / 2.0**-1022,
    "--x": lambda x, y: -(-x),  # noqa: B002
    "|-x|": lambda x, y: gc.abs(-x),
    "||x||": lambda x, y: gc.abs(gc.abs(x)),
    "x**1": lambda x, y: x**1.0,
    "x**0": lambda x, y: x**0.0,
    "x**2": lambda x, y: x**2,
    "x**-1": lambda x, y: x**-1.0,
    "where(c,x,x)": lambda x, y: gc.where(x > y, x, x),
    "where(True,x,y)": lambda x, y: gc.where(True, x, y),
    "reshape-reshape": lambda x, y: x.reshape(12, 12).T.reshape(72, 2).reshape(144),
}


@pytest.mark.parametrize("rule", list(EXACT_RULES))
def test_exact_rules_are_bitwise_exact_on_special_values(rule):
    x, y = gc.vector("x", X_ALL.size), gc.vector("y", Y_ALL.size)
    graph = gc.Graph([x, y], [EXACT_RULES[rule](x, y)])
    simplified = passes.run(graph, ("simplify", "dce"), verify=True).graph
    assert str(simplified) != str(graph), "the rule did not fire"
    (want,) = outputs(graph, X_ALL, Y_ALL)
    (got,) = outputs(simplified, X_ALL, Y_ALL)
    assert_ieee_identical(got, want)


def test_division_by_a_power_of_two_with_a_subnormal_reciprocal_is_kept():
    x = gc.vector("x", 3)
    graph = gc.Graph([x], [x / 2.0**1023])  # 1 / 2^1023 is subnormal: x * 2^-1023 may differ
    assert apply("simplify", graph) is graph


@pytest.mark.parametrize(
    "build, x, y",
    [
        (UNSAFE_GRAPH_OUTPUTS[0], -0.0, 0.0),  # -0 + 0 is +0
        (UNSAFE_GRAPH_OUTPUTS[1], np.inf, 0.0),  # inf * 0 is nan
        (UNSAFE_GRAPH_OUTPUTS[1], -1.0, 0.0),  # -1 * 0 is -0
        (UNSAFE_GRAPH_OUTPUTS[2], np.inf, 0.0),  # inf - inf is nan
        (UNSAFE_GRAPH_OUTPUTS[3], 0.0, 0.0),  # 0 / 0 is nan
        (UNSAFE_GRAPH_OUTPUTS[4], 1.0, 1.0),  # -(1 - 1) is -0, 1 - 1 is +0
        (UNSAFE_GRAPH_OUTPUTS[5], 0.0, 0.0),  # 0 - 0 is +0, -0 is -0
        (UNSAFE_GRAPH_OUTPUTS[6], -np.inf, 0.0),  # pow(-inf, 0.5) is inf, sqrt(-inf) nan
        (lambda x, y: (x * 1e200) * 1e-200, 1e200, 0.0),  # overflows only without reassociation
    ],
)
def test_unsafe_rules_do_change_results(build, x, y):
    xs, ys = gc.scalar("x"), gc.scalar("y")
    graph = gc.Graph([xs, ys], [build(xs, ys)])
    assert passes.run(graph, ("simplify", "dce")).graph is graph
    unsafe = passes.run(graph, ("simplify", "dce"), unsafe_math=True, verify=True).graph
    (want,), (got,) = outputs(graph, x, y), outputs(unsafe, x, y)
    assert got.tobytes() != want.tobytes()


def test_unsafe_matmul_scaling_changes_results_only_when_asked():
    s, v, m = gc.scalar("s"), gc.vector("v", 2), gc.matrix("m", 2, 2)
    graph = gc.Graph([s, v, m], [(v * s) @ m])
    assert apply("simplify", graph) is graph
    unsafe = apply("simplify", graph, unsafe_math=True)
    assert [n.op for n in unsafe.nodes if n.args] == ["matmul", "mul"]
    args = (np.inf, np.array([0.0, 1.0]), np.ones((2, 2)))
    assert np.isnan(outputs(graph, *args)[0]).all()
    np.testing.assert_array_equal(outputs(unsafe, *args)[0], [np.inf, np.inf])


@pytest.mark.parametrize("fn", [gc.maximum, gc.minimum])
def test_maximum_minimum_keep_their_operand_order(fn):
    # numpy returns the second operand when the two compare equal, so maximum(0.0, -0.0) is
    # -0.0 but maximum(-0.0, 0.0) is 0.0: swapping operands is not exact.
    x = gc.vector("x", X_ALL.size)
    graph = gc.Graph([x], [fn(0.0, x), fn(x, 0.0), fn(-0.0, x)])
    optimized = gc.optimize(graph, verify=True)
    for got, want in zip(outputs(optimized, X_ALL), outputs(graph, X_ALL)):
        assert_ieee_identical(got, want)


def test_canonical_order_puts_constants_right():
    x = gc.vector("x", 3)
    graph = gc.Graph([x], [2.0 + x, 3.0 * x, gc.constant(1.0) == x])
    assert str(apply("simplify", graph)) == golden("""
        graph(%x: f64[3]):
          %0: f64[3] = add %x 2.0
          %1: f64[3] = mul %x 3.0
          %2: bool[3] = eq %x 1.0
          return %0, %1, %2
    """)


# -- dce --------------------------------------------------------------------------------------


def test_simplify_leaves_orphans_and_dce_erases_them():
    x, unused = gc.vector("x", 3), gc.scalar("unused")
    graph = gc.Graph([x, unused], [gc.exp(-(-x)) * np.ones(3)])  # noqa: B002
    simplified = make_pass("simplify")(graph)
    assert str(simplified) == golden("""
        graph(%x: f64[3], %unused: f64[]):
          %0: f64[3] = neg %x
          %1: f64[3] = exp %x
          %2: f64[3] = const [1., 1., 1.]
          return %1
    """)
    erased = dce(simplified)
    assert str(erased) == golden("""
        graph(%x: f64[3], %unused: f64[]):
          %0: f64[3] = exp %x
          return %0
    """)
    assert erased.verify().inputs == graph.inputs  # unused inputs stay
    assert dce(erased) is erased


# -- cse --------------------------------------------------------------------------------------


def test_cse_golden():
    x, y = gc.vector("x", 3), gc.vector("y", 3)
    graph = gc.Graph(
        [x, y],
        [
            x + y,
            y + x,
            x * 2.0,
            x * 2.0,
            x + 0.0,
            x + -0.0,
            gc.exp(x + y) * gc.exp(y + x),
            x * np.array([1.0, 2.0, 3.0]),
            x * np.array([1.0, 2.0, 3.0]),
        ],
    )
    assert str(apply("cse", graph)) == golden("""
        graph(%x: f64[3], %y: f64[3]):
          %0: f64[3] = add %x %y
          %1: f64[3] = mul %x 2.0
          %2: f64[3] = add %x 0.0
          %3: f64[3] = add %x -0.0
          %4: f64[3] = exp %0
          %5: f64[3] = mul %4 %4
          %6: f64[3] = const [1., 2., 3.]
          %7: f64[3] = mul %x %6
          return %0, %0, %1, %1, %2, %3, %5, %7, %7
    """)


def _merged(*nodes: gc.Node) -> bool:
    """True if CSE maps all of ``nodes`` (the outputs of one graph) to one node."""
    inputs = {n.name: n for n in topological_order(nodes) if n.op == "input"}
    result = passes.cse(gc.Graph([inputs[k] for k in sorted(inputs)], list(nodes)))
    return len({id(o) for o in result.outputs}) == 1


def test_cse_merges_commutative_operands_and_equal_constants():
    a, b = gc.vector("a", 3), gc.vector("b", 3)
    assert _merged(a + b, b + a)
    assert _merged(a * b, b * a)
    assert _merged(a == b, b == a)
    assert _merged(a + 2.0, a + 2.0)
    assert _merged(a * np.array([1.0, 2.0, 3.0]), a * np.array([1.0, 2.0, 3.0]))
    assert _merged(a + np.nan, a + np.nan)  # same bits: same constant
    assert not _merged(a - b, b - a)
    assert not _merged(a / b, b / a)
    assert not _merged(a + 0.0, a + -0.0)
    assert not _merged(gc.constant(0.0) + a, gc.constant(-0.0) + a)
    assert not _merged(a * np.float32(2.0), a * 2.0)  # float32 * f64 node: different dtypes
    assert not _merged(a.sum(axis=0), a.sum(axis=0, keepdims=True).reshape(()))
    assert not _merged(gc.max(a), gc.min(a))


def test_cse_keeps_signed_zeros_apart():
    x = gc.vector("x", 2)
    graph = gc.Graph([x], [x + 0.0, x + -0.0, x * 0.0, x * -0.0])
    merged = gc.optimize(graph, pipeline=("cse", "dce"))
    values = np.array([-0.0, 0.0])
    for got, want in zip(outputs(merged, values), outputs(graph, values)):
        assert_ieee_identical(got, want)


def test_cse_returns_the_same_graph_when_nothing_merges():
    x = gc.vector("x", 3)
    graph = gc.Graph([x], [gc.exp(x) + x])
    assert passes.cse(graph) is graph


# -- fold_constants ---------------------------------------------------------------------------


def test_fold_constants_golden_and_size_guard():
    x = gc.vector("x", 3)
    c = gc.constant(np.arange(3.0))
    graph = gc.Graph(
        [x],
        [
            x + gc.exp(c) * 2.0,
            gc.zeros((1000, 1000)) + 1.0,  # folds to a broadcast scalar, not an 8 MB array
            gc.sum(gc.ones((50, 50))),
            x + gc.broadcast_to(gc.constant(2.0), (3,)) * 3.0,
            # 300 elements: computed on the 3-element payload, then broadcast.
            gc.broadcast_to(c, (100, 3)) * 2.0,
            # An outer product: 6 elements from payloads of 3 and 2 elements: kept.
            gc.reshape(c, (3, 1)) * gc.constant([[10.0, 20.0]]),
        ],
    )
    folded = apply("fold_constants", graph)
    assert str(folded) == golden("""
        graph(%x: f64[3]):
          %0: f64[3] = const [ 2.      ,  5.436564, 14.778112]
          %1: f64[3] = add %x %0
          %2: f64[1000,1000] = broadcast_to[shape=(1000, 1000)] 1.0
          %3: f64[3] = broadcast_to[shape=(3,)] 6.0
          %4: f64[3] = add %x %3
          %5: f64[3] = const [0., 2., 4.]
          %6: f64[100,3] = broadcast_to[shape=(100, 3)] %5
          %7: f64[3,1] = const [0., 1., 2.]
          %8: f64[1,2] = const [10., 20.]
          %9: f64[3,2] = mul %7 %8
          return %1, %2, 2500.0, %4, %6, %9
    """)
    biggest_payload = max(n.size for n in graph.nodes if n.op == "const")
    assert all(n.size <= biggest_payload for n in folded.nodes if n.op == "const")
    value = np.array([0.5, -1.0, 2.0])
    for got, want in zip(outputs(folded, value), outputs(graph, value)):
        assert_ieee_identical(got, want)


def test_fold_constants_evaluates_like_the_evaluator():
    c = np.array([np.nan, np.inf, -0.0, 0.0, 1e-310, -3.5, 700.0, 2.0])
    x = gc.vector("x", 8)
    k = gc.constant(c)
    graph = gc.Graph(
        [x],
        [
            x + gc.exp(k) / gc.sqrt(k) - gc.log1p(k),
            x * gc.sum(k * k) + gc.maximum(k, -k) + gc.sign(k),
            gc.where(k > 0.0, k, x) + gc.softplus(k) + gc.sigmoid(-k),
        ],
    )
    folded = passes.run(graph, ("fold_constants", "dce"), verify=True).graph
    assert all(n.op in ("input", "const", "add", "sub", "mul", "where") for n in folded.nodes)
    for got, want in zip(outputs(folded, c[::-1].copy()), outputs(graph, c[::-1].copy())):
        assert_ieee_identical(got, want)


# -- stabilize --------------------------------------------------------------------------------


def test_stabilize_golden():
    x, m = gc.vector("x", 3), gc.matrix("m", 2, 3)
    graph = gc.Graph(
        [x, m],
        [
            gc.log(x + 1.0),
            gc.exp(x) - 1.0,
            gc.log(gc.exp(x)),
            gc.log1p(gc.exp(x)),
            gc.log(gc.sigmoid(x)),
            gc.log(gc.sum(gc.exp(m), axis=1)),
            gc.log(x + 2.0),  # not 1 + x: kept
        ],
    )
    assert str(apply("stabilize", graph)) == golden("""
        graph(%x: f64[3], %m: f64[2,3]):
          %0: f64[3] = log1p %x
          %1: f64[3] = expm1 %x
          %2: f64[3] = softplus %x
          %3: f64[3] = neg %x
          %4: f64[3] = softplus %3
          %5: f64[3] = neg %4
          %6: f64[2] = logsumexp[axes=(1,) keepdims=False] %m
          %7: f64[3] = add %x 2.0
          %8: f64[3] = log %7
          return %0, %1, %x, %2, %5, %6, %8
    """)


@pytest.mark.parametrize(
    "build, at, exact",
    [
        (lambda x: gc.log(1.0 + x), 1e-20, 1e-20),
        (lambda x: gc.exp(x) - 1.0, 1e-20, 1e-20),
        (lambda x: gc.log(gc.exp(x)), 800.0, 800.0),
        (lambda x: gc.log1p(gc.exp(x)), 800.0, 800.0),
        (lambda x: gc.log(gc.sigmoid(x)), -800.0, -800.0),
        (lambda x: gc.log(gc.sum(gc.exp(gc.stack([x, x])))), 1000.0, 1000.0 + np.log(2.0)),
    ],
)
def test_stabilize_improves_accuracy(build, at, exact):
    x = gc.scalar("x")
    graph = gc.Graph([x], build(x))
    stable = gc.optimize(graph, verify=True)  # simplify canonicalises 1 + x first
    before, after = gc.evaluate(graph, at), gc.evaluate(stable, at)
    assert after == pytest.approx(exact, rel=1e-15, abs=0)
    assert before != pytest.approx(exact, rel=1e-3, abs=0)  # the naive form really is wrong there


@pytest.mark.parametrize(
    "build",
    [
        lambda x: gc.log(1.0 + x),
        lambda x: gc.exp(x) - 1.0,
        lambda x: gc.log(gc.exp(x)),
        lambda x: gc.log1p(gc.exp(x)),
        lambda x: gc.log(gc.sigmoid(x)),
        lambda x: gc.log(gc.sum(gc.exp(x * np.array([1.0, -2.0])))),
    ],
)
def test_stabilize_keeps_values_and_derivatives_where_both_are_accurate(build):
    x = gc.scalar("x")
    f = build(x)
    graph = gc.Graph([x], [f, gc.grad(f, x), gc.grad(gc.grad(f, x), x)])
    stable = passes.run(graph, ("simplify", "stabilize", "dce"), verify=True).graph
    assert stable.op_counts() != graph.op_counts()
    for point in (-0.7, 0.3, 1.9):
        np.testing.assert_allclose(
            gc.evaluate(stable, point), gc.evaluate(graph, point), rtol=1e-13
        )


# -- the pipeline -----------------------------------------------------------------------------


def _lecture() -> gc.Graph:
    x1, x2 = gc.scalar("x1"), gc.scalar("x2")
    f = (x1 + x2) * gc.log(x1 + x2)
    return gc.Graph([x1, x2], [f, *gc.grad(f, [x1, x2])])


def test_pipeline_is_explicit():
    assert passes.DEFAULT_PIPELINE == (
        "cse",
        "simplify",
        "fold_constants",
        "stabilize",
        "hoist",
        "merge_scans",
        "prune_scans",
        "share_products",
        "dce",
    )
    assert set(passes.DEFAULT_PIPELINE) <= set(passes.PASS_NAMES)
    with pytest.raises(ValueError, match="unknown pass 'frobnicate'"):
        passes.run(_lecture(), ("simplify", "frobnicate"))


def test_pipeline_reaches_a_fixpoint_and_reports_every_pass():
    graph = _lecture()
    text = str(graph)
    seen = []
    result = passes.run(graph, verify=True, on_pass=lambda name, g: seen.append((name, g)))
    assert str(graph) == text  # the input is never mutated
    assert str(result.graph) == golden("""
        graph(%x1: f64[], %x2: f64[]):
          %0: f64[] = add %x1 %x2
          %1: f64[] = log %0
          %2: f64[] = mul %0 %1
          %3: f64[] = div %0 %0
          %4: f64[] = add %3 %1
          return %2, %4, %4
    """)
    pipeline = passes.DEFAULT_PIPELINE
    assert len(result.stats) == len(seen) == result.rounds * len(pipeline)
    assert [name for name, _ in seen] == list(pipeline) * result.rounds
    assert seen[-1][1] is result.graph
    # The last round changed nothing: that is how the fixpoint is detected.
    assert not any(s.changed for s in result.stats[-len(pipeline) :])
    assert any(s.changed for s in result.stats)
    before = len(graph.nodes)
    for stat, (_, after_graph) in zip(result.stats, seen):
        assert stat.nodes_before == before and stat.nodes_after == len(after_graph.nodes)
        assert stat.seconds >= 0 and stat.name in pipeline
        before = stat.nodes_after
    for name in pipeline:
        assert name in result.summary()
    # Running again on the fixpoint: one round, every pass returns the very same object.
    again = passes.run(result.graph)
    assert again.graph is result.graph and again.rounds == 1
    for name in passes.PASS_NAMES:
        assert make_pass(name)(result.graph) is result.graph


def test_optimize_takes_the_pipeline_options():
    graph = _lecture()
    calls = []
    opt = gc.optimize(graph, on_pass=lambda name, g: calls.append(name), verify=True)
    assert calls[: len(passes.DEFAULT_PIPELINE)] == list(passes.DEFAULT_PIPELINE)
    assert str(opt) == str(passes.run(graph).graph)
    only_cse = gc.optimize(graph, pipeline=("cse", "dce"))
    assert len(only_cse.nodes) < len(graph.nodes)
    assert "mul 1.0" in str(only_cse)  # simplify did not run
    assert gc.evaluate(only_cse, 2.0, 5.0) == gc.evaluate(graph, 2.0, 5.0)


def test_verify_runs_after_every_pass():
    x = gc.vector("x", 3)
    f = gc.sum(gc.log(1.0 + gc.exp(x * 1.0)) - (x - x[::-1]) ** 2)
    graph = gc.Graph([x], [f, gc.grad(f, x), gc.hessian(f, x)])
    checked = []

    def on_pass(name, g):
        g.verify()
        checked.append(name)

    gc.optimize(graph, verify=True, on_pass=on_pass)
    assert len(checked) >= len(passes.DEFAULT_PIPELINE)


# -- no growth --------------------------------------------------------------------------------


def logistic(n: int):
    x = gc.scalar("x")
    l = x
    for _ in range(n - 1):
        l = 4 * l * (1 - l)
    return x, l


def test_logistic_map_value_and_gradient_stay_within_2_5x_for_n_4_to_50():
    ratios = {}
    for n in range(4, 51):
        x, l = logistic(n)
        function_nodes = len(gc.optimize(gc.Graph([x], [l])).nodes)
        both = gc.optimize(gc.Graph([x], [l, gc.grad(l, x)]))
        ratios[n] = len(both.nodes) / function_nodes
        assert len(both.nodes) <= 2.5 * function_nodes, (n, len(both.nodes), function_nodes)
        if n in (4, 17, 50):
            x0 = 0.3
            fx = gc.evaluate(gc.Graph([x], l), x0)
            assert gc.evaluate(both, x0)[0] == fx
    # Linear, not exponential: the ratio settles (7/3 with the a + (-b) -> a - b merge).
    assert ratios[50] - ratios[25] < 0.1


def test_simplification_never_distributes():
    # Distributing products over sums is what blows the logistic map up in PyTensor (39 -> 403
    # nodes from n = 4 to 8): optimizing must never make the function larger.
    for n in (4, 8, 12):
        x, l = logistic(n)
        graph = gc.Graph([x], [l])
        assert len(gc.optimize(graph, unsafe_math=True).nodes) <= len(graph.nodes)


def test_optimizing_a_long_chain():
    # The logistic map at n = 3,001 with its gradient: about 30,000 nodes; the optimized graph
    # has 3 nodes per step for the value and 4 for the gradient, in at most 3 rounds. (Walks
    # are iterative: test_ir.test_deep_chains_need_no_recursion proves it.)
    n = 3_001
    x, l = logistic(n)
    graph = gc.Graph([x], [l, gc.grad(l, x)])
    assert len(graph.nodes) >= 30_000
    result = passes.run(graph)
    assert result.rounds <= 3
    assert len(result.graph.nodes) <= 7 * (n - 1) + 10
    want = 0.3
    for _ in range(n - 1):
        want = 4 * want * (1 - want)  # the same operations in the same order: the same bits
    assert gc.evaluate(result.graph, 0.3)[0] == want
