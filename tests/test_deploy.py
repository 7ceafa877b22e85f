"""Compiled code that travels: pickles with object code, CPU targets, the disk cache's bound,
and notebook display. (gc.export: tests/test_export.py; gc.dask: tests/test_dask.py.)"""

from __future__ import annotations

import copy
import logging
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from graphc.jit import cache as disk_cache
from graphc.jit import compiler, engine, pickling

RNG = np.random.default_rng(13)


def lecture_graph() -> gc.Graph:
    x1, x2 = gc.scalar("x1"), gc.scalar("x2")
    f = (x1 + x2) * gc.log(x1 + x2)
    return gc.Graph([x1, x2], [f, *gc.grad(f, [x1, x2])])


def constant_graph(matrix: np.ndarray) -> gc.Graph:
    """A graph with a constant array as it is (travels in the graph) and a folded one (does
    not: ``matrix * 2.0`` is a new constant the optimizer makes)."""
    x, m = gc.vector("x", matrix.shape[1]), gc.constant(matrix)
    y = gc.tanh(m @ x) + (m * 2.0) @ gc.sin(x)
    return gc.Graph([x], [gc.sum(y * y), gc.grad(gc.sum(y * y), x)])


def unpickle_as_another_process(fn, edit) -> object:
    """Unpickle ``fn`` after ``edit(state)`` changed its pickled state, as a process whose
    machine or graphc differs would see it (and not the in-process copy already loaded)."""
    restore, (state,) = fn.__reduce__()
    state = copy.deepcopy(state)
    edit(state)
    state["digest"] = None
    return restore(state)


# -- pickles carry object code --------------------------------------------------------------------
def test_pickle_loads_object_code_without_llvm():
    fn = gc.compile(lecture_graph(), cache=False)
    clone = pickle.loads(pickle.dumps(fn))
    assert clone is not fn and clone(2.0, 5.0) == fn(2.0, 5.0)
    assert clone.stats["cache"] == "pickle"
    assert set(clone.stats["seconds"]) == {"load", "total"}  # no optimize, no LLVM
    assert clone.llvm_ir == fn.llvm_ir and clone.optimized_ir == fn.optimized_ir
    np.testing.assert_array_equal(
        clone.batch(np.arange(1.0, 5.0), 2.0)[1], fn.batch(np.arange(1.0, 5.0), 2.0)[1]
    )


def test_unpickling_one_function_twice_loads_it_once(monkeypatch):
    fn = gc.compile(lecture_graph(), cache=False)
    blob = pickle.dumps(fn)
    first = pickle.loads(blob)
    assert pickle.loads(blob) is first  # what a Dask worker gets with every task
    assert pickle.loads(pickle.dumps(first)) is first
    loads = []
    real_restore = pickling.restore
    monkeypatch.setattr(pickling, "restore", lambda state: loads.append(1) or real_restore(state))
    del first
    import gc as garbage

    garbage.collect()
    assert pickle.loads(blob)(2.0, 5.0) == fn(2.0, 5.0) and loads == []  # kept: recently used


def test_constant_arrays_travel_once_and_folded_ones_with_the_code():
    matrix = RNG.standard_normal((200, 150))
    graph = constant_graph(matrix)
    fn = gc.compile(graph, cache=False)
    x = RNG.standard_normal(150)
    blob = pickle.dumps(fn)
    # The graph holds the matrix; the folded 2 * matrix goes with the object code; the
    # optimizer's copy of the matrix does not (it would add another matrix.nbytes).
    assert len(blob) < len(pickle.dumps(graph)) + 1.25 * matrix.nbytes
    restore, (state,) = fn.__reduce__()
    kinds = sorted(type(c).__name__ for c in state["constants"])
    assert kinds == ["ndarray", "str"] and pickling.IN_GRAPH in state["constants"], kinds
    clone = unpickle_as_another_process(fn, lambda state: None)
    value, gradient = clone(x)
    want = fn(x)
    assert value == want[0]
    np.testing.assert_array_equal(gradient, want[1])


def test_constants_are_found_in_a_graph_the_optimizer_built(caplog):
    # gc.optimize's graphs list their nodes in their own order; a pickle rebuilds the graph in
    # its constructor's order: constants are found by their contents, not their position.
    graph = gc.optimize(constant_graph(RNG.standard_normal((20, 10))))
    fn = gc.compile(graph, cache=False)
    with caplog.at_level(logging.WARNING, logger="graphc"):
        clone = unpickle_as_another_process(fn, lambda state: None)
    assert clone.stats["cache"] == "pickle" and not caplog.records
    x = RNG.standard_normal(10)
    np.testing.assert_array_equal(clone(x)[1], fn(x)[1])


def test_pickle_in_a_fresh_process_with_constants(tmp_path):
    matrix = RNG.standard_normal((30, 20))
    fn = gc.compile(constant_graph(matrix))
    (tmp_path / "fn.pkl").write_bytes(pickle.dumps(fn))
    x = RNG.standard_normal(20)
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(f"""
        import pickle, numpy as np
        fn = pickle.loads(open({str(tmp_path / "fn.pkl")!r}, "rb").read())
        value, gradient = fn(np.load({str(tmp_path / "x.npy")!r}))
        np.save({str(tmp_path / "g.npy")!r}, gradient)
        print(repr(value), fn.stats["cache"], sorted(fn.stats["seconds"]))
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHC_")}
    env["GRAPHC_CACHE"] = "0"
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    value, cache, seconds = out.stdout.split(" ", 2)
    assert float(value) == fn(x)[0] and cache == "pickle"
    assert seconds.strip() == "['load', 'total']"
    np.testing.assert_array_equal(np.load(tmp_path / "g.npy"), fn(x)[1])


@pytest.mark.parametrize(
    "edit, reason",
    [
        (
            lambda s: s["header"]["target"]["requires"].append("avx-from-the-future"),
            "features avx-from-the-future this CPU",
        ),
        (
            lambda s: s["header"]["target"].update(triple="riscv64-unknown-linux-gnu"),
            "compiled for riscv64-unknown-linux-gnu",
        ),
        (lambda s: s.update(code="another graphc"), "another version of graphc"),
        (lambda s: s.update(version=99), "pickle format"),
        (lambda s: s.update(ir=b"not zlib"), "error"),
    ],
)
def test_code_this_machine_cannot_run_is_compiled_again_and_logged_once(edit, reason, caplog):
    fn = gc.compile(lecture_graph(), cache=False)
    with caplog.at_level(logging.WARNING, logger="graphc"):
        clone = unpickle_as_another_process(fn, edit)
        again = unpickle_as_another_process(fn, edit)
    assert clone(2.0, 5.0) == fn(2.0, 5.0) == again(2.0, 5.0)
    assert clone.stats["cache"] in ("hit", "miss")  # compiled (or found in the disk cache)
    warnings = [
        r for r in caplog.records if r.name == "graphc" and "compiling it again" in r.message
    ]
    assert len(warnings) == 1, [r.message for r in warnings]
    assert reason in warnings[0].message


def test_a_constant_that_does_not_match_its_code_is_never_used(caplog):
    fn = gc.compile(constant_graph(RNG.standard_normal((6, 4))), cache=False)

    def swap(state):
        k = next(k for k, c in enumerate(state["constants"]) if isinstance(c, np.ndarray))
        state["constants"][k] = state["constants"][k] + 1.0

    with caplog.at_level(logging.WARNING, logger="graphc"):
        clone = unpickle_as_another_process(fn, swap)
    assert "does not match its description" in caplog.text
    x = RNG.standard_normal(4)
    assert clone.stats["cache"] != "pickle" and clone(x)[0] == fn(x)[0]


def test_a_portable_target_beyond_this_cpu_recompiles_for_this_cpu(caplog):
    fn = gc.compile(lecture_graph(), cache=False, cpu="generic")

    def needs_more(state):
        state["header"]["target"]["requires"].append("avx-from-the-future")

    with caplog.at_level(logging.WARNING, logger="graphc"):
        clone = unpickle_as_another_process(fn, needs_more)
    assert clone.stats["options"]["cpu"] == "host" and clone(2.0, 5.0) == fn(2.0, 5.0)


def test_pickles_made_before_object_code_travelled_still_load():
    from graphc.jit.function import _rebuild

    fn = _rebuild(gc.compile, lecture_graph(), {"cache": False})
    assert fn(2.0, 5.0)[0] == 13.621371043387192


# -- CPU targets ----------------------------------------------------------------------------------
def test_portable_targets_compute_the_same_values(tmp_path):
    x = gc.vector("x", 1001)
    graph = gc.Graph([x], [gc.sum(gc.sqrt(x * x + 1.0)), gc.exp(x) * 2.0 - x])
    value = RNG.uniform(-2, 2, 1001)
    host = gc.compile(graph, cache=str(tmp_path), vector_math=False)
    for cpu in engine.cpu_choices():
        if engine.unsupported(engine.resolve_target(cpu)) is not None:
            continue
        fn = gc.compile(graph, cache=str(tmp_path), cpu=cpu, vector_math=False)
        assert fn.stats["cache"] == ("hit" if cpu == "host" else "miss")  # part of the key
        assert fn(value)[0] == host(value)[0]
        np.testing.assert_array_equal(fn(value)[1], host(value)[1])
        assert cpu in repr(fn)


@pytest.mark.skipif(
    engine.host_target()["triple"].split("-")[0] != "x86_64", reason="x86-64 levels"
)
def test_generic_x86_code_uses_no_avx_and_vector_math_needs_v3():
    x = gc.vector("x", 1000)
    graph = gc.Graph([x], [gc.exp(x) * x])
    generic = gc.compile(graph, cache=False, cpu="generic")
    assert "ymm" not in generic.asm and "zmm" not in generic.asm  # SSE2 only: xmm
    assert generic.stats["vector_math"] is False and "_ZGV" not in generic.optimized_ir
    with pytest.raises(ValueError, match="vector_math=True needs AVX2.*x86-64-v2"):
        gc.compile(graph, cache=False, cpu="x86-64-v2", vector_math=True)
    if engine.unsupported(engine.resolve_target("x86-64-v3")) is None:
        v3 = gc.compile(graph, cache=False, cpu="x86-64-v3")
        assert v3.stats["vector_math"] == engine.vector_math_available()
        value = RNG.uniform(-3, 3, 1000)
        np.testing.assert_allclose(v3(value), generic(value), rtol=1e-14)


def test_bad_and_unrunnable_cpu_targets_are_refused():
    graph = lecture_graph()
    with pytest.raises(ValueError, match="cpu must be one of 'host', 'generic'"):
        gc.compile(graph, cpu="pentium4")
    with pytest.raises(TypeError, match="vector_math must be"):
        gc.compile(graph, vector_math="yes")
    if "x86-64-v4" in engine.cpu_choices():
        target = engine.resolve_target("x86-64-v4")
        if engine.unsupported(target) is not None:
            with pytest.raises(ValueError, match="cannot run on this machine.*avx512"):
                gc.compile(graph, cpu="x86-64-v4")


def test_unsupported_names_what_is_missing():
    here = engine.host_target()
    assert engine.unsupported(here) is None
    other = dict(here, requires=[*here["requires"], "sse9"], cpu="future")
    assert "sse9" in engine.unsupported(other)
    assert "aarch64" in engine.unsupported(dict(here, triple="aarch64-unknown-linux-gnu"))


# -- the disk cache's bound -----------------------------------------------------------------------
def _entry(cache: disk_cache.DiskCache, key: str, size: int) -> None:
    cache.store(key, {"graph": key}, {"object": b"x" * size})


def test_cache_evicts_least_recently_used_entries(tmp_path):
    cache = disk_cache.DiskCache(tmp_path, limit=10**6)
    _entry(cache, "a", 1000)
    cache.limit = 3 * cache.path("a").stat().st_size + 10  # room for three entries
    for key in "abc":
        _entry(cache, key, 1000)
        stamp = {"a": 1000, "b": 2000, "c": 3000}[key]
        os.utime(cache.path(key), (stamp, stamp))  # a, then b, then c: c is the newest
    assert cache.load("a") is not None  # a hit makes "a" the most recently used
    _entry(cache, "d", 1000)
    assert sorted(p.stem for p in tmp_path.glob("*.gcc")) == ["a", "c", "d"]  # b went
    assert cache.info()["bytes"] <= cache.limit
    _entry(cache, "huge", 5000)  # larger than the whole limit: not kept, nothing evicted
    assert not cache.path("huge").exists() and cache.info()["entries"] == 3


def test_cache_limit_from_environment():
    assert disk_cache.max_bytes({}) == 1 << 30
    assert disk_cache.max_bytes({"GRAPHC_CACHE_MAX_BYTES": "500M"}) == 500 << 20
    assert disk_cache.max_bytes({"GRAPHC_CACHE_MAX_BYTES": "2GiB"}) == 2 << 30
    assert disk_cache.max_bytes({"GRAPHC_CACHE_MAX_BYTES": "12345"}) == 12345
    with pytest.raises(ValueError, match="GRAPHC_CACHE_MAX_BYTES.*'lots'"):
        disk_cache.max_bytes({"GRAPHC_CACHE_MAX_BYTES": "lots"})


def test_compiles_stay_within_the_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    x = gc.scalar("x")
    first = gc.compile(gc.Graph([x], [x + 1.0]))
    size = gc.cache_info()["bytes"]
    monkeypatch.setenv("GRAPHC_CACHE_MAX_BYTES", str(int(2.5 * size)))
    for k in range(2, 6):
        assert gc.compile(gc.Graph([x], [x + float(k)])).stats["cache"] == "miss"
        assert gc.cache_info()["bytes"] <= 2.5 * size
    assert gc.cache_info()["entries"] == 2
    assert gc.compile(gc.Graph([x], [x + 5.0])).stats["cache"] == "hit"  # the newest stayed
    assert first(1.0) == (2.0,)  # evicting an entry never touches a loaded function


def test_cache_clear_and_info(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    graph = lecture_graph()
    gc.compile(graph)
    info = gc.cache_info()
    assert info["directory"] == str(tmp_path) and info["entries"] == 1 and info["enabled"]
    assert info["max_bytes"] == 1 << 30
    (tmp_path / "leftover.tmp").write_bytes(b"half an entry")
    cleared = gc.cache_clear()
    assert cleared["entries"] == 1 and cleared["bytes"] == info["bytes"]
    assert list(tmp_path.iterdir()) == []
    assert gc.compile(graph).stats["cache"] == "miss"
    monkeypatch.setenv("GRAPHC_CACHE", "0")
    assert gc.cache_info()["enabled"] is False
    assert gc.cache_clear()["entries"] == 1  # clears the configured directory even when off


def test_platform_cache_directories():
    home = {"HOME": "/home/u"}
    assert disk_cache.platform_directory("linux", home) == Path("/home/u/.cache/graphc")
    xdg = {**home, "XDG_CACHE_HOME": "/var/cache/u"}
    assert disk_cache.platform_directory("linux", xdg) == Path("/var/cache/u/graphc")
    relative = {**home, "XDG_CACHE_HOME": "cache"}  # ignored, as the XDG spec says
    assert disk_cache.platform_directory("linux", relative) == Path("/home/u/.cache/graphc")
    assert disk_cache.platform_directory("darwin", home) == Path("/home/u/Library/Caches/graphc")
    windows = {"HOME": "C:/Users/u", "LOCALAPPDATA": "C:/Users/u/AppData/Local"}
    assert disk_cache.platform_directory("win32", windows) == Path(
        "C:/Users/u/AppData/Local/graphc/Cache"
    )


# -- notebooks ------------------------------------------------------------------------------------
def test_compiled_function_repr_is_readable():
    fn = gc.compile(lecture_graph(), cache=False)
    text = repr(fn)
    assert text.startswith("<CompiledFunction (x1: f64[], x2: f64[]) -> (f64[], f64[], f64[])")
    assert "12 nodes (7 after optimization)" in text and "kernels" in text
    assert "compiled in" in text and "cpu host" in text
    assert "loaded from a pickle" in repr(pickle.loads(pickle.dumps(fn)))


def test_graph_svg_in_notebooks(monkeypatch):
    import shutil

    graph = lecture_graph()
    if shutil.which("dot"):
        svg = graph._repr_svg_()
        assert "<svg" in svg and "x1" in svg and "output 2" in svg
    x = gc.vector("x", 3)
    big = x
    for _ in range(gc.Graph.SVG_MAX_NODES):
        big = gc.sin(big)
    assert gc.Graph([x], [big])._repr_svg_() is None  # too large to lay out: text instead
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert graph._repr_svg_() is None  # no Graphviz: Jupyter shows repr


def test_dask_stays_optional():
    script = "import sys, graphc; print('dask' in sys.modules, 'distributed' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_code_identity_is_graphc_and_code_version():
    assert pickling.code_identity().endswith("/" + compiler.CODE_VERSION)
