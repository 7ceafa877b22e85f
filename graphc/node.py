"""The IR's one node type, its attributes and constant payloads.

Invariants:
- A :class:`Node` is immutable and compared by identity (``eq=False``): two nodes computing the
  same thing are different nodes until the CSE pass merges them. There is no global
  hash-consing.
- ``shape`` and ``dtype`` are fixed when the node is built, by the op's shape rule
  (``graphc.ops``); nothing downstream re-derives them.
- ``attrs`` is an :class:`Attrs` (an immutable, hashable dict), so ``(op, args, attrs)`` keys a
  node's value for CSE.
- Constant payloads are :class:`ConstValue`: read-only arrays keyed by dtype, shape and bytes, so
  ``-0.0`` and ``0.0`` differ and ``nan`` equals ``nan``.

Operator overloading lives here (``+``, ``@``, ``[]``, ``.T`` ...) and forwards to
:mod:`graphc.dsl`, so derivative rules can write ``ct * node`` without importing the DSL. numpy's
operators with an array on the left come here through ``__array_ufunc__`` and build nodes too;
any other numpy function applied to a node raises a TypeError naming graphc's function.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphc.dtypes import SHORT_NAMES


class Attrs(dict):
    """An immutable, hashable mapping of op attributes (axis, shape, name, constant ...)."""

    __slots__ = ("_hash",)
    _hash: int

    def __hash__(self) -> int:  # type: ignore[override]
        try:
            return self._hash
        except AttributeError:
            self._hash = hash(tuple(sorted(self.items())))
            return self._hash

    def _immutable(self, *args: object, **kwargs: object) -> None:
        raise TypeError("node attributes are immutable")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _immutable  # type: ignore


NO_ATTRS = Attrs()

origin_stack: list[str] = [""]


class origin:
    """Context manager: nodes built inside are tagged with ``tag`` (see ``Node.origin``)."""

    def __init__(self, tag: str):
        self.tag = tag

    def __enter__(self) -> None:
        origin_stack.append(self.tag)

    def __exit__(self, *exc: object) -> None:
        origin_stack.pop()


def current_origin() -> str:
    return origin_stack[-1]


class ConstValue:
    """A constant's payload: a read-only numpy array, hashed by dtype, shape and bytes."""

    __slots__ = ("array", "_key", "_splat")

    def __init__(self, array: np.ndarray, copy: bool = True):
        if copy:
            array = np.array(array, copy=True)
        array.setflags(write=False)
        self.array = array
        self._key: tuple | None = None
        self._splat: Any = ...

    @property
    def key(self) -> tuple:
        if self._key is None:
            digest = hashlib.blake2b(self.array.tobytes(), digest_size=16).digest()
            self._key = (self.array.dtype.str, self.array.shape, digest)
        return self._key

    @property
    def splat(self) -> float | int | bool | None:
        """The single value every element holds, or None if the elements differ (or nan)."""
        if self._splat is ...:
            flat = self.array.reshape(-1)
            value = None
            if flat.size and not (flat.dtype.kind == "f" and np.isnan(flat[0])):
                first = flat[0]
                # Bitwise equality: a splat of 0.0 must not hide a -0.0 element.
                as_bytes = flat.view(np.uint8).reshape(flat.size, -1)
                if (as_bytes == as_bytes[0]).all():
                    value = first.item()
            self._splat = value
        return self._splat

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConstValue) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        if self.array.ndim == 0:
            return repr(self.array.item())
        text = np.array2string(self.array.reshape(-1)[:4], separator=", ", precision=6)
        more = ", ..." if self.array.size > 4 else ""
        return f"{text[:-1]}{more}]" if self.array.size > 4 else text


@dataclass(frozen=True, slots=True, eq=False)
class Node:
    """One value of a graph: ``op`` applied to ``args`` with ``attrs``, of a static type."""

    op: str
    args: tuple[Node, ...]
    attrs: Attrs
    shape: tuple[int, ...]
    dtype: str
    # Where the node came from: "" for the user's code, "adjoint" for reverse mode, "tangent"
    # for forward mode. Display only (DOT colours); never part of a node's identity or value.
    origin: str = ""

    # -- introspection ---------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def type_str(self) -> str:
        return f"{SHORT_NAMES[self.dtype]}[{','.join(map(str, self.shape))}]"

    @property
    def name(self) -> str | None:
        """The input's name, for input nodes."""
        return self.attrs.get("name")

    @property
    def value(self) -> np.ndarray:
        """The constant's array, for constant nodes."""
        return self.attrs["value"].array

    def __repr__(self) -> str:
        if self.op == "input":
            return f"<input {self.attrs['name']}: {self.type_str}>"
        if self.op == "const":
            return f"<const {self.attrs['value']!r}: {self.type_str}>"
        return f"<{self.op}: {self.type_str}>"

    def __bool__(self) -> bool:
        raise TypeError(
            "a graph node has no truth value while the graph is being built; "
            "use gc.where(cond, a, b) for a data-dependent choice"
        )

    def __iter__(self):
        raise TypeError(
            f"cannot iterate over a graph node of shape {self.shape}; index it with x[i] instead"
        )

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a scalar node")
        return self.shape[0]

    # -- arithmetic (forwarded to graphc.dsl) -----------------------------------------------
    def __add__(self, other):
        return dsl.add(self, other)

    def __radd__(self, other):
        return dsl.add(other, self)

    def __sub__(self, other):
        return dsl.subtract(self, other)

    def __rsub__(self, other):
        return dsl.subtract(other, self)

    def __mul__(self, other):
        return dsl.multiply(self, other)

    def __rmul__(self, other):
        return dsl.multiply(other, self)

    def __truediv__(self, other):
        return dsl.divide(self, other)

    def __rtruediv__(self, other):
        return dsl.divide(other, self)

    def __pow__(self, other):
        return dsl.power(self, other)

    def __rpow__(self, other):
        return dsl.power(other, self)

    def __mod__(self, other):
        return dsl.remainder(self, other)

    def __rmod__(self, other):
        return dsl.remainder(other, self)

    def __neg__(self):
        return dsl.negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return dsl.abs(self)

    def __matmul__(self, other):
        return dsl.matmul(self, other)

    def __rmatmul__(self, other):
        return dsl.matmul(other, self)

    # Comparisons build boolean nodes; identity stays available through `is`.
    def __lt__(self, other):
        return dsl.less(self, other)

    def __le__(self, other):
        return dsl.less_equal(self, other)

    def __gt__(self, other):
        return dsl.greater(self, other)

    def __ge__(self, other):
        return dsl.greater_equal(self, other)

    def __eq__(self, other):
        return dsl.equal(self, other)

    def __ne__(self, other):
        return dsl.not_equal(self, other)

    __hash__ = object.__hash__

    def __and__(self, other):
        return dsl.logical_and(self, other)

    def __rand__(self, other):
        return dsl.logical_and(other, self)

    def __or__(self, other):
        return dsl.logical_or(self, other)

    def __ror__(self, other):
        return dsl.logical_or(other, self)

    def __invert__(self):
        return dsl.logical_not(self)

    # -- numpy ------------------------------------------------------------------------------
    # A node is not an array: it has no values while the graph is built. numpy's operators with
    # an array on the left (`array * node`, `array < node`, `array @ node` ...) reach here as
    # ufunc calls and build graph nodes, as the node's own operators do; every other numpy
    # function raises a TypeError naming the graphc function to use.
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        name = ufunc.__name__
        if method == "__call__" and not kwargs and name in _OPERATOR_UFUNCS:
            return getattr(dsl, _OPERATOR_UFUNCS[name])(*inputs)
        if "out" in kwargs:
            raise TypeError(
                f"numpy's {name} cannot write a graph node into an array (out=, or an in-place "
                "operator such as array += node); write array = array + node, which is a node"
            )
        if method != "__call__":
            raise TypeError(_numpy_message(f"{name}.{method}", _UFUNC_METHODS.get((name, method))))
        raise TypeError(_numpy_message(name))

    def __array_function__(self, func, types, args, kwargs):
        raise TypeError(_numpy_message(func.__name__))

    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            "a graph node has no value while the graph is being built, so numpy cannot convert "
            "it to an array; build with graphc's functions (gc.sum, gc.exp ...) and get values "
            "with gc.evaluate(graph, ...) or gc.compile(graph)(...)"
        )

    # -- methods ------------------------------------------------------------------------------
    def __getitem__(self, index):
        return dsl.index(self, index)

    @property
    def T(self):
        return dsl.transpose(self)

    def sum(self, axis=None, keepdims=False):
        return dsl.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return dsl.mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        return dsl.max(self, axis, keepdims)

    def min(self, axis=None, keepdims=False):
        return dsl.min(self, axis, keepdims)

    def prod(self, axis=None, keepdims=False):
        return dsl.prod(self, axis, keepdims)

    def reshape(self, *shape):
        return dsl.reshape(self, shape[0] if len(shape) == 1 else shape)

    def transpose(self, *axes):
        return dsl.transpose(self, axes[0] if len(axes) == 1 else (axes or None))

    def astype(self, dtype):
        return dsl.astype(self, dtype)

    def dot(self, other):
        return dsl.matmul(self, other)


# Every pass builds nodes (CSE rebuilds each node after a merged one): the frozen dataclass's
# __init__ sets each field through object.__setattr__, twice as slow as the slots' own setters
# (1.1 us against 0.55 us a node, measured with timeit), so this one uses those.
_set_op, _set_args, _set_attrs, _set_shape, _set_dtype, _set_origin = (
    Node.__dict__[name].__set__ for name in ("op", "args", "attrs", "shape", "dtype", "origin")
)


def _init_node(self, op, args, attrs, shape, dtype, origin=""):
    _set_op(self, op)
    _set_args(self, args)
    _set_attrs(self, attrs)
    _set_shape(self, shape)
    _set_dtype(self, dtype)
    _set_origin(self, origin)


Node.__init__ = _init_node  # type: ignore[method-assign]


# numpy's ufuncs behind Python's operators, and the DSL function each one builds.
_OPERATOR_UFUNCS = {
    "add": "add",
    "subtract": "subtract",
    "multiply": "multiply",
    "divide": "divide",
    "true_divide": "divide",
    "power": "power",
    "remainder": "remainder",
    "matmul": "matmul",
    "less": "less",
    "less_equal": "less_equal",
    "greater": "greater",
    "greater_equal": "greater_equal",
    "equal": "equal",
    "not_equal": "not_equal",
    "bitwise_and": "logical_and",  # array & node: graphc's & is on booleans
    "bitwise_or": "logical_or",
}
# numpy names whose graphc counterpart is spelled differently (the others have the same name).
_NUMPY_SPELLINGS = {
    "absolute": "gc.abs",
    "amax": "gc.max",
    "amin": "gc.min",
    "negative": "-x",
    "positive": "+x",
    "invert": "~x",
    "bitwise_not": "~x",
    "ravel": "gc.reshape(x, -1)",
    "tensordot": "gc.matmul",
    "inner": "gc.matmul",
    "vdot": "gc.matmul",
}
_UFUNC_METHODS = {
    ("add", "reduce"): "gc.sum",
    ("multiply", "reduce"): "gc.prod",
    ("maximum", "reduce"): "gc.max",
    ("minimum", "reduce"): "gc.min",
}


def _numpy_message(name: str, use: str | None = None) -> str:
    """The error for numpy's function ``name`` applied to a graph node: what to use instead."""
    import graphc

    if use is None:
        use = _NUMPY_SPELLINGS.get(name)
    if use is None and name in graphc.__all__:
        use = f"gc.{name}"
    why = f"numpy's {name} cannot take a graph node (a node has no values until it is evaluated)"
    if use is None:
        return f"{why}, and graphc has no {name}; graphc's functions are listed in docs/guide.md"
    return f"{why}; use {use} to build it into the graph"


from graphc import dsl  # noqa: E402  (dsl imports Node: bound after the class exists)
