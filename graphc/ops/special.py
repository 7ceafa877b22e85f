"""Elementwise math functions beyond arithmetic: special functions (erf, erfc, gammaln, digamma,
polygamma), hyperbolic and inverse trigonometric functions, log2/log10/exp2/cbrt, rounding,
and the binary functions arctan2, hypot, logaddexp, remainder, fmod and the ternary clip.

Every record follows numpy's semantics (names, dtypes, nan/inf/signed zeros) and lowers to
glibc (through ``graphc.ops.libm``: an LLVM intrinsic where LLVM has one), except digamma and
polygamma, which glibc lacks (``graphc.ops.gamma``), and logaddexp, remainder and clip, whose
scalar code is numpy's own branch structure written with selects (so compiled results are
bitwise numpy's where the libm calls are).

Derivative conventions at singular points (documented for users in ``docs/guide.md``, tested
in ``tests/test_special_functions.py``):
- poles and branch points give the one-sided limit of the formula: arcsin'(+-1),
  arccosh'(1), arctanh'(+-1) and cbrt'(0) are +inf, gammaln' = digamma is nan at the poles;
- ``arctan2`` and ``hypot`` have derivative 0 at the origin (as abs'(0) = 0: the subgradient
  of least norm; the formulas give 0/0);
- ``clip``: the cotangent goes to x on the closed interval lo <= x <= hi (so a value resting on
  a bound still gets a gradient), to lo where x < lo, to hi where the result is hi;
- ``logaddexp(a, b)``: 1/2 each where a == b (also at a = b = +-inf, where the formula is nan);
- ``remainder``/``fmod``: d/da = 1 and d/db = -q (q the integer quotient) everywhere, the
  derivative of the continuous piece (the jumps where a/b is an integer are ignored);
- ``floor``, ``ceil`` and ``round`` have derivative zero (not differentiable: zero, not error).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math

import numpy as np

from graphc import dsl, dtypes
from graphc.node import Node
from graphc.ops import gamma
from graphc.ops.base import (
    Jvp,
    OpDef,
    Vjp,
    add_tangents,
    broadcast_tangent,
    is_differentiable,
    register,
    unbroadcast,
)
from graphc.ops.elementwise import (
    _binary,
    _check_not_bool,
    _common_dtype,
    _common_shape,
    _eval,
    _infer_arith,
    _infer_float_result,
    _lower_call,
    _unary,
    _x,
)

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_LN2 = math.log(2.0)
_LN10 = math.log(10.0)


def _guard_zero(h: Node) -> Node:
    """``h`` with its zeros replaced by 1: a divisor that is safe where a 0/0 is defined as 0.
    The guard is inside the division, so higher derivatives see no 0 * inf either."""
    return dsl.where(h == 0.0, 1.0, h)


# -- unary: evaluation through Python's math module where numpy has no function --------------


def _vectorized(fn):
    return np.vectorize(fn, otypes=[np.float64])


def _python_lgamma(value: float) -> float:
    try:
        return math.lgamma(value)
    except ValueError:  # the poles 0, -1, -2, ...: glibc's lgamma gives +inf
        return math.inf


def _libm_lgamma():
    """The C library's lgamma_r, which compiled code calls, else Python's: CPython's
    math.lgamma is its own (Lanczos) code, about 1e-13 relative off near the zeros at 1 and 2,
    where glibc's is within 3 ulp."""
    try:
        libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        function = libm.lgamma_r
    except (OSError, AttributeError):
        return _python_lgamma
    function.restype = ctypes.c_double
    function.argtypes = [ctypes.c_double, ctypes.POINTER(ctypes.c_int)]
    return lambda value: function(value, ctypes.byref(ctypes.c_int()))  # the sign: unused


_lgamma = _libm_lgamma()


def _lower_gamma_algorithm(algorithm):
    def lower(em, node, x):
        return gamma.run_emitter(algorithm, em, x, node.dtype, *_params(node))

    return lower


def _params(node: Node) -> tuple:
    return (node.attrs["n"],) if node.op == "polygamma" else ()


def _eval_polygamma(node, x):
    return gamma.run_numpy(gamma.polygamma, x, node.dtype, node.attrs["n"])


def _rounding(name: str, fn, libm_name: str, bool_ok: bool) -> OpDef:
    """floor, ceil, round: float -> float; integers (and booleans for floor/ceil) unchanged,
    as numpy keeps them. Derivative zero."""

    def lower(em, node, x):
        return em.call(libm_name, x) if dtypes.is_float(node.dtype) else x

    return _unary(name, fn, None, lower, float_result=False, bool_ok=bool_ok)


def _erf_chain(sign: float):
    def chain(node, seed):
        x = _x(node)
        return seed * (dsl.exp(-(x * x)) * (sign * _TWO_OVER_SQRT_PI))

    return chain


UNARY = [
    _unary("erf", _vectorized(math.erf), _erf_chain(1.0), _lower_call("erf")),
    _unary("erfc", _vectorized(math.erfc), _erf_chain(-1.0), _lower_call("erfc")),
    _unary(
        "gammaln",
        _vectorized(_lgamma),
        lambda n, s: s * dsl.digamma(_x(n)),
        _lower_call("lgamma"),
    ),
    _unary(
        "digamma",
        lambda x: gamma.run_numpy(gamma.digamma, x, x.dtype),
        lambda n, s: s * dsl.polygamma(1, _x(n)),
        _lower_gamma_algorithm(gamma.digamma),
    ),
    _unary("sinh", np.sinh, lambda n, s: s * dsl.cosh(_x(n)), _lower_call("sinh")),
    _unary("cosh", np.cosh, lambda n, s: s * dsl.sinh(_x(n)), _lower_call("cosh")),
    # 1/sqrt((1 - x)(1 + x)): no cancellation in 1 - x^2 near +-1, where it is +inf.
    _unary(
        "arcsin",
        np.arcsin,
        lambda n, s: s / dsl.sqrt((1.0 - _x(n)) * (1.0 + _x(n))),
        _lower_call("asin"),
    ),
    _unary(
        "arccos",
        np.arccos,
        lambda n, s: -(s / dsl.sqrt((1.0 - _x(n)) * (1.0 + _x(n)))),
        _lower_call("acos"),
    ),
    _unary("arctan", np.arctan, lambda n, s: s / (1.0 + _x(n) * _x(n)), _lower_call("atan")),
    # hypot(x, 1) = sqrt(x^2 + 1) without overflow for |x| > 1e154.
    _unary("arcsinh", np.arcsinh, lambda n, s: s / dsl.hypot(_x(n), 1.0), _lower_call("asinh")),
    _unary(
        "arccosh",
        np.arccosh,
        lambda n, s: s / (dsl.sqrt(_x(n) - 1.0) * dsl.sqrt(_x(n) + 1.0)),
        _lower_call("acosh"),
    ),
    _unary(
        "arctanh",
        np.arctanh,
        lambda n, s: s / ((1.0 - _x(n)) * (1.0 + _x(n))),
        _lower_call("atanh"),
    ),
    _unary("log2", np.log2, lambda n, s: s / (_x(n) * _LN2), _lower_call("log2")),
    _unary("log10", np.log10, lambda n, s: s / (_x(n) * _LN10), _lower_call("log10")),
    _unary("exp2", np.exp2, lambda n, s: s * (n * _LN2), _lower_call("exp2")),
    # cbrt'(x) = 1 / (3 cbrt(x)^2): +inf at 0, the limit from both sides.
    _unary("cbrt", np.cbrt, lambda n, s: s / (n * n * 3.0), _lower_call("cbrt")),
    _rounding("floor", np.floor, "floor", bool_ok=True),
    _rounding("ceil", np.ceil, "ceil", bool_ok=True),
    # numpy's round (decimals=0) is rint: halfway cases to even.
    _rounding("round", np.rint, "roundeven", bool_ok=False),
]


# -- polygamma: an attribute, the order n ----------------------------------------------------


def _infer_polygamma(args, attrs):
    n = attrs["n"]
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= gamma.MAX_ORDER:
        raise ValueError(
            f"polygamma: the order n must be an integer in [1, {gamma.MAX_ORDER}] (0 is "
            f"digamma), got {n!r}"
        )
    return _infer_float_result("polygamma")(args, attrs)


def _polygamma_next(node: Node) -> Node:
    return dsl.polygamma(node.attrs["n"] + 1, _x(node))


def _polygamma_vjp(node, ct):
    return (ct * _polygamma_next(node) if is_differentiable(_x(node)) else None,)


def _polygamma_jvp(node, tangents):
    (t,) = tangents
    if t is None or not is_differentiable(_x(node)):
        return None
    return broadcast_tangent(t, node) * _polygamma_next(node)


POLYGAMMA = OpDef(
    "polygamma",
    "elementwise",
    _infer_polygamma,
    _eval_polygamma,
    _polygamma_vjp,
    _polygamma_jvp,
    _lower_gamma_algorithm(gamma.polygamma),
    doc="the n-th derivative of digamma (attribute n >= 1)",
    arity=1,
)


# -- binary functions --------------------------------------------------------------------------


def _two_partials(partials) -> tuple[Vjp, Jvp]:
    """vjp and jvp of a binary op from ``partials(node) -> (d/da, d/db)``: nodes, or None for
    a partial derivative of 1 (the seed passes through)."""

    def vjp(node, ct):
        a, b = node.args
        da, db = partials(node)
        return (
            unbroadcast(_times(ct, da), a) if is_differentiable(a) else None,
            unbroadcast(_times(ct, db), b) if is_differentiable(b) else None,
        )

    def jvp(node, tangents):
        ta, tb = tangents
        if ta is None and tb is None:
            return None
        da, db = partials(node)
        return add_tangents(
            broadcast_tangent(_times(ta, da), node) if ta is not None else None,
            broadcast_tangent(_times(tb, db), node) if tb is not None else None,
        )

    return vjp, jvp


def _times(seed: Node, partial: Node | None) -> Node:
    return seed if partial is None else seed * partial


def _arctan2_partials(node):
    y, x = node.args
    h = _guard_zero(dsl.hypot(y, x))  # (x / h) / h: no overflow or underflow of x^2 + y^2
    return (x / h) / h, -((y / h) / h)


def _hypot_partials(node):
    a, b = node.args
    h = _guard_zero(node)
    return a / h, b / h


def _logaddexp_partials(node):
    a, b = node.args
    tie = a == b  # 1/2 each, also where a = b = +-inf and a - b is nan
    return dsl.where(tie, 0.5, dsl.sigmoid(a - b)), dsl.where(tie, 0.5, dsl.sigmoid(b - a))


def _quotient_partials(node):
    # out = a - q b with q the integer quotient (floor for remainder, trunc for fmod): q is
    # (a - out) / b up to rounding, which rint removes (|q| < 2^52).
    a, b = node.args
    return None, -dsl.round((a - node) / b)


def _lower_logaddexp(em, node, a, b):
    # numpy's npy_logaddexp: a == b -> a + ln 2 (infinities of one sign); else the larger plus
    # log1p(exp(-|a - b|)); a nan difference propagates.
    a, b = em.cast(a, node.dtype), em.cast(b, node.dtype)
    difference = em.arith("sub", a, b)
    larger = em.select(em.cmp("gt", difference, em.const(0.0, node.dtype)), a, b)
    tail = em.call("log1p", em.call("exp", em.neg(em.call("fabs", difference))))
    general = em.arith("add", larger, tail)
    tie = em.arith("add", a, em.const(_LN2, node.dtype))
    return em.select(em.cmp("eq", a, b), tie, general)


def _lower_remainder(em, node, a, b):
    a, b = em.cast(a, node.dtype), em.cast(b, node.dtype)
    if not dtypes.is_float(node.dtype):
        return _int_remainder(em, node, a, b, floor=True)
    # numpy's npy_remainder: fmod, moved into the divisor's sign when they differ; a zero
    # takes the divisor's sign; b == 0 gives fmod's nan.
    zero = em.const(0.0, node.dtype)
    mod = em.call("fmod", a, b)
    signs_differ = em.logic("xor", em.cmp("lt", b, zero), em.cmp("lt", mod, zero))
    fix = em.logic("and", em.cmp("ne", mod, zero), signs_differ)
    moved = em.select(fix, em.arith("add", mod, b), mod)
    return em.select(em.cmp("eq", mod, zero), em.call("copysign", zero, b), moved)


def _lower_fmod(em, node, a, b):
    a, b = em.cast(a, node.dtype), em.cast(b, node.dtype)
    if not dtypes.is_float(node.dtype):
        return _int_remainder(em, node, a, b, floor=False)
    return em.call("fmod", a, b)


def _int_remainder(em, node, a, b, floor: bool):
    # numpy gives 0 for b == 0 (with a warning) and for INT64_MIN % -1; both are undefined for
    # LLVM's srem (x86 traps), so the divisor is 1 there, which gives 0 too.
    zero, one = em.const(0, node.dtype), em.const(1, node.dtype)
    unsafe = em.logic("or", em.cmp("eq", b, zero), em.cmp("eq", b, em.const(-1, node.dtype)))
    rem = em.arith("rem", a, em.select(unsafe, one, b))
    if not floor:
        return rem
    # Python's floor modulo: a nonzero remainder takes the divisor's sign.
    signs_differ = em.logic("xor", em.cmp("lt", rem, zero), em.cmp("lt", b, zero))
    fix = em.logic("and", em.cmp("ne", rem, zero), signs_differ)
    return em.select(fix, em.arith("add", rem, b), rem)


def _lower_binary_call(name: str):
    def lower(em, node, a, b):
        return em.call(name, em.cast(a, node.dtype), em.cast(b, node.dtype))

    return lower


def _eval_quiet(fn):
    """numpy's ``fn`` without its divide-by-zero warnings (remainder by 0 is defined: nan/0)."""

    def quiet(*values):
        with np.errstate(divide="ignore", invalid="ignore"):
            return fn(*values)

    return quiet


_ARCTAN2_RULES = _two_partials(_arctan2_partials)
_HYPOT_RULES = _two_partials(_hypot_partials)
_LOGADDEXP_RULES = _two_partials(_logaddexp_partials)
_QUOTIENT_RULES = _two_partials(_quotient_partials)

BINARY = [
    _binary(
        "arctan2",
        np.arctan2,
        _infer_float_result("arctan2"),
        *_ARCTAN2_RULES,
        _lower_binary_call("atan2"),
    ),
    _binary(
        "hypot",
        np.hypot,
        _infer_float_result("hypot"),
        *_HYPOT_RULES,
        _lower_binary_call("hypot"),
        commutative=True,
    ),
    _binary(
        "logaddexp",
        np.logaddexp,
        _infer_float_result("logaddexp"),
        *_LOGADDEXP_RULES,
        _lower_logaddexp,
        commutative=True,
    ),
    _binary(
        "remainder",
        _eval_quiet(np.remainder),
        _infer_arith("remainder"),
        *_QUOTIENT_RULES,
        _lower_remainder,
    ),
    _binary("fmod", _eval_quiet(np.fmod), _infer_arith("fmod"), *_QUOTIENT_RULES, _lower_fmod),
]


# -- clip -------------------------------------------------------------------------------------


def _infer_clip(args, attrs):
    dtype = _common_dtype(args)
    if dtype == dtypes.BOOL:
        _check_not_bool("clip", args)
    return _common_shape("clip", args), dtype


def _clip_masks(node):
    """Where the result is x (lo <= x <= hi, closed), lo (x < lo <= hi) and hi (the rest)."""
    x, lo, hi = node.args
    takes_x = (x >= lo) & (x <= hi)
    takes_lo = (x < lo) & (lo <= hi)
    return takes_x, takes_lo, ~(takes_x | takes_lo)


def _clip_vjp(node, ct):
    masks = _clip_masks(node)
    return tuple(
        unbroadcast(dsl.where(mask, ct, 0.0), arg) if is_differentiable(arg) else None
        for mask, arg in zip(masks, node.args)
    )


def _clip_jvp(node, tangents):
    if all(t is None for t in tangents):
        return None
    takes_x, takes_lo, _ = _clip_masks(node)
    zero = dsl.zeros(node.shape, node.dtype)
    tx, tlo, thi = (zero if t is None else broadcast_tangent(t, node) for t in tangents)
    return dsl.where(takes_x, tx, dsl.where(takes_lo, tlo, thi))


def _clip(x, lo, hi):
    """m = (x >= lo or isnan(x)) ? x : lo, then (m <= hi or isnan(m)) ? m : hi: numpy's clip
    with scalar bounds. A nan anywhere propagates, lo > hi gives hi, and on ties x wins, so
    clip(-0.0, 0.0, 1.0) is -0.0. numpy's loop for array bounds gives the bound on ties (+0.0
    there): numpy itself differs by the sign of a zero between its two paths; graphc follows
    one rule, in the evaluator and in compiled code alike."""
    float_like = x.dtype.kind == "f"
    keep_x = (x >= lo) | np.isnan(x) if float_like else x >= lo
    m = np.where(keep_x, x, lo)
    keep_m = (m <= hi) | np.isnan(m) if float_like else m <= hi
    return np.where(keep_m, m, hi)


def _lower_clip(em, node, x, lo, hi):
    # The scalar code of _clip.
    x, lo, hi = (em.cast(v, node.dtype) for v in (x, lo, hi))
    keep_x = em.cmp("ge", x, lo)
    if dtypes.is_float(node.dtype):
        keep_x = em.logic("or", keep_x, em.isnan(x))
    m = em.select(keep_x, x, lo)
    keep_m = em.cmp("le", m, hi)
    if dtypes.is_float(node.dtype):
        keep_m = em.logic("or", keep_m, em.isnan(m))
    return em.select(keep_m, m, hi)


CLIP = OpDef(
    "clip",
    "elementwise",
    _infer_clip,
    _eval(_clip),
    _clip_vjp,
    _clip_jvp,
    _lower_clip,
    doc="numpy's clip(x, lo, hi); the derivative goes to x on the closed interval",
    arity=3,
)

register(*UNARY, POLYGAMMA, *BINARY, CLIP)
NAMES = tuple(opdef.name for opdef in (*UNARY, POLYGAMMA, *BINARY, CLIP))
