"""digamma and polygamma: graphc's own algorithms (glibc has neither), written once and run two
ways, by the reference evaluator on numpy arrays and by the JIT as scalar code.

An algorithm here is a Python function of :class:`Scalar` values: arithmetic, comparisons,
``where`` and calls of ``graphc.ops.libm`` functions. :func:`run_numpy` runs it on float64
arrays; :func:`run_emitter` runs it on an emitter (``em`` of an op's ``lower``), which writes
the same operations as branch-free IR (every branch is computed and selected, so the loop
vectorises). Both compute in float64, whatever the node's dtype, and round once at the end:
float32 results are the float64 ones correctly rounded, but for double rounding.

Accuracy (measured against mpmath in ``tests/test_special_functions.py``; bounds in
``docs/guide.md``): a few ulp for x > 0. For x < 0 the reflection formula is used, which near
the zeros of psi between the poles cancels: there the error is a few ulp of the *terms*
(absolute, about 1e-15 * |psi(1 - x)|), not of the result.

digamma(x), the logarithmic derivative of Gamma:
- x >= 10: the asymptotic series ln x - 1/(2x) - sum_{k=1..8} B_2k / (2k x^2k) (the first
  omitted term is below 2e-18 relative);
- 0 < x < 10: psi(x) = psi(z) + sum_{k=1..n} 1/(x - k) with z = x - n in [1, 2) (terms of one
  sign, added smallest first), or psi(x + 1) - 1/x for x < 1; on [1, 2), psi(z) =
  (z - x0) * p(2z - 3), x0 the positive zero of psi (in two parts, so z - x0 is exact to 2^-106)
  and p a degree-23 Chebyshev fit of psi(z)/(z - x0) (max error 5.8e-19, see ``_P_ROOT``), so
  the result keeps its relative accuracy through the zero;
- x < 0: psi(x) = psi(1 - x) - pi cot(pi r), r = x - rint(x) (reduced first, so large |x|
  loses nothing in pi * x; cot through tan of an exact argument, see ``_cot_pi``); psi(-n) =
  nan at the poles, psi(+-0) = -+inf (the one-sided limit).

polygamma(n, x) = (-1)^(n+1) n! zeta(n + 1, x) for n >= 1:
- x > 0: the terms (x + k)^-(n+1) up to x + k >= Z, then the Euler-Maclaurin series of the
  Hurwitz zeta function at z = x + m >= Z, with Z chosen for n so that its first omitted term
  is below 2^-60 relative (Z = 12 for n = 1, growing about linearly with n);
- x < 0: psi^(n)(x) = (-1)^n psi^(n)(1 - x) - pi^(n+1) P_n(cot(pi r)), P_0(c) = c,
  P_{k+1}(c) = -(1 + c^2) P_k'(c) (the n-th derivative of pi cot(pi x)); at the poles
  (non-positive integers) +inf for odd n, nan for even n (the sides differ in sign); at +-0 the
  sign of the zero decides, as for 1/x^(n+1).
"""

from __future__ import annotations

import math
import operator
from fractions import Fraction
from functools import cache

import numpy as np

from graphc import dtypes

MAX_ORDER = 60  # polygamma orders beyond this overflow n! * z^-(n+1) for most arguments

# -- a value of either backend, with Python's operators -----------------------------------------


class Scalar:
    """A float64 value of a backend: a numpy array (``_Numpy``) or an IR value (``_Emitter``)."""

    __slots__ = ("backend", "value")

    def __init__(self, backend, value):
        self.backend = backend
        self.value = value

    def _lift(self, other) -> Scalar:
        return other if isinstance(other, Scalar) else backend_const(self.backend, other)

    def _op(self, kind, other, swap=False):
        a, b = self, self._lift(other)
        if swap:
            a, b = b, a
        return Scalar(self.backend, self.backend.arith(kind, a.value, b.value))

    def __add__(self, o):
        return self._op("add", o)

    def __radd__(self, o):
        return self._op("add", o, True)

    def __sub__(self, o):
        return self._op("sub", o)

    def __rsub__(self, o):
        return self._op("sub", o, True)

    def __mul__(self, o):
        return self._op("mul", o)

    def __rmul__(self, o):
        return self._op("mul", o, True)

    def __truediv__(self, o):
        return self._op("div", o)

    def __rtruediv__(self, o):
        return self._op("div", o, True)

    def __neg__(self):
        return Scalar(self.backend, self.backend.neg(self.value))

    def _cmp(self, pred, other):
        return Scalar(self.backend, self.backend.cmp(pred, self.value, self._lift(other).value))

    def __lt__(self, o):
        return self._cmp("lt", o)

    def __le__(self, o):
        return self._cmp("le", o)

    def __gt__(self, o):
        return self._cmp("gt", o)

    def __ge__(self, o):
        return self._cmp("ge", o)

    def equals(self, o) -> Scalar:  # not __eq__: Scalars are not hashed or compared as objects
        return self._cmp("eq", o)

    def __and__(self, o):
        return Scalar(self.backend, self.backend.logic("and", self.value, o.value))


def where(cond: Scalar, a, b) -> Scalar:
    backend = cond.backend
    a = a if isinstance(a, Scalar) else backend_const(backend, a)
    b = b if isinstance(b, Scalar) else backend_const(backend, b)
    return Scalar(backend, backend.select(cond.value, a.value, b.value))


def backend_const(backend, value) -> Scalar:
    return Scalar(backend, backend.const(float(value)))


def call(name: str, *args: Scalar) -> Scalar:
    backend = args[0].backend
    return Scalar(backend, backend.call(name, *(a.value for a in args)))


def horner(t: Scalar, coefficients) -> Scalar:
    """sum c_k t^k with ``coefficients`` highest degree first."""
    acc = backend_const(t.backend, coefficients[0])
    for c in coefficients[1:]:
        acc = acc * t + c
    return acc


class _Numpy:
    _CALLS = {
        "log": np.log,
        "tan": np.tan,
        "pow": np.power,
        "floor": np.floor,
        "roundeven": np.rint,
    }

    def const(self, value):
        return np.float64(value)

    def arith(self, kind, a, b):
        return getattr(operator, {"div": "truediv"}.get(kind, kind))(a, b)

    def neg(self, a):
        return -a

    def cmp(self, pred, a, b):
        return getattr(operator, pred)(a, b)

    def logic(self, kind, a, b):
        return np.logical_and(a, b)

    def select(self, cond, a, b):
        return np.where(cond, a, b)

    def call(self, name, *args):
        return self._CALLS[name](*args)


class _Emitter:
    def __init__(self, em):
        self.em = em

    def const(self, value):
        return self.em.const(value, dtypes.FLOAT64)

    def arith(self, kind, a, b):
        return self.em.arith(kind, a, b)

    def neg(self, a):
        return self.em.neg(a)

    def cmp(self, pred, a, b):
        return self.em.cmp(pred, a, b)

    def logic(self, kind, a, b):
        return self.em.logic(kind, a, b)

    def select(self, cond, a, b):
        return self.em.select(cond, a, b)

    def call(self, name, *args):
        return self.em.call(name, *args)


def run_numpy(algorithm, x: np.ndarray, dtype: str, *params) -> np.ndarray:
    """``algorithm`` on the array ``x``, computed in float64 and rounded to ``dtype``."""
    backend = _Numpy()
    with np.errstate(all="ignore"):
        result = algorithm(Scalar(backend, np.asarray(x, dtype=np.float64)), *params)
    return np.asarray(result.value, dtype=dtype)


def run_emitter(algorithm, em, x, dtype: str, *params):
    """``algorithm`` as scalar IR through the emitter ``em``, on ``x`` (any dtype)."""
    backend = _Emitter(em)
    result = algorithm(Scalar(backend, em.cast(x, dtypes.FLOAT64)), *params)
    return em.cast(result.value, dtype)


# -- digamma ------------------------------------------------------------------------------------

# The positive zero of psi, 1.46163214496836234126..., as a double and the remainder.
_ROOT_HI = 1.4616321449683622
_ROOT_LO = 9.549995429965697e-17
# psi(z) / (z - x0) on z in [1, 2] as a polynomial in t = 2z - 3, highest degree first:
# mpmath.chebyfit(lambda t: digamma((t + 3) / 2) / ((t + 3) / 2 - x0), [-1, 1], 24) at 50
# digits (reported max error 5.8e-19).
_P_ROOT = (
    -9.720300404202244e-12,
    2.916093601085364e-11,
    -2.9161179626023815e-11,
    8.748420037436287e-11,
    -4.1555064115551965e-10,
    1.2466690231864029e-09,
    -3.509235492410718e-09,
    1.0528133851878114e-08,
    -3.1807298477301726e-08,
    9.543261570760428e-08,
    -2.8621216825577647e-07,
    8.589062683365892e-07,
    -2.578133701610713e-06,
    7.741234441368395e-06,
    -2.325823275895313e-05,
    6.99501882655044e-05,
    -0.00021074841284590126,
    0.0006368880303847901,
    -0.0019350666647392832,
    0.005936795278301875,
    -0.018550615381739702,
    0.06013562106019684,
    -0.21181371064073024,
    0.9510558760318328,
)
_ASYMPTOTIC_FROM = 10.0


@cache
def _bernoulli(m: int) -> Fraction:
    """The Bernoulli number B_m (B_1 = -1/2), exactly."""
    b = [Fraction(1)]
    for k in range(1, m + 1):
        b.append(-Fraction(sum(math.comb(k + 1, j) * b[j] for j in range(k))) / (k + 1))
    return b[m]


# psi's asymptotic series: sum_{k=1..8} B_2k / (2k) w^k with w = x^-2, highest degree first.
_P_ASYMPTOTIC = tuple(float(_bernoulli(2 * k) / (2 * k)) for k in range(8, 0, -1))


def _shifted_digamma(y: Scalar) -> Scalar:
    """psi(y) for y >= 0 (nan for nan)."""
    large = y >= _ASYMPTOTIC_FROM
    # Small arguments: move to z in [1, 2). ys is a harmless stand-in where y is large.
    ys = where(large, 1.5, y)
    z = (ys - call("floor", ys)) + 1.0  # exact for ys >= 1; for ys < 1 z - 1 - ys < 2^-53
    near_root = ((z - _ROOT_HI) - _ROOT_LO) * horner(2.0 * z - 3.0, _P_ROOT)
    shift = where(ys < 1.0, -1.0 / ys, 0.0)  # psi(y) = psi(y + 1) - 1/y
    for k in range(1, int(_ASYMPTOTIC_FROM) - 1):  # psi(y) = psi(y - 1) + 1/(y - 1) ...
        shift = shift + where(ys - float(k) >= 1.0, 1.0 / (ys - float(k)), 0.0)
    small = near_root + shift
    yl = where(large, y, _ASYMPTOTIC_FROM)
    w = 1.0 / (yl * yl)
    asymptotic = (call("log", yl) - 0.5 / yl) - w * horner(w, _P_ASYMPTOTIC)
    return where(large, asymptotic, small)


def _reduced(x: Scalar) -> tuple[Scalar, Scalar]:
    """(r, is_integer): r = x - rint(x) in [-1/2, 1/2], exact; nan for infinities (which are
    no poles: the functions oscillate without limit there)."""
    r = x - call("roundeven", x)
    return r, r.equals(0.0)


def _cot_pi(r: Scalar) -> Scalar:
    """cot(pi r) for r in [-1/2, 1/2], to a few ulp: for |r| > 1/4 as tan(pi (1/2 - |r|)) (exact
    argument), so cot(pi/2) is 0, not the 1.9e-16 of 1 / tan(fl(pi * 0.5))."""
    a = where(r < 0.0, -r, r)
    near_half = a > 0.25
    t = call("tan", math.pi * where(near_half, 0.5 - a, a))
    magnitude = where(near_half, t, 1.0 / t)
    return where(r < 0.0, -magnitude, magnitude)


def digamma(x: Scalar) -> Scalar:
    negative = x < 0.0
    y = where(negative, 1.0 - x, x)
    psi_y = _shifted_digamma(y)
    r, pole = _reduced(x)
    reflected = psi_y - math.pi * _cot_pi(r)
    return where(negative, where(pole, math.nan, reflected), psi_y)


# -- polygamma ----------------------------------------------------------------------------------


@cache
def _zeta_plan(s: int) -> tuple[int, tuple[float, ...]]:
    """(Z, c) for zeta(s, z), z >= Z: z^(1-s) / (s-1) + z^-s (1/2 + sum_j c_j z^(1-2j)),
    c_j = B_2j / (2j)! * s (s+1) ... (s+2j-2), highest j first; Z the smallest integer >= 10
    where the first omitted term is below 2^-60 of the leading one."""
    terms = 10

    def coefficient(j: int) -> Fraction:
        rising = math.prod(range(s, s + 2 * j - 1))
        return _bernoulli(2 * j) / math.factorial(2 * j) * rising

    omitted = abs(coefficient(terms + 1)) * (s - 1)
    z = 10
    while omitted / Fraction(z) ** (2 * terms + 2) > Fraction(1, 2**60):
        z += 1
    return z, tuple(float(coefficient(j)) for j in range(terms, 0, -1))


@cache
def _cot_derivative(n: int) -> tuple[float, ...]:
    """P_n with d^n/dx^n cot(pi x) = pi^n P_n(cot(pi x)), coefficients highest degree first."""
    p = [0, 1]  # c, lowest degree first
    for _ in range(n):
        derivative = [k * p[k] for k in range(1, len(p))] + [0, 0]
        # -(1 + c^2) p'(c)
        p = [-(derivative[k] + (derivative[k - 2] if k >= 2 else 0)) for k in range(len(p) + 1)]
    return tuple(float(c) for c in reversed(p))


def _positive_zeta(y: Scalar, s: int) -> Scalar:
    """zeta(s, y) for y >= 0."""
    big, coefficients = _zeta_plan(s)
    z = y
    for k in range(big):  # z = y + m, m the number of terms y + k < Z
        z = where(y + float(k) < float(big), y + float(k + 1), z)
    inverse = 1.0 / z
    leading = call("pow", z, backend_const(y.backend, 1 - s)) / float(s - 1)
    w = inverse * inverse
    correction = (0.5 + inverse * horner(w, coefficients)) * (leading * inverse) * float(s - 1)
    total = leading + correction
    for k in reversed(range(big)):  # the largest terms last
        at = y + float(k) if k else y  # not y + 0.0: that is +0.0 for y = -0.0
        term = call("pow", at, backend_const(y.backend, -s))
        total = total + where(y + float(k) < float(big), term, 0.0)
    return total


def polygamma(x: Scalar, n: int) -> Scalar:
    """The n-th derivative of digamma, n >= 1."""
    s = n + 1
    scale = float(math.factorial(n)) * (1.0 if n % 2 else -1.0)  # (-1)^(n+1) n!
    negative = x < 0.0
    y = where(negative, 1.0 - x, x)
    at_y = _positive_zeta(y, s) * scale
    r, pole = _reduced(x)
    cot = _cot_pi(r)
    sign = 1.0 if n % 2 == 0 else -1.0
    reflected = at_y * sign - math.pi ** (n + 1) * horner(cot, _cot_derivative(n))
    at_pole = math.inf if n % 2 else math.nan
    return where(negative, where(pole, at_pole, reflected), at_y)
