"""Native code: ``compile(graph)`` optimizes a graph, lowers it to LLVM IR, compiles it with
llvmlite and returns a :class:`CompiledFunction`.

Stages (each its own module, each timed in ``fn.stats["seconds"]``):
``passes`` (optimize) -> ``plan`` (kernels, fusion, buffers, parts) -> ``codegen`` (IR text) ->
``engine`` (LLVM optimize and code generation, loading) -> ``function`` (the Python call path).
``cache`` stores the result on disk, keyed by the graph's structural hash and everything else
the code depends on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from graphc.gcpause import paused_gc
from graphc.graph import Graph
from graphc.jit import cache as disk_cache
from graphc.jit import engine
from graphc.jit.function import CompiledFunction

__all__ = ["CompiledFunction", "compile"]

CODE_VERSION = "1"


def compile(
    graph: Graph,
    *,
    optimize: bool = True,
    pipeline: Sequence[str] | None = None,
    unsafe_math: bool = False,
    reassociate: bool = False,
    vector_math: bool = False,
    opt_level: int = 2,
    cache: bool | str | None = None,
) -> CompiledFunction:
    """Compile ``graph`` to native code.

    - ``optimize``/``pipeline``/``unsafe_math``: the graph passes run first (see gc.optimize).
    - ``reassociate``: let LLVM reorder sums, products and dot products (``reassoc``), which
      vectorises reductions (several times faster on long ones) and changes their rounding;
      off by default, so results are those of an in-order loop.
    - ``vector_math``: compute exp, log, sin, cos, tan, tanh, log1p, expm1 and pow in loops with
      glibc's libmvec (4 doubles or 8 floats at a time, several times faster); results are then
      within libmvec's 4 ulp instead of libm's 1. Needs Linux x86-64 with AVX2; elsewhere the
      option has no effect (``fn.stats["vector_math"]`` says whether it was used).
    - ``opt_level``: LLVM's optimization level, 0-3.
    - ``cache``: None uses the default directory (``$GRAPHC_CACHE_DIR``, ``~/.cache/graphc``;
      ``GRAPHC_CACHE=0`` disables), False disables, a path uses that directory.
    """
    if not isinstance(graph, Graph):
        raise TypeError(f"compile: expected a gc.Graph, got {type(graph).__name__}")
    if opt_level not in (0, 1, 2, 3):
        raise ValueError(f"compile: opt_level must be 0, 1, 2 or 3, got {opt_level!r}")
    options = {
        "optimize": optimize,
        "pipeline": list(pipeline) if pipeline is not None else None,
        "unsafe_math": unsafe_math,
        "reassociate": reassociate,
        "vector_math": bool(vector_math) and engine.vector_math_available(),
        "opt_level": opt_level,
    }
    start = time.perf_counter()
    seconds: dict[str, float] = {}
    store = _cache_for(cache)
    key = None
    if store is not None:
        key = disk_cache.make_key(
            graph.structural_hash,
            repr(sorted(options.items())),
            engine.host_description(),
            disk_cache.source_digest(),
            CODE_VERSION,
        )
        found = store.load(key)
        seconds["cache_lookup"] = time.perf_counter() - start
        if found is not None:
            header, blobs = found
            try:
                artifacts = _from_blobs(header, blobs)
                return _load(graph, header, artifacts, options, seconds, start, "hit")
            except (KeyError, ValueError, RuntimeError):
                pass  # an entry we cannot use: compile afresh and overwrite it

    with paused_gc():
        header, artifacts = _build(graph, options, seconds)
    if store is not None and key is not None:
        began = time.perf_counter()
        store.store(key, header, _to_blobs(artifacts))
        seconds["cache_store"] = time.perf_counter() - began
    state = "off" if store is None else "miss"
    return _load(graph, header, artifacts, options, seconds, start, state)


def _cache_for(cache: bool | str | None):
    if cache is False:
        return None
    directory = disk_cache.default_directory() if cache in (None, True) else cache
    return None if directory is None else disk_cache.DiskCache(directory)  # type: ignore[arg-type]


def _build(graph: Graph, options: dict, seconds: dict) -> tuple[dict, dict]:
    """Optimize, plan, emit IR and compile it: the header of a cache entry and the artifacts
    (object code, IR texts, constant arrays) a CompiledFunction is made of."""
    import passes
    from graphc.jit.codegen import emit_module
    from graphc.jit.plan import make_plan, prepare

    began = time.perf_counter()
    optimized = graph
    if options["optimize"]:
        chosen = passes.DEFAULT_PIPELINE if options["pipeline"] is None else options["pipeline"]
        optimized = passes.run(graph, chosen, unsafe_math=options["unsafe_math"]).graph
    seconds["optimize"] = time.perf_counter() - began

    began = time.perf_counter()
    plan = make_plan(prepare(optimized))
    ir_text, symbols, lowering = emit_module(
        plan, reassociate=options["reassociate"], vector_math=options["vector_math"]
    )
    seconds["lower"] = time.perf_counter() - began

    object_code, optimized_ir, llvm_seconds = engine.compile_to_object(
        ir_text, options["opt_level"]
    )
    seconds.update(llvm_seconds)
    described = [disk_cache.describe(c) for c in plan.constants]
    header = {
        "workspace_bytes": plan.workspace_bytes,
        "symbols": sorted(symbols | engine.symbols_of_intrinsics(optimized_ir)),
        "constants": described,
        "stats": {
            "nodes": len(graph.nodes),
            "nodes_optimized": len(optimized.nodes),
            "constant_bytes": int(sum(c.nbytes for c in plan.constants)),
            **lowering,
        },
    }
    constants = [
        disk_cache.share(meta, lambda array=array: array)
        for meta, array in zip(described, plan.constants)
    ]
    artifacts = {
        "object": object_code,
        "ir": ir_text,
        "optimized_ir": optimized_ir,
        "constants": constants,
    }
    return header, artifacts


def _to_blobs(artifacts: dict) -> dict[str, bytes]:
    blobs = {
        "object": artifacts["object"],
        "ir": artifacts["ir"].encode(),
        "optimized_ir": artifacts["optimized_ir"].encode(),
    }
    blobs.update({f"const{k}": c.tobytes() for k, c in enumerate(artifacts["constants"])})
    return blobs


def _from_blobs(header: dict, blobs: dict[str, bytes]) -> dict:
    constants = [
        disk_cache.share(
            meta, lambda k=k, meta=meta: disk_cache.blob_to_array(meta, blobs[f"const{k}"])
        )
        for k, meta in enumerate(header["constants"])
    ]
    return {
        "object": blobs["object"],
        "ir": blobs["ir"].decode(),
        "optimized_ir": blobs["optimized_ir"].decode(),
        "constants": constants,
    }


def _load(graph, header, artifacts, options, seconds, start, cache_state) -> CompiledFunction:
    began = time.perf_counter()
    code = engine.LoadedCode(artifacts["object"], set(header["symbols"]))
    constants: list[np.ndarray] = artifacts["constants"]
    texts = {"ir": artifacts["ir"], "optimized_ir": artifacts["optimized_ir"]}
    stats = dict(header["stats"])
    stats["workspace_bytes"] = header["workspace_bytes"]
    stats["cache"] = cache_state
    stats["options"] = options
    stats["vector_math"] = options["vector_math"]
    function = CompiledFunction(graph, code, constants, header["workspace_bytes"], texts, stats)
    seconds["load"] = time.perf_counter() - began
    seconds["total"] = time.perf_counter() - start
    stats["seconds"] = seconds
    return function
