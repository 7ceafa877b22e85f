"""``CompiledFunction``: calls native code from Python, cheaply and safely.

The call path is generated Python source (as ``dataclasses`` and ``namedtuple`` do), specialised
to the graph's signature: the inputs become real parameters (so ``fn(x1=2.0, x2=5.0)`` and
Python's own errors for missing or unexpected arguments work), each argument is checked with a
couple of identity and tuple comparisons, and anything unusual goes to the slow path in
:mod:`graphc.arguments`, which converts it or raises the documented error. Arrays are handed to
native code as Python objects whose data pointer the code reads itself (``x.ctypes.data``
costs a microsecond per array).

Thread safety: every call allocates its own outputs (the native entry does, through numpy's C
API, for graphs with array outputs: :mod:`graphc.jit.abi`); the workspace is on the native
stack or, when large, a buffer per thread; the GIL is released while the graph runs (by ctypes,
or by the entry itself), so threads run compiled code in parallel. Inputs are only read.

Pickling: a compiled function pickles with its object code (:mod:`graphc.jit.pickling`), so
another process loads it without running LLVM.
"""

from __future__ import annotations

import copyreg
import ctypes
import hashlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from graphc import arguments, dtypes
from graphc.graph import Graph
from graphc.jit import engine
from graphc.jit.abi import NUMPY_API_SYMBOL, PYARRAY_DATA_OFFSET, call_abi
from graphc.ops import indexing
from graphc.shapes import contiguous_strides

_MISSING = object()  # the default of every generated parameter: "not given"

_CTYPES = {
    dtypes.FLOAT64: ctypes.c_double,
    dtypes.FLOAT32: ctypes.c_float,
    dtypes.INT64: ctypes.c_int64,
    dtypes.BOOL: ctypes.c_int8,
}


def _check_data_offset() -> bool:
    """The native entry reads ndarray->data at a fixed offset: confirm it on this build."""
    probe = np.arange(3.0)
    return ctypes.c_void_p.from_address(id(probe) + PYARRAY_DATA_OFFSET).value == probe.ctypes.data


if not _check_data_offset():  # pragma: no cover - only on unusual CPython/numpy builds
    raise ImportError(
        "graphc's native calls need PyArrayObject->data at offset "
        f"{PYARRAY_DATA_OFFSET}; this Python/numpy build differs (free-threaded builds do)"
    )


class CompiledFunction:
    """A graph compiled to native code. Call it like the graph's inputs: ``fn(x1, x2)`` or
    ``fn(x1=..., x2=...)``; ``fn.batch(...)`` evaluates many rows in one native loop."""

    def __init__(
        self,
        graph: Graph,
        code: engine.LoadedCode,
        constants: list[np.ndarray],
        workspace_bytes: int,
        artifacts: dict,
        stats: dict,
    ):
        self.graph = graph
        self.stats = stats
        self.workspace_bytes = workspace_bytes
        self._artifacts = artifacts
        self._code = code  # keeps the engine, hence every function pointer below, alive
        self._constants = [np.ascontiguousarray(c) for c in constants]
        table = (ctypes.c_void_p * max(len(self._constants), 1))(
            *[c.ctypes.data for c in self._constants]
        )
        self._table = table
        self._consts = ctypes.addressof(table)
        self._tls = threading.local()
        self._dtypes = {n: np.dtype(n.dtype) for n in (*graph.inputs, *graph.outputs)}
        self._native = self._call_prototype()(code.address("graph_call"))
        batch_type = ctypes.CFUNCTYPE(
            None,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_int64,
            ctypes.c_int64,
        )
        self._batch_native = batch_type(code.address("graph_batch"))
        self._batch_dense = batch_type(code.address("graph_batch_dense"))
        if indexing.needs_guard(graph):
            # Gathers report an index out of range through a callback; the call raises it.
            for native in (self._native, self._batch_native, self._batch_dense):
                indexing.guard(native)
        self._install_call()

    # -- inspection ---------------------------------------------------------------------------
    @property
    def llvm_ir(self) -> str:
        """The LLVM IR graphc generated (before LLVM's optimizer)."""
        return self._artifacts["ir"]

    @property
    def optimized_ir(self) -> str:
        """The IR after LLVM's optimizer: what was compiled."""
        return self._artifacts["optimized_ir"]

    @property
    def asm(self) -> str:
        """The machine code, as assembly text (generated on first access)."""
        if "asm" not in self._artifacts:
            header = self._artifacts.get("header", {})
            options = self.stats.get("options", {})
            self._artifacts["asm"] = engine.assembly(
                self.optimized_ir, options.get("opt_level", 2), header.get("target")
            )
        return self._artifacts["asm"]

    @property
    def signature(self) -> str:
        """``(x1: f64[], x2: f64[]) -> (f64[], f64[])``: the inputs and outputs' types."""
        ins = ", ".join(f"{n.name}: {n.type_str}" for n in self.graph.inputs)
        outs = ", ".join(o.type_str for o in self.graph.outputs)
        return f"({ins}) -> {outs if self.graph.single_output else f'({outs})'}"

    def __repr__(self) -> str:
        """Signature, graph and kernel counts, and how the code came to be (three lines)."""
        stats = self.stats
        seconds = stats.get("seconds", {})
        total = seconds.get("total", 0.0)
        kernels = (
            f"{stats.get('nodes')} nodes ({stats.get('nodes_optimized')} after optimization), "
            f"{_count(stats.get('kernels'), 'kernel')} "
            f"({_count(stats.get('kernel_functions'), 'loop function')}) in "
            f"{_count(stats.get('parts'), 'part')}, workspace {stats.get('workspace_bytes')} B"
        )
        cache = stats.get("cache")
        if cache == "hit":
            origin = f"loaded from the disk cache in {total:.3f} s"
        elif cache == "pickle":
            origin = f"loaded from a pickle in {total:.3f} s"
        else:
            llvm = seconds.get("llvm_optimize", 0.0) + seconds.get("codegen", 0.0)
            origin = f"compiled in {total:.3f} s (LLVM {llvm:.3f} s)"
        target = self._artifacts.get("header", {}).get("target")
        if target:
            origin += f", cpu {target['name']} ({target['cpu']})"
        if stats.get("vector_math"):
            origin += ", vector math"
        return f"<CompiledFunction {self.signature}\n  {kernels}\n  {origin}>"

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # IPython/Jupyter: the same text
        printer.text(repr(self))

    # -- the call path ------------------------------------------------------------------------
    def _call_prototype(self):
        straight_line = bool(self.stats.get("straight_line"))
        # Whether the entry allocates is read from the code (its symbols), not this process.
        numpy_api = NUMPY_API_SYMBOL in self._artifacts["header"]["symbols"]
        abi = call_abi(
            self.graph, self.workspace_bytes, len(self._constants), straight_line, numpy_api
        )
        argtypes = []
        for node in self.graph.inputs:
            argtypes.append(_CTYPES[node.dtype] if node.shape == () else ctypes.py_object)
        if abi.pack:
            argtypes.append(ctypes.py_object)
        if not abi.allocates:
            argtypes += [ctypes.py_object for o in self.graph.outputs if o.shape != ()]
        if abi.workspace_from_python:
            argtypes.append(ctypes.py_object)
        if abi.constants:
            argtypes.append(ctypes.c_void_p)
        self._abi = abi
        if abi.boxed:
            restype = ctypes.py_object
        else:
            restype = ctypes.c_double if abi.direct is not None else None
        prototype = ctypes.PYFUNCTYPE if abi.holds_gil else ctypes.CFUNCTYPE
        return prototype(restype, *argtypes)

    def _workspace(self) -> np.ndarray:
        try:
            return self._tls.workspace
        except AttributeError:
            self._tls.workspace = np.empty(self.workspace_bytes, dtype=np.uint8)
            return self._tls.workspace

    def _slow_argument(self, position: int, value: object) -> object:
        node = self.graph.inputs[position]
        if value is _MISSING:
            names = self.graph.input_names
            raise TypeError(
                f"missing argument(s) {names[position]!r}; the inputs are ({', '.join(names)})"
            )
        array = arguments.check(node, value, strict=True)
        if node.shape == ():
            return array.item() if node.dtype != dtypes.BOOL else int(bool(array))
        return array

    def _install_call(self) -> None:
        """Generate ``__call__`` for this signature (see the module docstring).

        Input names are data, never code: the parameters are ``gc_arg0, gc_arg1, ...``
        (positional-only, defaulting to a sentinel), keywords arrive in ``**gc_kw`` and are bound
        by name through :func:`graphc.arguments.bind`, and every helper the source uses is bound
        under a ``gc_`` name, so an input called ``type`` or ``gc_native`` shadows nothing.
        """
        inputs = self.graph.inputs
        params = [f"gc_arg{k}" for k in range(len(inputs))]
        env: dict[str, object] = {
            "gc_native": self._native,
            "gc_empty": np.empty,
            "gc_ndarray": np.ndarray,
            "gc_slow": self._slow_argument,
            "gc_rebind": self._bind_keywords,
            "gc_missing": _MISSING,
            "gc_consts": self._consts,
            "gc_workspace": self._workspace,
            "gc_float32": np.float32,
            "gc_type": type,
            "gc_int": int,
            "gc_float": float,
        }
        lines = []
        if params:
            lines.append(
                f"    if gc_kw: ({', '.join(params)},) = gc_rebind(({', '.join(params)},), gc_kw)"
            )
        else:
            lines.append("    if gc_kw: gc_rebind((), gc_kw)")
        for k, (node, name) in enumerate(zip(inputs, params)):
            if node.shape == ():
                if node.dtype == dtypes.FLOAT64:
                    check = f"gc_type({name}) is not gc_float"
                elif node.dtype == dtypes.INT64:
                    # ctypes would wrap a Python int outside int64 silently: range-check it.
                    check = (
                        f"gc_type({name}) is not gc_int or not "
                        f"{arguments.INT64_MIN} <= {name} <= {arguments.INT64_MAX}"
                    )
                else:
                    check = "True"
                lines.append(f"    if {check}: {name} = gc_slow({k}, {name})")
            else:
                env[f"gc_dtype{k}"] = np.dtype(node.dtype)
                env[f"gc_shape{k}"] = node.shape
                env[f"gc_strides{k}"] = tuple(
                    s * np.dtype(node.dtype).itemsize for s in contiguous_strides(node.shape)
                )
                lines.append(
                    f"    if gc_type({name}) is not gc_ndarray or {name}.dtype is not gc_dtype{k} "
                    f"or {name}.shape != gc_shape{k} or {name}.strides != gc_strides{k}: "
                    f"{name} = gc_slow({k}, {name})"
                )
        call_args = list(params)
        outputs = self.graph.outputs
        abi = self._abi
        if abi.pack:
            lines.append(f"    gc_pack = gc_empty({len(outputs)})")
            call_args.append("gc_pack")
        for k, node in enumerate(outputs):
            if node.shape != () and not abi.allocates:
                env[f"gc_oshape{k}"] = node.shape
                env[f"gc_odtype{k}"] = np.dtype(node.dtype)
                lines.append(f"    gc_out{k} = gc_empty(gc_oshape{k}, gc_odtype{k})")
                call_args.append(f"gc_out{k}")
        if abi.workspace_from_python:
            call_args.append("gc_workspace()")
        if abi.constants:
            call_args.append("gc_consts")
        call = f"gc_native({', '.join(call_args)})"
        if abi.boxed:  # the native entry built the result (and allocated the arrays)
            lines.append(f"    return {call}")
        else:
            results = [self._result_expression(k, node) for k, node in enumerate(outputs)]
            if abi.direct is not None:
                results[abi.direct] = call if len(outputs) == 1 else "gc_direct"
                if len(outputs) > 1:
                    lines.append(f"    gc_direct = {call}")
            else:
                lines.append(f"    {call}")
            if abi.pack:
                lines.append("    gc_values = gc_pack.tolist()")
            if self.graph.single_output:
                lines.append(f"    return {results[0]}")
            else:
                lines.append(f"    return ({', '.join(results)}{',' if len(results) == 1 else ''})")
        positional = "".join(f"{p}=gc_missing, " for p in params)
        header = f"def __call__(gc_self, {positional}/, **gc_kw):"
        source = "\n".join([header, *lines]) + "\n"
        # (Named after the signature, not the structural hash: hashing a large graph costs more
        # than the rest of this constructor.)
        name = (
            f"<graphc call of {len(self.graph.inputs)} inputs, {len(self.graph.outputs)} outputs>"
        )
        exec(compile(source, name, "exec"), env)
        self._call_source = source
        # A class per function, so `fn(...)` reaches the generated code with no extra frame (a
        # subclass of CompiledFunction, which mypy cannot see through the metaclass call).
        self.__class__ = _PerFunctionClass(  # type: ignore[assignment]
            "CompiledFunction", (CompiledFunction,), {"__call__": env["__call__"]}
        )

    def _bind_keywords(self, values: tuple, keywords: dict) -> tuple:
        """Arguments given by name, merged with the positional ones (a prefix of ``values``)."""
        given = next((k for k, v in enumerate(values) if v is _MISSING), len(values))
        return tuple(arguments.bind(self.graph.input_names, values[:given], keywords))

    def _result_expression(self, k: int, node) -> str:
        if node.shape != ():
            return f"gc_out{k}"
        if node.dtype == dtypes.FLOAT64:
            return f"gc_values[{k}]"
        if node.dtype == dtypes.FLOAT32:
            return f"gc_float32(gc_pack.view('float32')[{2 * k}])"
        if node.dtype == dtypes.INT64:
            return f"int(gc_pack.view('int64')[{k}])"
        return f"bool(gc_pack.view('uint8')[{8 * k}])"

    def __call__(self, *args, **kwargs):  # replaced per instance by _install_call
        raise RuntimeError("compiled function was not initialised")

    def __reduce__(self):
        # Pickles with its object code (graphc.jit.pickling); the state is computed once,
        # since Dask pickles a function with every task.
        from graphc.jit.pickling import load_pickled, pickled_state

        state = getattr(self, "_pickled", None)
        if state is None:
            state = pickled_state(self)
            digest = hashlib.sha256(state["object"])
            digest.update(repr((state["code"], state["options"], state["header"])).encode())
            digest.update(self.graph.structural_hash.encode())
            state["digest"] = digest.hexdigest()
            self._pickled = state
        return (load_pickled, (state,))

    # -- batches ------------------------------------------------------------------------------
    def batch(self, *args, threads: int = 1, **kwargs):
        """Evaluate every row of batched arguments in one native loop.

        Each argument has the input's shape with a leading batch axis of length N (all the same
        N), or exactly the input's shape (the same value for every row). Returns the outputs
        stacked along a leading axis of length N. ``threads > 1`` splits the rows over threads
        (the GIL is released during native calls); ``threads=None`` uses every CPU.
        """
        if threads is not None and (
            not isinstance(threads, int) or isinstance(threads, bool) or threads < 1
        ):
            raise ValueError(f"batch: threads must be a positive int or None, got {threads!r}")
        values = arguments.bind(self.graph.input_names, args, kwargs)
        prepared, count = [], None
        for node, value in zip(self.graph.inputs, values):
            array, batched = arguments.check_batch(node, value)
            if batched:
                if count is not None and array.shape[0] != count:
                    raise ValueError(
                        f"batch: arguments have different batch sizes "
                        f"({count} and {array.shape[0]})"
                    )
                count = array.shape[0]
            prepared.append((array, batched))
        if count is None:
            raise ValueError("batch: no argument has a batch axis")
        # Rows stacked contiguously take the dense entry, whose loop over rows vectorises; a
        # strided argument is copied when that lets the whole batch take it.
        dense = all(batched for _, batched in prepared)
        keep, bases, strides = [], [], []
        for array, batched in prepared:
            if dense or not (array[0] if batched and count else array).flags.c_contiguous:
                array = np.ascontiguousarray(array)
            keep.append(array)
            bases.append(_data_pointer(array))
            strides.append(array.strides[0] if batched and array.ndim else 0)
        outputs = []
        for node in self.graph.outputs:
            out = np.empty((count, *node.shape), dtype=self._dtypes[node])
            outputs.append(out)
            bases.append(_data_pointer(out))
            strides.append(out.strides[0] if count else 0)
        base_table = (ctypes.c_void_p * len(bases))(*bases)
        stride_table = (ctypes.c_int64 * len(strides))(*strides)
        workers = (os.cpu_count() or 1) if threads is None else threads
        workers = min(workers, max(count, 1))
        bounds = [count * part // workers for part in range(workers + 1)]
        native = self._batch_dense if dense else self._batch_native
        base_address, stride_address = ctypes.addressof(base_table), ctypes.addressof(stride_table)

        def run(part: int) -> None:
            workspace = self._workspace() if self.workspace_bytes else None
            native(
                base_address,
                stride_address,
                0 if workspace is None else _data_pointer(workspace),
                self._consts,
                bounds[part],
                bounds[part + 1],
            )

        if workers == 1:
            run(0)
        else:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(run, range(workers)))
        del keep
        return outputs[0] if self.graph.single_output else tuple(outputs)


def _count(n: object, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


class _PerFunctionClass(type):
    """The metaclass of each function's own class (see ``_install_call``): such a class pickles
    as CompiledFunction itself (``dask.distributed`` pickles the type of every result)."""


def _compiled_function_class() -> type:
    return CompiledFunction


def _reduce_per_function_class(cls: type) -> tuple[Callable[[], type], tuple[()]]:
    return _compiled_function_class, ()


copyreg.pickle(_PerFunctionClass, _reduce_per_function_class)  # type: ignore[arg-type]


def _data_pointer(array: np.ndarray) -> int:
    """``array.ctypes.data`` at a seventh of its cost (the offset is checked at import)."""
    return ctypes.c_void_p.from_address(id(array) + PYARRAY_DATA_OFFSET).value or 0


def _rebuild(compile_graph, graph, options):
    # What pickles made before compiled functions carried their object code refer to (by this
    # name): compile again.
    return compile_graph(graph, **options)
