"""Forward mode, Jacobians, Hessians, hvp and nesting, through compiled code.

The same derivatives as tests/test_autodiff.py checks with the evaluator, compiled with
gc.compile: compiled jvp against finite differences and the dot-product test against compiled
vjp, both Jacobian modes against each other, Hessians symmetric and against differences of the
compiled gradient, hvp against hessian @ v, and the nesting cases (perturbation confusion,
third derivatives of the logistic map, hvp inside a grad).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import graphc as gc

RNG = np.random.default_rng(7)


def compiled(inputs, outputs):
    return gc.compile(gc.Graph(inputs, outputs), cache=False)


def rosenbrock(x):
    return gc.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def model(x):
    """A non-trivial scalar function of a vector: matmul, reductions, transcendental ops."""
    w = np.linspace(-1.0, 1.0, 5 * x.shape[0]).reshape(5, x.shape[0])
    return gc.sum(gc.tanh(w @ x) ** 2) + gc.logsumexp(x * x) + gc.sum(gc.sin(x) * x[::-1])


def test_compiled_jvp_matches_finite_differences_and_vjp():
    n, m = 6, 4
    x, t, u = gc.vector("x", n), gc.vector("t", n), gc.vector("u", m)
    w = RNG.standard_normal((m, n))
    y = gc.tanh(w @ x) * gc.sum(x**2)
    fn = compiled([x, t, u], [y, gc.jvp(y, x, t), gc.vjp(y, x, u)])
    x0, t0, u0 = RNG.standard_normal(n), RNG.standard_normal(n), RNG.standard_normal(m)
    _, jv, vj = fn(x0, t0, u0)
    h = 1e-6
    fd = (fn(x0 + h * t0, t0, u0)[0] - fn(x0 - h * t0, t0, u0)[0]) / (2 * h)
    np.testing.assert_allclose(jv, fd, rtol=1e-6, atol=1e-8)
    assert u0 @ jv == pytest.approx(vj @ t0, rel=1e-12)


def test_compiled_jacobian_modes_agree_with_each_other_and_the_evaluator():
    n = 5
    x = gc.vector("x", n)
    y = gc.concatenate([gc.exp(x[:3]) * x[1:4], gc.stack([gc.sum(x), gc.prod(x)])])
    forward, reverse = gc.jacobian(y, x, mode="fwd"), gc.jacobian(y, x, mode="rev")
    fn = compiled([x], [forward, reverse, gc.jacobian(y, x)])
    x0 = RNG.uniform(0.5, 1.5, n)
    jf, jr, ja = fn(x0)
    assert jf.shape == (5, n)
    np.testing.assert_allclose(jf, jr, rtol=1e-13)
    np.testing.assert_allclose(ja, jr, rtol=1e-13)
    np.testing.assert_allclose(jf, gc.evaluate(gc.Graph([x], forward), x0), rtol=1e-13)


@pytest.mark.parametrize("build", [rosenbrock, model], ids=["rosenbrock", "model"])
def test_compiled_hessian_and_hvp(build):
    n = 7
    x, v = gc.vector("x", n), gc.vector("v", n)
    f = build(x)
    fn = compiled([x, v], [gc.grad(f, x), gc.hessian(f, x), gc.hvp(f, x, v)])
    x0, v0 = RNG.uniform(-1, 1, n), RNG.standard_normal(n)
    _, hessian, hv = fn(x0, v0)
    np.testing.assert_allclose(hessian, hessian.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hv, hessian @ v0, rtol=1e-10, atol=1e-10)
    h = 1e-6
    columns = [(fn(x0 + h * e, v0)[0] - fn(x0 - h * e, v0)[0]) / (2 * h) for e in np.eye(n)]
    np.testing.assert_allclose(hessian, np.array(columns).T, rtol=1e-5, atol=1e-5)
    reference = gc.evaluate(gc.Graph([x, v], [gc.hessian(f, x), gc.hvp(f, x, v)]), x0, v0)
    np.testing.assert_allclose(hessian, reference[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hv, reference[1], rtol=1e-10, atol=1e-12)


def test_compiled_perturbation_confusion():
    # D(x -> x * D(y -> x + y)(1))(1) == 1
    x, y = gc.scalar("x"), gc.scalar("y")
    fn = compiled([x, y], [gc.grad(x * gc.grad(x + y, y), x)])
    assert fn(1.0, 1.0)[0] == 1.0


def test_compiled_third_derivative_of_the_logistic_map():
    x = gc.scalar("x")
    value = x
    for _ in range(4):
        value = 4 * value * (1 - value)
    d3 = gc.grad(gc.grad(gc.grad(value, x), x), x)
    # The closed form, evaluated exactly: numpy's poly1d loses 8 digits to cancellation here.
    closed = np.poly1d([1, 0])
    for _ in range(4):
        closed = 4 * closed * (1 - closed)
    coefficients = [Fraction(int(c)) for c in closed.deriv(3).coeffs]
    fn = compiled([x], [d3])
    for point in (0.1, 0.3, 0.77):
        exact = sum(c * Fraction(point) ** k for k, c in enumerate(reversed(coefficients)))
        assert fn(point)[0] == pytest.approx(float(exact), rel=1e-13)


def test_compiled_nesting_hvp_inside_grad_and_jacobian_of_grad():
    n = 4
    x, v = gc.vector("x", n), gc.vector("v", n)
    f = model(x)
    # grad of v . H v is (d/dx)(v^T H(x) v): a third-order quantity, checked against
    # finite differences of the compiled hvp.
    inner = gc.sum(gc.hvp(f, x, v) * v)
    outer = gc.grad(inner, x)
    fn = compiled([x, v], [inner, outer, gc.jacobian(gc.grad(f, x), x, mode="rev")])
    x0, v0 = RNG.uniform(-1, 1, n), RNG.standard_normal(n)
    _, third, hessian = fn(x0, v0)
    h = 1e-5
    fd = [(fn(x0 + h * e, v0)[0] - fn(x0 - h * e, v0)[0]) / (2 * h) for e in np.eye(n)]
    np.testing.assert_allclose(third, fd, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fn(x0, v0)[0], v0 @ hessian @ v0, rtol=1e-10)


def test_higher_order_graphs_stay_small_after_optimize():
    n = 6
    x, v = gc.vector("x", n), gc.vector("v", n)
    f = rosenbrock(x)
    f_nodes = len(gc.optimize(gc.Graph([x], [f])).nodes)
    hvp_nodes = len(gc.optimize(gc.Graph([x, v], [gc.hvp(f, x, v)])).nodes)
    jvp_nodes = len(gc.optimize(gc.Graph([x, v], [gc.jvp(f, x, v)])).nodes)
    assert hvp_nodes <= 5 * f_nodes and jvp_nodes <= 3 * f_nodes
