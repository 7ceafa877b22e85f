"""Matrix products: ``matmul`` for 1-D and 2-D operands, numpy's semantics.

- ``(m, k) @ (k, n) -> (m, n)``, ``(k,) @ (k, n) -> (n,)``, ``(m, k) @ (k,) -> (m,)``,
  ``(k,) @ (k,) -> ()``. Operands of three or more dimensions raise (not supported yet).
- Derivative rules use transposes, which lowering reads as strided views, and which constant
  folding turns into constants (so ``A.T`` of a symmetric constant ``A`` merges with ``A``).
"""

from __future__ import annotations

import numpy as np

from graphc import dsl, dtypes  # dsl is complete here: graphc.node imports it first
from graphc.batching import moveaxis
from graphc.ops.base import OpDef, add_tangents, is_differentiable, register
from graphc.shapes import fmt


def _infer_matmul(args, attrs):
    a, b = args
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(
            f"matmul: operands must have at least 1 dimension, got shapes {fmt(a.shape)} and "
            f"{fmt(b.shape)}; use * to multiply by a scalar"
        )
    if a.ndim > 2 or b.ndim > 2:
        raise ValueError(
            f"matmul: operands of shapes {fmt(a.shape)} and {fmt(b.shape)}: only 1-D and 2-D "
            "operands are supported"
        )
    inner_a = a.shape[-1]
    inner_b = b.shape[0]
    if inner_a != inner_b:
        raise ValueError(
            f"matmul: shapes {fmt(a.shape)} and {fmt(b.shape)} are not aligned: the last axis of "
            f"the first ({inner_a}) must equal the first axis of the second ({inner_b})"
        )
    if a.dtype == dtypes.BOOL or b.dtype == dtypes.BOOL:
        raise TypeError(f"matmul: boolean operands ({a.dtype}, {b.dtype}); expected numbers")
    shape = a.shape[:-1] + b.shape[1:]
    return shape, dtypes.promote(a.dtype, b.dtype)


def _eval_matmul(node, a, b):
    return np.asarray(np.matmul(a.astype(node.dtype), b.astype(node.dtype)), dtype=node.dtype)


def _cast(ct, like):
    return ct if ct.dtype == like.dtype else dsl.astype(ct, like.dtype)


def _outer(u, v):
    return dsl.reshape(u, (u.shape[0], 1)) * dsl.reshape(v, (1, v.shape[0]))


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


def _matmul_jvp(node, tangents):
    (a, b), (ta, tb) = node.args, tangents
    return add_tangents(
        dsl.astype(ta @ b, node.dtype) if ta is not None else None,
        dsl.astype(a @ tb, node.dtype) if tb is not None else None,
    )


def _matmul_batch(node, args, axes):
    """A batch of products as one product wherever the batch folds into rows or columns (so
    the matmul kernel runs once over the whole batch); when both operands are batched, each
    entry has its own matrices: a broadcast product and a sum over the contracted axis."""
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
    if axis_a is None:
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
    a, b = moveaxis(a, axis_a, 0), moveaxis(b, axis_b, 0)
    size, k = a.shape[0], a.shape[-1]
    m = a.shape[1] if a.ndim == 3 else 1
    n = b.shape[2] if b.ndim == 3 else 1
    terms = dsl.reshape(a, (size, m, k, 1)) * dsl.reshape(b, (size, 1, k, n))
    return dsl.reshape(dsl.sum(terms, 2), (size,) + node.shape), 0


def _matmul_sparsity(node):
    """Output ``(i, j)`` depends on row ``i`` of ``a`` and column ``j`` of ``b``; where the other
    operand is a constant, only through the elements its nonzeros multiply (``A @ x`` for a
    sparse constant ``A`` has ``A``'s pattern)."""
    a, b = node.args
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
