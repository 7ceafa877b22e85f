"""Shape ops: reshape, transpose, broadcast_to, slice, unslice, concatenate.

All are linear, so their vjp is their transpose and their jvp is the op applied to the tangent.
``slice`` carries ``spec``: one ``(start, step, count)`` per axis (numpy basic indexing with ints
and slices is built from it by the DSL); ``unslice`` is its transpose: zeros of ``shape`` with
the argument written at ``spec``. Lowering treats reshape, transpose, broadcast_to and slice as
views (index arithmetic, no copy) wherever the source is a buffer.
"""

from __future__ import annotations

import numpy as np

from graphc import dsl, dtypes  # dsl is complete here: graphc.node imports it first
from graphc.batching import align, batch_size, materialize, moveaxis
from graphc.ops.base import OpDef, is_differentiable, register, unbroadcast
from graphc.shapes import fmt, size

# -- reshape ----------------------------------------------------------------------------------


def _infer_reshape(args, attrs):
    (x,) = args
    shape = attrs["shape"]
    if size(shape) != x.size:
        raise ValueError(
            f"reshape: cannot reshape an array of shape {fmt(x.shape)} ({x.size} elements) "
            f"into shape {fmt(shape)} ({size(shape)} elements)"
        )
    return shape, x.dtype


def _reshape_vjp(node, ct):
    return (dsl.reshape(ct, node.args[0].shape),)


def _reshape_jvp(node, tangents):
    (t,) = tangents
    return None if t is None else dsl.reshape(t, node.shape)


def _reshape_batch(node, args, axes):
    (x,), (axis,) = args, axes
    size = x.shape[axis]
    if axis == x.ndim - 1:  # batch last: each entry's elements keep their row-major order
        return dsl.reshape(x, node.shape + (size,)), node.ndim
    return dsl.reshape(moveaxis(x, axis, 0), (size,) + node.shape), 0


# -- transpose --------------------------------------------------------------------------------


def _infer_transpose(args, attrs):
    (x,) = args
    perm = attrs["perm"]
    if sorted(perm) != list(range(x.ndim)):
        raise ValueError(
            f"transpose: axes {perm} are not a permutation of the {x.ndim} axes of shape "
            f"{fmt(x.shape)}"
        )
    return tuple(x.shape[p] for p in perm), x.dtype


def _transpose_vjp(node, ct):
    perm = node.attrs["perm"]
    inverse = tuple(int(i) for i in np.argsort(perm))
    return (dsl.transpose(ct, inverse),)


def _transpose_jvp(node, tangents):
    (t,) = tangents
    return None if t is None else dsl.transpose(t, node.attrs["perm"])


def _transpose_batch(node, args, axes):
    (x,), (axis,) = args, axes
    perm = tuple(p if p < axis else p + 1 for p in node.attrs["perm"])
    if axis == x.ndim - 1:  # batch last stays last
        return dsl.transpose(x, perm + (axis,)), node.ndim
    return dsl.transpose(x, (axis,) + perm), 0


# -- broadcast_to -----------------------------------------------------------------------------


def _infer_broadcast_to(args, attrs):
    (x,) = args
    shape = attrs["shape"]
    lead = len(shape) - x.ndim
    ok = lead >= 0 and all(d in (1, t) for d, t in zip(x.shape, shape[lead:]))
    if not ok:
        raise ValueError(
            f"broadcast_to: cannot broadcast shape {fmt(x.shape)} to {fmt(shape)}; expected "
            "each axis of the source to be 1 or equal to the target's (aligned on the right)"
        )
    return shape, x.dtype


def _broadcast_to_vjp(node, ct):
    return (unbroadcast(ct, node.args[0]),)


def _broadcast_to_jvp(node, tangents):
    (t,) = tangents
    return None if t is None else dsl.broadcast_to(t, node.shape)


def _broadcast_to_batch(node, args, axes):
    (x,), (axis,) = args, axes
    if axis == x.ndim - 1:  # batch last: still aligned on the right with the target
        return dsl.broadcast_to(x, node.shape + (x.shape[axis],)), node.ndim
    x = align(x, axis, node.ndim)
    return dsl.broadcast_to(x, (x.shape[0],) + node.shape), 0


# -- slice / unslice --------------------------------------------------------------------------


def python_slices(spec) -> tuple[slice, ...]:
    """The tuple of Python slices that ``spec`` stands for."""
    result = []
    for start, step, count in spec:
        stop = start + step * count
        result.append(slice(start, stop if stop >= 0 else None, step))
    return tuple(result)


def _check_spec(op, spec, shape):
    if len(spec) != len(shape):
        raise ValueError(f"{op}: spec has {len(spec)} axes, shape {fmt(shape)} has {len(shape)}")
    for (start, step, count), dim in zip(spec, shape):
        last = start + step * (count - 1)
        if count and not (0 <= start < dim and 0 <= last < dim) or step == 0:
            raise ValueError(f"{op}: slice {(start, step, count)} out of range for size {dim}")


def _infer_slice(args, attrs):
    (x,) = args
    spec = attrs["spec"]
    _check_spec("slice", spec, x.shape)
    return tuple(count for _, _, count in spec), x.dtype


def _eval_slice(node, x):
    return np.array(x[python_slices(node.attrs["spec"])], dtype=node.dtype)


def _slice_vjp(node, ct):
    return (dsl.unslice(ct, node.attrs["spec"], node.args[0].shape),)


def _slice_jvp(node, tangents):
    (t,) = tangents
    return None if t is None else dsl.slice(t, node.attrs["spec"])


def _slice_batch(node, args, axes):
    (x,), (axis,) = args, axes
    spec = list(node.attrs["spec"])
    spec.insert(axis, (0, 1, x.shape[axis]))  # every entry of the batch, the same block
    return dsl.slice(x, spec), axis


def _infer_unslice(args, attrs):
    (x,) = args
    spec, shape = attrs["spec"], attrs["shape"]
    _check_spec("unslice", spec, shape)
    if tuple(count for _, _, count in spec) != x.shape:
        raise ValueError(f"unslice: spec {spec} selects a different shape than {fmt(x.shape)}")
    return shape, x.dtype


def _eval_unslice(node, x):
    out = np.zeros(node.attrs["shape"], dtype=node.dtype)
    out[python_slices(node.attrs["spec"])] = x
    return out


def _unslice_vjp(node, ct):
    return (dsl.slice(ct, node.attrs["spec"]),)


def _unslice_jvp(node, tangents):
    (t,) = tangents
    return None if t is None else dsl.unslice(t, node.attrs["spec"], node.shape)


def _unslice_batch(node, args, axes):
    (x,), (axis,) = args, axes
    spec, shape = list(node.attrs["spec"]), list(node.shape)
    spec.insert(axis, (0, 1, x.shape[axis]))
    shape.insert(axis, x.shape[axis])
    return dsl.unslice(x, spec, shape), axis


# -- concatenate ------------------------------------------------------------------------------


def _infer_concatenate(args, attrs):
    axis = attrs["axis"]
    if not args:
        raise ValueError("concatenate: needs at least one array")
    first = args[0]
    for arg in args[1:]:
        same = arg.ndim == first.ndim and all(
            d == e for i, (d, e) in enumerate(zip(arg.shape, first.shape)) if i != axis
        )
        if not same:
            raise ValueError(
                f"concatenate: shapes {fmt(first.shape)} and {fmt(arg.shape)} differ outside "
                f"axis {axis}; expected equal sizes on every other axis"
            )
    shape = list(first.shape)
    shape[axis] = sum(a.shape[axis] for a in args)
    return tuple(shape), dtypes.promote(*(a.dtype for a in args))


def _eval_concatenate(node, *xs):
    return np.concatenate([np.asarray(x, dtype=node.dtype) for x in xs], axis=node.attrs["axis"])


def _concatenate_vjp(node, ct):
    axis = node.attrs["axis"]
    result, offset = [], 0
    for arg in node.args:
        spec = tuple(
            (offset, 1, arg.shape[i]) if i == axis else (0, 1, d) for i, d in enumerate(node.shape)
        )
        offset += arg.shape[axis]
        piece = dsl.slice(ct, spec) if is_differentiable(arg) else None
        result.append(
            piece if piece is None or piece.dtype == arg.dtype else piece.astype(arg.dtype)
        )
    return tuple(result)


def _concatenate_jvp(node, tangents):
    if all(t is None for t in tangents):
        return None
    parts = [
        dsl.zeros(arg.shape, node.dtype) if t is None else dsl.astype(t, node.dtype)
        for arg, t in zip(node.args, tangents)
    ]
    return dsl.concatenate(parts, node.attrs["axis"])


def _concatenate_batch(node, args, axes):
    size = batch_size(args, axes)
    k = next(axis for axis in axes if axis is not None)  # the batch goes where the first's is
    parts = [
        moveaxis(materialize(a, None, size), 0, k) if axis is None else moveaxis(a, axis, k)
        for a, axis in zip(args, axes)
    ]
    along = node.attrs["axis"]
    return dsl.concatenate(parts, along if along < k else along + 1), k


register(
    OpDef(
        "reshape",
        "view",
        _infer_reshape,
        lambda n, x: np.reshape(x, n.attrs["shape"]).copy(),
        _reshape_vjp,
        _reshape_jvp,
        batch=_reshape_batch,
    ),
    OpDef(
        "transpose",
        "view",
        _infer_transpose,
        lambda n, x: np.transpose(x, n.attrs["perm"]).copy(),
        _transpose_vjp,
        _transpose_jvp,
        batch=_transpose_batch,
    ),
    OpDef(
        "broadcast_to",
        "view",
        _infer_broadcast_to,
        lambda n, x: np.broadcast_to(x, n.attrs["shape"]),
        _broadcast_to_vjp,
        _broadcast_to_jvp,
        batch=_broadcast_to_batch,
    ),
    OpDef("slice", "view", _infer_slice, _eval_slice, _slice_vjp, _slice_jvp, batch=_slice_batch),
    OpDef(
        "unslice",
        "unslice",
        _infer_unslice,
        _eval_unslice,
        _unslice_vjp,
        _unslice_jvp,
        batch=_unslice_batch,
    ),
    OpDef(
        "concatenate",
        "concat",
        _infer_concatenate,
        _eval_concatenate,
        _concatenate_vjp,
        _concatenate_jvp,
        batch=_concatenate_batch,
    ),
)
