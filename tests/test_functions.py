"""numpy's reductions, matrix structure, products, einsum and shape functions
(``graphc.functions``, ``graphc.einsum``) against numpy itself.

For every row of ``CASES``: the node's shape is numpy's; evaluated and compiled values equal
numpy's; the gradient of ``sum(u * f(x))`` agrees with central finite differences. Below:
the conventions at singular points (std at zero spread), that the compositions cost no extra
kernels where the docs say so, and the errors bad arguments get.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import function_of, numeric_vjp, outputs

import graphc as gc

RNG = np.random.default_rng(3)


def row(build, ref, *shapes, label=None):
    return pytest.param(build, ref, shapes, id=label)


CASES = [
    # statistics
    row(gc.var, np.var, (3, 4), label="var"),
    row(lambda x: gc.var(x, axis=0, ddof=1), lambda x: np.var(x, 0, ddof=1), (3, 4), label="var0"),
    row(
        lambda x: gc.var(x, (0, 2), keepdims=True),
        lambda x: np.var(x, (0, 2), keepdims=True),
        (2, 3, 4),
        label="var keep",
    ),
    row(lambda x: gc.std(x, -1), lambda x: np.std(x, -1), (3, 4), label="std"),
    # matrix structure
    row(gc.diagonal, np.diagonal, (4, 3), label="diagonal"),
    row(lambda x: gc.diagonal(x, 1), lambda x: np.diagonal(x, 1), (4, 3), label="diagonal+1"),
    row(lambda x: gc.diagonal(x, -2), lambda x: np.diagonal(x, -2), (4, 3), label="diagonal-2"),
    row(
        lambda x: gc.diagonal(x, 0, 2, 0),
        lambda x: np.diagonal(x, 0, 2, 0),
        (3, 2, 4),
        label="diagonal 3-D",
    ),
    row(
        lambda x: gc.diagonal(x[:, 1:]),
        lambda x: np.diagonal(x[:, 1:]),
        (4, 5),
        label="diagonal of a view",
    ),
    row(lambda x: gc.diagonal(x, 5), lambda x: np.diagonal(x, 5), (3, 3), label="empty diagonal"),
    row(gc.diag, np.diag, (3,), label="diag"),
    row(lambda v: gc.diag(v, 2), lambda v: np.diag(v, 2), (3,), label="diag+2"),
    row(lambda v: gc.diag(v, -1), lambda v: np.diag(v, -1), (3,), label="diag-1"),
    row(lambda m: gc.diag(m, 1), lambda m: np.diag(m, 1), (3, 4), label="diag of a matrix"),
    row(gc.tril, np.tril, (3, 4), label="tril"),
    row(lambda x: gc.triu(x, -1), lambda x: np.triu(x, -1), (2, 3, 4), label="triu batch"),
    # products
    row(gc.cross, np.cross, (4, 3), (4, 3), label="cross"),
    row(
        lambda a, b: gc.cross(a, b, axis=0),
        lambda a, b: np.cross(a, b, axis=0),
        (3, 2),
        (3, 1),
        label="cross axis 0 broadcast",
    ),
    row(gc.tensordot, np.tensordot, (2, 3, 4), (3, 4, 5), label="tensordot 2"),
    row(
        lambda a, b: gc.tensordot(a, b, ([0, 2], [2, 0])),
        lambda a, b: np.tensordot(a, b, ([0, 2], [2, 0])),
        (2, 3, 4),
        (4, 5, 2),
        label="tensordot pairs",
    ),
    row(
        lambda a, b: gc.tensordot(a, b, 0),
        lambda a, b: np.tensordot(a, b, 0),
        (2,),
        (3,),
        label="tensordot 0",
    ),
    row(gc.inner, np.inner, (2, 3), (4, 3), label="inner"),
    row(gc.inner, np.inner, (3,), (3,), label="inner vectors"),
    row(gc.outer, np.outer, (2, 2), (3,), label="outer"),
    row(gc.kron, np.kron, (2, 3), (3, 2), label="kron"),
    row(gc.kron, np.kron, (2,), (2, 3), label="kron 1-D 2-D"),
    # shapes
    row(lambda x: gc.repeat(x, 2, 1), lambda x: np.repeat(x, 2, 1), (2, 3), label="repeat"),
    row(
        lambda x: gc.repeat(x, [1, 0, 3]),
        lambda x: np.repeat(x, [1, 0, 3]),
        (3,),
        label="repeat counts",
    ),
    row(lambda x: gc.repeat(x, 2), lambda x: np.repeat(x, 2), (2, 2), label="repeat flat"),
    row(lambda x: gc.tile(x, (2, 1, 3)), lambda x: np.tile(x, (2, 1, 3)), (2, 3), label="tile"),
    row(lambda x: gc.tile(x, 2), lambda x: np.tile(x, 2), (2, 3), label="tile int"),
    row(lambda x: gc.roll(x, -1, 1), lambda x: np.roll(x, -1, 1), (2, 3), label="roll"),
    row(lambda x: gc.roll(x, 4), lambda x: np.roll(x, 4), (2, 3), label="roll flat"),
    row(
        lambda x: gc.roll(x, (1, 2), (0, 1)),
        lambda x: np.roll(x, (1, 2), (0, 1)),
        (3, 4),
        label="roll axes",
    ),
    row(lambda x: gc.split(x, 2, 1)[1], lambda x: np.split(x, 2, 1)[1], (2, 4), label="split"),
    row(
        lambda x: gc.split(x, [1, -1])[1], lambda x: np.split(x, [1, -1])[1], (5,), label="split at"
    ),
    row(
        lambda x: gc.moveaxis(x, 0, -1),
        lambda x: np.moveaxis(x, 0, -1),
        (2, 3, 4),
        label="moveaxis",
    ),
    row(
        lambda x: gc.moveaxis(x, [0, 1], [2, 0]),
        lambda x: np.moveaxis(x, [0, 1], [2, 0]),
        (2, 3, 4),
        label="moveaxis many",
    ),
    row(
        lambda x: gc.swapaxes(x, 0, 2), lambda x: np.swapaxes(x, 0, 2), (2, 3, 4), label="swapaxes"
    ),
    row(lambda x: gc.flip(x, 1), lambda x: np.flip(x, 1), (2, 3), label="flip"),
    row(gc.flip, np.flip, (2, 3), label="flip all"),
    row(gc.ravel, np.ravel, (2, 3), label="ravel"),
    row(
        lambda x: gc.expand_dims(x, (0, 3)),
        lambda x: np.expand_dims(x, (0, 3)),
        (2, 3),
        label="expand_dims",
    ),
    row(gc.squeeze, np.squeeze, (1, 3, 1), label="squeeze"),
    row(lambda x: gc.pad(x, 1), lambda x: np.pad(x, 1), (2, 3), label="pad"),
    row(
        lambda x: gc.pad(x, ((0, 2), (1, 0)), constant_values=-1.5),
        lambda x: np.pad(x, ((0, 2), (1, 0)), constant_values=-1.5),
        (2, 3),
        label="pad value",
    ),
    row(
        lambda x: gc.pad(x, (2, 1), "edge"),
        lambda x: np.pad(x, (2, 1), "edge"),
        (2, 3),
        label="pad edge",
    ),
    row(
        lambda x: gc.pad(x, 2, "reflect"),
        lambda x: np.pad(x, 2, "reflect"),
        (3, 3),
        label="pad reflect",
    ),
    row(
        lambda x: gc.pad(x, ((1, 0), (3, 2)), "wrap"),
        lambda x: np.pad(x, ((1, 0), (3, 2)), "wrap"),
        (2, 3),
        label="pad wrap",
    ),
    row(
        lambda x: gc.pad(x, 1, "symmetric"),
        lambda x: np.pad(x, 1, "symmetric"),
        (2, 2),
        label="pad symmetric",
    ),
    row(gc.diff, np.diff, (2, 4), label="diff"),
    row(lambda x: gc.diff(x, 2, 0), lambda x: np.diff(x, 2, 0), (4, 2), label="diff 2"),
    row(
        lambda x: gc.diff(x, prepend=0.5, append=x[:, :1]),
        lambda x: np.diff(x, prepend=0.5, append=x[:, :1]),
        (2, 3),
        label="diff prepend",
    ),
    row(
        lambda a, b: gc.hstack([a, b]),
        lambda a, b: np.hstack([a, b]),
        (2, 3),
        (2, 1),
        label="hstack",
    ),
    row(
        lambda a, b: gc.hstack([a, b]),
        lambda a, b: np.hstack([a, b]),
        (3,),
        (2,),
        label="hstack 1-D",
    ),
    row(
        lambda a, b: gc.vstack([a, b]), lambda a, b: np.vstack([a, b]), (3,), (2, 3), label="vstack"
    ),
    row(
        lambda a, b: gc.dstack([a, b]),
        lambda a, b: np.dstack([a, b]),
        (2, 3),
        (2, 3),
        label="dstack",
    ),
    row(gc.atleast_2d, np.atleast_2d, (3,), label="atleast_2d"),
    row(gc.atleast_3d, np.atleast_3d, (2, 3), label="atleast_3d"),
    row(gc.atleast_1d, np.atleast_1d, (), label="atleast_1d"),
    # einsum
    row(
        lambda a, b: gc.einsum("ij,jk->ik", a, b),
        lambda a, b: np.einsum("ij,jk->ik", a, b),
        (2, 3),
        (3, 4),
        label="einsum matmul",
    ),
    row(
        lambda a: gc.einsum("ii->", a), lambda a: np.einsum("ii->", a), (3, 3), label="einsum trace"
    ),
    row(
        lambda a: gc.einsum("ii->i", a),
        lambda a: np.einsum("ii->i", a),
        (3, 3),
        label="einsum diag",
    ),
    row(
        lambda a, b: gc.einsum("ij,ij->i", a, b),
        lambda a, b: np.einsum("ij,ij->i", a, b),
        (3, 4),
        (3, 4),
        label="einsum rowdot",
    ),
    row(
        lambda a, b: gc.einsum("bij,bjk->bik", a, b),
        lambda a, b: np.einsum("bij,bjk->bik", a, b),
        (2, 3, 4),
        (2, 4, 5),
        label="einsum bmm",
    ),
    row(
        lambda a, b: gc.einsum("ij,kj", a, b),
        lambda a, b: np.einsum("ij,kj", a, b),
        (2, 3),
        (4, 3),
        label="einsum implicit",
    ),
    row(
        lambda a, b, c: gc.einsum("i,ij,j->", a, b, c),
        lambda a, b, c: np.einsum("i,ij,j->", a, b, c),
        (3,),
        (3, 4),
        (4,),
        label="einsum three",
    ),
    row(
        lambda a, b: gc.einsum("...ij,...jk->...ik", a, b),
        lambda a, b: np.einsum("...ij,...jk->...ik", a, b),
        (2, 1, 3, 4),
        (5, 4, 2),
        label="einsum ellipsis",
    ),
    row(
        lambda a: gc.einsum("ij->ji", a),
        lambda a: np.einsum("ij->ji", a),
        (2, 3),
        label="einsum transpose",
    ),
    row(
        lambda a, b: gc.einsum("i,j->ij", a, b),
        lambda a, b: np.einsum("i,j->ij", a, b),
        (2,),
        (3,),
        label="einsum outer",
    ),
    row(
        lambda a: gc.einsum("iji->j", a),
        lambda a: np.einsum("iji->j", a),
        (3, 2, 3),
        label="einsum repeated apart",
    ),
]


def _case_graph(build, ref, shapes, prefix=""):
    nodes = [gc.tensor(f"{prefix}x{i}", s) for i, s in enumerate(shapes)]
    args = [RNG.standard_normal(s) for s in shapes]
    out = build(*nodes)
    want = np.asarray(ref(*args))
    assert out.shape == want.shape
    u = RNG.standard_normal(want.shape)
    grads = gc.grad(gc.sum(out * u), nodes)
    return nodes, args, out, want, u, [out, *grads]


@pytest.mark.parametrize("build, ref, shapes", CASES)
def test_values_and_gradients_match_numpy(build, ref, shapes):
    nodes, args, out, want, u, outs = _case_graph(build, ref, shapes)
    evaluated = outputs(gc.Graph(nodes, outs), *args)
    np.testing.assert_allclose(evaluated[0], want, rtol=1e-13, atol=1e-15)
    numeric = numeric_vjp(function_of(nodes, out), args, u, range(len(nodes)))
    for got, fd in zip(evaluated[1:], numeric):
        np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-8)


def test_compiled_values_and_gradients_agree_with_the_evaluator():
    """Every case's value and gradients, compiled as one graph (one compile, not 70)."""
    inputs, args, outs = [], [], []
    for k, param in enumerate(CASES):
        nodes, case_args, _, _, _, case_outs = _case_graph(*param.values, prefix=f"c{k}_")
        inputs += nodes
        args += case_args
        outs += case_outs
    graph = gc.Graph(inputs, outs)
    for got, want in zip(gc.compile(graph)(*args), outputs(graph, *args)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_integer_and_boolean_inputs():
    k = gc.matrix("k", (3, 4), dtype="int64")
    b = gc.vector("b", 5, "bool")
    k0 = RNG.integers(-5, 5, (3, 4))
    b0 = np.array([True, True, False, True, False])
    graph = gc.Graph([k, b], [gc.var(k, 1), gc.diff(b), gc.tril(k), gc.einsum("ij->j", k)])
    want = [np.var(k0, 1), np.diff(b0), np.tril(k0), np.einsum("ij->j", k0)]
    for got in (outputs(graph, k0, b0), gc.compile(graph)(k0, b0)):
        for g, w in zip(got, want):
            assert np.asarray(g).dtype == w.dtype
            np.testing.assert_allclose(g, w, rtol=1e-15)


def test_std_derivative_at_zero_spread_is_zero():
    x = gc.matrix("x", (2, 3))
    g = gc.grad(gc.sum(gc.std(x, 1)), x)
    x0 = np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]])
    got = outputs(gc.Graph([x], [gc.std(x, 1), g]), x0)
    np.testing.assert_array_equal(got[0], np.std(x0, 1))
    np.testing.assert_array_equal(got[1][0], [0.0, 0.0, 0.0])
    fd = numeric_vjp(lambda v: np.std(v, 1), [x0], np.array([0.0, 1.0]), [0])[0]
    np.testing.assert_allclose(got[1][1], fd[1], rtol=1e-6)
    assert np.isnan(outputs(gc.Graph([x], [gc.std(x)]), np.full((2, 3), np.nan))[0])


def test_split_returns_views_that_cover_the_axis():
    x = gc.matrix("x", (3, 6))
    parts = gc.split(x, [2, 3, 10], axis=1)
    x0 = RNG.standard_normal((3, 6))
    got = outputs(gc.Graph([x], parts), x0)
    for g, w in zip(got, np.split(x0, [2, 3, 10], axis=1)):
        np.testing.assert_array_equal(g, w)


def kernels(*outs, inputs):
    return gc.compile(gc.Graph(list(inputs), list(outs))).stats["kernels"]


def test_compositions_cost_no_extra_passes():
    x = gc.matrix("x", (6, 6))
    # A mask from two ramps and the select fuse with what uses them: one loop.
    assert kernels(gc.tril(x) * 2.0, inputs=[x]) == 1
    # The diagonal of a contiguous matrix is a strided view: the reduction reads it directly.
    assert kernels(gc.sum(gc.log(gc.diagonal(x))), inputs=[x]) == 1
    # var: two passes over x (the sum for the mean; the squared deviations fused into their
    # sum) and two over the 6 row results (the divisions by n).
    assert kernels(gc.var(x, 1), inputs=[x]) == 4
    # einsum "ij,ij->i": the product fuses into its sum.
    assert kernels(gc.einsum("ij,ij->i", x, x * 2.0), inputs=[x]) == 1


def test_bad_arguments_are_refused_with_the_reason():
    m = gc.matrix("m", (3, 4))
    v = gc.vector("v", 4)
    cases = [
        (ValueError, "diagonal: expected at least 2 dimensions", lambda: gc.diagonal(v)),
        (ValueError, "diagonal: axis1 and axis2 are the same", lambda: gc.diagonal(m, 0, 1, -1)),
        (ValueError, "diag: expected a 1-D or 2-D", lambda: gc.diag(gc.tensor("t", (2, 2, 2)))),
        (ValueError, "tril: expected at least 2", lambda: gc.tril(v)),
        (ValueError, "cross: a of shape (3, 4) has 4 components", lambda: gc.cross(m, m)),
        (ValueError, "tensordot: shape-mismatch", lambda: gc.tensordot(m, m, ([1], [1, 0]))),
        (ValueError, "tensordot: shape-mismatch", lambda: gc.tensordot(m, m, 1)),
        (ValueError, "split: an axis of size 4 does not split into 3", lambda: gc.split(m, 3, 1)),
        (
            ValueError,
            "repeat: 2 repeat counts for an axis of size 3",
            lambda: gc.repeat(m, [1, 2], 0),
        ),
        (TypeError, "repeat: repeats must be an int", lambda: gc.repeat(m, 1.5)),
        (ValueError, "pad: mode 'mean' is not supported", lambda: gc.pad(m, 1, "mean")),
        (ValueError, "pad: negative pad widths", lambda: gc.pad(m, -1)),
        (ValueError, "diff: order must be non-negative", lambda: gc.diff(m, -1)),
        (ValueError, "moveaxis: source", lambda: gc.moveaxis(m, [0, 1], [0])),
        (ValueError, "squeeze: axis 0 of shape (3, 4) has size 3", lambda: gc.squeeze(m, 0)),
        (ValueError, "axis 2 is out of range", lambda: gc.var(m, 2)),
        (
            ValueError,
            "einsum: subscripts 'ij,jk' name 2 operands, 1",
            lambda: gc.einsum("ij,jk", m),
        ),
        (
            ValueError,
            "einsum: label 'j' has size 4 in one operand and 3",
            lambda: gc.einsum("ij,jk", m, m),
        ),
        (ValueError, "einsum: operand 0 has shape (3, 4)", lambda: gc.einsum("ijk->", m)),
        (ValueError, "invalid subscript '1'", lambda: gc.einsum("i1->", m)),
        (ValueError, "output label 'z'", lambda: gc.einsum("ij->z", m)),
        (ValueError, "repeat a label", lambda: gc.einsum("ij->ii", m)),
        (TypeError, "hstack: expected a list", lambda: gc.hstack(m)),
    ]
    for kind, fragment, build in cases:
        with pytest.raises(kind) as error:
            build()
        assert fragment in str(error.value), (fragment, str(error.value))
