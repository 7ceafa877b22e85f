"""Binding call arguments to graph inputs, and checking them, for the evaluator and compiled code.

One place decides what a graph accepts, so ``gc.evaluate`` and compiled functions raise the same
errors:
- ``TypeError`` for a wrong count, an unknown or repeated name, a value that is not a number or
  an array, or a dtype that would lose information (float64 data into a float32 input);
- ``ValueError`` for a wrong shape (the message names the input, both shapes) and, for compiled
  functions, a non-contiguous array.
Scalar inputs take Python numbers, numpy scalars and 0-d arrays.
"""

from __future__ import annotations

import numpy as np

from graphc.node import Node
from graphc.shapes import fmt

_MISSING = object()


def bind(names: tuple[str, ...], args: tuple, kwargs: dict) -> list:
    """Positional and keyword arguments in input order; TypeError if they do not fit."""
    expected = f"the inputs are ({', '.join(names)})"
    if len(args) > len(names):
        raise TypeError(f"expected {len(names)} arguments, got {len(args)}; {expected}")
    values = list(args) + [_MISSING] * (len(names) - len(args))
    for key, value in kwargs.items():
        if key not in names:
            raise TypeError(f"unexpected argument {key!r}; {expected}")
        position = names.index(key)
        if values[position] is not _MISSING:
            raise TypeError(f"argument {key!r} given twice (by position and by name)")
        values[position] = value
    missing = [names[i] for i, v in enumerate(values) if v is _MISSING]
    if missing:
        raise TypeError(f"missing argument(s) {', '.join(map(repr, missing))}; {expected}")
    return values


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype} and shape {fmt(value.shape)}"
    return f"a value of type {type(value).__name__}"


def check(node: Node, value: object, strict: bool = False) -> np.ndarray:
    """``value`` as an array of ``node``'s dtype and shape, or a clear error.

    ``strict`` (compiled functions): tensor inputs must already be C-contiguous numpy arrays of
    exactly the input's dtype, since converting them would hide a copy on every call.
    """
    name, dtype, shape = node.name, np.dtype(node.dtype), node.shape
    wanted = f"input {name!r} expects {dtype} of shape {fmt(shape)}"
    python_number = isinstance(value, (bool, int, float)) and not isinstance(value, np.ndarray)
    if strict and shape and not isinstance(value, np.ndarray):
        raise TypeError(f"{wanted}, got {_describe(value)}; pass a numpy array")
    try:
        array = np.asarray(value)
    except Exception:  # ragged lists and the like
        raise TypeError(f"{wanted}, got {_describe(value)}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{wanted}, got {_describe(value)} (not numbers)")
    if array.shape != shape:
        raise ValueError(f"{wanted}, got shape {fmt(array.shape)}")
    rule = "same_kind" if python_number or not shape else "safe"
    if strict and shape and array.dtype != dtype:
        raise TypeError(f"{wanted}, got dtype {array.dtype}; convert with .astype(np.{dtype})")
    if not np.can_cast(array.dtype, dtype, rule):
        raise TypeError(f"{wanted}, got dtype {array.dtype}, which does not convert safely")
    if strict and shape and not array.flags.c_contiguous:
        raise ValueError(
            f"{wanted}: got a non-contiguous array (a strided view); pass np.ascontiguousarray(x)"
        )
    return array.astype(dtype, copy=False)
