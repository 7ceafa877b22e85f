"""Sparse Jacobians and Hessians: patterns, colourings, compressed sweeps, the gather.

- Patterns from the graph contain every nonzero of the dense Jacobian (random graphs with their
  gradients, every kind of op), and are exact on known structures (banded, arrowhead, a sparse
  constant matrix, block diagonal, reductions).
- Colourings are valid: no row has two nonzeros of one colour (Jacobians); no path on four
  vertices has only two colours, and every entry is recoverable (star colourings of Hessians).
- Values equal the dense Jacobian / Hessian at the pattern (evaluated and compiled); Hessians
  are exactly symmetric; n = 10^5 banded works and keeps 3 colours.
- Errors: non-scalar f, integer x, a dense pattern, a gather out of range.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from helpers import outputs, random_graphs
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import graphc as gc
from graphc import sparsity
from graphc.ops.sparse import sparse_gather
from graphc.sparsity import column_coloring, jacobian_pattern, star_coloring


def dense_jacobian(y, x, x0, others=()):
    inputs = [x, *(o for o, _ in others)]
    (jac,) = outputs(gc.Graph(inputs, [gc.jacobian(y, x)]), x0, *(v for _, v in others))
    return jac.reshape(y.size, x.size)


def pattern_matrix(rows, cols, shape):
    mask = np.zeros(shape, dtype=bool)
    mask[rows, cols] = True
    return mask


def rosenbrock(x):
    return gc.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


# -- patterns -----------------------------------------------------------------------------------

N = 7
SPARSE_A = np.array(
    [[2.0 if (i + 2 * j) % 5 == 0 else 0.0 for j in range(N)] for i in range(N)]
) + np.eye(N)

KNOWN = {
    "tridiagonal": (lambda x: x[1:-1] ** 2 - x[:-2] * x[2:], lambda i, j: abs(i + 1 - j) <= 1),
    "arrowhead": (lambda x: gc.sin(x) * x[0], lambda i, j: j in (0, i)),
    "sparse constant matrix": (lambda x: SPARSE_A @ gc.exp(x), lambda i, j: SPARSE_A[i, j] != 0),
    "row of a transposed matrix product": (
        lambda x: (gc.exp(x) @ SPARSE_A.T) * 2.0,
        lambda i, j: SPARSE_A[i, j] != 0,
    ),
    "block diagonal": (
        lambda x: gc.concatenate(
            [gc.sum(x[:3].reshape(1, 3) ** 2, axis=1, keepdims=True).reshape(1), gc.tanh(x[3:])]
        ),
        lambda i, j: (i == 0 and j < 3) or (i > 0 and j == i + 2),
    ),
    "reversed and broadcast": (
        lambda x: gc.broadcast_to(x[::-1].reshape(N, 1), (N, 2)).reshape(-1) * 3.0,
        lambda i, j: j == N - 1 - i // 2,
    ),
    "where and maximum": (
        lambda x: gc.where(x[1:] > 0, gc.maximum(x[1:], x[:-1]), 0.0),
        lambda i, j: j in (i, i + 1),
    ),
    "unslice and transpose": (
        lambda x: (
            gc.dsl.unslice(x.reshape(1, N).T, ((1, 2, N), (0, 1, 1)), (2 * N + 1, 1)).T[0] + 1.0
        ),
        lambda i, j: i % 2 == 1 and j == i // 2,
    ),
    "a comparison is no dependence": (
        lambda x: gc.where(x > gc.sum(x), 1.0, 2.0) * x,
        lambda i, j: i == j,
    ),
}


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_pattern_of_known_structures_is_exact(name):
    build, expected = KNOWN[name]
    x = gc.vector("x", N)
    y = build(x)
    rows, cols = jacobian_pattern(y, x)
    want = np.array([[expected(i, j) for j in range(N)] for i in range(y.size)])
    np.testing.assert_array_equal(pattern_matrix(rows, cols, (y.size, N)), want)
    jac = dense_jacobian(y, x, np.random.default_rng(0).uniform(0.5, 1.5, N))
    assert not np.any(jac[~want])  # and the dense Jacobian agrees


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs(specials=False), st.integers(0, 2))
def test_pattern_contains_every_nonzero_of_random_graphs(case, which):
    graph, args = case
    x = graph.inputs[which]
    others = [(n, v) for i, (n, v) in enumerate(zip(graph.inputs, args)) if i != which]
    for y in graph.outputs:
        if y.dtype != "float64":
            continue
        rows, cols = jacobian_pattern(y, x)
        jac = dense_jacobian(y, x, args[which], others)
        mask = pattern_matrix(rows, cols, jac.shape)
        # (nan entries are forward mode's 0 * nan where the function is nan, not dependences)
        outside = (jac != 0) & np.isfinite(jac) & ~mask
        assert not np.any(outside), "a nonzero outside the pattern"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs(specials=False))
def test_sparse_jacobian_values_equal_the_dense_jacobian(case):
    graph, (s0, a0, b0) = case
    s, a, b = graph.inputs
    y = graph.outputs[0]
    assume(y.dtype == "float64")
    sj = gc.sparse_jacobian(y, b)
    dense = dense_jacobian(y, b, b0, [(s, s0), (a, a0)])
    assume(np.all(np.isfinite(dense)))
    (values,) = outputs(gc.Graph([b, s, a], [sj.values]), b0, s0, a0)
    assert sj.shape == dense.shape and values.shape == (sj.nnz,)
    np.testing.assert_allclose(sj.to_dense(values), dense, rtol=1e-12, atol=1e-12)
    assert_valid_column_coloring(sj.rows, sj.cols, sj.coloring)


# -- colourings ---------------------------------------------------------------------------------


def assert_valid_column_coloring(rows, cols, coloring):
    seen = set()
    for r, c in zip(rows.tolist(), cols.tolist()):
        key = (r, int(coloring[c]))
        assert key not in seen, f"row {r} has two nonzeros of colour {key[1]}"
        seen.add(key)


def assert_star_coloring(rows, cols, coloring, n):
    neighbours = {v: set() for v in range(n)}
    for r, c in zip(rows.tolist(), cols.tolist()):
        if r != c:
            neighbours[r].add(c)
    for v in range(n):
        for w in neighbours[v]:
            assert coloring[v] != coloring[w], "adjacent vertices share a colour"
    for a in range(n):  # every path a - b - c - d uses at least three colours
        for b in neighbours[a]:
            for c in neighbours[b] - {a}:
                for d in neighbours[c] - {a, b}:
                    assert len({coloring[a], coloring[b], coloring[c], coloring[d]}) >= 3


def random_symmetric_pattern(rng, n, density):
    upper = np.triu(rng.random((n, n)) < density, 1)
    mask = upper | upper.T | np.eye(n, dtype=bool)
    rows, cols = np.nonzero(mask)
    return rows.astype(np.int64), cols.astype(np.int64)


@pytest.mark.parametrize("seed", range(6))
def test_colourings_of_random_patterns_are_valid(seed):
    rng = np.random.default_rng(seed)
    n = 25
    rows, cols = np.nonzero(rng.random((30, n)) < 0.12)
    coloring = column_coloring(rows.astype(np.int64), cols.astype(np.int64), n)
    assert_valid_column_coloring(rows, cols, coloring)
    rows, cols = random_symmetric_pattern(rng, n, 0.1 + 0.05 * seed)
    star = star_coloring(rows, cols, n)
    assert_star_coloring(rows, cols, star, n)
    sparsity._symmetric_positions(rows, cols, star, int(star.max()) + 1, n)  # raises if not


def test_star_colouring_of_banded_and_arrowhead_patterns_is_small():
    n = 40
    i = np.arange(n)
    band = [(a, b) for a in range(n) for b in range(n) if abs(a - b) <= 1]
    rows, cols = (np.array(v, dtype=np.int64) for v in zip(*band))
    assert star_coloring(rows, cols, n).max() + 1 == 3
    arrow = sorted({(0, k) for k in i} | {(k, 0) for k in i} | {(k, k) for k in i})
    rows, cols = (np.array(v, dtype=np.int64) for v in zip(*arrow))
    coloring = star_coloring(rows, cols, n)
    assert coloring.max() + 1 == 2  # the distance-2 colouring would need n
    assert_star_coloring(rows, cols, coloring, n)


# -- values ---------------------------------------------------------------------------------------


def test_sparse_hessian_equals_the_dense_hessian_and_is_exactly_symmetric():
    n = 30
    x = gc.vector("x", n)
    f = rosenbrock(x) + gc.sum(gc.sin(x[::3]) * x[1::3]) + gc.logsumexp(x[:4]) * x[-1]
    sh = gc.sparse_hessian(f, x)
    assert sh.symmetric and sh.shape == (n, n)
    x0 = np.random.default_rng(5).uniform(-1, 1, n)
    graph = gc.Graph([x], [sh.values, gc.hessian(f, x)])
    values, dense = outputs(graph, x0)
    H = sh.to_dense(values)
    np.testing.assert_array_equal(H, H.T)
    np.testing.assert_allclose(H, dense, rtol=1e-12, atol=1e-12)
    assert not np.any(dense[~pattern_matrix(sh.rows, sh.cols, (n, n))])
    compiled = gc.compile(graph, cache=False)(x0)
    np.testing.assert_allclose(compiled[0], values, rtol=1e-13, atol=1e-13)
    Hc = sh.to_dense(compiled[0])
    np.testing.assert_array_equal(Hc, Hc.T)


def test_sparse_jacobian_of_a_matrix_valued_function_and_its_compiled_values():
    X = gc.matrix("X", 4, 5)
    y = gc.tanh(X[:, 1:] * X[:, :-1]) @ gc.constant(np.eye(4)[:, :2]) + gc.sum(
        X, axis=1, keepdims=True
    )
    sj = gc.sparse_jacobian(y, X)
    assert sj.shape == (y.size, X.size)
    X0 = np.random.default_rng(6).standard_normal((4, 5))
    dense = dense_jacobian(y, X, X0)
    graph = gc.Graph([X], [sj.values])
    (values,) = outputs(graph, X0)
    np.testing.assert_allclose(sj.to_dense(values), dense, rtol=1e-13, atol=1e-14)
    (compiled,) = gc.compile(graph, cache=False)(X0)
    np.testing.assert_allclose(compiled, values, rtol=1e-13, atol=1e-14)


def test_banded_system_of_a_hundred_thousand_equations():
    n = 100_000
    x = gc.vector("x", n)
    y = x**2 - gc.concatenate([x[:1] * 0.0, x[:-2] * x[2:], x[-1:] * 0.0])
    sj = gc.sparse_jacobian(y, x)
    assert sj.colors == 3 and sj.nnz == 3 * n - 4  # rows 0 and n - 1 have one nonzero
    x0 = np.random.default_rng(7).uniform(0.5, 1.5, n)
    (values,) = outputs(gc.Graph([x], [sj.values]), x0)
    interior = (sj.rows > 0) & (sj.rows < n - 1)
    r, c = sj.rows[interior], sj.cols[interior]
    want = np.where(c == r, 2 * x0[r], np.where(c == r - 1, -x0[r + 1], -x0[r - 1]))
    np.testing.assert_allclose(values[interior], want, rtol=1e-15)


def test_no_dependence_gives_an_empty_pattern():
    x = gc.vector("x", 3)
    sj = gc.sparse_jacobian(gc.sum(x > 0).astype("float64") * gc.ones(2), x)
    assert sj.nnz == 0 and sj.colors == 0 and sj.values.shape == (0,)


def test_to_scipy_when_scipy_is_installed():
    sparse = pytest.importorskip("scipy.sparse")
    x = gc.vector("x", 5)
    sj = gc.sparse_jacobian(x[1:] * x[:-1], x)
    (values,) = outputs(gc.Graph([x], [sj.values]), np.arange(1.0, 6.0))
    matrix = sj.to_scipy(values)
    assert isinstance(matrix, sparse.csr_matrix)
    np.testing.assert_array_equal(matrix.toarray(), sj.to_dense(values))


# -- errors ---------------------------------------------------------------------------------------


def test_errors_name_the_problem(monkeypatch):
    x, k = gc.vector("x", 4), gc.vector("k", 4, "int64")
    with pytest.raises(ValueError, match="must be a scalar"):
        gc.sparse_hessian(x * 2.0, x)
    with pytest.raises(TypeError, match="dtype int64"):
        gc.sparse_jacobian(x * 2.0, k)
    with pytest.raises(ValueError, match="does not contain"):
        gc.sparse_jacobian(x * 2.0, gc.sin(x))
    with pytest.raises(TypeError, match="with respect to nodes"):
        gc.sparse_jacobian(x * 2.0, 3.0)
    monkeypatch.setattr(sparsity, "MAX_ENTRIES", 10)
    with pytest.raises(ValueError, match="effectively dense"):
        gc.sparse_jacobian(gc.exp(x) * gc.sum(x), x)


def test_sparse_gather_checks_positions_when_built():
    x = gc.vector("x", 4)
    with pytest.raises(IndexError, match="position 4 is out of range"):
        sparse_gather(x, [0, 4])
    with pytest.raises(IndexError, match="position -1"):
        sparse_gather(x, [-1])
    with pytest.raises(TypeError, match="integers"):
        sparse_gather(x, [0.5])
    with pytest.raises(ValueError, match="from a vector"):
        sparse_gather(gc.matrix("m", 2, 2), [0])
    with pytest.raises(TypeError, match="1-D int64 constant"):
        gc.ops.make("sparse_gather", (x, gc.vector("i", 2, "int64")))


def test_gather_adjoint_sums_repeated_positions_like_add_at():
    x = gc.vector("x", 5)
    at = np.array([4, 1, 4, 4, 0, 1])
    ct = np.arange(1.0, 7.0)
    (got,) = outputs(gc.Graph([x], [gc.vjp(sparse_gather(x, at), x, ct)]), np.zeros(5))
    want = np.zeros(5)
    np.add.at(want, at, ct)
    np.testing.assert_array_equal(got, want)
    assert list(itertools.islice(iter(got), 5)) == list(want)
