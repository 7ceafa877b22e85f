"""Sums of cotangents in the form that costs least: the reverse of broadcasting, pushed inward.

Reverse mode undoes broadcasting by summing a cotangent over the broadcast axes
(:func:`graphc.ops.base.unbroadcast`). Any form of that sum is the derivative; this module picks
one that costs less than ``dsl.sum(ct, axes)`` where it can:

- **Into matrix products.** When the cotangent is a linear combination of matrix products, as
  the cotangent of ``Z`` in ``Z @ W + Z * s`` is (``ct @ W.T + ct * s``), summing the product's
  rows is the product of the summed rows: ``sum(A @ B, 0) == sum(A, 0) @ B``. The left form
  computes an (m, n) product and reads it back, m k n multiply-adds; the right one sums A once
  and multiplies a vector, m k + k n. The other terms of the combination are summed the same
  way (``sum(v * s) = sum(v) * s`` for a scalar s), so ``sum(ct, 0)`` is one reduction that
  CSE shares between the terms.
- **Over every axis of a matrix**, as the cotangent of a scalar broadcast into an array is
  summed: in two steps, the leading axis first (one accumulator per remaining element, a
  loop that vectorises) and then the small remainder. One in-order sum of all the elements is a
  single chain of dependent additions, three to four times slower on a (1000, 10) array.

Invariant: :func:`summed` returns a node equal in exact arithmetic to ``sum(ct, axes)`` (the same
derivative), rounded differently where it changes the form (the terms are added in another
order, a pairwise-like order that is, if anything, more accurate).
"""

from __future__ import annotations

from graphc import dsl
from graphc.node import Node

# How deep the pushing looks through sums, negations and scalings: cotangents are accumulated
# one contribution at a time, so a value used n times has a chain of n - 1 additions.
MAX_DEPTH = 32


def summed(ct: Node, axes: tuple[int, ...]) -> Node:
    """``sum(ct, axes)`` (no keepdims) in the cheapest form this module knows (see above)."""
    node, _ = _push(ct, axes, MAX_DEPTH)
    return node


def _plain(x: Node, axes: tuple[int, ...]) -> Node:
    """``sum(x, axes)``; a sum over every axis of an array of two or more axes in two steps."""
    if x.ndim >= 2 and axes == tuple(range(x.ndim)) and x.shape[0] > 1:
        return dsl.sum(dsl.sum(x, (0,)), tuple(range(x.ndim - 1)))
    return dsl.sum(x, axes)


def _push(x: Node, axes: tuple[int, ...], depth: int) -> tuple[Node, bool]:
    """A node equal to ``sum(x, axes)``, and whether it saved a matrix product. Sums and
    scalings are only rewritten when a product below them is: otherwise the plain sum of the
    whole expression is one pass, where summing each term would be one pass per term."""
    if depth == 0:
        return _plain(x, axes), False
    if x.op == "matmul":
        pushed = _push_matmul(x, axes)
        if pushed is not None:
            return pushed, True
    elif x.op in ("add", "sub") and all(a.shape == x.shape and a.dtype == x.dtype for a in x.args):
        (left, saved_left), (right, saved_right) = (_push(a, axes, depth - 1) for a in x.args)
        if saved_left or saved_right:
            return (left + right if x.op == "add" else left - right), True
    elif x.op == "neg":
        inner, saved = _push(x.args[0], axes, depth - 1)
        if saved:
            return -inner, True
    elif x.op == "mul":
        # A scaling by a scalar s: sum(v s) = sum(v) s (s multiplied once, not once per term).
        for v, s in (x.args, x.args[::-1]):
            if s.shape == () and v.shape == x.shape and v.dtype == s.dtype == x.dtype:
                inner, saved = _push(v, axes, depth - 1)
                return inner * s, saved
    return _plain(x, axes), False


def _push_matmul(x: Node, axes: tuple[int, ...]) -> Node | None:
    """``sum(A @ B, axes)`` for 2-D A and B of x's dtype as a product of summed operands:
    rows summed ``sum(A, 0) @ B``, columns ``A @ sum(B, 1)``, all ``sum(A, 0) @ sum(B, 1)``."""
    a, b = x.args
    if a.ndim != 2 or b.ndim != 2 or a.dtype != x.dtype or b.dtype != x.dtype:
        return None
    if axes == (0,):
        return dsl.matmul(dsl.sum(a, (0,)), b)
    if axes == (1,):
        return dsl.matmul(a, dsl.sum(b, (1,)))
    if axes == (0, 1):
        return dsl.matmul(dsl.sum(a, (0,)), dsl.sum(b, (1,)))
    return None
