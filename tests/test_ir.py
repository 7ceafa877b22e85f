"""The IR: building nodes, types, indexing and shape ops, the printer, verify, hashing, errors.

- Nodes are immutable, compared by identity, typed when built; dtype promotion follows numpy 2
  (Python numbers are weak, numpy arrays and scalars strong), checked against numpy itself.
- Basic indexing (ints, slices, negative steps, None, Ellipsis) and reshape / transpose /
  broadcast_to / concatenate / stack evaluate exactly like numpy.
- Golden text of the printer; ``Graph.verify`` accepts valid graphs and names what is broken
  in invalid ones; ``structural_hash`` is stable across processes and sensitive to what matters
  (-0.0 vs 0.0 differ, nan equals nan); ``to_networkx``.
- A 100,000-node chain builds, differentiates, optimizes and evaluates without recursion.
- Every bad input raises at build time (or at the call) with a message naming the op and the
  shapes or dtypes involved.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import os
import subprocess
import sys
import textwrap

import networkx as nx
import numpy as np
import pytest
from helpers import outputs

import graphc as gc
from graphc import serialize
from graphc.node import NO_ATTRS, Node

# -- building nodes ---------------------------------------------------------------------------


def test_nodes_are_typed_immutable_and_compared_by_identity():
    x, y = gc.vector("x", 3), gc.vector("y", 3)
    a, b = x + y, x + y
    assert a is not b and a.op == b.op == "add" and a.args == (x, y)
    assert (a.shape, a.dtype, a.ndim, a.size) == ((3,), "float64", 1, 3)
    assert a.type_str == "f64[3]" and x.name == "x"
    eq = a == b
    assert isinstance(eq, Node) and eq.op == "eq" and eq.dtype == "bool"  # builds, not compares
    assert len({a, b}) == 2  # hashable by identity
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.op = "mul"  # type: ignore[misc]
    with pytest.raises(TypeError, match="immutable"):
        x.attrs["name"] = "z"
    with pytest.raises(TypeError, match="where"):
        bool(a > 0)
    with pytest.raises(TypeError, match="iterate"):
        iter(x)
    assert len(x) == 3


def test_constants_copy_their_payload_and_key_by_bits():
    array = np.array([1.0, 2.0])
    c = gc.constant(array)
    array[0] = 99.0
    np.testing.assert_array_equal(c.value, [1.0, 2.0])
    assert not c.value.flags.writeable
    assert gc.constant(0.0).attrs == gc.constant(0.0).attrs
    assert gc.constant(0.0).attrs != gc.constant(-0.0).attrs
    assert gc.constant(np.nan).attrs == gc.constant(np.nan).attrs
    assert gc.constant([1, 2]).dtype == "int64" and gc.constant(True).dtype == "bool"


def test_inputs_accept_dtype_spellings():
    assert gc.scalar("a", np.float32).dtype == "float32"
    assert gc.vector("b", 2, "f32").dtype == "float32"
    assert gc.tensor("c", (2, 3), "int").dtype == "int64"
    assert gc.matrix("d", 2, 3).shape == (2, 3) == gc.matrix("e", (2, 3)).shape
    assert gc.tensor("f", 4, bool).shape == (4,)


# -- dtype promotion: numpy 2 (NEP 50) --------------------------------------------------------

DTYPES = ["float64", "float32", "int64", "bool"]


@pytest.mark.parametrize("left", DTYPES)
@pytest.mark.parametrize("right", DTYPES)
@pytest.mark.parametrize("op", ["add", "mul", "div", "maximum"])
def test_promotion_of_two_graph_values_matches_numpy(left, right, op):
    fn = {"add": np.add, "mul": np.multiply, "div": np.divide, "maximum": np.maximum}[op]
    build = {
        "add": lambda a, b: a + b,
        "mul": lambda a, b: a * b,
        "div": lambda a, b: a / b,
        "maximum": gc.maximum,
    }[op]
    a, b = gc.vector("a", 2, left), gc.vector("b", 2, right)
    va, vb = np.array([1, 2]).astype(left), np.array([3, 1]).astype(right)
    if left == right == "bool":  # graphc refuses arithmetic on booleans (numpy has logical or)
        with pytest.raises(TypeError, match=rf"{op}: .*bool, bool"):
            build(a, b)
        return
    node = build(a, b)
    want = fn(va, vb)
    assert node.dtype == want.dtype
    (got,) = outputs(gc.Graph([a, b], [node]), va, vb)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


WEAK_AND_STRONG = [
    2.5,
    2,
    True,
    np.float64(2.5),
    np.float32(2.5),
    np.int64(2),
    np.array(2.5),
    np.array(2.5, np.float32),
    np.array([2, 3]),
]


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
@pytest.mark.parametrize("value", WEAK_AND_STRONG, ids=repr)
def test_python_numbers_are_weak_numpy_values_strong(dtype, value):
    x = gc.vector("x", 2, dtype)
    vx = np.array([1, 4]).astype(dtype)
    for build, fn in [(lambda a, b: a * b, np.multiply), (lambda a, b: b - a, np.subtract)]:
        node = build(x, value)
        want = fn(vx, value) if build(1, 2) == 2 else fn(value, vx)
        assert node.dtype == want.dtype, (dtype, value)
        (got,) = outputs(gc.Graph([x], [node]), vx)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_float_functions_and_reductions_pick_numpy_dtypes():
    k, b, f = gc.vector("k", 3, "int64"), gc.vector("b", 3, "bool"), gc.vector("f", 3, "float32")
    assert gc.exp(k).dtype == "float64" and gc.exp(f).dtype == "float32"
    assert gc.sum(b).dtype == "int64" and gc.max(b).dtype == "bool"
    assert gc.sum(k).dtype == "int64" and gc.mean(k).dtype == "float64"
    assert (k / 2).dtype == "float64" and (k // 1 if False else k * 2).dtype == "int64"
    assert (f @ f).dtype == "float32" and (f @ k.astype("float64")).dtype == "float64"
    assert (k < f).dtype == "bool"
    assert (k**2).dtype == "float64"  # documented: pow always has a float result


# -- indexing and shape ops vs numpy ----------------------------------------------------------

KEYS = [
    1,
    -1,
    (0, 2),
    (-3, -1, 4),
    slice(None),
    slice(1, None),
    slice(None, None, -1),
    slice(-1, 0, -2),
    slice(10, -10, -3),
    slice(5, 1),  # empty
    (slice(None), 2),
    (Ellipsis, 1),
    (1, Ellipsis),
    (Ellipsis,),
    None,
    (None, 1, None),
    (slice(None), None, slice(None, None, -2)),
    (Ellipsis, None),
    (1, slice(1, 3), slice(None, None, 2)),
    (slice(2, None, -1), Ellipsis, slice(-2, None)),
    (np.int64(2), 0, -1),
]


@pytest.mark.parametrize("key", KEYS, ids=repr)
def test_indexing_matches_numpy(key):
    array = np.arange(60.0).reshape(3, 4, 5)
    x = gc.tensor("x", (3, 4, 5))
    node = x[key]
    want = array[key]
    assert node.shape == want.shape
    (got,) = outputs(gc.Graph([x], [node]), array)
    np.testing.assert_array_equal(got, want)


SHAPE_OPS = [
    (lambda x: x.reshape(6, 10), lambda a: a.reshape(6, 10)),
    (lambda x: x.reshape(-1), lambda a: a.reshape(-1)),
    (lambda x: x.reshape((5, -1, 3)), lambda a: a.reshape((5, -1, 3))),
    (lambda x: x.T, lambda a: a.T),
    (lambda x: x.transpose(2, 0, 1), lambda a: a.transpose(2, 0, 1)),
    (lambda x: gc.transpose(x, (-1, 0, 1)), lambda a: np.transpose(a, (-1, 0, 1))),
    (
        lambda x: gc.broadcast_to(x[:, :1], (2, 3, 4, 5)),
        lambda a: np.broadcast_to(a[:, :1], (2, 3, 4, 5)),
    ),
    (lambda x: gc.concatenate([x, x[:1]], axis=0), lambda a: np.concatenate([a, a[:1]], axis=0)),
    (
        lambda x: gc.concatenate([x[..., :2], x], axis=-1),
        lambda a: np.concatenate([a[..., :2], a], -1),
    ),
    (lambda x: gc.stack([x, -x]), lambda a: np.stack([a, -a])),
    (lambda x: gc.stack([x, x, x], axis=2), lambda a: np.stack([a, a, a], axis=2)),
    (lambda x: gc.stack([x[0, 0, 0], x[1, 1, 1]]), lambda a: np.stack([a[0, 0, 0], a[1, 1, 1]])),
    (lambda x: x.sum(axis=(0, 2), keepdims=True), lambda a: a.sum(axis=(0, 2), keepdims=True)),
    (lambda x: x.mean(-1), lambda a: a.mean(-1)),
    (lambda x: gc.softmax(x[0]), lambda a: np.exp(a[0]) / np.exp(a[0]).sum(-1, keepdims=True)),
]


@pytest.mark.parametrize("build, ref", SHAPE_OPS)
def test_shape_ops_match_numpy(build, ref):
    array = np.random.default_rng(0).standard_normal((3, 4, 5))
    x = gc.tensor("x", (3, 4, 5))
    node = build(x)
    want = ref(array)
    assert node.shape == want.shape
    (got,) = outputs(gc.Graph([x], [node]), array)
    np.testing.assert_allclose(got, want, rtol=1e-15)


def test_identity_shape_ops_build_no_node():
    x = gc.matrix("x", 2, 3)
    assert x.reshape(2, 3) is x and gc.broadcast_to(x, (2, 3)) is x and x[...] is x
    assert x.transpose(0, 1) is x and gc.sum(x, ()) is x and x.astype("float64") is x


# -- the printer: golden text -----------------------------------------------------------------


def test_printer_golden_lecture_example():
    x1, x2 = gc.scalar("x1"), gc.scalar("x2")
    f = (x1 + x2) * gc.log(x1 + x2)
    graph = gc.Graph([x1, x2], [f, *gc.grad(f, [x1, x2])])
    assert str(graph) == textwrap.dedent("""\
        graph(%x1: f64[], %x2: f64[]):
          %0: f64[] = add %x1 %x2
          %1: f64[] = add %x1 %x2
          %2: f64[] = log %1
          %3: f64[] = mul %0 %2
          %4: f64[] = mul 1.0 %0
          %5: f64[] = div %4 %1
          %6: f64[] = mul 1.0 %2
          %7: f64[] = add %5 %6
          %8: f64[] = add %5 %6
          return %3, %7, %8""")


def test_printer_golden_attributes_constants_and_dtypes():
    x, m, s = gc.vector("x", 3), gc.matrix("m", 2, 3), gc.scalar("s", "float32")
    y = gc.sum(m * x, axis=1, keepdims=True)
    graph = gc.Graph(
        [x, m, s],
        [
            gc.exp(y).T,
            s * 2.0,
            m[1, ::-1],
            gc.constant(np.array([1.0, -0.0])),
            x.astype("float32") + s,
            gc.where(x > 0.5, x, -x),
        ],
    )
    assert str(graph) == textwrap.dedent("""\
        graph(%x: f64[3], %m: f64[2,3], %s: f32[]):
          %0: f64[2,3] = mul %m %x
          %1: f64[2,1] = sum[axes=(1,) keepdims=True] %0
          %2: f64[2,1] = exp %1
          %3: f64[1,2] = transpose[perm=(1, 0)] %2
          %4: f32[] = mul %s 2.0:f32
          %5: f64[1,3] = slice[spec=((1, 1, 1), (2, -1, 3))] %m
          %6: f64[3] = reshape[shape=(3,)] %5
          %7: f64[2] = const [ 1., -0.]
          %8: f32[3] = cast[dtype='float32'] %x
          %9: f32[3] = add %8 %s
          %10: bool[3] = gt %x 0.5
          %11: f64[3] = neg %x
          %12: f64[3] = where %10 %x %11
          return %3, %4, %6, %7, %9, %12""")


def test_printer_golden_no_inputs_and_unused_inputs():
    unused = gc.scalar("unused")
    graph = gc.Graph([unused], gc.constant(2.0) + 1.0)
    assert str(graph) == "graph(%unused: f64[]):\n  %0: f64[] = add 2.0 1.0\n  return %0"
    assert str(gc.Graph([], [gc.constant(-0.0)])) == "graph():\n  return -0.0"


def test_printer_is_deterministic_across_processes():
    code = textwrap.dedent("""\
        import graphc as gc
        x1, x2 = gc.scalar("x1"), gc.scalar("x2")
        f = (x1 + x2) * gc.log(x1 + x2) + gc.constant(float("nan"))
        g = gc.optimize(gc.Graph([x1, x2], [f, *gc.grad(f, [x1, x2])]))
        print(g)
        print(g.structural_hash)
    """)
    runs = [
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    ]
    assert runs[0] == runs[1] and "graph(%x1: f64[], %x2: f64[])" in runs[0]


# -- verify -----------------------------------------------------------------------------------


def _node(op, args, shape, dtype="float64", attrs=NO_ATTRS):
    return Node(op, tuple(args), attrs, shape, dtype)


def test_verify_accepts_valid_graphs_and_returns_them():
    x = gc.vector("x", 3)
    graph = gc.Graph([x], [gc.sum(gc.exp(x)), x])
    assert graph.verify() is graph
    assert gc.optimize(graph).verify()


def broken_graphs():
    x, z = gc.vector("x", 3), gc.vector("z", 3)
    y = x * 2.0
    w = y + 1.0
    two, one = y.args[1], w.args[1]
    return {
        "before it is defined": gc.Graph.from_nodes([x], [w], [x, two, one, w, y]),
        "records type": gc.Graph.from_nodes([x], [b := _node("add", (x, x), (4,))], [x, b]),
        "records type f32": gc.Graph.from_nodes(
            [x], [c := _node("exp", (x,), (3,), "float32")], [x, c]
        ),
        "unknown op": gc.Graph.from_nodes([x], [d := _node("frobnicate", (x,), (3,))], [x, d]),
        "arguments": gc.Graph.from_nodes([x], [e := _node("add", (x,), (3,))], [x, e]),
        "type rule": gc.Graph.from_nodes(
            [x], [f := _node("add", (x, gc.vector("v", 4)), (3,))], [x, f.args[1], f]
        ),
        "not in the node list": gc.Graph.from_nodes([x], [y], [x, two]),
        "appears twice": gc.Graph.from_nodes([x], [y], [x, two, y, y]),
        "open the node list": gc.Graph.from_nodes([x, z], [y], [x, two, y, z]),
        "named 'x'": gc.Graph.from_nodes([x, x2 := gc.vector("x", 3)], [x], [x, x2]),
        "not among the graph's inputs": gc.Graph.from_nodes([x], [u := x + z], [x, z, u]),
        "open the node list, in order": gc.Graph.from_nodes([x, z], [x], [x]),
    }


@pytest.mark.parametrize("what", list(broken_graphs()))
def test_verify_names_what_is_broken(what):
    graph = broken_graphs()[what]
    with pytest.raises(gc.GraphError, match=what.removesuffix(" f32")):
        graph.verify()


# -- structural hash --------------------------------------------------------------------------


def _hash(build) -> str:
    x = gc.vector("x", 3)
    return gc.Graph([x], [build(x)]).structural_hash


def test_structural_hash_is_stable_for_equal_structure():
    def build(x):
        return gc.sum(gc.exp(x) * np.array([1.0, 2.0, 3.0])) + 0.5

    assert _hash(build) == _hash(build)
    assert _hash(lambda x: x + np.nan) == _hash(lambda x: x + np.nan)  # nan equals nan
    assert len(_hash(build)) == 64


@pytest.mark.parametrize(
    "left, right",
    [
        (lambda x: x + 0.0, lambda x: x + -0.0),
        (lambda x: x + 1.0, lambda x: x + 1.0000000000000002),
        (lambda x: x * 2.0, lambda x: x * np.float32(2.0)),
        (lambda x: x - x[::-1], lambda x: x[::-1] - x),
        (lambda x: x.sum(), lambda x: x.sum(keepdims=True).reshape(())),
        (lambda x: x * np.array([1.0, 2.0, 3.0]), lambda x: x * np.array([1.0, 2.0, 4.0])),
        (lambda x: gc.exp(x), lambda x: gc.expm1(x)),
        (lambda x: gc.max(x), lambda x: gc.min(x)),
    ],
)
def test_structural_hash_tells_different_graphs_apart(left, right):
    assert _hash(left) != _hash(right)


def test_structural_hash_depends_on_names_types_and_outputs():
    a, b = gc.vector("a", 3), gc.vector("b", 3)
    base = gc.Graph([a], [a * 2.0]).structural_hash
    assert gc.Graph([b], [b * 2.0]).structural_hash != base
    assert gc.Graph([a], [a * 2.0, a]).structural_hash != base
    assert gc.Graph([a], a * 2.0).structural_hash != base  # single output vs list of one
    f = gc.vector("a", 3, "float32")
    assert gc.Graph([f], [f * 2.0]).structural_hash != base


# -- networkx ---------------------------------------------------------------------------------


def test_to_networkx_mirrors_the_graph():
    x1, x2 = gc.scalar("x1"), gc.scalar("x2")
    f = (x1 + x2) * gc.log(x1 + x2)
    graph = gc.Graph([x1, x2], [f, *gc.grad(f, [x1, x2])])
    g = graph.to_networkx()
    assert isinstance(g, nx.DiGraph) and nx.is_directed_acyclic_graph(g)
    assert g.number_of_nodes() == len(graph.nodes)
    assert g.number_of_edges() == sum(len(set(map(id, n.args))) for n in graph.nodes)
    assert g.nodes["%x1"]["op"] == "input" and g.nodes["%x1"]["shape"] == ()
    assert sorted(nx.topological_sort(g))  # orderable
    ops = sorted(d["op"] for _, d in g.nodes(data=True))
    assert ops == sorted(n.op for n in graph.nodes)
    assert sum(d["output"] for _, d in g.nodes(data=True)) == 3  # f and two gradient nodes
    assert {d["position"] for *_, d in g.edges(data=True)} == {0, 1}
    assert set(g.predecessors("%0")) == {"%x1", "%x2"}


# -- deep graphs ------------------------------------------------------------------------------


def test_deep_chains_need_no_recursion():
    # Nothing may recurse along a chain (a 100,000-node chain must build, differentiate,
    # optimize and evaluate). Proved on a 10,000-node chain with the recursion limit a couple
    # of hundred frames above this test: any walk that recursed would fail, in a tenth of the
    # time a 100,000-node chain takes.
    x = gc.scalar("x")
    y = x
    for _ in range(3_334):
        y = y * 0.5 + x  # 3 nodes per step: the constant, mul, add
    with _shallow_stack(200):
        assert len(gc.Graph([x], [y]).nodes) >= 10_000
        graph = gc.Graph([x], [y, gc.grad(y, x)])
        opt = gc.optimize(graph)
        assert len(opt.nodes) < len(graph.nodes)  # the 0.5 constants merge
        opt.verify()
        assert len(opt.structural_hash) == 64
        value, slope = gc.evaluate(opt, 0.3)
        text = str(opt)
        copy = serialize.from_dict(serialize.to_dict(opt))
    assert value == pytest.approx(0.6, rel=1e-12) and slope == pytest.approx(2.0, rel=1e-12)
    assert str(copy) == text


@contextlib.contextmanager
def _shallow_stack(frames: int):
    """The recursion limit set ``frames`` above the caller's depth, for the block."""
    depth = len(inspect.stack(0))
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + frames)
    try:
        yield
    finally:
        sys.setrecursionlimit(before)


# -- errors: at build time, naming the op and both shapes / dtypes ----------------------------


def _raises(exc, *fragments):
    """pytest.raises matching every fragment (in any order)."""
    pattern = "".join(f"(?=[\\s\\S]*{_escape(f)})" for f in fragments)
    return pytest.raises(exc, match=pattern)


def _escape(text: str) -> str:
    import re

    return re.escape(text)


def test_error_mismatched_broadcast():
    with _raises(ValueError, "add", "(3,)", "(4,)"):
        gc.vector("a", 3) + gc.vector("b", 4)
    with _raises(ValueError, "mul", "(2, 3)", "(2,)"):
        gc.matrix("m", 2, 3) * gc.vector("v", 2)
    with _raises(ValueError, "where", "(2,)", "(3,)"):
        gc.where(gc.vector("c", 2, "bool"), gc.vector("a", 3), 0.0)


def test_error_matmul_misalignment():
    with _raises(ValueError, "matmul", "(2, 3)", "(4,)"):
        gc.matrix("m", 2, 3) @ gc.vector("v", 4)
    with _raises(ValueError, "matmul", "(2, 3)", "(2, 3)"):
        gc.matrix("m", 2, 3) @ gc.matrix("n", 2, 3)
    with _raises(ValueError, "matmul", "()", "(3,)"):
        gc.scalar("s") @ gc.vector("v", 3)


def test_error_reshape_size():
    with _raises(ValueError, "reshape", "(2, 3)", "(4,)"):
        gc.matrix("m", 2, 3).reshape(4)
    with _raises(ValueError, "reshape", "(2, 3)", "(4, -1)"):
        gc.matrix("m", 2, 3).reshape(4, -1)
    with _raises(ValueError, "broadcast_to", "(2, 3)", "(3, 3)"):
        gc.broadcast_to(gc.matrix("m", 2, 3), (3, 3))


def test_error_bad_axis():
    m = gc.matrix("m", 2, 3)
    with _raises(ValueError, "sum", "axis 2", "(2, 3)"):
        gc.sum(m, axis=2)
    with _raises(ValueError, "max", "axis -3", "(2, 3)"):
        m.max(axis=-3)
    with _raises(ValueError, "transpose", "(2, 3)"):
        m.transpose(0, 0)
    with _raises(ValueError, "concatenate", "(2, 3)", "(3,)"):
        gc.concatenate([m, gc.vector("v", 3)])
    with _raises(ValueError, "stack", "(2, 3)", "(3,)"):
        gc.stack([m, gc.vector("v", 3)])
    with _raises(ValueError, "mean", "repeated axis"):
        gc.mean(m, axis=(1, -1))


def test_error_bool_arithmetic():
    b, c = gc.vector("b", 3, "bool"), gc.vector("c", 3, "bool")
    for build, op in [(lambda: b + c, "add"), (lambda: b * c, "mul"), (lambda: b / c, "div")]:
        with _raises(TypeError, op, "bool, bool"):
            build()
    with _raises(TypeError, "neg", "bool"):
        _ = -b
    with _raises(TypeError, "sign", "bool"):
        gc.sign(b)
    with _raises(TypeError, "matmul", "bool", "float64"):
        b @ gc.vector("x", 3)
    with _raises(TypeError, "and", "float64", "bool"):
        gc.vector("x", 3) & b
    with _raises(TypeError, "where", "float64"):
        gc.where(gc.vector("x", 3), 1.0, 0.0)


def test_error_bad_index():
    x = gc.matrix("x", 2, 3)
    with _raises(IndexError, "index 3", "axis 1", "size 3"):
        x[0, 3]
    with _raises(IndexError, "index -3", "axis 0", "size 2"):
        x[-3]
    with _raises(IndexError, "too many indices", "(2, 3)"):
        x[0, 0, 0]
    with _raises(IndexError, "ellipsis"):
        x[..., ...]
    with _raises(IndexError, "index", "integer type", "float64"):  # x[[0, 1]] is a gather
        x[[0.5, 1.0]]
    with _raises(TypeError, "index", "float"):
        x[0.5]


def test_error_grad_of_non_scalar():
    x = gc.vector("x", 3)
    with _raises(ValueError, "grad", "scalar", "(3,)"):
        gc.grad(x * 2.0, x)
    with _raises(TypeError, "grad", "int64"):
        gc.grad(gc.sum(gc.vector("k", 3, "int64")), x)
    with _raises(ValueError, "vjp", "(4,)", "(3,)"):
        gc.vjp(x * 2.0, x, np.ones(4))
    with _raises(ValueError, "jvp", "(2,)", "(3,)"):
        gc.jvp(x * 2.0, x, np.ones(2))


def test_error_evaluate_arguments():
    x, k = gc.vector("x", 3), gc.scalar("k", "int64")
    graph = gc.Graph([x, k], [gc.sum(x) * k])
    with _raises(TypeError, "expected 2 arguments, got 3", "(x, k)"):
        gc.evaluate(graph, np.ones(3), 1, 2)
    with _raises(TypeError, "missing", "'k'"):
        gc.evaluate(graph, np.ones(3))
    with _raises(ValueError, "'x'", "(3,)", "(4,)"):
        gc.evaluate(graph, np.ones(4), 1)
    with _raises(TypeError, "'k'", "int64", "float64"):
        gc.evaluate(graph, np.ones(3), 1.5)
    with _raises(TypeError, "'y'", "float32", "float64"):
        y = gc.vector("y", 3, "float32")
        gc.evaluate(gc.Graph([y], [y]), np.ones(3))
    with _raises(TypeError, "unexpected argument 'z'", "(x, k)"):
        gc.evaluate(graph, np.ones(3), 1, z=2)
    with _raises(TypeError, "'x'", "given twice"):
        gc.evaluate(graph, np.ones(3), 1, x=np.ones(3))
    with _raises(TypeError, "'x'", "str"):
        gc.evaluate(graph, "abc", 1)
    assert gc.evaluate(graph, k=2, x=np.ones(3)) == (6.0,)
    assert gc.evaluate(graph, [1.0, 2.0, 3.0], np.int64(1)) == (6.0,)


def test_error_graph_inputs():
    x, y = gc.vector("x", 3), gc.vector("y", 3)
    with _raises(gc.GraphError, "'y'", "not among the graph's inputs", "'x'"):
        gc.Graph([x], [x + y])
    with _raises(gc.GraphError, "two graph inputs are named 'x'"):
        gc.Graph([x, gc.vector("x", 3)], [x])
    with _raises(gc.GraphError, "input nodes", "add"):
        gc.Graph([x + 1.0], [x])
    with _raises(TypeError, "nested list"):
        gc.Graph([x], [x, [x]])
    with _raises(ValueError, "identifiers", "'1x'"):
        gc.vector("1x", 3)
