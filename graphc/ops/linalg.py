"""Linear algebra: matrix products and the dense factorisations behind ``gc.linalg``.

**matmul**, numpy's semantics: ``(m, k) @ (k, n) -> (m, n)``, ``(k,) @ (k, n) -> (n,)``,
``(m, k) @ (k,) -> (m,)``, ``(k,) @ (k,) -> ()``; operands of three or more dimensions are
stacks of matrices whose leading (batch) axes broadcast as numpy's do: ``(5, 3, 4) @ (4, 2) ->
(5, 3, 2)``, ``(3, 4) @ (5, 4, 2) -> (5, 3, 2)``, ``(2, 1, 3, 4) @ (5, 4, 2) -> (2, 5, 3, 2)``.
A 1-D operand is one row (left) or column (right), never batched; scalars raise (use ``*``).
Derivative rules use transposes, which lowering reads as strided views and constant folding
turns into constants (so ``A.T`` of a symmetric constant ``A`` merges with ``A``); in reverse
mode a broadcast batch axis sums its cotangents (``unbroadcast``).

**Factorisations**, of one static-shape square matrix (no stacks), float32 or float64 with
every operand of one dtype (``graphc.linalg`` converts others as numpy does). The user's ops:

- ``solve(A, b)`` (``b`` of shape ``(n,)`` or ``(n, k)``), ``inv``, ``det``, ``slogdet_sign``,
  ``logabsdet``: evaluated by numpy (LAPACK); derivatives through the solution and ``A^-T``.
  They lower by *expansion* into three ops that exist only after the ``expand`` pass:
  ``lu_factor(A)``, of shape ``(n + 1, n)``: ``P A = L U`` packed as LAPACK's getrf packs it
  (unit ``L`` below the diagonal, ``U`` on and above it) and, in row ``n``, the pivots as floats
  (at step ``k`` row ``k`` was swapped with row ``pivots[k]``; exact: ``n < 2**24``);
  ``lu_solve(lu, b, trans)`` (``A x = b``, or ``A^T x = b``) and ``lu_inv(lu)``. A solve with
  ``A.T`` (what reverse mode builds) factors ``A`` itself, so one factorisation can serve both.
  ``det``/``slogdet`` are the product / sum of logs of ``U``'s diagonal and the pivots' sign.
- ``cholesky(A)``: the lower factor, reading only ``A``'s lower triangle (as numpy does, so its
  derivative is that function's: zero in the strict upper triangle; Murray's adjoint, 2016).
- ``solve_triangular(A, b, lower, unit_diagonal)``: reads one triangle of ``A`` (and not its
  diagonal when ``unit_diagonal``), scipy's semantics; its evaluator is a substitution in numpy.

The loop nests of ``lu_factor``, ``lu_solve``, ``lu_inv``, ``cholesky`` and ``solve_triangular``
are in :mod:`graphc.ops.linalg_kernels`. Singular input: ``gc.evaluate`` raises numpy's
``LinAlgError`` (naming the op) where numpy does (solve, inv, cholesky; solve_triangular at a
zero diagonal, like scipy), and returns ``det = 0``, ``slogdet = (0, -inf)`` as numpy does.
Compiled code cannot raise: it completes the same elimination (a zero pivot is not divided by,
as LAPACK's getrf), so ``det``/``slogdet`` agree with numpy and a solve or inverse holds
``inf``/``nan``; a matrix that is not positive definite gives ``nan`` in ``cholesky``.
"""

from __future__ import annotations

import math

import numpy as np

from graphc import dsl, dtypes  # dsl is complete here: graphc.node imports it first
from graphc.node import Attrs, Node
from graphc.ops import linalg_kernels
from graphc.ops.base import OpDef, add_tangents, is_differentiable, make, register, unbroadcast
from graphc.shapes import broadcast, fmt

# == matmul ===================================================================================


def _infer_matmul(args, attrs):
    a, b = args
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(
            f"matmul: operands must have at least 1 dimension, got shapes {fmt(a.shape)} and "
            f"{fmt(b.shape)}; use * to multiply by a scalar"
        )
    inner_a = a.shape[-1]
    inner_b = b.shape[-2] if b.ndim >= 2 else b.shape[0]
    if inner_a != inner_b:
        which = "second-to-last" if b.ndim > 2 else "first"
        raise ValueError(
            f"matmul: shapes {fmt(a.shape)} and {fmt(b.shape)} are not aligned: the last axis of "
            f"the first ({inner_a}) must equal the {which} axis of the second ({inner_b})"
        )
    if a.dtype == dtypes.BOOL or b.dtype == dtypes.BOOL:
        raise TypeError(f"matmul: boolean operands ({a.dtype}, {b.dtype}); expected numbers")
    try:
        batch = broadcast("matmul", a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(
            f"matmul: shapes {fmt(a.shape)} and {fmt(b.shape)}: their batch axes (all but the "
            f"last two) {fmt(a.shape[:-2])} and {fmt(b.shape[:-2])} do not broadcast"
        ) from None
    shape = batch + a.shape[-2:-1] + (b.shape[-1:] if b.ndim >= 2 else ())
    return shape, dtypes.promote(a.dtype, b.dtype)


def _eval_matmul(node, a, b):
    return np.asarray(np.matmul(a.astype(node.dtype), b.astype(node.dtype)), dtype=node.dtype)


def _cast(ct, like):
    return ct if ct.dtype == like.dtype else dsl.astype(ct, like.dtype)


def _outer(u, v):
    return dsl.reshape(u, (u.shape[0], 1)) * dsl.reshape(v, (1, v.shape[0]))


def _swap_last(x: Node) -> Node:
    """``x`` with its last two axes exchanged (each matrix of a stack transposed): a view."""
    return dsl.transpose(x, tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2))


def _scaled(ct):
    """``(s, v)`` when the cotangent is a scalar times a vector or matrix ``v``, else None."""
    if ct.op == "mul":
        first, second = ct.args
        for s, v in ((first, second), (second, first)):
            if s.shape == () and v.shape == ct.shape and v.dtype == ct.dtype == s.dtype:
                return s, v
    return None


def _matmul_vjp(node, ct):
    # A matrix product is linear, so when the cotangent is a scalar times v (as the cotangent of
    # x in x @ y is) the rule transposes v and scales the result: (s v) M^T is built as
    # s (v M^T). Both are the derivative, rounded differently; the second shares its product
    # with the forward pass when v is an operand of it (x^T A x with A symmetric: one pass
    # over A gives f and its gradient).
    scaled = _scaled(ct)
    if scaled is not None and node.ndim > 0 and all(x.dtype == node.dtype for x in node.args):
        s, v = scaled
        return tuple(None if c is None else c * s for c in _matmul_vjp(node, v))
    a, b = node.args
    if a.ndim > 2 or b.ndim > 2:
        return _batched_matmul_vjp(node, ct)
    if a.ndim == 2 and b.ndim == 2:
        ct_a, ct_b = lambda: ct @ dsl.transpose(b), lambda: dsl.transpose(a) @ ct
    elif a.ndim == 1 and b.ndim == 2:
        ct_a, ct_b = lambda: ct @ dsl.transpose(b), lambda: _outer(a, ct)
    elif a.ndim == 2 and b.ndim == 1:
        ct_a, ct_b = lambda: _outer(ct, b), lambda: ct @ a
    else:
        ct_a, ct_b = lambda: ct * b, lambda: ct * a
    return (
        _cast(ct_a(), a) if is_differentiable(a) else None,
        _cast(ct_b(), b) if is_differentiable(b) else None,
    )


def _batched_matmul_vjp(node, ct):
    """Stacks of matrices: each 1-D operand as a one-row (left) or one-column (right) matrix,
    the product's rule per matrix of the stack, and the batch axes an operand was broadcast
    along summed away (``unbroadcast``)."""
    a, b = node.args
    a2 = a if a.ndim >= 2 else dsl.reshape(a, (1, a.shape[0]))
    b2 = b if b.ndim >= 2 else dsl.reshape(b, (b.shape[0], 1))
    batch = broadcast("matmul", a2.shape[:-2], b2.shape[:-2])
    ct2 = dsl.reshape(ct, batch + (a2.shape[-2], b2.shape[-1]))
    ct_a = ct_b = None
    if is_differentiable(a):
        ct_a = dsl.reshape(unbroadcast(ct2 @ _swap_last(b2), a2), a.shape)
    if is_differentiable(b):
        if b.ndim == 2:
            # One matrix against a stack: b_bar = sum over the stack of a_i^T ct_i, which is
            # one product of the stack's rows, (B m, k)^T @ (B m, n), with no (B, k, n)
            # intermediate to sum (the sum is in another order: the same value, rounded
            # differently).
            rows = math.prod(a2.shape[:-1])
            flat_a = dsl.reshape(a2, (rows, a2.shape[-1]))
            flat_ct = dsl.reshape(ct2, (rows, ct2.shape[-1]))
            ct_b = _cast(dsl.transpose(flat_a) @ flat_ct, b)
        else:
            ct_b = dsl.reshape(unbroadcast(_swap_last(a2) @ ct2, b2), b.shape)
    return ct_a, ct_b


def _matmul_jvp(node, tangents):
    (a, b), (ta, tb) = node.args, tangents
    return add_tangents(
        dsl.astype(ta @ b, node.dtype) if ta is not None else None,
        dsl.astype(a @ tb, node.dtype) if tb is not None else None,
    )


register(OpDef("matmul", "matmul", _infer_matmul, _eval_matmul, _matmul_vjp, _matmul_jvp))


# == factorisations: shape rules ==============================================================


def _check_square(op: str, a: Node) -> int:
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        stack = " (stacks of matrices are not supported)" if a.ndim > 2 else ""
        raise ValueError(f"{op}: expected a square matrix (n, n), got shape {fmt(a.shape)}{stack}")
    return a.shape[0]


def _check_floats(op: str, *args: Node) -> str:
    dtype = args[0].dtype
    if dtype not in dtypes.FLOATS or any(a.dtype != dtype for a in args):
        raise TypeError(
            f"{op}: operands must be float32 or float64, all of one dtype, got "
            f"{', '.join(a.dtype for a in args)} (gc.linalg.{op} converts them as numpy does)"
        )
    return dtype


def _check_rhs(op: str, a: Node, b: Node) -> None:
    n = a.shape[0]
    if b.ndim not in (1, 2) or b.shape[0] != n:
        raise ValueError(
            f"{op}: the right-hand side must have shape ({n},) or ({n}, k) for a matrix of shape "
            f"{fmt(a.shape)}, got {fmt(b.shape)}"
        )


def _infer_square(op: str, scalar: bool = False):
    def infer(args, attrs):
        (a,) = args
        _check_square(op, a)
        return () if scalar else a.shape, _check_floats(op, a)

    return infer


def _infer_system(op: str):
    def infer(args, attrs):
        a, b = args
        _check_square(op, a)
        _check_rhs(op, a, b)
        return b.shape, _check_floats(op, a, b)

    return infer


# == factorisations: numpy references =========================================================


def _numpy(op: str, function):
    """``function`` (numpy's) as an evaluator whose LinAlgError names the op and the shape."""

    def evaluate(node, *arrays):
        try:
            result = function(*arrays)
        except np.linalg.LinAlgError as error:
            shape = fmt(arrays[0].shape)
            raise np.linalg.LinAlgError(f"{op}: {error} (a matrix of shape {shape})") from None
        return np.asarray(result, dtype=node.dtype)

    return evaluate


def substitute(x: np.ndarray, coef: np.ndarray, lower: bool, unit: bool) -> None:
    """Solve ``T x = x`` in place for the triangle of ``coef`` (rows of ``x`` are unknowns):
    the below-diagonal part when ``lower``, else the above-diagonal part; the diagonal is 1
    when ``unit``. The order (row by row, in index order) is the compiled code's."""
    n = coef.shape[0]
    for i in range(n) if lower else reversed(range(n)):
        part = slice(0, i) if lower else slice(i + 1, n)
        x[i] -= coef[i, part] @ x[part]
        if not unit:
            x[i] /= coef[i, i]


def lu_packed(a: np.ndarray) -> np.ndarray:
    """``lu_factor``'s value: LAPACK getf2's partial pivoting (the first largest magnitude of
    the column wins; a zero pivot is not divided by), packed as the module docstring says."""
    n = a.shape[0]
    packed = np.zeros((n + 1, n), dtype=a.dtype)
    lu = packed[:n]
    lu[:] = a
    for k in range(n):
        p = k + int(np.argmax(np.abs(lu[k:, k])))
        packed[n, k] = p
        lu[[k, p]] = lu[[p, k]]
        if lu[k, k] != 0:
            lu[k + 1 :, k] /= lu[k, k]
        lu[k + 1 :, k + 1 :] -= np.outer(lu[k + 1 :, k], lu[k, k + 1 :])
    return packed


def lu_solve_packed(packed: np.ndarray, b: np.ndarray, trans: bool) -> np.ndarray:
    """``A x = b`` (or ``A^T x = b``) from ``lu_packed(A)``, in the compiled code's order."""
    n = packed.shape[1]
    lu, pivots = packed[:n], packed[n].astype(np.int64)
    x = np.array(b, dtype=packed.dtype)
    rows = x.reshape(n, -1)
    if not trans:  # P A = L U: x = U^-1 L^-1 P b
        for i, p in enumerate(pivots):
            rows[[i, p]] = rows[[p, i]]
        substitute(rows, lu, lower=True, unit=True)
        substitute(rows, lu, lower=False, unit=False)
    else:  # A^T = U^T L^T P: x = P^T L^-T U^-T b
        substitute(rows, lu.T, lower=True, unit=False)
        substitute(rows, lu.T, lower=False, unit=True)
        for i in reversed(range(n)):
            p = pivots[i]
            rows[[i, p]] = rows[[p, i]]
    return x


def _eval_solve_triangular(node, a, b):
    lower, unit = node.attrs["lower"], node.attrs["unit_diagonal"]
    if not unit:
        zeros = np.flatnonzero(np.diagonal(a) == 0)
        if zeros.size:  # scipy's rule
            raise np.linalg.LinAlgError(
                f"solve_triangular: singular matrix: zero on the diagonal at index {zeros[0]} "
                f"(a matrix of shape {fmt(a.shape)})"
            )
    x = np.array(b, dtype=node.dtype)
    substitute(x.reshape(a.shape[0], -1), a, lower, unit)
    return x


# == factorisations: derivative rules =========================================================


def _triangle(n: int, lower: bool, diagonal: bool) -> Node:
    """A boolean constant selecting the lower (or upper) triangle, with or without diagonal."""
    i, j = np.indices((n, n))
    mask = (i > j) if lower else (i < j)
    return dsl.constant(mask | (i == j) if diagonal else mask)


def _keep(x: Node, mask: Node) -> Node:
    """``x`` where ``mask``, else 0 (``where``, so an inf or nan outside the mask is dropped)."""
    return dsl.where(mask, x, 0.0)


def _phi(x: Node) -> Node:
    """Murray's Phi: the lower triangle of ``x`` with its diagonal halved."""
    n = x.shape[0]
    diagonal = dsl.constant(np.eye(n, dtype=bool))
    return dsl.where(_triangle(n, True, False), x, dsl.where(diagonal, x * 0.5, 0.0))


def _times_solution(u: Node, x: Node) -> Node:
    """``u x^T`` for vectors, ``u @ x.T`` for matrices: the shape of ``A`` in ``A x = b``."""
    return _outer(u, x) if x.ndim == 1 else u @ dsl.transpose(x)


def solve(a: Node, b: Node) -> Node:
    return make("solve", (a, b))


def inv(a: Node) -> Node:
    return make("inv", (a,))


def solve_triangular(a: Node, b: Node, lower: bool, unit_diagonal: bool = False) -> Node:
    return make("solve_triangular", (a, b), Attrs(lower=lower, unit_diagonal=unit_diagonal))


def _solve_vjp(node, ct):
    # x = A^-1 b: b_bar = A^-T x_bar, A_bar = -b_bar x^T.
    a, _ = node.args
    ct_b = solve(dsl.transpose(a), ct)
    return -_times_solution(ct_b, node), ct_b


def _solve_jvp(node, tangents):
    # dx = A^-1 (db - dA x)
    (a, _), (ta, tb) = node.args, tangents
    if ta is None and tb is None:
        return None
    if ta is None:
        rhs = tb
    else:
        change = ta @ node
        rhs = -change if tb is None else tb - change
    return solve(a, rhs)


def _inv_vjp(node, ct):
    # Y = A^-1: A_bar = -Y^T Y_bar Y^T
    yt = dsl.transpose(node)
    return (-((yt @ ct) @ yt),)


def _inv_jvp(node, tangents):
    # dY = -Y dA Y
    (ta,) = tangents
    return None if ta is None else -((node @ ta) @ node)


def _det_vjp(node, ct):
    # d det(A) = det(A) tr(A^-1 dA): A_bar = det_bar det(A) A^-T (nan at a singular A).
    return ((ct * node) * dsl.transpose(inv(node.args[0])),)


def _det_jvp(node, tangents):
    (ta,) = tangents
    return None if ta is None else node * dsl.sum(dsl.transpose(inv(node.args[0])) * ta)


def _logabsdet_vjp(node, ct):
    # d log|det A| = tr(A^-1 dA): A_bar = ct A^-T
    return (ct * dsl.transpose(inv(node.args[0])),)


def _logabsdet_jvp(node, tangents):
    (ta,) = tangents
    return None if ta is None else dsl.sum(dsl.transpose(inv(node.args[0])) * ta)


def _cholesky_vjp(node, ct):
    # Murray (2016): with P = Phi(L^T L_bar) and X = L^-T P L^-1, the adjoint of the symmetric
    # matrix is (X + X^T) / 2; the op reads the lower triangle only, so the entry (i, j), i > j,
    # stands for both (i, j) and (j, i): A_bar = Phi(X + X^T). L_bar's upper triangle is
    # dropped (those outputs are constant zeros).
    n = node.shape[0]
    lt = dsl.transpose(node)
    p = _phi(lt @ _keep(ct, _triangle(n, True, True)))
    y = solve_triangular(lt, p, lower=False)  # L^-T P
    x = dsl.transpose(solve_triangular(lt, dsl.transpose(y), lower=False))  # L^-T P L^-1
    return (_phi(x + dsl.transpose(x)),)


def _cholesky_jvp(node, tangents):
    # dL = L Phi(L^-1 dS L^-T), dS the symmetric matrix whose lower triangle is dA's.
    (ta,) = tangents
    if ta is None:
        return None
    n = node.shape[0]
    ds = _keep(ta, _triangle(n, True, True)) + dsl.transpose(_keep(ta, _triangle(n, True, False)))
    z = solve_triangular(node, ds, lower=True)  # L^-1 dS
    w = dsl.transpose(solve_triangular(node, dsl.transpose(z), lower=True))  # L^-1 dS L^-T
    return node @ _phi(w)


def _read_triangle(node: Node) -> Node:
    """The mask of the entries of A that ``solve_triangular`` reads."""
    attrs = node.attrs
    return _triangle(node.args[0].shape[0], attrs["lower"], not attrs["unit_diagonal"])


def _solve_triangular_vjp(node, ct):
    # As solve's, with A^T (a view: the other triangle) and A_bar kept to the triangle read.
    a, _ = node.args
    attrs = node.attrs
    ct_b = solve_triangular(dsl.transpose(a), ct, not attrs["lower"], attrs["unit_diagonal"])
    return -_keep(_times_solution(ct_b, node), _read_triangle(node)), ct_b


def _solve_triangular_jvp(node, tangents):
    (a, _), (ta, tb) = node.args, tangents
    if ta is None and tb is None:
        return None
    attrs = node.attrs
    if ta is None:
        rhs = tb
    else:
        change = _keep(ta, _read_triangle(node)) @ node
        rhs = -change if tb is None else tb - change
    return solve_triangular(a, rhs, attrs["lower"], attrs["unit_diagonal"])


# == factorisations: expansion into the lowering ops ==========================================


def _factor(a: Node) -> tuple[Node, bool]:
    """``lu_factor`` of ``a``, or of ``B`` when ``a`` is ``B.T`` (then True: a transposed use)."""
    if a.op == "transpose":
        return make("lu_factor", (a.args[0],)), True
    return make("lu_factor", (a,)), False


def _expand_solve(node):
    a, b = node.args
    lu, trans = _factor(a)
    return make("lu_solve", (lu, b), Attrs(trans=trans))


def _expand_inv(node):
    lu, trans = _factor(node.args[0])
    inverse = make("lu_inv", (lu,))
    return dsl.transpose(inverse) if trans else inverse  # (A^T)^-1 = (A^-1)^T


def _diagonal_and_sign(node: Node) -> tuple[Node, Node]:
    """U's diagonal (a strided view of the factor) and the permutation's sign, +1 or -1."""
    lu, _ = _factor(node.args[0])  # det(A^T) = det(A)
    n = lu.shape[1]
    flat = dsl.reshape(lu, ((n + 1) * n,))
    diagonal = dsl.slice(flat, ((0, n + 1, n),))
    pivots = dsl.slice(flat, ((n * n, 1, n),))
    swapped = pivots != dsl.constant(np.arange(n, dtype=node.dtype))
    minus, plus = dsl.constant(-1.0, node.dtype), dsl.constant(1.0, node.dtype)
    return diagonal, dsl.prod(dsl.where(swapped, minus, plus))


def _expand_det(node):
    # The product of the pivots, in order. numpy computes sign * exp(sum(log|u_ii|)): equal up
    # to rounding, but the product overflows only when the determinant does... or when a
    # partial product does (1e200 * 1e200 * 1e-300): then inf where numpy has 1e100.
    diagonal, sign = _diagonal_and_sign(node)
    # + 0.0: a singular matrix with an odd permutation gives -0.0, numpy's det +0.0 (its sign
    # is 0); x + 0.0 == x for every other x, nan included.
    return dsl.prod(diagonal) * sign + 0.0


def _expand_slogdet_sign(node):
    diagonal, sign = _diagonal_and_sign(node)
    return dsl.prod(dsl.sign(diagonal)) * sign + 0.0  # +0.0 for a singular matrix, as numpy's


def _expand_logabsdet(node):
    diagonal, _ = _diagonal_and_sign(node)
    return dsl.sum(dsl.log(dsl.abs(diagonal)))  # -inf for a singular matrix, as numpy's


# == the lowering ops' rules ==================================================================


def _lowering_only(node, *_):
    raise TypeError(
        f"{node.op}: this op exists only in graphs being lowered (the expand pass builds it); "
        "differentiate the graph before it is compiled, with gc.linalg's functions"
    )


def _infer_lu_factor(args, attrs):
    (a,) = args
    n = _check_square("lu_factor", a)
    return (n + 1, n), _check_floats("lu_factor", a)


def _check_packed(op: str, lu: Node) -> int:
    if lu.ndim != 2 or lu.shape[0] != lu.shape[1] + 1:
        raise ValueError(f"{op}: expected a packed LU factor (n + 1, n), got {fmt(lu.shape)}")
    return lu.shape[1]


def _infer_lu_solve(args, attrs):
    lu, b = args
    if not isinstance(attrs["trans"], bool):
        raise TypeError(f"lu_solve: trans must be a bool, got {attrs['trans']!r}")
    n = _check_packed("lu_solve", lu)
    if b.ndim not in (1, 2) or b.shape[0] != n:
        raise ValueError(
            f"lu_solve: the right-hand side must have shape ({n},) or ({n}, k) for a factor of "
            f"shape {fmt(lu.shape)}, got {fmt(b.shape)}"
        )
    return b.shape, _check_floats("lu_solve", lu, b)


def _infer_lu_inv(args, attrs):
    (lu,) = args
    n = _check_packed("lu_inv", lu)
    return (n, n), _check_floats("lu_inv", lu)


def _infer_solve_triangular(args, attrs):
    for flag in ("lower", "unit_diagonal"):
        if not isinstance(attrs[flag], bool):
            raise TypeError(f"solve_triangular: {flag} must be a bool, got {attrs[flag]!r}")
    return _infer_system("solve_triangular")(args, attrs)


def _eval_lu_inv(node, packed):
    return lu_solve_packed(packed, np.eye(packed.shape[1], dtype=packed.dtype), False)


register(
    OpDef(
        "solve",
        "linalg",
        _infer_system("solve"),
        _numpy("solve", np.linalg.solve),
        _solve_vjp,
        _solve_jvp,
        arity=2,
        expand=_expand_solve,
    ),
    OpDef(
        "inv",
        "linalg",
        _infer_square("inv"),
        _numpy("inv", np.linalg.inv),
        _inv_vjp,
        _inv_jvp,
        arity=1,
        expand=_expand_inv,
    ),
    OpDef(
        "det",
        "linalg",
        _infer_square("det", scalar=True),
        _numpy("det", np.linalg.det),
        _det_vjp,
        _det_jvp,
        arity=1,
        expand=_expand_det,
    ),
    OpDef(
        "slogdet_sign",
        "linalg",
        _infer_square("slogdet_sign", scalar=True),
        _numpy("slogdet", lambda a: np.linalg.slogdet(a)[0]),
        arity=1,
        expand=_expand_slogdet_sign,
    ),
    OpDef(
        "logabsdet",
        "linalg",
        _infer_square("logabsdet", scalar=True),
        _numpy("slogdet", lambda a: np.linalg.slogdet(a)[1]),
        _logabsdet_vjp,
        _logabsdet_jvp,
        arity=1,
        expand=_expand_logabsdet,
    ),
    OpDef(
        "cholesky",
        "cholesky",
        _infer_square("cholesky"),
        _numpy("cholesky", np.linalg.cholesky),
        _cholesky_vjp,
        _cholesky_jvp,
        lower=linalg_kernels.lower_cholesky,
        arity=1,
    ),
    OpDef(
        "solve_triangular",
        "solve_triangular",
        _infer_solve_triangular,
        _eval_solve_triangular,
        _solve_triangular_vjp,
        _solve_triangular_jvp,
        lower=linalg_kernels.lower_solve_triangular,
        arity=2,
    ),
    OpDef(
        "lu_factor",
        "lu_factor",
        _infer_lu_factor,
        lambda node, a: lu_packed(a),
        _lowering_only,
        _lowering_only,
        lower=linalg_kernels.lower_lu_factor,
        arity=1,
    ),
    OpDef(
        "lu_solve",
        "lu_solve",
        _infer_lu_solve,
        lambda node, lu, b: lu_solve_packed(lu, b, node.attrs["trans"]),
        _lowering_only,
        _lowering_only,
        lower=linalg_kernels.lower_lu_solve,
        arity=2,
    ),
    OpDef(
        "lu_inv",
        "lu_inv",
        _infer_lu_inv,
        _eval_lu_inv,
        _lowering_only,
        _lowering_only,
        lower=linalg_kernels.lower_lu_inv,
        arity=1,
    ),
)
