"""numpy's functions that a model is written with, built from graphc's ops.

Each function has numpy's name, arguments and semantics (the differences are said in its
docstring) and returns a node; most are compositions of existing ops chosen so that they cost no
extra pass over the data (slices, transposes, reshapes and broadcasts are views; elementwise
chains fuse into the loop that consumes them). Where a composition would cost passes, an op of
its own does the work: gathers and scatter-adds (``graphc.ops.indexing``), sorting, arg-max/min,
running sums and products (``graphc.ops.cumulative``).

Invariants:
- Axis arguments are normalised (negative axes) and checked with the operand's shape in the
  message; index arrays given as numpy data are checked against the axis they index when the
  node is built, and their negative entries are counted from the end there, so constant index
  payloads are always in ``[0, size)``.
- Derivatives come from the ops' rules; the conventions at singular points (sort ties, argmax,
  std at zero spread, cumprod with zeros) are listed in ``docs/guide.md``.
"""

from __future__ import annotations

import builtins
import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc import dsl, dtypes
from graphc.node import Node
from graphc.ops import cumulative as _cumulative
from graphc.ops import indexing as _indexing
from graphc.ops.base import make
from graphc.shapes import broadcast, fmt, full_index, normalize_axes, normalize_axis

# -- helpers ----------------------------------------------------------------------------------


def _axis_or_flat(op: str, x: Node, axis: object) -> tuple[Node, int]:
    """numpy's ``axis=None`` flattens first; otherwise ``axis`` normalised."""
    if axis is None:
        return dsl.reshape(x, (x.size,)), 0
    return x, normalize_axis(op, axis, x.ndim, x.shape)


def _last_axis_view(x: Node, axis: int) -> Node:
    """``x`` with ``axis`` moved last (a transpose, i.e. a view)."""
    return moveaxis(x, axis, -1) if axis != x.ndim - 1 else x


def index_constant(op: str, value: object, size: int, axis: int) -> np.ndarray:
    """Index data as an int64 array checked against an axis of ``size``, negatives wrapped."""
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        if array.size == 0 and array.dtype.kind in "fO":
            array = array.astype(np.int64)  # np.asarray([]) is float64: an empty index
        else:
            raise IndexError(
                f"{op}: arrays used as indices must be of integer type, got {array.dtype}"
            )
    if array.dtype.kind == "u" and array.size and array.max() > np.iinfo(np.int64).max:
        raise IndexError(f"{op}: index {array.max()} is out of bounds for axis {axis}")
    array = array.astype(np.int64)
    _indexing.check_bounds(op, array[..., None], (size,), axis)
    return np.where(array < 0, array + size, array)


def _index_node(op: str, value: object, size: int, axis: int) -> Node:
    """An index argument as an int64 node: a checked constant, or a node of int64 values
    (checked when the graph runs)."""
    if isinstance(value, Node):
        if value.dtype != dtypes.INT64:
            kind = "a boolean mask" if value.dtype == dtypes.BOOL else value.dtype
            raise TypeError(
                f"{op}: index nodes must be int64, got {kind} of shape {fmt(value.shape)}"
                + (
                    " (a mask's number of True elements is not known when the graph is built: "
                    "use gc.where)"
                    if value.dtype == dtypes.BOOL
                    else ""
                )
            )
        return value
    if _holds_node(value):
        raise TypeError(f"{op}: a list holding nodes; build one int64 node with gc.stack first")
    return dsl.constant(index_constant(op, value, size, axis), dtypes.INT64)


def _holds_node(value: object) -> bool:
    if isinstance(value, Node):
        return True
    return isinstance(value, (list, tuple)) and builtins.any(_holds_node(v) for v in value)


def _one_component(idx: Node) -> Node:
    """Indices for one axis with the trailing axis of size 1 that gathers take; a constant stays
    a constant (so rules that look for constant indices see one)."""
    if idx.op == "const":
        return dsl.constant(idx.value[..., None], dtypes.INT64)
    return dsl.reshape(idx, idx.shape + (1,))


def _stack_indices(components: list[Node], shape: tuple[int, ...]) -> Node:
    """Index components (int64 nodes broadcast to ``shape``) as one array ``shape + (k,)``."""
    if all(c.op == "const" for c in components):
        stacked = np.stack([np.broadcast_to(c.value, shape) for c in components], axis=-1)
        return dsl.constant(stacked, dtypes.INT64)
    parts = [dsl.reshape(dsl.broadcast_to(c, shape), shape + (1,)) for c in components]
    return dsl.concatenate(parts, axis=-1)


# -- gather, scatter, indexing ----------------------------------------------------------------


def take(x: object, indices: object, axis: int | None = None) -> Node:
    """``np.take``: elements of ``x`` at ``indices`` along ``axis`` (the flattened array when
    None). ``indices`` is integer data (checked now) or an int64 node (checked when the graph
    runs). The derivative with respect to ``x`` is a scatter-add (repeated indices add up)."""
    x = dsl.as_node(x)
    x, axis = _axis_or_flat("take", x, axis)
    idx = _index_node("take", indices, x.shape[axis], axis)
    return _indexing.gather(x, _one_component(idx), axis)


def take_along_axis(x: object, indices: object, axis: int) -> Node:
    """``np.take_along_axis``: ``indices`` has ``x``'s number of dimensions; along ``axis`` it
    picks elements, along the other axes it broadcasts with ``x``."""
    x = dsl.as_node(x)
    axis = normalize_axis("take_along_axis", axis, x.ndim, x.shape)
    idx = _index_node("take_along_axis", indices, x.shape[axis], axis)
    if idx.ndim != x.ndim:
        raise ValueError(
            f"take_along_axis: indices of shape {fmt(idx.shape)} and an array of shape "
            f"{fmt(x.shape)}: expected the same number of dimensions"
        )
    shape = broadcast(
        "take_along_axis",
        tuple(1 if d == axis else x.shape[d] for d in range(x.ndim)),
        tuple(1 if d == axis else idx.shape[d] for d in range(x.ndim)),
    )
    shape = shape[:axis] + (idx.shape[axis],) + shape[axis + 1 :]
    if x.ndim == 1:
        return _indexing.gather(x, _one_component(idx), 0)
    components = []
    for d in range(x.ndim):
        if d == axis:
            components.append(idx)
            continue
        # The position itself along the other axes, or 0 along an axis x broadcasts.
        ramp = np.arange(shape[d]) if x.shape[d] == shape[d] else np.zeros(shape[d], np.int64)
        placed = ramp.reshape([shape[d] if e == d else 1 for e in range(x.ndim)])
        components.append(dsl.constant(placed, dtypes.INT64))
    return _indexing.gather(x, _stack_indices(components, shape), 0)


def segment_sum(data: object, segment_ids: object, num_segments: int | None = None) -> Node:
    """Sums of the rows of ``data`` that share a segment id: ``out[s] = sum(data[i] for i with
    segment_ids[i] == s)``, ``out`` of shape ``(num_segments,) + data.shape[ids.ndim:]``.

    ``segment_ids`` (integer data or an int64 node) has the shape of ``data``'s leading axes;
    ids need not be sorted. Ids are indices into ``num_segments``, checked like numpy's (a
    negative id counts from the end); ``num_segments`` may be omitted for constant ids (their
    maximum + 1). The derivative with respect to ``data`` is a gather of the cotangent."""
    data = dsl.as_node(data)
    if num_segments is None:
        if isinstance(segment_ids, Node):
            raise ValueError("segment_sum: num_segments is required when segment_ids is a node")
        ids_array = np.asarray(segment_ids)
        num_segments = int(ids_array.max()) + 1 if ids_array.size else 0
    if not isinstance(num_segments, (int, np.integer)) or num_segments < 0:
        raise ValueError(
            f"segment_sum: num_segments must be a non-negative int, got {num_segments!r}"
        )
    ids = _index_node("segment_sum", segment_ids, int(num_segments), 0)
    if data.shape[: ids.ndim] != ids.shape:
        raise ValueError(
            f"segment_sum: segment_ids of shape {fmt(ids.shape)} do not match the leading axes "
            f"of data of shape {fmt(data.shape)}"
        )
    if data.dtype == dtypes.BOOL:
        data = dsl.astype(data, dtypes.INT64)
    return _indexing.scatter_add(data, _one_component(ids), 0, (int(num_segments),))


def _is_index_array(item: object) -> bool:
    return isinstance(item, (Node, np.ndarray, list)) or (
        isinstance(item, np.generic) and not isinstance(item, np.integer)
    )


def advanced_index(x: Node, key: object) -> Node:
    """numpy's indexing with integer arrays (numpy data or int64 nodes) and constant boolean
    masks, mixed with ints, slices, ``None`` and ``...``: ``x[idx]``, ``x[:, idx]``,
    ``x[rows, cols]``, ``x[mask]``.

    As in numpy, the index arrays (and ints, when there is an array) broadcast together; their
    shape replaces the indexed axes in place when those are adjacent in the key, and comes first
    otherwise. A gather does the work; its derivative is a scatter-add."""
    items = list(key) if isinstance(key, tuple) else [key]
    expanded: list[object] = []
    for item in items:  # boolean masks become the integer arrays of their True positions
        if isinstance(item, list) and _holds_node(item):
            raise TypeError("indexing: a list holding nodes; build one int64 node with gc.stack")
        if isinstance(item, Node) and item.dtype == dtypes.BOOL and item.ndim:
            raise TypeError(
                f"indexing: a boolean mask node of shape {fmt(item.shape)} selects a number of "
                "elements not known when the graph is built; use gc.where, or a numpy mask"
            )
        if isinstance(item, (np.ndarray, list)) and np.asarray(item).dtype == np.bool_:
            mask = np.asarray(item)
            expanded.extend(np.nonzero(mask) if mask.ndim else [np.nonzero(mask)[0]])
        else:
            expanded.append(item)
    full = full_index(expanded, x.shape, "indexing")

    spec, shape, arrays = [], [], []  # arrays: (axis of the sliced array, index node)
    axis = 0
    for item in full:
        if item is None:
            shape.append(1)
            continue
        dim = x.shape[axis]
        if isinstance(item, slice):
            start, stop, step = item.indices(dim)
            count = len(range(start, stop, step))
            spec.append((start if count else 0, step, count))
        elif (
            isinstance(item, (int, np.integer))
            and not isinstance(item, bool)
            or _is_index_array(item)
        ):
            spec.append((0, 1, dim))
            arrays.append((len(shape), _index_node("indexing", item, dim, axis)))
        else:
            raise TypeError(
                f"indexing: unsupported index {item!r} of type {type(item).__name__}; expected "
                "ints, slices, None, ..., integer arrays (numpy data or int64 nodes) or numpy "
                "boolean masks"
            )
        shape.append(spec[-1][2])
        axis += 1
    y = dsl.reshape(dsl.slice(x, spec), tuple(shape))
    positions = [p for p, _ in arrays]
    index_shape = broadcast("indexing", *(a.shape for _, a in arrays))
    adjacent = positions == list(range(positions[0], positions[0] + len(positions)))
    if adjacent:
        start = positions[0]
    else:  # numpy puts the broadcast index axes first when the indexed axes are apart
        rest = [d for d in range(y.ndim) if d not in positions]
        y = dsl.transpose(y, positions + rest)
        start = 0
    idx = _stack_indices([a for _, a in arrays], index_shape)
    return _indexing.gather(y, idx, start)


# -- sorting and arg-extrema ------------------------------------------------------------------


def argsort(x: object, axis: int | None = -1) -> Node:
    """``np.argsort(x, axis, kind="stable")``: int64 positions; ties keep their order, nan last.
    Not differentiable."""
    x = dsl.as_node(x)
    x, axis = _axis_or_flat("argsort", x, axis)
    result = make("argsort", (_last_axis_view(x, axis),))
    return moveaxis(result, -1, axis) if axis != x.ndim - 1 else result


def sort(x: object, axis: int | None = -1) -> Node:
    """``np.sort``: ascending along ``axis`` (the flattened array when None), nan last.

    The derivative is the permutation: the sorted array is a gather of ``x`` at
    :func:`argsort`'s positions, so its vjp scatters the cotangent back. Tied elements keep
    their order (a stable sort), so each tied element's derivative is that of the position it
    lands in (the first of equal elements gets the first sorted position)."""
    x = dsl.as_node(x)
    x, axis = _axis_or_flat("sort", x, axis)
    xt = _last_axis_view(x, axis)
    order = make("argsort", (xt,))
    result = take_along_axis(xt, order, xt.ndim - 1)
    return moveaxis(result, -1, axis) if axis != x.ndim - 1 else result


def _arg_extremum(op: str):
    def build(x: object, axis: int | None = None, keepdims: bool = False) -> Node:
        x = dsl.as_node(x)
        original = x.shape
        flat = axis is None
        x, axis = _axis_or_flat(op, x, axis)
        result = make(op, (_last_axis_view(x, axis),))
        if keepdims:
            kept = (1,) * len(original) if flat else original[:axis] + (1,) + original[axis + 1 :]
            result = dsl.reshape(result, kept)
        return result

    build.__name__ = op
    build.__doc__ = (
        f"``np.{op}``: int64 positions of the first {'maximum' if op == 'argmax' else 'minimum'} "
        "along ``axis`` (of the flattened array when None); a nan counts as the extremum. Not "
        "differentiable."
    )
    return build


argmax = _arg_extremum("argmax")
argmin = _arg_extremum("argmin")


# -- running sums and products ----------------------------------------------------------------


def cumsum(x: object, axis: int | None = None) -> Node:
    """``np.cumsum``: running sums along ``axis`` (the flattened array when None), added in
    order like numpy's; booleans and integers sum as int64."""
    x = dsl.as_node(x)
    x, axis = _axis_or_flat("cumsum", x, axis)
    return _cumulative.cumulative("cumsum", x, axis)


def cumprod(x: object, axis: int | None = None) -> Node:
    """``np.cumprod``: running products along ``axis`` (the flattened array when None). The
    derivative is exact at zeros (no division): computed as linear recurrences."""
    x = dsl.as_node(x)
    x, axis = _axis_or_flat("cumprod", x, axis)
    return _cumulative.cumulative("cumprod", x, axis)


# -- statistics -------------------------------------------------------------------------------


def var(x: object, axis: object = None, ddof: int = 0, keepdims: bool = False) -> Node:
    """``np.var``: the mean of squared deviations from the mean, divided by ``n - ddof``.

    Two passes over the data, as numpy (the mean, then the squared deviations, which fuse into
    their sum); integers and booleans give float64."""
    x = dsl.as_node(x)
    if x.dtype not in dtypes.FLOATS:
        x = dsl.astype(x, dtypes.FLOAT64)
    axes = normalize_axes("var", axis, x.ndim, x.shape)
    count = math.prod(x.shape[a] for a in axes)
    deviation = x - dsl.mean(x, axes, keepdims=True)
    # numpy divides by max(n - ddof, 0): inf or nan when there are no degrees of freedom left.
    return dsl.sum(deviation * deviation, axes, keepdims) / float(builtins.max(count - ddof, 0))


def std(x: object, axis: object = None, ddof: int = 0, keepdims: bool = False) -> Node:
    """``np.std``: ``sqrt(var)``. Its derivative where the spread is zero (all elements equal)
    is 0, a subgradient (like ``abs'(0) = 0``), not ``0 * inf = nan``."""
    v = var(x, axis, ddof, keepdims)
    flat = v == 0.0
    return dsl.where(flat, 0.0, dsl.sqrt(dsl.where(flat, 1.0, v)))


# -- matrix structure -------------------------------------------------------------------------


def _is_strided(x: Node) -> bool:
    """Whether ``x`` is (likely) a strided view, which a reshape would have to copy."""
    return x.op in ("slice", "transpose", "broadcast_to")


def diagonal(x: object, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Node:
    """``np.diagonal``: the elements ``x[..., i, i + offset]`` of the plane ``(axis1, axis2)``,
    which is removed; the diagonal becomes the last axis. A strided view when ``x`` is
    contiguous, else a gather of just the diagonal."""
    x = dsl.as_node(x)
    if x.ndim < 2:
        raise ValueError(f"diagonal: expected at least 2 dimensions, got shape {fmt(x.shape)}")
    a1 = normalize_axis("diagonal", axis1, x.ndim, x.shape)
    a2 = normalize_axis("diagonal", axis2, x.ndim, x.shape)
    if a1 == a2:
        raise ValueError(f"diagonal: axis1 and axis2 are the same axis ({a1})")
    offset = operator.index(offset)
    rest = [d for d in range(x.ndim) if d not in (a1, a2)]
    xt = dsl.transpose(x, rest + [a1, a2])
    n, m = xt.shape[-2:]
    row, col = (0, offset) if offset >= 0 else (-offset, 0)
    length = builtins.max(0, builtins.min(n - row, m - col))
    lead = xt.shape[:-2]
    if _is_strided(xt) and length:
        steps = np.arange(length)
        return _indexing.gather(
            xt, dsl.constant(np.stack([steps + row, steps + col], -1), dtypes.INT64), xt.ndim - 2
        )
    flat = dsl.reshape(xt, lead + (n * m,))
    spec = [(0, 1, d) for d in lead] + [(row * m + col if length else 0, m + 1, length)]
    return dsl.slice(flat, spec)


def diag(v: object, k: int = 0) -> Node:
    """``np.diag``: a 1-D ``v`` on the ``k``-th diagonal of a square matrix of zeros, or the
    ``k``-th diagonal of a 2-D ``v``."""
    v = dsl.as_node(v)
    k = operator.index(k)
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ValueError(f"diag: expected a 1-D or 2-D array, got shape {fmt(v.shape)}")
    n = v.shape[0] + builtins.abs(k)
    start = k if k >= 0 else -k * n
    flat = dsl.unslice(v, [(start if v.shape[0] else 0, n + 1, v.shape[0])], (n * n,))
    return dsl.reshape(flat, (n, n))


def _triangle(op: str, keep):
    def build(x: object, k: int = 0) -> Node:
        x = dsl.as_node(x)
        if x.ndim < 2:
            raise ValueError(f"{op}: expected at least 2 dimensions, got shape {fmt(x.shape)}")
        k_ = operator.index(k)
        n, m = x.shape[-2:]
        # The mask from two small ramps, compared inside the loop that selects: no n*m constant.
        rows = dsl.constant(np.arange(n).reshape(n, 1), dtypes.INT64)
        cols = dsl.constant(np.arange(m), dtypes.INT64)
        return dsl.where(keep(cols - rows, k_), x, dsl.zeros((), x.dtype))

    build.__name__ = op
    return build


tril = _triangle("tril", lambda offset, k: offset <= k)
tril.__doc__ = "``np.tril``: zeros above the ``k``-th diagonal of the last two axes."
triu = _triangle("triu", lambda offset, k: offset >= k)
triu.__doc__ = "``np.triu``: zeros below the ``k``-th diagonal of the last two axes."


# -- products ---------------------------------------------------------------------------------


def cross(a: object, b: object, axis: int = -1) -> Node:
    """``np.cross`` of 3-vectors along ``axis`` of both operands (which broadcast); the result's
    vectors lie along the same axis. Each component is computed as numpy does
    (``a1 * b2 - a2 * b1``)."""
    a, b = dsl.as_node(a), dsl.as_node(b)
    axes = []
    for name, v in (("a", a), ("b", b)):
        if v.ndim == 0:
            raise ValueError(f"cross: {name} is a scalar; expected vectors of 3 components")
        ax = normalize_axis("cross", axis, v.ndim, v.shape)
        if v.shape[ax] != 3:
            raise ValueError(
                f"cross: {name} of shape {fmt(v.shape)} has {v.shape[ax]} components along "
                f"axis {axis}; expected 3"
            )
        axes.append(ax)
    a, b = moveaxis(a, axes[0], -1), moveaxis(b, axes[1], -1)
    a0, a1, a2 = (a[..., i] for i in range(3))
    b0, b1, b2 = (b[..., i] for i in range(3))
    result = dsl.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    return moveaxis(result, -1, normalize_axis("cross", axis, result.ndim, result.shape))


def _int_list(value: Any) -> list[int]:
    """An int or a sequence of ints as a list of Python ints."""
    if isinstance(value, (int, np.integer)):
        return [operator.index(value)]
    return [operator.index(v) for v in value]


def _axes_list(op: str, axes: Any, ndim: int, shape) -> list[int]:
    result = [normalize_axis(op, a, ndim, shape) for a in _int_list(axes)]
    if len(set(result)) != len(result):
        raise ValueError(f"{op}: repeated axis in {axes!r}")
    return result


def tensordot(a: object, b: object, axes: Any = 2) -> Node:
    """``np.tensordot``: sums over ``axes`` (an int N: the last N of ``a`` with the first N of
    ``b``; or two sequences) as one matrix product of reshaped operands."""
    a, b = dsl.as_node(a), dsl.as_node(b)
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if n < 0 or n > a.ndim or n > b.ndim:
            raise ValueError(
                f"tensordot: cannot sum over {n} axes of shapes {fmt(a.shape)} and {fmt(b.shape)}"
            )
        axes_a, axes_b = list(range(a.ndim - n, a.ndim)), list(range(n))
    else:
        try:
            first, second = axes
            first, second = _int_list(first), _int_list(second)
        except (TypeError, ValueError):
            raise ValueError(
                f"tensordot: axes must be an int or a pair of sequences, got {axes!r}"
            ) from None
        axes_a = _axes_list("tensordot", first, a.ndim, a.shape)
        axes_b = _axes_list("tensordot", second, b.ndim, b.shape)
    if len(axes_a) != len(axes_b) or any(a.shape[i] != b.shape[j] for i, j in zip(axes_a, axes_b)):
        raise ValueError(
            f"tensordot: shape-mismatch for sum: axes {axes_a} of {fmt(a.shape)} and {axes_b} "
            f"of {fmt(b.shape)}"
        )
    free_a = [i for i in range(a.ndim) if i not in axes_a]
    free_b = [j for j in range(b.ndim) if j not in axes_b]
    summed = math.prod(a.shape[i] for i in axes_a)
    out_shape = tuple(a.shape[i] for i in free_a) + tuple(b.shape[j] for j in free_b)
    left = dsl.transpose(a, free_a + axes_a)
    right = dsl.transpose(b, axes_b + free_b)
    # 1-D operands where one side has no free axes: a vector-matrix or dot product.
    left = dsl.reshape(
        left, (summed,) if not free_a else (math.prod(left.shape[: len(free_a)]), summed)
    )
    right = dsl.reshape(
        right, (summed,) if not free_b else (summed, math.prod(right.shape[len(axes_b) :]))
    )
    return dsl.reshape(dsl.matmul(left, right), out_shape)


def inner(a: object, b: object) -> Node:
    """``np.inner``: sums over the last axes (a product when either is a scalar)."""
    a, b = dsl.as_node(a), dsl.as_node(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return tensordot(a, b, ([a.ndim - 1], [b.ndim - 1]))


def outer(a: object, b: object) -> Node:
    """``np.outer``: ``ravel(a)[:, None] * ravel(b)[None, :]``."""
    a, b = dsl.as_node(a), dsl.as_node(b)
    return dsl.reshape(a, (a.size, 1)) * dsl.reshape(b, (1, b.size))


def kron(a: object, b: object) -> Node:
    """``np.kron``: the Kronecker product, one broadcast product reshaped."""
    a, b = dsl.as_node(a), dsl.as_node(b)
    ndim = builtins.max(a.ndim, b.ndim)
    sa = (1,) * (ndim - a.ndim) + a.shape
    sb = (1,) * (ndim - b.ndim) + b.shape
    left = dsl.reshape(a, tuple(d for s in sa for d in (s, 1)))
    right = dsl.reshape(b, tuple(d for s in sb for d in (1, s)))
    return dsl.reshape(left * right, tuple(p * q for p, q in zip(sa, sb)))


# -- shapes -----------------------------------------------------------------------------------


def moveaxis(x: object, source: Any, destination: Any) -> Node:
    """``np.moveaxis``: a transpose moving ``source`` axes to ``destination`` positions."""
    x = dsl.as_node(x)
    src = _axes_list("moveaxis", source, x.ndim, x.shape)
    dst = _axes_list("moveaxis", destination, x.ndim, x.shape)
    if len(src) != len(dst):
        raise ValueError(
            f"moveaxis: source {source!r} and destination {destination!r} must have the same "
            "number of elements"
        )
    order = [d for d in range(x.ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return dsl.transpose(x, order)


def swapaxes(x: object, axis1: int, axis2: int) -> Node:
    """``np.swapaxes``: a transpose exchanging two axes."""
    x = dsl.as_node(x)
    a1 = normalize_axis("swapaxes", axis1, x.ndim, x.shape)
    a2 = normalize_axis("swapaxes", axis2, x.ndim, x.shape)
    order = list(range(x.ndim))
    order[a1], order[a2] = order[a2], order[a1]
    return dsl.transpose(x, order)


def flip(x: object, axis: object = None) -> Node:
    """``np.flip``: the order of elements reversed along ``axis`` (all axes when None): a view."""
    x = dsl.as_node(x)
    axes = normalize_axes("flip", axis, x.ndim, x.shape)
    spec = [(d - 1, -1, d) if i in axes and d else (0, 1, d) for i, d in enumerate(x.shape)]
    return dsl.slice(x, spec)


def ravel(x: object) -> Node:
    """``np.ravel``: the elements in row-major order, as a 1-D array."""
    x = dsl.as_node(x)
    return dsl.reshape(x, (x.size,))


def expand_dims(x: object, axis: object) -> Node:
    """``np.expand_dims``: new axes of size 1 at the positions ``axis`` of the result."""
    x = dsl.as_node(x)
    ndim = x.ndim + len(_int_list(axis))
    axes = normalize_axes("expand_dims", axis, ndim)
    dims = iter(x.shape)
    return dsl.reshape(x, tuple(1 if i in axes else next(dims) for i in range(ndim)))


def squeeze(x: object, axis: object = None) -> Node:
    """``np.squeeze``: axes of size 1 removed (those of ``axis``, which must have size 1)."""
    x = dsl.as_node(x)
    if axis is None:
        axes = tuple(i for i, d in enumerate(x.shape) if d == 1)
    else:
        axes = normalize_axes("squeeze", axis, x.ndim, x.shape)
        for a in axes:
            if x.shape[a] != 1:
                raise ValueError(
                    f"squeeze: axis {a} of shape {fmt(x.shape)} has size {x.shape[a]}; only axes "
                    "of size 1 can be removed"
                )
    return dsl.reshape(x, tuple(d for i, d in enumerate(x.shape) if i not in axes))


def repeat(x: object, repeats: object, axis: int | None = None) -> Node:
    """``np.repeat``: each element repeated along ``axis`` (the flattened array when None),
    ``repeats`` times (an int) or ``repeats[i]`` times (integer data, one count per element)."""
    x = dsl.as_node(x)
    x, axis = _axis_or_flat("repeat", x, axis)
    n = x.shape[axis]
    counts = np.asarray(repeats)
    if isinstance(repeats, Node) or counts.dtype.kind not in "iu":
        raise TypeError(f"repeat: repeats must be an int or integer data, got {repeats!r}")
    if (counts < 0).any():
        raise ValueError(f"repeat: negative repeats {repeats!r}")
    if counts.ndim == 0 or counts.size == 1:
        r = int(counts.reshape(-1)[0])
        expanded = x.shape[: axis + 1] + (1,) + x.shape[axis + 1 :]
        stretched = x.shape[: axis + 1] + (r,) + x.shape[axis + 1 :]
        widened = dsl.broadcast_to(dsl.reshape(x, expanded), stretched)
        return dsl.reshape(widened, x.shape[:axis] + (n * r,) + x.shape[axis + 1 :])
    if counts.shape != (n,):
        raise ValueError(
            f"repeat: {counts.size} repeat counts for an axis of size {n}; expected one per element"
        )
    return take(x, np.repeat(np.arange(n), counts), axis)


def tile(x: object, reps: Any) -> Node:
    """``np.tile``: ``x`` repeated ``reps`` times along each axis (one broadcast, one copy)."""
    x = dsl.as_node(x)
    reps_t = tuple(_int_list(reps))
    if any(r < 0 for r in reps_t):
        raise ValueError(f"tile: negative repetitions {reps!r}")
    ndim = builtins.max(len(reps_t), x.ndim)
    shape = (1,) * (ndim - x.ndim) + x.shape
    reps_t = (1,) * (ndim - len(reps_t)) + reps_t
    spread = dsl.reshape(x, tuple(d for s in shape for d in (1, s)))
    spread = dsl.broadcast_to(spread, tuple(d for r, s in zip(reps_t, shape) for d in (r, s)))
    return dsl.reshape(spread, tuple(r * s for r, s in zip(reps_t, shape)))


def roll(x: object, shift: Any, axis: Any = None) -> Node:
    """``np.roll``: elements shifted along ``axis`` (the flattened array when None), those
    pushed off the end coming back at the start. One concatenation of two slices per axis."""
    x = dsl.as_node(x)
    if axis is None:
        return dsl.reshape(roll(ravel(x), shift, 0), x.shape)
    shifts, axes = _int_list(shift), _int_list(axis)
    if len(shifts) == 1 and len(axes) > 1:
        shifts = shifts * len(axes)
    if len(axes) == 1 and len(shifts) > 1:
        axes = axes * len(shifts)
    if len(shifts) != len(axes):
        raise ValueError(f"roll: {len(shifts)} shifts for {len(axes)} axes")
    total: dict[int, int] = {}
    for s, a in zip(shifts, axes):
        a = normalize_axis("roll", a, x.ndim, x.shape)
        total[a] = total.get(a, 0) + operator.index(s)
    for a, s in sorted(total.items()):
        n = x.shape[a]
        s = s % n if n else 0
        if s:
            x = dsl.concatenate([_along(x, a, n - s, n), _along(x, a, 0, n - s)], a)
    return x


def _along(x: Node, axis: int, start: int, stop: int) -> Node:
    spec = [(0, 1, d) for d in x.shape]
    spec[axis] = (start if stop > start else 0, 1, builtins.max(stop - start, 0))
    return dsl.slice(x, spec)


def split(x: object, indices_or_sections: Any, axis: int = 0) -> list[Node]:
    """``np.split``: views of ``x`` cut along ``axis`` into N equal parts (an int, which must
    divide the axis) or at the given indices."""
    x = dsl.as_node(x)
    axis = normalize_axis("split", axis, x.ndim, x.shape)
    n = x.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        parts = int(indices_or_sections)
        if parts <= 0 or n % parts:
            raise ValueError(f"split: an axis of size {n} does not split into {parts} equal parts")
        bounds = [n // parts * i for i in range(1, parts)]
    else:
        bounds = _int_list(indices_or_sections)
    edges = [0] + [builtins.min(builtins.max(b + n if b < 0 else b, 0), n) for b in bounds] + [n]
    return [_along(x, axis, lo, builtins.max(lo, hi)) for lo, hi in zip(edges, edges[1:])]


def pad(x: object, pad_width: object, mode: str = "constant", constant_values: object = 0) -> Node:
    """``np.pad``: ``x`` widened by ``pad_width`` (an int, a ``(before, after)`` pair, or one
    pair per axis). ``mode="constant"`` fills with the scalar ``constant_values`` (one kernel
    for 0, a fused select otherwise); ``"edge"``, ``"reflect"``, ``"symmetric"`` and ``"wrap"``
    are gathers at the positions numpy's own padding of ``arange`` gives."""
    x = dsl.as_node(x)
    widths = (
        np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.ndim, 2))
        if x.ndim
        else np.zeros((0, 2), np.int64)
    )
    if (widths < 0).any():
        raise ValueError(f"pad: negative pad widths {pad_width!r}")
    if mode in ("edge", "reflect", "symmetric", "wrap"):
        for a in range(x.ndim):
            before, after = (int(w) for w in widths[a])
            if before or after:
                if x.shape[a] == 0:
                    raise ValueError(f"pad: cannot pad an empty axis {a} in mode {mode!r}")
                positions = np.pad(np.arange(x.shape[a]), (before, after), mode=mode)  # type: ignore[call-overload]
                x = take(x, positions, a)
        return x
    if mode != "constant":
        raise ValueError(
            f"pad: mode {mode!r} is not supported; expected 'constant', 'edge', 'reflect', "
            "'symmetric' or 'wrap'"
        )
    fill = np.asarray(constant_values)
    if fill.ndim:
        raise ValueError("pad: constant_values must be a scalar")
    shape = tuple(int(d + w.sum()) for d, w in zip(x.shape, widths))
    spec = [(int(w[0]) if d else 0, 1, d) for d, w in zip(x.shape, widths)]
    placed = dsl.unslice(x, spec, shape)
    if fill.item() == 0 and not np.signbit(fill):
        return placed
    inside = None
    for a, (d, w) in enumerate(zip(x.shape, widths)):
        if w.any():
            ramp = dsl.constant(
                np.arange(shape[a]).reshape([-1 if i == a else 1 for i in range(x.ndim)]),
                dtypes.INT64,
            )
            here = (ramp >= int(w[0])) & (ramp < int(w[0]) + d)
            inside = here if inside is None else inside & here
    if inside is None:
        return x
    return dsl.where(inside, placed, dsl.as_node(fill.item(), x))


def diff(
    x: object, n: int = 1, axis: int = -1, prepend: object = None, append: object = None
) -> Node:
    """``np.diff``: the n-th differences ``x[i+1] - x[i]`` along ``axis`` (``!=`` for
    booleans), after ``prepend``/``append`` (scalars or arrays) are concatenated."""
    y = dsl.as_node(x)
    if y.ndim == 0:
        raise ValueError("diff: expected an array of at least one dimension, got a scalar")
    n = operator.index(n)
    if n < 0:
        raise ValueError(f"diff: order must be non-negative, got {n}")
    axis = normalize_axis("diff", axis, y.ndim, y.shape)
    parts = [y]
    if prepend is not None:
        parts.insert(0, _edge_block(prepend, y, axis))
    if append is not None:
        parts.append(_edge_block(append, y, axis))
    y = dsl.concatenate(parts, axis) if len(parts) > 1 else y
    for _ in range(n):
        size = y.shape[axis]
        later, earlier = _along(y, axis, 1, size), _along(y, axis, 0, size - 1)
        y = later != earlier if y.dtype == dtypes.BOOL else later - earlier
    return y


def _edge_block(value: object, x: Node, axis: int) -> Node:
    node = dsl.as_node(value, x)
    if node.ndim == 0:
        return dsl.broadcast_to(node, x.shape[:axis] + (1,) + x.shape[axis + 1 :])
    return node


def atleast_1d(*xs: object):
    """``np.atleast_1d``: scalars become shape ``(1,)``; one array in, one out (else a list)."""
    result = [_at_least(dsl.as_node(x), 1) for x in xs]
    return result[0] if len(result) == 1 else result


def atleast_2d(*xs: object):
    """``np.atleast_2d``: ``()`` -> ``(1, 1)``, ``(n,)`` -> ``(1, n)``."""
    result = [_at_least(dsl.as_node(x), 2) for x in xs]
    return result[0] if len(result) == 1 else result


def atleast_3d(*xs: object):
    """``np.atleast_3d``: ``()`` -> ``(1, 1, 1)``, ``(n,)`` -> ``(1, n, 1)``, ``(m, n)`` ->
    ``(m, n, 1)``."""
    result = [_at_least(dsl.as_node(x), 3) for x in xs]
    return result[0] if len(result) == 1 else result


def _at_least(x: Node, ndim: int) -> Node:
    if x.ndim >= ndim:
        return x
    if ndim == 3:
        shape = {0: (1, 1, 1), 1: (1,) + x.shape + (1,), 2: x.shape + (1,)}[x.ndim]
    else:
        shape = (1,) * (ndim - x.ndim) + x.shape
    return dsl.reshape(x, shape)


def _sequence(op: str, xs: Sequence[object]) -> list[Node]:
    if isinstance(xs, Node) or not isinstance(xs, (list, tuple)):
        raise TypeError(f"{op}: expected a list or tuple of arrays, got {type(xs).__name__}")
    if not xs:
        raise ValueError(f"{op}: needs at least one array")
    return [dsl.as_node(x) for x in xs]


def hstack(xs: Sequence[object]) -> Node:
    """``np.hstack``: concatenation along axis 1 (axis 0 for 1-D arrays)."""
    nodes = [_at_least(x, 1) for x in _sequence("hstack", xs)]
    return dsl.concatenate(nodes, 0 if nodes[0].ndim == 1 else 1)


def vstack(xs: Sequence[object]) -> Node:
    """``np.vstack``: concatenation along axis 0 of the arrays made at least 2-D."""
    return dsl.concatenate([_at_least(x, 2) for x in _sequence("vstack", xs)], 0)


def dstack(xs: Sequence[object]) -> Node:
    """``np.dstack``: concatenation along axis 2 of the arrays made at least 3-D."""
    return dsl.concatenate([_at_least(x, 3) for x in _sequence("dstack", xs)], 2)
