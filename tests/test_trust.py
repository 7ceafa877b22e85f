"""Regression tests of issue 8 ("trust"): silent wrong answers and unsafe inputs, one section each.

- Constant folding of broadcasting constants: an outer product of two constant arrays, and the
  gradient of a linear layer with constant weights under a constant weighting, keep their
  values through ``gc.optimize`` and ``gc.compile`` (random graphs of the same family are in
  ``tests/passes/test_random_graphs.py``).
- Shapes of more than ``2**60 - 1`` elements (whose size in bytes overflows int64) are refused
  when the node is built, by whichever op makes them, and when a serialised graph is loaded.
- ``pow`` at a zero base: ``x**0`` has derivative 0, ``x**n`` all its derivatives (nested grad
  and jvp, constant or input exponent), the exponent's derivative follows the guide's
  convention; evaluated, optimized and compiled.
- Input names are data: the input op's rule refuses names that are not identifiers, keywords
  and names Python would normalise, for ``gc.tensor`` and ``serialize.from_dict`` alike (a
  JSON graph with an input named ``x, y=[print('INJECTED')][0]`` is refused at load); malformed
  documents (bad indices, unknown ops, bad shapes or dtypes) name the node.
- Dtypes: asking for one graphc does not have (int32, uint8, float16 ...) is a TypeError, in
  gc.tensor, astype, gc.constant and loaded documents; data of those dtypes becomes a constant
  of a graphc dtype with the same values; arguments keep ``graphc.arguments``' rules.
- numpy: operators with a numpy array or scalar on the left build nodes; any other numpy
  function applied to a node raises a TypeError naming graphc's function.
"""

from __future__ import annotations

import base64
import json
import math
import operator
import re

import numpy as np
import pytest
from helpers import assert_bitwise_equal, assert_same_values, outputs

import graphc as gc
from graphc import serialize
from graphc.shapes import MAX_ELEMENTS

# -- constant folding of broadcasting constants -----------------------------------------------


def _all_three_agree(graph: gc.Graph, *args: object) -> list[np.ndarray]:
    """The graph's values, checked equal through gc.optimize and gc.compile."""
    want = outputs(graph, *args)
    assert_same_values(outputs(gc.optimize(graph, verify=True), *args), want)
    compiled = gc.compile(graph)(*args)
    assert_same_values([compiled] if graph.single_output else list(compiled), want)
    return want


def test_folding_an_outer_product_of_constants():
    s = gc.scalar("s")
    graph = gc.Graph([s], s * (gc.constant([[1.0], [2.0], [3.0]]) * gc.constant([[10.0, 20.0]])))
    (value,) = _all_three_agree(graph, 1.0)
    np.testing.assert_array_equal(value, [[10.0, 20.0], [20.0, 40.0], [30.0, 60.0]])


def test_folding_the_gradient_of_a_linear_layer_with_constant_weights():
    x = gc.matrix("X", 3, 2)
    w, c = np.array([1.0, 2.0]), np.array([1.0, 2.0, 3.0])
    graph = gc.Graph([x], gc.grad(gc.sum((x @ gc.constant(w)) * gc.constant(c)), x))
    (value,) = _all_three_agree(graph, np.ones((3, 2)))
    np.testing.assert_array_equal(value, np.outer(c, w))


# -- shapes whose element count overflows -----------------------------------------------------

HUGE = 2**32


@pytest.mark.parametrize(
    "build, op, shape",
    [
        (lambda: gc.broadcast_to(gc.scalar("a"), (HUGE, HUGE, 4)), "broadcast_to", (HUGE, HUGE, 4)),
        (lambda: gc.vector("v", 2**70), "input 'v'", (2**70,)),
        (lambda: gc.tensor("t", (HUGE, HUGE, 4), "bool"), "input 't'", (HUGE, HUGE, 4)),
        (lambda: gc.vector("p", HUGE)[:, None] * gc.vector("q", HUGE), "mul", (HUGE, HUGE)),
        (lambda: gc.matrix("m", HUGE, 1) @ gc.matrix("n", 1, HUGE), "matmul", (HUGE, HUGE)),
        (lambda: gc.concatenate([gc.vector("c", 2**60 - 1)] * 2), "concatenate", (2**61 - 2,)),
    ],
)
def test_shapes_of_more_than_2_60_elements_are_refused_when_built(build, op, shape):
    # broadcast_to(a, (2**32, 2**32, 4)) used to build, and compiled code summed it to 1.0.
    with pytest.raises(ValueError, match=re.escape(f"{op}: the shape {shape}")):
        build()


def test_the_largest_shape_builds_and_the_next_one_does_not():
    a = gc.scalar("a")
    assert gc.broadcast_to(a, (MAX_ELEMENTS,)).shape == (MAX_ELEMENTS,)
    assert MAX_ELEMENTS * 8 <= 2**63 - 1 < (MAX_ELEMENTS + 1) * 8
    with pytest.raises(ValueError, match=r"2\*\*60 - 1\) graphc allows"):
        gc.broadcast_to(a, (2, 2**59))


def test_a_serialised_graph_with_a_huge_shape_is_refused_at_load():
    data = serialize.to_dict(gc.Graph([x := gc.vector("x", 3)], [x * 2.0]))
    for record in data["nodes"]:
        if record["op"] == "input":
            record["attrs"]["shape"] = [HUGE, HUGE, 4]
            record["shape"] = [HUGE, HUGE, 4]
    with pytest.raises(ValueError, match="input 'x': the shape"):
        serialize.from_dict(data)


# -- derivatives of pow at a zero base --------------------------------------------------------


def _derivatives(f, x: gc.Node, order: int, mode: str) -> list[gc.Node]:
    """The 1st..order-th derivatives of ``f`` in ``x``, nested gc.grad or gc.jvp."""
    result = []
    for _ in range(order):
        f = gc.grad(f, x) if mode == "grad" else gc.jvp(f, x, 1.0)
        result.append(f)
    return result


def _values_everywhere(graph: gc.Graph, *args: object) -> list[np.ndarray]:
    """Values from gc.evaluate, checked equal (nan where nan) to gc.optimize's and gc.compile's."""
    want = outputs(graph, *args)
    assert_same_values(outputs(gc.optimize(graph), *args), want)
    compiled = gc.compile(graph)(*args)
    assert_same_values([compiled] if graph.single_output else list(compiled), want)
    return want


@pytest.mark.parametrize("exponent", ["constant", "input"])
def test_derivative_of_x_to_the_zero_at_zero_is_zero(exponent):
    # b * a**(b - 1) was 0 * 0**-1 = 0 * inf = nan here.
    x, b = gc.scalar("x"), gc.scalar("b")
    y = x**0.0 if exponent == "constant" else x**b
    graph = gc.Graph([x, b], [gc.grad(y, x), gc.jvp(y, x, 1.0)])
    assert [float(v) for v in _values_everywhere(graph, 0.0, 0.0)] == [0.0, 0.0]


@pytest.mark.parametrize("mode", ["grad", "jvp"])
@pytest.mark.parametrize("exponent", ["constant", "input"])
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_every_derivative_of_x_to_the_n_at_zero(n, exponent, mode):
    # The k-th derivative of x**n at 0 is n! for k = n and 0 otherwise; the (n+1)-th used to be
    # nan (its factor x**0 is differentiated through 0 * x**-1).
    x, b = gc.scalar("x"), gc.scalar("b")
    y = x**n if exponent == "constant" else x**b
    graph = gc.Graph([x, b], _derivatives(y, x, n + 1, mode))
    got = [float(v) for v in _values_everywhere(graph, 0.0, float(n))]
    assert got == [math.factorial(n) if k == n else 0.0 for k in range(1, n + 2)]
    # Away from 0 the same graphs give n!/(n-k)! x^(n-k).
    got = [float(v) for v in _values_everywhere(graph, 0.5, float(n))]
    want = [math.perm(n, k) * 0.5 ** (n - k) if k <= n else 0.0 for k in range(1, n + 2)]
    np.testing.assert_allclose(got, want, rtol=1e-15)


@pytest.mark.parametrize(
    "b, want",
    [
        (2.0, 0.0),  # 0**b is 0 for every b > 0: constant in b
        (0.5, 0.0),
        (0.0, 0.0),  # the right-hand derivative (0**0 = 1, 0**b = 0 for b > 0)
        (-1.0, -np.inf),  # 0**b = inf for b < 0: a**b log a as a -> 0+
    ],
)
def test_derivative_in_the_exponent_at_a_zero_base(b, want):
    a, e = gc.scalar("a"), gc.scalar("e")
    graph = gc.Graph([a, e], [gc.grad(a**e, e), gc.jvp(a**e, e, 1.0)])
    assert [float(v) for v in _values_everywhere(graph, 0.0, b)] == [want, want]
    # elsewhere: a**b log a
    got = [float(v) for v in _values_everywhere(graph, 1.5, b)]
    np.testing.assert_allclose(got, [1.5**b * math.log(1.5)] * 2, rtol=1e-15)


# -- input names are data ---------------------------------------------------------------------

INJECTED = "x, y=[print('INJECTED')][0]"


def _document_with_input_named(name: object) -> dict:
    x, y = gc.scalar("x"), gc.scalar("y")
    data = json.loads(json.dumps(serialize.to_dict(gc.Graph([x, y], [x * y]))))
    data["nodes"][0]["attrs"]["name"] = name
    return data


@pytest.mark.parametrize(
    "name, error, fragment",
    [
        (INJECTED, ValueError, "Python identifiers that are not keywords"),
        ("lambda", ValueError, "not keywords"),
        ("1x", ValueError, "identifiers"),
        ("", ValueError, "identifiers"),
        ("x y", ValueError, "identifiers"),
        ("ﬁle", ValueError, "NFKC"),  # a ligature Python reads as "file"
        (3, TypeError, "must be strings"),
        (None, TypeError, "must be strings"),
    ],
)
def test_bad_input_names_are_refused_by_the_dsl_and_at_load(name, error, fragment, capsys):
    with pytest.raises(error, match=re.escape(fragment)):
        gc.scalar(name)  # type: ignore[arg-type]
    with pytest.raises(error, match=re.escape("node 0 ('input'): ") + ".*" + re.escape(fragment)):
        serialize.from_dict(_document_with_input_named(name))
    assert "INJECTED" not in capsys.readouterr().out


@pytest.mark.parametrize("name", ["x", "α", "match", "case", "type", "_", "print", "x_1"])
def test_identifiers_name_inputs_and_serialise(name):
    # Soft keywords and builtins' names are ordinary identifiers.
    node = gc.scalar(name)
    graph = serialize.from_dict(
        json.loads(json.dumps(serialize.to_dict(gc.Graph([node], node * 2.0))))
    )
    assert graph.input_names == (name,)
    assert gc.evaluate(graph, **{name: 1.5}) == 3.0


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("shape", [-1], "non-negative ints"),
        ("shape", ["a"], "non-negative ints"),
        ("shape", 3, "tuple of non-negative ints"),
        ("dtype", "int32", "'int32' is not one of float64, float32, int64, bool"),
        ("dtype", "object", "is not one of"),
    ],
)
def test_input_types_are_checked_at_load(field, value, fragment):
    data = _document_with_input_named("x")
    data["nodes"][0]["attrs"][field] = value
    with pytest.raises((TypeError, ValueError), match=re.escape(fragment)):
        serialize.from_dict(data)


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda d: d["nodes"][2].update(args=[0, -1]), "-1 is not the index of an earlier node"),
        (lambda d: d["nodes"][2].update(args=[0, 2]), "2 is not the index of an earlier node"),
        (lambda d: d["nodes"][2].update(op="system"), "node 2 ('system'): unknown op"),
        (lambda d: d.update(outputs=[7]), "outputs: 7 is not the index"),
    ],
)
def test_malformed_documents_are_refused_with_the_node_named(change, fragment):
    data = _document_with_input_named("x")
    change(data)
    with pytest.raises(ValueError, match=re.escape(fragment)):
        serialize.from_dict(data)


# -- dtypes graphc does not have ---------------------------------------------------------------

UNSUPPORTED = ["int32", np.int32, np.uint8, "int16", np.uint64, "float16", np.float16, complex]


@pytest.mark.parametrize("dtype", UNSUPPORTED, ids=str)
@pytest.mark.parametrize(
    "where, build",
    [
        ("astype", lambda d: gc.astype(gc.scalar("x"), d)),
        ("astype", lambda d: gc.vector("x", 3).astype(d)),
        ("input 't'", lambda d: gc.tensor("t", (2,), d)),
        ("input 's'", lambda d: gc.scalar("s", d)),
        ("constant", lambda d: gc.constant([1, 2], d)),
        ("constant", lambda d: gc.zeros((2,), d)),
    ],
)
def test_a_requested_dtype_graphc_does_not_have_is_refused(dtype, where, build):
    # astype(x, "int32") used to give int64 silently.
    name = np.dtype(dtype).name
    message = f"{where}: graphc has no dtype {name}; expected one of float64, float32, int64, bool"
    with pytest.raises(TypeError, match=re.escape(message)):
        build(dtype)


@pytest.mark.parametrize(
    "dtype, want",
    [
        ("float64", "float64"),
        ("f32", "float32"),
        ("i64", "int64"),
        ("int", "int64"),
        (float, "float64"),
        (int, "int64"),
        (bool, "bool"),
        (np.float32, "float32"),
        (np.int64, "int64"),
        (np.dtype(">f8"), "float64"),
        (np.bool_, "bool"),
    ],
    ids=str,
)
def test_the_four_dtypes_in_every_spelling(dtype, want):
    assert gc.tensor("t", (2,), dtype).dtype == want
    assert gc.astype(gc.vector("x", 2, "bool"), dtype).dtype == want
    assert gc.constant([1, 0], dtype).dtype == want


@pytest.mark.parametrize(
    "value, dtype",
    [
        (np.arange(3, dtype=np.int32), "int64"),  # numpy's default int on Windows (numpy < 2)
        (np.arange(3, dtype=np.uint8), "int64"),
        (np.arange(3, dtype=np.int16), "int64"),
        (np.array([2**63 - 1], dtype=np.uint64), "int64"),
        ([1, 2, 3], "int64"),
        (7, "int64"),
        (np.int32(7), "int64"),
        (np.array([0.1, -2.5, 65504.0], dtype=np.float16), "float32"),
        (np.array([1.5, -0.0], dtype=">f8"), "float64"),
        (np.array([True, False]), "bool"),
    ],
    ids=repr,
)
def test_data_of_other_dtypes_becomes_a_constant_with_the_same_values(value, dtype):
    node = gc.constant(value)
    assert node.dtype == dtype and node.value.dtype == np.dtype(dtype)
    assert_bitwise_equal(node.value, np.asarray(value).astype(dtype))
    np.testing.assert_array_equal(node.value, value)  # exact: nothing rounded


def test_data_that_does_not_fit_is_refused():
    with pytest.raises(OverflowError, match="does not fit in int64"):
        gc.constant(np.array([2**63], dtype=np.uint64))
    with pytest.raises(TypeError, match="constant: graphc cannot hold float128"):
        gc.constant(np.ones(2, dtype=np.longdouble))


def test_arguments_of_other_int_dtypes_follow_graphc_arguments():
    # The evaluator converts arrays that convert safely; compiled code wants the exact dtype of a
    # tensor input (no hidden copy per call); scalars convert within their kind.
    k, f, s = gc.vector("k", 3, "int64"), gc.vector("f", 3), gc.scalar("s", "int64")
    graph = gc.Graph([k, f, s], [gc.sum(k) + s, gc.sum(f)])
    fn = gc.compile(graph)
    i32 = np.arange(3, dtype=np.int32)
    assert gc.evaluate(graph, i32, i32, np.int32(2)) == (5, 3.0)
    assert gc.evaluate(graph, i32.astype(np.uint8), np.ones(3), 2) == (5, 3.0)
    assert fn(np.arange(3), np.ones(3), np.int32(2)) == (5, 3.0)
    with pytest.raises(TypeError, match=re.escape("got dtype uint64, which does not convert")):
        gc.evaluate(graph, i32.astype(np.uint64), np.ones(3), 2)
    with pytest.raises(
        TypeError, match=re.escape("got dtype int32; convert with .astype(np.int64)")
    ):
        fn(i32, np.ones(3), 2)


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda r: r["attrs"].update(dtype="int32"), "cast: dtype 'int32' is not one of"),
        (lambda r: r["attrs"].update(dtype=None), "cast: dtype None is not one of"),
    ],
)
def test_a_document_with_another_cast_dtype_is_refused(change, fragment):
    x = gc.vector("x", 3)
    data = serialize.to_dict(gc.Graph([x], x.astype("int64")))
    change(data["nodes"][1])
    with pytest.raises(TypeError, match=re.escape(fragment)):
        serialize.from_dict(data)


@pytest.mark.parametrize("dtype", ["<i4", ">f8", "<f2", "|u1"])
def test_a_document_with_another_constant_dtype_is_refused(dtype):
    x = gc.vector("x", 2)
    data = serialize.to_dict(gc.Graph([x], x * gc.constant([3, 4])))
    meta = data["nodes"][1]["attrs"]["value"]["const"]
    array = np.array([3, 4], dtype=dtype)
    meta.update(dtype=dtype, data=base64.b64encode(array.tobytes()).decode("ascii"))
    with pytest.raises(TypeError, match=re.escape(f"const: payload of dtype {dtype} is not one")):
        serialize.from_dict(data)


# -- numpy and graph nodes ----------------------------------------------------------------------

LEFT_OPERATORS = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "**": operator.pow,
    "@": operator.matmul,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


@pytest.mark.parametrize("symbol", sorted(LEFT_OPERATORS))
@pytest.mark.parametrize("left", ["array", "matrix", "numpy scalar"])
def test_numpy_operands_on_the_left_build_nodes(symbol, left):
    op = LEFT_OPERATORS[symbol]
    x = gc.vector("x", 3)
    value = np.array([0.5, 2.0, 3.0])
    if left == "numpy scalar":
        if symbol == "@":
            return  # numpy scalars have no matrix product
        lhs = np.float64(2.0)
    else:
        lhs = np.array([1.5, 2.0, -1.0]) if left == "array" else np.arange(6.0).reshape(2, 3)
    node = op(lhs, x)
    assert isinstance(node, gc.Node)
    got = gc.evaluate(gc.Graph([x], node), value)
    want = op(lhs, value)
    assert np.shape(got) == np.shape(want) and np.asarray(got).dtype == np.asarray(want).dtype
    np.testing.assert_array_equal(got, want)


def test_numpy_boolean_operands_on_the_left_and_dtypes():
    b = gc.vector("b", 3, "bool")
    mask, value = np.array([True, False, True]), np.array([True, True, False])
    graph = gc.Graph([b], [mask & b, mask | b])
    for got, want in zip(gc.evaluate(graph, value), [mask & value, mask | value]):
        np.testing.assert_array_equal(got, want)
    x32 = gc.vector("x", 3, "float32")
    assert (np.float64(2.0) * x32).dtype == "float64"  # numpy scalars are strong (NEP 50)
    assert (np.ones(3, np.float32) * x32).dtype == "float32"
    assert isinstance(np.add(np.ones(3), x32), gc.Node)  # the ufunc behind + is the operator


@pytest.mark.parametrize(
    "call, use",
    [
        (lambda x, a: np.sum(x), "use gc.sum"),
        (lambda x, a: np.exp(x), "use gc.exp"),
        (lambda x, a: np.dot(a, x), "use gc.dot"),
        (lambda x, a: np.matmul(a, x, out=np.empty(2)), "cannot write a graph node into"),
        (lambda x, a: np.mean(x, axis=0), "use gc.mean"),
        (lambda x, a: np.maximum(a, x), "use gc.maximum"),
        (lambda x, a: np.abs(x), "use gc.abs"),
        (lambda x, a: np.sqrt(x), "use gc.sqrt"),
        (lambda x, a: np.tanh(x), "use gc.tanh"),
        (lambda x, a: np.concatenate([x, x]), "use gc.concatenate"),
        (lambda x, a: np.where(x > 0, x, 0.0), "use gc.where"),
        (lambda x, a: np.reshape(x, (3, 1)), "use gc.reshape"),
        (lambda x, a: np.negative(x), "use -x"),
        (lambda x, a: np.add.reduce(x), "use gc.sum"),
        (lambda x, a: np.arctan(x), "use gc.arctan"),
        (lambda x, a: np.sinc(x), "graphc has no sinc"),
        (lambda x, a: np.linalg.norm(x), "graphc has no norm"),
        (lambda x, a: np.asarray(x), "gc.evaluate"),
        (lambda x, a: np.array([1.0, 2.0]) + np.array(x), "gc.evaluate"),
    ],
)
def test_numpy_functions_on_nodes_name_the_graphc_function(call, use):
    x, a = gc.vector("x", 3), np.ones((2, 3))
    with pytest.raises(TypeError, match=re.escape(use)):
        call(x, a)


def test_an_in_place_numpy_operator_with_a_node_says_what_to_write():
    x, a = gc.vector("x", 3), np.ones(3)
    with pytest.raises(TypeError, match=re.escape("write array = array + node")):
        a += x
    assert (a == 1.0).all()


# -- what compiled code computes -----------------------------------------------------------------


@pytest.mark.parametrize("symbol", ["<", "<=", ">", ">=", "==", "!="])
def test_compiled_comparisons_of_booleans_order_false_before_true(symbol):
    # A signed compare of i1 read true as -1, so False < True was False in compiled code.
    op = LEFT_OPERATORS[symbol]
    a, b = gc.vector("a", 4, "bool"), gc.vector("b", 4, "bool")
    graph = gc.Graph([a, b], [op(a, b), gc.where(op(a, b), 1.0, 0.0)])
    va, vb = np.array([False, False, True, True]), np.array([False, True, False, True])
    for got, want in zip(gc.compile(graph)(va, vb), [op(va, vb), op(va, vb).astype(float)]):
        assert_bitwise_equal(got, want)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_float_to_int_casts_saturate_everywhere(dtype):
    # Compiled code saturates (nan -> 0); the evaluator, and so constant folding, used numpy's
    # astype (INT64_MIN on x86-64), so gc.compile and gc.compile(optimize=False) disagreed.
    values = np.array([np.nan, np.inf, -np.inf, 1e300, -1e300, 2.0**63, -(2.0**63), 2.9, -2.9])
    with np.errstate(over="ignore"):  # 1e300 is inf in float32
        values = values.astype(dtype)
    lo, hi = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    want = np.array([0, hi, lo, hi, lo, hi, lo, 2, -2], dtype=np.int64)
    x, k = gc.vector("x", values.size, dtype), gc.scalar("k", "int64")
    # The second output's cast is of a constant: constant folding evaluates it.
    graph = gc.Graph([x, k], [x.astype("int64"), gc.constant(values).astype("int64") + k])
    for got in [*outputs(graph, values, 0), *outputs(gc.optimize(graph), values, 0)]:
        assert_bitwise_equal(got, want)
    for options in ({}, {"optimize": False}):
        for got in gc.compile(graph, **options)(values, 0):
            assert_bitwise_equal(got, want)


def _in_order_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The documented semantics: each product rounded, then added in order from +0.0."""
    out = np.zeros((a.shape[0], b.shape[1]))
    with np.errstate(all="ignore"):
        for i in range(a.shape[0]):
            for j in range(b.shape[1]):
                total = 0.0
                for k in range(a.shape[1]):
                    total = total + a[i, k] * b[k, j]
                out[i, j] = total
    return out


@pytest.mark.parametrize(
    "a, b",
    [
        # products overflow to -inf and +inf: nan (BLAS's fused multiply-adds give -inf)
        (np.full((2, 2), 1e308), np.array([[-2.0, -2.0], [2.0, 2.0]])),
        # partial sums overflow though the exact sum is finite: inf
        (np.array([[1e308, 1e308, -1e308]]), np.ones((3, 1))),
        (np.array([[1e200, -1e200, 3.0], [-0.0, -0.0, -0.0]]), np.array([[1e200], [1e200], [1.0]])),
    ],
)
def test_compiled_matrix_products_add_rounded_products_in_order(a, b):
    x, y = gc.matrix("x", *a.shape), gc.matrix("y", *b.shape)
    got = gc.compile(gc.Graph([x, y], x @ y))(a, b)
    assert_bitwise_equal(got, _in_order_matmul(a, b))


_SPECIALS = {
    "float64": np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 1e-310, 1e308, -2.5, 3.0]),
    "float32": np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 1e-45, 3.4e38, -2.5, 3.0]),
    "int64": np.array([0, 1, -1, 2, -3, 2**62, 2**63 - 1, -(2**63), 2**53 + 1, 7]),
    "bool": np.array([True, False]),
}
_BITWISE_BINARY = {
    **{name: op for name, op in LEFT_OPERATORS.items() if name not in ("**", "@")},
    "maximum": gc.maximum,
    "minimum": gc.minimum,
    "where": lambda a, b: gc.where(a > b, a, b),
}


@pytest.mark.parametrize("da", sorted(_SPECIALS))
@pytest.mark.parametrize("db", sorted(_SPECIALS))
def test_the_bitwise_ops_on_every_pair_of_special_values(da, db):
    """The guide's "bitwise" list, every dtype pair: compiled == gc.evaluate, bit for bit."""
    va, vb = (m.ravel() for m in np.meshgrid(_SPECIALS[da].astype(da), _SPECIALS[db].astype(db)))
    a, b = gc.vector("a", va.size, da), gc.vector("b", vb.size, db)
    nodes = []
    for build in _BITWISE_BINARY.values():
        try:
            nodes.append(build(a, b))
        except TypeError:  # arithmetic on two booleans is refused
            pass
    for build in (operator.neg, gc.abs, gc.sign, gc.sqrt):
        try:
            nodes.append(build(a))
        except TypeError:  # no negative or sign of booleans
            pass
    nodes += [a.astype(dtype) for dtype in _SPECIALS]
    graph = gc.Graph([a, b], nodes)
    with np.errstate(all="ignore"):
        want = outputs(graph, va, vb)
    for got, expected in zip(gc.compile(graph)(va, vb), want):
        assert_bitwise_equal(got, expected)
