"""Automatic differentiation of composite functions: reverse and forward mode, higher order.

- The lecture's and the survey's worked examples, to the last digit.
- Gradients of composite functions (broadcasting, reductions, indexing, matmul, where ...)
  against central finite differences; broadcasting undone in reverse mode.
- grad of grad, jvp against vjp, jacobian in both modes against finite differences, hessian
  (symmetric, against differences of the gradient), hvp against hessian @ v.
- Nesting: perturbation confusion cannot happen; the third derivative of the logistic map
  equals the closed form (numpy poly1d).
- ``gc.where``'s nan-gradient trap and its double-where fix behave as its docstring says.
- Differentiate-then-optimize and optimize-then-differentiate give the same values.
- On random graphs (hypothesis): the dot-product test <u, J v> == <J^T u, v> between forward
  and reverse mode, and gradients of the optimized graph equal those of the original.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from helpers import STABLE_OPS, function_of, numeric_jvp, numeric_vjp, outputs, random_graphs
from hypothesis import HealthCheck, given, settings

import graphc as gc
from graphc.evaluate import evaluate_all

LECTURE = (13.621371043387192, 2.9459101490553135, 2.9459101490553135)


def test_lecture_example():
    x1, x2 = gc.scalar("x1"), gc.scalar("x2")
    f = (x1 + x2) * gc.log(x1 + x2)
    graph = gc.Graph([x1, x2], [f, *gc.grad(f, [x1, x2])])
    assert gc.evaluate(graph, 2.0, 5.0) == LECTURE
    assert gc.evaluate(gc.optimize(graph), 2.0, 5.0) == LECTURE


def test_survey_example():
    x1, x2 = gc.scalar("x1"), gc.scalar("x2")
    y = gc.log(x1) + x1 * x2 - gc.sin(x2)
    value, d1, d2 = gc.evaluate(gc.Graph([x1, x2], [y, *gc.grad(y, [x1, x2])]), 2.0, 5.0)
    assert round(value, 3) == 11.652 and round(d1, 3) == 5.5 and round(d2, 3) == 1.716
    assert value == pytest.approx(math.log(2) + 10 - math.sin(5), rel=1e-15)
    assert (d1, d2) == pytest.approx((5.5, 2 - math.cos(5)), rel=1e-15)


# -- composite functions against finite differences -------------------------------------------

RNG = np.random.default_rng(7)
A = RNG.standard_normal((4, 3))
W1, B1, W2 = RNG.standard_normal((3, 5)), RNG.standard_normal(5), RNG.standard_normal(5)

COMPOSITES = {
    "entropy-quadratic": lambda x, m: gc.sum(x * gc.log(x)) - x @ (m.T @ m) @ x / 2.0,
    "norm": lambda x, m: gc.sqrt(gc.sum(x * x)) + gc.sum(m**2) ** 0.5,
    "mlp": lambda x, m: gc.sum(gc.tanh(x @ W1 + B1) @ W2 * gc.sigmoid(m @ x).sum()),
    "softmax-xent": lambda x, m: -gc.log(gc.softmax(m @ x)[2]),
    "logsumexp": lambda x, m: gc.logsumexp(m * x, axis=1).mean(),
    "broadcast": lambda x, m: gc.sum((m - x) ** 2 / (1.0 + x[None, :] * x[:, None].T)),
    "reductions": lambda x, m: gc.prod(x) + gc.max(m, axis=0).sum() - gc.min(m * x),
    "indexing": lambda x, m: gc.sum(m[1:, ::-1] * x[::-1]) * m[0, 2] + x[-1] ** 3,
    "concat-stack": lambda x, m: (
        gc.sum(gc.concatenate([x * 2.0, m[0]]) ** 2) * gc.stack([x[0], m[1, 1]]).prod()
    ),
    "where-max": lambda x, m: (
        gc.sum(gc.where(m > 0.0, m * x, gc.exp(m))) + gc.maximum(x, 1.0).sum()
    ),
    "matvec-chain": lambda x, m: (m @ x) @ (A @ x) + gc.sum((A.T @ m) * 0.5),
    "pow-abs": lambda x, m: gc.sum(x ** m[0]) + gc.sum(gc.abs(m) ** 1.5) + gc.softplus(x).sum(),
    "trig": lambda x, m: gc.sum(
        gc.sin(x) * gc.cos(m) + gc.tan(m / 4.0) + gc.expm1(x) * gc.log1p(x)
    ),
}


@pytest.mark.parametrize("name", list(COMPOSITES))
def test_composite_gradient_matches_finite_differences(name):
    x, m = gc.vector("x", 3), gc.matrix("m", 4, 3)
    f = COMPOSITES[name](x, m)
    rng = np.random.default_rng(1)
    xv, mv = rng.uniform(0.3, 1.5, 3), rng.uniform(-1.5, 1.5, (4, 3))
    value, gx, gm = outputs(gc.Graph([x, m], [f, *gc.grad(f, [x, m])]), xv, mv)
    assert gx.shape == (3,) and gm.shape == (4, 3) and np.isfinite(value)
    fx, fm = numeric_vjp(function_of([x, m], f), [xv, mv], np.array(1.0), [0, 1])
    np.testing.assert_allclose(gx, fx, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gm, fm, rtol=1e-6, atol=1e-8)


def test_reverse_mode_undoes_broadcasting():
    s, v, c, m = gc.scalar("s"), gc.vector("v", 3), gc.matrix("c", 2, 1), gc.matrix("m", 2, 3)
    f = gc.sum(m * v * c * s + v - c + s)
    gs, gv, gc_, gm = gc.grad(f, [s, v, c, m])
    assert (gs.shape, gv.shape, gc_.shape, gm.shape) == ((), (3,), (2, 1), (2, 3))
    rng = np.random.default_rng(2)
    args = [rng.standard_normal(()), rng.standard_normal(3), rng.standard_normal((2, 1))]
    args.append(rng.standard_normal((2, 3)))
    sv, vv, cv, mv = args
    got = outputs(gc.Graph([s, v, c, m], [gs, gv, gc_, gm]), *args)
    want = [
        np.sum(mv * vv * cv) + 6,
        np.sum(mv * cv * sv, axis=0) + 2,
        np.sum(mv * vv * sv, axis=1, keepdims=True) - 3,
        np.broadcast_to(vv * cv * sv, (2, 3)),
    ]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-13)


def test_gradient_with_respect_to_unused_and_interior_nodes():
    x, unused = gc.vector("x", 3), gc.scalar("u")
    h = x + 1.0
    f = gc.sum(h * h)
    gx, gu, gh = gc.grad(f, [x, unused, h])
    xv = np.array([1.0, -2.0, 0.5])
    got = outputs(gc.Graph([x, unused], [gx, gu, gh]), xv, 3.0)
    np.testing.assert_allclose(got[0], 2 * (xv + 1))
    assert got[1] == 0.0
    np.testing.assert_allclose(got[2], 2 * (xv + 1))


def test_float32_gradients_stay_float32():
    x = gc.vector("x", 3, "float32")
    f = gc.sum(gc.exp(x) * 2.0 + x * np.float32(0.5))
    g = gc.grad(f, x)
    assert g.dtype == "float32"
    xv = np.array([0.1, 0.2, 0.3], np.float32)
    (got,) = outputs(gc.Graph([x], [g]), xv)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, 2 * np.exp(xv) + 0.5, rtol=1e-6)


# -- what may be differentiated with respect to (issue 8) ------------------------------------

REBUILT = "does not contain: its derivative would silently be zero"


def test_rebuilt_expression_is_an_error_not_a_silent_zero():
    # The same expression built twice is two nodes: y uses the first, so differentiating with
    # respect to the second used to return zeros. Every entry point now names the node.
    x = gc.vector("x", 3)
    y = gc.sum(gc.sin(x) * 2.0)
    again = gc.sin(x)
    calls = {
        "grad": lambda: gc.grad(y, again),
        "vjp": lambda: gc.vjp(y, [x, again], 1.0),
        "jvp": lambda: gc.jvp(y, again, np.ones(3)),
        "jacobian": lambda: gc.jacobian(gc.sin(x) * 2.0, again),
        "hessian": lambda: gc.hessian(y, again),
        "hvp": lambda: gc.hvp(y, again, np.ones(3)),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=REBUILT) as error:
            call()
        message = str(error.value)
        assert message.startswith(f"{name}: ") and "a sin node of type f64[3]" in message
        assert "very node object used to build the value" in message and "an input" in message
    with pytest.raises(ValueError, match=r"position 1 of 2"):
        gc.grad(y, [x, again])
    # A constant y does not contain is the same mistake (constants are not shared either).
    with pytest.raises(ValueError, match="a const node of type f64\\[\\]"):
        gc.grad(gc.sum(x) * 2.0, gc.constant(2.0))


def test_zero_derivatives_that_stay_zeros():
    x, unused, k = gc.vector("x", 3), gc.scalar("u"), gc.scalar("k", "int64")
    e = gc.sin(x)
    c = gc.constant(2.0)
    y = gc.sum(gc.stop_gradient(e) * x) * c + gc.astype(k, "float64")
    gu, gk, ge, gc_ = gc.grad(y, [unused, k, e, c])  # unused and int inputs; contained nodes
    xv = np.array([0.1, 0.2, 0.3])
    got = outputs(gc.Graph([x, unused, k], [gu, gk, ge, gc_]), xv, 1.0, 4)
    assert got[0] == 0.0 and got[1] == 0.0
    np.testing.assert_array_equal(got[2], np.zeros(3))  # stop_gradient: contained, zero
    assert got[3] == pytest.approx(np.sum(np.sin(xv) * xv), rel=1e-15)
    # The derivative of a linear function no longer contains its variable: its second
    # derivative is zero, not an error (only the function itself must contain the node).
    lin = gc.sum(e * 3.0)
    h, hv = gc.hessian(lin, e), gc.hvp(lin, e, np.ones(3))
    assert h.shape == (3, 3) and hv.shape == (3,)
    hval, hvval = outputs(gc.Graph([x], [h, hv]), xv)
    np.testing.assert_array_equal(hval, np.zeros((3, 3)))
    np.testing.assert_array_equal(hvval, np.zeros(3))
    with pytest.raises(TypeError, match="jvp: can only differentiate with respect to nodes"):
        gc.jvp(lin, 3.0, 1.0)


# -- the sweeps' observers --------------------------------------------------------------------


def same(got, want) -> bool:
    """The same node objects in the same order (``==`` on nodes builds a comparison node)."""
    return len(got) == len(want) and all(a is b for a, b in zip(got, want))


def test_sweep_observers_see_every_step_and_change_nothing():
    from graphc.autodiff import forward_sweep, reverse_sweep

    x1, x2 = gc.scalar("x1"), gc.scalar("x2")
    v2, v3 = x1 * x2, gc.sin(x2)
    y = gc.log(x1) + v2 - v3
    seed = gc.constant(1.0)
    plain = reverse_sweep([y], [seed], [x1, x2])
    steps: list = []
    watched = reverse_sweep([y], [seed], [x1, x2], observe=lambda *step: steps.append(step))
    assert str(gc.Graph([x1, x2], plain)) == str(gc.Graph([x1, x2], watched))
    # The survey's Table 3: the seed, one contribution per (user, argument) pair, v_0 and v_-1
    # incremented once each; every total is the previous total plus the contribution.
    assert same([node for node, *_ in steps[:2]], [y, y.args[0]])
    assert same([user for _, user, *_ in steps[:2]], [None, y])
    assert len(steps) == 1 + 2 * 3 + 2  # the seed, both arguments of sub, add, mul; log, sin
    totals: dict = {}
    for node, _, contribution, total in steps:
        if node in totals:
            assert total.op == "add" and same(total.args, [totals[node], contribution])
        else:
            assert total is contribution
        totals[node] = total
    assert totals[x1] is watched[0] and totals[x2] is watched[1]
    got = gc.evaluate(gc.Graph([x1, x2], [totals[x1], totals[x2]]), 2.0, 5.0)
    assert got == pytest.approx((5.5, 2 - math.cos(5)), rel=1e-15)

    plain = forward_sweep([y], [x1, x2], [gc.constant(1.0), gc.constant(0.0)])
    seen: list = []
    watched = forward_sweep(
        [y], [x1, x2], [gc.constant(1.0), gc.constant(0.0)], observe=lambda *s: seen.append(s)
    )
    assert str(gc.Graph([x1, x2], plain)) == str(gc.Graph([x1, x2], watched))
    assert same([node for node, _ in seen], [n for n in gc.Graph([x1, x2], y).nodes if n.args])
    assert seen[-1][1] is watched[0]


def test_no_cotangent_flows_into_values_reached_only_through_integers():
    # floor(x) * x: the float copy of floor(x) depends on x only through an int, so no rule can
    # send it anything: it gets no cotangent and the gradient is floor(x), not floor(x) + x.
    from graphc.autodiff import reverse_sweep

    x = gc.scalar("x")
    floor = gc.astype(gc.astype(x, "int64"), "float64")
    y = floor * x
    steps: list = []
    reverse_sweep([y], [gc.constant(1.0)], [x], observe=lambda *step: steps.append(step))
    assert same([node for node, *_ in steps], [y, x])
    assert gc.evaluate(gc.Graph([x], gc.grad(y, x)), 2.7) == 2.0


# -- higher order -----------------------------------------------------------------------------


def test_grad_of_grad():
    x, y = gc.scalar("x"), gc.scalar("y")
    f = x**3 * gc.sin(y)
    fx, fy = gc.grad(f, [x, y])
    fxx, fxy = gc.grad(fx, [x, y])
    fyx, fyy = gc.grad(fy, [x, y])
    fxxx = gc.grad(fxx, x)
    got = gc.evaluate(gc.Graph([x, y], [fxx, fxy, fyx, fyy, fxxx]), 1.5, 0.7)
    want = (6 * 1.5 * math.sin(0.7), 3 * 1.5**2 * math.cos(0.7))
    want += (want[1], -(1.5**3) * math.sin(0.7), 6 * math.sin(0.7))
    np.testing.assert_allclose(got, want, rtol=1e-14)


def test_jvp_agrees_with_vjp_on_composites():
    x, m = gc.vector("x", 3), gc.matrix("m", 4, 3)
    y = gc.tanh(m @ x) * gc.sum(x**2) + gc.softmax(m, axis=0)[:, 0]
    rng = np.random.default_rng(3)
    xv, mv = rng.standard_normal(3), rng.standard_normal((4, 3))
    tx, tm, u = rng.standard_normal(3), rng.standard_normal((4, 3)), rng.standard_normal(4)
    jv = gc.jvp(y, [x, m], [tx, tm])
    ux, um = gc.vjp(y, [x, m], u)
    jvv, uxv, umv = outputs(gc.Graph([x, m], [jv, ux, um]), xv, mv)
    assert np.dot(u, jvv) == pytest.approx(np.dot(uxv, tx) + np.sum(umv * tm), rel=1e-12)
    fd = numeric_jvp(function_of([x, m], y), [xv, mv], [tx, tm])
    np.testing.assert_allclose(jvv, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("mode", ["fwd", "rev", "auto"])
def test_jacobian_modes_agree_with_finite_differences(mode):
    x = gc.matrix("x", 2, 2)
    y = gc.concatenate([gc.sin(x).reshape(-1) * x[0, 1], gc.sum(x, axis=0) ** 2])  # (6,)
    jac = gc.jacobian(y, x, mode=mode)
    assert jac.shape == (6, 2, 2)
    xv = np.array([[0.3, -1.2], [0.8, 2.0]])
    (got,) = outputs(gc.Graph([x], [jac]), xv)
    f = function_of([x], y)
    want = np.stack([numeric_vjp(f, [xv], e, [0])[0] for e in np.eye(6)])
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)


def test_jacobian_of_several_inputs_and_scalar_output():
    a, b = gc.vector("a", 2), gc.scalar("b")
    y = a * b
    ja, jb = gc.jacobian(y, [a, b])
    assert ja.shape == (2, 2) and jb.shape == (2,)
    got = outputs(gc.Graph([a, b], [ja, jb]), np.array([1.0, 2.0]), 3.0)
    np.testing.assert_array_equal(got[0], 3 * np.eye(2))
    np.testing.assert_array_equal(got[1], [1.0, 2.0])


def _rosenbrockish(x):
    return gc.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2) + gc.prod(gc.sin(x))


def test_hessian_is_symmetric_and_matches_differences_of_the_gradient():
    x = gc.vector("x", 4)
    f = _rosenbrockish(x)
    h = gc.hessian(f, x)
    assert h.shape == (4, 4)
    xv = np.array([0.5, -0.3, 1.2, 0.9])
    (hv,) = outputs(gc.Graph([x], [h]), xv)
    np.testing.assert_allclose(hv, hv.T, rtol=1e-12, atol=1e-12)
    g = function_of([x], gc.grad(f, x))
    fd = np.stack([numeric_vjp(g, [xv], e, [0])[0] for e in np.eye(4)])
    np.testing.assert_allclose(hv, fd, rtol=1e-6, atol=1e-6)


def test_hvp_matches_hessian_times_vector():
    x = gc.vector("x", 4)
    f = _rosenbrockish(x)
    v = np.array([1.0, -2.0, 0.5, 3.0])
    hvp = gc.hvp(f, x, v)
    assert hvp.shape == (4,)
    xv = np.array([0.5, -0.3, 1.2, 0.9])
    got, hess = outputs(gc.Graph([x], [hvp, gc.hessian(f, x)]), xv)
    np.testing.assert_allclose(got, hess @ v, rtol=1e-12)


# -- nesting ----------------------------------------------------------------------------------


def test_no_perturbation_confusion():
    # D(x -> x * D(y -> x + y)(1))(1) == 1: the inner derivative is 1 whatever x is.
    x, y = gc.scalar("x"), gc.scalar("y")
    inner = gc.grad(x + y, y)
    outer = gc.grad(x * inner, x)
    assert gc.evaluate(gc.Graph([x, y], outer), 1.0, 1.0) == 1.0
    # The same nesting where the inner derivative does depend on x: D(x -> x * x)(1) == 2.
    inner = gc.grad(x * y, y)
    assert gc.evaluate(gc.Graph([x, y], gc.grad(x * inner, x)), 1.0, 1.0) == 2.0


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6])
def test_logistic_map_third_derivative_matches_closed_form(n):
    # The closed form l_n(x) is a polynomial of degree 2^(n-1). Its coefficients are kept as
    # exact fractions: Horner's rule in floats loses up to 1e-8 to cancellation here, more than
    # the graph's derivative does.
    x = gc.scalar("x")
    l = x
    p = np.poly1d(np.array([Fraction(1), Fraction(0)], dtype=object))
    for _ in range(n - 1):
        l = 4.0 * l * (1.0 - l)
        p = 4 * p * (1 - p)
    assert p.order == 2 ** (n - 1)
    d1 = gc.grad(l, x)
    d2 = gc.grad(d1, x)
    d3 = gc.grad(d2, x)
    graph = gc.Graph([x], [l, d1, d2, d3])
    for point in (0.1, 0.3, 0.77):
        exact = Fraction(point)
        want = [float(p.deriv(k)(exact)) if k else float(p(exact)) for k in range(4)]
        got = gc.evaluate(graph, point)
        np.testing.assert_allclose(got, want, rtol=1e-12)
        np.testing.assert_allclose(gc.evaluate(gc.optimize(graph), point), got, rtol=1e-12)


# -- where: the nan-gradient trap and the double-where fix ------------------------------------


def test_where_nan_gradient_trap_and_double_where_fix():
    x = gc.vector("x", 4)
    xv = np.array([-1.0, 0.0, 0.25, 4.0])
    naive = gc.sum(gc.where(x > 0.0, gc.sqrt(x), 0.0))
    guarded = gc.sum(gc.where(x > 0.0, gc.sqrt(gc.where(x > 0.0, x, 1.0)), 0.0))
    v_naive, g_naive, v_guarded, g_guarded = outputs(
        gc.Graph([x], [naive, gc.grad(naive, x), guarded, gc.grad(guarded, x)]), xv
    )
    assert v_naive == v_guarded == 2.5
    # Not taken, but sqrt's derivative there is nan (x < 0) or inf (x = 0): 0 * that is nan.
    assert np.isnan(g_naive[:2]).all()
    np.testing.assert_array_equal(g_naive[2:], [1.0, 0.25])
    # The guard keeps the untaken branch finite, so its zero cotangent stays zero.
    np.testing.assert_array_equal(g_guarded, [0.0, 0.0, 1.0, 0.25])


def test_where_sends_cotangents_only_to_the_taken_branch():
    c, a, b = gc.vector("c", 3, "bool"), gc.vector("a", 3), gc.scalar("b")
    f = gc.sum(gc.where(c, a * a, b * 3.0))
    ga, gb = gc.grad(f, [a, b])
    got = outputs(gc.Graph([c, a, b], [ga, gb]), np.array([True, False, True]), np.ones(3), 2.0)
    np.testing.assert_array_equal(got[0], [2.0, 0.0, 2.0])
    assert got[1] == 3.0


# -- differentiate and optimize, in either order ----------------------------------------------

FUNCTIONS = {
    "lecture": lambda x: (x[0] + x[1]) * gc.log(x[0] + x[1]),
    "logistic": lambda x: _logistic(x[0], 8),
    "rosenbrockish": _rosenbrockish,
    "softmax-xent": lambda x: -gc.log(gc.softmax(x * 2.0)[1]) + gc.sum(x * 1.0 + 0.0),
    "stabilizable": lambda x: gc.sum(gc.log(1.0 + x * x) + gc.exp(x) - 1.0),
}


def _logistic(x, n):
    l = x
    for _ in range(n - 1):
        l = 4.0 * l * (1.0 - l)
    return l


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_differentiate_then_optimize_equals_optimize_then_differentiate(name):
    x = gc.vector("x", 4)
    f = FUNCTIONS[name](x)
    first = gc.optimize(gc.Graph([x], [f, gc.grad(f, x)]), verify=True)
    optimized = gc.optimize(gc.Graph([x], [f]), verify=True)
    (f_opt,) = optimized.outputs
    second = gc.optimize(gc.Graph([x], [f_opt, gc.grad(f_opt, x)]), verify=True)
    xv = np.array([0.3, 0.6, 0.2, 0.45])
    unoptimized = outputs(gc.Graph([x], [f, gc.grad(f, x)]), xv)
    for graph in (first, second):
        for got, want in zip(outputs(graph, xv), unoptimized):
            np.testing.assert_allclose(got, want, rtol=1e-12)


# -- random graphs ----------------------------------------------------------------------------

RANDOM = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _largest_magnitude(graph: gc.Graph, args) -> float:
    """The largest finite magnitude among every value the graph computes (at least 1)."""
    env = evaluate_all(graph, [np.asarray(a) for a in args], keep_all=True)
    floats = (np.asarray(v) for v in env.values())
    return max(
        [1.0]
        + [
            float(np.max(np.abs(v[np.isfinite(v)]), initial=0))
            for v in floats
            if v.dtype.kind == "f"
        ]
    )


@RANDOM
@given(random_graphs(grad=False, specials=False))
def test_forward_and_reverse_mode_agree_on_random_graphs(case):
    graph, args = case
    y = graph.outputs[0]
    if y.dtype not in ("float64", "float32"):
        y = y.astype("float64")
    rng = np.random.default_rng(len(graph.nodes))
    u = rng.standard_normal(y.shape)
    v = [rng.standard_normal(x.shape) for x in graph.inputs]
    wrt = list(graph.inputs)
    derivatives = gc.Graph(wrt, [gc.jvp(y, wrt, v), *gc.vjp(y, wrt, u)])
    jv, *vjs = outputs(derivatives, *args)
    terms = np.concatenate([(u * jv).ravel()] + [(a * b).ravel() for a, b in zip(vjs, v)])
    if not np.isfinite(terms).all():  # log of a negative number and the like
        return
    lhs, rhs = np.sum(u * jv), sum(np.sum(a * b) for a, b in zip(vjs, v))
    # Rounding: relative to the terms, and absolute where the exact derivative cancels to 0
    # (max(s, a) * (-s / s) + s) while intermediate values do not.
    tolerance = 1e-9 * np.sum(np.abs(terms)) + 1e-13 * _largest_magnitude(derivatives, args)
    assert abs(lhs - rhs) <= tolerance


@RANDOM
@given(random_graphs(ops=STABLE_OPS, grad=False, specials=False))
def test_optimize_then_differentiate_on_random_graphs(case):
    graph, args = case
    y = graph.outputs[0]
    if y.dtype not in ("float64", "float32"):
        return
    optimized = gc.optimize(graph, verify=True)
    y_opt = optimized.outputs[0]
    wrt = list(graph.inputs)
    before = gc.Graph(wrt, gc.grad(gc.sum(y), wrt))
    after = gc.optimize(gc.Graph(wrt, gc.grad(gc.sum(y_opt), wrt)), verify=True)
    for got, want in zip(outputs(after, *args), outputs(before, *args)):
        # Equal functions need not have equal chain rules where the derivative is singular:
        # d/dx x**0 at x = 0 is 0 * inf = nan through pow's rule, but 0 once x**0 -> 1.
        finite = np.isfinite(want)
        # Absolute rounding where the exact derivative cancels to 0 (one side gives 0.0, the
        # other -2.2e-16), relative to the largest value either graph computes.
        scale = max(_largest_magnitude(before, args), _largest_magnitude(after, args))
        np.testing.assert_allclose(got[finite], want[finite], rtol=1e-12, atol=1e-14 * scale)


def test_cotangents_of_adjacent_blocks_are_joined_not_summed():
    # A model of K blocks reads x[k] for every k: the cotangent of x is one block write per
    # block, not K full-size zero-padded arrays added up (K^2 work).
    K, d = 6, 3
    x = gc.matrix("x", (K, d))
    loss = sum(gc.sum(gc.sin(x[k]) * (k + 1.0)) for k in range(K))
    g = gc.grad(loss, x)
    graph = gc.Graph([x], [g])
    ops = graph.op_counts()
    assert ops.get("unslice", 0) <= 1 and "add" not in ops
    x0 = np.random.default_rng(0).standard_normal((K, d))
    want = np.cos(x0) * np.arange(1.0, K + 1)[:, None]
    np.testing.assert_allclose(gc.evaluate(graph, x0)[0], want, rtol=1e-15)
    # Blocks that are not adjacent (or overlap) are still added.
    y = gc.vector("y", 5)
    h = gc.grad(gc.sum(y[0:2] * 2.0) + gc.sum(y[3:5] * 3.0) + gc.sum(y[1:4]), y)
    np.testing.assert_array_equal(gc.evaluate(gc.Graph([y], h), np.zeros(5)), [2, 3, 1, 4, 3])
