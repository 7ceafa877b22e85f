"""The native call ABI: how ``graph_call`` takes its arguments, decided once per graph.

The IR entry point (:mod:`graphc.jit.codegen`) and the ctypes prototype of the call path
(:mod:`graphc.jit.function`) are both built from one :class:`CallABI`, so they cannot disagree.

- Scalar inputs arrive by value (booleans as ``i8``); arrays as ``PyObject*``: the entry reads
  ``PyArrayObject->data`` at :data:`PYARRAY_DATA_OFFSET`, a field access where asking numpy for
  the pointer costs a microsecond (the offset is checked when ``graphc.jit.function`` is
  imported).
- The only scalar output, when it is float64, is the return value; other scalar outputs go to
  one packed array of 8-byte slots; array outputs are arrays allocated by the caller.
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

from dataclasses import dataclass

from graphc import dtypes
from graphc.graph import Graph

PYARRAY_DATA_OFFSET = 16  # offsetof(PyArrayObject, data) on 64-bit CPython

# Largest workspace put on the native stack of the calling thread; larger ones come from Python.
STACK_WORKSPACE_LIMIT = 64 * 1024


BOXABLE = (dtypes.FLOAT64, dtypes.INT64, dtypes.BOOL)  # scalars the C API boxes directly


@dataclass(frozen=True)
class CallABI:
    direct: int | None  # the output returned as a double: the only scalar output, if float64
    pack: bool  # the other scalar outputs go to one packed array of 8-byte slots
    workspace_from_python: bool  # a workspace too large for the native stack
    constants: bool  # a table of constant pointers is passed
    holds_gil: bool  # called through PYFUNCTYPE: the GIL stays held (small straight-line code)
    boxed: bool  # the entry returns the Python result (a new reference), no pack


def call_abi(
    graph: Graph, workspace_bytes: int, n_constants: int, straight_line: bool = False
) -> CallABI:
    scalars = [k for k, o in enumerate(graph.outputs) if o.shape == ()]
    direct = None
    if len(scalars) == 1 and graph.outputs[scalars[0]].dtype == dtypes.FLOAT64:
        direct = scalars[0]
    boxed = (
        straight_line
        and direct is None
        and all(o.shape == () and o.dtype in BOXABLE for o in graph.outputs)
    )
    return CallABI(
        direct=direct,
        pack=bool(scalars) and direct is None and not boxed,
        workspace_from_python=workspace_bytes > STACK_WORKSPACE_LIMIT,
        constants=n_constants > 0,
        holds_gil=straight_line,
        boxed=boxed,
    )
