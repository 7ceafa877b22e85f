"""gc.dask and compiled functions inside Dask: the threaded scheduler and a distributed cluster
of worker processes; results must equal fn.batch's, bad arguments fail when the graph is built."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

RNG = np.random.default_rng(3)


@pytest.fixture(scope="module")
def lecture_fn():
    x1, x2 = gc.scalar("x1"), gc.scalar("x2")
    f = (x1 + x2) * gc.log(x1 + x2)
    return gc.compile(gc.Graph([x1, x2], [f, *gc.grad(f, [x1, x2])]))


@pytest.fixture(scope="module")
def matrix_fn():
    x, W = gc.vector("x", 3), gc.matrix("W", 2, 3)
    y = gc.tanh(W @ x)
    return gc.compile(gc.Graph([x, W], [y, gc.reshape(x, (3, 1)) * x, gc.sum(y)]))


def test_batch_on_the_threaded_scheduler(lecture_fn):
    a, b = RNG.uniform(1, 2, 1000), RNG.uniform(1, 2, 1000)
    outputs = gc.dask.batch(lecture_fn, da.from_array(a, chunks=300), b)
    assert len(outputs) == 3 and all(o.chunks == ((300, 300, 300, 100),) for o in outputs)
    for got, want in zip(dask.compute(*outputs, scheduler="threads"), lecture_fn.batch(a, b)):
        np.testing.assert_array_equal(got, want)
    # one value for every row, by keyword
    outputs = gc.dask.batch(lecture_fn, x2=2.5, x1=da.from_array(a, chunks=250))
    for got, want in zip(dask.compute(*outputs), lecture_fn.batch(a, 2.5)):
        np.testing.assert_array_equal(got, want)


def test_batch_with_tensor_inputs_and_outputs(matrix_fn):
    X, W = RNG.standard_normal((500, 3)), RNG.standard_normal((2, 3))
    Ws = RNG.standard_normal((500, 2, 3))
    want = matrix_fn.batch(X, W)
    for weights in (W, da.from_array(W, chunks=(1, 3))):  # numpy, or a Dask array in pieces
        y, outer, total = gc.dask.batch(matrix_fn, da.from_array(X, chunks=(128, 3)), weights)
        assert y.chunks == ((128, 128, 128, 116), (2,)) and outer.shape == (500, 3, 3)
        assert total.dtype == np.float64 and total.shape == (500,)
        for got, expected in zip(dask.compute(y, outer, total), want):
            np.testing.assert_array_equal(got, expected)
    # rows of both arguments, split differently: split like the first
    outputs = gc.dask.batch(
        matrix_fn, da.from_array(X, chunks=(100, 3)), da.from_array(Ws, chunks=(64, 2, 3))
    )
    assert outputs[0].chunks[0] == (100,) * 5
    for got, expected in zip(dask.compute(*outputs), matrix_fn.batch(X, Ws)):
        np.testing.assert_array_equal(got, expected)


def test_single_output_graphs_give_one_array():
    x = gc.vector("x", 4)
    fn = gc.compile(gc.Graph([x], gc.sum(gc.exp(x))))
    X = RNG.standard_normal((40, 4))
    out = gc.dask.batch(fn, da.from_array(X, chunks=(16, 4)))
    np.testing.assert_array_equal(out.compute(), fn.batch(X))


def test_compiled_functions_inside_map_blocks_and_apply_gufunc(lecture_fn, matrix_fn):
    a = RNG.uniform(1, 2, 1000)
    A = da.from_array(a, chunks=256)
    f = da.map_blocks(lambda p: lecture_fn.batch(p, 3.0)[1], A, dtype=float)
    np.testing.assert_array_equal(f.compute(scheduler="threads"), lecture_fn.batch(a, 3.0)[1])
    X, W = RNG.standard_normal((300, 3)), RNG.standard_normal((2, 3))
    y = da.apply_gufunc(
        lambda x: matrix_fn.batch(x, W)[0], "(i)->(j)", da.from_array(X, chunks=(64, 3)),
        output_dtypes=float, output_sizes={"j": 2},
    )  # fmt: skip
    np.testing.assert_array_equal(y.compute(), matrix_fn.batch(X, W)[0])


def test_arguments_are_checked_when_the_graph_is_built(lecture_fn, matrix_fn):
    X = da.from_array(RNG.standard_normal((100, 3)), chunks=(50, 2))
    W = RNG.standard_normal((2, 3))
    with pytest.raises(ValueError, match=r"'x' is split along axis 1.*rechunk\(\{1: -1\}\)"):
        gc.dask.batch(matrix_fn, X, W)
    with pytest.raises(ValueError, match="different numbers of rows"):
        gc.dask.batch(matrix_fn, X.rechunk({1: -1}), RNG.standard_normal((99, 2, 3)))
    with pytest.raises(ValueError, match=r"'W' of shape \(2, 3\) expects"):
        gc.dask.batch(matrix_fn, X.rechunk({1: -1}), da.zeros((100, 3, 2)))
    with pytest.raises(TypeError, match="float32"):
        gc.dask.batch(matrix_fn, X.rechunk({1: -1}).astype(np.float32), W)
    with pytest.raises(TypeError, match="no argument is a Dask array"):
        gc.dask.batch(lecture_fn, np.ones(10), np.ones(10))
    with pytest.raises(ValueError, match="no argument has rows"):
        gc.dask.batch(lecture_fn, 1.0, da.from_array(np.float64(2.0)))
    with pytest.raises(TypeError, match="compiled function"):
        gc.dask.batch(lambda a, b: a, da.ones(3), 1.0)
    with pytest.raises(TypeError, match="missing|x2"):
        gc.dask.batch(lecture_fn, da.ones(3))
    unknown = da.ones(10, chunks=5)
    unknown = unknown[unknown > 0]
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        gc.dask.batch(lecture_fn, unknown, 1.0)


def test_the_function_is_one_node_of_the_dask_graph(lecture_fn):
    outputs = gc.dask.batch(lecture_fn, da.ones(100, chunks=10), 1.0)
    keys = [k for k in dict(outputs[0].__dask_graph__()) if "graphc-function" in str(k)]
    assert len(keys) == 1  # shipped once per worker, not with each of the 10 tasks


def test_batch_on_a_distributed_cluster_loads_object_code(lecture_fn):
    distributed = pytest.importorskip("dask.distributed")
    a = RNG.uniform(1, 2, 40_000)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        outputs = gc.dask.batch(lecture_fn, da.from_array(a, chunks=5_000), 2.0)
        for got, want in zip(dask.compute(*outputs), lecture_fn.batch(a, 2.0)):
            np.testing.assert_array_equal(got, want)
        loaded = client.run(_how_workers_loaded)
    # Every worker that ran a block loaded the object code from its pickle: no LLVM there.
    assert loaded and all(v == ["pickle"] for v in loaded.values() if v), loaded


def _how_workers_loaded() -> list[str]:
    from graphc.jit import pickling

    return [f.stats["cache"] for f in pickling._UNPICKLED.values()]
