"""Static shapes: normalisation, numpy broadcasting and axis handling.

Shapes are tuples of non-negative ints; ``()`` is a scalar. Every function here raises
``ValueError`` with a message naming the op and the shapes involved, because these checks run
when a node is built and the message is what the user sees.

No shape holds more than :data:`MAX_ELEMENTS` elements (``graphc.ops.base.make`` checks every
node): at 8 bytes an element its size in bytes then fits in an int64, which is what numpy's
arrays (their views included) and the compiled code's index arithmetic can address. A larger
element count would wrap around in the native loops and give a silent wrong answer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

Shape = tuple[int, ...]


def as_shape(shape: object, what: str = "shape") -> Shape:
    """Normalise an int or a sequence of ints to a shape tuple."""
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims: tuple[object, ...] = tuple(shape)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{what} must be an int or a sequence of ints, got {shape!r}") from None
    result = []
    for dim in dims:
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 0:
            raise ValueError(f"{what} must contain non-negative ints, got {shape!r}")
        result.append(int(dim))
    return tuple(result)


# The largest element count of a shape: (2**63 - 1) // 8, whatever the dtype, so the rule is
# one number to remember and the byte size of any graphc dtype fits in an int64.
MAX_ELEMENTS = (2**63 - 1) // 8


def size(shape: Shape) -> int:
    return math.prod(shape)


def too_large(op: str, shape: Shape) -> ValueError:
    """The error for a node of ``op`` whose ``shape`` has more than MAX_ELEMENTS elements."""
    return ValueError(
        f"{op}: the shape {fmt(shape)} has {math.prod(shape)} elements, more than the "
        f"{MAX_ELEMENTS} (2**60 - 1) graphc allows: its size in bytes must fit in int64"
    )


def fmt(shape: Shape) -> str:
    """A shape as users write it: ``(3, 4)``, ``(5,)``, ``()``."""
    return str(tuple(shape))


def broadcast(op: str, *shapes: Shape) -> Shape:
    """The numpy broadcast of ``shapes``, or a ValueError naming ``op`` and every shape."""
    ndim = max((len(s) for s in shapes), default=0)
    result = []
    for axis in range(-ndim, 0):
        dim = 1
        for shape in shapes:
            if len(shape) >= -axis:
                this = shape[axis]
                if this != 1:
                    if dim not in (1, this):
                        shown = " and ".join(fmt(s) for s in shapes)
                        raise ValueError(
                            f"{op}: shapes {shown} do not broadcast: axis {axis} has sizes "
                            f"{dim} and {this}; expected equal sizes or 1 (numpy broadcasting)"
                        )
                    dim = this
        result.append(dim)
    return tuple(result)


def broadcast_axes(source: Shape, target: Shape) -> tuple[tuple[int, ...], Shape]:
    """Which axes of ``target`` a broadcast from ``source`` created or stretched.

    Returns ``(axes, kept)``: summing a ``target``-shaped array over ``axes`` (without keepdims)
    gives an array of shape ``kept``, which reshapes to ``source``. This is what undoes
    broadcasting in reverse mode.
    """
    lead = len(target) - len(source)
    axes = list(range(lead))
    for i, dim in enumerate(source):
        if dim == 1 and target[lead + i] != 1:
            axes.append(lead + i)
    kept = tuple(d for i, d in enumerate(target) if i not in axes)
    return tuple(axes), kept


def normalize_axes(op: str, axis: object, ndim: int, shape: Shape | None = None) -> tuple[int, ...]:
    """``axis`` (None, an int or a sequence) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    items: Iterable[object] = (axis,) if isinstance(axis, int) else axis  # type: ignore[assignment]
    try:
        axes = [normalize_axis(op, a, ndim, shape) for a in items]
    except TypeError:
        raise TypeError(
            f"{op}: axis must be None, an int or a tuple of ints, got {axis!r}"
        ) from None
    if len(set(axes)) != len(axes):
        raise ValueError(f"{op}: repeated axis in {axis!r}")
    return tuple(sorted(axes))


def normalize_axis(op: str, axis: object, ndim: int, shape: Shape | None = None) -> int:
    """``axis`` as a non-negative int; ``shape`` (the operand's), when given, is named in the
    error so the user sees which array the axis was meant for."""
    if not isinstance(axis, int) or isinstance(axis, bool):
        raise TypeError(f"{op}: axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        of = f" of shape {fmt(shape)}" if shape is not None else ""
        raise ValueError(
            f"{op}: axis {axis} is out of range for an array{of} of {ndim} dimensions; "
            f"expected {-ndim} <= axis < {ndim}"
        )
    return axis % ndim if ndim else 0


def reduced_shape(shape: Shape, axes: tuple[int, ...], keepdims: bool) -> Shape:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def contiguous_strides(shape: Shape) -> tuple[int, ...]:
    """Row-major element strides of ``shape``."""
    strides = []
    step = 1
    for dim in reversed(shape):
        strides.append(step)
        step *= dim
    return tuple(reversed(strides))


def full_index(items: Sequence[object], shape: tuple[int, ...], op: str) -> list[object]:
    """``items`` of an index with its ``...`` expanded and full slices appended, so that every
    axis of ``shape`` has an item (``None`` items add axes); ``op`` names the caller in errors."""
    used = sum(1 for k in items if k is not None and k is not Ellipsis)
    if used > len(shape):
        raise IndexError(f"{op}: too many indices ({used}) for shape {fmt(shape)}")
    if sum(1 for k in items if k is Ellipsis) > 1:
        raise IndexError(f"{op}: an index can only have a single ellipsis ('...')")
    expanded: list[object] = []
    for item in items:
        if item is Ellipsis:
            expanded.extend([slice(None)] * (len(shape) - used))
        else:
            expanded.append(item)
    missing = len(shape) - sum(1 for k in expanded if k is not None)
    return expanded + [slice(None)] * missing
