"""Lowering, part 3: the LLVM module of a :class:`~graphc.jit.plan.Plan`.

The module holds:
- ``kernel0 .. kernelK``: the loop kernels, one function per distinct structure
  (:mod:`graphc.jit.kernels`), called with pointers to where their values are;
- ``part0 .. partN``: the plan's kernels in order, each part a function of bounded size taking
  one ``noalias`` pointer per input/output buffer, the workspace and one per constant array.
  Scalar kernels are straight-line code here; loop kernels are calls. A part of at least
  :data:`UNOPTIMIZED_FROM` instructions skips LLVM's IR optimizer (graphc's passes have done
  what it would do there) and is then compiled like the rest;
- ``graph_body``: calls the parts in order;
- when the graph is straight-line code (no loop kernels) of at least :data:`SEPARATE_FROM`
  instructions, its parts are spread over up to ``modules`` LLVM modules of about equal size
  (:func:`_spread`): the engine generates their code in parallel threads, and LLVM's code
  generator, not graphc, is most of a large graph's compile time (two modules on two cores:
  0.16-0.24 s where one took 0.29-0.46 s, the 10k-node DAG's parts);
- ``graph_call``: the entry for one call from Python, with the arguments of
  :class:`graphc.jit.abi.CallABI`;
- ``graph_batch``: the body in a loop over rows ``begin <= r < end`` of batched arguments, each
  argument given as a base pointer and a byte stride per row (0 broadcasts one value to all);
  ``graph_batch_dense`` the same for rows stacked contiguously (constant strides, so LLVM can
  vectorise the loop over rows).

A straight-line graph (scalars only) of at most :data:`INLINE_LIMIT` instructions is inlined
into the entry points (the dense batch loop then vectorises over rows); any other is not: three
inlined copies, one inside a loop the vectoriser works on, made an 800-instruction graph compile
eight times slower, and a graph with loop kernels gains nothing from them (the Rosenbrock
gradient at n = 1000 compiled in a third of the time without).

:func:`emit_function` emits a plan as one internal function of the module (its kernels and parts
named after it), without entry points: how a loop's body becomes the function its kernel calls
once per step (:mod:`graphc.jit.scan`).
"""

from __future__ import annotations

from graphc import dtypes
from graphc.jit import emit
from graphc.jit.abi import (
    NUMPY_API,
    NUMPY_API_SYMBOL,
    PYARRAY_DATA_OFFSET,
    PYARRAY_NEW_SLOT,
    PYARRAY_TYPE_SLOT,
    TYPE_NUMBERS,
    call_abi,
)
from graphc.jit.emit import ITEM_SIZES, LLVM_TYPES, FunctionBuilder, Module, Value, literal
from graphc.jit.kernels import KernelLibrary
from graphc.jit.plan import SCALAR, Kernel, Layout, Plan
from graphc.node import Node
from graphc.ops.base import OPS

# Graphs up to this many instructions are inlined into the entry points.
INLINE_LIMIT = 200
# Parts of at least this many instructions skip LLVM's IR passes (O2 costs ~10 us an instruction
# there, the engine's extra parse ~3 us an instruction of the whole module).
UNOPTIMIZED_FROM = 500
# Straight-line graphs of at least this many instructions are split into several modules: a
# thread costs ~0.1 ms, code generation ~30 us an instruction.
SEPARATE_FROM = 2000
# The entry points (the call entry and two batch loops) cost the code generator about what 800
# instructions of parts do (24 ms against 32 ms for a part of ~1,100, measured on the 10k DAG).
ENTRY_POINTS_COST = 800


class PartEmitter:
    """Emits the kernels of one part into one function: scalar code, and kernel calls."""

    def __init__(self, plan: Plan, module: Module, library: KernelLibrary):
        self.plan = plan
        self.library = library
        self.fb = FunctionBuilder(module)
        self.bases: dict[tuple[str, int], str] = {}
        self.scalars: dict[Node, Value] = {}
        self.input_index = {node: k for k, node in enumerate(plan.graph.inputs)}

    # -- where values are ---------------------------------------------------------------------
    def base_pointer(self, base: tuple[str, int]) -> str:
        pointer = self.bases.get(base)
        if pointer is None:
            kind, index = base
            if kind == "io":
                pointer = f"%io{index}"
            elif kind == "const":
                pointer = f"%cst{index}"
            else:
                pointer = self.fb.gep_bytes("%ws", index)
            self.bases[base] = pointer
        return pointer

    def element_pointer(self, layout: Layout) -> str:
        """The address of ``layout``'s first element."""
        return self.fb.gep(self.base_pointer(layout.base), layout.offset, layout.dtype)

    def scalar(self, node: Node) -> Value:
        """The value of a node of scalar layout (loaded once per part)."""
        holder = self.plan.scalar_of[node]
        value = self.scalars.get(holder)
        if value is not None:
            return value
        if holder.op == "const":
            value = Value(literal(holder.value.reshape(-1)[0].item(), holder.dtype), holder.dtype)
        elif holder.op == "input":
            index = self.input_index[holder]
            value = self.fb.load(self.base_pointer(("io", index)), holder.dtype)
        elif holder in self.plan.homes:
            value = self.fb.load(self.element_pointer(self.plan.homes[holder]), holder.dtype)
        else:
            raise AssertionError(f"scalar {holder!r} read before it is computed")
        self.scalars[holder] = value
        return value

    def read_scalar_shaped(self, node: Node) -> Value:
        """A shape-() value: a scalar, or one element of an array (e.g. ``x[3]``)."""
        layout = self.plan.layouts[node]
        if layout == SCALAR:
            return self.scalar(node)
        assert isinstance(layout, Layout)
        return self.fb.load(self.element_pointer(layout), layout.dtype)

    def define_scalar(self, node: Node, value: Value) -> None:
        self.scalars[node] = value
        home = self.plan.homes.get(node)
        if home is not None:
            self.fb.store(value, self.element_pointer(home))

    # -- kernels ------------------------------------------------------------------------------
    def emit(self, kernel: Kernel) -> None:
        if kernel.kind == "scalar":
            node = kernel.root
            lower = OPS[node.op].lower
            assert lower is not None, f"{node.op} has no lowering"
            operands = [self.read_scalar_shaped(a) for a in node.args]
            self.define_scalar(node, lower(self.fb, node, *operands))
            return
        if kernel.kind == "copy" and kernel.target is not None and kernel.root.shape == ():
            # A scalar output that is also another output (or an input, a constant): a store.
            value = self.read_scalar_shaped(kernel.source)  # type: ignore[arg-type]
            self.fb.store(
                self.fb.cast(value, kernel.target.dtype), self.element_pointer(kernel.target)
            )
            return
        name, code = self.library.function_for(kernel)
        args = [
            f"ptr {self.element_pointer(Layout(base, offset, (), dtype))}"
            for base, offset, dtype in code.pointers
        ]
        for holder in code.scalars:
            value = self.scalar(holder)
            if value.dtype == dtypes.BOOL:  # booleans cross calls as i8
                args.append(f"i8 {self.fb.instr(dtypes.BOOL, f'zext i1 {value.text} to i8').text}")
            else:
                args.append(f"{value.type} {value.text}")
        call = f"@{name}({', '.join(args)})"
        if code.result is None:
            self.fb.emit(f"call void {call}")
        elif code.result == dtypes.BOOL:
            byte = self.fb.instr(dtypes.BOOL, f"call i8 {call}")
            self.define_scalar(
                kernel.root, self.fb.instr(dtypes.BOOL, f"trunc i8 {byte.text} to i1")
            )
        else:
            result = self.fb.instr(code.result, f"call {LLVM_TYPES[code.result]} {call}")
            self.define_scalar(kernel.root, result)


def _part_attributes(fb: FunctionBuilder, mark: bool = True) -> str:
    """A part that is not inlined: a large one is left out of LLVM's IR optimizer
    (:data:`~graphc.jit.emit.UNOPTIMIZED`; ``mark=False`` where the optimizer does not run); a
    small one would save less than the engine's extra parse of the module costs."""
    large = mark and fb.instructions >= UNOPTIMIZED_FROM
    return f"noinline {emit.UNOPTIMIZED}" if large else "noinline"


def llvm_levels(lowering: dict, opt_level: int) -> tuple[int, int]:
    """The levels of LLVM's IR optimizer and of its code generator for a module of
    :func:`emit_module` (its statistics ``lowering``) compiled at ``opt_level``.

    - No IR optimizer for straight-line code only (``ir_passes`` false; see UNOPTIMIZED).
    - Code generation at O1 at most when large straight-line parts are most of the work: it is
      O2's instruction selection and register allocator without the post-RA scheduler, which
      took 15-20% of the code generator's time on them. Measured the same run time at O1 and
      O2 on the 10k-node DAG (80 us), its gradient, Helmholtz f+grad (n = 300: 34 us, n =
      1000: 330 us), its forward Jacobian (n = 15) and the Rosenbrock gradient (n = 1000).
    """
    ir_level = opt_level if lowering["ir_passes"] else 0
    codegen_level = min(opt_level, 1) if lowering["large_parts"] else opt_level
    return ir_level, codegen_level


def slp_vectorization(lowering: dict) -> bool:
    """Whether LLVM's SLP vectoriser runs on a module of :func:`emit_module`: where it has loop
    kernels. A map or reduction over rows of a few elements (the (1000, 10) arrays of a
    model's blocks) has its inner loop fully unrolled before the loop vectoriser sees it, and
    stays scalar code without SLP: with it, the block model's f and f + gradient (d = 10, 25 and
    50 columns) ran 5-8% faster, for 0-4% more compile time. Without loop kernels it is off:
    straight-line code gained nothing and compiled up to 20% slower."""
    return lowering["kernel_calls"] > 0


def emit_module(
    plan: Plan, reassociate: bool = False, vector_math: bool = False, modules: int = 1
) -> tuple[str, set[str], dict]:
    """The module's IR text (up to ``modules`` modules, see the module docstring), the external
    symbols it needs, and statistics."""
    module = Module(vector_math)
    library = KernelLibrary(plan, module, reassociate)
    n_io = plan.n_inputs + plan.n_outputs
    n_const = len(plan.constants)
    io_params = [f"ptr noalias %io{k}" for k in range(n_io)]
    part_params, parts = _emit_parts(plan, module, library)
    instructions = library.instructions + sum(fb.instructions for fb in parts)
    # Only straight-line graphs are inlined: a graph with loop kernels gains nothing from a
    # copy per entry (its rows are too big to vectorise across) and costs LLVM three times.
    inline = plan.parts == 1 and instructions <= INLINE_LIMIT and library.calls == 0
    # A larger graph without loop kernels is straight-line code and entry points that call it:
    # nothing LLVM's IR optimizer improves (see UNOPTIMIZED), so it does not run at all.
    ir_passes = inline or library.calls > 0
    library.finish(inline)
    separate = _spread(parts, modules) if not ir_passes and instructions >= SEPARATE_FROM else {}
    part_types = ", ".join(["ptr"] * (n_io + 1 + n_const))
    for part, fb in enumerate(parts):
        if part in separate:  # defined in another module, declared in this one
            header = f"define void @part{part}({part_params}) noinline nounwind"
            module.separate.setdefault(separate[part], []).append(fb.text(header))
            module.imports.append(f"declare void @part{part}({part_types}) nounwind")
            continue
        attributes = "alwaysinline" if inline else _part_attributes(fb, mark=ir_passes)
        fb.finish(f"define internal void @part{part}({part_params}) {attributes} nounwind")

    io_args = [f"ptr %io{k}" for k in range(n_io)]
    const_args = [f"ptr %cst{k}" for k in range(n_const)]
    call_args = ", ".join(io_args + ["ptr %ws"] + const_args)
    body = FunctionBuilder(module)
    for k in range(n_const):
        slot = body.gep("%consts", k, dtypes.INT64)  # the table holds one pointer per constant
        body.emit(f"%cst{k} = load ptr, ptr {slot}")
    for part in range(plan.parts):
        body.emit(f"call void @part{part}({call_args})")
    body.finish(
        "define internal void @graph_body("
        + ", ".join(io_params + ["ptr noalias %ws", "ptr %consts"])
        + ") alwaysinline nounwind"
    )
    _emit_call_entry(plan, module, straight_line=inline)
    _emit_batch_entry(plan, module, dense=False)
    _emit_batch_entry(plan, module, dense=True)
    stats = {
        "parts": plan.parts,
        "kernels": len(plan.kernels),
        "kernel_functions": len(library.texts),
        "kernel_calls": library.calls,
        "instructions": instructions,
        "straight_line": inline,  # inlined into the entries; decides the call ABI too
        "ir_passes": ir_passes,  # whether LLVM's IR optimizer runs (llvm_levels)
        "large_parts": 0 if inline else sum(fb.instructions >= UNOPTIMIZED_FROM for fb in parts),
        "modules": 1 + len(module.separate),
    }
    return module.text(), module.external_symbols, stats


def _spread(parts: list[FunctionBuilder], modules: int) -> dict[int, int]:
    """Parts moved out of the first module: part -> module (1, 2, ...). Consecutive parts go
    together, each module taking about an equal share of the code generator's work: a part goes
    where its middle falls, and the first module, which keeps the entry points, counts them as
    :data:`ENTRY_POINTS_COST` instructions (measured on the 10k-node DAG: first-come shares gave
    its first module 6 of 10 parts and 1.6 times the second's time)."""
    modules = min(modules, len(parts))
    total = ENTRY_POINTS_COST + sum(fb.instructions for fb in parts)
    moved, done = {}, ENTRY_POINTS_COST
    for part, fb in enumerate(parts):
        chosen = min(modules - 1, (done + fb.instructions // 2) * modules // total)
        if chosen:
            moved[part] = chosen
        done += fb.instructions
    return moved


def _scalar_param_type(dtype: str) -> str:
    return "i8" if dtype == dtypes.BOOL else LLVM_TYPES[dtype]


# How the C API boxes each scalar dtype (for a CallABI.boxed entry).
_BOXES = {
    dtypes.FLOAT64: ("PyFloat_FromDouble", "double"),
    dtypes.INT64: ("PyLong_FromLongLong", "i64"),
    dtypes.BOOL: ("PyBool_FromLong", "i64"),
}


def _emit_call_entry(plan: Plan, module: Module, straight_line: bool) -> None:
    fb = FunctionBuilder(module)
    params, pointers = [], []
    for k, node in enumerate(plan.graph.inputs):
        if node.shape == ():
            ty = _scalar_param_type(node.dtype)
            params.append(f"{ty} %arg{k}")
            slot = fb.alloca(ty)
            fb.emit(f"store {ty} %arg{k}, ptr {slot}")
            pointers.append(slot)
        else:
            params.append(f"ptr %arg{k}")
            pointers.append(_array_data(fb, f"%arg{k}"))
    abi = call_abi(plan.graph, plan.workspace_bytes, len(plan.constants), straight_line, NUMPY_API)
    outputs = plan.graph.outputs
    result: str | None = None
    arrays: dict[int, str] = {}  # output -> its array, when the entry allocates them
    if abi.boxed:
        result, arrays = _allocate_outputs(fb, outputs, plan.graph.single_output)
    pack = None
    if abi.pack:
        params.append("ptr %pack")
        pack = _array_data(fb, "%pack")
    result_slot = None
    for k, node in enumerate(outputs):
        if k in arrays:
            pointers.append(_array_data(fb, arrays[k]))
        elif node.shape != ():
            params.append(f"ptr %out{k}")
            pointers.append(_array_data(fb, f"%out{k}"))
        elif k == abi.direct:
            result_slot = fb.alloca("double")
            pointers.append(result_slot)
        elif abi.boxed:
            pointers.append(fb.alloca("i64"))  # an 8-byte slot, as in the pack
        else:
            pointers.append(fb.gep_bytes(pack, 8 * k))  # type: ignore[arg-type]
    if abi.workspace_from_python:
        params.append("ptr %wsobj")
        workspace = _array_data(fb, "%wsobj")
    else:
        workspace = fb.alloca("i8", max(plan.workspace_bytes, 1), align=64)
    if abi.constants:
        params.append("ptr %consts")
    consts = "%consts" if abi.constants else "null"
    args = ", ".join([f"ptr {p}" for p in pointers] + [f"ptr {workspace}", f"ptr {consts}"])
    if abi.releases_gil:  # the entry holds the GIL to allocate and box, not to compute
        thread = _c_call(fb, "ptr", "PyEval_SaveThread")
    fb.emit(f"call void @graph_body({args})")
    if abi.releases_gil:
        _c_call(fb, "void", "PyEval_RestoreThread", f"ptr {thread}")
    if abi.boxed:
        first = plan.n_inputs  # the output slots follow the inputs' pointers
        for k, node in enumerate(outputs):
            if k in arrays:
                continue
            box = _box(fb, node, pointers[first + k])
            if result is None:  # the only output
                result = box
            else:
                _return_null_if_null(fb, box, owner=result)
                _c_call(fb, "i32", "PyTuple_SetItem", f"ptr {result}", f"i64 {k}", f"ptr {box}")
        fb.finish(f"define ptr @graph_call({', '.join(params)}) nounwind", f"ret ptr {result}")
        return
    if result_slot is not None:
        value = fb.instr(dtypes.FLOAT64, f"load double, ptr {result_slot}")
        fb.finish(
            f"define double @graph_call({', '.join(params)}) nounwind", f"ret double {value.text}"
        )
    else:
        fb.finish(f"define void @graph_call({', '.join(params)}) nounwind")


def _c_call(fb: FunctionBuilder, result: str, function: str, *args: str) -> str:
    """Call a function of Python's C API (resolved in the process, like libm's functions) with
    typed ``args`` (``"ptr %x"``); returns the result's name (void: empty)."""
    types = ", ".join(arg.split(" ")[0] for arg in args)
    fb.module.declare(f"declare {result} @{function}({types})")
    fb.module.external_symbols.add(function)
    call = f"call {result} @{function}({', '.join(args)})"
    if result == "void":
        fb.emit(call)
        return ""
    return fb.instr(dtypes.INT64, call, "r").text  # (the dtype is not used)


def _allocate_outputs(
    fb: FunctionBuilder, outputs: tuple[Node, ...], single: bool
) -> tuple[str | None, dict[int, str]]:
    """A boxed entry's result before the body runs (the tuple of the outputs, or the one
    output's array, or None) and the array outputs (``CallABI.allocates``; in the tuple already)
    made by numpy's ``PyArray_New``: owned, C-contiguous, writable. When an allocation fails the
    entry returns NULL with the exception set (MemoryError)."""
    result = None if single else _c_call(fb, "ptr", "PyTuple_New", f"i64 {len(outputs)}")
    if result is not None:
        _return_null_if_null(fb, result)
    arrays: dict[int, str] = {}
    api = f"@{NUMPY_API_SYMBOL}"
    for k, node in enumerate(outputs):
        if node.shape == ():
            continue
        if not arrays:  # the API table (whose address is bound at load time), two of its slots
            fb.module.declare(f"{api} = external global [0 x ptr]")
            fb.module.external_symbols.add(NUMPY_API_SYMBOL)
            subtype = fb.load_pointer(fb.gep(api, PYARRAY_TYPE_SLOT, dtypes.INT64))
            new = fb.load_pointer(fb.gep(api, PYARRAY_NEW_SLOT, dtypes.INT64))
        dims = f"@graph_call_dims{k}"
        shape = ", ".join(f"i64 {d}" for d in node.shape)
        fb.module.declare(f"{dims} = private constant [{len(node.shape)} x i64] [{shape}]")
        arrays[k] = fb.instr(
            dtypes.INT64,
            f"call ptr {new}(ptr {subtype}, i32 {len(node.shape)}, ptr {dims}, "
            f"i32 {TYPE_NUMBERS[node.dtype]}, ptr null, ptr null, i32 0, i32 0, ptr null)",
        ).text
        _return_null_if_null(fb, arrays[k], owner=result)
        if result is not None:  # PyTuple_SetItem steals the reference
            _c_call(fb, "i32", "PyTuple_SetItem", f"ptr {result}", f"i64 {k}", f"ptr {arrays[k]}")
    return arrays.get(0) if single else result, arrays


def _return_null_if_null(fb: FunctionBuilder, value: str, owner: str | None = None) -> None:
    """Return NULL (the exception is set) when ``value`` is NULL, releasing ``owner`` first."""
    failed = fb.instr(dtypes.BOOL, f"icmp eq ptr {value}, null").text
    fail, ok = fb.new_block("fail"), fb.new_block("ok")
    fb.emit(f"br i1 {failed}, label %{fail}, label %{ok}")
    fb.label(fail)
    if owner is not None:
        _c_call(fb, "void", "Py_DecRef", f"ptr {owner}")
    fb.emit("ret ptr null")
    fb.label(ok)


def _box(fb: FunctionBuilder, node: Node, slot: str) -> str:
    """A new Python object holding the scalar output stored at ``slot`` (NULL: MemoryError)."""
    function, ty = _BOXES[node.dtype]
    if node.dtype == dtypes.BOOL:
        byte = fb.instr(dtypes.INT64, f"load i8, ptr {slot}")
        value = fb.instr(dtypes.INT64, f"zext i8 {byte.text} to i64").text
    else:
        value = fb.instr(node.dtype, f"load {ty}, ptr {slot}").text
    return _c_call(fb, "ptr", function, f"{ty} {value}")


def _array_data(fb: FunctionBuilder, obj: str) -> str:
    field_ = fb.gep_bytes(obj, PYARRAY_DATA_OFFSET)
    return fb.load_pointer(field_)


def _emit_batch_entry(plan: Plan, module: Module, dense: bool) -> None:
    """``graph_batch`` takes a byte stride per argument; ``graph_batch_dense`` assumes every
    argument is a contiguous stack of rows, so its strides are constants and LLVM can vectorise
    the loop over rows (with ``vector_math``, transcendental functions too)."""
    fb = FunctionBuilder(module)
    n_io = plan.n_inputs + plan.n_outputs
    bases = [fb.load_pointer(fb.gep("%bases", k, dtypes.INT64)) for k in range(n_io)]
    if dense:
        nodes = (*plan.graph.inputs, *plan.graph.outputs)
        strides = [str(max(n.size, 1) * ITEM_SIZES[n.dtype]) for n in nodes]
    else:
        strides = [
            fb.load(fb.gep("%strides", k, dtypes.INT64), dtypes.INT64).text for k in range(n_io)
        ]
    empty = fb.fresh("c")
    fb.emit(f"{empty} = icmp sge i64 %begin, %end")
    run = fb.new_block("run")
    done = fb.new_block("done")
    fb.emit(f"br i1 {empty}, label %{done}, label %{run}")
    fb.label(run)
    count = fb.index_arith("sub nsw", "%end", "%begin")
    row_index, state = fb.loop_begin(count)
    row = fb.index_arith("add nsw", row_index, "%begin")
    pointers = []
    for base, stride in zip(bases, strides):
        step = fb.index_arith("mul nsw", row, stride)
        pointers.append(fb.gep_bytes(base, step))
    args = ", ".join([f"ptr {p}" for p in pointers] + ["ptr %ws", "ptr %consts"])
    fb.emit(f"call void @graph_body({args})")
    fb.loop_end(state)
    fb.emit(f"br label %{done}")
    fb.label(done)
    name = "graph_batch_dense" if dense else "graph_batch"
    fb.finish(
        f"define void @{name}(ptr noalias %bases, ptr noalias %strides, ptr %ws, "
        "ptr %consts, i64 %begin, i64 %end) nounwind"
    )


# -- entry points for C programs (gc.export) --------------------------------------------------
def emit_export_entries(plan: Plan, name: str) -> str:
    """IR text to append to :func:`emit_module`'s for an object file C programs call
    (``graphc.jit.export`` writes the header that documents these):

    - ``i32 @name(ptr inputs, ptr outputs)``: ``inputs``/``outputs`` are arrays of pointers to
      contiguous row-major data, in the graph's order (a scalar: a pointer to one element);
    - ``i32 @name_work(ptr inputs, ptr outputs, ptr work)``: the same with a caller's workspace
      of ``plan.workspace_bytes`` bytes;
    - ``i32 @name_batch(ptr inputs, ptr outputs, i64 n)``: ``n`` rows, each argument a
      contiguous stack of rows;
    - ``i32 @name_batch_strided(ptr inputs, ptr in_strides, ptr outputs, ptr out_strides, i64
      n)``: a byte stride per argument between rows (0: one value for every row).

    They return 0, or 1 when a workspace too large for the stack could not be allocated. The
    constant arrays become internal read-only globals (the object needs no Python). All four
    call one ``noinline`` copy of ``@graph_body`` (which reads no Python object), the batches
    through one loop over rows: the graph is compiled once, not once per entry (four inlined
    copies took four times as long to compile; the loop over rows is not vectorised across
    rows, which only mattered for libmvec, unused in exports). The workspace is on the stack up
    to :data:`~graphc.jit.abi.STACK_WORKSPACE_LIMIT` bytes, else ``malloc``-ed per call: every
    entry is thread-safe.
    """
    from graphc.jit.abi import STACK_WORKSPACE_LIMIT

    module = Module()
    for k, array in enumerate(plan.constants):
        data = array.tobytes()
        initializer = f'c"{_llvm_bytes(data)}"' if data else "zeroinitializer"
        module.declare(
            f"@gc_export_const{k} = internal constant [{len(data)} x i8] {initializer}, align 64"
        )
    if plan.constants:
        table = ", ".join(f"ptr @gc_export_const{k}" for k in range(len(plan.constants)))
        module.declare(
            f"@gc_export_consts = internal constant [{len(plan.constants)} x ptr] [{table}]"
        )
    consts = "@gc_export_consts" if plan.constants else "null"
    heap = plan.workspace_bytes > STACK_WORKSPACE_LIMIT
    if heap:
        module.declare("declare noalias ptr @malloc(i64) nounwind")
        module.declare("declare void @free(ptr) nounwind")
    n_in, n_io = plan.n_inputs, plan.n_inputs + plan.n_outputs
    nodes = (*plan.graph.inputs, *plan.graph.outputs)
    row_bytes = [max(node.size, 1) * ITEM_SIZES[node.dtype] for node in nodes]

    # The graph, once: every entry calls this.
    body = FunctionBuilder(module)
    io = [body.load_pointer(body.gep("%io", k, dtypes.INT64)) for k in range(n_io)]
    args = ", ".join([f"ptr {p}" for p in io] + ["ptr %ws", f"ptr {consts}"])
    body.emit(f"call void @graph_body({args})")
    body.finish("define internal void @gc_export_body(ptr %io, ptr %ws) noinline nounwind")

    # Rows begin <= r < end: argument k of row r at io[k] + r * strides[k].
    rows = FunctionBuilder(module)
    bases = [rows.load_pointer(rows.gep("%io", k, dtypes.INT64)) for k in range(n_io)]
    steps = [rows.load(rows.gep("%strides", k, dtypes.INT64), dtypes.INT64) for k in range(n_io)]
    row_io = rows.alloca("ptr", n_io)
    empty = rows.fresh("c")
    rows.emit(f"{empty} = icmp sle i64 %n, 0")
    run, done = rows.new_block("run"), rows.new_block("done")
    rows.emit(f"br i1 {empty}, label %{done}, label %{run}")
    rows.label(run)
    row, state = rows.loop_begin("%n")
    for k, (base, step) in enumerate(zip(bases, steps)):
        offset = rows.index_arith("mul nsw", row, step.text)
        rows.emit(
            f"store ptr {rows.gep_bytes(base, offset)}, ptr {rows.gep(row_io, k, dtypes.INT64)}"
        )
    rows.emit(f"call void @gc_export_body(ptr {row_io}, ptr %ws)")
    rows.loop_end(state)
    rows.emit(f"br label %{done}")
    rows.label(done)
    rows.finish(
        "define internal void @gc_export_rows(ptr %io, ptr %strides, ptr %ws, i64 %n) "
        "noinline nounwind"
    )

    def entry(signature: str, work: str | None, call) -> None:
        fb = FunctionBuilder(module)
        table = fb.alloca("ptr", n_io)  # inputs, then outputs: one table, as the body reads
        for k in range(n_io):
            source, index = ("%inputs", k) if k < n_in else ("%outputs", k - n_in)
            pointer = fb.load_pointer(fb.gep(source, index, dtypes.INT64))
            fb.emit(f"store ptr {pointer}, ptr {fb.gep(table, k, dtypes.INT64)}")
        if work is None and heap:
            workspace = fb.fresh("ws")
            fb.emit(f"{workspace} = call ptr @malloc(i64 {plan.workspace_bytes})")
            failed = fb.fresh("c")
            fb.emit(f"{failed} = icmp eq ptr {workspace}, null")
            ok, fail = fb.new_block("run"), fb.new_block("nomem")
            fb.emit(f"br i1 {failed}, label %{fail}, label %{ok}")
            fb.label(fail)
            fb.emit("ret i32 1")
            fb.label(ok)
            call(fb, table, workspace)
            fb.emit(f"call void @free(ptr {workspace})")
        else:
            workspace = work or fb.alloca("i8", max(plan.workspace_bytes, 1), align=64)
            call(fb, table, workspace)
        fb.finish(f"define i32 {signature} nounwind", "ret i32 0")

    def single(fb: FunctionBuilder, table: str, workspace: str) -> None:
        fb.emit(f"call void @gc_export_body(ptr {table}, ptr {workspace})")

    def dense(fb: FunctionBuilder, table: str, workspace: str) -> None:
        strides = fb.alloca("i64", n_io)
        for k, size in enumerate(row_bytes):
            fb.emit(f"store i64 {size}, ptr {fb.gep(strides, k, dtypes.INT64)}")
        fb.emit(f"call void @gc_export_rows(ptr {table}, ptr {strides}, ptr {workspace}, i64 %n)")

    def strided(fb: FunctionBuilder, table: str, workspace: str) -> None:
        strides = fb.alloca("i64", n_io)
        for k in range(n_io):
            source, index = ("%in_strides", k) if k < n_in else ("%out_strides", k - n_in)
            step = fb.load(fb.gep(source, index, dtypes.INT64), dtypes.INT64)
            fb.emit(f"store i64 {step.text}, ptr {fb.gep(strides, k, dtypes.INT64)}")
        fb.emit(f"call void @gc_export_rows(ptr {table}, ptr {strides}, ptr {workspace}, i64 %n)")

    entry(f"@{name}(ptr %inputs, ptr %outputs)", None, single)
    entry(f"@{name}_work(ptr %inputs, ptr %outputs, ptr %work)", "%work", single)
    entry(f"@{name}_batch(ptr %inputs, ptr %outputs, i64 %n)", None, dense)
    entry(
        f"@{name}_batch_strided(ptr %inputs, ptr %in_strides, ptr %outputs, "
        "ptr %out_strides, i64 %n)",
        None,
        strided,
    )
    return module.text()


def _llvm_bytes(data: bytes) -> str:
    """``data`` as the body of an LLVM ``c"..."`` string: every byte as ``\\XX`` (three
    characters a byte, escaped with numpy: an 8 MB constant takes a fraction of a second)."""
    import numpy as np

    digits = np.frombuffer(data.hex().upper().encode("ascii"), dtype=np.uint8).reshape(-1, 2)
    text = np.empty((len(data), 3), dtype=np.uint8)
    text[:, 0] = ord("\\")
    text[:, 1:] = digits
    return text.tobytes().decode("ascii")


def _emit_parts(
    plan: Plan, module: Module, library: KernelLibrary
) -> tuple[str, list[FunctionBuilder]]:
    """The plan's kernels emitted part by part (bodies not yet finished), and the parameter
    list every part takes: one pointer per input and output, the workspace, one per constant."""
    io_params = [f"ptr noalias %io{k}" for k in range(plan.n_inputs + plan.n_outputs)]
    const_params = [f"ptr noalias %cst{k}" for k in range(len(plan.constants))]
    params = ", ".join(io_params + ["ptr noalias %ws"] + const_params)
    by_part: list[list[Kernel]] = [[] for _ in range(plan.parts)]
    for kernel in plan.kernels:
        by_part[kernel.part].append(kernel)
    parts = []
    for kernels in by_part:
        emitter = PartEmitter(plan, module, library)
        for kernel in kernels:
            emitter.emit(kernel)
        parts.append(emitter.fb)
    return params, parts


def emit_function(plan: Plan, module: Module, name: str, reassociate: bool = False) -> int:
    """The plan's graph as ``@name(ptr io0, ..., ptr ws, ptr cst0, ...)`` in ``module``: one
    pointer per input and output (scalars too, by address), the workspace, then one pointer per
    constant array of the plan. Inlined into its callers when it is small (the rule of the
    entry points). Returns the number of instructions emitted."""
    library = KernelLibrary(plan, module, reassociate, prefix=f"{name}_")
    n_io = plan.n_inputs + plan.n_outputs
    params, parts = _emit_parts(plan, module, library)
    instructions = library.instructions + sum(fb.instructions for fb in parts)
    inline = plan.parts == 1 and instructions <= INLINE_LIMIT
    attributes = "alwaysinline" if inline else "noinline"
    library.finish(inline)
    for part, fb in enumerate(parts):
        part_attributes = attributes if inline else _part_attributes(fb)
        fb.finish(f"define internal void @{name}_part{part}({params}) {part_attributes} nounwind")
    args = ", ".join(
        [f"ptr %io{k}" for k in range(n_io)]
        + ["ptr %ws"]
        + [f"ptr %cst{k}" for k in range(len(plan.constants))]
    )
    body = FunctionBuilder(module)
    for part in range(plan.parts):
        body.emit(f"call void @{name}_part{part}({args})")
    body.finish(f"define internal void @{name}({params}) {attributes} nounwind")
    return instructions + body.instructions
