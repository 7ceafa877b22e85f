"""Regressions for silent wrong answers and unsafe behaviour of compiled code (issue 8).

Each test failed before its fix: empty reductions read out of bounds, int64 arguments wrapped,
input names were pasted into generated source, ``fn.batch`` converted what ``fn()`` refused.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.node import Attrs, Node


def test_reductions_over_zero_size_inputs_give_the_identity():
    x, s = gc.vector("x", 0), gc.scalar("s")
    y = gc.matrix("y", (3, 0))
    graph = gc.Graph(
        [x, y, s],
        [
            gc.sum(x) + s,
            gc.prod(x) * s,
            gc.mean(x) + s,
            gc.sum(y, axis=1),
            gc.prod(y, axis=1),
            gc.sum(y, axis=0),
            gc.sum(y),
            x @ x + s,
            gc.sum(y @ gc.zeros((0, 2)), axis=0),
        ],
    )
    args = (np.zeros(0), np.zeros((3, 0)), 1.5)
    want = gc.evaluate(graph, *args)
    got = gc.compile(graph, cache=False)(*args)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    assert got[0] == 1.5 and got[1] == 1.5 and np.isnan(got[2])


def test_int64_arguments_out_of_range_raise_in_every_call_path():
    k = gc.scalar("k", "int64")
    graph = gc.Graph([k], k * 2)
    fn = gc.compile(graph, cache=False)
    assert fn(2**62 - 1) == 2**63 - 2
    assert fn(-(2**63)) == 0  # wraps like numpy's int64 arithmetic: the argument itself fits
    for bad in (2**63, 2**70, -(2**63) - 1):
        with pytest.raises(OverflowError, match="int64"):
            fn(bad)
        with pytest.raises(OverflowError, match="int64"):
            gc.evaluate(graph, bad)
    with pytest.raises(OverflowError, match="int64"):
        fn(k=2**64)


@pytest.mark.parametrize("name", ["type", "gc_native", "gc_kw", "gc_self", "gc_arg1", "float"])
def test_input_names_shadow_nothing_in_the_call_path(name):
    x, y = gc.scalar(name), gc.vector("y", 3)
    fn = gc.compile(gc.Graph([x, y], [x * y, gc.sum(y) * x]), cache=False)
    want = (np.array([2.0, 4.0, 6.0]), 12.0)
    for got in (fn(2.0, np.array([1.0, 2.0, 3.0])), fn(**{name: 2.0, "y": np.arange(1.0, 4.0)})):
        np.testing.assert_array_equal(got[0], want[0])
        assert got[1] == want[1]


def test_a_name_that_is_code_is_never_executed(capsys):
    # Built around the DSL's validation, as a hand-made or corrupted graph could be: the
    # generated call path must not paste the name into source.
    name = "x, y=[print('INJECTED')][0]"
    x = Node("input", (), Attrs(name=name, shape=(), dtype="float64"), (), "float64")
    fn = gc.compile(gc.Graph([x], x * 3.0), cache=False)
    assert fn(2.0) == 6.0
    assert fn(**{name: 1.0}) == 3.0
    assert "INJECTED" not in capsys.readouterr().out
    assert name not in fn._call_source


def test_missing_and_extra_arguments_name_the_inputs():
    a, b = gc.scalar("a"), gc.scalar("b")
    fn = gc.compile(gc.Graph([a, b], a - b), cache=False)
    assert fn(5.0, 3.0) == fn(b=3.0, a=5.0) == fn(5.0, b=3.0) == 2.0
    with pytest.raises(TypeError, match="missing argument.*'b'"):
        fn(1.0)
    with pytest.raises(TypeError, match="missing argument.*'a'"):
        fn(b=1.0)
    with pytest.raises(TypeError, match="given twice"):
        fn(1.0, a=2.0)
    with pytest.raises(TypeError, match="unexpected argument 'c'"):
        fn(1.0, 2.0, c=3.0)
    with pytest.raises(TypeError):
        fn(1.0, 2.0, 3.0)


def test_batch_follows_the_call_rule_row_by_row():
    v = gc.tensor("v", (2,), "float32")
    s = gc.scalar("s")
    fn = gc.compile(gc.Graph([v, s], [gc.sum(v) * s]), cache=False)
    rows = np.ones((4, 2), dtype=np.float32)
    np.testing.assert_array_equal(fn.batch(rows, 2.0)[0], np.full(4, 4.0, np.float32))
    # fn() refuses float64 data for a float32 tensor, and lists: so does batch.
    with pytest.raises(TypeError, match="float32"):
        fn(np.ones(2), 2.0)
    with pytest.raises(TypeError, match="float32"):
        fn.batch(np.ones((4, 2)), 2.0)
    with pytest.raises(TypeError, match="numpy array"):
        fn.batch([[1.0, 1.0]] * 4, 2.0)
    # A scalar input takes numbers, and rows of any dtype that converts like a number does.
    np.testing.assert_array_equal(fn.batch(rows, np.arange(4))[0], [0.0, 2.0, 4.0, 6.0])
    with pytest.raises(TypeError, match="numpy array"):
        fn.batch(rows, [1.0, 2.0, 3.0, 4.0])


@pytest.mark.parametrize("threads", [0, -1, 1.5, True])
def test_batch_thread_counts_must_be_positive(threads):
    x = gc.scalar("x")
    fn = gc.compile(gc.Graph([x], x + 1.0), cache=False)
    with pytest.raises(ValueError, match="threads"):
        fn.batch(np.ones(3), threads=threads)
    np.testing.assert_array_equal(fn.batch(np.ones(3), threads=None), [2.0, 2.0, 2.0])


def test_a_cache_entry_under_another_key_is_not_run(tmp_path):
    x = gc.scalar("x")
    double = gc.Graph([x], x * 2.0)
    square = gc.Graph([x], x * x)
    gc.compile(double, cache=str(tmp_path))
    (entry_double,) = tmp_path.glob("*.gcc")
    gc.compile(square, cache=str(tmp_path))
    (entry_square,) = set(tmp_path.glob("*.gcc")) - {entry_double}
    entry_square.write_bytes(entry_double.read_bytes())  # a valid entry, under the wrong name
    fn = gc.compile(square, cache=str(tmp_path))
    assert fn.stats["cache"] == "miss" and fn(3.0) == 9.0
    assert gc.compile(square, cache=str(tmp_path)).stats["cache"] == "hit"


def test_boolean_order_and_unsigned_64_bit_arguments():
    a, b = gc.tensor("a", (4,), "bool"), gc.tensor("b", (4,), "bool")
    graph = gc.Graph([a, b], [a < b, a <= b, a > b, a >= b])
    x = np.array([False, False, True, True])
    y = np.array([False, True, False, True])
    for got, want in zip(gc.compile(graph, cache=False)(x, y), [x < y, x <= y, x > y, x >= y]):
        np.testing.assert_array_equal(got, want)
    k = gc.scalar("k", "int64")
    fn = gc.compile(gc.Graph([k], k + 1), cache=False)
    assert fn(np.uint64(2**63 - 2)) == 2**63 - 1
    with pytest.raises(OverflowError, match="int64"):
        fn(np.uint64(2**63))
    with pytest.raises(OverflowError, match="int64"):
        gc.evaluate(gc.Graph([k], k + 1), np.uint64(2**64 - 1))


def test_networkx_keys_of_constants_never_collide_with_input_names():
    c2, x = gc.scalar("c2"), gc.scalar("x")
    assert len(gc.Graph([c2, x], [c2 * 2.0 + x]).to_networkx()) == 5


def test_small_scalar_graphs_return_python_scalars_built_natively():
    # Several scalar outputs of a small straight-line graph: the native entry builds the
    # result (floats, ints, bools, the tuple) while holding the GIL.
    x, k = gc.scalar("x"), gc.scalar("k", "int64")
    graph = gc.Graph([x, k], [x * 2.0, k + 1, x > 1.0, x])
    fn = gc.compile(graph, cache=False)
    assert fn.stats["straight_line"] and fn._abi.boxed and fn._abi.holds_gil
    got = fn(1.5, 41)
    assert got == (3.0, 42, True, 1.5)
    assert [type(v) for v in got] == [float, int, bool, float]
    assert gc.compile(gc.Graph([k], k * 3), cache=False)(5) == 15  # one output, unboxed tuple
    single = gc.compile(gc.Graph([x], x > 0.0), cache=False)
    assert single(1.0) is True and single(-1.0) is False
    # Graphs with loop kernels release the GIL while they run.
    v = gc.vector("v", 100)
    assert not gc.compile(gc.Graph([v], [gc.sum(v), gc.max(v)]), cache=False)._abi.holds_gil


def test_strided_views_are_accepted_and_copied():
    x = gc.matrix("x", (3, 2))
    fn = gc.compile(gc.Graph([x], [x * 2.0, gc.sum(x, axis=0)]), cache=False)
    base = np.arange(12.0).reshape(3, 4)
    view = base[:, 1:3]
    for got, want in zip(fn(view), gc.evaluate(fn.graph, view)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(base, np.arange(12.0).reshape(3, 4))  # never written
