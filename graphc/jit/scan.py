"""Lowering a ``scan``: a native loop calling its body, compiled once, ``length`` times.

:func:`prepare` runs when the planner makes the scan's kernel: it plans the body as a graph of
its own (:func:`graphc.jit.plan.make_plan`; nested scans recurse), appends the body's constant
arrays to the enclosing plan's table, and lays out the kernel's scratch workspace:

- one carry buffer ``A`` (every carry, each 64-byte aligned): the other buffer of the pair
  the steps alternate between is the final carries' place in the packed result ``P``, so no
  carry is ever copied between steps, nor at the end. The initial carries go to ``P`` when the
  number of steps is even, to ``A`` when it is odd; the loop runs two steps per iteration
  (``P -> A``, ``A -> P``, or the other way round and a last odd step ``A -> P``), and the last
  step always writes ``P``;
- staged copies of arguments the body cannot read in place: a stacked input whose rows are not
  contiguous, a closed-over value that is strided or a scalar held in a register;
- the body's own workspace.

:func:`lower_scan` (the ``scan`` record's ``lower``) writes the kernel: copy the initial carries
(see above), the loop; the final carries are then in place. The body is
:func:`graphc.jit.codegen.emit_function` of its plan, called with pointers: the carries in and
out, row ``t`` of each stacked input, the closed-over values, row ``t`` of each per-step output
(written in place in the packed result), its workspace and constants. A body of at most
``INLINE_LIMIT`` instructions is inlined into the loop. With ``store = s`` the carry entering
every ``s``-th step is copied to its snapshot row first (the trajectory reverse mode reads).

Invariants: the code does not depend on ``length`` (only a loop bound does), so code size and
compile time are the same for 10 steps and 10^5; the body's text depends only on the body, and
one module emits each distinct body once. Every pointer passed to the body points at memory no
other pointer of the call writes (carries in and out are distinct buffers, rows of outputs are
disjoint), as the body's ``noalias`` parameters require.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphc import dtypes
from graphc.jit.emit import ITEM_SIZES, LLVM_TYPES, FunctionBuilder, Value
from graphc.jit.plan import ALIGN, SCALAR, Kernel, Layout, Plan, Planner, make_plan
from graphc.node import Node
from graphc.ops.control import layout_of
from graphc.shapes import contiguous_strides, size


def _aligned(nbytes: int) -> int:
    return -(-max(nbytes, 1) // ALIGN) * ALIGN


@dataclass
class Access:
    """How the body reads one argument: from the argument's own memory (``staged`` None:
    element 0 at the layout's first element, consecutive rows ``row_stride`` elements apart),
    or from a copy at byte ``staged`` of the scratch space."""

    staged: int | None
    row_stride: int  # elements between consecutive rows (stacked inputs), 0 for one row


class Scratch:
    """Byte ranges of a kernel's scratch workspace, each 64-byte aligned."""

    def __init__(self) -> None:
        self.size = 0

    def take(self, nbytes: int) -> int:
        start = self.size
        self.size += _aligned(nbytes)
        return start


def carry_offsets(nodes) -> tuple[list[tuple[int, int]], int]:
    """``(byte offset, bytes)`` of each carry in a buffer holding them all, and its size."""
    offsets, total = [], 0
    for node in nodes:
        nbytes = size(node.shape) * ITEM_SIZES[node.dtype]
        offsets.append((total, nbytes))
        total += _aligned(nbytes)
    return offsets, total


def plan_accesses(
    planner: Planner, node: Node, stacked: range, closed: range, scratch: Scratch
) -> dict[int, Access]:
    """How a body reads the stacked inputs (argument positions ``stacked``) and closed-over
    values (``closed``) of ``node``: in place when their rows are contiguous, else staged."""
    access: dict[int, Access] = {}
    for position in [*stacked, *closed]:
        arg = node.args[position]
        layout = planner.layouts[arg]
        is_stacked = position in stacked
        row_shape = arg.shape[1:] if is_stacked else arg.shape
        item = ITEM_SIZES[arg.dtype]
        if isinstance(layout, Layout):
            inner = layout.strides[1:] if is_stacked else layout.strides
            if Layout(layout.base, 0, inner, layout.dtype).is_contiguous(row_shape):
                stride = layout.strides[0] if is_stacked and arg.shape[0] > 1 else 0
                access[position] = Access(None, stride)
                continue
            if is_stacked and layout.strides[0] == 0:  # every row the same: stage one row
                access[position] = Access(scratch.take(size(row_shape) * item), 0)
                continue
        elif is_stacked:  # a scalar broadcast over the steps: one row of it
            access[position] = Access(scratch.take(size(row_shape) * item), 0)
            continue
        rows = arg.shape[0] if is_stacked else 1
        stride = size(row_shape) if is_stacked else 0
        access[position] = Access(scratch.take(rows * size(row_shape) * item), stride)
    return access


def merge_constants(planner: Planner, body: Plan) -> list[int]:
    """Append a body's constant arrays to the enclosing plan's table; their indices there."""
    first = len(planner.constants)
    planner.constants.extend(body.constants)
    return list(range(first, first + len(body.constants)))


@dataclass
class ScanPlan:
    body: Plan
    constants: list[int]  # the body's constant k is the enclosing plan's constants[k]
    carries: list[tuple[int, int]]  # (byte offset in A or B, bytes) per carry
    buffer: int  # byte offset of the carry buffer A
    workspace: int  # byte offset of the body's workspace
    access: dict[int, Access]  # argument position -> how the body reads it (xs and closed)


def prepare(planner: Planner, kernel: Kernel) -> None:
    """Plan the body of the scan ``kernel.root`` (see the module docstring)."""
    node = kernel.root
    if node.op == "revolve":
        from graphc.jit.revolve import prepare_revolve

        prepare_revolve(planner, kernel)
        return
    a = node.attrs
    n_c, n_x = a["n_carry"], a["n_xs"]
    body = make_plan(a["body"])
    constants = merge_constants(planner, body)
    scratch = Scratch()
    carries, carry_bytes = carry_offsets(node.args[:n_c])
    buffer = scratch.take(carry_bytes)
    stacked, closed = range(n_c, n_c + n_x), range(n_c + n_x, len(node.args))
    access = plan_accesses(planner, node, stacked, closed, scratch)
    workspace = scratch.take(body.workspace_bytes)
    kernel.scratch = scratch.size
    kernel.detail = ScanPlan(body, constants, carries, buffer, workspace, access)


def body_function(emitter, plan: Plan) -> str:
    """The name of the body's function in the emitter's module, emitted on first use."""
    from graphc.jit.codegen import emit_function

    module = emitter.fb.module
    bodies: dict[str, str] = module.__dict__.setdefault("graphc_bodies", {})
    key = plan.graph.structural_hash
    name = bodies.get(key)
    if name is None:
        name = f"body{len(bodies)}"
        bodies[key] = name
        # Counted in the kernel that first calls it, so fn.stats["instructions"] includes it.
        emitter.fb.instructions += emit_function(plan, module, name, emitter.fb.reassociate)
    return name


def copy_elements(fb: FunctionBuilder, source: str, target: str, count: int, dtype: str) -> None:
    """``count`` elements from ``source`` to ``target`` (non-overlapping)."""
    if count == 0:
        return
    nbytes = count * ITEM_SIZES[dtype]
    fb.module.declare("declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)")
    fb.emit(f"call void @llvm.memcpy.p0.p0.i64(ptr {target}, ptr {source}, i64 {nbytes}, i1 false)")


def materialise(emitter, node: Node, target: str) -> None:
    """Write ``node``'s value (any layout, a scalar included) row-major at ``target``."""
    fb = emitter.fb
    if node.size == 0:
        return
    layout = emitter.layout(node)
    if layout == SCALAR:
        value = emitter.scalar(node)
        if node.size == 1:
            fb.store(value, target)
            return
        (i,), states = emitter.open_loops((node.size,))
        fb.store(value, fb.gep(target, i, node.dtype))
        emitter.close_loops(states)
        return
    assert isinstance(layout, Layout)
    if layout.is_contiguous(node.shape):
        copy_elements(fb, emitter.element_pointer(layout, 0), target, node.size, node.dtype)
        return
    indices, states = emitter.open_loops(tuple(d for d in node.shape))
    source = emitter.element_pointer(layout, emitter.offset(layout.strides, indices))
    flat = emitter.offset(contiguous_strides(node.shape), indices)
    fb.store(fb.load(source, layout.dtype), fb.gep(target, flat, node.dtype))
    emitter.close_loops(states)


def lower_scan(emitter, kernel: Kernel) -> None:
    """The loop kernel of a scan (see the module docstring)."""
    node = kernel.root
    detail: ScanPlan = kernel.detail  # type: ignore[assignment]
    fb: FunctionBuilder = emitter.fb
    a = node.attrs
    n_c, n_x, steps, store = a["n_carry"], a["n_xs"], a["length"], a["store"]
    packed = layout_of(node)
    out_layout = emitter.layout(node)
    assert isinstance(out_layout, Layout) and kernel.scratch_base is not None
    out = emitter.element_pointer(out_layout, 0) if node.size else None
    scratch = emitter.pointer(Layout(kernel.scratch_base, 0, (), dtypes.BOOL))
    dtype = node.dtype
    carry_a = [fb.gep_bytes(scratch, detail.buffer + o) for o, _ in detail.carries]
    in_place = [fb.gep(out, offset, dtype) if out else scratch for offset, _ in packed.finals]
    first, second = (in_place, carry_a) if steps % 2 == 0 else (carry_a, in_place)
    for arg, target in zip(node.args[:n_c], first):
        materialise(emitter, arg, target)
    bases = bind_accesses(emitter, node, detail.access, scratch, range(n_c, n_c + n_x))
    constants = constant_pointers(emitter, detail.constants, detail.body)
    workspace = fb.gep_bytes(scratch, detail.workspace)
    name = body_function(emitter, detail.body)
    closed = [bases[p] for p in range(n_c + n_x, len(node.args))]

    def step(p: str, source: list[str], target: list[str]) -> None:
        t = fb.index_arith("sub nsw", steps - 1, p) if a["reverse"] else p
        if store:
            _snapshot(fb, p, store, source, out, packed, detail, dtype)
        xs = [
            row(fb, bases[q], detail.access[q].row_stride, t, node.args[q].dtype)
            for q in range(n_c, n_c + n_x)
        ]
        ys = []
        for offset, shape in packed.ys:
            per_row = size(shape[1:])
            start = fb.index_arith("add nsw", fb.index_arith("mul nsw", t, per_row), offset)
            ys.append(fb.gep(out, start, dtype))  # type: ignore[arg-type]
        args = [*source, *xs, *closed, *target, *ys, workspace, *constants]
        fb.emit(f"call void @{name}({', '.join(f'ptr {x}' for x in args)})")

    pairs, odd = divmod(steps, 2)
    if pairs:
        (i,), states = emitter.open_loops((pairs,))
        p0 = fb.index_arith("mul nsw", i, 2)
        step(p0, first, second)
        step(fb.index_arith("add nsw", p0, 1), second, first)
        emitter.close_loops(states)
    if odd:  # then the initial carries were put in A
        step(str(steps - 1), carry_a, in_place)


def row(fb: FunctionBuilder, pointer: str, stride: int, t: str, dtype: str) -> str:
    """Row ``t`` of a stacked input read at ``pointer`` with ``stride`` elements per row."""
    if stride == 0:
        return pointer
    return fb.gep(pointer, fb.index_arith("mul nsw", t, stride), dtype)


def bind_accesses(emitter, node: Node, access: dict[int, Access], scratch: str, stacked) -> dict:
    """Pointers the body reads each argument of ``access`` at (staging copies first)."""
    fb = emitter.fb
    bases: dict[int, str] = {}
    for position, how in access.items():
        arg = node.args[position]
        layout = emitter.layout(arg)
        if how.staged is None:
            assert isinstance(layout, Layout)
            bases[position] = emitter.element_pointer(layout, 0)
            continue
        target = fb.gep_bytes(scratch, how.staged)
        if position in stacked and (layout == SCALAR or layout.strides[0] == 0):
            _materialise_row(emitter, arg, target)  # one row, the same at every step
        else:
            materialise(emitter, arg, target)
        bases[position] = target
    return bases


def constant_pointers(emitter, indices: list[int], body: Plan) -> list[str]:
    """Pointers to a body's constant arrays (kernel parameters: the enclosing table's)."""
    return [
        emitter.pointer(Layout(("const", k), 0, (), c.dtype.name))
        for k, c in zip(indices, body.constants)
    ]


def _materialise_row(emitter, arg: Node, target: str) -> None:
    """Row 0 of the stacked input ``arg`` (its rows all equal) at ``target``."""
    fb = emitter.fb
    layout = emitter.layout(arg)
    if layout == SCALAR:
        value = emitter.scalar(arg)
        count = size(arg.shape[1:])
        if count == 1:
            fb.store(value, target)
            return
        (i,), states = emitter.open_loops((count,))
        fb.store(value, fb.gep(target, i, arg.dtype))
        emitter.close_loops(states)
        return
    assert isinstance(layout, Layout)
    shape = arg.shape[1:]
    if not size(shape):
        return
    if not shape:
        fb.store(fb.load(emitter.element_pointer(layout, 0), layout.dtype), target)
        return
    indices, states = emitter.open_loops(shape)
    source = emitter.element_pointer(layout, emitter.offset(layout.strides[1:], indices))
    flat = emitter.offset(contiguous_strides(shape), indices)
    fb.store(fb.load(source, layout.dtype), fb.gep(target, flat, arg.dtype))
    emitter.close_loops(states)


def _snapshot(fb, p: str, store: int, source, out, packed, detail: ScanPlan, dtype: str) -> None:
    """If ``p % store == 0``, copy the carries entering step ``p`` to snapshot row ``p/store``."""
    if store == 1:
        index = p
    else:
        remainder = fb.index_arith("urem", p, store)
        taken = fb.fresh("c")
        fb.emit(f"{taken} = icmp eq i64 {remainder}, 0")
        copy_block, after = fb.new_block("snap"), fb.new_block("snapped")
        fb.emit(f"br i1 {taken}, label %{copy_block}, label %{after}")
        fb.label(copy_block)
        index = fb.index_arith("udiv", p, store)
    for pointer, (offset, shape) in zip(source, packed.snapshots):
        per_row = size(shape[1:])
        start = fb.index_arith("add nsw", fb.index_arith("mul nsw", index, per_row), offset)
        copy_elements(fb, pointer, fb.gep(out, start, dtype), per_row, dtype)
    if store != 1:
        fb.emit(f"br label %{after}")
        fb.label(after)


__all__ = ["LLVM_TYPES", "ScanPlan", "Value", "lower_scan", "prepare"]
