"""Compiled functions as pickles: they carry their object code, so another process (a pool
worker, a Dask worker) loads them without running LLVM.

A pickle holds the graph, the options, the header of the compiled code (signature, target,
workspace, symbols, statistics), the object code, the IR texts (compressed) and the constant
arrays (those equal to one of the graph's travel once, in the graph). Loading checks that this
machine can run the code (CPU family and features, libmvec, the same graphc); when it cannot, it
compiles the graph again and says so once through the ``graphc`` logger. Functions unpickled in
a process are remembered by digest, so a worker that receives one function with every task
loads it once.
"""

from __future__ import annotations

import collections
import functools
import pickle
import threading
import weakref
import zlib

import numpy as np

from graphc.graph import Graph
from graphc.jit import cache as disk_cache
from graphc.jit import constants as shared_constants
from graphc.jit import engine
from graphc.jit.compiler import CODE_VERSION, Progress, _load, compile, logger
from graphc.jit.function import CompiledFunction

PICKLE_FORMAT = "graphc-compiled"
PICKLE_VERSION = 1
_warned: set[tuple[str, str]] = set()  # (graph hash, reason) already logged in this process


def code_identity() -> str:
    """Which graphc built a piece of object code: its source digest and code version. Object
    code only loads into the graphc that built it (the call ABI is graphc's own)."""
    return f"{disk_cache.source_digest()}/{CODE_VERSION}"


def restore(state: dict) -> CompiledFunction:
    """A compiled function from its pickled state (see ``CompiledFunction.__reduce__``): the
    object code loaded as it is, or, when it cannot run here, the graph compiled again."""
    graph, options = pickle.loads(state["graph"]), dict(state["options"])
    reason = _cannot_load(state)
    if reason is None:
        header = state["header"]
        progress = Progress(graph, verbose=False)
        try:
            artifacts = {
                "object": state["object"],
                "ir": zlib.decompress(state["ir"]).decode(),
                "optimized_ir": zlib.decompress(state["optimized_ir"]).decode(),
                "constants": _unpickled_constants(graph, header, state["constants"]),
            }
            return _load(graph, header, artifacts, options, progress, "pickle")
        except (RuntimeError, ValueError, KeyError, zlib.error) as error:
            # e.g. a symbol (libmvec) this process lacks, or a damaged pickle
            reason = f"{type(error).__name__}: {error}"
    if (graph.structural_hash, reason) not in _warned:
        _warned.add((graph.structural_hash, reason))
        logger.warning(
            "graphc: a pickled compiled function (%d nodes) cannot run here as it is: %s; "
            "compiling it again from its graph",
            len(graph.nodes),
            reason,
        )
    target = state.get("header", {}).get("target")
    if target is not None and engine.unsupported(target) is not None:
        options["cpu"] = "host"  # its portable target is beyond this CPU too
    if options.get("vector_math"):
        options["vector_math"] = None  # wherever this machine has it
    return compile(graph, **options)


def _cannot_load(state: dict) -> str | None:
    if state.get("format") != PICKLE_FORMAT or state.get("version") != PICKLE_VERSION:
        return f"it is in pickle format {state.get('format')!r} {state.get('version')!r}"
    if state["code"] != code_identity():
        return "it was compiled by another version of graphc"
    return engine.unsupported(state["header"]["target"])


def pickled_state(function: CompiledFunction) -> dict:
    """What a compiled function pickles as: its graph, options, header (signature, target,
    workspace, symbols, statistics), object code, IR texts (compressed) and constant arrays;
    a constant equal to one of the graph's is recorded as ``IN_GRAPH`` (it travels once, in the
    graph, and is found there by its contents)."""
    header = function._artifacts["header"]
    in_graph = _graph_constants(function.graph)
    constants: list[object] = [
        IN_GRAPH if _key(meta) in in_graph else array
        for meta, array in zip(header["constants"], function._constants)
    ]
    return {
        "format": PICKLE_FORMAT,
        "version": PICKLE_VERSION,
        "code": code_identity(),
        # The graph as a pickle of its own: a process that already loaded this function (a Dask
        # worker receiving it with another task) skips rebuilding the graph.
        "graph": pickle.dumps(function.graph, protocol=pickle.HIGHEST_PROTOCOL),
        "options": function.stats["options"],
        "header": header,
        "object": function._artifacts["object"],
        "ir": zlib.compress(function.llvm_ir.encode(), 1),
        "optimized_ir": zlib.compress(function.optimized_ir.encode(), 1),
        "constants": constants,
    }


IN_GRAPH = "in-graph"  # a pickled constant that is one of the graph's


def _key(meta: dict) -> tuple:
    return (meta["dtype"], tuple(meta["shape"]), meta["digest"])


def _graph_constants(graph: Graph) -> dict[tuple, np.ndarray]:
    """The graph's constant arrays by (dtype, shape, digest): the key of ``constants.describe``
    (both digest the bytes with BLAKE2b-128)."""
    found = {}
    for node in graph.nodes:
        if node.op == "const":
            dtype, shape, digest = node.attrs["value"].key
            found[(dtype, tuple(shape), digest.hex())] = node.attrs["value"].array
    return found


def _unpickled_constants(graph: Graph, header: dict, pickled: list) -> list[np.ndarray]:
    in_graph = _graph_constants(graph)
    constants = []
    for meta, value in zip(header["constants"], pickled, strict=True):
        if isinstance(value, str) and value == IN_GRAPH:
            value = in_graph.get(_key(meta))
            if value is None:
                raise RuntimeError("a constant array of the pickled code is not in its graph")
        array = np.asarray(value)
        if shared_constants.describe(array) != meta:
            raise RuntimeError("a pickled constant array does not match its description")
        constants.append(
            shared_constants.share(meta, functools.partial(np.ascontiguousarray, array))
        )
    return constants


# Functions loaded from pickles in this process, by digest (see the module docstring): every
# one still in use, and the most recently unpickled few even when nothing uses them any more (a
# Dask task that carries a function drops it when it finishes; the next task brings it again).
_UNPICKLED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_RECENT: collections.OrderedDict[str, CompiledFunction] = collections.OrderedDict()
RECENT_UNPICKLED = 8
_UNPICKLED_LOCK = threading.Lock()


def load_pickled(state: dict) -> CompiledFunction:
    """What a pickled compiled function unpickles through: one load per digest and process."""
    digest = state.get("digest")
    with _UNPICKLED_LOCK:  # two threads unpickling one function load it once
        found = _UNPICKLED.get(digest) if digest else None
        if found is None:
            found = restore(state)
            if digest:
                _UNPICKLED[digest] = found
        if digest:
            _RECENT[digest] = found
            _RECENT.move_to_end(digest)
            while len(_RECENT) > RECENT_UNPICKLED:
                _RECENT.popitem(last=False)
    return found
