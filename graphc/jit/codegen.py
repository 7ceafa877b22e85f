"""Lowering, part 3: the LLVM module of a :class:`~graphc.jit.plan.Plan`.

The module holds:
- ``kernel0 .. kernelK``: the loop kernels, one function per distinct structure
  (:mod:`graphc.jit.kernels`), called with pointers to where their values are;
- ``part0 .. partN``: the plan's kernels in order, each part a function of bounded size taking
  one ``noalias`` pointer per input/output buffer, the workspace and one per constant array.
  Scalar kernels are straight-line code here; loop kernels are calls;
- ``graph_body``: calls the parts in order;
- ``graph_call``: the entry for one call from Python, with the arguments of
  :class:`graphc.jit.abi.CallABI`;
- ``graph_batch``: the body in a loop over rows ``begin <= r < end`` of batched arguments, each
  argument given as a base pointer and a byte stride per row (0 broadcasts one value to all);
  ``graph_batch_dense`` the same for rows stacked contiguously (constant strides, so LLVM can
  vectorise the loop over rows).

A graph of at most :data:`INLINE_LIMIT` instructions is inlined into the entry points (the
dense batch loop then vectorises over rows); a larger one is not: three inlined copies, one
inside a loop the vectoriser works on, made an 800-instruction graph compile eight times slower.

:func:`emit_function` emits a plan as one internal function of the module (its kernels and parts
named after it), without entry points: how a loop's body becomes the function its kernel calls
once per step (:mod:`graphc.jit.scan`).
"""

from __future__ import annotations

from graphc import dtypes
from graphc.jit.abi import PYARRAY_DATA_OFFSET, call_abi
from graphc.jit.emit import ITEM_SIZES, LLVM_TYPES, FunctionBuilder, Module, Value, literal
from graphc.jit.kernels import KernelLibrary
from graphc.jit.plan import SCALAR, Kernel, Layout, Plan
from graphc.node import Node
from graphc.ops.base import OPS

# Graphs up to this many instructions are inlined into the entry points.
INLINE_LIMIT = 200


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


def emit_module(
    plan: Plan, reassociate: bool = False, vector_math: bool = False
) -> tuple[str, set[str], dict]:
    """The module's IR text, the external symbols it needs, and statistics."""
    module = Module(vector_math)
    library = KernelLibrary(plan, module, reassociate)
    n_io = plan.n_inputs + plan.n_outputs
    n_const = len(plan.constants)
    io_params = [f"ptr noalias %io{k}" for k in range(n_io)]
    const_params = [f"ptr noalias %cst{k}" for k in range(n_const)]
    part_params = ", ".join(io_params + ["ptr noalias %ws"] + const_params)
    by_part: list[list[Kernel]] = [[] for _ in range(plan.parts)]
    for kernel in plan.kernels:
        by_part[kernel.part].append(kernel)
    parts = []
    for kernels in by_part:
        emitter = PartEmitter(plan, module, library)
        for kernel in kernels:
            emitter.emit(kernel)
        parts.append(emitter.fb)
    instructions = library.instructions + sum(fb.instructions for fb in parts)
    inline = plan.parts == 1 and instructions <= INLINE_LIMIT
    library.finish(inline)
    for part, fb in enumerate(parts):
        attributes = "alwaysinline" if inline else "noinline"
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
    _emit_call_entry(plan, module)
    _emit_batch_entry(plan, module, dense=False)
    _emit_batch_entry(plan, module, dense=True)
    stats = {
        "parts": plan.parts,
        "kernels": len(plan.kernels),
        "kernel_functions": len(library.texts),
        "kernel_calls": library.calls,
        "instructions": instructions,
    }
    return module.text(), module.external_symbols, stats


def _scalar_param_type(dtype: str) -> str:
    return "i8" if dtype == dtypes.BOOL else LLVM_TYPES[dtype]


def _emit_call_entry(plan: Plan, module: Module) -> None:
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
    abi = call_abi(plan.graph, plan.workspace_bytes, len(plan.constants))
    pack = None
    if abi.pack:
        params.append("ptr %pack")
        pack = _array_data(fb, "%pack")
    result_slot = None
    for k, node in enumerate(plan.graph.outputs):
        if node.shape != ():
            params.append(f"ptr %out{k}")
            pointers.append(_array_data(fb, f"%out{k}"))
        elif k == abi.direct:
            result_slot = fb.alloca("double")
            pointers.append(result_slot)
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
    fb.emit(f"call void @graph_body({args})")
    if result_slot is not None:
        value = fb.instr(dtypes.FLOAT64, f"load double, ptr {result_slot}")
        fb.finish(
            f"define double @graph_call({', '.join(params)}) nounwind", f"ret double {value.text}"
        )
    else:
        fb.finish(f"define void @graph_call({', '.join(params)}) nounwind")


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


def emit_function(plan: Plan, module: Module, name: str, reassociate: bool = False) -> int:
    """The plan's graph as ``@name(ptr io0, ..., ptr ws, ptr cst0, ...)`` in ``module``: one
    pointer per input and output (scalars too, by address), the workspace, then one pointer per
    constant array of the plan. Inlined into its callers when it is small (the rule of the
    entry points). Returns the number of instructions emitted."""
    library = KernelLibrary(plan, module, reassociate, prefix=f"{name}_")
    n_io = plan.n_inputs + plan.n_outputs
    io_params = [f"ptr noalias %io{k}" for k in range(n_io)]
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
    instructions = library.instructions + sum(fb.instructions for fb in parts)
    inline = plan.parts == 1 and instructions <= INLINE_LIMIT
    attributes = "alwaysinline" if inline else "noinline"
    library.finish(inline)
    for part, fb in enumerate(parts):
        fb.finish(f"define internal void @{name}_part{part}({params}) {attributes} nounwind")
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
