"""The call path of graphs with array outputs (graphc.jit.abi, CallABI.allocates): the native
entry allocates the output arrays through numpy's C API, runs the body with the GIL released,
boxes the scalar outputs and builds the result tuple.

Checked here: values and types against the evaluator for mixes of outputs (dtypes, 0-d vs 1-d,
several arrays, inputs passed through, one node twice), every returned array its own (distinct,
writable, owning, C-contiguous), the GIL released while large work runs, MemoryError when an
output cannot be allocated (without leaking what was allocated before), the code's ABI surviving
pickles and the disk cache, and code compiled without numpy's API (the fallback) still loading
and running right when a process that has it finds it in the cache.
"""

from __future__ import annotations

import pickle
import sys
import threading
import time

import numpy as np
import pytest

import graphc as gc
from graphc.jit import abi, codegen

pytestmark = pytest.mark.skipif(not abi.NUMPY_API, reason="numpy's C API is not bound here")

RNG = np.random.default_rng(7)


def _check_outputs(fn, args, graph=None):
    """Compiled == evaluated (values, dtypes, shapes and Python types), and every returned array
    is its own: no memory shared with another output or an input, writable, owning its data."""
    got = fn(*args)
    want = gc.evaluate(graph or fn.graph, *args)
    if fn.graph.single_output:
        got, want = (got,), (want,)
    assert len(got) == len(want)
    for g, w, node in zip(got, want, fn.graph.outputs):
        if node.shape == ():
            assert type(g) is type(w) and (g == w or (np.isnan(g) and np.isnan(w))), (g, w)
            continue
        assert type(g) is np.ndarray and g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)
        assert g.flags.owndata and g.flags.writeable and g.flags.c_contiguous
    arrays = [g for g in got if isinstance(g, np.ndarray)]
    inputs = [a for a in args if isinstance(a, np.ndarray)]
    for i, a in enumerate(arrays):
        assert not any(np.shares_memory(a, b) for b in arrays[i + 1 :] + inputs)
    return got


def test_gradient_call_allocates_natively_and_builds_the_tuple():
    x = gc.vector("x", 8)
    y = gc.sum(gc.sin(x) * x)
    fn = gc.compile(gc.Graph([x], [y, gc.grad(y, x)]), cache=False)
    assert fn._abi.allocates and fn._abi.holds_gil and fn._abi.releases_gil
    assert "gc_empty" not in fn._call_source  # Python allocates nothing
    value, grad = _check_outputs(fn, (RNG.standard_normal(8),))
    assert type(value) is float
    # Each call returns fresh arrays: writing one result never changes the next.
    grad[:] = 0.0
    assert not np.array_equal(fn(np.ones(8))[1], np.zeros(8))


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "bool"])
def test_array_outputs_of_every_dtype(dtype):
    x = gc.tensor("x", (2, 3), dtype)
    outputs = [x, gc.reshape(x, (6,)), gc.transpose(x)]
    if dtype != "bool":
        outputs += [x * x, gc.sum(x)]  # the scalar: float64/float32/int64 (float32: fallback)
    fn = gc.compile(gc.Graph([x], outputs), cache=False)
    value = (RNG.standard_normal((2, 3)) * 4).astype(dtype)
    assert fn._abi.allocates == (dtype != "float32")
    _check_outputs(fn, (value,))


def test_scalar_and_one_element_outputs_and_mixed_scalars():
    x, s, k = gc.vector("x", 1), gc.scalar("s"), gc.scalar("k", "int64")
    graph = gc.Graph([x, s, k], [gc.sum(x), x * s, s > 0.0, k + 1, s, x, gc.reshape(x, ())])
    fn = gc.compile(graph, cache=False)
    assert fn._abi.allocates
    got = _check_outputs(fn, (np.array([2.5]), -1.5, 41))
    assert [type(v) for v in got] == [float, np.ndarray, bool, int, float, np.ndarray, float]
    assert got[1].shape == (1,) and got[5].shape == (1,)


def test_empty_and_higher_rank_outputs():
    x, v, t = gc.tensor("x", (2, 0, 3)), gc.vector("v", 0), gc.tensor("t", (2, 3, 4))
    graph = gc.Graph([x, v, t], [x * 2.0, v, gc.sum(v), t * 3.0, gc.transpose(t)])
    fn = gc.compile(graph, cache=False)
    assert fn._abi.allocates
    _check_outputs(fn, (np.zeros((2, 0, 3)), np.zeros(0), RNG.standard_normal((2, 3, 4))))


def test_one_node_twice_and_aliasing_outputs_are_distinct_arrays():
    x = gc.vector("x", 5)
    y = gc.exp(x)
    fn = gc.compile(gc.Graph([x], [y, y, x, gc.reshape(y, (5, 1)), x]), cache=False)
    assert fn._abi.allocates
    got = _check_outputs(fn, (RNG.standard_normal(5),))
    got[0][:] = -1.0  # distinct arrays: the other copies keep their values
    np.testing.assert_array_equal(got[1], got[3].ravel())
    single = gc.compile(gc.Graph([x], x), cache=False)  # one array output, no tuple
    value = np.arange(5.0)
    out = single(value)
    assert single._abi.allocates and out is not value and not np.shares_memory(out, value)
    np.testing.assert_array_equal(out, value)


def test_bad_arguments_still_get_their_errors():
    x = gc.vector("x", 3)
    fn = gc.compile(gc.Graph([x], [gc.sum(x), x * 2.0]), cache=False)
    with pytest.raises(ValueError, match="shape"):
        fn(np.ones(4))
    with pytest.raises(TypeError, match="missing"):
        fn()
    with pytest.raises(TypeError, match="numpy array"):
        fn([1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="dtype int64"):
        fn(np.arange(3))
    np.testing.assert_array_equal(fn(x=np.arange(3.0))[1], [0.0, 2.0, 4.0])


def test_index_errors_are_raised_through_the_allocating_entry():
    x, i = gc.vector("x", 4), gc.tensor("i", (2,), "int64")
    fn = gc.compile(gc.Graph([x, i], [gc.take(x, i), gc.sum(x)]), cache=False)
    assert fn._abi.allocates
    np.testing.assert_array_equal(fn(np.arange(4.0), np.array([3, 0]))[0], [3.0, 0.0])
    with pytest.raises(IndexError, match="out of bounds"):
        fn(np.arange(4.0), np.array([4, 0]))


def test_the_gil_is_released_while_large_work_runs():
    m = gc.matrix("m", (500, 500))  # three matrix products: tens of milliseconds, 10 MB
    y = gc.sum(gc.sin(m @ m))
    fn = gc.compile(gc.Graph([m], [y, gc.grad(y, m)]), cache=False)
    assert fn._abi.allocates and fn._abi.releases_gil
    value = RNG.standard_normal((500, 500)) / 20
    start = time.perf_counter()
    fn(value)
    took = time.perf_counter() - start
    calls = max(2, int(0.4 / took))
    done = threading.Event()

    def work():
        for _ in range(calls):
            fn(value)
        done.set()

    # The main thread runs Python while the worker runs native calls: with the GIL held there
    # it would stall for a whole call at least; released, its pauses stay far below one call.
    worker = threading.Thread(target=work)
    last, longest = time.perf_counter(), 0.0
    worker.start()
    while not done.is_set():
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    worker.join()
    assert longest < 0.5 * took, (longest, took, calls)


def test_which_graphs_get_the_allocating_entry():
    x = gc.vector("x", 3)
    graph = gc.Graph([x], [gc.sum(x), x])
    new = abi.call_abi(graph, 0, 0, straight_line=False, numpy_api=True)
    assert new.allocates and new.boxed and new.holds_gil and new.releases_gil
    assert new.direct is None and not new.pack
    # Straight-line code (tens of nanoseconds) keeps the GIL, as it did before.
    assert not abi.call_abi(graph, 0, 0, straight_line=True, numpy_api=True).releases_gil
    old = abi.call_abi(graph, 0, 0, numpy_api=False)  # numpy's API not bound: as before
    assert not (old.allocates or old.boxed or old.holds_gil) and old.direct == 0
    # A float32 scalar (returned as np.float32, not boxed by the C API), or scalars only:
    # the caller-allocates path.
    float32 = gc.Graph([x], [gc.astype(gc.sum(x), "float32"), x])
    assert not abi.call_abi(float32, 0, 0, numpy_api=True).allocates
    scalars = gc.Graph([x], [gc.sum(x), gc.max(x)])
    assert not abi.call_abi(scalars, 0, 0, numpy_api=True).allocates


def test_an_output_too_large_to_allocate_raises_memory_error_and_leaks_nothing():
    s = gc.scalar("s")
    huge = gc.broadcast_to(s, (2**45,))  # 256 TiB
    fn = gc.compile(gc.Graph([s], [gc.broadcast_to(s, (1000,)), s * 2.0, huge]), cache=False)
    single = gc.compile(gc.Graph([s], huge), cache=False)
    assert fn._abi.allocates and single._abi.allocates
    with pytest.raises(MemoryError):
        single(1.0)
    with pytest.raises(MemoryError):
        fn(1.0)  # after the first array was allocated: the tuple and it are released
    # A leaked array per call would leave 200 array objects (Python's small-object blocks).
    failed, before = 0, sys.getallocatedblocks()
    for _ in range(200):
        try:
            fn(1.0)
        except MemoryError:
            failed += 1
    assert failed == 200 and sys.getallocatedblocks() - before < 100


def test_the_abi_survives_pickles_and_the_disk_cache(tmp_path):
    x = gc.vector("x", 6)
    y = gc.sum(gc.exp(x) * x)
    graph = gc.Graph([x], [y, gc.grad(y, x), x > 0.0])
    value = RNG.standard_normal(6)
    fresh = gc.compile(graph, cache=str(tmp_path))
    hit = gc.compile(graph, cache=str(tmp_path))
    loaded = pickle.loads(pickle.dumps(fresh))
    assert (fresh.stats["cache"], hit.stats["cache"], loaded.stats["cache"]) == (
        "miss",
        "hit",
        "pickle",
    )
    for fn in (fresh, hit, loaded):
        assert fn._abi.allocates
        _check_outputs(fn, (value,))


def test_code_compiled_without_numpy_api_loads_with_its_own_abi(tmp_path, monkeypatch):
    # A process where numpy's API is not bound compiles to the caller-allocates path; the same
    # cache entry loaded where it is bound must keep that ABI (read from the code's symbols).
    x = gc.vector("x", 6)
    y = gc.sum(gc.exp(x) * x)
    graph = gc.Graph([x], [y, gc.grad(y, x)])
    value = RNG.standard_normal(6)
    with monkeypatch.context() as patch:
        patch.setattr(codegen, "NUMPY_API", False)
        old = gc.compile(graph, cache=str(tmp_path))
    assert not old._abi.allocates and old._abi.direct == 0 and "gc_empty" in old._call_source
    hit = gc.compile(graph, cache=str(tmp_path))
    assert hit.stats["cache"] == "hit" and not hit._abi.allocates
    for fn in (old, hit, pickle.loads(pickle.dumps(old))):
        _check_outputs(fn, (value,))


def test_batch_and_export_are_unchanged(tmp_path):
    x = gc.vector("x", 4)
    y = gc.sum(x * x)
    fn = gc.compile(gc.Graph([x], [y, gc.grad(y, x)]), cache=False)
    rows = RNG.standard_normal((5, 4))
    values, grads = fn.batch(rows)
    np.testing.assert_allclose(values, (rows * rows).sum(axis=1))
    np.testing.assert_allclose(grads, 2 * rows)
    # The object for C programs keeps no Python entry, so no reference to numpy or Python.
    (obj,) = [p for p in gc.export(fn.graph, tmp_path, "f") if p.suffix == ".o"]
    assert abi.NUMPY_API_SYMBOL.encode() not in obj.read_bytes()
    assert b"PyTuple_New" not in obj.read_bytes()
