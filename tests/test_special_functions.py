"""The math functions of ``graphc/ops/special.py``, beyond the op table: accuracy in ulp against
mpmath (compiled, float64 and float32, with libm and with libmvec), digamma's known values,
numpy's exact semantics at special values, and the documented derivatives at singular points.

The accuracy bounds asserted here are the ones ``docs/guide.md`` documents. The measured maxima
written there come from the same code over more points:

    PYTHONPATH=tests python -c "import test_special_functions as t; t.table(6000)"
"""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from helpers import outputs

import graphc as gc
from graphc.jit import engine
from graphc.ops.libm import FUNCTIONS

mpmath.mp.dps = 40

# -- samples and references ---------------------------------------------------------------------


def _signed_log_uniform(rng, n, lo, hi):
    return rng.choice([-1.0, 1.0], n) * np.exp(rng.uniform(math.log(lo), math.log(hi), n))


def _log_uniform(rng, n, lo, hi):
    return np.exp(rng.uniform(math.log(lo), math.log(hi), n))


def _exact(fraction: Fraction):
    return mpmath.mpf(fraction.numerator) / fraction.denominator


def _remainder(a, b):  # exact: the arguments are binary fractions
    a, b = Fraction(float(a)), Fraction(float(b))
    return _exact(a - (a // b) * b)


def _fmod(a, b):
    a, b = Fraction(float(a)), Fraction(float(b))
    return _exact(a - int(a / b) * b)  # int() truncates towards zero


def _mix(*parts):
    return np.concatenate(parts)


# name: (build, mpmath reference, sampler(rng, n, dtype) -> tuple of arrays)
# Samplers cover the whole finite range of the dtype where the function is finite, with dense
# parts where functions are hard (near zeros, poles, branch points, the transition of erfc).
def _wide(dtype):
    return (1e-300, 1e300) if dtype == "float64" else (1e-37, 1e37)


def _exp_range(dtype):
    return 709.0 if dtype == "float64" else 88.0


FUNCS = {
    "erf": (
        gc.erf,
        mpmath.erf,
        lambda r, n, d: (_mix(r.uniform(-6, 6, n), _signed_log_uniform(r, n // 4, 1e-30, 1)),),
    ),
    "erfc": (
        gc.erfc,
        mpmath.erfc,
        lambda r, n, d: (r.uniform(-6, 27 if d == "float64" else 10, n),),
    ),
    "gammaln": (
        gc.gammaln,
        lambda x: mpmath.log(abs(mpmath.gamma(x))),
        lambda r, n, d: (
            _mix(
                _log_uniform(r, n, 1e-3, 1e30 if d == "float64" else 1e30),
                r.uniform(0.5, 3, n // 2),
            ),
        ),
    ),
    "gammaln_negative": (
        gc.gammaln,
        lambda x: mpmath.log(abs(mpmath.gamma(x))),
        lambda r, n, d: (-r.uniform(0.001, 30, n),),
    ),
    "digamma": (
        gc.digamma,
        mpmath.digamma,
        lambda r, n, d: (
            _mix(
                _log_uniform(r, n, 1e-6, 1e15), r.uniform(0.5, 12, n), r.uniform(1.4, 1.52, n // 4)
            ),
        ),
    ),
    "polygamma1": (
        lambda x: gc.polygamma(1, x),
        lambda x: mpmath.polygamma(1, x),
        lambda r, n, d: (_log_uniform(r, n, 1e-3, 1e6),),
    ),
    "polygamma2": (
        lambda x: gc.polygamma(2, x),
        lambda x: mpmath.polygamma(2, x),
        lambda r, n, d: (_log_uniform(r, n, 1e-3, 1e6),),
    ),
    "sinh": (
        gc.sinh,
        mpmath.sinh,
        lambda r, n, d: (_mix(r.uniform(-_exp_range(d), _exp_range(d), n), r.uniform(-3, 3, n)),),
    ),
    "cosh": (
        gc.cosh,
        mpmath.cosh,
        lambda r, n, d: (_mix(r.uniform(-_exp_range(d), _exp_range(d), n), r.uniform(-3, 3, n)),),
    ),
    "arcsin": (gc.arcsin, mpmath.asin, lambda r, n, d: (r.uniform(-1, 1, n),)),
    "arccos": (gc.arccos, mpmath.acos, lambda r, n, d: (r.uniform(-1, 1, n),)),
    "arctan": (gc.arctan, mpmath.atan, lambda r, n, d: (_signed_log_uniform(r, n, *_wide(d)),)),
    "arcsinh": (gc.arcsinh, mpmath.asinh, lambda r, n, d: (_signed_log_uniform(r, n, *_wide(d)),)),
    "arccosh": (gc.arccosh, mpmath.acosh, lambda r, n, d: (1.0 + _log_uniform(r, n, 1e-12, 1e30),)),
    "arctanh": (gc.arctanh, mpmath.atanh, lambda r, n, d: (r.uniform(-1, 1, n),)),
    "log2": (
        gc.log2,
        lambda x: mpmath.log(x, 2),
        lambda r, n, d: (_mix(_log_uniform(r, n, *_wide(d)), r.uniform(0.5, 2, n)),),
    ),
    "log10": (
        gc.log10,
        mpmath.log10,
        lambda r, n, d: (_mix(_log_uniform(r, n, *_wide(d)), r.uniform(0.5, 2, n)),),
    ),
    "exp2": (
        gc.exp2,
        lambda x: mpmath.power(2, x),
        lambda r, n, d: (
            r.uniform(-1000 if d == "float64" else -125, 1000 if d == "float64" else 125, n),
        ),
    ),
    "cbrt": (
        gc.cbrt,
        lambda x: mpmath.sign(x) * mpmath.cbrt(abs(x)),
        lambda r, n, d: (_signed_log_uniform(r, n, *_wide(d)),),
    ),
    "arctan2": (
        gc.arctan2,
        mpmath.atan2,
        lambda r, n, d: (
            _signed_log_uniform(r, n, 1e-10, 1e10),
            _signed_log_uniform(r, n, 1e-10, 1e10),
        ),
    ),
    "hypot": (
        gc.hypot,
        mpmath.hypot,
        lambda r, n, d: (
            _signed_log_uniform(r, n, *_wide(d)),
            _signed_log_uniform(r, n, *_wide(d)),
        ),
    ),
    "power": (
        gc.power,
        mpmath.power,
        lambda r, n, d: (_log_uniform(r, n, 1e-3, 1e3), r.uniform(-30, 30, n)),
    ),
    "logaddexp": (
        gc.logaddexp,
        lambda a, b: mpmath.log(mpmath.exp(a) + mpmath.exp(b)),
        lambda r, n, d: (r.uniform(-60, 60, n), r.uniform(-60, 60, n)),
    ),
    "remainder": (
        gc.remainder,
        _remainder,
        lambda r, n, d: (
            _signed_log_uniform(r, n, 1e-3, 1e6),
            _signed_log_uniform(r, n, 1e-3, 1e3),
        ),
    ),
    "fmod": (
        gc.fmod,
        _fmod,
        lambda r, n, d: (
            _signed_log_uniform(r, n, 1e-3, 1e6),
            _signed_log_uniform(r, n, 1e-3, 1e3),
        ),
    ),
}

# Documented bounds, in ulp of the exact result (measured maxima in docs/guide.md). libm's are
# glibc's own (its manual lists most of these within 1-3 ulp); digamma and polygamma are ours.
BOUND = {name: 4.0 for name in FUNCS}
BOUND.update({"remainder": 0.5, "fmod": 0.0, "hypot": 1.0})


def ulp_errors(name: str, dtype: str, n: int, seed: int = 0, vector_math: bool = False):
    """ulp errors of the compiled function on n-ish sampled points (finite exact results)."""
    build, reference, sample = FUNCS[name]
    rng = np.random.default_rng(seed)
    args = [np.asarray(a, dtype=dtype) for a in sample(rng, n, dtype)]
    inputs = [gc.vector(f"a{k}", a.size, dtype) for k, a in enumerate(args)]
    fn = gc.compile(gc.Graph(inputs, [build(*inputs)]), vector_math=vector_math, cache=False)
    got = np.asarray(fn(*args)[0], dtype=np.float64)
    bits = 53 if dtype == "float64" else 24
    lowest = -1074 if dtype == "float64" else -149
    limit = float(np.finfo(dtype).max)
    errors = []
    for k in range(got.size):
        exact = reference(*(mpmath.mpf(float(a[k])) for a in args))
        if not isinstance(exact, mpmath.mpf) or not mpmath.isfinite(exact):
            continue
        as_float = float(exact)
        if abs(as_float) > limit:
            continue
        exponent = math.frexp(as_float)[1] if as_float else lowest + bits
        ulp = mpmath.ldexp(1, max(exponent - bits, lowest))
        errors.append(float(abs(mpmath.mpf(float(got[k])) - exact) / ulp))
    return np.array(errors)


# -- accuracy -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(FUNCS))
def test_accuracy_in_ulp(name, dtype):
    errors = ulp_errors(name, dtype, 300, seed=1)
    assert errors.size > 250
    assert errors.max() <= BOUND[name], f"{name} {dtype}: {errors.max():.2f} ulp"


VECTOR_FUNCS = {
    "erf": "erf",
    "erfc": "erfc",
    "sinh": "sinh",
    "cosh": "cosh",
    "arcsin": "asin",
    "arccos": "acos",
    "arctan": "atan",
    "arcsinh": "asinh",
    "arccosh": "acosh",
    "arctanh": "atanh",
    "log2": "log2",
    "log10": "log10",
    "exp2": "exp2",
    "cbrt": "cbrt",
    "arctan2": "atan2",
    "hypot": "hypot",
    "power": "pow",
    "logaddexp": "log1p",  # and exp
}


@pytest.mark.skipif(not engine.vector_math_available(), reason="libmvec needs Linux x86-64 AVX2")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(n for n, f in VECTOR_FUNCS.items() if FUNCTIONS[f].vector))
def test_libmvec_variants_in_use_are_within_4_ulp(name, dtype):
    errors = ulp_errors(name, dtype, 300, seed=2, vector_math=True)
    assert errors.max() <= 4.0, f"{name} {dtype} with libmvec: {errors.max():.2f} ulp"


def test_every_declared_math_function_resolves_in_process():
    """What graphc/ops/libm.py declares exists here: each glibc symbol, both dtypes, and the
    scalar twin of each libmvec variant (bound when code using it is loaded)."""
    symbols = {f.libm(d) for f in FUNCTIONS.values() for d in ("float64", "float32")}
    engine.check_symbols(symbols)
    if engine.vector_math_available():
        lanes = {"float64": 4, "float32": 8}
        names = {
            f"_ZGVdN{lanes[d]}{'v' * f.arity}_{f.libm(d)}"
            for f in FUNCTIONS.values()
            if f.vector
            for d in lanes
        }
        engine.check_symbols(names)


def test_an_undeclared_math_function_is_a_clear_error():
    from graphc.jit.emit import FunctionBuilder, Module, Value

    fb = FunctionBuilder(Module())
    with pytest.raises(ValueError, match="declare it in graphc/ops/libm.py"):
        fb.call("sinpi", Value("%x", "float64"))


def test_vector_math_calls_libmvec_for_the_new_functions():
    if not engine.vector_math_available():
        pytest.skip("libmvec needs Linux x86-64 AVX2")
    x = gc.vector("x", 1001)
    graph = gc.Graph([x], [gc.erf(x) + gc.sinh(x)])
    fn = gc.compile(graph, vector_math=True, cache=False)
    assert "_ZGVdN4v_erf" in fn.optimized_ir and "_ZGVdN4v_sinh" in fn.optimized_ir
    value = np.linspace(-3, 3, 1001)
    exact = gc.compile(graph, vector_math=False, cache=False)
    np.testing.assert_allclose(fn(value), exact(value), rtol=1e-14)


# -- digamma and polygamma --------------------------------------------------------------------


@pytest.mark.parametrize(
    "x, want",
    [
        (1.0, -0.5772156649015329),  # -Euler's gamma
        (0.5, -1.9635100260214235),  # -gamma - 2 ln 2
        (2.0, 0.42278433509846713),  # 1 - gamma
        (1.4616321449683622, -9.241265521729427e-17),  # next to the positive zero
        (-0.5, 0.03648997397857652),  # psi(1/2) + 2 ... = psi(3/2) by reflection
        (1e-8, -100000000.57721564),
        (1e300, 690.7755278982137),
    ],
)
def test_digamma_known_values(x, want):
    assert float(mpmath.digamma(x)) == pytest.approx(want, rel=1e-15)
    v = gc.scalar("v")
    fn = gc.compile(gc.Graph([v], [gc.digamma(v)]), cache=False)
    assert fn(x)[0] == pytest.approx(want, rel=4 * 2.0**-52)


def test_digamma_and_polygamma_at_poles_zeros_and_infinities():
    x = gc.vector("x", 7)
    values = np.array([0.0, -0.0, -3.0, np.inf, -np.inf, np.nan, -1e20])
    graph = gc.Graph([x], [gc.digamma(x), gc.polygamma(1, x), gc.polygamma(2, x)])
    for got in (outputs(graph, values), gc.compile(graph, cache=False)(values)):
        psi, psi1, psi2 = (np.asarray(g) for g in got)
        np.testing.assert_array_equal(
            psi, [-np.inf, np.inf, np.nan, np.inf, np.nan, np.nan, np.nan]
        )
        np.testing.assert_array_equal(psi1, [np.inf, np.inf, np.inf, 0.0, np.nan, np.nan, np.inf])
        np.testing.assert_array_equal(psi2[:3], [-np.inf, np.inf, np.nan])


def test_digamma_for_negative_arguments_is_accurate_away_from_its_zeros():
    """Reflection: a few ulp of the terms psi(1 - x) and pi cot(pi x) (absolute error)."""
    rng = np.random.default_rng(5)
    x = -rng.uniform(0.01, 50, 400)
    fn = gc.compile(gc.Graph([v := gc.vector("v", x.size)], [gc.digamma(v)]), cache=False)
    got = fn(x)[0]
    for xi, gi in zip(x, got):
        exact = mpmath.digamma(xi)
        scale = abs(mpmath.digamma(1 - xi)) + abs(mpmath.pi * mpmath.cot(mpmath.pi * xi))
        assert abs(gi - exact) <= 4 * 2.0**-52 * scale


def test_polygamma_order_is_checked():
    x = gc.scalar("x")
    assert gc.polygamma(0, x).op == "digamma"
    for bad in (-1, 1.5, True, 61):
        with pytest.raises(ValueError, match="polygamma: the order n"):
            gc.polygamma(bad, x)


# -- numpy's semantics at special values ------------------------------------------------------

SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 2.5, -0.7, 1e-310, 3e300])
BITWISE_BINARY = {
    "remainder": (gc.remainder, np.remainder),
    "fmod": (gc.fmod, np.fmod),
    "logaddexp": (gc.logaddexp, np.logaddexp),
    "hypot": (gc.hypot, np.hypot),
    "arctan2": (gc.arctan2, np.arctan2),
}


def _same(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype
    same = (got == want) & (np.signbit(got) == np.signbit(want)) | (np.isnan(got) & np.isnan(want))
    assert same.all(), f"{got[~same]} != {want[~same]}"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(BITWISE_BINARY))
def test_binary_functions_match_numpy_bitwise_at_special_values(name, dtype):
    build, ref = BITWISE_BINARY[name]
    with np.errstate(over="ignore"):  # the largest float64 specials become float32 infinities
        a, b = (m.ravel().astype(dtype) for m in np.meshgrid(SPECIALS, SPECIALS))
    x, y = gc.vector("x", a.size, dtype), gc.vector("y", b.size, dtype)
    fn = gc.compile(gc.Graph([x, y], [build(x, y)]), cache=False, vector_math=False)
    with np.errstate(all="ignore"):
        _same(fn(a, b), ref(a, b))


def test_clip_follows_numpy_with_nan_signed_zeros_and_crossed_bounds():
    values = np.tile(SPECIALS, 11)
    lo, hi = np.repeat(SPECIALS, 11), np.roll(np.repeat(SPECIALS, 11), 7)
    x, a, b = (gc.vector(n, values.size) for n in "xab")
    graph = gc.Graph([x, a, b], [gc.clip(x, a, b)])
    compiled = gc.compile(graph, cache=False)(values, lo, hi)[0]
    _same(compiled, outputs(graph, values, lo, hi)[0])
    # numpy's loop for array bounds gives the bound's zero on ties: equal but for that sign.
    np.testing.assert_array_equal(compiled, np.clip(values, lo, hi))
    for low, high in [
        (0.0, 1.0),
        (-0.0, 1.0),
        (-1.0, 0.0),
        (-1.0, -0.0),
        (np.nan, 1.0),
        (2.0, 1.0),
    ]:
        y = gc.vector("y", values.size)
        got = gc.compile(gc.Graph([y], [gc.clip(y, low, high)]), cache=False)(values)[0]
        _same(got, np.clip(values, low, high))  # numpy with scalar bounds: bitwise


@pytest.mark.parametrize(
    "fn, ref", [(gc.floor, np.floor), (gc.ceil, np.ceil), (gc.round, np.round)]
)
def test_rounding_is_exact_and_rounds_half_to_even(fn, ref):
    values = np.array(
        [
            0.5,
            1.5,
            2.5,
            -0.5,
            -2.5,
            -0.0,
            0.49999999999999994,
            4503599627370497.0,
            np.nan,
            np.inf,
            -np.inf,
            -1.2,
            7.7,
        ]
    )
    x = gc.vector("x", values.size)
    _same(gc.compile(gc.Graph([x], [fn(x)]), cache=False)(values), ref(values))
    k = gc.vector("k", 3, "int64")
    assert fn(k).dtype == "int64"


def test_round_with_decimals_is_numpys_formula():
    values = np.array([2.675, -1.005, 123.456, 1234.5, 0.125])
    x = gc.vector("x", values.size)
    for decimals in (2, 1, -1, -2):
        graph = gc.Graph([x], [gc.round(x, decimals)])
        _same(gc.compile(graph, cache=False)(values), np.round(values, decimals))


def test_integer_remainder_and_fmod_match_numpy_including_zero_divisors():
    a = np.array([5, -5, 5, -5, np.iinfo(np.int64).min, 3, 0, 7])
    b = np.array([3, 3, -3, -3, -1, 0, -2, -1])
    x, y = gc.vector("x", 8, "int64"), gc.vector("y", 8, "int64")
    fn = gc.compile(gc.Graph([x, y], [x % y, gc.fmod(x, y)]), cache=False)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(fn(a, b)[0], np.remainder(a, b))
        np.testing.assert_array_equal(fn(a, b)[1], np.fmod(a, b))


def test_percent_on_nodes_and_arrays_is_numpys_remainder():
    x = gc.vector("x", 3)
    values = np.array([-1.5, 2.3, 4.0])
    graph = gc.Graph([x], [x % 0.7, 2.0 % x, np.array([1.0, -2.0, 3.0]) % x])
    for got, want in zip(
        outputs(graph, values), [values % 0.7, 2.0 % values, np.array([1.0, -2.0, 3.0]) % values]
    ):
        np.testing.assert_array_equal(got, want)


# -- derivatives at singular points: the documented conventions -------------------------------


def derivative(fn, *point):
    """(gradient of fn at point, jvp along each argument) through the evaluator and compiled."""
    xs = [gc.scalar(f"x{i}") for i in range(len(point))]
    y = fn(*xs)
    grads = gc.grad(y, xs)
    tangents = [
        gc.jvp(y, xs, [1.0 if i == j else 0.0 for j in range(len(xs))]) for i in range(len(xs))
    ]
    graph = gc.Graph(xs, [*grads, *tangents])
    evaluated = [float(v) for v in outputs(graph, *point)]
    compiled = [float(v) for v in gc.compile(graph, cache=False)(*point)]
    np.testing.assert_array_equal(evaluated, compiled)
    return evaluated[: len(xs)], evaluated[len(xs) :]


@pytest.mark.parametrize(
    "fn, point, want",
    [
        (gc.arcsin, (1.0,), [np.inf]),
        (gc.arcsin, (-1.0,), [np.inf]),
        (gc.arccos, (1.0,), [-np.inf]),
        (gc.arccosh, (1.0,), [np.inf]),
        (gc.arctanh, (-1.0,), [np.inf]),
        (gc.cbrt, (0.0,), [np.inf]),
        (gc.cbrt, (-0.0,), [np.inf]),
        (gc.arctan2, (0.0, 0.0), [0.0, 0.0]),
        (gc.arctan2, (0.0, -2.0), [-0.5, 0.0]),
        (gc.hypot, (0.0, 0.0), [0.0, 0.0]),
        (gc.hypot, (3.0, -4.0), [0.6, -0.8]),
        (gc.logaddexp, (1.5, 1.5), [0.5, 0.5]),
        (gc.logaddexp, (np.inf, np.inf), [0.5, 0.5]),
        (gc.logaddexp, (-np.inf, -np.inf), [0.5, 0.5]),
        (gc.logaddexp, (800.0, 0.0), [1.0, 0.0]),
        (lambda x: gc.clip(x, -1.0, 1.0), (1.0,), [1.0]),
        (lambda x: gc.clip(x, -1.0, 1.0), (-1.0,), [1.0]),
        (lambda x: gc.clip(x, -1.0, 1.0), (1.5,), [0.0]),
        (gc.clip, (0.5, 0.5, 0.5), [1.0, 0.0, 0.0]),
        (gc.clip, (0.2, 0.5, 0.8), [0.0, 1.0, 0.0]),
        (gc.clip, (0.9, 0.5, 0.8), [0.0, 0.0, 1.0]),
        (gc.clip, (0.6, 0.9, 0.1), [0.0, 0.0, 1.0]),  # crossed bounds: the result is hi
        (gc.remainder, (2.0, 0.5), [1.0, -4.0]),  # at a jump: the continuous piece's slope
        (gc.remainder, (-1.5, 0.7), [1.0, 3.0]),
        (gc.fmod, (-1.5, 0.7), [1.0, 2.0]),
        (gc.floor, (2.0,), [0.0]),
        (gc.round, (2.5,), [0.0]),
        (gc.gammaln, (1.0,), [-0.5772156649015329]),
    ],
)
def test_derivative_conventions_at_singular_points(fn, point, want):
    grads, tangents = derivative(fn, *point)
    np.testing.assert_allclose(grads, want, rtol=1e-15)
    np.testing.assert_allclose(tangents, want, rtol=1e-15)


def test_gammaln_derivative_at_its_poles_is_nan_and_inf_at_zero():
    grads, _ = derivative(gc.gammaln, -2.0)
    assert np.isnan(grads[0])
    grads, _ = derivative(gc.gammaln, 0.0)
    assert grads[0] == -np.inf


def test_higher_derivatives_of_gammaln_are_polygamma():
    x = gc.scalar("x")
    f = gc.gammaln(x)
    d1 = gc.grad(f, x)
    d2 = gc.grad(d1, x)
    d3 = gc.grad(d2, x)
    got = gc.compile(gc.Graph([x], [d1, d2, d3]), cache=False)(2.5)
    for k, g in enumerate(got):
        assert g == pytest.approx(float(mpmath.polygamma(k, 2.5)), rel=1e-14)


def table(points: int) -> None:
    """The measured maxima of docs/guide.md."""
    print("| function | float64 libm | float32 libm | float64 libmvec | float32 libmvec |")
    print("|---|---|---|---|---|")
    for name in FUNCS:
        cells = []
        for vector in (False, True):
            for dtype in ("float64", "float32"):
                if vector and (name not in VECTOR_FUNCS or not engine.vector_math_available()):
                    cells.append("")
                    continue
                errors = ulp_errors(name, dtype, points, seed=7, vector_math=vector)
                cells.append(f"{errors.max():.2f}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
