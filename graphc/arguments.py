"""Binding call arguments to graph inputs, and checking them, for the evaluator and compiled code.

One place decides what a graph accepts, so ``gc.evaluate`` and compiled functions raise the same
errors:
- ``TypeError`` for a wrong count, an unknown or repeated name, a value that is not a number or
  an array, or a dtype that would lose information (float64 data into a float32 input);
- ``ValueError`` for a wrong shape (the message names the input, both shapes).
Scalar inputs take Python numbers, numpy scalars and 0-d arrays. Compiled functions read arrays
in row-major order: a strided view (``A[:, :3]``) is copied into a contiguous array on each
call (pass contiguous arrays to avoid the copy).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from graphc.node import Node
from graphc.shapes import fmt

_MISSING = object()
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


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

    ``strict`` (compiled functions): tensor inputs must already be numpy arrays of exactly the
    input's dtype, since converting them would hide a copy of their data on every call; a
    strided view is copied into row-major order (the compiled code reads it that way).
    """
    array = _as_numbers(node, value, strict)
    if array.shape != node.shape:
        raise ValueError(f"{_wanted(node)}, got shape {fmt(array.shape)}")
    array = _converted(node, value, array, strict, scalar_rows=False)
    if strict and node.shape and not array.flags.c_contiguous:
        array = np.ascontiguousarray(array)
    return array


def check_batch(node: Node, value: object) -> tuple[np.ndarray, bool]:
    """An argument of ``fn.batch``: the array, and whether it has a leading batch axis.

    The rule is the compiled call's (:func:`check` with ``strict``), row by row: a batch is
    accepted exactly when calling the function on each row would be. A tensor input takes a
    numpy array of its dtype, of shape ``(N, *shape)`` or ``shape`` (one value for every row);
    a scalar input also takes a number, and rows of any dtype that converts like a number does.
    Strided arrays are fine (the batch loop takes a stride per argument).
    """
    if not isinstance(value, np.ndarray) and (node.shape or not _is_number(value)):
        raise TypeError(
            f"batch: {_wanted(node)} per row, got {_describe(value)}; pass a numpy array of "
            f"shape (N, {', '.join(map(str, node.shape))}) or {fmt(node.shape)}"
        )
    array = _as_numbers(node, value, strict=False)
    batched = array.ndim == node.ndim + 1 and array.shape[1:] == node.shape
    if not batched and array.shape != node.shape:
        raise ValueError(
            f"batch: input {node.name!r} of shape {fmt(node.shape)} expects an array of shape "
            f"(N, {', '.join(map(str, node.shape))}) or {fmt(node.shape)}, got "
            f"{fmt(array.shape)}"
        )
    return _converted(node, value, array, strict=True, scalar_rows=True), batched


def _wanted(node: Node) -> str:
    return f"input {node.name!r} expects {np.dtype(node.dtype)} of shape {fmt(node.shape)}"


def _is_number(value: object) -> bool:
    return isinstance(value, (bool, int, float, np.generic))


def _as_numbers(node: Node, value: object, strict: bool) -> np.ndarray:
    if strict and node.shape and not isinstance(value, np.ndarray):
        raise TypeError(f"{_wanted(node)}, got {_describe(value)}; pass a numpy array")
    if isinstance(value, int) and not isinstance(value, bool) and node.dtype == "int64":
        if not INT64_MIN <= value <= INT64_MAX:
            raise OverflowError(f"{_wanted(node)}, got {value}, which does not fit in int64")
    try:
        array = np.asarray(value)
    except Exception:  # ragged lists and the like
        raise TypeError(f"{_wanted(node)}, got {_describe(value)}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{_wanted(node)}, got {_describe(value)} (not numbers)")
    return array


def _converted(
    node: Node, value: object, array: np.ndarray, strict: bool, scalar_rows: bool
) -> np.ndarray:
    """``array`` in the input's dtype, if the dtype rule allows: Python numbers and scalar
    inputs convert within their kind (numpy's "same_kind"), other arrays only without loss
    ("safe"), and, for ``strict``, tensor inputs not at all."""
    dtype = np.dtype(node.dtype)
    python_number = isinstance(value, (bool, int, float))
    scalar = not node.shape and (scalar_rows or array.ndim == 0)
    if strict and node.shape and array.dtype != dtype:
        raise TypeError(
            f"{_wanted(node)}, got dtype {array.dtype}; convert with .astype(np.{dtype})"
        )
    rule: Literal["same_kind", "safe"] = "same_kind" if python_number or scalar else "safe"
    if not np.can_cast(array.dtype, dtype, rule):
        raise TypeError(f"{_wanted(node)}, got dtype {array.dtype}, which does not convert safely")
    if dtype.kind == "i" and array.dtype.kind == "u" and array.size:
        # "same_kind" lets uint64 through, whose upper half would wrap to negative numbers.
        if int(array.max()) > INT64_MAX:
            raise OverflowError(f"{_wanted(node)}, got {array.max()}, which does not fit in int64")
    return array.astype(dtype, copy=False)
