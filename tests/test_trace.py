"""gc.trace: the survey's Tables 2 and 3 exactly as printed, and trace values against finite
differences and against gc.jvp / gc.vjp on other graphs (tensors, several outputs, kinks)."""

from __future__ import annotations

import math
import re
import unicodedata

import numpy as np
import pytest

import graphc as gc
from graphc.trace import format_number, format_value

DOT, BAR = "\u0307", "\u0304"


def nfc(text: str) -> str:
    """Traces put marks on letters in NFC form (ẋ is one code point, v̇ two)."""
    return unicodedata.normalize("NFC", text)


def survey_graph() -> gc.Graph:
    x1, x2 = gc.scalar("x1"), gc.scalar("x2")
    return gc.Graph([x1, x2], [gc.log(x1) + x1 * x2 - gc.sin(x2)])


def squash(text: str) -> list[str]:
    """Lines with runs of spaces collapsed, so tests do not depend on column widths."""
    return [re.sub(r" +", " ", line.strip()) for line in text.splitlines()]


# The survey's example as gc.trace prints it: the slide. Any change to the layout shows here.
SURVEY_TEXT = """\
Forward Primal Trace
  v_-1 = x1                             = 2
  v_0  = x2                             = 5
  v_1  = ln v_-1    = ln 2              = 0.693
  v_2  = v_-1 × v_0 = 2 × 5             = 10
  v_3  = sin v_0    = sin 5             = -0.959
  v_4  = v_1 + v_2  = 0.693 + 10        = 10.693
  v_5  = v_4 - v_3  = 10.693 - (-0.959) = 11.652
  y    = v_5                            = 11.652

Forward Tangent (Derivative) Trace (ẋ1 = 1, ẋ2 = 0)
  v̇_-1 = ẋ1                                      = 1
  v̇_0  = ẋ2                                      = 0
  v̇_1  = v̇_-1 / v_-1             = 1 / 2         = 0.5
  v̇_2  = v̇_-1 × v_0 + v_-1 × v̇_0 = 1 × 5 + 2 × 0 = 5
  v̇_3  = v̇_0 × cos v_0           = 0 × cos 5     = 0
  v̇_4  = v̇_1 + v̇_2               = 0.5 + 5       = 5.5
  v̇_5  = v̇_4 - v̇_3               = 5.5 - 0       = 5.5
  ẏ    = v̇_5                                     = 5.5

Reverse Adjoint (Derivative) Trace (ȳ = 1)
  v̄_5  = ȳ                                         = 1
  v̄_4  = v̄_5 ∂v_5/∂v_4         = v̄_5               = 1
  v̄_3  = v̄_5 ∂v_5/∂v_3         = -v̄_5              = -1
  v̄_1  = v̄_4 ∂v_4/∂v_1         = v̄_4               = 1
  v̄_2  = v̄_4 ∂v_4/∂v_2         = v̄_4               = 1
  v̄_0  = v̄_3 ∂v_3/∂v_0         = v̄_3 × cos v_0     = -0.284
  v̄_-1 = v̄_2 ∂v_2/∂v_-1        = v̄_2 × v_0         = 5
  v̄_0  = v̄_0 + v̄_2 ∂v_2/∂v_0   = v̄_0 + v̄_2 × v_-1  = 1.716
  v̄_-1 = v̄_-1 + v̄_1 ∂v_1/∂v_-1 = v̄_-1 + v̄_1 / v_-1 = 5.5
  x̄1   = v̄_-1                                      = 5.5
  x̄2   = v̄_0                                       = 1.716"""


def test_survey_example_golden_text():
    assert str(gc.trace(survey_graph(), 2.0, 5.0)) == nfc(SURVEY_TEXT)


def test_survey_table_2_numbers():
    # Table 2: the primal values and the tangents for dx1 = 1, to the survey's 3 decimals.
    lines = squash(gc.trace(survey_graph(), 2, 5).text(["primal", "tangent"]))
    for expected in [
        "v_-1 = x1 = 2",
        "v_0 = x2 = 5",
        "v_1 = ln v_-1 = ln 2 = 0.693",
        "v_2 = v_-1 × v_0 = 2 × 5 = 10",
        "v_3 = sin v_0 = sin 5 = -0.959",
        "v_4 = v_1 + v_2 = 0.693 + 10 = 10.693",
        "v_5 = v_4 - v_3 = 10.693 - (-0.959) = 11.652",
        "y = v_5 = 11.652",
        f"v{DOT}_-1 = x{DOT}1 = 1",
        f"v{DOT}_0 = x{DOT}2 = 0",
        f"v{DOT}_1 = v{DOT}_-1 / v_-1 = 1 / 2 = 0.5",
        f"v{DOT}_3 = v{DOT}_0 × cos v_0 = 0 × cos 5 = 0",
        f"v{DOT}_4 = v{DOT}_1 + v{DOT}_2 = 0.5 + 5 = 5.5",
        f"v{DOT}_5 = v{DOT}_4 - v{DOT}_3 = 5.5 - 0 = 5.5",
        f"y{DOT} = v{DOT}_5 = 5.5",
    ]:
        assert nfc(expected) in lines


def test_survey_table_3_order_and_numbers():
    # Table 3, read in the order it is evaluated (the survey prints it bottom to top).
    trace = gc.trace(survey_graph(), 2.0, 5.0)
    got = [(line.target, line.value) for line in trace.adjoint_lines]
    b = BAR
    assert got == [
        (nfc(target), value)
        for target, value in [
            (f"v{b}_5", "1"),
            (f"v{b}_4", "1"),
            (f"v{b}_3", "-1"),
            (f"v{b}_1", "1"),
            (f"v{b}_2", "1"),
            (f"v{b}_0", "-0.284"),
            (f"v{b}_-1", "5"),
            (f"v{b}_0", "1.716"),
            (f"v{b}_-1", "5.5"),
            (f"x{b}1", "5.5"),
            (f"x{b}2", "1.716"),
        ]
    ]
    # The exact values behind the rounded text: gradient (x2 + 1/x1, x1 - cos x2).
    np.testing.assert_allclose(trace.input_adjoints, [5.5, 2 - math.cos(5)], rtol=1e-15)
    assert trace.output_tangents[0] == pytest.approx(5.5, rel=1e-15)


def test_acceptance_wording():
    text = str(gc.trace(survey_graph(), 2.0, 5.0))
    assert "11.65" in text and "5.5" in text and re.search(r"1\.71\d|1\.72", text)


def test_seed_choice_gives_the_other_column():
    trace = gc.trace(survey_graph(), 2.0, 5.0, tangents="x2")
    assert trace.output_tangents[0] == pytest.approx(2 - math.cos(5), rel=1e-15)
    assert nfc(f"(x{DOT}1 = 0, x{DOT}2 = 1)") in trace.section("tangent")
    assert nfc(f"y{DOT} = v{DOT}_5 = 1.716") in squash(trace.section("tangent"))
    # A direction: J r with r = (1, 2).
    trace = gc.trace(survey_graph(), 2.0, 5.0, tangents={"x1": 1.0, "x2": 2.0})
    assert trace.output_tangents[0] == pytest.approx(5.5 + 2 * (2 - math.cos(5)), rel=1e-15)
    trace = gc.trace(survey_graph(), 2.0, 5.0, tangents=[0.5, 0.0])
    assert trace.output_tangents[0] == pytest.approx(2.75, rel=1e-15)


def test_per_node_values_for_dot():
    graph = survey_graph()
    trace = gc.trace(graph, x1=2.0, x2=5.0)
    for node in graph.nodes:
        assert node in trace.values
    assert float(trace.values[graph.outputs[0]]) == pytest.approx(11.652, abs=5e-4)
    dot = gc.to_dot(graph, values=trace.values)
    assert "= 11.6521" in dot and "= 0.693147" in dot
    labelled = trace.to_dot()
    assert labelled == trace.to_dot()  # deterministic
    assert f"v{BAR}_-1 = 5.5" in labelled and f"v{DOT}_5 = 5.5" in labelled
    assert "(v_5)" in labelled


# -- other graphs: values against finite differences and the jvp/vjp transforms ---------------


def cases():
    """(name, graph, args): scalar ops, tensors with broadcasting, reductions, several outputs."""
    rng = np.random.default_rng(3)
    x1, x2 = gc.scalar("x1"), gc.scalar("x2")
    lecture = (x1 + x2) * gc.log(x1 + x2)
    yield "lecture", gc.Graph([x1, x2], [lecture, *gc.grad(lecture, [x1, x2])]), (2.0, 5.0)
    x = gc.scalar("x")
    l = x
    for _ in range(4):
        l = 4 * l * (1 - l)
    yield "logistic", gc.Graph([x], [l, l * l]), (0.3,)
    a, b = gc.scalar("a"), gc.scalar("b")
    mix = gc.exp(a / b) - gc.tanh(a * a) + gc.sqrt(b) ** 1.5 + gc.maximum(a, 0.2) * gc.abs(b)
    yield "mix", gc.Graph([a, b], [mix, gc.sigmoid(a) * gc.softplus(b)]), (0.7, 1.3)
    v, M = gc.vector("v", 4), gc.matrix("M", 3, 4)
    W = rng.standard_normal((4, 4))
    tensor = gc.sum(gc.tanh(M @ v) * 2.0) + gc.logsumexp(M, axis=1)[0] + v @ W @ v
    yield (
        "tensor",
        gc.Graph([v, M], [tensor, gc.sum(M * v, axis=0)]),
        (rng.standard_normal(4), rng.standard_normal((3, 4))),
    )
    z = gc.vector("z", 5)
    yield (
        "indexing",
        gc.Graph([z], [gc.prod(z[1:] - z[:-1] ** 2), gc.max(z), z.T @ z]),
        (rng.uniform(0.5, 2, 5),),
    )


CASES = list(cases())


def _flat_outputs(graph: gc.Graph, args) -> np.ndarray:
    out = gc.evaluate(graph, *args)
    out = out if isinstance(out, tuple) else (out,)
    return np.concatenate([np.ravel(np.asarray(o, dtype=float)) for o in out])


@pytest.mark.parametrize("name,graph,args", CASES, ids=[c[0] for c in CASES])
def test_tangents_and_adjoints_match_finite_differences(name, graph, args):
    rng = np.random.default_rng(7)
    tangents = [rng.standard_normal(np.shape(a)) for a in args]
    cotangents = [rng.standard_normal(o.shape) for o in graph.outputs]
    trace = gc.trace(graph, *args, tangents=tangents, cotangents=cotangents)

    # Forward mode: J t against a central difference along t.
    h = 1e-6
    plus = [np.asarray(a, dtype=float) + h * t for a, t in zip(args, tangents)]
    minus = [np.asarray(a, dtype=float) - h * t for a, t in zip(args, tangents)]
    fd_jvp = (_flat_outputs(graph, plus) - _flat_outputs(graph, minus)) / (2 * h)
    got_jvp = np.concatenate([np.ravel(t) for t in trace.output_tangents])
    np.testing.assert_allclose(got_jvp, fd_jvp, rtol=1e-5, atol=1e-6)

    # Reverse mode: the adjoint of each input element against a difference of <u, f>.
    u = np.concatenate([np.ravel(c) for c in cotangents])
    for k, arg in enumerate(args):
        base = np.asarray(arg, dtype=float)
        fd = np.zeros(base.shape)
        for i in np.ndindex(base.shape):
            e = np.zeros(base.shape)
            e[i] = h
            shifted = [*args[:k], base + e, *args[k + 1 :]]
            back = [*args[:k], base - e, *args[k + 1 :]]
            fd[i] = u @ (_flat_outputs(graph, shifted) - _flat_outputs(graph, back)) / (2 * h)
        np.testing.assert_allclose(trace.input_adjoints[k], fd, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,graph,args", CASES, ids=[c[0] for c in CASES])
def test_trace_agrees_with_jvp_and_vjp(name, graph, args):
    rng = np.random.default_rng(11)
    tangents = [rng.standard_normal(np.shape(a)) for a in args]
    cotangents = [rng.standard_normal(o.shape) for o in graph.outputs]
    trace = gc.trace(graph, *args, tangents=tangents, cotangents=cotangents)
    outs, ins = list(graph.outputs), list(graph.inputs)
    jv = gc.jvp(outs, ins, [gc.constant(t) for t in tangents])
    vj = gc.vjp(outs, ins, [gc.constant(c) for c in cotangents])
    values = gc.evaluate(gc.Graph(ins, [*jv, *vj]), *args)
    for got, want in zip([*trace.output_tangents, *trace.input_adjoints], values):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # Every node's primal value is the evaluator's.
    for node, out in zip(graph.outputs, gc.evaluate(graph, *args)):
        np.testing.assert_array_equal(trace.values[node], out)


def test_tensor_values_are_abbreviated():
    x = gc.vector("x", 50)
    trace = gc.trace(gc.Graph([x], [gc.sum(x * gc.log(x))]), np.linspace(0.1, 1, 50))
    text = str(trace)
    assert "[0.1, 0.118, 0.137, …] f64[50]" in text
    assert nfc(f"x{DOT} = [1, 0, 0, …] f64[50]") in text  # default seed: the first unit vector
    assert max(len(line) for line in text.splitlines()) < 120


def test_inputs_outputs_and_constants_edge_cases():
    x, n, unused = gc.scalar("x"), gc.scalar("n", "int64"), gc.scalar("unused")
    outputs = [x, gc.constant(3.0), gc.sign(x) * x, gc.stop_gradient(x) * n]
    trace = gc.trace(gc.Graph([x, n, unused], outputs), -2.0, 3, 1.0, cotangents=[1, 0, 1, 1])
    text = squash(str(trace))
    assert "y1 = v_-2 = -2" in text and "y2 = 3 = 3" in text
    assert nfc(f"y{DOT}2 = 0 = 0") in text  # a constant output has a zero tangent
    assert nfc(f"u{BAR}nused = 0 = 0") in text  # an unused input has a zero adjoint
    # sign and stop_gradient have zero derivatives: d(sign(x) x)/dx = sign(x) = -1, and
    # stop_gradient(x) * n contributes nothing.
    assert trace.input_adjoints[0] == pytest.approx(1 + -1)


def test_where_trace_sends_adjoints_to_the_taken_branch():
    x = gc.scalar("x")
    y = gc.where(x > 0, gc.sqrt(gc.where(x > 0, x, 1.0)), 0.0)
    trace = gc.trace(gc.Graph([x], [y]), 0.0)
    assert trace.input_adjoints[0] == 0.0  # the double-where guard: no nan
    assert "where(" in str(trace)


def test_trace_follows_jvp_where_a_zero_tangent_ends_a_chain():
    # sign has a zero derivative: gc.jvp carries no tangent out of it, so sign(x) * z has the
    # tangent sign(x) ż, which is 0 for ż = 0 even where z is infinite (0 × inf would be nan).
    x, z = gc.scalar("x"), gc.scalar("z")
    graph = gc.Graph([x, z], [gc.sign(x) * z])
    trace = gc.trace(graph, 2.0, np.inf, tangents=[1.0, 0.0])
    lines = squash(trace.section("tangent"))
    assert nfc(f"v{DOT}_1 = 0 = 0") in lines
    assert nfc(f"v{DOT}_2 = v_1 × v{DOT}_0 = 1 × 0 = 0") in lines
    want = gc.evaluate(gc.Graph([x, z], gc.jvp(graph.outputs[0], [x, z], [1.0, 0.0])), 2.0, np.inf)
    assert trace.output_tangents == (want,) == (0.0,)


def test_adjoint_formulas_show_the_nodes_the_rule_built():
    # The vjp of a / b builds ct / b for a and -(ct × (a/b)) / b for b, reusing the output a/b:
    # the trace prints that reuse by name (v_1) rather than a formula graphc does not compute.
    x1, x2 = gc.scalar("x1"), gc.scalar("x2")
    trace = gc.trace(gc.Graph([x1, x2], [x1 / x2]), 3.0, 2.0)
    lines = squash(trace.section("adjoint"))
    assert nfc(f"v{BAR}_-1 = v{BAR}_1 ∂v_1/∂v_-1 = v{BAR}_1 / v_0 = 0.5") in lines
    assert nfc(f"v{BAR}_0 = v{BAR}_1 ∂v_1/∂v_0 = -(v{BAR}_1 × v_1) / v_0 = -0.75") in lines
    assert trace.input_adjoints == (0.5, -0.75)


def test_errors_are_clear():
    graph = survey_graph()
    with pytest.raises(TypeError, match="expected a gc.Graph"):
        gc.trace(graph.outputs[0], 2.0, 5.0)
    with pytest.raises(TypeError, match="missing argument"):
        gc.trace(graph, 2.0)
    with pytest.raises(ValueError, match="names none of"):
        gc.trace(graph, 2.0, 5.0, tangents="x3")
    with pytest.raises(ValueError, match="one value per input"):
        gc.trace(graph, 2.0, 5.0, tangents=[1.0])
    with pytest.raises(ValueError, match="unknown"):
        gc.trace(graph, 2.0, 5.0, tangents={"z": 1.0})
    with pytest.raises(ValueError, match="shape"):
        gc.trace(graph, 2.0, 5.0, cotangents=[np.ones(2)])
    with pytest.raises(ValueError, match="digits"):
        gc.trace(graph, 2.0, 5.0, digits=-1)
    with pytest.raises(ValueError, match="unknown section"):
        gc.trace(graph, 2.0, 5.0).section("sideways")


def test_digits_and_number_format():
    assert format_number(0.6931471805599453) == "0.693"
    assert format_number(10.0) == "10"
    assert format_number(-0.28366218546322625) == "-0.284"
    assert format_number(2.0 - math.cos(5)) == "1.716"
    assert format_number(0.0) == "0"
    assert format_number(1.5e-9) == "1.5e-9"
    assert format_number(float("nan")) == "nan" and format_number(-np.inf) == "-inf"
    assert format_number(True) == "True" and format_number(7) == "7"
    assert format_value(np.array([[1.0, 2.5], [3.0, 4.0]])) == "[[1, 2.5], [3, 4]]"
    text = str(gc.trace(survey_graph(), 2.0, 5.0, digits=6))
    assert "11.652071" in text and "1.716338" in text


def test_long_chain_is_linear():
    x = gc.scalar("x")
    y = x
    for _ in range(3000):
        y = gc.sin(y) * 0.5 + y
    trace = gc.trace(gc.Graph([x], [y]), 0.1)
    assert len(trace.primal_lines) == 2 + 3 * 3000
    assert len(trace.adjoint_lines) > 3 * 3000
