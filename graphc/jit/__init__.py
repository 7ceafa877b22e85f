"""Native code: ``compile(graph)`` optimizes a graph, lowers it to LLVM IR, compiles it with
llvmlite and returns a :class:`CompiledFunction`.

One module per stage, each timed in ``fn.stats["seconds"]``: :mod:`~graphc.jit.compiler` (the
driver), :mod:`~graphc.jit.plan` (kernels, fusion, buffers, parts), :mod:`~graphc.jit.kernels`
(one LLVM function per distinct loop kernel), :mod:`~graphc.jit.codegen` (the module: parts and
entry points), :mod:`~graphc.jit.emit` (IR text), :mod:`~graphc.jit.engine` (every llvmlite
call), :mod:`~graphc.jit.abi` (the native call's arguments), :mod:`~graphc.jit.function` (the
Python call path and pickling), :mod:`~graphc.jit.cache` (the disk cache),
:mod:`~graphc.jit.constants` (constant arrays shared between compiled functions) and
:mod:`~graphc.jit.export` (object files and C headers for ``gc.export``), with
:mod:`~graphc.jit.scan` and :mod:`~graphc.jit.revolve` (native loops, called by the planner and
the kernels) and :mod:`~graphc.jit.pickling` (compiled functions as pickles).
"""

from graphc.jit.compiler import compile
from graphc.jit.function import CompiledFunction

__all__ = ["CompiledFunction", "compile"]
