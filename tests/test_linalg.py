"""``gc.linalg`` and batched ``matmul`` beyond the op table (tests/test_ops.py):

- compiled factorisations against numpy at several sizes, both float dtypes, with operands read
  through strided views and broadcast scalars;
- pivoting, singular and indefinite matrices: the evaluator raises as numpy does, compiled code
  gives the documented values (det 0, slogdet (0, -inf), inf/nan, nan);
- derivatives: the Cholesky adjoint against finite differences through a symmetric input,
  second derivatives (the rules build differentiable nodes), forward against reverse mode;
- lowering: a solve with ``A.T`` reuses ``A``'s factor; the lowering ops refuse derivatives;
- ``norm`` (every order numpy has without an SVD, axes, keepdims, the zero vector) and
  ``trace`` (offsets, stacks) against numpy;
- batched ``matmul`` and ``dot``: shapes, broadcasting, derivatives, errors.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import numeric_vjp, outputs

import graphc as gc
import passes
from graphc.node import Attrs
from graphc.ops import make

RNG = np.random.default_rng(7)


def spd(n, dtype="float64"):
    m = RNG.standard_normal((n, n))
    return (m @ m.T + n * np.eye(n)).astype(dtype)


def invertible(n, dtype="float64"):
    """Well conditioned, and needing a row swap at every step of partial pivoting."""
    m = RNG.standard_normal((n, n)) + n * np.eye(n)
    return m[np.roll(np.arange(n), 1)].astype(dtype)


def compiled(graph, *args):
    got = gc.compile(graph)(*args)
    return list(got) if not graph.single_output else [got]


def assert_close(got, want, rtol):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, want.shape)
    scale = float(np.max(np.abs(want[np.isfinite(want)]), initial=0.0))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


RTOL = {"float64": 1e-11, "float32": 2e-4}

# -- values at several sizes ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("n", [1, 2, 5, 17, 37])  # unrolled, looped, blocked with a remainder
def test_compiled_factorisations_match_numpy(n, dtype):
    a = gc.tensor("a", (n, n), dtype)
    s = gc.tensor("s", (n, n), dtype)
    b = gc.tensor("b", (n, 3), dtype)
    v = gc.tensor("v", (n,), dtype)
    la = gc.linalg
    sign, logdet = la.slogdet(a)
    chol = la.cholesky(s)
    outs = [
        la.solve(a, v),
        la.solve(a, b),
        la.solve(a.T, b),
        la.inv(a),
        la.det(a * (1.0 / n)),  # scaled: the determinant of A overflows float32 at n = 37
        sign,
        logdet,
        chol,
        la.solve_triangular(chol, b, lower=True),
        la.solve_triangular(chol.T, v, lower=False),
        la.solve_triangular(chol, v, trans="T", lower=True, unit_diagonal=True),
    ]
    A, S = invertible(n, dtype), spd(n, dtype)
    B, V = RNG.standard_normal((n, 3)).astype(dtype), RNG.standard_normal(n).astype(dtype)
    L = np.linalg.cholesky(S)
    unit = np.tril(L, -1) + np.eye(n, dtype=dtype)
    want = [
        np.linalg.solve(A, V),
        np.linalg.solve(A, B),
        np.linalg.solve(A.T, B),
        np.linalg.inv(A),
        np.linalg.det(A * np.asarray(1.0 / n, dtype)),
        np.linalg.slogdet(A)[0],
        np.linalg.slogdet(A)[1],
        L,
        np.linalg.solve(L, B),
        np.linalg.solve(L.T, V),
        np.linalg.solve(unit.T, V),
    ]
    graph = gc.Graph([a, s, b, v], outs)
    got = compiled(graph, A, S, B, V)
    for g, w in zip(got, want):
        assert_close(g, np.asarray(w, dtype=dtype), RTOL[dtype] * max(n, 4))


def cholesky_unblocked(a):
    """Right-looking Cholesky on U = L^T, one step at a time: the compiled kernel's order."""
    u = np.triu(a.T).astype(a.dtype)
    for k in range(len(a)):
        u[k, k] = np.sqrt(u[k, k])
        u[k, k + 1 :] /= u[k, k]
        for i in range(k + 1, len(a)):
            u[i, i:] -= u[k, i] * u[k, i:]
    return u.T


@pytest.mark.parametrize("n", [3, 8, 9, 31, 32, 37])
def test_unrolled_and_blocked_kernels_compute_the_unblocked_elimination_to_the_bit(n):
    # The kernels unroll small sizes and apply the updates of four steps in one pass from 32
    # on; every element still subtracts its products one by one in step order, so the results
    # are those of one step at a time (the numpy reference ``lu_packed``), bit for bit.
    from graphc.ops.linalg import lu_packed

    a = gc.matrix("a", n, n)
    graph = gc.Graph([a], [make("lu_factor", (a,)), gc.linalg.cholesky(a)])
    A, S = invertible(n), spd(n)
    np.testing.assert_array_equal(compiled(graph, A)[0], lu_packed(A))
    np.testing.assert_array_equal(compiled(graph, S)[1], cholesky_unblocked(S))


def test_operands_read_through_views_and_broadcast_scalars():
    n = 6
    big = gc.matrix("big", 2 * n, n + 3)
    c = gc.scalar("c")
    block = big[::2, 2 : n + 2]  # a strided view: every other row, a window of columns
    outs = [
        gc.linalg.solve(block, gc.broadcast_to(c, (n,))),  # a right-hand side held as a scalar
        gc.linalg.inv(block.T),
        gc.linalg.det(block.T),
        gc.linalg.cholesky(block @ block.T + gc.broadcast_to(c, (n, n))),
        gc.linalg.solve_triangular(gc.broadcast_to(c, (n, n)), block[0], lower=True),
    ]
    B = RNG.standard_normal((2 * n, n + 3))
    B[::2, 2 : n + 2] += 3 * np.eye(n)
    M = B[::2, 2 : n + 2]
    cv = 2.5
    want = [
        np.linalg.solve(M, np.full(n, cv)),
        np.linalg.inv(M.T),
        np.linalg.det(M),
        np.linalg.cholesky(M @ M.T + cv),
        np.linalg.solve(np.tril(np.full((n, n), cv)), M[0]),
    ]
    graph = gc.Graph([big, c], outs)
    for g, w, e in zip(compiled(graph, B, cv), want, gc.evaluate(graph, B, cv)):
        assert_close(g, w, 1e-10)
        assert_close(e, w, 1e-10)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("n", [3, 33])  # unrolled, and blocked
def test_stacks_of_matrices_compiled_with_numpys_broadcasting(n, dtype):
    a = gc.tensor("a", (2, 3, n, n), dtype)
    b = gc.tensor("b", (3, n, 2), dtype)  # broadcast against a's stack (2, 3)
    v = gc.tensor("v", (n,), dtype)  # one vector for every matrix
    la = gc.linalg
    chol = la.cholesky(a @ gc.transpose(a, (0, 1, 3, 2)) + gc.constant(n * np.eye(n), dtype))
    outs = [
        la.solve(a, b),
        la.solve(a, v),
        la.solve(gc.transpose(a, (0, 1, 3, 2)), b),  # a factor used transposed
        la.inv(a),
        la.det(a * (1.0 / n)),
        *la.slogdet(a),
        chol,
        la.solve_triangular(chol, b, lower=True),
        la.solve_triangular(chol, v, trans=1, lower=True),
    ]
    A = np.stack([[invertible(n) for _ in range(3)] for _ in range(2)]).astype(dtype)
    B = RNG.standard_normal((3, n, 2)).astype(dtype)
    V = RNG.standard_normal(n).astype(dtype)
    At = np.swapaxes(A, -1, -2)
    L = np.linalg.cholesky(A @ At + n * np.eye(n, dtype=dtype))
    want = [
        np.linalg.solve(A, B),
        np.linalg.solve(A, V),
        np.linalg.solve(At, B),
        np.linalg.inv(A),
        np.linalg.det(A * np.asarray(1.0 / n, dtype)),
        *np.linalg.slogdet(A),
        L,
        np.linalg.solve(L, B),
        np.linalg.solve(np.swapaxes(L, -1, -2), V),
    ]
    graph = gc.Graph([a, b, v], outs)
    for g, e, w in zip(compiled(graph, A, B, V), outputs(graph, A, B, V), want):
        assert_close(g, np.asarray(w, dtype=dtype), RTOL[dtype] * n)
        assert_close(e, np.asarray(w, dtype=dtype), RTOL[dtype] * n)


def test_vmap_of_linalg_functions_is_one_node_for_the_whole_batch():
    # A batch of matrices becomes a stack; a batch of right-hand sides for one matrix becomes
    # the columns of one solve.
    a, bs = gc.tensor("a", (5, 3, 3)), gc.tensor("bs", (5, 3))
    m = gc.matrix("m", 3, 3)
    dets = gc.vmap(gc.linalg.det)(a)
    solved = gc.vmap(lambda b: gc.linalg.solve(m, b))(bs)
    graph = gc.Graph([a, bs, m], [dets, solved])
    assert [n.op for n in graph.nodes].count("det") == 1
    (solve,) = [n for n in graph.nodes if n.op == "solve"]
    assert solve.args[1].shape == (3, 5)  # five columns
    A, B, M = RNG.standard_normal((5, 3, 3)), RNG.standard_normal((5, 3)), invertible(3)
    got = compiled(graph, A, B, M)
    np.testing.assert_allclose(got[0], np.linalg.det(A), rtol=1e-12)
    np.testing.assert_allclose(got[1], np.linalg.solve(M, B.T).T, rtol=1e-12)


def test_size_zero_matrices_follow_numpy():
    a, b = gc.matrix("a", 0, 0), gc.tensor("b", (0, 2))
    graph = gc.Graph(
        [a, b], [gc.linalg.det(a), *gc.linalg.slogdet(a), gc.linalg.solve(a, b), gc.linalg.inv(a)]
    )
    args = (np.zeros((0, 0)), np.zeros((0, 2)))
    for got in (compiled(graph, *args), outputs(graph, *args)):
        assert float(got[0]) == 1.0 and float(got[1]) == 1.0 and float(got[2]) == 0.0
        assert np.shape(got[3]) == (0, 2) and np.shape(got[4]) == (0, 0)


# -- pivoting and singular matrices ----------------------------------------------------------------


def test_pivoting_permutation_matrices():
    a = gc.matrix("a", 3, 3)
    b = gc.vector("b", 3)
    graph = gc.Graph([a, b], [gc.linalg.det(a), gc.linalg.solve(a, b), *gc.linalg.slogdet(a)])
    for perm in ([1, 0, 2], [1, 2, 0], [2, 1, 0], [0, 1, 2]):
        P = np.eye(3)[perm] * np.array([1.0, 2.0, -4.0])[:, None]
        x = np.array([1.0, -2.0, 3.0])
        det, sol, sign, logdet = compiled(graph, P, x)
        assert det == pytest.approx(np.linalg.det(P), rel=1e-15)
        assert sign == np.linalg.slogdet(P)[0] and logdet == pytest.approx(np.log(8.0))
        np.testing.assert_allclose(sol, np.linalg.solve(P, x), rtol=1e-15)


def singular():
    return np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])


def test_singular_matrix_determinants_agree_with_numpy():
    a = gc.matrix("a", 3, 3)
    graph = gc.Graph([a], [gc.linalg.det(a), *gc.linalg.slogdet(a)])
    for got in (compiled(graph, singular()), outputs(graph, singular())):
        assert float(got[0]) == 0.0 and not np.signbit(got[0])  # +0.0, as numpy's
        assert float(got[1]) == 0.0 and not np.signbit(got[1]) and float(got[2]) == -np.inf
    zero = np.zeros((3, 3))
    assert compiled(graph, zero) == [0.0, 0.0, -np.inf]


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda a, v: gc.linalg.solve(a, v), "solve: Singular matrix"),
        (lambda a, v: gc.linalg.inv(a), "inv: Singular matrix"),
        (lambda a, v: gc.linalg.cholesky(a), "cholesky: Matrix is not positive definite"),
        (
            lambda a, v: gc.linalg.solve_triangular(a, v, lower=True),
            "solve_triangular: singular matrix: zero on the diagonal at index 2",
        ),
    ],
)
def test_evaluator_raises_where_numpy_does_and_compiled_code_gives_nan_or_inf(build, message):
    a, v = gc.matrix("a", 3, 3), gc.vector("v", 3)
    graph = gc.Graph([a, v], build(a, v))
    bad = singular()
    bad[2, 2] = 0.0  # lower triangle singular too; indefinite for Cholesky
    with pytest.raises(gc.linalg.LinAlgError, match=message):
        gc.evaluate(graph, bad, np.ones(3))
    (got,) = compiled(graph, bad, np.ones(3))
    assert not np.all(np.isfinite(got))


def test_cholesky_of_an_indefinite_matrix_is_nan_from_the_failing_pivot_on():
    a = gc.matrix("a", 3, 3)
    (got,) = compiled(gc.Graph([a], gc.linalg.cholesky(a)), np.diag([4.0, -1.0, 9.0]))
    assert got[0, 0] == 2.0 and np.isnan(got[1, 1]) and np.isnan(got[2, 2])


def test_a_constant_singular_matrix_fails_at_compile_time_naming_the_op():
    # Constant folding evaluates the op, which raises as numpy does: early and clear.
    v = gc.vector("v", 3)
    graph = gc.Graph([v], gc.linalg.inv(gc.constant(singular())) @ v)
    with pytest.raises(gc.linalg.LinAlgError, match="inv: Singular matrix"):
        gc.compile(graph)


# -- derivatives -----------------------------------------------------------------------------------


def gradient_check(f, point, rtol=1e-6):
    x = gc.tensor("x", point.shape)
    y = f(x)
    (g,) = outputs(gc.Graph([x], [gc.grad(y, x)]), point)
    fd = numeric_vjp(lambda p: outputs(gc.Graph([x], [y]), p)[0], [point], np.array(1.0), [0])
    np.testing.assert_allclose(g, fd[0], rtol=rtol, atol=rtol * 1e-2)
    return g


def test_cholesky_gradient_through_a_symmetric_input():
    S = spd(4)
    W = RNG.standard_normal((4, 4))
    g = gradient_check(lambda s: gc.sum(gc.linalg.cholesky((s + s.T) * 0.5) * W), S)
    np.testing.assert_allclose(g, g.T, rtol=1e-12)  # symmetric use, symmetric gradient


def test_cholesky_gradient_counts_the_lower_triangle_only():
    S = spd(4)
    W = RNG.standard_normal((4, 4))
    g = gradient_check(lambda s: gc.sum(gc.linalg.cholesky(s) * W), S)
    assert not np.triu(g, 1).any()


def test_log_determinant_two_ways_and_its_hessian():
    S = spd(4)
    via_cholesky = gradient_check(
        lambda s: 2.0 * gc.sum(gc.log(gc.linalg.cholesky(s).reshape(16)[::5])), S
    )
    via_slogdet = gradient_check(lambda s: gc.linalg.slogdet(s).logabsdet, S)
    inv = np.linalg.inv(S)
    np.testing.assert_allclose(via_slogdet, inv.T, rtol=1e-12)
    np.testing.assert_allclose(via_cholesky, np.tril(2 * inv - np.diag(np.diag(inv))), rtol=1e-10)
    # d2 log det / dS dS [E] = -S^-1 E S^-1 (the rules build differentiable nodes).
    x = gc.matrix("x", 4, 4)
    e = RNG.standard_normal((4, 4))
    hv = gc.hvp(gc.linalg.slogdet(x).logabsdet, x, e)
    (got,) = compiled(gc.Graph([x], [hv]), S)
    np.testing.assert_allclose(got, -(inv @ e @ inv).T, rtol=1e-10)


@pytest.mark.parametrize(
    "f",
    [
        lambda a: gc.linalg.solve(a, gc.constant(np.arange(3.0))),
        lambda a: gc.linalg.inv(a),
        lambda a: gc.linalg.det(a),
        lambda a: gc.linalg.cholesky(a @ a.T),
        lambda a: gc.linalg.solve_triangular(a, a, lower=False),
    ],
    ids=["solve", "inv", "det", "cholesky", "solve_triangular"],
)
def test_forward_and_reverse_jacobians_agree_compiled(f):
    a = gc.matrix("a", 3, 3)
    y = f(a)
    graph = gc.Graph([a], [gc.jacobian(y, a, mode="fwd"), gc.jacobian(y, a, mode="rev")])
    fwd, rev = compiled(graph, RNG.standard_normal((3, 3)) + 4 * np.eye(3))
    np.testing.assert_allclose(fwd, rev, rtol=1e-10, atol=1e-12)


def test_hessian_of_the_gaussian_log_likelihood_in_the_mean():
    # Second derivatives through cholesky and solve_triangular: d2/dmu2 = -n C^-1.
    n, d = 30, 3
    data = RNG.standard_normal((n, d))
    mu, s = gc.vector("mu", d), gc.matrix("s", d, d)
    chol = gc.linalg.cholesky(s)
    z = gc.linalg.solve_triangular(chol, (data - mu).T, lower=True)
    loglik = -0.5 * gc.sum(z * z)
    S = spd(d)
    (h,) = compiled(gc.Graph([mu, s], [gc.hessian(loglik, mu)]), np.zeros(d), S)
    np.testing.assert_allclose(h, -n * np.linalg.inv(S), rtol=1e-10)


def test_graphs_with_linalg_ops_serialise_and_compiled_functions_pickle():
    import pickle

    from graphc.serialize import from_dict, to_dict

    a, b = gc.matrix("a", 3, 3), gc.matrix("b", 3, 2)
    x = gc.linalg.solve_triangular(gc.linalg.cholesky(a), b, trans="T", lower=True)
    graph = gc.Graph(
        [a, b],
        [x, gc.linalg.det(a), make("lu_solve", (make("lu_factor", (a,)), b), Attrs(trans=True))],
    )
    again = from_dict(to_dict(graph))
    S, B = spd(3), RNG.standard_normal((3, 2))
    for got, want in zip(outputs(again, S, B), outputs(graph, S, B)):
        np.testing.assert_array_equal(got, want)
    fn = pickle.loads(pickle.dumps(gc.compile(graph)))
    for got, want in zip(fn(S, B), outputs(graph, S, B)):
        assert_close(got, want, 1e-12)
    document = to_dict(graph)
    for record in document["nodes"]:
        if record["op"] == "lu_solve":
            record["attrs"]["trans"] = "yes"
    with pytest.raises(TypeError, match="trans must be a bool"):
        from_dict(document)


def test_det_gradient_is_cofactors():
    A = invertible(4)
    g = gradient_check(gc.linalg.det, A)
    np.testing.assert_allclose(g, np.linalg.det(A) * np.linalg.inv(A).T, rtol=1e-10)


# -- lowering ----------------------------------------------------------------------------------


def lowered(graph):
    optimized = passes.run(graph).graph
    return passes.run(optimized, passes.LOWERING_PIPELINE).graph


def count(graph, op):
    return sum(1 for node in graph.nodes if node.op == op)


def test_solve_with_a_transpose_uses_the_factor_of_the_matrix():
    a, b = gc.matrix("a", 4, 4), gc.vector("b", 4)
    graph = lowered(gc.Graph([a, b], gc.linalg.solve(a.T, b)))
    (solve,) = [n for n in graph.nodes if n.op == "lu_solve"]
    assert solve.attrs["trans"] and solve.args[0].op == "lu_factor"
    assert solve.args[0].args[0] is graph.inputs[0]  # A itself, not a transposed copy
    assert count(graph, "solve") == 0 and count(graph, "transpose") == 0


def test_solve_and_its_gradient_share_one_factorisation():
    a, b = gc.matrix("a", 4, 4), gc.vector("b", 4)
    x = gc.linalg.solve(a, b)
    graph = gc.Graph([a, b], [x, *gc.grad(gc.sum(x * x), [a, b])])
    low = lowered(graph)
    assert count(low, "lu_solve") == 2  # x = A^-1 b and b_bar = A^-T x_bar
    # Both expand to a factorisation of A; the lowering pipeline's CSE keeps one.
    assert count(low, "lu_factor") == 1
    A, B = invertible(4), RNG.standard_normal(4)
    for got, want in zip(compiled(graph, A, B), outputs(graph, A, B)):
        assert_close(got, want, 1e-12)


SPARSITY = {
    # name: (build from x of 36 elements, exact: whether the pattern is the dense Jacobian's)
    "solve": (lambda x: gc.linalg.solve(stack_of(x[:18]), x[18:30].reshape(2, 3, 2)), True),
    "solve vector": (lambda x: gc.linalg.solve(stack_of(x[:18]), x[18:21]), True),
    "inv": (lambda x: gc.linalg.inv(stack_of(x[:18])), True),
    "det": (lambda x: gc.linalg.det(stack_of(x[:18])), True),
    "cholesky": (lambda x: gc.linalg.cholesky(stack_of(x[:18])), False),  # upper: zeros
    "solve_triangular": (
        lambda x: gc.linalg.solve_triangular(stack_of(x[18:36]), x[:6].reshape(3, 2), lower=True),
        False,  # the upper triangle is not read
    ),
    "matmul stacks": (lambda x: x[:12].reshape(2, 2, 3) @ x[12:30].reshape(2, 3, 3), True),
    "matmul vector": (lambda x: x[:3] @ x[12:30].reshape(2, 3, 3), True),
}


def stack_of(x):
    """Two well-conditioned 3 x 3 matrices (SPD-dominant) from 18 elements."""
    return x.reshape(2, 3, 3) + 9.0 * np.eye(3)


@pytest.mark.parametrize("name", sorted(SPARSITY))
def test_sparsity_patterns_of_linalg_ops_contain_the_dense_jacobians_nonzeros(name):
    from graphc.sparsity import jacobian_pattern

    build, exact = SPARSITY[name]
    x = gc.vector("x", 36)
    y = build(x)
    rows, cols = jacobian_pattern(y, x)
    pattern = np.zeros((y.size, 36), dtype=bool)
    pattern[rows, cols] = True
    point = RNG.uniform(0.5, 1.5, 36)
    (jac,) = outputs(gc.Graph([x], [gc.jacobian(y, x)]), point)
    nonzero = jac.reshape(y.size, 36) != 0
    assert not np.any(nonzero & ~pattern)  # every dependence is in the pattern
    if exact:
        np.testing.assert_array_equal(pattern, nonzero)


def test_lowering_ops_refuse_derivatives():
    a = gc.matrix("a", 3, 3)
    lu = make("lu_factor", (a,))
    with pytest.raises(TypeError, match="lu_factor: this op exists only in graphs being lowered"):
        gc.grad(gc.sum(lu), a)
    b = gc.matrix("b", 3, 3)
    with pytest.raises(TypeError, match="lu_solve: this op exists only"):
        gc.jvp(make("lu_solve", (lu, b), Attrs(trans=False)), b, np.ones((3, 3)))


# -- errors and dtypes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build, error, message",
    [
        (lambda: gc.linalg.inv(gc.matrix("m", 2, 3)), ValueError, r"inv: expected a square"),
        (
            lambda: gc.linalg.det(gc.tensor("t", (2, 3, 4))),
            ValueError,
            r"det: expected a square matrix \(n, n\) or a stack of them \(\.\.\., n, n\), got "
            r"shape \(2, 3, 4\)",
        ),
        (
            lambda: gc.linalg.solve(gc.matrix("m", 3, 3), gc.vector("v", 4)),
            ValueError,
            r"solve: the right-hand side must have shape \(3,\) or \(\.\.\., 3, k\) .* got \(4,\)",
        ),
        (
            lambda: gc.linalg.solve(gc.tensor("m", (2, 3, 3)), gc.tensor("b", (4, 3, 1))),
            ValueError,
            r"solve: the stacks of shapes \(2, 3, 3\) and \(4, 3, 1\) .* do not broadcast",
        ),
        (
            lambda: gc.linalg.solve_triangular(gc.matrix("m", 3, 3), gc.vector("v", 3), "X"),
            ValueError,
            "trans must be",
        ),
        (
            lambda: make("cholesky", (gc.matrix("m", 2, 2, "int64"),)),
            TypeError,
            "cholesky: operands must be float32 or float64",
        ),
        (
            lambda: make(
                "solve_triangular",
                (gc.matrix("m", 2, 2), gc.vector("v", 2)),
                Attrs(lower=1, unit_diagonal=False),
            ),
            TypeError,
            "lower must be a bool",
        ),
        (lambda: gc.linalg.norm(gc.matrix("m", 2, 2), "nuc"), NotImplementedError, "singular"),
        (lambda: gc.linalg.norm(gc.vector("v", 2), "fro"), ValueError, "invalid norm order"),
        (lambda: gc.linalg.norm(gc.tensor("t", (2, 2, 2)), 1), ValueError, "1-D or 2-D"),
        (lambda: gc.linalg.trace(gc.vector("v", 3)), ValueError, "at least 2 dimensions"),
    ],
)
def test_bad_input_raises_at_build_time(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_dtypes_convert_as_numpy():
    i = gc.matrix("i", 2, 2, "int64")
    f32, f64 = gc.matrix("f", 2, 2, "float32"), gc.vector("g", 2, "float64")
    assert gc.linalg.inv(i).dtype == "float64"
    assert gc.linalg.det(f32).dtype == "float32"
    assert gc.linalg.solve(f32, f64).dtype == "float64"
    assert gc.linalg.norm(i).dtype == "float64"
    got = gc.evaluate(gc.Graph([i], gc.linalg.inv(i)), np.array([[2, 0], [0, 4]]))
    np.testing.assert_array_equal(got, [[0.5, 0], [0, 0.25]])


# -- norm and trace ------------------------------------------------------------------------------

NORMS = [
    ((5,), {}),
    ((5,), {"ord": 1}),
    ((5,), {"ord": np.inf}),
    ((5,), {"ord": -np.inf}),
    ((5,), {"ord": 0}),
    ((5,), {"ord": 3}),
    ((5,), {"ord": 2, "keepdims": True}),
    ((3, 4), {}),
    ((3, 4), {"ord": "fro"}),
    ((3, 4), {"ord": 1}),
    ((3, 4), {"ord": -1}),
    ((3, 4), {"ord": np.inf}),
    ((3, 4), {"ord": -np.inf, "keepdims": True}),
    ((2, 3, 4), {}),
    ((2, 3, 4), {"axis": 1}),
    ((2, 3, 4), {"axis": -1, "ord": 1, "keepdims": True}),
    ((2, 3, 4), {"axis": (2, 0)}),
    ((2, 3, 4), {"axis": (2, 1), "ord": 1}),
    ((2, 3, 4), {"axis": (0, 2), "ord": np.inf, "keepdims": True}),
]


@pytest.mark.parametrize("shape, kwargs", NORMS, ids=[f"{s}-{k}" for s, k in NORMS])
def test_norm_matches_numpy_with_gradients(shape, kwargs):
    x = gc.tensor("x", shape)
    y = gc.linalg.norm(x, **kwargs)
    point = RNG.standard_normal(shape)
    graph = gc.Graph([x], [y, gc.grad(gc.sum(y), x)])
    want = np.linalg.norm(point, **kwargs)
    got, grad = compiled(graph, point)
    np.testing.assert_allclose(got, want, rtol=1e-13)
    np.testing.assert_allclose(outputs(graph, point)[0], want, rtol=1e-14)
    fd = numeric_vjp(lambda p: np.linalg.norm(p, **kwargs), [point], np.ones(np.shape(want)), [0])
    np.testing.assert_allclose(grad, fd[0], rtol=1e-6, atol=1e-8)


def test_norm_at_zero_has_zero_gradient_and_nan_propagates():
    x = gc.vector("x", 3)
    graph = gc.Graph([x], [gc.linalg.norm(x), gc.grad(gc.linalg.norm(x), x)])
    assert compiled(graph, np.zeros(3))[0] == 0.0
    np.testing.assert_array_equal(compiled(graph, np.zeros(3))[1], np.zeros(3))
    value, grad = compiled(graph, np.array([np.nan, 1.0, 2.0]))
    assert np.isnan(value)


@pytest.mark.parametrize("shape", [(3, 4), (4, 3), (2, 3, 3)])
@pytest.mark.parametrize("offset", [0, 1, -1, 3, -5])
def test_trace_matches_numpy(shape, offset):
    x = gc.tensor("x", shape)
    y = gc.linalg.trace(x, offset=offset)
    point = RNG.standard_normal(shape)
    want = np.linalg.trace(point, offset=offset)
    graph = gc.Graph([x], [y, gc.grad(gc.sum(y), x)])
    value, grad = compiled(graph, point)
    np.testing.assert_allclose(value, want, rtol=1e-14)
    expected = np.zeros(shape)
    rows, cols = shape[-2:]
    for i in range(rows):
        if 0 <= i + offset < cols:
            expected[..., i, i + offset] = 1.0
    np.testing.assert_array_equal(grad, expected)


# -- batched matmul and dot ------------------------------------------------------------------------

BATCHED = [
    ((5, 3, 4), (5, 4, 2)),
    ((5, 3, 4), (4, 2)),
    ((3, 4), (5, 4, 2)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((1, 3, 4), (6, 4, 2)),
    ((4,), (5, 4, 2)),
    ((5, 3, 4), (4,)),
    ((2, 5, 1, 4), (5, 4, 7)),
    ((0, 3, 4), (4, 2)),
    ((5, 3, 0), (5, 0, 2)),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("sa, sb", BATCHED, ids=[f"{a}@{b}" for a, b in BATCHED])
def test_batched_matmul_compiled_with_gradients(sa, sb, dtype):
    a, b = gc.tensor("a", sa, dtype), gc.tensor("b", sb, dtype)
    y = a @ b
    A, B = RNG.standard_normal(sa).astype(dtype), RNG.standard_normal(sb).astype(dtype)
    u = RNG.standard_normal(y.shape).astype(dtype)
    graph = gc.Graph([a, b], [y, *gc.vjp(y, [a, b], u)])
    got = compiled(graph, A, B)
    rtol = 1e-12 if dtype == "float64" else 1e-4
    assert_close(got[0], A @ B, rtol)
    for g, e in zip(got, outputs(graph, A, B)):
        assert_close(g, e, rtol)
    if dtype == "float64" and A.size and B.size:
        fd = numeric_vjp(np.matmul, [A, B], u, [0, 1])
        for g, f in zip(got[1:], fd):
            np.testing.assert_allclose(g, f, rtol=1e-6, atol=1e-8)


def test_batched_matmul_through_transposed_views_and_jvp():
    x = gc.tensor("x", (3, 4, 5))
    t = gc.tensor("t", (3, 4, 5))
    y = gc.matmul(x.transpose(0, 2, 1), x[:, :, ::-1])  # (3, 5, 4) @ (3, 4, 5)
    graph = gc.Graph([x, t], [y, gc.jvp(y, x, t)])
    X, T = RNG.standard_normal((3, 4, 5)), RNG.standard_normal((3, 4, 5))
    got = compiled(graph, X, T)
    Xt, Xr, Tt, Tr = X.transpose(0, 2, 1), X[:, :, ::-1], T.transpose(0, 2, 1), T[:, :, ::-1]
    assert_close(got[0], Xt @ Xr, 1e-12)
    assert_close(got[1], Tt @ Xr + Xt @ Tr, 1e-12)


def test_matmul_errors_name_the_shapes():
    with pytest.raises(
        ValueError, match=r"batch axes \(all but the last two\) \(5,\) and \(4,\) do not"
    ):
        gc.tensor("a", (5, 3, 4)) @ gc.tensor("b", (4, 4, 2))
    with pytest.raises(ValueError, match=r"second-to-last axis of the second \(3\)"):
        gc.tensor("a", (5, 3, 4)) @ gc.tensor("b", (5, 3, 2))
    with pytest.raises(ValueError, match="use \\* to multiply by a scalar"):
        gc.matmul(gc.vector("v", 3), 2.0)
    with pytest.raises(ValueError, match="dot: shapes"):
        gc.dot(gc.matrix("m", 2, 3), gc.tensor("t", (4, 2, 5)))


@pytest.mark.parametrize(
    "sa, sb",
    [((), (3, 4)), ((3, 4), ()), ((2, 3), (3, 4)), ((2, 3, 4), (4,)), ((2, 3), (5, 3, 2)),
     ((2, 2, 3), (4, 3, 5)), ((3,), (2, 3, 4))],
)  # fmt: skip
def test_dot_is_numpys(sa, sb):
    a, b = gc.tensor("a", sa), gc.tensor("b", sb)
    A, B = RNG.standard_normal(sa), RNG.standard_normal(sb)
    y = gc.dot(a, b)
    (got,) = compiled(gc.Graph([a, b], [y]), A, B)
    assert_close(got, np.dot(A, B), 1e-12)
    (g,) = outputs(gc.Graph([a, b], [gc.grad(gc.sum(y), a)]), A, B)
    fd = numeric_vjp(np.dot, [A, B], np.ones(np.shape(np.dot(A, B))), [0])
    np.testing.assert_allclose(g, fd[0], rtol=1e-6, atol=1e-8)
    assert gc.dot(a, 2.0).dtype == "float64"
