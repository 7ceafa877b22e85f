"""Gather and scatter: integer-array indexing, take, take_along_axis, segment_sum, sort and the
arg-extrema, against numpy; their derivatives; bounds at build time and at call time.

- ``x[key]`` with integer arrays (numpy data or int64 nodes), numpy boolean masks, ints,
  slices, None and ``...`` gives numpy's shape and values, evaluated and compiled, and its
  gradient is numpy's ``np.add.at`` of the cotangent.
- Constant indices out of range raise ``IndexError`` when the node is built, naming the op, the
  axis, its size and the index. Index values computed at run time raise in ``gc.evaluate``;
  compiled code never reads or writes out of bounds: it fills nan (gathers) or drops the value
  (scatter-adds) and the call raises ``IndexError`` (C callers of exported code get the filled
  and dropped values, tested in test_export).
- Sort's derivative is the permutation (ties: the stable order); argmax/argmin take the first
  extremum and a nan wins; cumprod's derivative is exact at zeros.
"""

from __future__ import annotations

import shutil
import subprocess
import textwrap

import numpy as np
import pytest
from helpers import numeric_vjp, outputs

import graphc as gc
from graphc import serialize
from graphc.ops import indexing

RNG = np.random.default_rng(7)
X = np.arange(60.0).reshape(3, 4, 5) / 7.0 - 3.0

KEYS = [
    [2, 0, 2],
    np.array([[0, 1], [2, -1]]),
    (slice(None), [3, 0, 3]),
    (1, slice(None), [0, 4]),  # an int and an array apart: the index axes come first
    ([0, 2], slice(1, 3), [4, 0]),  # two arrays apart
    ([0, 2], [1, 3]),  # two adjacent arrays
    (slice(None), [[0], [3]], [1, 2, 4]),  # broadcasting index arrays
    (Ellipsis, [4, -5]),
    ([1, 0], None, slice(None, None, -2)),
    (None, [2], 0),
    X[:, :, 0] > 0,  # a boolean mask over two axes
    (slice(None), np.array([True, False, True, True])),
    (np.int64(1), [1, 2]),
    [],
]


def _compiled(graph, *args):
    result = gc.compile(graph)(*args)
    return [np.asarray(r) for r in (result if isinstance(result, tuple) else (result,))]


def _indexed(key, name="x"):
    x = gc.tensor(name, X.shape)
    node = x[key]
    want = X[key]
    assert node.shape == want.shape
    u = np.random.default_rng(len(repr(key))).standard_normal(want.shape)
    want_grad = np.zeros_like(X)
    np.add.at(want_grad, key, u)
    return x, [node, gc.grad(gc.sum(node * u), x)], [want, want_grad]


@pytest.mark.parametrize("key", KEYS, ids=repr)
def test_integer_array_indexing_matches_numpy(key):
    x, outs, wants = _indexed(key)
    got = outputs(gc.Graph([x], outs), X)
    np.testing.assert_array_equal(got[0], wants[0])
    np.testing.assert_allclose(got[1], wants[1], rtol=1e-15)


def test_integer_array_indexing_compiled():
    """Every key of KEYS in one compiled graph."""
    inputs, outs, wants = [], [], []
    for k, key in enumerate(KEYS):
        x, key_outs, key_wants = _indexed(key, f"x{k}")
        inputs.append(x)
        outs += key_outs
        wants += key_wants
    got = _compiled(gc.Graph(inputs, outs), *[X] * len(KEYS))
    for g, w in zip(got, wants):
        np.testing.assert_allclose(g, w, rtol=1e-15)


def test_index_nodes_gather_at_run_time():
    x = gc.matrix("x", (5, 3))
    k = gc.vector("k", 4, "int64")
    graph = gc.Graph([x, k], [x[k], x.T[:, k], gc.take(x, k), gc.grad(gc.sum(x[k] ** 2), x)])
    x0 = RNG.standard_normal((5, 3))
    k0 = np.array([4, -5, 2, 4])
    want_grad = np.zeros((5, 3))
    np.add.at(want_grad, k0, 2 * x0[k0])
    for got in (outputs(graph, x0, k0), _compiled(graph, x0, k0)):
        np.testing.assert_array_equal(got[0], x0[k0])
        np.testing.assert_array_equal(got[1], x0.T[:, k0])
        np.testing.assert_array_equal(got[2], np.take(x0, k0))
        np.testing.assert_allclose(got[3], want_grad, rtol=1e-15)


def test_take_and_take_along_axis():
    x = gc.tensor("x", (3, 4, 5))
    idx = RNG.integers(-4, 4, (3, 2, 5))
    along = RNG.integers(0, 5, (3, 1, 6))
    graph = gc.Graph(
        [x],
        [
            gc.take(x, [[3, 0], [1, 1]], axis=1),
            gc.take(x, 7),
            gc.take_along_axis(x, idx, axis=1),
            gc.take_along_axis(x[:, :1], along, axis=2),  # broadcasting along axis 1
        ],
    )
    want = [
        np.take(X, [[3, 0], [1, 1]], axis=1),
        np.take(X, 7),
        np.take_along_axis(X, idx, axis=1),
        np.take_along_axis(X[:, :1], along, axis=2),
    ]
    for got in (outputs(graph, X), _compiled(graph, X)):
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)


def test_take_along_axis_with_an_index_node_and_its_gradient():
    x = gc.matrix("x", (3, 4))
    k = gc.tensor("k", (3, 2), "int64")
    y = gc.take_along_axis(x, k, axis=1)
    x0, k0 = RNG.standard_normal((3, 4)), np.array([[0, 3], [2, 2], [-1, 1]])
    u = RNG.standard_normal((3, 2))
    got = _compiled(gc.Graph([x, k], [y, gc.grad(gc.sum(y * u), x)]), x0, k0)
    np.testing.assert_array_equal(got[0], np.take_along_axis(x0, k0, 1))
    want = np.zeros((3, 4))
    np.add.at(want, (np.arange(3)[:, None], k0), u)
    np.testing.assert_allclose(got[1], want, rtol=1e-15)


def test_segment_sum_and_its_gradient():
    data = gc.matrix("data", (6, 2))
    ids = np.array([3, 0, 3, 1, 0, 3])
    seg = gc.segment_sum(data, ids, 5)  # segment 2 and 4 are empty
    assert seg.shape == (5, 2)
    d0 = RNG.standard_normal((6, 2))
    u = RNG.standard_normal((5, 2))
    want = np.zeros((5, 2))
    np.add.at(want, ids, d0)
    graph = gc.Graph([data], [seg, gc.grad(gc.sum(seg * u), data)])
    for got in (outputs(graph, d0), _compiled(graph, d0)):
        np.testing.assert_allclose(got[0], want, rtol=1e-15)
        np.testing.assert_array_equal(got[1], u[ids])
    assert gc.segment_sum(data, ids).shape == (4, 2)  # constant ids: max + 1 segments
    counts = gc.segment_sum(np.ones(6, dtype=bool), ids, 5)
    assert counts.dtype == "int64"
    np.testing.assert_array_equal(outputs(gc.Graph([], [counts]))[0], [2, 1, 0, 3, 0])


def test_scatter_add_is_the_transpose_of_gather():
    """<u, gather(x)> == <scatter_add(u), x>, and second derivatives flow through both."""
    x = gc.vector("x", 6)
    k = gc.vector("k", 9, "int64")
    k0 = RNG.integers(-6, 6, 9)
    f = gc.sum(gc.take(x, k) ** 3)
    (H,) = [gc.hessian(f, x)]
    x0 = RNG.standard_normal(6)
    got = _compiled(gc.Graph([x, k], [H]), x0, k0)[0]
    want = np.zeros((6, 6))
    np.add.at(want, (k0 % 6, k0 % 6), 6 * x0[k0])
    np.testing.assert_allclose(got, want, rtol=1e-14)
    fd = numeric_vjp(lambda v: np.sum(v[k0] ** 3), [x0], np.array(1.0), [0])[0]
    g = _compiled(gc.Graph([x, k], [gc.grad(f, x)]), x0, k0)[0]
    np.testing.assert_allclose(g, fd, rtol=1e-6)


def test_gather_graphs_serialise():
    x = gc.matrix("x", (4, 3))
    k = gc.vector("k", 2, "int64")
    graph = gc.Graph([x, k], [x[k], gc.segment_sum(x, [0, 1, 1, 0], 2), gc.sort(x, 0)])
    again = serialize.from_dict(serialize.to_dict(graph))
    x0, k0 = RNG.standard_normal((4, 3)), np.array([3, 0])
    for a, b in zip(outputs(graph, x0, k0), outputs(again, x0, k0)):
        np.testing.assert_array_equal(a, b)


# -- bounds -------------------------------------------------------------------------------------


def _message(excinfo) -> str:
    return str(excinfo.value)


def test_constant_indices_out_of_range_raise_when_built():
    x = gc.matrix("x", (5, 3))
    with pytest.raises(IndexError) as error:
        x[[0, 5]]
    assert "index 5 is out of bounds for axis 0 with size 5" in _message(error)
    with pytest.raises(IndexError, match="take: index -4 is out of bounds for axis 1 with size 3"):
        gc.take(x, [0, -4], axis=1)
    with pytest.raises(IndexError, match="index 9 is out of bounds for axis 1 with size 3"):
        x[:, [9]]
    with pytest.raises(IndexError, match="segment_sum: index 2 is out of bounds for axis 0"):
        gc.segment_sum(x, [0, 1, 2, 0, 1], 2)
    with pytest.raises(IndexError, match="take_along_axis: index 5 .* axis 0 with size 5"):
        gc.take_along_axis(x, np.full((1, 3), 5), axis=0)
    # The op's own rule checks constants too (graphs read from a file, rules building gathers).
    with pytest.raises(IndexError, match="gather: index 7 is out of bounds for axis 1 with size 3"):
        indexing.gather(x, gc.constant(np.array([[7]])), 1)


def test_bad_index_types_are_refused_with_the_reason():
    x = gc.matrix("x", (5, 3))
    with pytest.raises(IndexError, match="integer type, got float64"):
        x[np.array([0.0, 1.0])]
    with pytest.raises(TypeError, match="int64, got float64"):
        x[gc.vector("f", 2)]
    with pytest.raises(TypeError, match="boolean mask node .* gc.where"):
        x[x > 0]
    with pytest.raises(TypeError, match="list holding nodes"):
        x[[gc.scalar("i", "int64"), 1]]
    with pytest.raises(IndexError, match="too many indices"):
        x[[0], [0], [0]]
    with pytest.raises(ValueError, match="do not broadcast"):
        x[[0, 1], [0, 1, 2]]
    with pytest.raises(TypeError, match="gather: indices must be int64"):
        indexing.gather(x, gc.constant(np.array([[1.0]])), 0)
    with pytest.raises(ValueError, match="do not match the leading axes"):
        gc.segment_sum(x, [0, 1], 2)
    with pytest.raises(ValueError, match="num_segments is required"):
        gc.segment_sum(x, gc.vector("s", 5, "int64"))


BAD = np.array([1, 7, -6, 2**62])  # two out of range for size 5, one far beyond any memory


def _bad_index_graph():
    x = gc.vector("x", 5)
    k = gc.vector("k", 4, "int64")
    y = x[k]
    return x, k, gc.Graph([x, k], [y, gc.grad(gc.sum(y * y), x)])


def test_evaluate_raises_for_an_index_out_of_range():
    x, k, graph = _bad_index_graph()
    with pytest.raises(IndexError, match="gather: index 7 is out of bounds for axis 0 with size 5"):
        gc.evaluate(graph, np.arange(5.0), BAD)


def test_compiled_calls_raise_index_error_and_recover():
    x, k, graph = _bad_index_graph()
    fn = gc.compile(graph, cache=False)
    x0 = np.arange(5.0) + 1
    with pytest.raises(
        IndexError,
        match=r"^gather: indexing float64\[5\]: index 4611686018427387904 is out of bounds "
        r"for axis 0 with size 5",
    ):
        fn(x0, BAD)
    values, _ = fn(x0, np.array([0, -1, 4, 2]))  # in range: nothing left pending
    np.testing.assert_array_equal(values, [1.0, 5.0, 5.0, 3.0])


def test_run_time_checks_survive_the_disk_cache(tmp_path):
    x, k, graph = _bad_index_graph()
    gc.compile(graph, cache=str(tmp_path))
    fn = gc.compile(graph, cache=str(tmp_path))
    assert fn.stats["cache"] == "hit"
    with pytest.raises(IndexError, match="out of bounds"):
        fn(np.arange(5.0), BAD)


def test_scatter_reports_and_batches_check_every_row():
    u = gc.vector("u", 3)
    k = gc.vector("k", 3, "int64")
    seg = gc.segment_sum(u, k, 4)
    fn = gc.compile(gc.Graph([u, k], seg), cache=False)
    with pytest.raises(IndexError, match=r"scatter_add: adding float64\[3\] into float64\[4\]"):
        fn(np.array([1.0, 2.0, 4.0]), np.array([0, 4, 0]))
    rows = fn.batch(np.ones((3, 3)), np.array([[0, 1, 2], [3, 3, 3], [1, 1, 1]]))
    np.testing.assert_array_equal(rows, [[1, 1, 1, 0], [0, 0, 0, 3], [0, 3, 0, 0]])
    with pytest.raises(IndexError, match="index -5"):
        fn.batch(np.ones((2, 3)), np.array([[0, 1, 2], [3, -5, 3]]))


def test_constant_indices_in_range_compile_without_checks():
    x = gc.matrix("x", (5, 3))
    checked = gc.compile(gc.Graph([x, k := gc.vector("k", 2, "int64")], [x[k]]), cache=False)
    trusted = gc.compile(gc.Graph([x], x[[4, 1]]), cache=False)
    assert "graphc_index_error" in checked.llvm_ir
    assert "graphc_index_error" not in trusted.llvm_ir
    x0 = RNG.standard_normal((5, 3))
    np.testing.assert_array_equal(trusted(x0), x0[[4, 1]])


# -- sort and arg-extrema -------------------------------------------------------------------------


def test_sort_values_nan_last_and_compiled():
    x = gc.tensor("x", (3, 6))
    x0 = RNG.standard_normal((3, 6))
    x0[0, 2] = np.nan
    x0[1, :3] = 1.5
    x0[2, 1] = -0.0
    graph = gc.Graph([x], [gc.sort(x), gc.sort(x, 0), gc.sort(x, None), gc.argsort(x, 0)])
    want = [np.sort(x0), np.sort(x0, 0), np.sort(x0, None), np.argsort(x0, 0, kind="stable")]
    for got in (outputs(graph, x0), _compiled(graph, x0)):
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("dtype", ["float32", "int64", "bool"])
def test_argsort_of_other_dtypes(dtype):
    x = gc.vector("x", 40, dtype)
    x0 = (RNG.integers(-3, 3, 40) if dtype != "bool" else RNG.random(40) > 0.5).astype(dtype)
    got = _compiled(gc.Graph([x], [gc.argsort(x), gc.sort(x)]), x0)
    np.testing.assert_array_equal(got[0], np.argsort(x0, kind="stable"))
    np.testing.assert_array_equal(got[1], np.sort(x0))


@pytest.mark.parametrize("n", [16, 17, 33, 1000, 4099])
def test_argsort_merges_long_rows_stably(n):
    """Rows longer than the insertion-sorted runs go through the merge passes (an even and an
    odd number of them); many ties and nans check stability and nan placement."""
    x = gc.matrix("x", (2, n))
    x0 = RNG.integers(0, 7, (2, n)).astype(float)
    x0[0, RNG.integers(0, n, n // 5)] = np.nan
    x0[1] = -x0[1]
    got = _compiled(gc.Graph([x], [gc.argsort(x), gc.argsort(x.T, 0)]), x0)
    np.testing.assert_array_equal(got[0], np.argsort(x0, kind="stable"))
    np.testing.assert_array_equal(got[1], np.argsort(x0.T, 0, kind="stable"))


def test_sort_derivative_is_the_permutation_and_ties_keep_their_order():
    x = gc.vector("x", 3)
    w = np.array([10.0, 20.0, 30.0])
    f = gc.sum(gc.sort(x) * w)
    g = gc.grad(f, x)
    # x0 and x1 tie: the first lands in the first of their sorted places.
    got = _compiled(gc.Graph([x], [g]), np.array([1.0, 1.0, 0.0]))[0]
    np.testing.assert_array_equal(got, [20.0, 30.0, 10.0])
    (t,) = [gc.jvp(gc.sort(x), x, np.array([1.0, 2.0, 3.0]))]
    np.testing.assert_array_equal(
        outputs(gc.Graph([x], [t]), np.array([1.0, 1.0, 0.0]))[0], [3, 1, 2]
    )


def test_argmax_argmin_first_extremum_nan_wins_and_keepdims():
    x = gc.matrix("x", (3, 4))
    x0 = np.array([[1.0, 3.0, 3.0, 2.0], [0.0, np.nan, 5.0, np.nan], [-1.0, -1.0, -1.0, -2.0]])
    graph = gc.Graph(
        [x],
        [gc.argmax(x, 1), gc.argmin(x, 1), gc.argmax(x), gc.argmin(x, 0, keepdims=True)],
    )
    want = [np.argmax(x0, 1), np.argmin(x0, 1), np.argmax(x0), np.argmin(x0, 0, keepdims=True)]
    for got in (outputs(graph, x0), _compiled(graph, x0)):
        for g, w in zip(got, want):
            assert g.dtype == np.int64
            np.testing.assert_array_equal(g, w)
    assert gc.argmax(x, keepdims=True).shape == (1, 1)
    assert gc.grad(gc.sum(x * gc.argmax(x, 1)[:, None]), x) is not None  # an int weight


def test_arg_extrema_and_argsort_errors():
    with pytest.raises(ValueError, match="argmax: the last axis of shape .*empty"):
        gc.argmax(gc.matrix("e", (2, 0)), 1)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        gc.argmin(gc.matrix("m", (2, 3)), 2)
    with pytest.raises(ValueError, match="argsort: expected an array"):
        gc.ops.make("argsort", (gc.scalar("s"),))


# -- running sums and products -------------------------------------------------------------------


def test_cumsum_is_numpy_bitwise_and_cumprod_matches():
    x = gc.tensor("x", (4, 50))
    x0 = RNG.standard_normal((4, 50)) * 1e3
    x0[0, 3] = -0.0
    graph = gc.Graph([x], [gc.cumsum(x, 1), gc.cumsum(x), gc.cumprod(x / 1e3, 0)])
    got = _compiled(graph, x0)
    np.testing.assert_array_equal(got[0], np.cumsum(x0, 1))
    np.testing.assert_array_equal(got[1], np.cumsum(x0))
    np.testing.assert_allclose(got[2], np.cumprod(x0 / 1e3, 0), rtol=1e-15)
    b = gc.vector("b", 5, "bool")
    b0 = np.array([True, False, True, True, False])
    counts = _compiled(gc.Graph([b], [gc.cumsum(b), gc.cumprod(b)]), b0)
    np.testing.assert_array_equal(counts[0], np.cumsum(b0))
    np.testing.assert_array_equal(counts[1], np.cumprod(b0))


@pytest.mark.parametrize(
    "x0",
    [[2.0, 0.0, 3.0, 4.0], [0.0, 2.0, 0.0, 5.0], [1.5, -2.0, 0.5, 3.0], [0.0, 0.0, 0.0, 0.0]],
)
def test_cumprod_gradient_is_exact_at_zeros(x0):
    x0 = np.array(x0)
    x = gc.vector("x", 4)
    w = np.array([1.0, -2.0, 3.0, 0.5])
    f = gc.sum(gc.cumprod(x) * w)
    g = _compiled(gc.Graph([x], [gc.grad(f, x)]), x0)[0]
    # d/dx_j sum_i w_i prod_{k<=i} x_k = sum_{i>=j} w_i prod_{k<=i, k!=j} x_k
    want = [
        sum(w[i] * np.prod([x0[k] for k in range(i + 1) if k != j]) for i in range(j, 4))
        for j in range(4)
    ]
    np.testing.assert_array_equal(g, want)
    (t,) = [gc.jvp(gc.cumprod(x), x, np.ones(4))]
    fd = numeric_vjp(lambda v: np.sum(np.cumprod(v) * w), [x0], np.array(1.0), [0])[0]
    np.testing.assert_allclose(g, fd, atol=1e-8)
    jv = outputs(gc.Graph([x], [t]), x0)[0]
    assert np.sum(jv * w) == pytest.approx(np.sum(g), abs=1e-12)


def test_cumulative_errors():
    with pytest.raises(ValueError, match="cumsum: axis 2 is out of range"):
        gc.cumsum(gc.matrix("m", (2, 3)), 2)
    with pytest.raises(ValueError, match="linrec: coefficients"):
        gc.ops.make(
            "linrec",
            (gc.vector("a", 3), gc.vector("b", 3, "int64")),
            gc.node.Attrs(axis=0, reverse=False),
        )


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_exported_gathers_link_without_the_report_hook_and_stay_in_bounds(tmp_path):
    """gc.export's object needs only libc and libm: the report hook is a weak symbol, null in a
    C program, where an index out of range only fills and drops."""
    x = gc.vector("x", 5)
    k = gc.vector("k", 4, "int64")
    y = x[k]
    graph = gc.Graph([x, k], [y, gc.grad(gc.sum(y * y), x), gc.sort(x)])
    gc.export(graph, tmp_path, "model")
    (tmp_path / "main.c").write_text(
        textwrap.dedent(
            """
            #include <stdio.h>
            #include "model.h"
            int main(void) {
                double x[5] = {1, 2, 3, 4, 5}, y[4], g[5], s[5];
                int64_t k[4] = {4, 7, -1, 4611686018427387904LL};
                const void *in[2] = {x, k};
                void *out[3] = {y, g, s};
                int status = model(in, out);
                for (int i = 0; i < 4; i++) printf("%g ", y[i]);
                for (int i = 0; i < 5; i++) printf("%g ", g[i]);
                printf("%g %d\\n", s[4], status);
                return 0;
            }
            """
        )
    )
    exe = tmp_path / "main"
    subprocess.run(
        ["cc", "-o", str(exe), str(tmp_path / "main.c"), str(tmp_path / "model.o"), "-lm"],
        check=True, capture_output=True, cwd=tmp_path,
    )  # fmt: skip
    printed = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    assert printed.split() == ["5", "nan", "5", "nan", "0", "0", "0", "0", "20", "5", "0"]


# -- batching and sparsity rules ----------------------------------------------------------------

PATTERN_CASES = {
    "gather, constant indices": (lambda x: x[[3, 0, 3]] * 2.0, True),
    "gather of a matrix row block": (lambda x: x.reshape(2, 3)[:, [2, 0]], True),
    "gather, run-time indices": (lambda x, k: x[k], False),
    "take_along_axis": (lambda x: gc.take_along_axis(x.reshape(2, 3), [[2], [0]], 1), True),
    "scatter, constant ids": (lambda x: gc.segment_sum(x, [2, 0, 2, 1, 0, 2], 3), True),
    "scatter, run-time ids": (lambda x, k: gc.segment_sum(x[:4] * x[2:], k, 6), False),
    "sort": (lambda x: gc.sort(x) ** 2, False),
    "cumsum": (lambda x: gc.cumsum(x.reshape(2, 3), 1), True),
    "reverse cumsum (a cumsum's gradient)": (
        lambda x: gc.grad(gc.sum(gc.cumsum(x) ** 2), x),
        False,
    ),
    "cumprod": (lambda x: gc.cumprod(x), True),
    "linrec": (lambda x: gc.ops.cumulative.linrec(x, x * 2.0, 0, reverse=False), True),
    "reverse linrec": (lambda x: gc.ops.cumulative.linrec(x, x * 2.0, 0, reverse=True), True),
    "argmax weights": (lambda x: x * gc.argmax(x), True),
}


@pytest.mark.parametrize("name", sorted(PATTERN_CASES))
def test_sparsity_patterns_cover_the_dense_jacobian(name):
    """The pattern from the ops' rules holds every nonzero of the dense Jacobian, and is exact
    where the structure is known when the graph is built (constant indices, running sums)."""
    from graphc.sparsity import jacobian_pattern

    build, exact = PATTERN_CASES[name]
    x = gc.vector("x", 6)
    k = gc.vector("k", 4, "int64")
    y = build(x, k) if build.__code__.co_argcount == 2 else build(x)
    rows, cols = jacobian_pattern(y, x)
    mask = np.zeros((y.size, 6), dtype=bool)
    mask[rows, cols] = True
    x0 = np.array([0.7, -1.3, 2.1, 0.4, 1.9, -0.6])
    jac = outputs(gc.Graph([x, k], [gc.jacobian(y, x)]), x0, np.array([5, 0, -1, 2]))[0]
    nonzero = jac.reshape(y.size, 6) != 0
    assert not (nonzero & ~mask).any(), "a nonzero outside the pattern"
    if exact:
        np.testing.assert_array_equal(mask, nonzero)


def test_vmap_of_a_gather_with_per_example_indices():
    """Both the table and the indices batched: each entry gathers from its own table."""
    tables, picks = gc.tensor("T", (4, 5, 2)), gc.tensor("P", (4, 3), "int64")
    rows = gc.vmap(lambda t, p: gc.sum(t[p] ** 2, axis=1))(tables, picks)
    t0, p0 = RNG.standard_normal((4, 5, 2)), RNG.integers(-5, 5, (4, 3))
    grad = gc.grad(gc.sum(rows), tables)
    got = _compiled(gc.Graph([tables, picks], [rows, grad]), t0, p0)
    want = np.stack([np.sum(t0[b][p0[b]] ** 2, axis=1) for b in range(4)])
    np.testing.assert_allclose(got[0], want, rtol=1e-14)
    want_grad = np.zeros_like(t0)
    for b in range(4):
        np.add.at(want_grad[b], p0[b], 2 * t0[b][p0[b]])
    np.testing.assert_allclose(got[1], want_grad, rtol=1e-14)
