"""Element types of graph values, and the promotion rules between them.

A dtype is one of four canonical strings: ``float64`` (the default), ``float32``, ``int64`` and
``bool``. Two functions turn other spellings into them, for two different questions:

- :func:`canonical` reads a dtype the user *asks for* (``gc.tensor``, ``astype``,
  ``gc.constant(value, dtype)``): numpy dtypes, Python types and short names (``"f32"``) of
  the four work; any other dtype (``int32``, ``uint8``, ``float16`` ...) is a TypeError listing
  the four, since silently giving another one (``astype(x, "int32")`` as int64) is a wrong
  answer.
- :func:`holding` reads the dtype of *data* (a numpy array or scalar given as a constant): the
  graphc dtype that holds its values exactly. Signed and unsigned ints become int64 (whether
  the values fit is the caller's check), float16 becomes float32. So ``gc.constant(x)`` of an
  int32 array (numpy's default int on Windows before numpy 2) just works.

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
# Python's own types mean graphc's type of that kind, whatever numpy's platform default is.
_FROM_PYTHON = {float: FLOAT64, int: INT64, bool: BOOL}
_SUPPORTED = f"expected one of {', '.join(DTYPES)}"
_HINTS = {"i": " (use int64)", "u": " (use int64)", "f": " (use float32 or float64)"}


def canonical(dtype: object, what: str = "dtype") -> str:
    """The canonical dtype string for a requested ``dtype`` (a string, numpy dtype or type, or
    Python type), or a TypeError naming ``what`` asked for it when graphc has no such dtype."""
    if isinstance(dtype, str) and (dtype in DTYPES or dtype in _ALIASES):
        return _ALIASES.get(dtype, dtype)
    try:
        known = _FROM_NUMPY.get(dtype) or _FROM_PYTHON.get(dtype)  # type: ignore[call-overload]
        if known is not None:
            return known
        np_dtype = np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(f"{what}: unknown dtype {dtype!r}; {_SUPPORTED}") from None
    known = _FROM_NUMPY.get(np_dtype.newbyteorder("="))
    if known is None:
        hint = _HINTS.get(np_dtype.kind, "")
        raise TypeError(f"{what}: graphc has no dtype {np_dtype}; {_SUPPORTED}{hint}")
    return known


def holding(dtype: np.dtype, what: str = "constant") -> str:
    """The graphc dtype that holds values of numpy dtype ``dtype`` exactly (see above)."""
    known = _FROM_NUMPY.get(dtype.newbyteorder("="))  # big-endian data holds the same values
    if known is not None:
        return known
    if dtype.kind in "iu":
        return INT64
    if dtype == np.float16:
        return FLOAT32
    raise TypeError(f"{what}: graphc cannot hold {dtype} values exactly; {_SUPPORTED}")


def is_float(dtype: str) -> bool:
    return dtype in FLOATS


def promote(*dtypes: str) -> str:
    """The dtype of an arithmetic result over values of these dtypes (numpy's rule)."""
    return canonical(np.result_type(*dtypes))


def float_result(dtype: str) -> str:
    """The dtype of a float function (exp, log, ...) applied to ``dtype``: ints become float64."""
    return dtype if dtype in FLOATS else FLOAT64
