"""Constant arrays of compiled code: how they are described, and shared between functions.

A compiled function reads its constant arrays (weights, data matrices) through a table of
pointers, so the arrays must live as long as the function. The registry here keeps one live
copy per content: compiling ``f`` and ``f`` with its gradient over one 8 MB matrix keeps one
array, not two; an entry goes when no function uses it (a weak registry).

Invariants: a shared array is C-contiguous and read-only (compiled code and every function
using it see the same bytes); its description (dtype, shape, a digest of its bytes) is what
cache entries and pickles record, so the same content is recognised across processes.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Callable

import numpy as np


def describe(array: np.ndarray) -> dict:
    """A constant's entry in the header: dtype, shape and a digest of its contents."""
    array = np.ascontiguousarray(array)
    # A byte view of the array, without copying it (no byte view of a 0-size array exists).
    data = memoryview(array).cast("B") if array.size else b""  # type: ignore[arg-type]
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    return {"dtype": array.dtype.str, "shape": list(array.shape), "digest": digest}


# Constant arrays in use by compiled functions, by content (see the module docstring).
_LIVE_CONSTANTS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def share(meta: dict, make: Callable[[], np.ndarray]) -> np.ndarray:
    """The live array with ``meta``'s contents, or ``make()`` (made read-only) registered as it."""
    key = (meta["dtype"], tuple(meta["shape"]), meta["digest"])
    found = _LIVE_CONSTANTS.get(key)
    if found is None:
        found = np.ascontiguousarray(make())
        found.setflags(write=False)
        _LIVE_CONSTANTS[key] = found
    return found


def blob_to_array(meta: dict, blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.dtype(meta["dtype"])).reshape(meta["shape"]).copy()
