"""gc.export: object files and headers, called from C programs built with ``cc`` (skipped
without one) and through ctypes from a shared library; the results must equal the compiled
function's."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import time

import numpy as np
import pytest

import graphc as gc
from graphc.jit.abi import STACK_WORKSPACE_LIMIT

RNG = np.random.default_rng(7)
needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")


def lecture_graph() -> gc.Graph:
    x1, x2 = gc.scalar("x1"), gc.scalar("x2")
    f = (x1 + x2) * gc.log(x1 + x2)
    return gc.Graph([x1, x2], [f, *gc.grad(f, [x1, x2])])


def model_graph() -> gc.Graph:
    """Arrays, a constant matrix, every dtype among inputs and outputs."""
    x, w = gc.vector("x", 5), gc.scalar("w", "float32")
    k, flag = gc.tensor("k", (2, 3), "int64"), gc.scalar("flag", "bool")
    m = gc.constant(np.arange(15.0).reshape(3, 5) / 7.0)
    y = gc.tanh(m @ x)
    loss = gc.sum(y * y)
    return gc.Graph(
        [x, w, k, flag],
        [
            loss,
            gc.grad(loss, x),
            gc.astype(gc.sum(k, axis=0), "float64") * gc.astype(w, "float64"),
            gc.where(flag, k * 2, k),
            w * gc.astype(gc.sum(x), "float32"),
            gc.logical_not(flag),
        ],
    )


def big_workspace_graph() -> gc.Graph:
    """A matrix product of 160 KB held in the workspace: past the stack limit."""
    a = gc.matrix("a", 100, 200)
    w = gc.constant(RNG.standard_normal((200, 200)) / 20)
    h = gc.tanh(a @ w)
    return gc.Graph([a], [gc.sum(h * h, axis=0), gc.sum(h, axis=1)])


def arguments_for(graph: gc.Graph, rows: int | None = None) -> list[np.ndarray]:
    values = []
    for node in graph.inputs:
        shape = node.shape if rows is None else (rows, *node.shape)
        if node.dtype == "bool":
            values.append(RNG.integers(0, 2, shape).astype(bool))
        elif node.dtype == "int64":
            values.append(RNG.integers(-5, 5, shape).astype(np.int64))
        else:
            values.append(RNG.uniform(0.5, 2.0, shape).astype(node.dtype))
    return values


HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "NAME.h"

/* usage: main MODE N input-files... output-files... [strides-file]
   MODE: call | work | batch | strided; N rows (1 for call and work) */
static void *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END); long size = ftell(f); fseek(f, 0, SEEK_SET);
    void *data = malloc(size > 0 ? size : 1);
    if (size > 0 && fread(data, 1, size, f) != (size_t)size) exit(3);
    fclose(f);
    return data;
}

int main(int argc, char **argv) {
    const char *mode = argv[1];
    int64_t n = atoll(argv[2]);
    const void *inputs[MACRO_N_INPUTS + 1];
    void *outputs[MACRO_N_OUTPUTS + 1];
    size_t out_bytes[] = {OUT_BYTES};
    for (int k = 0; k < MACRO_N_INPUTS; k++) inputs[k] = slurp(argv[3 + k]);
    for (int k = 0; k < MACRO_N_OUTPUTS; k++) outputs[k] = malloc(out_bytes[k] * n + 1);
    int status;
    if (!strcmp(mode, "call")) status = NAME(inputs, outputs);
    else if (!strcmp(mode, "work")) {
        void *work = malloc(MACRO_WORK_BYTES + 1);
        status = NAME_work(inputs, outputs, work);
        free(work);
    } else if (!strcmp(mode, "batch")) status = NAME_batch(inputs, outputs, n);
    else {
        const int64_t *strides = slurp(argv[3 + MACRO_N_INPUTS + MACRO_N_OUTPUTS]);
        status = NAME_batch_strided(inputs, strides, outputs, strides + MACRO_N_INPUTS, n);
    }
    if (status != 0) return 10 + status;
    for (int k = 0; k < MACRO_N_OUTPUTS; k++) {
        FILE *f = fopen(argv[3 + MACRO_N_INPUTS + k], "wb");
        fwrite(outputs[k], 1, out_bytes[k] * n, f);
        fclose(f);
    }
    return 0;
}
"""


class CProgram:
    """A C caller of an exported graph, built with cc, run on numpy arrays."""

    def __init__(self, graph: gc.Graph, directory, name: str, **options):
        self.graph, self.directory, self.name = graph, directory, name
        start = time.perf_counter()
        self.paths = gc.export(graph, directory, name, **options)
        self.export_seconds = time.perf_counter() - start
        macro = name.upper()
        out_bytes = ", ".join(
            f"{macro}_OUTPUT{k}_SIZE * sizeof({macro}_OUTPUT{k}_TYPE)"
            for k in range(len(graph.outputs))
        )
        source = (
            HARNESS.replace("MACRO_", f"{macro}_")
            .replace("NAME", name)
            .replace("OUT_BYTES", out_bytes)
        )
        (directory / "main.c").write_text(source)
        self.exe = directory / "main"
        subprocess.run(
            ["cc", "-std=c99", "-Wall", "-Werror", "-O1", "-o", str(self.exe),
             str(directory / "main.c"), str(directory / f"{name}.o"), "-I", str(directory),
             "-lm"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    def run(self, mode: str, values: list[np.ndarray], rows: int = 1, strides=None):
        files = []
        for k, value in enumerate(values):
            path = self.directory / f"in{k}.bin"
            path.write_bytes(np.ascontiguousarray(value).tobytes())
            files.append(str(path))
        outs = [str(self.directory / f"out{k}.bin") for k in range(len(self.graph.outputs))]
        extra = []
        if strides is not None:
            (self.directory / "strides.bin").write_bytes(np.asarray(strides, np.int64).tobytes())
            extra = [str(self.directory / "strides.bin")]
        done = subprocess.run(
            [str(self.exe), mode, str(rows), *files, *outs, *extra],
            capture_output=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        results = []
        for path, node in zip(outs, self.graph.outputs):
            shape = node.shape if mode in ("call", "work") else (rows, *node.shape)
            data = np.fromfile(path, dtype=node.dtype)
            results.append(data.reshape(shape))
        return results


def assert_same(got, want) -> None:
    want = want if isinstance(want, tuple) else (want,)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, np.asarray(w))


@needs_cc
def test_every_entry_point_and_dtype_from_c(tmp_path):
    graph = model_graph()
    fn = gc.compile(graph, vector_math=False)
    program = CProgram(graph, tmp_path, "model")
    values = arguments_for(graph)
    for mode in ("call", "work"):
        assert_same(program.run(mode, values), fn(*values))
    rows = arguments_for(graph, rows=37)
    assert_same(program.run("batch", rows, rows=37), fn.batch(*rows))
    # strided: x and flag the same for every row (stride 0), the others dense
    shared = [values[0], rows[1], rows[2], values[3]]
    item = [int(np.dtype(n.dtype).itemsize * max(n.size, 1)) for n in graph.inputs]
    out_item = [int(np.dtype(n.dtype).itemsize * max(n.size, 1)) for n in graph.outputs]
    strides = [0, item[1], item[2], 0, *out_item]
    assert_same(program.run("strided", shared, rows=37, strides=strides), fn.batch(*shared))


@needs_cc
def test_a_workspace_past_the_stack_limit_is_allocated(tmp_path):
    graph = big_workspace_graph()
    fn = gc.compile(graph, vector_math=False)
    assert fn.workspace_bytes > STACK_WORKSPACE_LIMIT
    program = CProgram(graph, tmp_path, "big")
    header = (tmp_path / "big.h").read_text()
    assert f"#define BIG_WORK_BYTES {fn.workspace_bytes}" in header and "malloc" in header
    values = arguments_for(graph)
    for mode in ("call", "work"):
        got = program.run(mode, values)
        want = fn(*values)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-13)
    batch = arguments_for(graph, rows=3)
    for g, w in zip(program.run("batch", batch, rows=3), fn.batch(*batch)):
        np.testing.assert_allclose(g, w, rtol=1e-13)


@needs_cc
def test_header_documents_shapes_and_dtypes(tmp_path):
    gc.export(model_graph(), tmp_path, "model")
    header = (tmp_path / "model.h").read_text()
    for line in [
        "int model(const void *const *inputs, void *const *outputs);",
        "int model_work(const void *const *inputs, void *const *outputs, void *work);",
        "int model_batch(const void *const *inputs, void *const *outputs, int64_t n);",
        "#define MODEL_N_INPUTS 4",
        "#define MODEL_N_OUTPUTS 6",
        '#define MODEL_INPUT2_NAME "k"',
        "#define MODEL_INPUT_k 2",
        "#define MODEL_INPUT2_TYPE int64_t",
        "#define MODEL_INPUT2_SHAPE {2, 3}",
        "#define MODEL_INPUT1_TYPE float",
        "#define MODEL_INPUT3_TYPE uint8_t",
        "#define MODEL_OUTPUT1_SIZE 5",
        " *   input  0  x: double (float64), shape (5,)",
    ]:
        assert line in header, line
    # The header is valid C++ too.
    if shutil.which("c++"):
        (tmp_path / "use.cpp").write_text('#include "model.h"\nint main() { return 0; }\n')
        subprocess.run(
            ["c++", "-fsyntax-only", "-I", str(tmp_path), str(tmp_path / "use.cpp")],
            check=True, capture_output=True,
        )  # fmt: skip


@pytest.mark.skipif(shutil.which("nm") is None, reason="needs nm")
def test_object_exports_four_symbols_and_needs_only_libc_and_libm(tmp_path):
    gc.export(model_graph(), tmp_path, "model")
    gc.export(big_workspace_graph(), tmp_path, "big")
    for name in ("model", "big"):
        defined = subprocess.run(
            ["nm", "-g", "--defined-only", str(tmp_path / f"{name}.o")],
            capture_output=True, text=True, check=True,
        ).stdout.split()[2::3]  # fmt: skip
        assert sorted(defined) == sorted(
            [name, f"{name}_work", f"{name}_batch", f"{name}_batch_strided"]
        )
        needed = subprocess.run(
            ["nm", "-u", str(tmp_path / f"{name}.o")], capture_output=True, text=True, check=True
        ).stdout.split()[1::2]
        libm_and_libc = {"tanh", "exp", "log", "log1p", "expm1", "sin", "cos", "tan", "pow"}
        libm_and_libc |= {"memcpy", "memset", "memmove", "malloc", "free"}
        assert set(needed) <= libm_and_libc, needed


def test_exports_link_as_shared_libraries(tmp_path):
    if shutil.which("cc") is None:
        with pytest.raises(RuntimeError, match="cc"):
            gc.export(lecture_graph(), tmp_path, "lecture", shared=True)
        return
    paths = gc.export(lecture_graph(), tmp_path, "lecture", shared=True, cpu="host")
    library = ctypes.CDLL(str(paths[2]))
    x1, x2 = ctypes.c_double(2.0), ctypes.c_double(5.0)
    out = [ctypes.c_double() for _ in range(3)]
    inputs = (ctypes.c_void_p * 2)(ctypes.addressof(x1), ctypes.addressof(x2))
    outputs = (ctypes.c_void_p * 3)(*[ctypes.addressof(o) for o in out])
    assert library.lecture(inputs, outputs) == 0
    assert [o.value for o in out] == list(gc.compile(lecture_graph())(2.0, 5.0))


def test_export_builds_objects_for_other_cpus(tmp_path):
    from graphc.jit import engine

    for cpu in engine.cpu_choices():  # even those this machine could not run
        obj, header = gc.export(lecture_graph(), tmp_path / cpu, "lecture", cpu=cpu)[:2]
        assert obj.read_bytes()[:4] in (b"\x7fELF", b"\xcf\xfa\xed\xfe", b"d\x86\x00\x00")
        assert f"cpu {cpu}" in header.read_text()


def test_export_is_fast_for_a_rosenbrock_gradient(tmp_path):
    x = gc.vector("x", 1000)
    f = gc.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    graph = gc.Graph([x], [f, gc.grad(f, x)])
    best = min(_timed(lambda k=k: gc.export(graph, tmp_path / str(k), "rosen")) for k in range(3))
    # 0.22 s measured on the 2-core test machine (issue 13 aims at 0.3 s); the bound leaves
    # room for a loaded machine, and fails if each entry point compiled the graph again.
    assert best < 1.0, best


def _timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def test_export_refuses_bad_names_and_options(tmp_path):
    graph = lecture_graph()
    for name in ["", "3d", "my model", "int", "main", "gc_f", "ñame", "graph_body", "class"]:
        with pytest.raises(ValueError, match="name"):
            gc.export(graph, tmp_path, name)
    with pytest.raises(TypeError, match="gc.Graph"):
        gc.export(gc.scalar("x"), tmp_path, "f")
    with pytest.raises(ValueError, match="opt_level must be 1, 2 or 3"):
        gc.export(graph, tmp_path, "f", opt_level=0)
    with pytest.raises(ValueError, match="cpu must be one of"):
        gc.export(graph, tmp_path, "f", cpu="i386")
    assert list(tmp_path.iterdir()) == []  # nothing written for a refused export
