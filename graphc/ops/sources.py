"""Source ops: named inputs and constants. They have no arguments and no derivative rule.

Their shape rules are the one gate every source node passes, whether a user builds it
(``gc.tensor``, ``gc.constant``) or a serialised graph is loaded (``graphc.serialize.from_dict``
builds every node through ``make``), so what is checked here holds for every graph:

- an input's name is a Python identifier, in NFKC normal form, and not a keyword. Names are
  data: they are printed, used as keyword arguments and as parameter names of the compiled call
  path, so one that is not an identifier (``"x, y=[print('hi')][0]"``) must never get that far.
  A keyword (``lambda``, ``class``) could not be passed as a keyword argument (``fn(lambda=1)``
  is a syntax error) nor be a parameter; a name that NFKC normalisation changes (``"ﬁ"``, a
  ligature) is read by Python as another name (``"fi"``), so two different inputs could become
  one parameter. Soft keywords (``match``, ``case``, ``type``, ``_``) are ordinary identifiers
  in Python and are allowed.
- an input's shape is a tuple of non-negative ints and its dtype one of graphc's four;
- a constant's payload has one of graphc's four dtypes exactly.
"""

from __future__ import annotations

import keyword
import unicodedata

from graphc.dtypes import DTYPES
from graphc.ops.base import OpDef, register
from graphc.shapes import as_shape


def check_input_name(name: object) -> str:
    """``name`` if it can name an input (see the module docstring), else a clear error."""
    if not isinstance(name, str):
        raise TypeError(f"input names must be strings, got {name!r} of type {type(name).__name__}")
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(
            f"input names must be Python identifiers that are not keywords (they are keyword "
            f"arguments and parameter names of compiled functions), got {name!r}"
        )
    normal = unicodedata.normalize("NFKC", name)
    if normal != name:
        raise ValueError(
            f"input name {name!r} is not in NFKC normal form: Python would read it as "
            f"{normal!r}; expected an identifier in normal form"
        )
    return name


def _infer_input(args, attrs):
    name = check_input_name(attrs.get("name"))
    shape, dtype = attrs.get("shape"), attrs.get("dtype")
    if not isinstance(shape, tuple) or as_shape(shape, f"shape of input {name!r}") != shape:
        raise TypeError(
            f"input {name!r}: the shape must be a tuple of non-negative ints, got {shape!r}"
        )
    if dtype not in DTYPES:
        raise TypeError(f"input {name!r}: dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    return shape, dtype


def _infer_const(args, attrs):
    array = attrs["value"].array
    dtype = array.dtype
    # Exactly one of graphc's dtypes, native byte order: the payload is what the evaluator and
    # compiled code read as they are (gc.constant converts; a loaded document must match).
    if dtype.name not in DTYPES or not dtype.isnative:
        raise TypeError(f"const: payload of dtype {dtype.str} is not one of {', '.join(DTYPES)}")
    return tuple(array.shape), dtype.name


def _no_evaluate(node, *values):
    raise RuntimeError(f"{node.op} nodes are bound by the evaluator, not evaluated")


register(
    OpDef("input", "input", _infer_input, _no_evaluate, doc="a named graph input"),
    OpDef("const", "const", _infer_const, lambda node: node.value, doc="a constant array"),
)
