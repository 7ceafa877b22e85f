"""Linear algebra: matrix products and the dense factorisations behind ``gc.linalg``.

**matmul**, numpy's semantics: ``(m, k) @ (k, n) -> (m, n)``, ``(k,) @ (k, n) -> (n,)``,
``(m, k) @ (k,) -> (m,)``, ``(k,) @ (k,) -> ()``; operands of three or more dimensions are
stacks of matrices whose leading (batch) axes broadcast as numpy's do: ``(5, 3, 4) @ (4, 2) ->
(5, 3, 2)``, ``(3, 4) @ (5, 4, 2) -> (5, 3, 2)``, ``(2, 1, 3, 4) @ (5, 4, 2) -> (2, 5, 3, 2)``.
A 1-D operand is one row (left) or column (right), never batched; scalars raise (use ``*``).
Derivative rules use transposes, which lowering reads as strided views and constant folding
turns into constants (so ``A.T`` of a symmetric constant ``A`` merges with ``A``); in reverse
mode a broadcast batch axis sums its cotangents (``unbroadcast``).

**Factorisations**, of a static-shape square matrix or a stack of them (``(..., n, n)``), float32
or float64 with every operand of one dtype (``graphc.linalg`` converts others as numpy does).
A right-hand side ``b`` is one vector ``(n,)`` (shared by every matrix of a stack) or a stack of
matrices ``(..., n, k)`` whose stack axes broadcast against the matrix's (numpy 2's ``solve``).
The user's ops:

- ``solve(A, b)``, ``inv``, ``det``, ``slogdet_sign``, ``logabsdet``: evaluated by numpy (LAPACK);
  derivatives through the solution and ``A^-T``. They lower by *expansion* into three ops that
  exist only after the ``expand`` pass: ``lu_factor(A)``, of shape ``(..., n + 1, n)``:
  ``P A = L U`` packed as LAPACK's getrf packs it (unit ``L`` below the diagonal, ``U`` on and
  above it) and, in row ``n``, the pivots as floats (at step ``k`` row ``k`` was swapped with
  row ``pivots[k]``; exact: ``n < 2**24``); ``lu_solve(lu, b, trans)`` (``A x = b``, or
  ``A^T x = b``) and ``lu_inv(lu)``. A solve with ``A.T`` (what reverse mode builds) factors
  ``A`` itself, so one factorisation can serve both. ``det``/``slogdet`` are the product / sum
  of logs of ``U``'s diagonal and the pivots' sign.
- ``cholesky(A)``: the lower factor, reading only ``A``'s lower triangle (as numpy does, so its
  derivative is that function's: zero in the strict upper triangle; Murray's adjoint, 2016).
- ``solve_triangular(A, b, lower, unit_diagonal)``: reads one triangle of ``A`` (and not its
  diagonal when ``unit_diagonal``), scipy's semantics; its evaluator is a substitution in numpy.

The loop nests of ``lu_factor``, ``lu_solve``, ``lu_inv``, ``cholesky`` and ``solve_triangular``
are in :mod:`graphc.ops.linalg_kernels`. Every op batches (``gc.vmap``, batched Jacobians) by
moving the batch to the front of its stacks, and a batch of right-hand sides for one matrix
joins the columns of one solve. Sparsity: each element of a result depends on the whole matrix
it was computed from (and, for a solve, on its own column of the right-hand side).

Singular input: ``gc.evaluate`` raises numpy's ``LinAlgError`` (naming the op) where numpy does
(solve, inv, cholesky; solve_triangular at a zero diagonal, like scipy), and returns ``det = 0``,
``slogdet = (0, -inf)`` as numpy does. Compiled code cannot raise: it completes the same
elimination (a zero pivot is not divided by, as LAPACK's getrf), so ``det``/``slogdet`` agree
with numpy and a solve or inverse holds ``inf``/``nan``; a matrix that is not positive definite
gives ``nan`` in ``cholesky``.
"""

from __future__ import annotations

import math

import numpy as np

from graphc import dsl, dtypes  # dsl is complete here: graphc.node imports it first
from graphc.batching import batch_size, moveaxis
from graphc.node import Attrs, Node
from graphc.ops import linalg_kernels
from graphc.ops.base import (
    OPS,
    OpDef,
    add_tangents,
    is_differentiable,
    make,
    rebuild,
    register,
    unbroadcast,
)
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


def _matmul_batch(node, args, axes):
    """One batched operand of 1-D or 2-D products folds into the rows or columns of one 2-D
    product (the matmul kernel runs once over the whole batch); otherwise every entry's
    operands become a stack of matrices with the batch first, and one batched product."""
    (a0, b0), (axis_a, axis_b) = node.args, axes
    if a0.ndim <= 2 and b0.ndim <= 2 and (axis_a is None or axis_b is None):
        return _fold_batch(node, args, axes)
    return _stack_batch(node, args, axes)


def _fold_batch(node, args, axes):
    (a, b), (axis_a, axis_b) = args, axes
    if axis_b is None:
        if a.ndim == 2:  # a batch of vectors: (B, k) @ b, or b^T @ (k, B)
            if axis_a == 0:
                return a @ b, 0
            return (b @ a if b.ndim == 1 else dsl.transpose(b) @ a), 1 if b.ndim == 2 else 0
        if axis_a == 2:
            a = moveaxis(a, 2, 0)
            axis_a = 0
        rows = a.shape[0] * a.shape[1]  # (B, m, k) or (m, B, k): the batch joins the rows
        product = dsl.reshape(a, (rows, a.shape[2])) @ b
        return dsl.reshape(product, a.shape[:2] + b.shape[1:]), axis_a
    if b.ndim == 2:  # a batch of vectors: a @ (k, B), or (B, k) @ a^T
        if axis_b == 1:
            return a @ b, 1 if a.ndim == 2 else 0
        return (b @ a if a.ndim == 1 else b @ dsl.transpose(a)), 0
    if axis_b == 0:
        b = moveaxis(b, 0, 1)
        axis_b = 1
    k = b.shape[0]  # (k, B, n) or (k, n, B): the batch joins the columns
    product = a @ dsl.reshape(b, (k, b.shape[1] * b.shape[2]))
    return dsl.reshape(product, a.shape[:-1] + b.shape[1:]), axis_b - (a.ndim == 1)


def _stack_batch(node, args, axes):
    a0, b0 = node.args
    size = batch_size(args, axes)
    stack = node.ndim - (a0.ndim > 1) - (b0.ndim > 1)  # the node's own stack axes

    def as_stack(x, axis, x0, left):
        x = dsl.reshape(x, (1,) + x.shape) if axis is None else moveaxis(x, axis, 0)
        if x0.ndim > 1:
            own, core = x0.shape[:-2], x0.shape[-2:]
        else:  # a vector: one row on the left, one column on the right
            own, core = (), ((1,) + x0.shape if left else x0.shape + (1,))
        return dsl.reshape(x, x.shape[:1] + (1,) * (stack - len(own)) + own + core)

    left, right = as_stack(args[0], axes[0], a0, True), as_stack(args[1], axes[1], b0, False)
    return dsl.reshape(left @ right, (size,) + node.shape), 0


def _matmul_sparsity(node):
    """Output ``(i, j)`` depends on row ``i`` of ``a`` and column ``j`` of ``b``; where the other
    operand is a constant, only through the elements its nonzeros multiply (``A @ x`` for a
    sparse constant ``A`` has ``A``'s pattern)."""
    a, b = node.args
    if a.ndim > 2 or b.ndim > 2:
        return _stacked_matmul_sparsity(node)
    m, k = (1, a.shape[0]) if a.ndim == 1 else a.shape
    n = 1 if b.ndim == 1 else b.shape[1]

    def nonzero(x, shape):
        if x.op == "const":
            return np.nonzero(x.value.reshape(shape) != 0)
        return np.nonzero(np.ones(shape, dtype=bool))

    def through_a():  # out (i, j) <- a (i, l) for the l with b (l, j) != 0
        ls, js = nonzero(b, (k, n))
        rows = np.arange(m, dtype=np.int64)[:, None]
        return (rows * n + js).reshape(-1), (rows * k + ls).reshape(-1)

    def through_b():  # out (i, j) <- b (l, j) for the l with a (i, l) != 0
        is_, ls = nonzero(a, (m, k))
        cols = np.arange(n, dtype=np.int64)[None, :]
        return (is_[:, None] * n + cols).reshape(-1), (ls[:, None] * n + cols).reshape(-1)

    return (
        through_a if is_differentiable(a) else None,
        through_b if is_differentiable(b) else None,
    )


def _entry_of(stack: tuple[int, ...], own: tuple[int, ...]) -> np.ndarray:
    """For each entry of ``stack`` (flat, row-major), the entry of a stack of shape ``own``
    broadcast against it (numpy's rules: aligned on the right, size 1 repeated)."""
    grid = np.arange(math.prod(own), dtype=np.int64).reshape(own)
    return np.broadcast_to(grid, stack).reshape(-1)


def _stacked_matmul_sparsity(node):
    """Stacks: output ``(s, i, j)`` depends on row ``i`` of ``a``'s matrix and column ``j`` of
    ``b``'s for the entry ``s`` (each 1-D operand as one row or one column)."""
    a, b = node.args
    k = a.shape[-1]
    m = a.shape[-2] if a.ndim > 1 else 1
    n = b.shape[-1] if b.ndim > 1 else 1
    stack = node.shape[: node.ndim - (a.ndim > 1) - (b.ndim > 1)]
    entries = math.prod(stack)
    s = np.arange(entries, dtype=np.int64)[:, None, None, None]
    i = np.arange(m, dtype=np.int64)[None, :, None, None]
    j = np.arange(n, dtype=np.int64)[None, None, :, None]
    l = np.arange(k, dtype=np.int64)[None, None, None, :]
    out = np.broadcast_to((s * m + i) * n + j, (entries, m, n, k)).reshape(-1)

    def through(x, left):
        own = x.shape[:-2] if x.ndim > 1 else ()
        entry = _entry_of(stack, own)[:, None, None, None]
        flat = (entry * m + i) * k + l if left else (entry * k + l) * n + j
        return lambda: (out, np.broadcast_to(flat, (entries, m, n, k)).reshape(-1))

    return (
        through(a, True) if is_differentiable(a) else None,
        through(b, False) if is_differentiable(b) else None,
    )


register(
    OpDef(
        "matmul",
        "matmul",
        _infer_matmul,
        _eval_matmul,
        _matmul_vjp,
        _matmul_jvp,
        batch=_matmul_batch,
        sparsity=_matmul_sparsity,
    )
)


# == factorisations: shapes ===================================================================


def _square(op: str, a: Node) -> tuple[tuple[int, ...], int]:
    """The stack shape and the size ``n`` of a square matrix ``(n, n)`` or stack ``(..., n, n)``."""
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(
            f"{op}: expected a square matrix (n, n) or a stack of them (..., n, n), got shape "
            f"{fmt(a.shape)}"
        )
    return a.shape[:-2], a.shape[-1]


def _check_floats(op: str, *args: Node) -> str:
    dtype = args[0].dtype
    if dtype not in dtypes.FLOATS or any(a.dtype != dtype for a in args):
        raise TypeError(
            f"{op}: operands must be float32 or float64, all of one dtype, got "
            f"{', '.join(a.dtype for a in args)} (gc.linalg.{op} converts them as numpy does)"
        )
    return dtype


def _system(op: str, a: Node, stack: tuple[int, ...], n: int, b: Node) -> tuple[int, ...]:
    """The shape of the solution of a system with matrices ``stack + (n, n)`` (``a``'s, named in
    errors) and right-hand side ``b``: ``(n,)`` or a stack ``(..., n, k)``."""
    if b.ndim == 1 and b.shape[0] == n:
        return stack + (n,)
    if b.ndim < 2 or b.shape[-2] != n:
        raise ValueError(
            f"{op}: the right-hand side must have shape ({n},) or (..., {n}, k) for matrices of "
            f"shape {fmt(a.shape)}, got {fmt(b.shape)}"
        )
    try:
        return broadcast(op, stack, b.shape[:-2]) + b.shape[-2:]
    except ValueError:
        raise ValueError(
            f"{op}: the stacks of shapes {fmt(a.shape)} and {fmt(b.shape)} (all but the last two "
            f"axes) do not broadcast"
        ) from None


def _infer_square(op: str, scalar: bool = False):
    def infer(args, attrs):
        (a,) = args
        stack, _ = _square(op, a)
        return stack if scalar else a.shape, _check_floats(op, a)

    return infer


def _infer_system(op: str):
    def infer(args, attrs):
        a, b = args
        stack, n = _square(op, a)
        return _system(op, a, stack, n, b), _check_floats(op, a, b)

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


def per_entry(shape, out_core: int, function, *operands) -> np.ndarray:
    """``function`` applied to every entry of a stack, the results stacked into ``shape``
    (whose last ``out_core`` axes are one result's). ``operands`` are ``(array, core)`` pairs,
    ``core`` the number of trailing axes of one entry; their stack axes broadcast."""
    stack = shape[: len(shape) - out_core]
    if not stack:
        return function(*(x for x, _ in operands))
    spread = [np.broadcast_to(x, stack + x.shape[x.ndim - core :]) for x, core in operands]
    out = np.empty(shape, dtype=operands[0][0].dtype)
    for index in np.ndindex(*stack):
        out[index] = function(*(x[index] for x in spread))
    return out


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


def _lu_matrix(a: np.ndarray) -> np.ndarray:
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


def lu_packed(a: np.ndarray) -> np.ndarray:
    """``lu_factor``'s value: LAPACK getf2's partial pivoting (the first largest magnitude of
    the column wins; a zero pivot is not divided by), packed as the module docstring says."""
    n = a.shape[-1]
    return per_entry(a.shape[:-2] + (n + 1, n), 2, _lu_matrix, (a, 2))


def _lu_solve_matrix(packed: np.ndarray, b: np.ndarray, trans: bool) -> np.ndarray:
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


def _rhs_core(node: Node) -> int:
    """Trailing axes of one entry of a system's right-hand side (and solution): 1 or 2."""
    return 1 if node.args[1].ndim == 1 else 2


def lu_solve_packed(node: Node, packed: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``A x = b`` (or ``A^T x = b``) from ``lu_packed(A)``, in the compiled code's order."""
    trans = node.attrs["trans"]
    core = _rhs_core(node)
    solve = lambda lu, rhs: _lu_solve_matrix(lu, rhs, trans)  # noqa: E731
    return per_entry(node.shape, core, solve, (packed, 2), (b, core))


def _eval_lu_inv(node, packed):
    n = packed.shape[-1]
    eye = np.eye(n, dtype=packed.dtype)
    return per_entry(node.shape, 2, lambda lu: _lu_solve_matrix(lu, eye, False), (packed, 2))


def _triangular_matrix(a: np.ndarray, b: np.ndarray, lower: bool, unit: bool) -> np.ndarray:
    x = np.array(b, dtype=a.dtype)
    substitute(x.reshape(a.shape[0], -1), a, lower, unit)
    return x


def _eval_solve_triangular(node, a, b):
    lower, unit = node.attrs["lower"], node.attrs["unit_diagonal"]
    if not unit:
        zeros = np.argwhere(np.diagonal(a, axis1=-2, axis2=-1) == 0)
        if zeros.size:  # scipy's rule
            raise np.linalg.LinAlgError(
                f"solve_triangular: singular matrix: zero on the diagonal at index "
                f"{zeros[0][-1]} (a matrix of shape {fmt(a.shape)})"
            )
    core = _rhs_core(node)
    solve = lambda m, rhs: _triangular_matrix(m, rhs, lower, unit)  # noqa: E731
    return per_entry(node.shape, core, solve, (a, 2), (b, core))


# == factorisations: derivative rules =========================================================


_mT = _swap_last  # numpy's name: each matrix of a stack transposed


def _triangle(n: int, lower: bool, diagonal: bool) -> Node:
    """A boolean constant selecting the lower (or upper) triangle, with or without diagonal."""
    i, j = np.indices((n, n))
    mask = (i > j) if lower else (i < j)
    return dsl.constant(mask | (i == j) if diagonal else mask)


def _keep(x: Node, mask: Node) -> Node:
    """``x`` where ``mask``, else 0 (``where``, so an inf or nan outside the mask is dropped)."""
    return dsl.where(mask, x, 0.0)


def _phi(x: Node) -> Node:
    """Murray's Phi: the lower triangle of (each matrix of) ``x`` with its diagonal halved."""
    n = x.shape[-1]
    diagonal = dsl.constant(np.eye(n, dtype=bool))
    return dsl.where(_triangle(n, True, False), x, dsl.where(diagonal, x * 0.5, 0.0))


def _column(v: Node) -> Node:
    return dsl.reshape(v, v.shape + (1,))


def _uncolumn(v: Node) -> Node:
    return dsl.reshape(v, v.shape[:-1])


def _per_matrix(v: Node) -> Node:
    """One value per matrix of a stack, shaped to broadcast against the matrices."""
    return dsl.reshape(v, v.shape + (1, 1))


def _matvec(m: Node, v: Node) -> Node:
    """``m @ v`` for each matrix of ``m`` and vector of ``v`` (matmul would read a stack of
    vectors as one matrix)."""
    if m.ndim == 2 and v.ndim == 1:
        return m @ v
    return _uncolumn(m @ _column(v))


def _times_solution(u: Node, x: Node, vector: bool) -> Node:
    """``u x^T`` per entry: the shape of ``A`` in ``A x = b`` from two solution-shaped values."""
    if vector:
        return _column(u) * dsl.reshape(x, x.shape[:-1] + (1, x.shape[-1]))
    return u @ _mT(x)


def solve(a: Node, b: Node) -> Node:
    return make("solve", (a, b))


def inv(a: Node) -> Node:
    return make("inv", (a,))


def solve_triangular(a: Node, b: Node, lower: bool, unit_diagonal: bool = False) -> Node:
    return make("solve_triangular", (a, b), Attrs(lower=lower, unit_diagonal=unit_diagonal))


def _solve_with(node: Node, matrix: Node, rhs: Node, transposed: bool) -> Node:
    """``node``'s kind of system (solve or solve_triangular, whose triangle flips when its
    matrices are transposed) with another matrix and a solution-shaped right-hand side: a stack
    of vectors is solved as a stack of one-column matrices (as one array it reads as a matrix)."""

    def build(m: Node, r: Node) -> Node:
        if node.op == "solve":
            return solve(m, r)
        lower = node.attrs["lower"] != transposed
        return solve_triangular(m, r, lower, node.attrs["unit_diagonal"])

    if node.args[1].ndim == 1 and rhs.ndim > 1:
        return _uncolumn(build(matrix, _column(rhs)))
    return build(matrix, rhs)


def _system_vjp(mask):
    """The vjp of ``x = A^-1 b``: ``b_bar = A^-T x_bar``, ``A_bar = -b_bar x^T``, kept to the
    entries of ``A`` the op reads (``mask(node)``, or None: all), each summed back to the shape
    of its operand (where the stacks broadcast)."""

    def vjp(node, ct):
        a, b = node.args
        ct_b = _solve_with(node, _mT(a), ct, transposed=True)
        ct_a = -_times_solution(ct_b, node, b.ndim == 1)
        if mask is not None:
            ct_a = _keep(ct_a, mask(node))
        return unbroadcast(ct_a, a), unbroadcast(ct_b, b)

    return vjp


def _system_jvp(mask):
    """``dx = A^-1 (db - dA x)``, with ``dA`` kept to the entries the op reads."""

    def jvp(node, tangents):
        (a, b), (ta, tb) = node.args, tangents
        if ta is None and tb is None:
            return None
        if ta is None:
            rhs = tb
        else:
            da = ta if mask is None else _keep(ta, mask(node))
            change = _matvec(da, node) if b.ndim == 1 else da @ node
            rhs = -change if tb is None else tb - change
        return dsl.broadcast_to(_solve_with(node, a, rhs, transposed=False), node.shape)

    return jvp


def _inv_vjp(node, ct):
    # Y = A^-1: A_bar = -Y^T Y_bar Y^T
    yt = _mT(node)
    return (-((yt @ ct) @ yt),)


def _inv_jvp(node, tangents):
    # dY = -Y dA Y
    (ta,) = tangents
    return None if ta is None else -((node @ ta) @ node)


def _inverse_transposed(node: Node) -> Node:
    return _mT(inv(node.args[0]))


def _det_vjp(node, ct):
    # d det(A) = det(A) tr(A^-1 dA): A_bar = det_bar det(A) A^-T (nan at a singular A).
    return (_per_matrix(ct * node) * _inverse_transposed(node),)


def _det_jvp(node, tangents):
    (ta,) = tangents
    if ta is None:
        return None
    return node * dsl.sum(_inverse_transposed(node) * ta, (-2, -1))


def _logabsdet_vjp(node, ct):
    # d log|det A| = tr(A^-1 dA): A_bar = ct A^-T
    return (_per_matrix(ct) * _inverse_transposed(node),)


def _logabsdet_jvp(node, tangents):
    (ta,) = tangents
    return None if ta is None else dsl.sum(_inverse_transposed(node) * ta, (-2, -1))


def _cholesky_vjp(node, ct):
    # Murray (2016): with P = Phi(L^T L_bar) and X = L^-T P L^-1, the adjoint of the symmetric
    # matrix is (X + X^T) / 2; the op reads the lower triangle only, so the entry (i, j), i > j,
    # stands for both (i, j) and (j, i): A_bar = Phi(X + X^T). L_bar's upper triangle is
    # dropped (those outputs are constant zeros).
    n = node.shape[-1]
    lt = _mT(node)
    p = _phi(lt @ _keep(ct, _triangle(n, True, True)))
    y = solve_triangular(lt, p, lower=False)  # L^-T P
    x = _mT(solve_triangular(lt, _mT(y), lower=False))  # L^-T P L^-1
    return (_phi(x + _mT(x)),)


def _cholesky_jvp(node, tangents):
    # dL = L Phi(L^-1 dS L^-T), dS the symmetric matrix whose lower triangle is dA's.
    (ta,) = tangents
    if ta is None:
        return None
    n = node.shape[-1]
    ds = _keep(ta, _triangle(n, True, True)) + _mT(_keep(ta, _triangle(n, True, False)))
    z = solve_triangular(node, ds, lower=True)  # L^-1 dS
    w = _mT(solve_triangular(node, _mT(z), lower=True))  # L^-1 dS L^-T
    return node @ _phi(w)


def _read_triangle(node: Node) -> Node:
    """The mask of the entries of A that ``solve_triangular`` reads."""
    attrs = node.attrs
    return _triangle(node.args[0].shape[-1], attrs["lower"], not attrs["unit_diagonal"])


# == factorisations: expansion into the lowering ops ==========================================


def _factor(a: Node) -> tuple[Node, bool]:
    """``lu_factor`` of ``a``, or of ``B`` when ``a`` is ``B`` with each matrix transposed
    (then True: a transposed use)."""
    if a.op == "transpose" and a.attrs["perm"] == (*range(a.ndim - 2), a.ndim - 1, a.ndim - 2):
        return make("lu_factor", (a.args[0],)), True
    return make("lu_factor", (a,)), False


def _expand_solve(node):
    a, b = node.args
    lu, trans = _factor(a)
    return make("lu_solve", (lu, b), Attrs(trans=trans))


def _expand_inv(node):
    lu, trans = _factor(node.args[0])
    inverse = make("lu_inv", (lu,))
    return _mT(inverse) if trans else inverse  # (A^T)^-1 = (A^-1)^T


def _diagonal_and_sign(node: Node) -> tuple[Node, Node]:
    """U's diagonals (strided views of the factors) and the permutations' signs, +1 or -1."""
    lu, _ = _factor(node.args[0])  # det(A^T) = det(A)
    n = lu.shape[-1]
    stack = lu.shape[:-2]
    flat = dsl.reshape(lu, stack + ((n + 1) * n,))
    whole = [(0, 1, d) for d in stack]
    diagonal = dsl.slice(flat, whole + [(0, n + 1, n)])
    pivots = dsl.slice(flat, whole + [(n * n, 1, n)])
    swapped = pivots != dsl.constant(np.arange(n, dtype=node.dtype))
    minus, plus = dsl.constant(-1.0, node.dtype), dsl.constant(1.0, node.dtype)
    return diagonal, dsl.prod(dsl.where(swapped, minus, plus), -1)


def _expand_det(node):
    diagonal, sign = _diagonal_and_sign(node)
    # + 0.0: a singular matrix with an odd permutation gives -0.0, numpy's det +0.0 (its sign
    # is 0); x + 0.0 == x for every other x, nan included.
    return dsl.prod(diagonal, -1) * sign + 0.0


def _expand_slogdet_sign(node):
    diagonal, sign = _diagonal_and_sign(node)
    return dsl.prod(dsl.sign(diagonal), -1) * sign + 0.0  # +0.0 for a singular matrix


def _expand_logabsdet(node):
    diagonal, _ = _diagonal_and_sign(node)
    return dsl.sum(dsl.log(dsl.abs(diagonal)), -1)  # -inf for a singular matrix, as numpy's


# == factorisations: batching and sparsity ====================================================


def _batch_matrix(node, args, axes):
    """An op of one stack of matrices: the batch becomes the stack's first axis."""
    ((x,), (axis,)) = args, axes
    return rebuild(node, (moveaxis(x, axis, 0),)), 0


def _batch_system(node, args, axes):
    """A system: for one matrix (not batched) and a batch of right-hand sides, the batch joins
    the columns of one solve; otherwise both become stacks with the batch first."""
    (a0, b0), (a, b), (axis_a, axis_b) = node.args, args, axes
    vector = b0.ndim == 1
    if axis_a is None and a0.ndim == 2 and b0.ndim <= 2:
        if vector:
            return rebuild(node, (a, moveaxis(b, axis_b, 1))), 1
        columns = moveaxis(b, axis_b, 1)  # (n, B, k)
        n, size, k = columns.shape
        solved = rebuild(node, (a, dsl.reshape(columns, (n, size * k))))
        return dsl.reshape(solved, (n, size, k)), 1
    size = batch_size(args, axes)
    stack = node.ndim - (1 if vector else 2)

    def as_stack(x, axis, core):
        x = dsl.reshape(x, (1,) + x.shape) if axis is None else moveaxis(x, axis, 0)
        own = x.shape[1 : x.ndim - core]
        return dsl.reshape(x, x.shape[:1] + (1,) * (stack - len(own)) + x.shape[1:])

    a1 = as_stack(a, axis_a, 2)
    if vector and axis_b is None:  # one vector for every matrix of the batch
        return rebuild(node, (a1, b)), 0
    if vector:
        b1 = dsl.reshape(moveaxis(b, axis_b, 0), (size,) + (1,) * stack + b0.shape + (1,))
        return dsl.reshape(rebuild(node, (a1, b1)), (size,) + node.shape), 0
    return rebuild(node, (a1, as_stack(b, axis_b, 2))), 0


def _dense_entries(node: Node, arg: Node, out_core: int, arg_core: int, columns: bool):
    """Pairs (output element, argument element): each output element depends on every element
    of the argument's entry of the stack it is computed from; with ``columns`` (a matrix
    right-hand side), only on that entry's column of the output element."""
    from graphc.sparsity import MAX_ENTRIES

    stack = node.shape[: node.ndim - out_core]
    entries = math.prod(stack)
    entry = _entry_of(stack, arg.shape[: arg.ndim - arg_core])
    size_out = math.prod(node.shape[node.ndim - out_core :])
    size_arg = math.prod(arg.shape[arg.ndim - arg_core :])
    count = entries * size_out * (arg.shape[-2] if columns else size_arg)
    if count > MAX_ENTRIES:
        raise ValueError(
            f"sparsity: {node.op} of shape {fmt(node.shape)} is dense in its argument of shape "
            f"{fmt(arg.shape)} ({count} entries); use gc.jacobian"
        )
    s = np.arange(entries, dtype=np.int64)
    if columns:  # out (s, i, j) <- b (entry, l, j)
        n, k = arg.shape[-2:]
        i = np.arange(n, dtype=np.int64)[None, :, None, None]
        j = np.arange(k, dtype=np.int64)[None, None, :, None]
        l = np.arange(n, dtype=np.int64)[None, None, None, :]
        shape: tuple[int, ...] = (entries, n, k, n)
        out = (s[:, None, None, None] * n + i) * k + j
        source = (entry[:, None, None, None] * n + l) * k + j
    else:
        shape = (entries, size_out, size_arg)
        out = s[:, None, None] * size_out + np.arange(size_out, dtype=np.int64)[None, :, None]
        source = entry[:, None, None] * size_arg + np.arange(size_arg, dtype=np.int64)[None, None]
    return np.broadcast_to(out, shape).reshape(-1), np.broadcast_to(source, shape).reshape(-1)


def _matrix_sparsity(out_core: int):
    def sparsity(node):
        (a,) = node.args
        if OPS[node.op].vjp is None or not is_differentiable(a):
            return (None,)
        return (lambda: _dense_entries(node, a, out_core, 2, False),)

    return sparsity


def _system_sparsity(node):
    a, b = node.args
    core = _rhs_core(node)
    return (
        (lambda: _dense_entries(node, a, core, 2, False)) if is_differentiable(a) else None,
        (lambda: _dense_entries(node, b, core, core, core == 2)) if is_differentiable(b) else None,
    )


# == the lowering ops' rules ==================================================================


def _lowering_only(node, *_):
    raise TypeError(
        f"{node.op}: this op exists only in graphs being lowered (the expand pass builds it); "
        "differentiate the graph before it is compiled, with gc.linalg's functions"
    )


def _infer_lu_factor(args, attrs):
    (a,) = args
    stack, n = _square("lu_factor", a)
    return stack + (n + 1, n), _check_floats("lu_factor", a)


def _packed(op: str, lu: Node) -> tuple[tuple[int, ...], int]:
    if lu.ndim < 2 or lu.shape[-2] != lu.shape[-1] + 1:
        raise ValueError(f"{op}: expected a packed LU factor (..., n + 1, n), got {fmt(lu.shape)}")
    return lu.shape[:-2], lu.shape[-1]


def _infer_lu_solve(args, attrs):
    lu, b = args
    if not isinstance(attrs.get("trans"), bool):
        raise TypeError(f"lu_solve: trans must be a bool, got {attrs.get('trans')!r}")
    stack, n = _packed("lu_solve", lu)
    return _system("lu_solve", lu, stack, n, b), _check_floats("lu_solve", lu, b)


def _infer_lu_inv(args, attrs):
    (lu,) = args
    stack, n = _packed("lu_inv", lu)
    return stack + (n, n), _check_floats("lu_inv", lu)


def _infer_solve_triangular(args, attrs):
    for flag in ("lower", "unit_diagonal"):
        if not isinstance(attrs.get(flag), bool):
            raise TypeError(f"solve_triangular: {flag} must be a bool, got {attrs.get(flag)!r}")
    return _infer_system("solve_triangular")(args, attrs)


register(
    OpDef(
        "solve",
        "linalg",
        _infer_system("solve"),
        _numpy("solve", np.linalg.solve),
        _system_vjp(None),
        _system_jvp(None),
        arity=2,
        expand=_expand_solve,
        batch=_batch_system,
        sparsity=_system_sparsity,
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
        batch=_batch_matrix,
        sparsity=_matrix_sparsity(2),
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
        batch=_batch_matrix,
        sparsity=_matrix_sparsity(0),
    ),
    OpDef(
        "slogdet_sign",
        "linalg",
        _infer_square("slogdet_sign", scalar=True),
        _numpy("slogdet", lambda a: np.linalg.slogdet(a)[0]),
        arity=1,
        expand=_expand_slogdet_sign,
        batch=_batch_matrix,
        sparsity=_matrix_sparsity(0),
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
        batch=_batch_matrix,
        sparsity=_matrix_sparsity(0),
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
        batch=_batch_matrix,
        sparsity=_matrix_sparsity(2),
    ),
    OpDef(
        "solve_triangular",
        "solve_triangular",
        _infer_solve_triangular,
        _eval_solve_triangular,
        _system_vjp(_read_triangle),
        _system_jvp(_read_triangle),
        lower=linalg_kernels.lower_solve_triangular,
        arity=2,
        batch=_batch_system,
        sparsity=_system_sparsity,
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
        batch=_batch_matrix,
        sparsity=_matrix_sparsity(2),
    ),
    OpDef(
        "lu_solve",
        "lu_solve",
        _infer_lu_solve,
        lu_solve_packed,
        _lowering_only,
        _lowering_only,
        lower=linalg_kernels.lower_lu_solve,
        arity=2,
        batch=_batch_system,
        sparsity=_system_sparsity,
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
        batch=_batch_matrix,
        sparsity=_matrix_sparsity(2),
    ),
)
