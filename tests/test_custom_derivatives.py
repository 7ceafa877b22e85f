"""``gc.custom_vjp`` and ``gc.custom_jvp``: the rule replaces the derivative, values are the
function's, a custom jvp serves reverse mode by transposition, graphs holding them print,
serialise and compile, and mistakes in the function or the rule are reported clearly."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from helpers import numeric_vjp, outputs

import graphc as gc
from graphc import serialize


def clip(x, low, high):
    return gc.minimum(gc.maximum(x, low), high)


@gc.custom_vjp
def clipped_identity(x):
    return x


@clipped_identity.def_vjp
def _(inputs, y, ct):
    return (clip(ct, -1.0, 1.0),)


@gc.custom_jvp
def log1pexp(x):
    return gc.log1p(gc.exp(x))


@log1pexp.def_jvp
def _(inputs, y, tangents):
    return tangents[0] * gc.sigmoid(inputs[0])


@gc.custom_vjp
def product(a, b):
    return a * b


@product.def_vjp
def _(inputs, y, ct):
    a, b = inputs
    return gc.sum(ct * b, axis=0), ct * a  # a broadcasts over b's rows: its cotangent sums


@gc.custom_jvp
def scaled_sum(a, b):
    return gc.sum(a) * b


@scaled_sum.def_jvp
def _(inputs, y, tangents):
    a, b = inputs
    ta, tb = tangents
    return gc.sum(ta) * b + gc.sum(a) * tb


def test_custom_vjp_replaces_the_rule_and_keeps_the_value():
    x = gc.vector("x", 3)
    y = gc.sum(clipped_identity(x) * np.array([0.5, 2.0, -3.0]))
    graph = gc.Graph([x], [y, gc.grad(y, x)])
    for got in (outputs(graph, np.ones(3)), gc.compile(graph)(np.ones(3))):
        assert got[0] == pytest.approx(-0.5)
        np.testing.assert_allclose(got[1], [0.5, 1.0, -1.0])


def test_custom_vjp_with_the_true_derivative_agrees_with_finite_differences():
    a, b = gc.vector("a", 3), gc.matrix("b", (2, 3))
    y = product(a, b)
    u = np.random.default_rng(0).standard_normal((2, 3))
    args = [np.array([0.5, -1.0, 2.0]), np.random.default_rng(1).standard_normal((2, 3))]
    got = outputs(gc.Graph([a, b], gc.vjp(y, [a, b], u)), *args)
    want = numeric_vjp(lambda a_, b_: a_ * b_, args, u, [0, 1])
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-7)
    compiled = gc.compile(gc.Graph([a, b], gc.vjp(y, [a, b], u)))(*args)
    for g, w in zip(compiled, got):
        np.testing.assert_allclose(g, w, rtol=1e-15)


def test_custom_jvp_gives_forward_and_reverse_mode_and_stays_finite():
    x, t = gc.vector("x", 2), gc.vector("t", 2)
    y = log1pexp(x)
    (jv,) = gc.jvp([y], [x], [t])
    g = gc.grad(gc.sum(y), x)
    x0 = np.array([-3.0, 800.0])  # log1p(exp(800)) overflows; the rule keeps the slope finite
    graph = gc.Graph([x, t], [jv, g])
    want = 1 / (1 + np.exp(-x0))
    for got in (outputs(graph, x0, np.ones(2)), gc.compile(graph)(x0, np.ones(2))):
        np.testing.assert_allclose(got[0], want, rtol=1e-14)
        np.testing.assert_allclose(got[1], want, rtol=1e-14)


def test_custom_jvp_of_two_inputs_transposes_exactly_and_nests():
    a, b = gc.vector("a", 3), gc.scalar("b")
    ta, tb = gc.vector("ta", 3), gc.scalar("tb")
    y = scaled_sum(a, b)
    (jv,) = gc.jvp([y], [a, b], [ta, tb])
    ga, gb = gc.grad(y, [a, b])
    hessian = gc.hessian(y * y, a)
    graph = gc.Graph([a, b, ta, tb], [jv, ga, gb, hessian])
    args = [np.array([1.0, 2.0, 3.0]), 0.5, np.array([0.1, 0.2, 0.3]), 2.0]
    got = outputs(graph, *args)
    np.testing.assert_allclose(got[0], 0.6 * 0.5 + 6.0 * 2.0)
    np.testing.assert_allclose(got[1], [0.5] * 3)
    assert got[2] == 6.0
    np.testing.assert_allclose(got[3], np.full((3, 3), 2 * 0.25))  # d2/da2 (b sum a)^2 = 2 b^2
    for g, w in zip(gc.compile(graph)(*args), got):
        np.testing.assert_allclose(g, w, rtol=1e-15)


def test_closed_over_nodes_are_differentiated_through_the_function():
    w = gc.scalar("w")

    @gc.custom_vjp
    def scale(x):
        return x * w

    @scale.def_vjp
    def _(inputs, y, ct):
        return (ct * w * 2.0,)  # deliberately twice the true derivative: the rule wins for x

    x = gc.vector("x", 2)
    y = gc.sum(scale(x))
    gx, gw = gc.grad(y, [x, w])
    got = outputs(gc.Graph([x, w], [gx, gw]), np.array([1.0, 3.0]), 0.5)
    np.testing.assert_allclose(got[0], [1.0, 1.0])
    assert got[1] == 4.0  # through x * w: sum(x)


def test_forward_mode_through_a_custom_vjp_is_refused():
    x = gc.vector("x", 2)
    with pytest.raises(TypeError, match="custom_vjp 'clipped_identity'.*gc.custom_jvp"):
        gc.jvp(clipped_identity(x), x, np.ones(2))


def test_graphs_with_custom_rules_print_serialise_and_pickle():
    x = gc.vector("x", 2)
    y = gc.sum(log1pexp(x) + clipped_identity(x))
    graph = gc.Graph([x], [y, gc.grad(y, x)])
    text = str(graph)
    assert "custom_jvp[n_inputs=1 name='log1pexp']" in text
    assert "    rule(%a0: f64[2], %y: f64[2], %t0: f64[2]):" in text
    again = serialize.from_dict(json.loads(json.dumps(serialize.to_dict(graph))))
    assert again == graph and str(again) == text
    x0 = np.array([0.3, -2.0])
    for got in (outputs(again, x0), pickle.loads(pickle.dumps(gc.compile(graph)))(x0)):
        for g, w in zip(got, outputs(graph, x0)):
            np.testing.assert_allclose(g, w, rtol=1e-15)
    assert "custom" in gc.to_dot(graph) and "cluster_" in gc.to_dot(graph)


def test_custom_rules_inside_a_loop():
    x = gc.vector("x", 2)
    last, _ = gc.scan(lambda c, _: (log1pexp(c) - 1.0, None), x, length=4)
    g = gc.grad(gc.sum(last), x)
    x0 = np.array([0.5, -1.0])
    c, slope = x0.copy(), np.ones(2)
    for _ in range(4):
        slope = slope / (1 + np.exp(-c))
        c = np.log1p(np.exp(c)) - 1.0
    got = outputs(gc.Graph([x], [last, g]), x0)
    np.testing.assert_allclose(got[0], c, rtol=1e-14)
    np.testing.assert_allclose(got[1], slope, rtol=1e-14)
    np.testing.assert_allclose(gc.compile(gc.Graph([x], g))(x0), slope, rtol=1e-14)


def test_mistakes_in_functions_and_rules_are_clear():
    x = gc.vector("x", 3)

    @gc.custom_vjp
    def pair(v):
        return v, v

    with pytest.raises(TypeError, match="custom_vjp 'pair': the function must return one node"):
        pair(x)

    @gc.custom_vjp
    def wrong_shape(v):
        return v * 2.0

    @wrong_shape.def_vjp
    def _(inputs, y, ct):
        return (gc.sum(ct), gc.sum(ct))

    with pytest.raises(TypeError, match="one cotangent per input"):
        wrong_shape(x)

    @wrong_shape.def_vjp
    def _(inputs, y, ct):
        return (ct[:2],)

    with pytest.raises(ValueError, match=r"shape \(2,\); expected \(3,\)"):
        wrong_shape(x)

    @gc.custom_jvp
    def no_rule(v):
        return v * 2.0

    with pytest.raises(TypeError, match="no jvp rule: define one with @no_rule.def_jvp"):
        gc.grad(gc.sum(no_rule(x)), x)
    with pytest.raises(TypeError, match="expected a function"):
        gc.custom_vjp(3)


def test_an_input_built_from_a_closed_over_node_is_counted_once():
    w = gc.scalar("w")

    @gc.custom_jvp
    def scale(x):
        return x * w

    @scale.def_jvp
    def _(inputs, y, tangents):
        return tangents[0] * w  # the true derivative in x

    a = gc.vector("a", 3)
    custom, plain = gc.sum(scale(a * w)), gc.sum((a * w) * w)
    for f, g in ((custom, plain),):
        got = outputs(gc.Graph([a, w], [*gc.grad(f, [a, w]), gc.jvp(f, w, 1.0)]), np.ones(3), 2.0)
        want = outputs(gc.Graph([a, w], [*gc.grad(g, [a, w]), gc.jvp(g, w, 1.0)]), np.ones(3), 2.0)
        for x, y in zip(got, want):
            np.testing.assert_allclose(x, y, rtol=1e-15)
