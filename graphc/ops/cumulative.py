"""Running sums, products and first-order linear recurrences along one axis.

Attributes: ``axis`` (non-negative) and ``reverse`` (run from the last element to the first).

- ``cumsum(x)``: ``y_0 = x_0``, ``y_i = y_{i-1} + x_i``, in order, as ``np.cumsum`` (so compiled
  code and numpy agree bitwise); booleans and integers sum as int64.
- ``cumprod(x)``: ``y_0 = x_0``, ``y_i = y_{i-1} * x_i``, as ``np.cumprod``.
- ``linrec(a, b)``: ``y_0 = b_0``, ``y_i = a_i * y_{i-1} + b_i`` (float). With ``reverse``,
  ``y_{n-1} = b_{n-1}``, ``y_i = a_{i+1} * y_{i+1} + b_i``: in both directions ``a_i`` multiplies
  the carry across the step between positions ``i - 1`` and ``i``, so ``a_0`` is never used and
  the transpose of a recurrence is the reverse recurrence with the same ``a``.

Derivatives, all exact (no division, so zeros need no special case):
- cumsum is linear: vjp = the reverse cumsum of the cotangent, jvp = cumsum of the tangent.
- cumprod: ``dy_i = x_i dy_{i-1} + y_{i-1} dx_i``, a linear recurrence in ``dy``: jvp =
  ``linrec(x, t * e)`` with ``e`` the exclusive product (``e_0 = 1``, ``e_i = y_{i-1}``); its
  transpose gives vjp = ``e * linrec(x, ct, reverse)``. At zeros this is the polynomial's
  derivative: for ``x = (2, 0, 3)`` the gradient of ``sum(cumprod(x))`` is ``(1, 8, 0)``.
- linrec: vjp ``s = linrec(a, ct, not reverse)``; ``db = s``, ``da_i = s_i * y_{i-1}``
  (forward; ``s_{i-1} * y_i`` in reverse), 0 at the unused first position.

Lowering: one kernel per op, a loop over the other axes and a serial loop along ``axis`` with
the carry in a register (``kind = "cumulative"``).
"""

from __future__ import annotations

import numpy as np

from graphc import dsl, dtypes  # dsl is complete here: graphc.node imports it first
from graphc.batching import batch_size, materialize
from graphc.node import Attrs, Node
from graphc.ops.base import OpDef, is_differentiable, make, register
from graphc.shapes import fmt

# -- builders ---------------------------------------------------------------------------------


def cumulative(op: str, x: Node, axis: int, reverse: bool = False) -> Node:
    """``cumsum`` or ``cumprod`` of ``x`` along the non-negative ``axis``."""
    return make(op, (x,), Attrs(axis=int(axis), reverse=bool(reverse)))


def linrec(a: Node, b: Node, axis: int, reverse: bool = False) -> Node:
    """The linear recurrence ``y_i = a_i * y_{i-1} + b_i`` along ``axis`` (see the module)."""
    b = dsl.as_node(b)
    a = dsl.as_node(a, b)
    if a.shape != b.shape:
        a = dsl.broadcast_to(a, b.shape)
    if a.dtype != b.dtype:
        a = dsl.astype(a, b.dtype)
    return make("linrec", (a, b), Attrs(axis=int(axis), reverse=bool(reverse)))


# -- shape rules ------------------------------------------------------------------------------


def _check_axis(op: str, attrs, x: Node) -> int:
    axis = attrs["axis"]
    if not isinstance(axis, int) or isinstance(axis, bool) or not 0 <= axis < max(x.ndim, 1):
        raise ValueError(f"{op}: axis {axis!r} is out of range for shape {fmt(x.shape)}")
    if x.ndim == 0:
        raise ValueError(f"{op}: expected an array of at least one dimension, got a scalar")
    if not isinstance(attrs["reverse"], bool):
        raise ValueError(f"{op}: reverse must be a bool, got {attrs['reverse']!r}")
    return axis


def _infer_running(op: str):
    def infer(args, attrs):
        (x,) = args
        _check_axis(op, attrs, x)
        return x.shape, dtypes.INT64 if x.dtype == dtypes.BOOL else x.dtype

    return infer


def _infer_linrec(args, attrs):
    a, b = args
    _check_axis("linrec", attrs, b)
    if a.shape != b.shape or a.dtype != b.dtype or b.dtype not in dtypes.FLOATS:
        raise ValueError(
            f"linrec: coefficients {a.dtype}{list(a.shape)} and values {b.dtype}{list(b.shape)}: "
            "expected two float arrays of one shape and dtype"
        )
    return b.shape, b.dtype


# -- evaluation -------------------------------------------------------------------------------


def _eval_running(fn):
    def evaluate(node, x):
        axis = node.attrs["axis"]
        x = np.asarray(x, dtype=node.dtype)
        if node.attrs["reverse"]:
            return np.flip(fn(np.flip(x, axis), axis=axis), axis).astype(node.dtype)
        return fn(x, axis=axis).astype(node.dtype)

    return evaluate


def _eval_linrec(node, a, b):
    axis, reverse = node.attrs["axis"], node.attrs["reverse"]
    a = np.moveaxis(np.broadcast_to(np.asarray(a, node.dtype), node.shape), axis, 0)
    b = np.moveaxis(np.broadcast_to(np.asarray(b, node.dtype), node.shape), axis, 0)
    out = np.empty(b.shape, dtype=node.dtype)
    n = b.shape[0]
    steps = range(n - 1, -1, -1) if reverse else range(n)
    previous = None
    for i in steps:
        if previous is None:
            out[i] = b[i]
        else:
            out[i] = a[i + 1 if reverse else i] * previous + b[i]
        previous = out[i]
    return np.moveaxis(out, 0, axis)


# -- derivatives ------------------------------------------------------------------------------


def _shifted(y: Node, axis: int, later: bool, fill: float) -> Node:
    """``y`` moved one place along ``axis``: position ``i`` holds ``y_{i-1}`` (``later``) or
    ``y_{i+1}``; the position left empty holds ``fill``."""
    n = y.shape[axis]
    edge_shape = y.shape[:axis] + (1,) + y.shape[axis + 1 :]
    edge = dsl.broadcast_to(dsl.constant(fill, y.dtype), edge_shape)
    if n == 1:
        return edge
    spec = [(0, 1, d) for d in y.shape]
    spec[axis] = (0, 1, n - 1) if later else (1, 1, n - 1)
    rest = dsl.slice(y, spec)
    return dsl.concatenate([edge, rest] if later else [rest, edge], axis)


def _cumsum_vjp(node, ct):
    (x,) = node.args
    if not is_differentiable(x):
        return (None,)
    return (cumulative("cumsum", ct, node.attrs["axis"], not node.attrs["reverse"]),)


def _cumsum_jvp(node, tangents):
    (t,) = tangents
    if t is None or not is_differentiable(node):
        return None
    return cumulative("cumsum", t, node.attrs["axis"], node.attrs["reverse"])


def _exclusive_product(node: Node) -> Node:
    """``e_i`` = the product of the elements before ``i`` in the running order (1 for the
    first)."""
    return _shifted(node, node.attrs["axis"], not node.attrs["reverse"], 1.0)


def _multipliers(node: Node) -> Node:
    """The ``a`` of the recurrence ``dy`` of a cumprod obeys (see linrec's convention): ``x``
    itself when running forward; in reverse, ``y_i = x_i * y_{i+1}`` multiplies by the earlier
    element, so ``a_{i+1} = x_i``."""
    (x,) = node.args
    if not node.attrs["reverse"]:
        return x
    return _shifted(x, node.attrs["axis"], True, 0.0)


def _cumprod_vjp(node, ct):
    (x,) = node.args
    if not is_differentiable(x):
        return (None,)
    axis, reverse = node.attrs["axis"], node.attrs["reverse"]
    return (_exclusive_product(node) * linrec(_multipliers(node), ct, axis, not reverse),)


def _cumprod_jvp(node, tangents):
    (t,) = tangents
    if t is None or not is_differentiable(node):
        return None
    axis, reverse = node.attrs["axis"], node.attrs["reverse"]
    return linrec(_multipliers(node), t * _exclusive_product(node), axis, reverse)


def _linrec_vjp(node, ct):
    a, b = node.args
    axis, reverse = node.attrs["axis"], node.attrs["reverse"]
    s = linrec(a, ct, axis, not reverse)
    if reverse:  # a_k multiplied y_k into y_{k-1}: its cotangent is s_{k-1} * y_k
        da = _shifted(s, axis, True, 0.0) * node
    else:  # a_i multiplied y_{i-1} into y_i
        da = s * _shifted(node, axis, True, 0.0)
    if a.op == "const":  # a constant's cotangent would be dropped: do not build it
        da = None
    return (da, s)


def _linrec_jvp(node, tangents):
    ta, tb = tangents
    axis, reverse = node.attrs["axis"], node.attrs["reverse"]
    terms = [] if tb is None else [tb]
    if ta is not None:
        terms.append(
            _shifted(ta * node, axis, False, 0.0)
            if reverse
            else ta * _shifted(node, axis, True, 0.0)
        )
    if not terms:
        return None
    total = terms[0] if len(terms) == 1 else terms[0] + terms[1]
    return linrec(node.args[0], total, axis, reverse)


# -- batching and sparsity rules (graphc.batching, graphc.sparsity) ----------------------------


def _batch(node, args, axes):
    axis = node.attrs["axis"]
    if node.op != "linrec":  # the batch stays where it is; the running axis moves past it
        (x,), (at,) = args, axes
        attrs = Attrs({**node.attrs, "axis": axis + 1 if at <= axis else axis})
        return make(node.op, (x,), attrs), at
    count = batch_size(args, axes)  # both arguments batched, at the front
    a, b = (materialize(v, at, count) for v, at in zip(args, axes))
    return make("linrec", (a, b), Attrs({**node.attrs, "axis": axis + 1})), 0


def _line_pairs(node: Node, after: bool, strict: bool, skip_first: bool):
    """Pairs (output, argument) of flat indices along ``axis``: output ``i`` depends on the
    argument at ``j <= i`` (``j >= i`` when ``after``; strictly with ``strict``; never ``j = 0``
    with ``skip_first``), in the same line."""
    axis, n = node.attrs["axis"], node.shape[node.attrs["axis"]]
    flat = np.arange(node.size, dtype=np.int64).reshape(node.shape)
    lines = np.moveaxis(flat, axis, -1).reshape(-1, n)
    i, j = np.indices((n, n)).reshape(2, -1)
    keep = (j > i if strict else j >= i) if after else (j < i if strict else j <= i)
    if skip_first:
        keep &= j > 0
    i, j = i[keep], j[keep]
    return lines[:, i].reshape(-1), lines[:, j].reshape(-1)


def _sparsity(node):
    reverse = node.attrs["reverse"]
    if node.op != "linrec":
        if not is_differentiable(node.args[0]):
            return (None,)
        return (lambda: _line_pairs(node, reverse, False, False),)
    # y_i depends on b_j for j up to i, and on a_j for 0 < j <= i (reverse: j > i).
    a_deps = (
        (lambda: _line_pairs(node, True, True, False))
        if reverse
        else (lambda: _line_pairs(node, False, False, True))
    )
    return (a_deps, lambda: _line_pairs(node, reverse, False, False))


# -- lowering ---------------------------------------------------------------------------------


def _strides_of(em, node: Node) -> tuple[int, ...] | None:
    """Strides of an argument's layout, or None for a scalar layout (read as one value)."""
    layout = em.layout(node)
    return None if isinstance(layout, str) else layout.strides


def _lower_cumulative(em, kernel) -> None:
    node = kernel.root
    if node.size == 0:
        return
    fb = em.fb
    axis, reverse = node.attrs["axis"], node.attrs["reverse"]
    n = node.shape[axis]
    dtype = node.dtype
    out = em.layout(node)
    others = [i for i in range(node.ndim) if i != axis]
    outer, outer_loops = em.open_loops(tuple(node.shape[i] for i in others))
    carry = fb.alloca({"float64": "double", "float32": "float"}.get(dtype, "i64"))
    zero = fb.const(0, dtype)
    fb.emit(f"store {zero.type} {zero.text}, ptr {carry}")
    (i,), loop = em.open_loops((n,))
    position = fb.index_arith("sub nsw", str(n - 1), i) if reverse else i
    first = fb.instr(dtypes.BOOL, f"icmp eq i64 {i}, 0")

    def read(arg: Node, at: str):
        strides = _strides_of(em, arg)
        if strides is None:
            return fb.cast(em.scalar(arg), dtype)
        where = em.offset(tuple(strides[k] for k in others) + (strides[axis],), outer + [at])
        return fb.cast(fb.load(em.element_pointer(em.layout(arg), where), arg.dtype), dtype)

    previous = fb.instr(dtype, f"load {zero.type}, ptr {carry}")
    if node.op == "linrec":
        a, b = node.args
        value = read(b, position)
        # The multiplier of this step sits at the later position in forward order; on the
        # first step (none is applied) read a valid position instead of one past the end.
        at = position
        if reverse:
            following = fb.index_arith("add nsw", position, 1)
            at = fb.instr(
                dtypes.INT64, f"select i1 {first.text}, i64 {position}, i64 {following}"
            ).text
        combined = fb.arith("add", fb.arith("mul", read(a, at), previous), value)
    else:
        value = read(node.args[0], position)
        combined = fb.arith("add" if node.op == "cumsum" else "mul", previous, value)
    result = fb.select(first, value, combined)
    fb.emit(f"store {result.type} {result.text}, ptr {carry}")
    target = em.offset(
        tuple(out.strides[k] for k in others) + (out.strides[axis],), outer + [position]
    )
    fb.store(result, em.element_pointer(out, target))
    em.close_loops(loop)
    em.close_loops(outer_loops)


register(
    OpDef(
        "cumsum",
        "cumulative",
        _infer_running("cumsum"),
        _eval_running(np.cumsum),
        _cumsum_vjp,
        _cumsum_jvp,
        lower=_lower_cumulative,
        arity=1,
        batch=_batch,
        sparsity=_sparsity,
        doc="running sum along an axis, in order (np.cumsum)",
    ),
    OpDef(
        "cumprod",
        "cumulative",
        _infer_running("cumprod"),
        _eval_running(np.cumprod),
        _cumprod_vjp,
        _cumprod_jvp,
        lower=_lower_cumulative,
        arity=1,
        batch=_batch,
        sparsity=_sparsity,
        doc="running product along an axis (np.cumprod); exact derivative at zeros",
    ),
    OpDef(
        "linrec",
        "cumulative",
        _infer_linrec,
        _eval_linrec,
        _linrec_vjp,
        _linrec_jvp,
        lower=_lower_cumulative,
        arity=2,
        batch=_batch,
        sparsity=_sparsity,
        doc="first-order linear recurrence y_i = a_i * y_(i-1) + b_i along an axis",
    ),
)
