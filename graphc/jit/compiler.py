"""``gc.compile``: the compile driver, as named and timed stages.

::

    cache lookup -> optimize (passes.DEFAULT_PIPELINE) -> expand (passes.LOWERING_PIPELINE)
      -> plan (graphc.jit.plan) -> emit (graphc.jit.codegen: IR text)
      -> llvm_parse, llvm_optimize, codegen (graphc.jit.engine: object code)
      -> cache store -> load (graphc.jit.engine.LoadedCode, graphc.jit.function)

Every stage's seconds land in ``fn.stats["seconds"]``. A compile that has run for more than
:data:`PROGRESS_AFTER` seconds reports each later stage through the ``graphc`` logger at INFO
(stage, node and kernel counts, seconds); ``verbose=True`` prints every stage to stderr.

The disk cache (:mod:`graphc.jit.cache`) is keyed by the graph's structural hash, the options,
the target CPU and graphc's own source, so a hit skips everything from ``optimize`` to
``codegen``. A pickled function (:func:`restore`) carries its object code too: loading it runs
only the ``load`` stage, unless this machine cannot run the code (another CPU family, missing
CPU features, no libmvec, another graphc), when it compiles the graph again and says so once
through the ``graphc`` logger.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager

import numpy as np

from graphc.gcpause import paused_gc
from graphc.graph import Graph
from graphc.jit import cache as disk_cache
from graphc.jit import constants as shared_constants
from graphc.jit import engine
from graphc.jit.function import CompiledFunction

CODE_VERSION = "2"
PROGRESS_AFTER = 1.0  # seconds into a compile after which stages are logged at INFO

logger = logging.getLogger("graphc")


class Progress:
    """Times the stages of one compile and reports them (see the module docstring)."""

    def __init__(self, graph: Graph, verbose: bool):
        self.start = time.perf_counter()
        self.seconds: dict[str, float] = {}
        self.verbose = verbose
        self.nodes = len(graph.nodes)

    @contextmanager
    def stage(self, name: str, what: str = ""):
        began = time.perf_counter()
        yield
        elapsed = time.perf_counter() - began
        self.seconds[name] = self.seconds.get(name, 0.0) + elapsed
        self.report(f"{name}: {elapsed:.3f} s{', ' + what if what else ''}")

    def report(self, message: str) -> None:
        total = time.perf_counter() - self.start
        text = f"graphc.compile ({self.nodes} nodes, {total:.2f} s so far) {message}"
        if self.verbose:
            print(text, file=sys.stderr)
        level = logging.INFO if total > PROGRESS_AFTER else logging.DEBUG
        logger.log(level, text)

    def finish(self) -> dict[str, float]:
        self.seconds["total"] = time.perf_counter() - self.start
        return self.seconds


def compile(
    graph: Graph,
    *,
    optimize: bool = True,
    pipeline: Sequence[str] | None = None,
    unsafe_math: bool = False,
    reassociate: bool = False,
    vector_math: bool | None = None,
    opt_level: int = 2,
    cpu: str = "host",
    cache: bool | str | None = None,
    verbose: bool = False,
) -> CompiledFunction:
    """Compile ``graph`` to native code.

    - ``optimize``/``pipeline``/``unsafe_math``: the graph passes run first (see gc.optimize).
    - ``reassociate``: let LLVM reorder sums, products and dot products (``reassoc``), which
      vectorises reductions (several times faster on long ones) and changes their rounding;
      off by default, so results are those of an in-order loop.
    - ``vector_math``: compute exp, log, sin, cos, tan, tanh, log1p, expm1 and pow in loops with
      glibc's libmvec (4 doubles or 8 floats at a time, several times faster), within 4 ulp of
      the exact result like libm's scalar functions (measured: at most 3 ulp against libm's 2;
      ``docs/guide.md``). None (the default) uses it wherever it is available (Linux x86-64
      with AVX2); False keeps libm's scalar functions everywhere. ``fn.stats["vector_math"]``
      says whether it was used.
    - ``opt_level``: LLVM's optimization level, 0-3.
    - ``cpu``: the CPU the code is built for: ``"host"`` (this one, every feature it has),
      ``"generic"`` (the baseline of this CPU family: on x86-64, SSE2) or an x86-64
      micro-architecture level, ``"x86-64-v2"`` (SSE4.2, POPCNT), ``"x86-64-v3"`` (AVX2, FMA,
      the level of libmvec's vector math) or ``"x86-64-v4"`` (AVX-512). A portable target makes
      pickles that load without recompiling on every machine of a mixed cluster; vector math
      needs AVX2, so it is off below ``"x86-64-v3"``. Part of the cache key. The target must
      run on this machine (``gc.export`` builds objects for others).
    - ``cache``: None uses the default directory (``$GRAPHC_CACHE_DIR``, else the platform's
      cache directory; ``GRAPHC_CACHE=0`` disables), False disables, a path uses that
      directory.
    - ``verbose``: print each stage and its seconds to stderr (long compiles also report
      through the ``graphc`` logger).
    """
    if not isinstance(graph, Graph):
        raise TypeError(f"compile: expected a gc.Graph, got {type(graph).__name__}")
    if opt_level not in (0, 1, 2, 3):
        raise ValueError(f"compile: opt_level must be 0, 1, 2 or 3, got {opt_level!r}")
    target = engine.resolve_target(cpu)
    reason = engine.unsupported(target)
    if reason is not None:
        raise ValueError(
            f"compile: code for cpu={cpu!r} cannot run on this machine ({reason}); "
            "gc.export builds object files for other machines"
        )
    options = {
        "optimize": optimize,
        "pipeline": list(pipeline) if pipeline is not None else None,
        "unsafe_math": unsafe_math,
        "reassociate": reassociate,
        "vector_math": use_vector_math(vector_math, target, "compile"),
        "opt_level": opt_level,
        "cpu": cpu,
    }
    progress = Progress(graph, verbose)
    store = _cache_for(cache)
    key = None
    if store is not None:
        with progress.stage("cache_lookup"):
            key = disk_cache.make_key(
                graph.structural_hash,
                repr(sorted(options.items())),
                engine.target_description(target),
                disk_cache.source_digest(),
                CODE_VERSION,
            )
            found = store.load(key)
        if found is not None:
            header, blobs = found
            try:
                if header["graph"] != graph.structural_hash:
                    raise ValueError("cache entry was compiled from another graph")
                artifacts = _from_blobs(header, blobs)
                return _load(graph, header, artifacts, options, progress, "hit")
            except (KeyError, ValueError, RuntimeError):
                store.discard(key)  # an entry we cannot use: compile afresh and overwrite it

    with paused_gc():
        header, artifacts = _build(graph, options, target, progress, keyed=store is not None)
    if store is not None and key is not None:
        with progress.stage("cache_store"):
            store.store(key, header, _to_blobs(artifacts))
    return _load(graph, header, artifacts, options, progress, "off" if store is None else "miss")


def use_vector_math(requested: bool | None, target: dict, caller: str) -> bool:
    """Whether code for ``target`` uses libmvec: where asked (None: wherever possible), this
    process has libmvec, and the target has AVX2 (libmvec's variants are AVX2 code)."""
    if requested is not None and not isinstance(requested, bool):
        raise TypeError(f"{caller}: vector_math must be True, False or None, got {requested!r}")
    if requested is False:
        return False
    if "avx2" not in target["requires"]:
        if requested and target["name"] != "host":
            raise ValueError(
                f"{caller}: vector_math=True needs AVX2, which cpu={target['name']!r} does not "
                "guarantee; use cpu='x86-64-v3' (or newer) or vector_math=False"
            )
        return False
    return engine.vector_math_available()


def _cache_for(cache: bool | str | None):
    if cache is False:
        return None
    directory = disk_cache.default_directory() if cache in (None, True) else cache
    return None if directory is None else disk_cache.DiskCache(directory)  # type: ignore[arg-type]


def lower(graph: Graph, options: dict, progress: Progress, modules: int = 1):
    """The stages from the graph to LLVM IR: optimize, expand, plan, emit. Returns the optimized
    graph, the plan, the IR text (of up to ``modules`` modules: see graphc.jit.codegen), the
    external symbols it needs and lowering statistics."""
    import passes
    from graphc.jit.codegen import emit_module
    from graphc.jit.plan import make_plan

    optimized = graph
    if options["optimize"]:
        chosen = passes.DEFAULT_PIPELINE if options["pipeline"] is None else options["pipeline"]
        with progress.stage("optimize", f"{len(graph.nodes)} nodes"):
            optimized = passes.run(graph, chosen, unsafe_math=options["unsafe_math"]).graph
    with progress.stage("expand", f"{len(optimized.nodes)} nodes after optimize"):
        lowered = passes.run(optimized, passes.LOWERING_PIPELINE, max_rounds=1).graph
    with progress.stage("plan"):
        plan = make_plan(lowered)
    with progress.stage("emit", f"{len(plan.kernels)} kernels in {plan.parts} parts"):
        ir_text, symbols, lowering = emit_module(
            plan, options["reassociate"], options["vector_math"], modules
        )
    progress.report(
        f"LLVM: {lowering['instructions']} instructions, "
        f"{lowering['kernel_functions']} distinct kernels, {lowering['modules']} module(s)"
    )
    return optimized, plan, ir_text, symbols, lowering


def _build(
    graph: Graph, options: dict, target: dict, progress: Progress, keyed: bool = True
) -> tuple[dict, dict]:
    """The stages from the graph to object code: the header of a cache entry and the artifacts
    (object code, IR texts, constant arrays) a CompiledFunction is made of. ``keyed``: the
    header names the graph's structural hash (what a cache entry is checked against; hashing
    a 10k-node graph takes 30-50 ms, spent only when the entry is stored)."""
    from graphc.jit.codegen import llvm_levels, slp_vectorization

    modules = engine.codegen_threads()
    optimized, plan, ir_text, symbols, lowering = lower(graph, options, progress, modules)
    ir_level, codegen_level = llvm_levels(lowering, options["opt_level"])
    object_code, optimized_ir, llvm_seconds = engine.compile_to_object(
        ir_text, ir_level, target, codegen_level, slp_vectorization(lowering)
    )
    for name, seconds in llvm_seconds.items():
        progress.seconds[name] = seconds
        progress.report(f"{name}: {seconds:.3f} s")
    described = [shared_constants.describe(c) for c in plan.constants]
    header = {
        "workspace_bytes": plan.workspace_bytes,
        "symbols": sorted(symbols | engine.symbols_of_intrinsics(optimized_ir)),
        "target": target,
        "constants": described,
        "stats": {
            "nodes": len(graph.nodes),
            "nodes_optimized": len(optimized.nodes),
            "constant_bytes": int(sum(c.nbytes for c in plan.constants)),
            **lowering,
        },
    }
    constants = [
        shared_constants.share(meta, _returning(array))
        for meta, array in zip(described, plan.constants)
    ]
    if keyed:
        header["graph"] = graph.structural_hash
    artifacts = {
        "object": object_code,
        "ir": ir_text,
        "optimized_ir": optimized_ir,
        "constants": constants,
    }
    return header, artifacts


def _returning(array: np.ndarray) -> Callable[[], np.ndarray]:
    return lambda: array


def _from_blob(meta: dict, blob: bytes) -> Callable[[], np.ndarray]:
    # Decoded only when no other function shares the constant already.
    return lambda: shared_constants.blob_to_array(meta, blob)


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
        shared_constants.share(meta, _from_blob(meta, blobs[f"const{k}"]))
        for k, meta in enumerate(header["constants"])
    ]
    return {
        "object": blobs["object"],
        "ir": blobs["ir"].decode(),
        "optimized_ir": blobs["optimized_ir"].decode(),
        "constants": constants,
    }


def _load(graph, header, artifacts, options, progress: Progress, cache_state) -> CompiledFunction:
    with progress.stage("load"):
        code = engine.LoadedCode(artifacts["object"], set(header["symbols"]))
        constants: list[np.ndarray] = artifacts["constants"]
        texts = {
            "ir": artifacts["ir"],
            "optimized_ir": artifacts["optimized_ir"],
            "object": artifacts["object"],
            "header": header,
        }
        stats = dict(header["stats"])
        stats["workspace_bytes"] = header["workspace_bytes"]
        stats["cache"] = cache_state
        stats["options"] = options
        stats["vector_math"] = options["vector_math"]
        function = CompiledFunction(graph, code, constants, header["workspace_bytes"], texts, stats)
    stats["seconds"] = progress.finish()
    return function
