"""Compiled code against the reference evaluator: every op, shapes with broadcasting, both float
dtypes, nan/inf/-0.0, random graphs (several parts forced), gradients vs finite differences,
argument errors, batch, threads, the disk cache (incl. a corrupted entry), pickling.

Exactness contract (docs/performance.md): arithmetic, comparisons, selection, casts, sqrt and
abs are bitwise identical to numpy; transcendental functions are within 4 ulp (they come from
glibc, numpy uses its own SIMD routines); sums and products add in order where numpy adds
pairwise, so reductions agree to a relative 1e-12 here.
"""

from __future__ import annotations

import operator
import os
import pickle
import subprocess
import sys
import threading

import numpy as np
import pytest
from helpers import random_graphs
from hypothesis import HealthCheck, given, settings

import graphc as gc
import graphc.jit.plan as plan_module
from graphc.jit import engine
from graphc.ops import OPS, special
from graphc.ops.sparse import sparse_gather

RNG = np.random.default_rng(1234)


def compiled_and_reference(graph, *args, **options):
    fn = gc.compile(graph, cache=False, **options)
    got, want = fn(*args), gc.evaluate(graph, *args)
    if graph.single_output:
        got, want = (got,), (want,)
    return [np.asarray(g) for g in got], [np.asarray(w) for w in want]


def assert_close(got, want, rtol, what=""):
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, (what, g.shape, g.dtype, w.shape, w.dtype)
        if g.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=rtol, atol=0, equal_nan=True, err_msg=str(what))
        else:
            np.testing.assert_array_equal(g, w, err_msg=str(what))


def assert_bitwise(got, want):
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        same = (g == w) & (np.signbit(g) == np.signbit(w)) if g.dtype.kind == "f" else g == w
        if g.dtype.kind == "f":
            same |= np.isnan(g) & np.isnan(w)
        assert np.all(same), f"{g!r} != {w!r}"


# -- the op table -------------------------------------------------------------------------------

UNARY = [
    "neg",
    "exp",
    "log",
    "log1p",
    "expm1",
    "sqrt",
    "sin",
    "cos",
    "tan",
    "tanh",
    "sigmoid",
    "softplus",
    "abs",
    "sign",
]
EXACT_UNARY = {"neg", "sqrt", "abs", "sign"}
BINARY = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
    "pow": operator.pow,
    "maximum": gc.maximum,
    "minimum": gc.minimum,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
    "eq": operator.eq,
    "ne": operator.ne,
}
NUMPY_BINARY = {**BINARY, "maximum": np.maximum, "minimum": np.minimum}
BROADCASTS = [
    ((), ()),
    ((5,), ()),
    ((), (5,)),
    ((3, 4), (4,)),
    ((3, 1), (1, 4)),
    ((2, 3, 4), (3, 1)),
]
# 4 ulp in float64 and float32 (measured maxima: 2 and 4), compounded over a few ops.
TRANSCENDENTAL_RTOL = {"float64": 4 * 2.0**-52 * 4, "float32": 4 * 2.0**-23 * 4}


def unary_graph(op, shape, dtype):
    x = gc.tensor("x", shape, dtype)
    node = -x if op == "neg" else getattr(gc, op)(x)
    return gc.Graph([x], [node])


def compile_all(inputs, outputs, *args):
    """One compiled graph for many cases (one LLVM compile): (compiled, reference) per output."""
    got, want = compiled_and_reference(gc.Graph(inputs, list(outputs)), *args)
    return list(zip(got, want))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("op", UNARY)
def test_unary_ops(op, dtype):
    shapes = [(), (7,), (3, 4)]
    xs = [gc.tensor(f"x{k}", shape, dtype) for k, shape in enumerate(shapes)]
    values = [RNG.uniform(0.05, 3.0, shape).astype(dtype) for shape in shapes]
    outputs = [-x if op == "neg" else getattr(gc, op)(x) for x in xs]
    for got, want in compile_all(xs, outputs, *values):
        if op in EXACT_UNARY:
            assert_bitwise([got], [want])
        else:
            assert_close([got], [want], TRANSCENDENTAL_RTOL[dtype])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("op", sorted(BINARY))
def test_binary_ops_broadcast(op, dtype):
    inputs, outputs, values = [], [], []
    for k, (sa, sb) in enumerate(BROADCASTS):
        a, b = gc.tensor(f"a{k}", sa, dtype), gc.tensor(f"b{k}", sb, dtype)
        inputs += [a, b]
        outputs.append(BINARY[op](a, b))
        values += [RNG.uniform(0.1, 2, sa).astype(dtype), RNG.uniform(0.1, 2, sb).astype(dtype)]
    for got, want in compile_all(inputs, outputs, *values):
        if op == "pow":
            assert_close([got], [want], TRANSCENDENTAL_RTOL[dtype])
        else:
            assert_bitwise([got], [want])


SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 1e-310, 1e308, -2.5])


@pytest.mark.parametrize("op", sorted(set(BINARY) - {"pow"}))
def test_special_values_propagate_like_numpy(op):
    # Every pair of special values, in arrays long enough for numpy's SIMD loops and in
    # scalars (numpy's scalar loops): graphc must match both.
    va, vb = (m.ravel() for m in np.meshgrid(SPECIALS, SPECIALS))
    a, b = gc.vector("a", va.size), gc.vector("b", vb.size)
    got, want = compiled_and_reference(gc.Graph([a, b], [BINARY[op](a, b)]), va, vb)
    assert_bitwise(got, want)
    s, t = gc.scalar("s"), gc.scalar("t")
    fn = gc.compile(gc.Graph([s, t], [BINARY[op](s, t)]), cache=False)
    for u, v in zip(va, vb):
        with np.errstate(all="ignore"):
            want = np.asarray(NUMPY_BINARY[op](np.float64(u), np.float64(v)))
        assert_bitwise([np.asarray(fn(u, v)[0])], [want])


@pytest.mark.parametrize(
    "op",
    ["neg", "abs", "sign", "sqrt", "exp", "log", "tanh", "sigmoid", "softplus", "log1p", "expm1"],
)
def test_unary_special_values(op):
    graph = unary_graph(op, SPECIALS.shape, "float64")
    got, want = compiled_and_reference(graph, SPECIALS)
    nan_got, nan_want = np.isnan(got[0]), np.isnan(want[0])
    assert np.array_equal(nan_got, nan_want)
    finite = ~nan_want
    assert np.array_equal(np.signbit(got[0][finite]), np.signbit(want[0][finite]))
    np.testing.assert_allclose(got[0][finite], want[0][finite], rtol=1e-15 * 4)


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
@pytest.mark.parametrize("op", ["sum", "prod", "max", "min", "logsumexp", "mean"])
def test_reductions(op, dtype):
    if dtype == "int64" and op in ("logsumexp",):
        pytest.skip("logsumexp is float only")
    shapes = [(6,), (3, 4), (2, 3, 4)]
    xs = [gc.tensor(f"x{k}", shape, dtype) for k, shape in enumerate(shapes)]
    if dtype == "int64":
        values = [RNG.integers(-3, 4, shape) for shape in shapes]
    else:
        values = [RNG.uniform(0.5, 1.5, shape).astype(dtype) for shape in shapes]
    cases, outputs = [], []
    for x in xs:
        for axis in [None, 0, -1] + ([(0, 2), 1] if x.ndim == 3 else []):
            for keepdims in (False, True):
                cases.append((x.shape, axis, keepdims))
                outputs.append(getattr(gc, op)(x, axis=axis, keepdims=keepdims))
    for case, (got, want) in zip(cases, compile_all(xs, outputs, *values)):
        assert_close([got], [want], 1e-12 if dtype != "float32" else 1e-5, what=case)


def test_reductions_with_nan_and_signed_zeros():
    x = gc.vector("x", 4)
    graph = gc.Graph([x], [gc.max(x), gc.min(x), gc.sum(x), gc.prod(x), gc.logsumexp(x)])
    for value in (
        [1.0, np.nan, 3.0, 2.0],
        [-0.0, -0.0, -0.0, -0.0],
        [-np.inf] * 4,
        [np.inf, 1.0, 2.0, 3.0],
    ):
        got, want = compiled_and_reference(graph, np.array(value))
        assert_bitwise(got, want)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_matmul_shapes_and_transposed_operands(dtype):
    cases = [
        ((4,), (4,)),
        ((3, 4), (4,)),
        ((4,), (4, 5)),
        ((3, 4), (4, 5)),
        ((7, 9), (9, 6)),
        ((1, 4), (4, 1)),
        ((9, 5), (5, 1)),
        ((0, 3), (3, 2)),
        ((3, 0), (0, 2)),
    ]
    inputs, outputs, values = [], [], []
    for k, (sa, sb) in enumerate(cases):
        a, b = gc.tensor(f"a{k}", sa, dtype), gc.tensor(f"b{k}", sb, dtype)
        va = RNG.standard_normal(sa).astype(dtype)
        vb = RNG.standard_normal(sb).astype(dtype)
        inputs += [a, b]
        outputs.append(a @ b)
        values += [va, vb]
        if len(sb) == 2:  # B read through a transposed view: the dot-product loop
            bt = gc.tensor(f"bt{k}", sb[::-1], dtype)
            inputs.append(bt)
            outputs.append(a @ bt.T)
            values.append(vb.T.copy())
    for got, want in compile_all(inputs, outputs, *values):
        assert_close([got], [want], 1e-12 if dtype == "float64" else 1e-4)


SHAPE_CASES = {
    "transpose": lambda t: t.T,
    "reshape": lambda t: t.reshape(12, 5),
    "reshape of a transpose (copied)": lambda t: t.T.reshape(20, 3),
    "slices": lambda t: t[1:, ::2, -1],
    "negative step": lambda t: t[::-1, 1:3],
    "one element": lambda t: t[2, 3, 4] * 2.0,
    "broadcast_to": lambda t: gc.broadcast_to(t[:, :1, :], (3, 4, 5)),
    "concatenate": lambda t: gc.concatenate([t, t * 2.0], axis=1),
    "stack": lambda t: gc.stack([t, t + 1.0], axis=-1),
    "sum of a transpose": lambda t: gc.sum(t.T * 2.0, axis=0),
    "map over a slice": lambda t: gc.exp(t[:, 1]),
    "unslice": lambda t: gc.dsl.unslice(t, ((0, 1, 3), (1, 1, 4), (4, -1, 5)), (4, 5, 6)),
    "where": lambda t: gc.where(t > 0, t, -t),
    "cast": lambda t: (t > 0).astype("float64") + t,
    "sum of booleans": lambda t: gc.sum(t > 0),
    "max of booleans": lambda t: gc.max(t > 0, axis=1),
    "logical ops": lambda t: gc.where((t > 0) & ~(t > 1) | (t < -1), t, 0.0),
    "int cast": lambda t: (t * 3.0).astype("int64") * 2,
    "stop_gradient": lambda t: gc.stop_gradient(t) * t,
    "scalar broadcast into matmul": lambda t: gc.broadcast_to(gc.sum(t), (5, 4)) @ t[0],
    "sparse_gather": lambda t: sparse_gather(t.reshape(-1), [59, 0, 7, 7, 31, 2]) * 2.0,
    "sparse_gather of a strided view": lambda t: sparse_gather(t[1, 2, ::-2], [2, 0, 1, 1]),
    "sparse_gather at one position": lambda t: sparse_gather(t.reshape(-1), [5, 5, 5]),
    "sparse_gather of a scalar": lambda t: sparse_gather(gc.broadcast_to(gc.sum(t), (4,)), [3, 0]),
}


def test_shape_and_mixed_ops():
    x = gc.tensor("x", (3, 4, 5))
    value = RNG.standard_normal((3, 4, 5))
    names = sorted(SHAPE_CASES)
    results = compile_all([x], [SHAPE_CASES[name](x) for name in names], value)
    for name, (got, want) in zip(names, results):
        assert got.shape == want.shape and got.dtype == want.dtype, name
        np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=name)


def test_every_op_is_covered_by_this_table():
    covered = (
        set(UNARY)
        | set(BINARY)
        | {
            "sum",
            "prod",
            "max",
            "min",
            "logsumexp",
            "matmul",
            "transpose",
            "reshape",
            "slice",
            "broadcast_to",
            "concatenate",
            "unslice",
            "where",
            "cast",
            "and",
            "or",
            "not",
            "stop_gradient",
            "input",
            "const",
            "sparse_gather",
            # compiled vs evaluated in tests/test_loops.py and tests/test_custom_derivatives.py
            "scan",
            "revolve",
            "custom_vjp",
            "custom_jvp",
        }
        # Ops that lower through their records' own loop nests: compiled against the evaluator
        # in tests/test_ops.py (test_compiled_matches_evaluated, every row, both float dtypes).
        | {"gather", "scatter_add", "argsort", "argmax", "argmin", "cumsum", "cumprod", "linrec"}
    )
    # The math functions of graphc/ops/special.py are compiled against the evaluator, values and
    # gradients in both dtypes, by tests/test_ops.py::test_compiled_matches_evaluated.
    covered |= set(special.NAMES)
    assert set(OPS) <= covered, f"ops without a JIT test: {sorted(set(OPS) - covered)}"


# -- random graphs, gradients ------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs())
def test_random_graphs_agree_with_the_evaluator(case):
    graph, args = case
    got, want = compiled_and_reference(graph, *args)
    # Compounded transcendental ulps and in-order vs pairwise sums: a loose relative bound,
    # plus an absolute one scaled to the magnitudes involved (cancellation).
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        finite = np.isfinite(w)
        assert np.array_equal(np.isnan(g), np.isnan(w))
        assert np.array_equal(g[np.isinf(w)], w[np.isinf(w)])
        scale = max(1.0, float(np.max(np.abs(w[finite]), initial=0.0)))
        np.testing.assert_allclose(g[finite], w[finite], rtol=1e-9, atol=1e-9 * scale)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(random_graphs(max_steps=14))
def test_random_graphs_split_into_many_parts(monkeypatch_parts, case):
    graph, args = case
    got, want = compiled_and_reference(graph, *args)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9, equal_nan=True)


@pytest.fixture
def monkeypatch_parts(monkeypatch):
    """A tiny part budget: every few kernels start a new function, so values cross parts."""
    monkeypatch.setattr(plan_module, "PART_BUDGET", 12)


def test_long_scalar_chain_is_split_and_correct():
    x, y = gc.scalar("x"), gc.scalar("y")
    value = x
    for i in range(1200):
        value = gc.sin(value * y + 0.1 * (i % 7)) if i % 3 else value * 0.999 + y
    graph = gc.Graph([x, y], [value, *gc.grad(value, [x, y])])
    fn = gc.compile(graph, cache=False)
    assert fn.stats["parts"] > 1
    got, want = fn(0.3, 0.7), gc.evaluate(graph, 0.3, 0.7)
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_compiled_gradients_match_finite_differences():
    x = gc.vector("x", 6)
    w = RNG.standard_normal((6, 6))
    f = gc.sum(gc.tanh(w @ x) * gc.log1p(x * x)) + gc.logsumexp(x) * gc.max(x)
    fn = gc.compile(gc.Graph([x], [f, gc.grad(f, x)]), cache=False)
    x0 = RNG.standard_normal(6)
    _, gradient = fn(x0)
    h = 1e-6
    fd = [(fn(x0 + h * e)[0] - fn(x0 - h * e)[0]) / (2 * h) for e in np.eye(6)]
    np.testing.assert_allclose(gradient, fd, rtol=1e-6, atol=1e-8)


# -- calling conventions and errors ------------------------------------------------------------


@pytest.fixture(scope="module")
def vector_fn():
    x, s = gc.vector("x", 5), gc.scalar("s")
    return gc.compile(gc.Graph([x, s], [x * s, gc.sum(x) * s]), cache=False)


def test_call_by_position_and_name(vector_fn):
    x0 = np.arange(5.0)
    a, b = vector_fn(x0, 2.0)
    c, d = vector_fn(s=2.0, x=x0)
    np.testing.assert_array_equal(a, c)
    assert b == d == 20.0 and isinstance(b, float)


@pytest.mark.parametrize(
    "args, kwargs, error, pattern",
    [
        ((np.ones(5),), {}, TypeError, "s"),
        ((np.ones(5), 1.0, 2.0), {}, TypeError, "argument"),
        ((np.ones(4), 1.0), {}, ValueError, "4"),
        ((np.ones(5, dtype=np.float32), 1.0), {}, TypeError, "float32"),
        (([1.0] * 5, 1.0), {}, TypeError, "numpy array"),
        ((np.array(["a"] * 5), 1.0), {}, TypeError, "<U1"),
        ((np.ones(5), "a"), {}, TypeError, "s"),
        ((np.ones(5),), {"t": 1.0}, TypeError, "t"),
        ((np.ones(5), 1.0), {"s": 1.0}, TypeError, "s"),
    ],
)
def test_bad_arguments_raise_clear_errors(vector_fn, args, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        vector_fn(*args, **kwargs)


def test_inputs_are_never_modified_and_outputs_are_fresh(vector_fn):
    x0 = np.arange(5.0)
    before = x0.copy()
    first, _ = vector_fn(x0, 3.0)
    second, _ = vector_fn(x0, 3.0)
    np.testing.assert_array_equal(x0, before)
    assert first is not second and not np.shares_memory(first, second)


def test_numpy_scalars_and_zero_d_arrays_are_accepted(vector_fn):
    a, _ = vector_fn(np.ones(5), np.float64(2.0))
    b, _ = vector_fn(np.ones(5), np.array(2.0))
    c, _ = vector_fn(np.ones(5), 2)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_single_output_graph_returns_a_value_not_a_tuple():
    x = gc.scalar("x")
    fn = gc.compile(gc.Graph([x], x * 2.0), cache=False)
    assert fn(1.5) == 3.0
    y = gc.tensor("y", (3,), "float32")
    fn32 = gc.compile(gc.Graph([y], [gc.sum(y), y > 1.0, gc.sum(y > 1.0)]), cache=False)
    total, mask, count = fn32(np.array([1.0, 2.0, 3.0], dtype=np.float32))
    assert total == np.float32(6.0) and isinstance(total, np.float32)
    np.testing.assert_array_equal(mask, [False, True, True])
    assert count == 2 and isinstance(count, int)


def test_outputs_that_are_inputs_constants_or_repeated():
    x = gc.vector("x", 3)
    c = np.array([1.0, 2.0, 3.0])
    y = x * 2.0
    fn = gc.compile(gc.Graph([x], [x, gc.constant(c), y, y, x.T, x[::-1]]), cache=False)
    x0 = np.array([4.0, 5.0, 6.0])
    got = fn(x0)
    want = gc.evaluate(gc.Graph([x], [x, gc.constant(c), y, y, x.T, x[::-1]]), x0)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    assert not np.shares_memory(got[0], x0)


def test_large_workspace_comes_from_python_and_threads_agree():
    x = gc.vector("x", 20_000)
    y = gc.sum(gc.sin(x) * gc.exp(x[::-1]) * gc.cos(x))
    fn = gc.compile(gc.Graph([x], [y, gc.grad(y, x)]), cache=False)
    assert fn.workspace_bytes > 64 * 1024
    inputs = [RNG.standard_normal(20_000) for _ in range(4)]
    want = [fn(v) for v in inputs]
    results = {}

    def work(i):
        for _ in range(20):
            got = fn(inputs[i])
            if not (got[0] == want[i][0] and np.array_equal(got[1], want[i][1])):
                results[i] = "mismatch"
                return
        results[i] = "ok"

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(v == "ok" for v in results.values()) and len(results) == 4


# -- batch -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lecture_fn():
    x1, x2 = gc.scalar("x1"), gc.scalar("x2")
    f = (x1 + x2) * gc.log(x1 + x2)
    # libm's scalar functions: a batch and row-by-row calls then agree bitwise.
    graph = gc.Graph([x1, x2], [f, *gc.grad(f, [x1, x2])])
    return gc.compile(graph, cache=False, vector_math=False)


def test_batch_matches_row_by_row(lecture_fn):
    X = RNG.uniform(1, 3, (1000, 2))
    out = lecture_fn.batch(X[:, 0], X[:, 1])  # strided columns are fine for batch
    rows = np.array([lecture_fn(a, b) for a, b in X])
    for k in range(3):
        np.testing.assert_array_equal(out[k], rows[:, k])
    threaded = lecture_fn.batch(X[:, 0], X[:, 1], threads=2)
    for a, b in zip(out, threaded):
        np.testing.assert_array_equal(a, b)


def test_batch_broadcasts_an_unbatched_argument_and_stacks_tensors():
    x, w = gc.vector("x", 3), gc.matrix("w", 2, 3)
    fn = gc.compile(gc.Graph([x, w], [w @ x, gc.sum(x)]), cache=False)
    X = RNG.standard_normal((50, 3))
    W = RNG.standard_normal((2, 3))
    y, s = fn.batch(X, W)
    assert y.shape == (50, 2) and s.shape == (50,)
    np.testing.assert_allclose(y, X @ W.T, rtol=1e-12)
    np.testing.assert_allclose(s, X.sum(1), rtol=1e-12)


def test_batch_errors(lecture_fn):
    with pytest.raises(ValueError, match="batch sizes"):
        lecture_fn.batch(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="no argument has a batch axis"):
        lecture_fn.batch(1.0, 2.0)
    with pytest.raises(ValueError, match=r"\(N"):
        lecture_fn.batch(np.ones((3, 2)), np.ones(3))
    with pytest.raises(TypeError):
        lecture_fn.batch(np.array(["a", "b"]), np.ones(2))


# -- inspection, cache, engine -----------------------------------------------------------------


def test_stats_ir_and_assembly(lecture_fn):
    assert "define" in lecture_fn.llvm_ir and "graph_call" in lecture_fn.llvm_ir
    assert "graph_call" in lecture_fn.asm
    stats = lecture_fn.stats
    assert stats["cache"] == "off" and stats["nodes_optimized"] < stats["nodes"]
    assert {
        "optimize",
        "expand",
        "plan",
        "emit",
        "llvm_optimize",
        "codegen",
        "load",
        "total",
    } <= set(stats["seconds"])


def test_cache_hit_corruption_and_other_process(tmp_path):
    x = gc.vector("x", 4)
    graph = gc.Graph([x], [gc.sum(gc.exp(x)) * 3.0])
    first = gc.compile(graph, cache=str(tmp_path))
    assert first.stats["cache"] == "miss"
    again = gc.compile(graph, cache=str(tmp_path))
    assert again.stats["cache"] == "hit"
    x0 = np.arange(4.0)
    assert again(x0) == first(x0)

    (entry,) = list(tmp_path.glob("*.gcc"))
    data = bytearray(entry.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a flipped byte
    entry.write_bytes(bytes(data))
    repaired = gc.compile(graph, cache=str(tmp_path))
    assert repaired.stats["cache"] == "miss" and repaired(x0) == first(x0)
    entry.write_bytes(entry.read_bytes()[:100])  # a truncated entry
    assert gc.compile(graph, cache=str(tmp_path)).stats["cache"] == "miss"
    assert gc.compile(graph, cache=str(tmp_path)).stats["cache"] == "hit"

    script = (
        "import numpy as np, graphc as gc\n"
        "x = gc.vector('x', 4)\n"
        "fn = gc.compile(gc.Graph([x], [gc.sum(gc.exp(x)) * 3.0]))\n"
        "print(fn.stats['cache'], fn(np.arange(4.0))[0])\n"
    )
    # The child sees this cache whatever GRAPHC_* settings the user running the tests has.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHC_")}
    env["GRAPHC_CACHE_DIR"] = str(tmp_path)
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "hit" and float(out[1]) == first(x0)[0]


def test_cache_can_be_turned_off_by_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE", "0")
    x = gc.scalar("x")
    assert gc.compile(gc.Graph([x], [x + 1.0])).stats["cache"] == "off"


def test_unresolved_symbols_raise_instead_of_crashing():
    with pytest.raises(RuntimeError, match="no_such_symbol_graphc"):
        engine.check_symbols({"no_such_symbol_graphc"})


def test_pickle_recompiles(lecture_fn):
    clone = pickle.loads(pickle.dumps(lecture_fn))
    assert clone(2.0, 5.0) == lecture_fn(2.0, 5.0)


def test_reassociate_option_keeps_results_close():
    x = gc.vector("x", 10_000)
    graph = gc.Graph([x], [gc.sum(x * x), x @ x])
    value = RNG.standard_normal(10_000)
    fast = gc.compile(graph, cache=False, reassociate=True)
    exact = gc.compile(graph, cache=False)
    assert "reassoc" in fast.llvm_ir and "reassoc" not in exact.llvm_ir
    np.testing.assert_allclose(fast(value), exact(value), rtol=1e-12)


def test_compile_rejects_non_graphs_and_bad_options():
    with pytest.raises(TypeError, match="Graph"):
        gc.compile(gc.scalar("x"))
    x = gc.scalar("x")
    with pytest.raises(ValueError, match="opt_level"):
        gc.compile(gc.Graph([x], [x]), opt_level=7)


def test_vector_math_option():
    x = gc.vector("x", 1003)  # not a multiple of the vector width: the scalar tail runs too
    graph = gc.Graph([x], [gc.exp(x) * gc.sin(x) + gc.tanh(x) * gc.log1p(x * x)])
    value = RNG.uniform(-3, 3, 1003)
    fast = gc.compile(graph, cache=False, vector_math=True)
    exact = gc.compile(graph, cache=False, vector_math=False)
    assert gc.compile(graph, cache=False).stats["vector_math"] == engine.vector_math_available()
    assert "_ZGV" not in exact.optimized_ir
    if not engine.vector_math_available():
        assert fast.stats["vector_math"] is False
        return
    assert fast.stats["vector_math"] and "_ZGVdN4v_exp" in fast.optimized_ir
    np.testing.assert_allclose(fast(value)[0], exact(value)[0], rtol=1e-14, atol=1e-15)


def test_dense_and_strided_batches_agree(lecture_fn):
    X = RNG.uniform(1, 3, (257, 2))
    # Contiguous rows take the dense entry, a strided column or an unbatched argument the
    # strided one: both must give what row-by-row calls give, bit for bit (scalar libm here).
    dense = lecture_fn.batch(np.ascontiguousarray(X[:, 0]), np.ascontiguousarray(X[:, 1]))
    strided = lecture_fn.batch(X[:, 0], X[:, 1])
    broadcast = lecture_fn.batch(X[:, 0], 2.0)
    rows = np.array([lecture_fn(a, b) for a, b in X])
    rows_broadcast = np.array([lecture_fn(a, 2.0) for a in X[:, 0]])
    for k in range(3):
        np.testing.assert_array_equal(dense[k], rows[:, k])
        np.testing.assert_array_equal(strided[k], rows[:, k])
        np.testing.assert_array_equal(broadcast[k], rows_broadcast[:, k])


def test_compiled_functions_share_equal_constants():
    matrix = RNG.standard_normal((40, 40))
    x = gc.vector("x", 40)
    f = gc.sum(gc.sin(x @ matrix))
    first = gc.compile(gc.Graph([x], [f]), cache=False)
    second = gc.compile(gc.Graph([x], [f, gc.grad(f, x)]), cache=False)
    shared = {id(c) for c in first._constants} & {id(c) for c in second._constants}
    assert shared, "one copy of the matrix serves both functions"
    x0 = RNG.standard_normal(40)
    assert first(x0)[0] == second(x0)[0]
