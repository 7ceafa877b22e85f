"""One table over every op of ``graphc.ops.OPS``: records, values, derivatives.

``TABLE`` has one row per registered op (a test fails when an op is added without a row), each
row a few cases: how to build the op from inputs, the numpy expression it must equal, the input
shapes (with broadcasting cases) and domains. For every case:

- evaluation agrees with numpy in float64 and float32 (values and result dtype);
- the vjp agrees with central finite differences, the jvp with a directional finite
  difference, and the two agree with each other through ``<u, J v> == <J^T u, v>``;
- arguments the op is not differentiable in (comparisons, sign, logic, integer and boolean
  inputs) get zero cotangents and tangents, never an error;
- compiled code agrees with the evaluator on the value and, for differentiable cases, the vjp.

Linear algebra's cases add a constant to their random matrices (:func:`well`) so that they are
well conditioned (and need row swaps, for LU), so finite differences and float32 are reliable.

Below the table: the documented behaviour at kinks (abs'(0) = 0, sqrt'(0) = +inf, ties of
maximum/minimum and of max/min reductions share the derivative, prod with one and two zeros).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import mpmath
import numpy as np
import pytest
from helpers import function_of, numeric_jvp, numeric_vjp, outputs, random_array

import graphc as gc
from graphc import dsl
from graphc.node import Attrs
from graphc.ops import OPS, make
from graphc.ops.base import arity
from graphc.ops.cumulative import linrec
from graphc.ops.sparse import sparse_gather

# -- the table --------------------------------------------------------------------------------

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Case:
    """One way to exercise an op. ``derivative`` is ``"fd"`` (checked against finite
    differences in every float input), ``"zero"`` (not differentiable: every cotangent is
    zero) or ``"none"`` (no float output to differentiate, e.g. a constant)."""

    build: Callable[..., gc.Node]
    ref: Callable[..., np.ndarray]
    shapes: tuple[Shape, ...]
    domains: tuple[str, ...]
    derivative: str = "fd"
    dtypes: tuple[str, ...] = ("float64", "float32")
    fd_h: float = 1e-6
    fd_rtol: float = 1e-6
    label: str = ""
    value_rtol: tuple[float, float] = (1e-14, 1e-6)  # against ref: float64, float32


ELEMENTWISE_SHAPES = [(2, 3), ()]
BROADCAST_SHAPES = [((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3))]


def unary(build, ref, domain="real", derivative="fd", **kw) -> list[Case]:
    return [
        Case(build, ref, (shape,), (domain,), derivative, label=str(shape), **kw)
        for shape in ELEMENTWISE_SHAPES
    ]


def binary(build, ref, domains=("real", "real"), derivative="fd", **kw) -> list[Case]:
    return [
        Case(build, ref, shapes, domains, derivative, label=str(shapes), **kw)
        for shapes in BROADCAST_SHAPES
    ]


def sigmoid_ref(x):
    return 1 / (1 + np.exp(-x))


def logsumexp_ref(x, axis=None, keepdims=False):
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


def unslice_ref(x):
    out = np.zeros((5, 3), dtype=x.dtype)
    out[1:5:2, ::-1] = x
    return out


def in_dtype(fn):
    """A reference of Python floats (Python's math, mpmath at 40 digits: near the zeros of
    gammaln and digamma 15 are not enough) as a function of arrays returning x's dtype."""

    def precise(v: float) -> float:
        with mpmath.workdps(40):
            return float(fn(v))

    vectorized = np.vectorize(lambda v: precise(float(v)), otypes=[np.float64])
    return lambda x: vectorized(x).astype(x.dtype)


def polygamma_ref(n):
    return in_dtype(lambda v: mpmath.polygamma(n, v))


gammaln_ref = in_dtype(lambda v: mpmath.log(abs(mpmath.gamma(v))))


GATHER_AT = np.array([3, 0, 3, 4, 1, 3])


CONST = np.array([[1.5, -0.0, 2.0], [np.inf, -3.25, 0.5]])
R, D = ("real",), ("distinct",)
ROWS = [4, 0, 4, -1]
SEGMENTS = [2, 0, 2, 1, 0, 2]


def segment_sum_ref(x, ids=SEGMENTS, n=3):
    out = np.zeros((n,) + x.shape[1:], dtype=x.dtype)
    np.add.at(out, np.asarray(ids), x)
    return out


def linrec_ref(axis, reverse=False):
    """y_i = a_i * y_(i-1) + b_i along ``axis`` (reverse: y_i = a_(i+1) * y_(i+1) + b_i)."""

    def ref(a, b):
        a, b = np.moveaxis(a, axis, 0), np.moveaxis(b, axis, 0)
        y = b.copy()
        steps = range(len(b) - 2, -1, -1) if reverse else range(1, len(b))
        for i in steps:
            y[i] = (a[i + 1] * y[i + 1] if reverse else a[i] * y[i - 1]) + b[i]
        return np.moveaxis(y, 0, axis)

    return ref


def reductions(fn, ref, domain) -> list[Case]:
    """A reduction over all axes, one axis, two axes with keepdims, and a negative axis."""
    return [
        Case(lambda x: fn(x), ref, ((2, 3, 4),), (domain,), label="all"),
        Case(lambda x: fn(x, 1), lambda x: ref(x, axis=1), ((2, 3, 4),), (domain,), label="1"),
        Case(
            lambda x: fn(x, (0, 2), keepdims=True),
            lambda x: ref(x, axis=(0, 2), keepdims=True),
            ((2, 3, 4),),
            (domain,),
            label="0,2 keep",
        ),
        Case(lambda x: fn(x, -1), lambda x: ref(x, axis=-1), ((3,),), (domain,), label="vector"),
    ]


def comparison(build, ref) -> list[Case]:
    cases = binary(build, ref, ("distinct", "distinct"), "zero")
    # Equal elements on purpose: eq/ne/le/ge must see ties.
    cases.append(Case(lambda x: build(x, x), lambda x: ref(x, x), ((4,),), ("real",), "zero"))
    return cases


def _shift(n: int, kind: str) -> np.ndarray:
    if kind == "pivoting":  # large entries off the diagonal: partial pivoting swaps every step
        return 2.0 * n * np.eye(n)[np.roll(np.arange(n), 1)]
    return 3.0 * n * np.eye(n)  # "dominant": each triangle, and Cholesky's, well conditioned


def well(a, kind="pivoting"):
    """A random normal matrix (or stack) made well conditioned by a constant of its dtype."""
    return a + gc.constant(_shift(a.shape[-1], kind), a.dtype)


def well_np(a, kind="pivoting"):
    return a + _shift(a.shape[-1], kind).astype(a.dtype)


def lu_reference(a):
    """Partial pivoting written out element by element (the first largest magnitude wins)."""
    n = a.shape[0]
    lu = [list(row) for row in a]  # numpy scalars: arithmetic in the input's dtype
    pivots = []
    for k in range(n):
        p = max(range(k, n), key=lambda i: (abs(lu[i][k]), -i))
        pivots.append(p)
        lu[k], lu[p] = lu[p], lu[k]
        for i in range(k + 1, n):
            lu[i][k] = lu[i][k] / lu[k][k]
            for j in range(k + 1, n):
                lu[i][j] = lu[i][j] - lu[i][k] * lu[k][j]
    return np.array(lu + [pivots], dtype=a.dtype)


def lu_factor(a):
    return make("lu_factor", (a,))


def per_matrix(function):
    """A numpy function of one matrix, applied to each matrix of a stack."""
    return lambda a: np.stack([function(m) for m in a.reshape((-1,) + a.shape[-2:])]).reshape(
        a.shape[:-2] + function(a.reshape((-1,) + a.shape[-2:])[0]).shape
    )


def triangle(a, lower, unit, trans):
    """The matrix solve_triangular solves with: one triangle of ``a``, maybe transposed."""
    t = np.tril(a, -1 if unit else 0) if lower else np.triu(a, 1 if unit else 0)
    if unit:
        t = t + np.eye(a.shape[-1], dtype=a.dtype)
    return np.swapaxes(t, -1, -2) if trans in (1, "T") else t


LINALG_RTOL = (1e-12, 2e-5)  # against LAPACK: our order of operations is not its


def square_cases(build, ref, kind="pivoting", derivative="fd"):
    """1 x 1, 4 x 4 and a stack of two 3 x 3 matrices, made well conditioned."""
    return [
        Case(
            lambda a, k=k: build(well(a, k)),
            lambda a, k=k: ref(well_np(a, k)),
            (shape,),
            ("real",),
            derivative,
            label=str(shape),
        )
        for shape, k in (((1, 1), "dominant"), ((4, 4), kind), ((2, 3, 3), kind))
    ]


def system_cases(build, ref, kind="pivoting", shapes=None, **kw):
    shapes = shapes or [((3, 3), (3,)), ((3, 3), (3, 2)), ((2, 3, 3), (3,)), ((3, 3), (2, 3, 2))]
    return [
        Case(
            lambda a, b: build(well(a, kind), b),
            lambda a, b: ref(well_np(a, kind), b),
            shapes_,
            ("real", "real"),
            label=f"{shapes_[0]}b{shapes_[1]}",
            **kw,
        )
        for shapes_ in shapes
    ]


TABLE: dict[str, list[Case]] = {
    # sources
    "input": [Case(lambda x: x, lambda x: x, ((2, 3),), ("real",))],
    "const": [
        Case(lambda: gc.constant(CONST), lambda: CONST, (), (), "none", ("float64",)),
        Case(
            lambda: gc.constant(CONST, "float32"),
            lambda: CONST.astype(np.float32),
            (),
            (),
            "none",
            ("float32",),
        ),
    ],
    # elementwise unary
    "neg": unary(lambda x: -x, np.negative),
    "exp": unary(gc.exp, np.exp),
    "log": unary(gc.log, np.log, "positive"),
    "log1p": unary(gc.log1p, np.log1p, "unit"),
    "expm1": unary(gc.expm1, np.expm1),
    "sqrt": unary(gc.sqrt, np.sqrt, "positive"),
    "sin": unary(gc.sin, np.sin),
    "cos": unary(gc.cos, np.cos),
    "tan": unary(gc.tan, np.tan, "small"),
    "tanh": unary(gc.tanh, np.tanh),
    "sigmoid": unary(gc.sigmoid, sigmoid_ref),
    "softplus": unary(gc.softplus, lambda x: np.logaddexp(0, x)),
    "abs": unary(gc.abs, np.abs, "nonzero"),
    "sign": unary(gc.sign, np.sign, "nonzero", "zero"),
    "stop_gradient": unary(gc.stop_gradient, lambda x: x, "real", "zero"),
    "cast": [
        Case(
            lambda x: x.astype("float32"),
            lambda x: x.astype(np.float32),
            ((2, 3),),
            ("real",),
            dtypes=("float64",),
            fd_h=1e-3,
            fd_rtol=1e-3,
            label="f64->f32",
        ),
        Case(
            lambda x: x.astype("float64"),
            lambda x: x.astype(np.float64),
            ((2, 3),),
            ("real",),
            dtypes=("float32",),
            label="f32->f64",
        ),
        Case(
            lambda x: x.astype("int64"),
            lambda x: x.astype(np.int64),
            ((2, 3),),
            ("real",),
            "zero",
            label="float->int",
        ),
        Case(
            lambda k: k.astype("float64"),
            lambda k: k.astype(np.float64),
            ((3,),),
            ("int",),
            "zero",
            label="int->float",
        ),
        Case(
            lambda b: b.astype("float32"),
            lambda b: b.astype(np.float32),
            ((3,),),
            ("bool",),
            "zero",
            label="bool->float",
        ),
    ],
    "not": [Case(lambda b: ~b, np.logical_not, ((2, 3),), ("bool",), "zero")],
    # elementwise binary
    "add": binary(lambda x, y: x + y, np.add)
    + [Case(lambda x, k: x + k, np.add, ((2, 3), (3,)), ("real", "int"), label="int")],
    "sub": binary(lambda x, y: x - y, np.subtract),
    "mul": binary(lambda x, y: x * y, np.multiply)
    + [Case(lambda k, x: k * x, np.multiply, ((3,), (2, 3)), ("int", "real"), label="int")],
    "div": binary(lambda x, y: x / y, np.divide, ("real", "nonzero")),
    "pow": binary(lambda x, y: x**y, np.power, ("positive", "real"))
    + [Case(lambda x: x**3, lambda x: x**3, ((2, 3),), ("real",), label="x**3")],
    "maximum": binary(gc.maximum, np.maximum, ("distinct", "distinct")),
    "minimum": binary(gc.minimum, np.minimum, ("distinct", "distinct")),
    "lt": comparison(lambda x, y: x < y, np.less),
    "le": comparison(lambda x, y: x <= y, np.less_equal),
    "gt": comparison(lambda x, y: x > y, np.greater),
    "ge": comparison(lambda x, y: x >= y, np.greater_equal),
    "eq": comparison(lambda x, y: x == y, np.equal),
    "ne": comparison(lambda x, y: x != y, np.not_equal),
    "and": [
        Case(lambda a, b: a & b, np.logical_and, s, ("bool", "bool"), "zero")
        for s in BROADCAST_SHAPES
    ],
    "or": [
        Case(lambda a, b: a | b, np.logical_or, s, ("bool", "bool"), "zero")
        for s in BROADCAST_SHAPES
    ],
    "where": [
        Case(gc.where, np.where, ((2, 3),) * 3, ("bool", "real", "real")),
        Case(gc.where, np.where, ((2, 3), (3,), ()), ("bool", "real", "real"), label="bcast"),
        Case(gc.where, np.where, ((3,), (2, 1), (2, 3)), ("bool", "real", "real"), label="bc2"),
    ],
    # special and other math functions (graphc/ops/special.py)
    "erf": unary(gc.erf, in_dtype(math.erf)),
    "erfc": unary(gc.erfc, in_dtype(math.erfc)),
    "gammaln": unary(gc.gammaln, gammaln_ref, "positive"),
    "digamma": unary(gc.digamma, in_dtype(mpmath.digamma), "positive")
    + [Case(gc.digamma, in_dtype(mpmath.digamma), ((4,),), ("nonzero",), label="negative")],
    "polygamma": [
        Case(lambda x, n=n: gc.polygamma(n, x), polygamma_ref(n), ((2, 3),), (d,), label=f"{n},{d}")
        for n, d in [(1, "positive"), (2, "positive"), (1, "nonzero"), (3, "nonzero")]
    ],
    "sinh": unary(gc.sinh, np.sinh),
    "cosh": unary(gc.cosh, np.cosh),
    "arcsin": unary(gc.arcsin, np.arcsin, "unit"),
    "arccos": unary(gc.arccos, np.arccos, "unit"),
    "arctan": unary(gc.arctan, np.arctan),
    "arcsinh": unary(gc.arcsinh, np.arcsinh),
    "arccosh": unary(lambda x: gc.arccosh(x + 1.0), lambda x: np.arccosh(x + 1), "positive"),
    "arctanh": unary(gc.arctanh, np.arctanh, "unit"),
    "log2": unary(gc.log2, np.log2, "positive"),
    "log10": unary(gc.log10, np.log10, "positive"),
    "exp2": unary(gc.exp2, np.exp2),
    "cbrt": unary(gc.cbrt, np.cbrt, "nonzero"),
    "floor": unary(gc.floor, np.floor, "real", "zero"),
    "ceil": unary(gc.ceil, np.ceil, "real", "zero"),
    "round": unary(gc.round, np.round, "real", "zero")
    + [Case(gc.round, np.round, ((3,),), ("int",), "zero", label="int")],
    "arctan2": binary(gc.arctan2, np.arctan2, ("real", "positive"))
    + [Case(gc.arctan2, np.arctan2, ((2, 3),) * 2, ("nonzero", "nonzero"), label="quadrants")],
    "hypot": binary(gc.hypot, np.hypot),
    "logaddexp": binary(gc.logaddexp, np.logaddexp),
    "remainder": binary(lambda x, y: x % y, np.remainder, ("real", "nonzero"))
    + [Case(lambda k, j: k % j, np.remainder, ((6,), (6,)), ("int", "int"), "zero", label="int")],
    "fmod": binary(gc.fmod, np.fmod, ("real", "nonzero"))
    + [Case(gc.fmod, np.fmod, ((6,), (6,)), ("int", "int"), "zero", label="int")],
    "clip": [
        Case(
            lambda x: gc.clip(x, -0.5, 0.8),
            lambda x: np.clip(x, -0.5, 0.8),
            ((4, 3),),
            ("distinct",),
            label="constant bounds",
        ),
        Case(gc.clip, np.clip, ((2, 3), (3,), ()), ("distinct",) * 3, label="bcast"),
        Case(
            lambda x: gc.clip(x, None, 0.3),
            lambda x: np.clip(x, None, 0.3),
            ((5,),),
            ("distinct",),
            label="open below",
        ),
        Case(
            lambda k: gc.clip(k, -1, 2),
            lambda k: np.clip(k, -1, 2),
            ((5,),),
            ("int",),
            "zero",
            label="int",
        ),
    ],
    # reductions
    "sum": reductions(gc.sum, np.sum, "real"),
    "prod": reductions(gc.prod, np.prod, "nonzero"),
    "max": reductions(gc.max, np.max, "distinct"),
    "min": reductions(gc.min, np.min, "distinct"),
    "logsumexp": reductions(gc.logsumexp, logsumexp_ref, "real"),
    # linear algebra
    "matmul": [
        Case(lambda a, b: a @ b, np.matmul, (sa, sb), ("real", "real"), label=f"{sa}@{sb}")
        for sa, sb in [((2, 3), (3, 4)), ((3,), (3, 4)), ((2, 3), (3,)), ((3,), (3,))]
    ]
    + [
        Case(lambda a, b: a @ b, np.matmul, (sa, sb), ("real", "real"), label=f"{sa}@{sb}")
        for sa, sb in [
            ((2, 3, 4), (2, 4, 5)),
            ((2, 3, 4), (4, 5)),
            ((3, 4), (2, 4, 5)),
            ((2, 1, 3, 4), (3, 4, 2)),
            ((4,), (2, 4, 5)),
            ((2, 3, 4), (4,)),
        ]
    ],
    "solve": system_cases(gc.linalg.solve, np.linalg.solve),
    "inv": square_cases(gc.linalg.inv, np.linalg.inv),
    "det": square_cases(gc.linalg.det, np.linalg.det),
    "slogdet_sign": square_cases(
        lambda a: gc.linalg.slogdet(a).sign, lambda a: np.linalg.slogdet(a)[0], derivative="zero"
    ),
    "logabsdet": square_cases(
        lambda a: gc.linalg.slogdet(a).logabsdet, lambda a: np.linalg.slogdet(a)[1]
    ),
    # Reads the lower triangle only, so the dominant diagonal makes the matrix it reads SPD.
    "cholesky": square_cases(gc.linalg.cholesky, np.linalg.cholesky, "dominant"),
    "solve_triangular": [
        case
        for lower, unit, trans, shapes in [
            (True, False, 0, ((3, 3), (3,))),
            (False, False, 0, ((3, 3), (3, 2))),
            (True, True, 0, ((3, 3), (3, 2))),
            (False, True, 1, ((3, 3), (3,))),
            (True, False, "T", ((2, 3, 3), (3, 2))),
        ]
        for case in system_cases(
            lambda a, b, lower=lower, unit=unit, trans=trans: gc.linalg.solve_triangular(
                a, b, trans, lower, unit
            ),
            lambda a, b, lower=lower, unit=unit, trans=trans: np.linalg.solve(
                triangle(a, lower, unit, trans), b
            ),
            "dominant",
            [shapes],
            value_rtol=LINALG_RTOL,
        )
    ],
    # the lowering ops (built by the expand pass; never differentiated)
    "lu_factor": [
        Case(
            lambda a: lu_factor(well(a)),
            lambda a: per_matrix(lu_reference)(well_np(a)),
            (shape,),
            ("real",),
            "none",
            label=str(shape),
        )
        for shape in ((4, 4), (2, 3, 3))
    ],
    "lu_solve": [
        case
        for trans, shapes in [
            (False, ((4, 4), (4,))),
            (True, ((4, 4), (4,))),
            (False, ((4, 4), (4, 3))),
            (True, ((2, 4, 4), (4, 3))),
        ]
        for case in system_cases(
            lambda a, b, trans=trans: make("lu_solve", (lu_factor(a), b), Attrs(trans=trans)),
            lambda a, b, trans=trans: np.linalg.solve(np.swapaxes(a, -1, -2) if trans else a, b),
            shapes=[shapes],
            derivative="none",
            value_rtol=LINALG_RTOL,
        )
    ],
    "lu_inv": [
        Case(
            lambda a: make("lu_inv", (lu_factor(well(a)),)),
            lambda a: np.linalg.inv(well_np(a)),
            (shape,),
            ("real",),
            "none",
            label=str(shape),
            value_rtol=LINALG_RTOL,
        )
        for shape in ((4, 4), (2, 3, 3))
    ],
    # shapes
    "reshape": [
        Case(lambda x: x.reshape(3, 2), lambda x: x.reshape(3, 2), ((2, 3),), ("real",)),
        Case(lambda x: x.reshape(2, 1, -1), lambda x: x.reshape(2, 1, -1), ((6,),), ("real",)),
        Case(lambda x: x.reshape(()), lambda x: x.reshape(()), ((1, 1),), ("real",)),
    ],
    "transpose": [
        Case(lambda x: x.T, lambda x: x.T, ((2, 3),), ("real",)),
        Case(
            lambda x: x.transpose(1, 2, 0),
            lambda x: x.transpose(1, 2, 0),
            ((2, 3, 4),),
            ("real",),
        ),
    ],
    "broadcast_to": [
        Case(lambda x: gc.broadcast_to(x, (2, 3)), lambda x: np.broadcast_to(x, (2, 3)), (s,), d)
        for s, d in [((3,), ("real",)), ((2, 1), ("real",)), ((), ("real",))]
    ],
    "slice": [
        Case(lambda x: x[1:, ::-2], lambda x: x[1:, ::-2], ((3, 5),), ("real",)),
        Case(lambda x: x[::2, 1], lambda x: x[::2, 1], ((3, 5),), ("real",)),
        Case(lambda x: x[-1], lambda x: x[-1], ((4,),), ("real",)),
    ],
    "unslice": [
        Case(
            lambda x: dsl.unslice(x, [(1, 2, 2), (2, -1, 3)], (5, 3)),
            unslice_ref,
            ((2, 3),),
            ("real",),
        )
    ],
    "concatenate": [
        Case(
            lambda x, y: gc.concatenate([x, y], axis=1),
            lambda x, y: np.concatenate([x, y], axis=1),
            ((2, 3), (2, 1)),
            ("real", "real"),
        ),
        Case(
            lambda x, y: gc.stack([x, y], axis=-1),
            lambda x, y: np.stack([x, y], axis=-1),
            ((3,), (3,)),
            ("real", "real"),
            label="stack",
        ),
        Case(
            lambda x, k: gc.concatenate([x, k]),
            lambda x, k: np.concatenate([x, k]),
            ((2,), (3,)),
            ("real", "int"),
            label="int",
        ),
    ],
    # gather and scatter (graphc.ops.indexing): constant indices, int64 inputs (the "int"
    # domain, [-3, 3], negative ones counting from the end), several indexed axes
    "gather": [
        Case(lambda x: gc.take(x, ROWS, axis=0), lambda x: np.take(x, ROWS, 0), ((5, 3),), R),
        Case(
            lambda x, k: gc.take(x, k, axis=1),
            lambda x, k: np.take(x, k, 1),
            ((2, 5), (2, 3)),
            ("real", "int"),
            label="int input",
        ),
        Case(
            lambda x: x[[0, 2], :, [1, 1]],
            lambda x: x[[0, 2], :, [1, 1]],
            ((3, 4, 2),),
            R,
            label="two arrays apart",
        ),
        Case(lambda x: gc.sort(x, 0), lambda x: np.sort(x, 0), ((4, 3),), D, label="sort"),
    ],
    "scatter_add": [
        Case(lambda x: gc.segment_sum(x, SEGMENTS, 3), segment_sum_ref, ((6, 2),), R),
        Case(
            lambda x, k: gc.segment_sum(x, k, 4),
            lambda x, k: segment_sum_ref(x, k, 4),
            ((6,), (6,)),
            ("real", "int"),
            label="int ids",
        ),
    ],
    "argsort": [
        Case(gc.argsort, lambda x: np.argsort(x, kind="stable"), ((3, 4),), D, "zero"),
        Case(
            lambda x: gc.argsort(x, axis=0),
            lambda x: np.argsort(x, axis=0, kind="stable"),
            ((3, 4),),
            D,
            "zero",
            label="axis 0",
        ),
        Case(
            lambda b: gc.argsort(b),
            lambda b: np.argsort(b, kind="stable"),
            ((9,),),
            ("bool",),
            "zero",
            label="ties",
        ),
    ],
    "argmax": [
        Case(gc.argmax, np.argmax, ((3, 4),), D, "zero"),
        Case(lambda x: gc.argmax(x, 0), lambda x: np.argmax(x, 0), ((3, 4),), D, "zero", label="0"),
        Case(lambda k: gc.argmax(k, -1), lambda k: np.argmax(k, -1), ((2, 5),), ("int",), "zero"),
    ],
    "argmin": [
        Case(gc.argmin, np.argmin, ((3, 4),), D, "zero"),
        Case(lambda b: gc.argmin(b, 1), lambda b: np.argmin(b, 1), ((3, 4),), ("bool",), "zero"),
    ],
    # running sums and products (graphc.ops.cumulative)
    "cumsum": [
        Case(lambda x: gc.cumsum(x, 1), lambda x: np.cumsum(x, 1), ((2, 3, 4),), R),
        Case(gc.cumsum, np.cumsum, ((2, 3),), R, label="flat"),
        Case(lambda k: gc.cumsum(k, 0), lambda k: np.cumsum(k, 0), ((4, 2),), ("int",), "zero"),
    ],
    "cumprod": [
        Case(lambda x: gc.cumprod(x, 0), lambda x: np.cumprod(x, 0), ((4, 3),), ("nonzero",)),
        Case(lambda x: gc.cumprod(x, -1), lambda x: np.cumprod(x, -1), ((2, 5),), R, label="-1"),
    ],
    "linrec": [
        Case(lambda a, b: linrec(a, b, 1), linrec_ref(1), ((2, 5), (2, 5)), R * 2),
        Case(
            lambda a, b: linrec(a, b, 0, reverse=True),
            linrec_ref(0, reverse=True),
            ((4, 2), (4, 2)),
            R * 2,
            label="reverse",
        ),
    ],
    # sparse derivatives' gather (graphc.ops.sparse): constant positions, repeated and unordered
    "sparse_gather": [
        Case(
            lambda x: sparse_gather(x, GATHER_AT),
            lambda x: x[GATHER_AT],
            ((5,),),
            ("real",),
        ),
        Case(
            lambda x: sparse_gather(x.reshape(-1), GATHER_AT),
            lambda x: x.reshape(-1)[GATHER_AT],
            ((2, 3),),
            ("real",),
            label="of a matrix",
        ),
    ],
}

# -- ops holding a graph (graphc.ops.control); their own tests: test_loops.py, test_custom_*.py


def scan_case(c, xs, w, reverse=False):
    def step(h, x):
        h = gc.sin(h) * x + w * h
        return h, gc.sum(
            h * h
        )  # positive terms: float32 rounding is not amplified by a cancellation

    last, ys = gc.scan(step, c, xs, reverse=reverse)
    return gc.concatenate([last, ys])


def scan_ref(c, xs, w, reverse=False):
    ys = [None] * len(xs)
    for t in reversed(range(len(xs))) if reverse else range(len(xs)):
        c = np.sin(c) * xs[t] + w * c
        ys[t] = np.sum(c * c)
    return np.concatenate([c, np.array(ys, dtype=c.dtype)])


@gc.custom_vjp
def _cube(x):
    return x * x * x


@_cube.def_vjp
def _(inputs, y, ct):
    return (3.0 * inputs[0] * inputs[0] * ct,)


@gc.custom_jvp
def _log1pexp(x):
    return gc.log1p(gc.exp(x))


@_log1pexp.def_jvp
def _(inputs, y, tangents):
    return tangents[0] * gc.sigmoid(inputs[0])


TABLE["scan"] = [
    Case(scan_case, scan_ref, ((3,), (4, 3), (3,)), ("real", "real", "real")),
    Case(
        lambda c, xs, w: scan_case(c, xs, w, reverse=True),
        lambda c, xs, w: scan_ref(c, xs, w, reverse=True),
        ((2,), (3, 2), ()),
        ("real", "real", "real"),
        label="reverse",
    ),
]


def revolve_case(c):
    """The gradient of sum(c_T^2), c_(t+1) = 0.9 sin(c_t) + 0.1, keeping one carry: a revolve
    node (reverse mode on the binomial schedule); its derivatives are second derivatives."""
    one_carry = c.size * np.dtype(c.dtype).itemsize
    last, _ = gc.scan(lambda x, _: (gc.sin(x) * 0.9 + 0.1, None), c, length=6, memory=one_carry)
    return gc.grad(gc.sum(last * last), c)


def revolve_ref(c):
    trajectory = [c]
    for _ in range(6):
        trajectory.append(np.sin(trajectory[-1]) * np.asarray(0.9, c.dtype) + c.dtype.type(0.1))
    g = 2 * trajectory[-1]
    for x in reversed(trajectory[:-1]):
        g = g * np.asarray(0.9, c.dtype) * np.cos(x)
    return g


TABLE["revolve"] = [Case(revolve_case, revolve_ref, ((3,),), ("real",))]
# Forward mode cannot go through a custom vjp (by design, as in JAX): its vjp is checked
# against finite differences in test_custom_derivatives.py.
TABLE["custom_vjp"] = [Case(_cube, lambda x: x * x * x, ((2, 3),), ("real",), "none")]
TABLE["custom_jvp"] = [
    Case(_log1pexp, lambda x: np.log1p(np.exp(x)), ((2, 3),), ("real",), fd_rtol=1e-5)
]

CASES = [
    pytest.param(name, case, id=f"{name}-{case.label or i}")
    for name, cases in TABLE.items()
    for i, case in enumerate(cases)
]
FLOAT_CASES = [p for p in CASES if "float64" in p.values[1].dtypes]


def test_every_op_has_a_row_and_every_row_an_op():
    assert set(TABLE) == set(OPS), "add a row to TABLE for each new op (and remove stale rows)"
    assert all(TABLE[name] for name in TABLE)


@pytest.mark.parametrize("name", sorted(OPS))
def test_op_record_is_complete(name):
    opdef = OPS[name]
    assert opdef.name == name
    assert opdef.kind in {
        "input",
        "const",
        "elementwise",
        "reduce",
        "matmul",
        "view",
        "concat",
        "unslice",
        # kinds whose records lower their own loop nests (graphc.jit.kernels' docstring)
        "gather",
        "scatter",
        "argsort",
        "argreduce",
        "cumulative",
        "cholesky",
        "solve_triangular",
        "lu_factor",
        "lu_solve",
        "lu_inv",
        "linalg",  # solve, inv, det, slogdet: expanded into the lu_ ops before lowering
        "scan",  # ops holding a graph (graphc.ops.control)
        "custom",
    }
    if opdef.kind not in ("input", "const", "elementwise", "reduce", "matmul", "view"):
        # (ops holding a graph that the backend sees inlined declare expand= instead)
        assert opdef.kind in ("concat", "unslice") or (opdef.lower or opdef.expand) is not None
    assert callable(opdef.infer) and callable(opdef.evaluate)
    # Forward and reverse mode cover the same ops: a vjp rule without a jvp rule (or the other
    # way round) would make jvp and vjp disagree about what is differentiable.
    assert (opdef.vjp is None) == (opdef.jvp is None)
    if opdef.kind == "elementwise":
        assert opdef.lower is not None, "elementwise ops need the scalar code the JIT fuses"
    if opdef.commutative:
        assert opdef.kind == "elementwise"
    # verify checks arities; concatenations and ops holding a graph take any number
    assert isinstance(arity(opdef), int) or opdef.kind in ("concat", "scan", "custom")


# Ops users do not call by a function of their own: the graph's sources, and ops the DSL builds
# from something else (indexing builds slice, gradients unslice, astype cast).
INTERNAL_OPS = {
    "input": "gc.tensor",
    "const": "gc.constant",
    "cast": "x.astype",
    "slice": "x[...]",
    "unslice": "the vjp of slice",
    "sparse_gather": "gc.sparse_jacobian and gc.sparse_hessian",
    "gather": "x[integer array]",
    "scatter_add": "the vjp of gather",
    "linrec": "gc.cumsum and gc.cumprod",
    "slogdet_sign": "gc.linalg.slogdet",
    "logabsdet": "gc.linalg.slogdet",
    "lu_factor": "the expand pass (solve, inv, det, slogdet)",
    "lu_solve": "the expand pass (solve)",
    "lu_inv": "the expand pass (inv)",
    "revolve": "reverse mode of gc.scan with checkpoint='binomial' (graphc.revolve)",
}


def test_every_user_facing_op_has_an_exported_function():
    """An op is reached through a gc. function named like it, or one that says it builds it
    (``fn.op``: gc.negative builds neg), unless it is internal; every DSL function is exported."""
    import graphc.dsl

    reached = {name for name in gc.__all__ if name in OPS}
    reached |= {getattr(getattr(gc, name), "op", None) for name in gc.__all__}
    reached |= {name for name in gc.linalg.__all__ if name in OPS}  # gc.linalg.solve ...
    missing = set(OPS) - reached - set(INTERNAL_OPS)
    assert not missing, f"ops without a gc. function (add one to dsl.py and __init__.py): {missing}"
    assert set(INTERNAL_OPS) <= set(OPS)
    defined = {
        name
        for name, value in vars(graphc.dsl).items()
        if callable(value)
        and getattr(value, "__module__", "") == "graphc.dsl"
        and not name.startswith("_")
        and not isinstance(value, type)
    }
    internal_functions = {"index", "slice", "unslice"}  # reached through x[...] and gradients
    not_exported = defined - set(gc.__all__) - internal_functions
    assert not not_exported, f"DSL functions missing from graphc.__all__: {sorted(not_exported)}"
    assert all(hasattr(gc, name) for name in gc.__all__)


@pytest.mark.parametrize("name", sorted(n for n in OPS if OPS[n].kind == "elementwise"))
def test_dsl_functions_build_their_op(name):
    fn = next(
        (getattr(gc, f) for f in gc.__all__ if getattr(getattr(gc, f), "op", None) == name),
        getattr(gc, name, None),
    )
    if fn is None:
        assert name in INTERNAL_OPS
        return
    args = [gc.vector(f"x{i}", 3) for i in range(arity(OPS[name]))]
    if name in ("and", "or", "not"):
        args = [a > 0.0 for a in args]
    if name == "where":
        args[0] = args[0] > 0.0
    node = fn(1, *args) if name == "polygamma" else fn(*args)
    assert node.op == name


# -- building a case --------------------------------------------------------------------------


def input_dtype(domain: str, dtype: str) -> str:
    return {"int": "int64", "bool": "bool"}.get(domain, dtype)


def setup(case: Case, dtype: str, seed: int = 0):
    """Input nodes, the built node, and random input values for ``case``."""
    rng = np.random.default_rng(seed)
    nodes = [
        gc.tensor(f"x{i}", shape, input_dtype(domain, dtype))
        for i, (shape, domain) in enumerate(zip(case.shapes, case.domains))
    ]
    args = [
        random_array(rng, shape, input_dtype(domain, dtype), domain, salt=i)
        for i, (shape, domain) in enumerate(zip(case.shapes, case.domains))
    ]
    return nodes, case.build(*nodes), args, rng


def float_positions(nodes) -> list[int]:
    return [i for i, n in enumerate(nodes) if n.dtype in ("float64", "float32")]


# -- evaluation -------------------------------------------------------------------------------


@pytest.mark.parametrize("name, case", CASES)
def test_evaluate_matches_numpy(name, case):
    for dtype in case.dtypes:
        nodes, out, args, _ = setup(case, dtype)
        graph = gc.Graph(nodes, [out])
        built = [n for n in graph.nodes if n.op == name]
        assert built, f"case does not build a {name} node"
        assert all(arity(OPS[name]) in (None, len(n.args)) for n in built)
        (got,) = outputs(graph, *args)
        want = np.asarray(case.ref(*args))
        assert got.shape == want.shape == out.shape
        assert got.dtype == want.dtype == np.dtype(out.dtype), (got.dtype, want.dtype, dtype)
        rtol = case.value_rtol[0 if got.dtype == np.float64 else 1]
        np.testing.assert_allclose(got, want, rtol=rtol, atol=0)


# -- compiled code ----------------------------------------------------------------------------


@pytest.mark.parametrize("name, case", CASES)
def test_compiled_matches_evaluated(name, case):
    """Native code gives the evaluator's values, in every dtype of the row, and the gradient where
    the row is differentiable (bitwise for integer and boolean results; floats to a few ulp,
    since libm and numpy's loops may round apart and reductions add in another order)."""
    for dtype in case.dtypes:
        nodes, out, args, rng = setup(case, dtype, seed=3)
        outs = [out]
        if case.derivative == "fd" and out.size:
            u = gc.constant(rng.standard_normal(out.shape), out.dtype)
            wrt = [nodes[i] for i in float_positions(nodes)]
            outs += gc.grad(gc.sum(out * u), wrt)
        graph = gc.Graph(nodes, outs)
        want = outputs(graph, *args)
        got = [np.asarray(g) for g in gc.compile(graph)(*args)]  # a list of outputs: a tuple
        for g, w in zip(got, want):
            assert g.shape == w.shape and g.dtype == w.dtype
            if g.dtype.kind in "biu":
                np.testing.assert_array_equal(g, w)
            else:
                rtol = 1e-12 if w.dtype != np.float32 else 2e-5
                np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * 1e-2, equal_nan=True)


# -- derivatives ------------------------------------------------------------------------------


def _differentiable_output(node: gc.Node) -> gc.Node:
    return node if node.dtype in ("float64", "float32") else node.astype("float64")


@pytest.mark.parametrize("name, case", [p for p in FLOAT_CASES if p.values[1].derivative == "fd"])
def test_vjp_matches_finite_differences(name, case):
    nodes, out, args, rng = setup(case, "float64")
    wrt = float_positions(nodes)
    u = rng.standard_normal(out.shape)
    cts = gc.vjp(out, nodes, u)
    got = outputs(gc.Graph(nodes, cts), *args)
    want = numeric_vjp(function_of(nodes, out), args, u, wrt, h=case.fd_h)
    for i, fd in zip(wrt, want):
        assert got[i].shape == nodes[i].shape and got[i].dtype == np.dtype(nodes[i].dtype)
        np.testing.assert_allclose(got[i], fd, rtol=case.fd_rtol, atol=case.fd_rtol * 1e-2)
    for i in set(range(len(nodes))) - set(wrt):  # int and bool inputs: zero, not an error
        assert got[i].shape == nodes[i].shape and not got[i].any()


@pytest.mark.parametrize("name, case", [p for p in FLOAT_CASES if p.values[1].derivative == "fd"])
def test_jvp_matches_finite_differences_and_vjp(name, case):
    """The dot-product test <u, J v> == <J^T u, v>, and J v against a finite difference."""
    nodes, out, args, rng = setup(case, "float64", seed=1)
    wrt = float_positions(nodes)
    u = rng.standard_normal(out.shape)
    v = [rng.standard_normal(nodes[i].shape) for i in wrt]
    tangent = gc.jvp(out, [nodes[i] for i in wrt], v)
    cotangents = gc.vjp(out, [nodes[i] for i in wrt], u)
    jv, *vjs = outputs(gc.Graph(nodes, [tangent, *cotangents]), *args)
    assert jv.shape == out.shape
    lhs = float(np.sum(u * jv))
    rhs = sum(float(np.sum(vj * vi)) for vj, vi in zip(vjs, v))
    # The seeds are rounded to the output's dtype, so a float32 output agrees to float32 only.
    tol = 1e-12 if out.dtype == "float64" else 1e-6
    assert lhs == pytest.approx(rhs, rel=tol, abs=tol)
    tangents = [None] * len(nodes)
    for i, vi in zip(wrt, v):
        tangents[i] = vi
    fd = numeric_jvp(function_of(nodes, out), args, tangents, h=case.fd_h)
    np.testing.assert_allclose(jv, fd, rtol=case.fd_rtol, atol=case.fd_rtol * 1e-2)


@pytest.mark.parametrize("name, case", [p for p in FLOAT_CASES if p.values[1].derivative == "fd"])
def test_vjp_in_float32_has_input_dtypes_and_float64_values(name, case):
    nodes64, out64, args, rng = setup(case, "float64", seed=2)
    nodes32 = [
        gc.tensor(n.name, n.shape, "float32" if n.dtype == "float64" else n.dtype) for n in nodes64
    ]
    out32 = case.build(*nodes32)
    u = rng.standard_normal(out64.shape)
    got = outputs(
        gc.Graph(nodes32, gc.vjp(out32, nodes32, u)),
        *[a.astype(np.float32) if a.dtype == np.float64 else a for a in args],
    )
    want = outputs(gc.Graph(nodes64, gc.vjp(out64, nodes64, u)), *args)
    for g, w, n in zip(got, want, nodes32):
        if n.dtype == "float32":
            assert g.dtype == np.float32
            np.testing.assert_allclose(g, w, rtol=2e-4, atol=1e-5)


@pytest.mark.parametrize("name, case", [p for p in CASES if p.values[1].derivative == "zero"])
def test_non_differentiable_args_get_zero_not_errors(name, case):
    dtype = case.dtypes[0]
    nodes, out, args, rng = setup(case, dtype)
    assert (
        OPS[name].vjp is None
        or name == "cast"
        or all(n.dtype not in ("float64", "float32") for n in nodes)
    )
    y = _differentiable_output(out)
    u = rng.standard_normal(y.shape)
    cts = gc.vjp(y, nodes, u)
    v = [np.ones(n.shape) for n in nodes]
    tangent = gc.jvp(y, nodes, v)
    got = outputs(gc.Graph(nodes, [*cts, tangent, gc.grad(gc.sum(y), nodes[0])]), *args)
    for value, node in zip(got, nodes):
        assert value.shape == node.shape and not value.any()
    assert not got[-2].any() and not got[-1].any()


# -- kinks, ties and zeros: the documented choices ---------------------------------------------


def derivative_at(f, *point):
    """Values of ``grad(f)`` at ``point`` for scalar inputs, and of the jvp along each axis."""
    xs = [gc.tensor(f"x{i}", np.shape(p)) for i, p in enumerate(point)]
    y = f(*xs)
    grads = gc.grad(y, xs)
    tangents = [
        gc.jvp(
            y,
            xs,
            [
                np.ones(np.shape(p)) if i == j else np.zeros(np.shape(p))
                for j, p in enumerate(point)
            ],
        )
        for i in range(len(point))
    ]
    values = outputs(gc.Graph(xs, [*grads, *tangents]), *point)
    return values[: len(xs)], values[len(xs) :]


@pytest.mark.parametrize("zero", [0.0, -0.0])
def test_abs_derivative_at_zero_is_zero(zero):
    (g,), (t,) = derivative_at(gc.abs, zero)
    assert g == 0.0 and t == 0.0
    (g,), _ = derivative_at(gc.abs, -2.0)
    assert g == -1.0


def test_sqrt_derivative_at_zero_is_plus_inf():
    (g,), (t,) = derivative_at(gc.sqrt, 0.0)
    assert g == np.inf and t == np.inf


@pytest.mark.parametrize("fn", [gc.maximum, gc.minimum])
def test_maximum_minimum_ties_split_half_half(fn):
    grads, tangents = derivative_at(fn, 1.5, 1.5)
    assert [float(g) for g in grads] == [0.5, 0.5]
    assert [float(t) for t in tangents] == [0.5, 0.5]
    grads, _ = derivative_at(fn, 1.0, 2.0)  # no tie: all to the winner
    assert [float(g) for g in grads] == ([0.0, 1.0] if fn is gc.maximum else [1.0, 0.0])


@pytest.mark.parametrize(
    "fn, x, want",
    [
        (gc.max, [1.0, 3.0, 3.0, 2.0], [0.0, 0.5, 0.5, 0.0]),
        (gc.max, [3.0, 3.0, 3.0], [1 / 3, 1 / 3, 1 / 3]),
        (gc.min, [1.0, 3.0, 1.0, 2.0], [0.5, 0.0, 0.5, 0.0]),
        (lambda x: gc.max(x.reshape(2, 2), axis=1).sum(), [2.0, 2.0, 1.0, 5.0], [0.5, 0.5, 0, 1]),
    ],
)
def test_max_min_reduction_ties_share_equally(fn, x, want):
    (g,), (t,) = derivative_at(fn, np.array(x))
    np.testing.assert_allclose(g, want, rtol=1e-15)
    assert t == pytest.approx(sum(want))  # jvp along all ones


@pytest.mark.parametrize(
    "x, want",
    [
        ([2.0, 0.0, 3.0], [0.0, 6.0, 0.0]),  # one zero: only it has a weight
        ([0.0, 2.0, 0.0], [0.0, 0.0, 0.0]),  # two zeros: every product of the others is 0
        ([2.0, -0.5, 3.0], [-1.5, 6.0, -1.0]),
    ],
)
def test_prod_gradient_with_zeros(x, want):
    x = np.array(x)
    (g,), _ = derivative_at(gc.prod, x)
    np.testing.assert_array_equal(g, want)  # exact: no division by a zero
    (fd,) = numeric_vjp(np.prod, [x], np.array(1.0), [0])
    np.testing.assert_allclose(g, fd, atol=1e-9)


def test_prod_gradient_with_zeros_along_an_axis():
    x = np.array([[2.0, 0.0, 3.0], [0.0, 5.0, 0.0], [1.0, 2.0, 4.0]])
    (g,), _ = derivative_at(lambda m: gc.sum(gc.prod(m, axis=1) * np.array([1.0, 2.0, 3.0])), x)
    np.testing.assert_array_equal(g, [[0, 6, 0], [0, 0, 0], [24, 12, 6]])


def test_pow_derivative_in_the_exponent_at_a_zero_base_is_zero():
    grads, _ = derivative_at(lambda a, b: a**b, 0.0, 2.0)
    assert [float(g) for g in grads] == [0.0, 0.0]


def test_comparisons_sign_and_integers_are_constant_for_derivatives():
    x, y = gc.vector("x", 3), gc.vector("y", 3)
    k = gc.vector("k", 3, "int64")
    f = gc.sum(gc.where(x > y, x, 2.0 * y) * gc.sign(x) + x * k)
    gx, gy, gk = gc.grad(f, [x, y, k])
    xv, yv, kv = np.array([1.0, -2.0, 3.0]), np.array([0.0, 0.0, 5.0]), np.array([1, 2, 3])
    got = outputs(gc.Graph([x, y, k], [gx, gy, gk]), xv, yv, kv)
    np.testing.assert_array_equal(got[0], np.where(xv > yv, 1.0, 0.0) * np.sign(xv) + kv)
    np.testing.assert_array_equal(got[1], np.where(xv > yv, 0.0, 2.0) * np.sign(xv))
    assert got[2].shape == (3,) and not got[2].any()
