"""How much of LLVM a compiled graph goes through (``graphc.jit.codegen.llvm_levels``), and that
each tier computes what the evaluator does.

- small graphs: the IR optimizer and code generation at the requested level, nothing marked;
- large straight-line graphs (no loop kernels): no IR optimizer at all, code generation at O1;
- graphs with loop kernels and large straight-line parts: the IR optimizer for all but those
  parts (``optnone`` in the IR graphc writes, gone from the IR that is compiled);
- large straight-line graphs are spread over one module per CPU, compiled in parallel threads:
  the same values, and the bundle of objects loads from pickles and the disk cache.
"""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest

import graphc as gc
from graphc.jit import codegen, engine
from graphc.jit.codegen import SEPARATE_FROM, UNOPTIMIZED_FROM, llvm_levels
from graphc.jit.emit import MODULE_SEPARATOR


def _chain(start: gc.Node, other: gc.Node, length: int) -> gc.Node:
    value = start
    for k in range(length):
        value = gc.sin(value) * other + 0.25 if k % 2 else gc.tanh(value + other) * 0.5
    return value


def _check(graph: gc.Graph, args: list) -> gc.CompiledFunction:
    fn = gc.compile(graph, cache=False)
    got, want = fn(*args), gc.evaluate(graph, *args)
    for g, w in zip(
        got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)
    ):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-12)
    return fn


def test_a_small_graph_goes_through_the_whole_optimizer():
    x = gc.scalar("x")
    fn = _check(gc.Graph([x], gc.sin(x) * x + 1.0), [0.3])
    assert fn.stats["ir_passes"] and fn.stats["large_parts"] == 0
    assert "optnone" not in fn.llvm_ir
    assert llvm_levels(fn.stats, 2) == (2, 2)


def test_a_large_straight_line_graph_skips_the_ir_optimizer():
    x, y = gc.scalar("x"), gc.scalar("y")
    out = _chain(x, y, 2 * UNOPTIMIZED_FROM)
    graph = gc.Graph([x, y], [out, *gc.grad(out, [x, y])])
    fn = _check(graph, [0.7, 0.9])
    assert not fn.stats["ir_passes"] and fn.stats["large_parts"] >= 1
    assert "optnone" not in fn.llvm_ir  # nothing to keep out of an optimizer that does not run
    assert llvm_levels(fn.stats, 2) == (0, 1) and llvm_levels(fn.stats, 0) == (0, 0)
    rows = np.array([[0.7, 0.9], [0.1, -0.4], [1.5, 0.2]])
    batched = fn.batch(rows[:, 0], rows[:, 1])
    for k, row in enumerate(rows):
        for got, want in zip(batched, gc.evaluate(graph, *row)):
            np.testing.assert_allclose(got[k], want, rtol=1e-12)


def test_large_parts_beside_loop_kernels_are_kept_out_of_the_ir_optimizer_only():
    v = gc.vector("v", 64)
    s = gc.scalar("s")
    total = gc.sum(gc.exp(v) * s)  # a loop kernel
    out = _chain(total * 1e-3, s, UNOPTIMIZED_FROM + 100)  # one large part of scalar code
    graph = gc.Graph([v, s], [out, gc.grad(out, v)])
    fn = _check(graph, [np.linspace(-1.0, 1.0, 64), 0.3])
    assert fn.stats["ir_passes"] and fn.stats["large_parts"] >= 1
    assert "optnone" in fn.llvm_ir
    assert "optnone" not in fn.optimized_ir  # compiled like every other function
    assert llvm_levels(fn.stats, 2) == (2, 1)


def test_a_large_straight_line_graph_is_compiled_as_modules_in_parallel(monkeypatch, tmp_path):
    monkeypatch.setattr(engine, "codegen_threads", lambda: 3)
    x, y = gc.scalar("x"), gc.scalar("y")
    out = _chain(x, y, SEPARATE_FROM)
    graph = gc.Graph([x, y], [out, *gc.grad(out, [x, y])])
    fn = _check(graph, [0.7, 0.9])
    assert fn.stats["modules"] == 3
    assert fn.llvm_ir.count(MODULE_SEPARATOR) == 2 == fn.optimized_ir.count(MODULE_SEPARATOR)
    assert fn.asm.count("graph_call:") == 1 and "part0:" in fn.asm
    rows = np.array([[0.7, 0.9], [0.1, -0.4], [1.5, 0.2]])
    want = [fn(*row) for row in rows]
    for column, got in enumerate(fn.batch(rows[:, 0], rows[:, 1])):
        np.testing.assert_array_equal(got, [w[column] for w in want])
    assert pickle.loads(pickle.dumps(fn))(0.7, 0.9) == fn(0.7, 0.9)
    stored = gc.compile(graph, cache=str(tmp_path))
    loaded = gc.compile(graph, cache=str(tmp_path))
    assert (stored.stats["cache"], loaded.stats["cache"]) == ("miss", "hit")
    assert loaded(0.7, 0.9) == fn(0.7, 0.9)
    # gc.export writes one object file: its graph stays one module.
    gc.export(graph, tmp_path, "chain", optimize=False)
    assert (tmp_path / "chain.o").read_bytes().startswith(b"\x7fELF")


def test_one_cpu_compiles_one_module(monkeypatch):
    monkeypatch.setattr(engine, "codegen_threads", lambda: 1)
    x, y = gc.scalar("x"), gc.scalar("y")
    fn = _check(gc.Graph([x, y], _chain(x, y, SEPARATE_FROM)), [0.7, 0.9])
    assert fn.stats["modules"] == 1 and MODULE_SEPARATOR not in fn.llvm_ir


def test_loop_kernels_over_short_rows_are_vectorised_with_the_same_bits(monkeypatch):
    # A map over rows of 10 has its inner loop fully unrolled before LLVM's loop vectoriser
    # sees it; the SLP vectoriser, on for modules with loop kernels, makes it vector code.
    # It only packs the same operations side by side: the results keep their bits.
    rng = np.random.default_rng(0)
    z, zl = gc.constant(rng.standard_normal((200, 10))), gc.matrix("zl", (200, 10))
    w, e = gc.vector("w", 200), gc.scalar("e")
    dy = (z * e + zl) * w[:, None] * 2.0
    graph = gc.Graph([zl, w, e], [dy, gc.sum(dy, axis=0)])
    args = [rng.standard_normal((200, 10)), rng.standard_normal(200), 0.7]
    vector = _check(graph, args)
    assert codegen.slp_vectorization(vector.stats)
    monkeypatch.setattr(codegen, "slp_vectorization", lambda lowering: False)
    scalar = gc.compile(graph, cache=False)
    packed = re.compile(r"^\s+v?(mul|add)pd\s", re.MULTILINE)
    assert packed.search(vector.asm) and not packed.search(scalar.asm)
    for got, want in zip(vector(*args), scalar(*args)):
        np.testing.assert_array_equal(got, want)


_PART = "define void @part1(ptr %p) nounwind {\nentry:\n  store double 1.0, ptr %p\n  ret void\n}\n"
_CALLER = (
    "declare void @part1(ptr) nounwind\n"
    "define void @graph_call(ptr %p) nounwind {\n"
    "entry:\n  call void @part1(ptr %p)\n  ret void\n}\n"
)


@pytest.mark.parametrize("threads", [True, False])
@pytest.mark.parametrize(
    ("second", "message"),
    [
        (_PART, None),
        ("define void @part1(ptr %p) {\n  nonsense\n}\n", "LLVM IR parsing error"),
        (  # parses, but a value is used before it is defined
            "define double @part1() {\nentry:\n  %a = fadd double %b, 1.0\n"
            "  %b = fadd double 1.0, 1.0\n  ret double %a\n}\n",
            "does not dominate",
        ),
    ],
)
def test_separate_modules_compile_or_raise_a_clear_error(monkeypatch, threads, second, message):
    # The modules after the first are parsed, verified and compiled in threads (or, where
    # llvmlite's internals differ, in turn): an error in one is an exception, not a crash.
    if not threads:
        monkeypatch.setattr(engine, "_unwrapped", lambda name: None)
    text = _CALLER + MODULE_SEPARATOR + second + MODULE_SEPARATOR + _PART.replace("part1", "part2")
    if message is None:
        code, _, timings = engine.compile_to_object(text, 0, codegen_level=1)
        assert len(engine._unbundle(code)) == 3 and timings["codegen"] > 0
    else:
        with pytest.raises(RuntimeError, match=message):
            engine.compile_to_object(text, 0, codegen_level=1)


@pytest.mark.parametrize(
    "group",
    [
        "attributes #1 = { noinline nounwind optnone }",
        "attributes #1 = { optnone noinline nounwind }",
        'attributes #1 = { noinline optnone nounwind "frame-pointer"="none" }',
    ],
)
def test_the_mark_is_dropped_from_attribute_groups_only(group):
    comment = "; Function Attrs: noinline nounwind optnone"
    text = f"{comment}\ndefine void @optnone_named() #1 {{\n  ret void\n}}\n\n{group}\n"
    dropped = engine._drop_unoptimized_mark(text)
    assert "@optnone_named" in dropped
    assert dropped.splitlines()[0] == "; Function Attrs: noinline nounwind"
    assert dropped.splitlines()[-1].replace(" ", "") == group.replace(" optnone", "").replace(
        " ", ""
    )
