"""``gc.linalg``: numpy's ``linalg`` for static-shape matrices, differentiable and compiled.

``solve``, ``inv``, ``det``, ``slogdet``, ``cholesky`` (numpy's signatures), ``solve_triangular``
(scipy's), ``norm`` and ``trace`` (numpy's ``linalg.trace``: ``gc.trace`` is the evaluation
trace of ``graphc.trace``). Each function builds nodes; the ops and their derivative rules are
in :mod:`graphc.ops.linalg`, which says how each one is lowered.

Conventions, as numpy's where numpy has them:
- dtypes: float32 operands stay float32; integers and booleans become float64; mixed operands
  are promoted (``solve(float32, float64)`` is float64).
- shapes: a square matrix ``(n, n)`` or a stack of them ``(..., n, n)``; right-hand sides
  ``(n,)`` (one vector for every matrix) or stacks ``(..., n, k)`` whose leading axes
  broadcast against the matrices' (numpy 2's ``solve``).
- singular matrices: ``gc.evaluate`` raises ``LinAlgError`` where numpy does (``solve``,
  ``inv``, ``cholesky`` of a matrix that is not positive definite; ``solve_triangular`` at a
  zero diagonal, as scipy) and compiled code returns ``inf``/``nan`` there, since it cannot
  raise; ``det`` is 0 and ``slogdet`` is ``(0, -inf)`` in both, as numpy's. The derivatives of
  ``det`` and ``slogdet`` go through ``inv(A)``, so they are ``nan`` at a singular matrix.
- ``cholesky`` reads only the lower triangle of its argument (numpy does too), so its
  derivative is zero in the strict upper triangle and counts each off-diagonal entry once:
  write ``cholesky((S + S.T) / 2)`` for the derivative with respect to a symmetric ``S``.
- ``norm``'s derivative at a zero vector (or matrix) is 0, as ``abs'(0)`` is: the subgradient
  of smallest magnitude rather than the ``nan`` of ``x / norm(x)``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from graphc import dsl, dtypes, functions
from graphc.node import Node
from graphc.ops import linalg as _ops
from graphc.ops.base import make
from graphc.shapes import fmt, normalize_axes

LinAlgError = np.linalg.LinAlgError

__all__ = [
    "LinAlgError",
    "SlogdetResult",
    "cholesky",
    "det",
    "inv",
    "norm",
    "slogdet",
    "solve",
    "solve_triangular",
    "trace",
]


class SlogdetResult(NamedTuple):
    """``slogdet``'s result, as numpy's: ``sign * exp(logabsdet)`` is the determinant."""

    sign: Node
    logabsdet: Node


def _floats(*values: object) -> list[Node]:
    """The operands as nodes of one float dtype, converted as numpy's linalg converts them."""
    nodes = [dsl.as_node(v) for v in values]
    dtype = dtypes.promote(*(n.dtype for n in nodes)) if len(nodes) > 1 else nodes[0].dtype
    if dtype not in dtypes.FLOATS:
        dtype = dtypes.FLOAT64
    return [dsl.astype(n, dtype) for n in nodes]


def solve(a: object, b: object) -> Node:
    """``x`` with ``a @ x == b``, for square matrices ``a`` (``(n, n)`` or a stack) and ``b`` of
    shape ``(n,)`` or ``(..., n, k)``."""
    return _ops.solve(*_floats(a, b))


def inv(a: object) -> Node:
    """The inverse of a square matrix."""
    return _ops.inv(*_floats(a))


def det(a: object) -> Node:
    """The determinant of a square matrix (0 for a singular one)."""
    return make("det", tuple(_floats(a)))


def slogdet(a: object) -> SlogdetResult:
    """``(sign, logabsdet)`` of the determinant: ``(0, -inf)`` for a singular matrix; only
    ``logabsdet`` has a derivative (the sign is piecewise constant)."""
    (node,) = _floats(a)
    return SlogdetResult(make("slogdet_sign", (node,)), make("logabsdet", (node,)))


def cholesky(a: object, upper: bool = False) -> Node:
    """The lower triangular ``L`` with ``L @ L.T == a`` for a symmetric positive definite ``a``
    (read from its lower triangle), or ``L.T`` with ``upper=True``."""
    (node,) = _floats(a)
    factor = make("cholesky", (node,))
    return _ops._mT(factor) if upper else factor


def solve_triangular(
    a: object, b: object, trans: int | str = 0, lower: bool = False, unit_diagonal: bool = False
) -> Node:
    """scipy's ``solve_triangular``: ``x`` with ``a @ x == b`` (``trans`` 0 or ``"N"``) or
    ``a.T @ x == b`` (1, ``"T"`` or, for real matrices the same, 2 or ``"C"``), reading only
    the lower (``lower=True``) or upper triangle of ``a``, and not its diagonal when
    ``unit_diagonal`` (then taken as ones)."""
    if trans not in (0, 1, 2, "N", "T", "C"):
        raise ValueError(f"solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}")
    a, b = _floats(a, b)
    if trans not in (0, "N"):  # a.T is a view: its lower triangle is a's upper one
        a, lower = _ops._mT(a), not lower
    return _ops.solve_triangular(a, b, bool(lower), bool(unit_diagonal))


def trace(x: object, offset: int = 0) -> Node:
    """numpy's ``linalg.trace``: the sum of the diagonal ``x[..., i, i + offset]`` of the last
    two axes (``gc.diagonal`` of them, summed)."""
    x = dsl.as_node(x)
    if x.ndim < 2:
        raise ValueError(f"trace: expected at least 2 dimensions, got shape {fmt(x.shape)}")
    if not isinstance(offset, int) or isinstance(offset, bool):
        raise TypeError(f"trace: offset must be an int, got {offset!r}")
    return dsl.sum(functions.diagonal(x, offset, -2, -1), axis=-1)


# -- norms --------------------------------------------------------------------------------------


def _root(total: Node, power: float) -> Node:
    """``total ** (1 / power)`` (a square root for 2), with derivative 0 where ``total`` is 0.

    The derivative of the root is infinite at 0, and that of what it is applied to is 0
    there, which would make nan; the double ``where`` keeps both factors finite."""
    zero = total == 0
    safe = dsl.where(zero, 1.0, total)
    root = dsl.sqrt(safe) if power == 2 else safe ** (1.0 / power)
    return dsl.where(zero, 0.0, root)


def _vector_norm(x: Node, ord: object, axes: tuple[int, ...], keepdims: bool) -> Node:
    if ord is None or ord == 2:
        return _root(dsl.sum(x * x, axes, keepdims), 2)
    if ord == np.inf:
        return dsl.max(dsl.abs(x), axes, keepdims)
    if ord == -np.inf:
        return dsl.min(dsl.abs(x), axes, keepdims)
    if ord == 0:  # the number of nonzero elements: piecewise constant, zero derivative
        return dsl.sum(dsl.astype(x != 0, x.dtype), axes, keepdims)
    if ord == 1:
        return dsl.sum(dsl.abs(x), axes, keepdims)
    if isinstance(ord, str) or not isinstance(ord, (int, float, np.number)):
        raise ValueError(f"norm: invalid norm order {ord!r} for vectors")
    return _root(dsl.sum(dsl.abs(x) ** float(ord), axes, keepdims), float(ord))


def _matrix_norm(x: Node, ord: object, axes: tuple[int, int], keepdims: bool) -> Node:
    rows, cols = axes
    if ord is None or ord == "fro":
        return _root(dsl.sum(x * x, axes, keepdims), 2)
    if ord in (1, -1, np.inf, -np.inf):
        # 1: the largest column sum of |x| (sum over the rows axis), inf: the largest row sum.
        summed, over = (rows, cols) if ord in (1, -1) else (cols, rows)
        sums = dsl.sum(dsl.abs(x), summed, keepdims=True)
        pick = dsl.max if ord in (1, np.inf) else dsl.min
        result = pick(sums, over, keepdims=True)
        return result if keepdims else dsl.reshape(result, _without(x.shape, axes))
    if ord in ("nuc", 2, -2):
        raise NotImplementedError(
            f"norm: ord={ord!r} of a matrix needs singular values, which graphc does not "
            "compute; ord=None/'fro', 1, -1, inf and -inf are supported"
        )
    raise ValueError(f"norm: invalid norm order {ord!r} for matrices")


def _without(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def norm(x: object, ord: object = None, axis: object = None, keepdims: bool = False) -> Node:
    """numpy's ``linalg.norm``: with ``axis=None`` the 2-norm of all elements when ``ord`` is
    None, else the vector (1-D) or matrix (2-D) norm ``ord``; an int ``axis`` takes vector
    norms along it, a pair of axes matrix norms. Vector orders: None/2, 1, inf, -inf, 0 (the
    count of nonzeros) and any other number p (``sum(|x|**p)**(1/p)``); matrix orders:
    None/``"fro"``, 1, -1, inf, -inf (``"nuc"``, 2 and -2 need an SVD and raise)."""
    (x,) = _floats(x)
    if axis is None:
        if ord is None:
            return _root(dsl.sum(x * x, None, keepdims), 2)
        if x.ndim == 1:
            return _vector_norm(x, ord, (0,), keepdims)
        if x.ndim == 2:
            return _matrix_norm(x, ord, (0, 1), keepdims)
        raise ValueError(
            f"norm: ord={ord!r} without an axis needs a 1-D or 2-D array, got shape {fmt(x.shape)}"
        )
    if isinstance(axis, int) and not isinstance(axis, bool):
        return _vector_norm(x, ord, normalize_axes("norm", axis, x.ndim, x.shape), keepdims)
    if not isinstance(axis, (tuple, list)):
        raise TypeError(f"norm: axis must be None, an int or a pair of ints, got {axis!r}")
    items = tuple(axis)
    if len(items) == 1:
        return _vector_norm(x, ord, normalize_axes("norm", items, x.ndim, x.shape), keepdims)
    if len(items) != 2:
        raise ValueError(f"norm: axis must be an int or a pair of ints, got {axis!r}")
    pair = tuple(normalize_axes("norm", a, x.ndim, x.shape)[0] for a in items)
    if pair[0] == pair[1]:
        raise ValueError(f"norm: the two axes must differ, got {axis!r}")
    return _matrix_norm(x, ord, pair, keepdims)  # type: ignore[arg-type]
