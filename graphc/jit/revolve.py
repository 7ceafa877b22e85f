"""Lowering a ``revolve`` node: reverse mode through a loop on Griewank's binomial schedule.

The kernel runs the schedule of :func:`graphc.revolve.actions` as native code: the same loop,
the same split ``m = max(1, n - C(s - 1 + r, r))`` computed at run time, the same stack of
pending left parts. So the code does not depend on the number of steps, and memory is what the
schedule promises: ``slots`` carries, three working carries (the two an advance alternates
between, one for the carry a turn reads), one buffer of the adjoint's carries, a stack of
``2 slots`` integers, and the bodies' workspace.

- *advance* ``count`` steps from a slot: the forward body (carries only) called ``count`` times,
  alternating between two working buffers; the result is copied where it is kept.
- *turn* at step ``t``: the adjoint body called once on the carry entering step ``t``, its own
  carries alternating by the parity of ``T - 1 - t`` (turns come in order ``t = T-1 .. 0``)
  between a buffer and their final place in the packed result, as a scan's do, writing row
  ``t`` of each per-step result in place.

Both bodies are functions emitted once per module (:func:`graphc.jit.scan.body_function`);
arguments are read as a scan's are (:func:`graphc.jit.scan.plan_accesses`).
"""

from __future__ import annotations

from dataclasses import dataclass

from graphc import dtypes
from graphc.jit.emit import ITEM_SIZES, FunctionBuilder
from graphc.jit.plan import Kernel, Layout, Plan, Planner, make_plan
from graphc.jit.scan import (
    Access,
    Scratch,
    bind_accesses,
    body_function,
    carry_offsets,
    constant_pointers,
    copy_elements,
    materialise,
    merge_constants,
    plan_accesses,
    row,
)
from graphc.ops.control import layout_of
from graphc.shapes import size


@dataclass
class RevolvePlan:
    forward: Plan
    adjoint: Plan
    forward_constants: list[int]
    adjoint_constants: list[int]
    carries: list[tuple[int, int]]  # forward carries in a slot or working buffer
    carry_bytes: int
    adjoint_carries: list[tuple[int, int]]
    slots: int  # byte offsets in the scratch space:
    work: tuple[int, int, int]
    adjoint_buffer: int
    pending: int
    workspace: int
    access: dict[int, Access]


def _positions(node):
    a = node.attrs
    n_c, n_r, n_rows = a["n_carry"], a["n_adjoint_carry"], a["n_rows"]
    rows = range(n_c + n_r, n_c + n_r + n_rows)
    closed = range(n_c + n_r + n_rows, len(node.args))
    return n_c, n_r, rows, closed


def prepare_revolve(planner: Planner, kernel: Kernel) -> None:
    node = kernel.root
    a = node.attrs
    n_c, n_r, rows, closed = _positions(node)
    forward, adjoint = make_plan(a["forward"]), make_plan(a["adjoint"])
    forward_constants = merge_constants(planner, forward)
    adjoint_constants = merge_constants(planner, adjoint)
    scratch = Scratch()
    carries, carry_bytes = carry_offsets(node.args[:n_c])
    slots = scratch.take(a["slots"] * carry_bytes)
    work = (scratch.take(carry_bytes), scratch.take(carry_bytes), scratch.take(carry_bytes))
    adjoint_carries, adjoint_bytes = carry_offsets(node.args[n_c : n_c + n_r])
    buffer = scratch.take(adjoint_bytes)
    pending = scratch.take(16 * a["slots"])
    access = plan_accesses(planner, node, rows, closed, scratch)
    workspace = scratch.take(max(forward.workspace_bytes, adjoint.workspace_bytes))
    kernel.scratch = scratch.size
    kernel.detail = RevolvePlan(
        forward,
        adjoint,
        forward_constants,
        adjoint_constants,
        carries,
        carry_bytes,
        adjoint_carries,
        slots,
        work,
        buffer,
        pending,
        workspace,
        access,
    )


class _Code:
    """Small helpers for the control flow the schedule needs (i64 variables, branches)."""

    def __init__(self, fb: FunctionBuilder):
        self.fb = fb

    def var(self, initial: int | str) -> str:
        slot = self.fb.alloca("i64")
        self.fb.emit(f"store i64 {initial}, ptr {slot}")
        return slot

    def get(self, var: str) -> str:
        name = self.fb.fresh("i")
        self.fb.emit(f"{name} = load i64, ptr {var}")
        return name

    def set(self, var: str, value: int | str) -> None:
        self.fb.emit(f"store i64 {value}, ptr {var}")

    def op(self, op: str, a: int | str, b: int | str) -> str:
        return self.fb.index_arith(op, str(a), b)

    def cmp(self, pred: str, a: str, b: int | str) -> str:
        name = self.fb.fresh("c")
        self.fb.emit(f"{name} = icmp {pred} i64 {a}, {b}")
        return name

    def select(self, cond: str, a: str, b: str) -> str:
        name = self.fb.fresh("p")
        self.fb.emit(f"{name} = select i1 {cond}, ptr {a}, ptr {b}")
        return name

    def branch(self, cond: str, yes: str, no: str) -> None:
        self.fb.emit(f"br i1 {cond}, label %{yes}, label %{no}")

    def jump(self, target: str) -> None:
        self.fb.emit(f"br label %{target}")

    def block(self, hint: str) -> str:
        return self.fb.new_block(hint)


def lower_revolve(emitter, kernel: Kernel) -> None:
    node = kernel.root
    d: RevolvePlan = kernel.detail  # type: ignore[assignment]
    fb: FunctionBuilder = emitter.fb
    code = _Code(fb)
    a = node.attrs
    steps, n_slots = a["length"], a["slots"]
    n_c, n_r, rows, closed_positions = _positions(node)
    n_forward_rows = len(a["forward"].inputs) - n_c - len(closed_positions)
    packed = layout_of(node)
    out_layout = emitter.layout(node)
    assert isinstance(out_layout, Layout) and kernel.scratch_base is not None
    out = emitter.element_pointer(out_layout, 0) if node.size else ""
    scratch = emitter.pointer(Layout(kernel.scratch_base, 0, (), dtypes.BOOL))
    dtype = node.dtype

    def region(offset: int) -> str:
        return fb.gep_bytes(scratch, offset)

    def pieces(base: str, offsets) -> list[str]:
        return [fb.gep_bytes(base, o) for o, _ in offsets]

    def copy_carries(source: str, target: str, offsets, nodes) -> None:
        for (offset, nbytes), arg in zip(offsets, nodes):
            copy_elements(
                fb,
                fb.gep_bytes(source, offset),
                fb.gep_bytes(target, offset),
                nbytes // ITEM_SIZES[arg.dtype],
                arg.dtype,
            )

    # The adjoint's carries alternate between A and their final place P, ending in P.
    adjoint_a = pieces(region(d.adjoint_buffer), d.adjoint_carries)
    adjoint_p = [fb.gep(out, offset, dtype) if out else scratch for offset, _ in packed.finals]
    first = adjoint_p if steps % 2 == 0 else adjoint_a
    for arg, target in zip(node.args[n_c : n_c + n_r], first):
        materialise(emitter, arg, target)
    if steps:
        slot0 = region(d.slots)
        for arg, target in zip(node.args[:n_c], pieces(slot0, d.carries)):
            materialise(emitter, arg, target)
        bases = bind_accesses(emitter, node, d.access, scratch, rows)
        closed = [bases[p] for p in closed_positions]
        forward_constants = constant_pointers(emitter, d.forward_constants, d.forward)
        adjoint_constants = constant_pointers(emitter, d.adjoint_constants, d.adjoint)
        workspace = region(d.workspace)
        forward_name = body_function(emitter, d.forward)
        adjoint_name = body_function(emitter, d.adjoint)
        work_a, work_b, work_c = (region(o) for o in d.work)
        pending = region(d.pending)

        def slot(k: str) -> str:
            return fb.gep_bytes(
                scratch, code.op("add nsw", code.op("mul nsw", k, d.carry_bytes), d.slots)
            )

        def rows_at(t: str, positions) -> list[str]:
            return [
                row(fb, bases[q], d.access[q].row_stride, t, node.args[q].dtype) for q in positions
            ]

        def call(name: str, args: list[str]) -> None:
            fb.emit(f"call void @{name}({', '.join(f'ptr {x}' for x in args)})")

        def advance(source: str, start: str, count: str, target: str) -> None:
            copy_carries(source, work_a, d.carries, node.args[:n_c])
            (j,), states = emitter.open_loops((count,))
            odd = code.cmp("ne", code.op("and", j, 1), 0)
            src, dst = code.select(odd, work_b, work_a), code.select(odd, work_a, work_b)
            t = code.op("add nsw", start, j)
            forward_rows = rows_at(t, list(rows)[:n_forward_rows])
            call(
                forward_name,
                [
                    *pieces(src, d.carries),
                    *forward_rows,
                    *closed,
                    *pieces(dst, d.carries),
                    workspace,
                    *forward_constants,
                ],
            )
            emitter.close_loops(states)
            last = code.select(code.cmp("ne", code.op("and", count, 1), 0), work_b, work_a)
            copy_carries(last, target, d.carries, node.args[:n_c])

        def turn(t: str, carry: str) -> None:
            # Turn q = T-1-t reads the carries where turn q-1 left them: P then A when T is
            # even, A then P when it is odd.
            odd = code.cmp("ne", code.op("and", code.op("sub nsw", steps - 1, t), 1), 0)
            even_first, odd_first = (
                (adjoint_p, adjoint_a) if steps % 2 == 0 else (adjoint_a, adjoint_p)
            )
            src = [code.select(odd, o, e) for e, o in zip(even_first, odd_first)]
            dst = [code.select(odd, e, o) for e, o in zip(even_first, odd_first)]
            ys = []
            for offset, shape in packed.ys:
                per_row = size(shape[1:])
                start = code.op("add nsw", code.op("mul nsw", t, per_row), offset)
                ys.append(fb.gep(out, start, dtype))
            call(
                adjoint_name,
                [
                    *src,
                    *pieces(carry, d.carries),
                    *rows_at(t, rows),
                    *closed,
                    *dst,
                    *ys,
                    workspace,
                    *adjoint_constants,
                ],
            )

        k_var, start_var, n_var = code.var(0), code.var(0), code.var(steps)
        descend, split_block, base = code.block("descend"), code.block("split"), code.block("base")
        code.jump(descend)
        # Descend: split while there are steps and slots to spare.
        fb.label(descend)
        k, n = code.get(k_var), code.get(n_var)
        s = code.op("sub nsw", n_slots, k)
        more = fb.fresh("c")
        fb.emit(f"{more} = and i1 {code.cmp('ugt', n, 1)}, {code.cmp('ugt', s, 1)}")
        code.branch(more, split_block, base)
        fb.label(split_block)
        start = code.get(start_var)
        m = _split(code, emitter, n, s)
        k1 = code.op("add nsw", k, 1)
        advance(slot(k), start, m, slot(k1))
        fb.emit(f"store i64 {start}, ptr {fb.gep(pending, code.op('mul nsw', k, 2), dtypes.INT64)}")
        at = fb.gep(pending, code.op("add nsw", code.op("mul nsw", k, 2), 1), dtypes.INT64)
        fb.emit(f"store i64 {m}, ptr {at}")
        code.set(start_var, code.op("add nsw", start, m))
        code.set(n_var, code.op("sub nsw", n, m))
        code.set(k_var, k1)
        code.jump(descend)
        # Base: one step, or one slot (advance from it to each step, last step first).
        fb.label(base)
        k, start, n = code.get(k_var), code.get(start_var), code.get(n_var)
        here = slot(k)
        several, last_turn = code.block("several"), code.block("last")
        code.branch(code.cmp("ugt", n, 1), several, last_turn)
        fb.label(several)
        count = code.op("sub nsw", n, 1)
        (j,), states = emitter.open_loops((count,))
        i = code.op("sub nsw", count, j)
        advance(here, start, i, work_c)
        turn(code.op("add nsw", start, i), work_c)
        emitter.close_loops(states)
        code.jump(last_turn)
        fb.label(last_turn)
        turn(start, here)
        done, pop = code.block("done"), code.block("pop")
        code.branch(code.cmp("eq", k, 0), done, pop)
        # Pop the pending left part of the level below.
        fb.label(pop)
        k_below = code.op("sub nsw", k, 1)
        code.set(k_var, k_below)
        where = fb.gep(pending, code.op("mul nsw", k_below, 2), dtypes.INT64)
        code.set(start_var, fb.load(where, dtypes.INT64).text)
        where = fb.gep(pending, code.op("add nsw", code.op("mul nsw", k_below, 2), 1), dtypes.INT64)
        code.set(n_var, fb.load(where, dtypes.INT64).text)
        code.jump(descend)
        fb.label(done)


def _split(code: _Code, emitter, n: str, s: str) -> str:
    """``max(1, n - C(s - 1 + r, r))`` with ``r`` the smallest such that ``C(s + r, r) >= n``
    (see ``graphc.revolve.split``), in i64 arithmetic (exact: every division is of a binomial
    coefficient by a factor it contains)."""
    fb = code.fb
    r_var, b_var = code.var(0), code.var(1)
    test, grow, found = code.block("reps"), code.block("grow"), code.block("found")
    code.jump(test)
    fb.label(test)
    code.branch(code.cmp("ult", code.get(b_var), n), grow, found)
    fb.label(grow)
    r = code.op("add nsw", code.get(r_var), 1)
    code.set(r_var, r)
    product = code.op("mul nsw", code.get(b_var), code.op("add nsw", s, r))
    code.set(b_var, code.op("udiv", product, r))
    code.jump(test)
    fb.label(found)
    r = code.get(r_var)  # >= 1, since n >= 2
    s1 = code.op("sub nsw", s, 1)
    c_var = code.var(1)
    (j,), states = emitter.open_loops((r,))
    j1 = code.op("add nsw", j, 1)
    product = code.op("mul nsw", code.get(c_var), code.op("add nsw", s1, j1))
    code.set(c_var, code.op("udiv", product, j1))
    emitter.close_loops(states)
    m = code.op("sub nsw", n, code.get(c_var))
    positive = code.cmp("sgt", m, 1)
    name = fb.fresh("i")
    fb.emit(f"{name} = select i1 {positive}, i64 {m}, i64 1")
    return name
