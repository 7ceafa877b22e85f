"""The native call ABI: how ``graph_call`` takes its arguments, decided once per graph.

The IR entry point (:mod:`graphc.jit.codegen`) and the ctypes prototype of the call path
(:mod:`graphc.jit.function`) are both built from one :class:`CallABI`, so they cannot disagree.

- Scalar inputs arrive by value (booleans as ``i8``); arrays as ``PyObject*``: the entry reads
  ``PyArrayObject->data`` at :data:`PYARRAY_DATA_OFFSET`, a field access where asking numpy for
  the pointer costs a microsecond (the offset is checked when ``graphc.jit.function`` is
  imported).
- A graph with array outputs (and float64, int64 or bool scalar outputs, if any) has a boxed
  entry that *allocates*: called holding the GIL (PYFUNCTYPE), it makes the arrays with numpy's
  ``PyArray_New``, runs the body with the GIL released (``PyEval_SaveThread``; not for a
  straight-line graph, below), boxes the scalars and returns the result, so Python allocates
  and builds nothing (0.3 us of a 1.5 us Helmholtz f+gradient call at n = 8); a failed
  allocation returns NULL with numpy's MemoryError set, which ctypes raises. numpy's API table
  reaches the code through the symbol :data:`NUMPY_API_SYMBOL`, bound at import if numpy's API
  behaves as checked here (else graphs compile to the path below): cached and pickled code
  holds no process address. A loader reads the ABI of code from its symbols (it names the table).
- Otherwise the only scalar output, when it is float64, is the return value; other scalar
  outputs go to one packed array of 8-byte slots; array outputs are allocated by the caller.
- A workspace of at most :data:`STACK_WORKSPACE_LIMIT` bytes lives on the native stack; a larger
  one is a per-thread buffer passed by the caller.
- A table of constant-array pointers is passed when the graph has constant arrays.
- A small straight-line graph (scalars only, inlined into its entry: tens of nanoseconds of
  work) is called holding the GIL, whose release and re-acquisition would cost more than the
  work; when all its outputs are float64, int64 or bool scalars and there are several, the entry
  also builds the Python result itself (floats, ints, bools and the tuple, through the C API),
  so a call returning three floats costs about one returning one.
"""

from __future__ import annotations

import ctypes
import importlib
from dataclasses import dataclass

import llvmlite.binding as llvm
import numpy as np

from graphc import dtypes
from graphc.graph import Graph

PYARRAY_DATA_OFFSET = 16  # offsetof(PyArrayObject, data) on 64-bit CPython

# Largest workspace put on the native stack of the calling thread; larger ones come from Python.
STACK_WORKSPACE_LIMIT = 64 * 1024


BOXABLE = (dtypes.FLOAT64, dtypes.INT64, dtypes.BOOL)  # scalars the C API boxes directly

# numpy's C API table (numpy/__multiarray_api.h; the same slots since numpy 1.x): &PyArray_Type,
# and PyArray_New(subtype, nd, dims, type_num, strides, data, itemsize, flags, obj).
NUMPY_API_SYMBOL = "graphc_numpy_api"
PYARRAY_TYPE_SLOT, PYARRAY_NEW_SLOT = 2, 93
TYPE_NUMBERS = {d: np.dtype(d).num for d in dtypes.DTYPES}  # NPY_DOUBLE, ... on this platform


@dataclass(frozen=True)
class CallABI:
    direct: int | None  # the output returned as a double: the only scalar output, if float64
    pack: bool  # the other scalar outputs go to one packed array of 8-byte slots
    workspace_from_python: bool  # a workspace too large for the native stack
    constants: bool  # a table of constant pointers is passed
    holds_gil: bool  # called through PYFUNCTYPE: the GIL stays held (small straight-line code)
    boxed: bool  # the entry returns the Python result (a new reference), no pack
    allocates: bool  # ... and allocates the array outputs (boxed; not passed by the caller)
    releases_gil: bool  # the entry releases the GIL around the body itself


def call_abi(
    graph: Graph,
    workspace_bytes: int,
    n_constants: int,
    straight_line: bool = False,
    numpy_api: bool = False,
) -> CallABI:
    """``numpy_api``: whether the entry may call numpy's API (compiling: whether it is bound;
    loading: whether the code calls it)."""
    outputs = graph.outputs
    scalars = [k for k, o in enumerate(outputs) if o.shape == ()]
    arrays = len(scalars) < len(outputs)
    allocates = numpy_api and arrays and all(outputs[k].dtype in BOXABLE for k in scalars)
    direct = None
    if len(scalars) == 1 and outputs[scalars[0]].dtype == dtypes.FLOAT64 and not allocates:
        direct = scalars[0]
    boxed = allocates or (
        straight_line and direct is None and not arrays and all(o.dtype in BOXABLE for o in outputs)
    )
    return CallABI(
        direct=direct,
        pack=bool(scalars) and direct is None and not boxed,
        workspace_from_python=workspace_bytes > STACK_WORKSPACE_LIMIT,
        constants=n_constants > 0,
        holds_gil=straight_line or allocates,
        boxed=boxed,
        allocates=allocates,
        releases_gil=allocates and not straight_line,
    )


def _bind_numpy_api() -> bool:
    """Bind :data:`NUMPY_API_SYMBOL` to numpy's API table if ``PyArray_Type`` is at its slot and
    ``PyArray_New`` makes owned, writable, C-contiguous arrays of each dtype."""
    get = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
        ("PyCapsule_GetPointer", ctypes.pythonapi)
    )
    for home in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):  # 2.x, 1.x
        try:
            table = (ctypes.c_void_p * 94).from_address(
                get(importlib.import_module(home)._ARRAY_API, None)
            )
            break
        except (ImportError, AttributeError, ValueError, TypeError):
            continue
    else:
        return False
    if table[PYARRAY_TYPE_SLOT] != id(np.ndarray):
        return False
    i32, ptr = ctypes.c_int, ctypes.c_void_p
    new = ctypes.PYFUNCTYPE(ctypes.py_object, ptr, i32, ptr, i32, ptr, ptr, i32, i32, ptr)(
        table[PYARRAY_NEW_SLOT] or 0
    )
    dims = (ctypes.c_int64 * 2)(2, 3)
    for dtype, number in TYPE_NUMBERS.items():
        made = new(table[PYARRAY_TYPE_SLOT], 2, ctypes.addressof(dims), number, 0, 0, 0, 0, 0)
        flags = made.flags
        if type(made) is not np.ndarray or (made.shape, made.dtype) != ((2, 3), dtype):
            return False
        if not (flags.owndata and flags.writeable and flags.c_contiguous and flags.aligned):
            return False
    llvm.add_symbol(NUMPY_API_SYMBOL, ctypes.addressof(table))
    return True


NUMPY_API = _bind_numpy_api()  # whether compiled entries may allocate their outputs
