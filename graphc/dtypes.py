"""Element types of graph values, and the promotion rules between them.

A dtype is one of four canonical strings: ``float64`` (the default), ``float32``, ``int64`` and
``bool``. Everything that accepts a dtype (``gc.tensor``, ``astype``) goes through
:func:`canonical` so numpy dtypes, Python types and short names (``"f32"``) all work.

Promotion follows numpy 2 (NEP 50): two graph values promote like their numpy dtypes
(``float32 + float64 -> float64``, ``int64 + float32 -> float64``), while a Python number is
"weak" and takes the type of the graph value it meets (``x32 * 2.0`` stays ``float32``).
"""

from __future__ import annotations

import numpy as np

FLOAT64 = "float64"
FLOAT32 = "float32"
INT64 = "int64"
BOOL = "bool"

DTYPES = (FLOAT64, FLOAT32, INT64, BOOL)
FLOATS = (FLOAT64, FLOAT32)

SHORT_NAMES = {FLOAT64: "f64", FLOAT32: "f32", INT64: "i64", BOOL: "bool"}
_ALIASES = {
    "f64": FLOAT64,
    "double": FLOAT64,
    "float": FLOAT64,
    "f32": FLOAT32,
    "single": FLOAT32,
    "i64": INT64,
    "int": INT64,
}


_FROM_NUMPY = {np.dtype(d): d for d in DTYPES}


def canonical(dtype: object) -> str:
    """The canonical dtype string for ``dtype`` (a string, numpy dtype or Python type)."""
    if isinstance(dtype, str) and (dtype in DTYPES or dtype in _ALIASES):
        return _ALIASES.get(dtype, dtype)
    known = _FROM_NUMPY.get(dtype)  # type: ignore[call-overload]
    if known is not None:
        return known
    try:
        np_dtype = np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPES)}") from None
    if np_dtype == np.float64:
        return FLOAT64
    if np_dtype == np.float32:
        return FLOAT32
    if np_dtype.kind in "iu":
        return INT64
    if np_dtype.kind == "b":
        return BOOL
    raise TypeError(f"unsupported dtype {np_dtype}; expected one of {', '.join(DTYPES)}")


def is_float(dtype: str) -> bool:
    return dtype in FLOATS


def promote(*dtypes: str) -> str:
    """The dtype of an arithmetic result over values of these dtypes (numpy's rule)."""
    return canonical(np.result_type(*dtypes))


def float_result(dtype: str) -> str:
    """The dtype of a float function (exp, log, ...) applied to ``dtype``: ints become float64."""
    return dtype if dtype in FLOATS else FLOAT64
