"""The user's language: inputs, constants, numpy-style functions. Each builds one checked node.

Invariants:
- Every function returns a :class:`~graphc.node.Node` (or the argument itself when the call is
  an identity, e.g. ``reshape`` to the same shape); nodes are built only through
  :func:`graphc.ops.make`, so shapes and dtypes are checked at once.
- Python numbers are weakly typed (they take the dtype of the node they meet); numpy arrays and
  numpy scalars keep their own dtype, as in numpy 2.
- Axis arguments are normalised here (negative axes, ``None``), so op attributes are canonical
  and CSE can compare them.
"""

from __future__ import annotations

import builtins
import math
import operator
from collections.abc import Sequence

import numpy as np

from graphc import dtypes
from graphc.node import Attrs, ConstValue, Node, current_origin
from graphc.ops.base import make
from graphc.shapes import as_shape, fmt, full_index, normalize_axes, normalize_axis

# -- inputs and constants ---------------------------------------------------------------------


def tensor(name: str, shape: object = (), dtype: object = dtypes.FLOAT64) -> Node:
    """A named input of static ``shape`` and ``dtype`` (float64, float32, int64 or bool).

    ``name`` must be a Python identifier and not a keyword (checked by the input op's rule,
    which deserialised graphs go through too; see ``graphc.ops.sources``)."""
    shape = as_shape(shape, f"shape of input {name!r}")
    dtype = dtypes.canonical(dtype, f"input {name!r}")
    return make("input", (), Attrs(name=name, shape=shape, dtype=dtype))


def scalar(name: str, dtype: object = dtypes.FLOAT64) -> Node:
    """A named scalar input."""
    return tensor(name, (), dtype)


def vector(name: str, n: int, dtype: object = dtypes.FLOAT64) -> Node:
    """A named input of shape ``(n,)``."""
    return tensor(name, (n,), dtype)


def matrix(name: str, rows: int | Sequence[int], cols: int | None = None, dtype=dtypes.FLOAT64):
    """A named 2-D input: ``matrix("M", (2, 3))`` or ``matrix("M", 2, 3)``."""
    shape = as_shape(rows if cols is None else (rows, cols), f"shape of matrix {name!r}")
    if len(shape) != 2:
        raise ValueError(f"matrix {name!r}: expected a 2-D shape, got {fmt(shape)}")
    return tensor(name, shape, dtype)


def constant(value: object, dtype: object | None = None) -> Node:
    """A constant node holding a copy of ``value`` (a number or array-like)."""
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"constant: expected numbers, got an array of dtype {array.dtype}")
    # Data keeps its values (an int32 array is an int64 constant); a requested dtype must exist.
    if dtype is None:
        dtype = dtypes.holding(array.dtype)
    else:
        dtype = dtypes.canonical(dtype, "constant")
    if array.dtype.kind in "iu" and array.size and dtype == dtypes.INT64:
        if array.max() > np.iinfo(np.int64).max or array.min() < np.iinfo(np.int64).min:
            raise OverflowError(f"constant: {value!r} does not fit in int64")
    # astype(copy=True) gives the payload its own memory: later changes to `value` cannot leak in.
    payload = ConstValue(array.astype(dtype, copy=True), copy=False)
    return Node("const", (), Attrs(value=payload), payload.array.shape, dtype, current_origin())


def as_node(value: object, like: Node | None = None) -> Node:
    """``value`` as a node. Python numbers take ``like``'s dtype when that is compatible."""
    if isinstance(value, Node):
        return value
    # numpy scalars are strong (NEP 50). Checked before the Python types because np.float64
    # subclasses float: it must keep float64 even next to a float32 node.
    if isinstance(value, np.generic):
        return constant(value)
    if isinstance(value, bool):
        return constant(value, dtypes.BOOL)
    if isinstance(value, int):
        weak = like.dtype if like is not None and like.dtype != dtypes.BOOL else dtypes.INT64
        return constant(value, weak)
    if isinstance(value, float):
        weak = like.dtype if like is not None and dtypes.is_float(like.dtype) else dtypes.FLOAT64
        return constant(value, weak)
    if isinstance(value, (np.ndarray, np.generic, list, tuple)):
        return constant(value)
    raise TypeError(
        f"cannot use a value of type {type(value).__name__} in a graph; expected a node, a "
        "number or a numpy array"
    )


def zeros(shape: object, dtype: object = dtypes.FLOAT64) -> Node:
    """Zeros of ``shape``: a scalar constant broadcast, so no array is stored."""
    return broadcast_to(constant(0, dtype), as_shape(shape))


def ones(shape: object, dtype: object = dtypes.FLOAT64) -> Node:
    return broadcast_to(constant(1, dtype), as_shape(shape))


def _pair(a: object, b: object) -> tuple[Node, Node]:
    if isinstance(a, Node):
        return a, as_node(b, a)
    if isinstance(b, Node):
        return as_node(a, b), b
    return as_node(a), as_node(b)


# -- elementwise ------------------------------------------------------------------------------


def _binary(op: str, doc: str = ""):
    def build(a: object, b: object) -> Node:
        return make(op, _pair(a, b))

    build.__name__ = op
    build.__doc__ = doc
    # The op it builds (gc.subtract builds sub): checked against the op table by the tests.
    build.op = op  # type: ignore[attr-defined]
    return build


add = _binary("add")
subtract = _binary("sub")
multiply = _binary("mul")
divide = _binary("div")
power = _binary("pow")
maximum = _binary("maximum")
minimum = _binary("minimum")
less = _binary("lt")
less_equal = _binary("le")
greater = _binary("gt")
greater_equal = _binary("ge")
equal = _binary("eq")
not_equal = _binary("ne")
logical_and = _binary("and")
logical_or = _binary("or")
arctan2 = _binary("arctan2", "the angle of the point (x, y), arctan2(y, x), in [-pi, pi]")
hypot = _binary("hypot", "sqrt(a^2 + b^2) without overflow; its derivative at (0, 0) is 0")
logaddexp = _binary("logaddexp", "log(exp(a) + exp(b)), computed without overflow")
remainder = _binary(
    "remainder", "numpy's remainder, x % y: the sign of the divisor; x - floor(x / y) * y"
)
mod = remainder
fmod = _binary("fmod", "C's fmod: the sign of the dividend; x - trunc(x / y) * y")


def _unary(op: str, doc: str):
    def build(x: object) -> Node:
        return make(op, (as_node(x),))

    build.__name__ = op
    build.__doc__ = doc
    build.op = op  # type: ignore[attr-defined]
    return build


negative = _unary("neg", "-x")
exp = _unary("exp", "e ** x")
log = _unary("log", "natural logarithm")
log1p = _unary("log1p", "log(1 + x), accurate for small x")
expm1 = _unary("expm1", "exp(x) - 1, accurate for small x")
sqrt = _unary("sqrt", "square root; its derivative at 0 is +inf")
sin = _unary("sin", "sine")
cos = _unary("cos", "cosine")
tan = _unary("tan", "tangent")
tanh = _unary("tanh", "hyperbolic tangent")
sigmoid = _unary("sigmoid", "1 / (1 + exp(-x))")
softplus = _unary("softplus", "log(1 + exp(x)), computed without overflow")
abs = _unary("abs", "absolute value; its derivative at 0 is 0")
sign = _unary("sign", "-1, 0 or 1 (nan for nan); not differentiable (zero derivative)")
logical_not = _unary("not", "boolean negation")
stop_gradient = _unary("stop_gradient", "identity whose derivative is zero")
erf = _unary("erf", "the error function, 2/sqrt(pi) * integral of exp(-t^2) from 0 to x")
erfc = _unary("erfc", "1 - erf(x), accurate where erf(x) is close to 1")
gammaln = _unary("gammaln", "log |Gamma(x)|; +inf at the poles 0, -1, -2, ...")
digamma = _unary("digamma", "psi(x), the derivative of gammaln; nan at the poles -1, -2, ...")
sinh = _unary("sinh", "hyperbolic sine")
cosh = _unary("cosh", "hyperbolic cosine")
arcsin = _unary("arcsin", "inverse sine; its derivative at +-1 is +inf")
arccos = _unary("arccos", "inverse cosine; its derivative at +-1 is -inf")
arctan = _unary("arctan", "inverse tangent")
arcsinh = _unary("arcsinh", "inverse hyperbolic sine")
arccosh = _unary("arccosh", "inverse hyperbolic cosine; its derivative at 1 is +inf")
arctanh = _unary("arctanh", "inverse hyperbolic tangent; its derivative at +-1 is +inf")
log2 = _unary("log2", "base-2 logarithm")
log10 = _unary("log10", "base-10 logarithm")
exp2 = _unary("exp2", "2 ** x")
cbrt = _unary("cbrt", "cube root (real, negative for negative x); its derivative at 0 is +inf")
floor = _unary("floor", "the largest integer <= x; derivative zero")
ceil = _unary("ceil", "the smallest integer >= x; derivative zero")
_round_half_even = _unary("round", "")


def polygamma(n: int, x: object) -> Node:
    """The n-th derivative of digamma (scipy's argument order); ``polygamma(0, x)`` is
    ``digamma(x)``."""
    if isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n == 0:
        return digamma(x)
    return make("polygamma", (as_node(x),), Attrs(n=int(n) if isinstance(n, np.integer) else n))


polygamma.op = "polygamma"  # type: ignore[attr-defined]


def round(x: object, decimals: int = 0) -> Node:
    """numpy's round: halfway cases to even; with ``decimals``, rint(x * 10^d) / 10^d (numpy's
    own formula, so 2.675 rounds to 2.67 as in numpy). Derivative zero."""
    x = as_node(x)
    decimals = operator.index(decimals)
    if decimals == 0 or not dtypes.is_float(x.dtype):
        if decimals < 0 and not dtypes.is_float(x.dtype):
            raise NotImplementedError("round: negative decimals of integers are not supported")
        return _round_half_even(x)
    if decimals > 0:
        scale = 10.0**decimals
        return divide(_round_half_even(multiply(x, scale)), scale)
    scale = 10.0**-decimals
    return multiply(_round_half_even(divide(x, scale)), scale)


round.op = "round"  # type: ignore[attr-defined]


def clip(x: object, lo: object = None, hi: object = None) -> Node:
    """numpy's clip: min(max(x, lo), hi); nan propagates from any operand, lo > hi gives hi.
    ``None`` leaves that side open. The derivative goes to x where lo <= x <= hi (closed), to
    lo where x < lo and to hi where the result is hi."""
    if lo is None and hi is None:
        raise ValueError("clip: give lo, hi or both (None leaves one side open)")
    x = as_node(x)
    open_end = -np.inf if dtypes.is_float(x.dtype) else np.iinfo(np.int64).min
    lo = constant(open_end, x.dtype) if lo is None else as_node(lo, x)
    open_end = np.inf if dtypes.is_float(x.dtype) else np.iinfo(np.int64).max
    hi = constant(open_end, x.dtype) if hi is None else as_node(hi, x)
    return make("clip", (x, lo, hi))


clip.op = "clip"  # type: ignore[attr-defined]


def where(cond: object, a: object, b: object) -> Node:
    """``a`` where ``cond`` holds, else ``b`` (elementwise, broadcasting).

    Derivatives flow only into the branch that was taken, but a nan or inf in the *derivative* of
    the other branch still yields nan (``0 * inf``): guard the input of that branch too, e.g.
    ``where(x > 0, sqrt(where(x > 0, x, 1.0)), 0.0)``.
    """
    cond = as_node(cond)
    a, b = _pair(a, b)
    return make("where", (cond, a, b))


def astype(x: object, dtype: object) -> Node:
    x = as_node(x)
    dtype = dtypes.canonical(dtype, "astype")
    return x if dtype == x.dtype else make("cast", (x,), Attrs(dtype=dtype))


def square(x: object) -> Node:
    x = as_node(x)
    return x * x


# -- reductions -------------------------------------------------------------------------------


def _reduction(op: str, doc: str):
    def build(x: object, axis: object = None, keepdims: bool = False) -> Node:
        x = as_node(x)
        axes = normalize_axes(op, axis, x.ndim, x.shape)
        if not axes and not keepdims and op not in ("logsumexp",):
            return x
        return make(op, (x,), Attrs(axes=axes, keepdims=bool(keepdims)))

    build.__name__ = op
    build.__doc__ = doc
    build.op = op  # type: ignore[attr-defined]
    return build


sum = _reduction("sum", "sum over axes (all by default)")
prod = _reduction("prod", "product over axes")
max = _reduction("max", "maximum over axes; tied maxima share the derivative")
min = _reduction("min", "minimum over axes; tied minima share the derivative")
logsumexp = _reduction("logsumexp", "log(sum(exp(x))) over axes, computed without overflow")


def mean(x: object, axis: object = None, keepdims: bool = False) -> Node:
    x = as_node(x)
    axes = normalize_axes("mean", axis, x.ndim, x.shape)
    count = math.prod(x.shape[a] for a in axes)
    return divide(sum(x, axes, keepdims), float(count))


def softmax(x: object, axis: object = -1) -> Node:
    x = as_node(x)
    return exp(x - logsumexp(x, axis, keepdims=True))


# -- linear algebra ---------------------------------------------------------------------------


def matmul(a: object, b: object) -> Node:
    """Matrix product, as ``numpy.matmul``: 1-D and 2-D operands, and stacks of matrices whose
    leading (batch) axes broadcast. A scalar operand raises (use ``*``)."""
    a, b = as_node(a), as_node(b)
    return make("matmul", (a, b))


def dot(a: object, b: object) -> Node:
    """``numpy.dot``: a product with a scalar is a multiply; with 1-D and 2-D operands (and
    whenever ``a`` is 1-D or ``b`` at most 2-D) it is ``matmul``; otherwise it sums over the
    last axis of ``a`` and the second-to-last of ``b``, ``dot(a, b)[i..., j..., n] =
    sum(a[i..., :] * b[j..., :, n])`` (not matmul's batching)."""
    a, b = _pair(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    if a.ndim == 1 or b.ndim <= 2:
        return matmul(a, b)
    k = b.shape[-2]
    if a.shape[-1] != k:
        raise ValueError(
            f"dot: shapes {fmt(a.shape)} and {fmt(b.shape)} are not aligned: the last axis of "
            f"the first ({a.shape[-1]}) must equal the second-to-last axis of the second ({k})"
        )
    # b's contracted axis first, then b is one (k, everything else) matrix.
    b_first = transpose(b, (b.ndim - 2, *range(b.ndim - 2), b.ndim - 1))
    rows = reshape(a, (math.prod(a.shape[:-1]), k))
    product = matmul(rows, reshape(b_first, (k, math.prod(b.shape[:-2]) * b.shape[-1])))
    return reshape(product, a.shape[:-1] + b.shape[:-2] + b.shape[-1:])


# -- shapes -----------------------------------------------------------------------------------


def reshape(x: object, shape: object) -> Node:
    x = as_node(x)
    dims = [shape] if isinstance(shape, int) else list(shape)  # type: ignore[call-overload]
    if dims.count(-1) > 1:
        raise ValueError(f"reshape: only one -1 is allowed in {tuple(dims)}")
    if -1 in dims:
        known = math.prod(d for d in dims if d != -1)
        if known == 0 or x.size % known:
            raise ValueError(f"reshape: cannot reshape {fmt(x.shape)} into {tuple(dims)}")
        dims[dims.index(-1)] = x.size // known
    target = as_shape(dims, "reshape shape")
    if target == x.shape:
        return x
    return make("reshape", (x,), Attrs(shape=target))


def transpose(x: object, axes: Sequence[int] | None = None) -> Node:
    x = as_node(x)
    if axes is None:
        perm = tuple(reversed(range(x.ndim)))
    else:
        perm = tuple(normalize_axis("transpose", a, x.ndim, x.shape) for a in axes)
    if perm == tuple(range(x.ndim)):
        return x
    return make("transpose", (x,), Attrs(perm=perm))


def broadcast_to(x: object, shape: object) -> Node:
    x = as_node(x)
    target = as_shape(shape, "broadcast_to shape")
    if target == x.shape:
        return x
    return make("broadcast_to", (x,), Attrs(shape=target))


def slice(x: object, spec) -> Node:
    """The strided block ``spec`` (one ``(start, step, count)`` per axis) of ``x``."""
    x = as_node(x)
    spec = tuple((int(s), int(t), int(c)) for s, t, c in spec)
    if all(s == 0 and t == 1 and c == d for (s, t, c), d in zip(spec, x.shape)):
        if len(spec) == x.ndim:
            return x
    return make("slice", (x,), Attrs(spec=spec))


def unslice(x: object, spec, shape: object) -> Node:
    """Zeros of ``shape`` with ``x`` written at the block ``spec``: the transpose of slice."""
    x = as_node(x)
    shape = as_shape(shape)
    spec = tuple((int(s), int(t), int(c)) for s, t, c in spec)
    if shape == x.shape and all(s == 0 and t == 1 for s, t, _ in spec):
        return x
    return make("unslice", (x,), Attrs(spec=spec, shape=shape))


def concatenate(xs: Sequence[object], axis: int = 0) -> Node:
    nodes = [as_node(x) for x in xs]
    if not nodes:
        raise ValueError("concatenate: needs at least one array")
    if nodes[0].ndim == 0:
        raise ValueError("concatenate: zero-dimensional arrays cannot be concatenated; use stack")
    axis = normalize_axis("concatenate", axis, nodes[0].ndim, nodes[0].shape)
    if len(nodes) == 1:
        return nodes[0]
    return make("concatenate", tuple(nodes), Attrs(axis=axis))


def stack(xs: Sequence[object], axis: int = 0) -> Node:
    nodes = [as_node(x) for x in xs]
    if not nodes:
        raise ValueError("stack: needs at least one array")
    shapes = {n.shape for n in nodes}
    if len(shapes) > 1:
        raise ValueError(f"stack: all arrays must have the same shape, got {sorted(shapes)}")
    axis = normalize_axis("stack", axis, nodes[0].ndim + 1)
    shape = nodes[0].shape
    expanded = shape[:axis] + (1,) + shape[axis:]
    return concatenate([reshape(n, expanded) for n in nodes], axis)


def index(x: Node, key: object) -> Node:
    """numpy indexing: ints, slices, ``None`` and ``...`` (views); integer arrays (numpy data
    or int64 nodes) and numpy boolean masks go to :func:`graphc.functions.advanced_index`."""
    items = key if isinstance(key, tuple) else (key,)
    if builtins.any(
        isinstance(k, (Node, np.ndarray, list))
        or (isinstance(k, np.generic) and k.ndim == 0 and not isinstance(k, np.integer))
        for k in items
    ):
        from graphc.functions import advanced_index  # functions builds on this module

        return advanced_index(x, key)
    expanded = full_index(items, x.shape, "index")

    spec, out_shape, axis = [], [], 0
    for item in expanded:
        if item is None:
            out_shape.append(1)
            continue
        dim = x.shape[axis]
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            i = operator.index(item)
            if not -dim <= i < dim:
                raise IndexError(f"index {i} is out of bounds for axis {axis} with size {dim}")
            spec.append((i % dim, 1, 1))
        elif isinstance(item, builtins.slice):
            start, stop, step = item.indices(dim)
            count = len(range(start, stop, step))
            spec.append((start if count else 0, step, count))
            out_shape.append(count)
        else:
            raise TypeError(
                f"index: unsupported index {item!r} of type {type(item).__name__}; graphc "
                "supports ints, slices, None and ... (basic indexing)"
            )
        axis += 1
    return reshape(slice(x, spec), tuple(out_shape))
