"""``gc.export``: a graph as an object file and a C header, for C and C++ programs.

The object holds the compiled graph, its constant arrays (as read-only globals: no Python is
needed to run it) and four entry points, declared in the header::

    int NAME(const void *const *inputs, void *const *outputs);
    int NAME_work(const void *const *inputs, void *const *outputs, void *work);
    int NAME_batch(const void *const *inputs, void *const *outputs, int64_t n);
    int NAME_batch_strided(const void *const *inputs, const int64_t *input_strides,
                           void *const *outputs, const int64_t *output_strides, int64_t n);

``inputs`` and ``outputs`` hold one pointer per graph input and output, in the graph's order,
to contiguous row-major data of the documented dtype and shape (a scalar: a pointer to one
element). The functions return 0 (1 only when a workspace too large for the stack could not be
allocated) and are thread-safe: the workspace is on the caller's stack when it is small
(:data:`~graphc.jit.abi.STACK_WORKSPACE_LIMIT`), else allocated per call, or passed by the
caller to ``NAME_work`` (``NAME_WORK_BYTES`` bytes).

Invariants:
- The object needs only libc and libm (``cc main.c NAME.o -lm``): vector math (libmvec) is
  never used in exported code, and only the four entry points are global symbols.
- The default target is ``cpu="generic"`` (the CPU family's baseline: SSE2 on x86-64), because
  an exported object has no fallback: code built for a newer CPU dies of an illegal instruction
  on an older one. ``cpu="host"`` or an x86-64 level opt in to more.
- Code generation is graphc's own (the same stages as ``gc.compile``, :mod:`~graphc.jit.codegen`
  adds the entry points): no C compiler is needed to export; ``shared=True`` links a shared
  library with ``cc`` when one is installed.
"""

from __future__ import annotations

import keyword
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from graphc import dtypes
from graphc.graph import Graph
from graphc.jit import engine
from graphc.jit.abi import STACK_WORKSPACE_LIMIT

C_TYPES = {
    dtypes.FLOAT64: "double",
    dtypes.FLOAT32: "float",
    dtypes.INT64: "int64_t",
    dtypes.BOOL: "uint8_t",  # numpy's bool: one byte, 0 or 1
}

# C and C++ keywords and names the header or object already use: none may name an export.
_RESERVED = {
    *"""auto break case char const continue default do double else enum extern float for goto
    if inline int long register restrict return short signed sizeof static struct switch
    typedef union unsigned void volatile while bool true false class delete new namespace
    private protected public template this throw try catch operator virtual friend typename
    main malloc free""".split(),
}


def export(
    graph: Graph,
    directory: str | os.PathLike,
    name: str,
    *,
    cpu: str = "generic",
    optimize: bool = True,
    pipeline: Sequence[str] | None = None,
    unsafe_math: bool = False,
    reassociate: bool = False,
    opt_level: int = 2,
    shared: bool = False,
    verbose: bool = False,
) -> list[Path]:
    """Write ``name.o`` and ``name.h`` for ``graph`` into ``directory`` (see the module
    docstring for the C interface); returns the paths written.

    - ``cpu``: the CPU the object is built for: ``"generic"`` (default: every CPU of this
      family), ``"host"`` (this machine's CPU and its features) or an x86-64 level
      (``"x86-64-v2"``, ``"x86-64-v3"``, ``"x86-64-v4"``). Any of them may be built here,
      whatever this machine's CPU.
    - ``optimize``/``pipeline``/``unsafe_math``/``reassociate``/``opt_level`` (1-3): as for
      ``gc.compile``.
    - ``shared``: also link ``libname.so`` (``libname.dylib`` on macOS) with ``cc -shared``;
      raises RuntimeError when there is no ``cc``.
    - ``verbose``: print each stage and its seconds to stderr.
    """
    from graphc.jit.codegen import emit_export_entries, slp_vectorization
    from graphc.jit.compiler import Progress, lower

    if not isinstance(graph, Graph):
        raise TypeError(f"export: expected a gc.Graph, got {type(graph).__name__}")
    _check_name(name)
    if opt_level not in (1, 2, 3):
        raise ValueError(
            f"export: opt_level must be 1, 2 or 3, got {opt_level!r} (LLVM's optimizer is what "
            "removes graphc's Python entry points from the object)"
        )
    target = engine.resolve_target(cpu, "export")
    options = {
        "optimize": optimize,
        "pipeline": list(pipeline) if pipeline is not None else None,
        "unsafe_math": unsafe_math,
        "reassociate": reassociate,
        "vector_math": False,  # libmvec would add -lmvec to every link line (module docstring)
        "opt_level": opt_level,
    }
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    progress = Progress(graph, verbose)
    _, plan, ir_text, symbols, lowering = lower(graph, options, progress)
    entries = {name, f"{name}_work", f"{name}_batch", f"{name}_batch_strided"}
    taken = sorted(e for e in entries if re.search(rf"@{re.escape(e)}\b", ir_text))
    if taken:
        raise ValueError(f"export: name {name!r} collides with graphc's internal {taken[0]!r}")
    with progress.stage("emit_entries"):
        ir_text += "\n" + emit_export_entries(plan, name)
    object_code, _, seconds = engine.compile_for_export(
        ir_text, opt_level, target, entries, slp_vectorization(lowering)
    )
    for stage, elapsed in seconds.items():
        progress.seconds[stage] = elapsed
        progress.report(f"{stage}: {elapsed:.3f} s")
    obj, header = folder / f"{name}.o", folder / f"{name}.h"
    obj.write_bytes(object_code)
    header.write_text(_header(graph, plan, name, target, progress.nodes))
    written = [obj, header]
    if shared:
        written.append(_link_shared(obj, name))
    progress.finish()
    return written


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
        raise ValueError(
            f"export: name must be a C identifier (ASCII letters, digits and _, starting with a "
            f"letter), got {name!r}"
        )
    if name in _RESERVED or keyword.iskeyword(name) or name.startswith(("gc_", "llvm")):
        raise ValueError(
            f"export: name {name!r} is reserved (a C/C++ keyword, a libc function or a graphc "
            "prefix); choose another"
        )


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _header(graph: Graph, plan, name: str, target: dict, nodes: int) -> str:
    from graphc import __version__

    macro = name.upper()
    rows = []
    for k, node in enumerate(graph.inputs):
        rows.append(
            f" *   input  {k}  {node.name}: {C_TYPES[node.dtype]} ({node.dtype}), "
            f"shape {_shape_text(node.shape)}"
        )
    for k, node in enumerate(graph.outputs):
        shape = _shape_text(node.shape)
        rows.append(f" *   output {k}: {C_TYPES[node.dtype]} ({node.dtype}), shape {shape}")
    heap = plan.workspace_bytes > STACK_WORKSPACE_LIMIT
    workspace = (
        f"{macro}_WORK_BYTES bytes are malloc-ed by each call of {name} and {name}_batch*"
        if heap
        else f"{name} and {name}_batch* keep their workspace ({macro}_WORK_BYTES bytes) on the "
        "stack"
    )
    lines = [
        f"/* {name}.h: generated by graphc {__version__} (gc.export) from a graph of {nodes} "
        "nodes.",
        " *",
        f" * Object file {name}.o: {target['triple']}, cpu {target['name']} "
        f"({target['cpu']}); needs only libc and libm:",
        f" *     cc -o program program.c {name}.o -lm",
        " *",
        " * inputs and outputs hold one pointer per graph input and output, in this order, to",
        " * contiguous row-major (C order) data; a scalar is a pointer to one element. Inputs are",
        " * only read; outputs must not overlap inputs. Every function returns 0 (1 only if a",
        " * workspace larger than 64 KiB could not be allocated) and is thread-safe:",
        f" * {workspace};",
        f" * {name}_work takes the caller's ({macro}_WORK_BYTES bytes, 64-byte alignment is best).",
        " *",
        *rows,
        " *",
        f" * {name}_batch evaluates n rows: every input and output is n rows stacked contiguously",
        f" * (row r of an input of shape S at inputs[k] + r * sizeof(row)). {name}_batch_strided",
        " * takes a byte stride per argument between rows instead (0: the same input value for",
        " * every row).",
        " */",
        f"#ifndef GRAPHC_{macro}_H",
        f"#define GRAPHC_{macro}_H",
        "",
        "#include <stdint.h>",
        "",
        "#ifdef __cplusplus",
        'extern "C" {',
        "#endif",
        "",
        f"#define {macro}_N_INPUTS {len(graph.inputs)}",
        f"#define {macro}_N_OUTPUTS {len(graph.outputs)}",
        f"#define {macro}_WORK_BYTES {plan.workspace_bytes}",
        "",
    ]
    for kind, nodes_ in (("INPUT", graph.inputs), ("OUTPUT", graph.outputs)):
        for k, node in enumerate(nodes_):
            prefix = f"{macro}_{kind}{k}"
            if kind == "INPUT":
                lines.append(f'#define {prefix}_NAME "{node.name}"')
                if str(node.name).isascii():  # (C identifiers outside ASCII are not portable)
                    lines.append(f"#define {macro}_INPUT_{node.name} {k}")
            lines.append(f"#define {prefix}_TYPE {C_TYPES[node.dtype]}")
            lines.append(f'#define {prefix}_DTYPE "{node.dtype}"')
            lines.append(f"#define {prefix}_NDIM {len(node.shape)}")
            lines.append(f"#define {prefix}_SIZE {node.size}")
            if node.shape:
                lines.append(f"#define {prefix}_SHAPE {{{', '.join(map(str, node.shape))}}}")
            lines.append("")
    lines += [
        f"int {name}(const void *const *inputs, void *const *outputs);",
        f"int {name}_work(const void *const *inputs, void *const *outputs, void *work);",
        f"int {name}_batch(const void *const *inputs, void *const *outputs, int64_t n);",
        f"int {name}_batch_strided(const void *const *inputs, const int64_t *input_strides,",
        f"{' ' * (len(name) + 19)}void *const *outputs, const int64_t *output_strides, int64_t n);",
        "",
        "#ifdef __cplusplus",
        "}",
        "#endif",
        "",
        f"#endif /* GRAPHC_{macro}_H */",
        "",
    ]
    return "\n".join(lines)


def _link_shared(obj: Path, name: str) -> Path:
    compiler = shutil.which("cc")
    if compiler is None:
        raise RuntimeError(
            "export: shared=True links with `cc`, which is not installed; the object file "
            f"{obj} is written (link it into your program, or install a C compiler)"
        )
    suffix = ".dylib" if sys.platform == "darwin" else ".so"
    library = obj.with_name(f"lib{name}{suffix}")
    done = subprocess.run(
        [compiler, "-shared", "-o", str(library), str(obj), "-lm"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"export: `cc -shared` failed:\n{done.stderr}")
    return library
