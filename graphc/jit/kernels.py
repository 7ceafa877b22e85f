"""Lowering, part 2: each loop kernel of a plan as an LLVM function of its own.

A kernel function takes one pointer per place it reads or writes (the element at the layout's
offset: the caller adds the offset to the buffer's base) and one value per outside scalar it
reads; inside, every address is such a pointer plus index arithmetic over the layout's strides.
Its text therefore depends only on the kernel's structure (ops, attributes, shapes, strides,
dtypes, literal constants), never on where its buffers are, and :class:`KernelLibrary` emits
each distinct text once: the K identical blocks of a model written as a Python loop become one
function called K times with different pointers. Each function stays small, so LLVM's
function-level passes (unrolling, vectorisation, register allocation) cost time linear in the
number of distinct kernels, not superlinear in the size of the graph.

Kernel kinds (see :mod:`graphc.jit.plan`): ``map`` (a fused elementwise chain, one loop nest),
``reduce`` (an accumulation whose input is a fused chain), ``matmul``, ``concat``, ``unslice``
and ``copy``. A kernel whose result is a scalar (a full reduction, a dot product) returns it.

Lowering an op: an op whose kind is not one of the above gets a kernel of its own, and its
record's ``lower(emitter, kernel)`` writes the loop nest through the emitter's vocabulary:
``emitter.layout(node)`` (a :class:`~graphc.jit.plan.Layout`, or ``SCALAR``),
``emitter.element_pointer(layout, offset)`` (offsets in elements from the layout's first
element, as IR or ints), ``emitter.offset(strides, indices)``, ``emitter.scalar(node)``,
``emitter.open_loops(dims)``/``close_loops``, ``emitter.fb`` (the
:class:`~graphc.jit.emit.FunctionBuilder`: arithmetic, loads, stores, calls) and, for a
result of scalar layout, ``emitter.result = value``. The kernel's root is written at
``emitter.layout(kernel.root)``, its arguments read at their layouts (which may be strided).

Invariants:
- Loop nests are only opened over non-empty ranges (``FunctionBuilder.loop_begin`` refuses
  others): an empty result writes nothing, an empty reduction writes its identity.
- Pointer parameters are ``noalias`` only when no other parameter of the function points into
  the same buffer (an ``unslice`` writes zeros and then a block through two pointers into one
  buffer; the order of those writes matters).
- Sums and products accumulate in order, element 0 first, from +0.0 (numpy's start) unless the
  module was built with ``reassociate``; extrema follow numpy's nan and tie rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphc import dtypes
from graphc.jit.emit import ITEM_SIZES, LLVM_TYPES, FunctionBuilder, Module, Value, literal
from graphc.jit.plan import SCALAR, Kernel, Layout, Plan, align_strides, kernel_reads
from graphc.node import Node
from graphc.ops.base import OPS
from graphc.shapes import contiguous_strides, size

# The matmul's register tile (see emit_matmul), for products of at most TILE_COLUMNS columns:
# C's columns in vectors of VECTOR_BYTES, TILE_GROUP vectors at a time, and as many rows (at
# most TILE_ROWS) as keep the tile's accumulators within TILE_REGISTERS vector registers (AVX2
# has 16: the rest hold B's row and A's broadcast element). Used for up to TILE_ALWAYS columns,
# and beyond that where it was measured faster (1000 x d times d x d, d = 20 ... 100: 1.2-2.7x)
# than the rows path: when B's rows are strided, or C has at least as many rows as the product
# is deep. A deep product with contiguous rows of B (d x 1000 times 1000 x d) keeps the rows
# path, whose row of C in memory serves all columns (the tile was up to 25% slower there).
TILE_ROWS, TILE_COLUMNS, TILE_REGISTERS, VECTOR_BYTES = 4, 128, 12, 32
TILE_GROUP, TILE_ALWAYS = 3, 16
ATTRIBUTES = "@@ATTRIBUTES@@"  # replaced by the inlining decision when the module is assembled
Place = tuple[tuple[str, int], int, str]  # (buffer base, element offset, dtype)


@dataclass(frozen=True)
class KernelCode:
    """One kernel's function: its text (named ``@KERNEL``) and what a call passes it."""

    text: str
    pointers: tuple[Place, ...]  # one per pointer parameter, in order
    scalars: tuple[Node, ...]  # the scalar holders passed by value, in order
    result: str | None  # the dtype of the returned scalar, or None
    instructions: int


class KernelEmitter:
    """Writes one kernel's loop nest into a fresh function."""

    def __init__(self, plan: Plan, module: Module, reassociate: bool):
        self.plan = plan
        self.fb = FunctionBuilder(module, reassociate)
        self.pointer_names: dict[tuple[tuple[str, int], int], str] = {}
        self.pointers: list[Place] = []
        self.scalar_values: dict[Node, Value] = {}
        self.scalars: list[Node] = []
        self.result: Value | None = None

    def code(self, kernel: Kernel) -> KernelCode:
        emit = getattr(self, f"emit_{kernel.kind}", None)
        if emit is not None:
            emit(kernel)
        else:  # an op that brings its own loop nest (see "Lowering an op" in the docstring)
            lower = OPS[kernel.root.op].lower
            if lower is None:
                raise NotImplementedError(f"{kernel.root.op}: the op has no native lowering")
            lower(self, kernel)
        bases = [base for base, _, _ in self.pointers]
        params = [
            f"ptr{' noalias' if bases.count(base) == 1 else ''} %ptr{k}"
            for k, base in enumerate(bases)
        ]
        params += [f"{_param_type(h.dtype)} %val{k}" for k, h in enumerate(self.scalars)]
        result = self.result
        returns = "void" if result is None else _param_type(result.dtype)
        ret = "ret void"
        if result is not None:
            returned = result.text
            if result.dtype == dtypes.BOOL:  # booleans cross calls as i8
                returned = self.fb.instr(dtypes.BOOL, f"zext i1 {returned} to i8").text
            ret = f"ret {returns} {returned}"
        text = self.fb.text(
            f"define internal {returns} @KERNEL({', '.join(params)}) {ATTRIBUTES} nounwind", ret
        )
        return KernelCode(
            text,
            tuple(self.pointers),
            tuple(self.scalars),
            None if result is None else result.dtype,
            self.fb.instructions,
        )

    # -- where values are ---------------------------------------------------------------------
    def layout(self, node: Node) -> Layout | str:
        """Where ``node``'s value is: a :class:`Layout`, or ``SCALAR``."""
        return self.plan.layouts[node]

    def array_layout(self, node: Node) -> Layout:
        """The layout of a value that is in memory (not of scalar layout)."""
        layout = self.plan.layouts[node]
        assert isinstance(layout, Layout), f"{node!r} is not in memory"
        return layout

    def pointer(self, layout: Layout) -> str:
        """The parameter pointing at ``layout``'s first element."""
        key = (layout.base, layout.offset)
        name = self.pointer_names.get(key)
        if name is None:
            name = f"%ptr{len(self.pointers)}"
            self.pointer_names[key] = name
            self.pointers.append((layout.base, layout.offset, layout.dtype))
        return name

    def element_pointer(self, layout: Layout, offset: str | int) -> str:
        """The address of the element ``offset`` elements past ``layout``'s first."""
        return self.fb.gep(self.pointer(layout), offset, layout.dtype)

    def scalar(self, node: Node) -> Value:
        """A value of scalar layout: a literal for constants, else a parameter."""
        holder = self.plan.scalar_of[node]
        if holder.op == "const":
            return Value(literal(holder.value.reshape(-1)[0].item(), holder.dtype), holder.dtype)
        value = self.scalar_values.get(holder)
        if value is None:
            name = f"%val{len(self.scalars)}"
            if holder.dtype == dtypes.BOOL:  # booleans cross calls as i8
                value = self.fb.instr(dtypes.BOOL, f"trunc i8 {name} to i1")
            else:
                value = Value(name, holder.dtype)
            self.scalar_values[holder] = value
            self.scalars.append(holder)
        return value

    # -- loops --------------------------------------------------------------------------------
    def open_loops(self, dims: tuple[int, ...]) -> tuple[list[str], list[dict]]:
        indices, states = [], []
        for dim in dims:
            index, state = self.fb.loop_begin(dim)
            indices.append(index)
            states.append(state)
        return indices, states

    def close_loops(self, states: list[dict]) -> None:
        for state in reversed(states):
            self.fb.loop_end(state)

    def offset(self, strides: tuple[int, ...], indices: list[str]) -> str | int:
        """``sum(index * stride)`` as IR (zero strides skipped, unit strides not multiplied)."""
        terms: list[str] = []
        for index, stride in zip(indices, strides):
            if stride == 0:
                continue
            terms.append(index if stride == 1 else self.fb.index_arith("mul nsw", index, stride))
        if not terms:
            return 0
        total = terms[0]
        for term in terms[1:]:
            total = self.fb.index_arith("add nsw", total, term)
        return total

    def _leaves(self, kernel: Kernel, shape: tuple[int, ...]) -> dict[Node, tuple[int, ...] | None]:
        """Outside values a fused kernel reads: their strides over ``shape``, or None for
        scalars (read once, before any loop)."""
        leaves: dict[Node, tuple[int, ...] | None] = {}
        for read in kernel_reads(kernel):
            if read in leaves:
                continue
            layout = self.plan.layouts[read]
            if layout == SCALAR:
                self.scalar(read)
                leaves[read] = None
            else:
                assert isinstance(layout, Layout)
                leaves[read] = align_strides(layout.strides, read.shape, shape)
        return leaves

    def _evaluate(self, kernel: Kernel, stop: Node, leaves, offsets) -> Value:
        """The fused expression of ``kernel`` up to ``stop``, at the current loop position."""
        values: dict[Node, Value] = {}

        def value_of(node: Node) -> Value:
            found = values.get(node)
            if found is not None:
                return found
            if leaves.get(node, 0) is None:
                found = self.scalar(node)
            else:
                layout = self.array_layout(node)
                found = self.fb.load(self.element_pointer(layout, offsets[node]), layout.dtype)
            values[node] = found
            return found

        for node in kernel.nodes:
            opdef = OPS[node.op]
            if opdef.kind != "elementwise":
                break  # the reduction itself
            assert opdef.lower is not None, f"{node.op} has no lowering"
            operands = [value_of(a) for a in node.args]
            values[node] = opdef.lower(self.fb, node, *operands)
            if node is stop:
                break
        return value_of(stop)

    # -- kernels ------------------------------------------------------------------------------
    def emit_map(self, kernel: Kernel) -> None:
        """One loop nest over the root's shape: the fused chain per element, stored once."""
        node = kernel.root
        if node.size == 0:
            return
        target = self.plan.layouts[node]
        assert isinstance(target, Layout)
        leaves = self._leaves(kernel, node.shape)
        accesses = [(None, target.strides)] + [
            (leaf, strides) for leaf, strides in leaves.items() if strides is not None
        ]
        dims, merged = collapse(node.shape, [s for _, s in accesses])
        indices, states = self.open_loops(dims)
        offsets = {key: self.offset(st, indices) for (key, _), st in zip(accesses, merged)}
        value = self._evaluate(kernel, node, leaves, offsets)
        self.fb.store(
            self.fb.cast(value, target.dtype), self.element_pointer(target, offsets[None])
        )
        self.close_loops(states)

    def emit_copy(self, kernel: Kernel) -> None:
        source = kernel.source
        assert source is not None
        if kernel.target is not None:  # an output that no kernel wrote in place
            self._copy_into(source, kernel.target, source.shape)
            return
        # A reshape of a strided view: copy the source, in its row-major order, into the root's
        # contiguous buffer, which is then the reshaped value.
        layout = self.plan.layouts[kernel.root]
        assert isinstance(layout, Layout)
        target = Layout(layout.base, layout.offset, contiguous_strides(source.shape), layout.dtype)
        self._copy_into(source, target, source.shape)

    def emit_reduce(self, kernel: Kernel) -> None:
        node = kernel.root
        (operand,) = node.args
        axes = node.attrs["axes"]
        shape = operand.shape
        dtype = node.dtype
        init, combine = _REDUCTIONS[node.op](self.fb, dtype)
        layout = self.plan.layouts[node]
        scalar_result = layout == SCALAR
        if node.size == 0:
            return
        if operand.size == 0:
            # Nothing to reduce: every output element is the reduction's identity (0 for sums,
            # 1 for products; max and min of empty axes are refused when the node is built).
            if scalar_result:
                self.result = init
            else:
                assert isinstance(layout, Layout)
                self._fill(layout, node.shape, init)
            return
        leaves = self._leaves(kernel, shape)
        kept = [a for a in range(len(shape)) if a not in axes]
        if scalar_result:
            out_strides = (0,) * len(shape)
        else:
            assert isinstance(layout, Layout)
            out_over_input = contiguous_strides(node.shape)
            if not node.attrs["keepdims"]:
                by_axis = dict(zip(kept, out_over_input))
                out_strides = tuple(0 if a in axes else by_axis[a] for a in range(len(shape)))
            else:
                out_strides = tuple(
                    0 if a in axes else out_over_input[a] for a in range(len(shape))
                )
        leaf_list = [(leaf, s) for leaf, s in leaves.items() if s is not None]

        def value_at(offsets) -> Value:
            return self.fb.cast(self._evaluate(kernel, operand, leaves, offsets), dtype)

        def leaf_offsets(merged, indices):
            return {
                leaf: self.offset(strides, indices)
                for (leaf, _), strides in zip(leaf_list, merged[1:])
            }

        in_order = not kept or max(kept) < min(axes, default=len(shape))
        if in_order:
            # Reduced axes innermost: one accumulator per output element, in a register.
            classes = [1 if a in axes else 0 for a in range(len(shape))]
            accesses = [out_strides] + [s for _, s in leaf_list]
            dims, merged, dim_classes = collapse(shape, accesses, classes, with_classes=True)
            outer = [i for i, c in enumerate(dim_classes) if c == 0]
            inner = [i for i, c in enumerate(dim_classes) if c == 1]
            outer_indices, outer_states = self.open_loops(tuple(dims[i] for i in outer))
            accumulator = self.fb.alloca(LLVM_TYPES[dtype])
            self.fb.emit(f"store {init.type} {init.text}, ptr {accumulator}")
            inner_indices, inner_states = self.open_loops(tuple(dims[i] for i in inner))
            indices = [""] * len(dims)
            for i, index in zip(outer, outer_indices):
                indices[i] = index
            for i, index in zip(inner, inner_indices):
                indices[i] = index
            current = self.fb.instr(dtype, f"load {init.type}, ptr {accumulator}")
            updated = combine(current, value_at(leaf_offsets(merged, indices)))
            self.fb.emit(f"store {init.type} {updated.text}, ptr {accumulator}")
            self.close_loops(inner_states)
            result = self.fb.instr(dtype, f"load {init.type}, ptr {accumulator}")
            if scalar_result:
                self.result = result
            else:
                assert isinstance(layout, Layout)
                outer_only = [indices[i] if i in outer else "0" for i in range(len(dims))]
                self.fb.store(
                    result, self.element_pointer(layout, self.offset(merged[0], outer_only))
                )
            self.close_loops(outer_states)
            return
        # Kept axes innermost: accumulate into the output, row-major over the input, so every
        # output element still sums in order and the inner loop runs along contiguous memory.
        assert isinstance(layout, Layout)
        self._fill(layout, node.shape, init)
        accesses = [out_strides] + [s for _, s in leaf_list]
        dims, merged = collapse(shape, accesses)
        indices, states = self.open_loops(dims)
        out_pointer = self.element_pointer(layout, self.offset(merged[0], indices))
        current = self.fb.load(out_pointer, dtype)
        self.fb.store(combine(current, value_at(leaf_offsets(merged, indices))), out_pointer)
        self.close_loops(states)

    def _blocks(self, count: int, width: int):
        """Loop over ``0 <= index < count`` in blocks of ``width`` indices, then one at a time
        for the rest; yields each block's indices, the code emitted meanwhile is the body."""
        full, rest = divmod(count, width)
        for start, size_, repeat in ((0, width, full), (full * width, 1, rest)):
            if repeat == 0:
                continue
            (q,), states = self.open_loops((repeat,))
            first = self.fb.index_arith("mul nsw", q, size_) if size_ > 1 else q
            if start:
                first = self.fb.index_arith("add nsw", first, start)
            yield [first] + [self.fb.index_arith("add nsw", first, u) for u in range(1, size_)]
            self.close_loops(states)

    def _tiles(self, count: int, width: int):
        """Like :meth:`_blocks`, but the rest is one block of ``count % width`` indices: a
        tile of fewer rows rather than single rows, each of which would read B once more."""
        full, rest = divmod(count, width)
        if full:
            yield from self._blocks(full * width, width)
        if rest:
            yield [full * width + r for r in range(rest)]

    def emit_matmul(self, kernel: Kernel) -> None:
        """``C = A @ B`` for 1-D and 2-D operands and for stacks of matrices: one loop nest over
        the (broadcast) batch axes of the result around the 2-D product; each operand's matrix
        is found through its own batch strides (0 along an axis it is broadcast on)."""
        node = kernel.root
        a, b = node.args
        dtype = node.dtype
        la, lb = self.plan.layouts[a], self.plan.layouts[b]
        # A broadcast scalar operand is read once, before any loop (its strides are all 0).
        constant = {x: self.scalar(x) for x, lx in ((a, la), (b, lb)) if lx == SCALAR}
        full_a = (0,) * a.ndim if la == SCALAR else la.strides  # type: ignore[union-attr]
        full_b = (0,) * b.ndim if lb == SCALAR else lb.strides  # type: ignore[union-attr]
        # Split each operand into batch axes and a matrix (or vector) core.
        lead_a, lead_b = a.ndim - min(a.ndim, 2), b.ndim - min(b.ndim, 2)
        batch = node.shape[: node.ndim - (a.ndim > 1) - (b.ndim > 1)]
        batch_a = align_strides(full_a[:lead_a], a.shape[:lead_a], batch)
        batch_b = align_strides(full_b[:lead_b], b.shape[:lead_b], batch)
        sa, sb = full_a[lead_a:], full_b[lead_b:]
        # View both cores as 2-D: (m, k) @ (k, n).
        if a.ndim == 1:
            m, k, sa = 1, a.shape[0], (0, sa[0])
        else:
            m, k = a.shape[-2:]
        if b.ndim == 1:
            n, sb = 1, (sb[0], 0)
        else:
            n = b.shape[-1]
        layout = self.plan.layouts[node]
        scalar_result = layout == SCALAR
        sc: tuple[int, ...]
        batch_c: tuple[int, ...]
        if scalar_result:
            sc, batch_c = (0, 0), ()
        else:
            assert isinstance(layout, Layout)
            batch_c, core_c = layout.strides[: len(batch)], layout.strides[len(batch) :]
            if a.ndim == 1:
                sc = (0, core_c[0])
            elif b.ndim == 1:
                sc = (core_c[0], 0)
            else:
                sc = core_c
        zero = self.fb.const(0.0 if dtype in dtypes.FLOATS else 0, dtype)
        flags = "reassoc" if self.fb.reassociate else ""
        if node.size == 0:
            return
        if k == 0:
            if scalar_result:
                self.result = zero
            else:
                self._fill(layout, node.shape, zero)  # type: ignore[arg-type]
            return
        dims, (bc, ba, bb) = collapse(batch, [batch_c, batch_a, batch_b])
        batch_indices, batch_loops = self.open_loops(dims)
        base_a, base_b, base_c = (self.offset(s, batch_indices) for s in (ba, bb, bc))

        def at(base, strides, i, j):
            offset = self.offset(strides, [i, j])
            if base == 0 or offset == 0:
                return offset if base == 0 else base
            return self.fb.index_arith("add nsw", base, offset)

        def element(operand: Node, base, strides, i, j) -> Value:
            if operand in constant:
                return self.fb.cast(constant[operand], dtype)
            layout_ = self.array_layout(operand)
            pointer = self.element_pointer(layout_, at(base, strides, i, j))
            return self.fb.cast(self.fb.load(pointer, layout_.dtype), dtype)

        def out_pointer(i, j) -> str:
            return self.element_pointer(layout, at(base_c, sc, i, j))  # type: ignore[arg-type]

        if scalar_result:  # a dot product of two vectors
            accumulator = self.fb.alloca(LLVM_TYPES[dtype])
            self.fb.emit(f"store {zero.type} {zero.text}, ptr {accumulator}")
            (kk,), loop = self.open_loops((k,))
            product = self.fb.arith(
                "mul", element(a, base_a, sa, "0", kk), element(b, base_b, sb, kk, "0")
            )
            current = self.fb.instr(dtype, f"load {zero.type}, ptr {accumulator}")
            total = self.fb.arith("add", current, product, flags)
            self.fb.emit(f"store {zero.type} {total.text}, ptr {accumulator}")
            self.close_loops(loop)
            self.result = self.fb.instr(dtype, f"load {zero.type}, ptr {accumulator}")
        elif (
            1 < n <= TILE_COLUMNS
            and (n <= TILE_ALWAYS or sb[1] != 1 or m >= k)
            and sc[1] == 1
            and dtype in dtypes.FLOATS
            and a.dtype == b.dtype == dtype
            and not constant
        ):
            # A tile of C (a few rows, a few vectors of columns) accumulates in vector
            # registers over the whole k loop; each step loads a row of B once for the tile
            # and broadcasts one element of A per row. C is written once. Every C[i, j] adds
            # its k terms in order, starting from 0, as on the other paths (same rounding).
            lanes = VECTOR_BYTES // ITEM_SIZES[dtype]
            all_chunks = [(c, min(lanes, n - c)) for c in range(0, n, lanes)]
            scalar_type = LLVM_TYPES[dtype]
            lb_ = self.array_layout(b)
            fb = self.fb
            # Columns in groups of at most TILE_GROUP vectors, rows so that the tile's
            # accumulators fit in TILE_REGISTERS vector registers.
            group = min(len(all_chunks), TILE_GROUP)
            groups = [all_chunks[g : g + group] for g in range(0, len(all_chunks), group)]
            for rows in self._tiles(m, max(1, min(TILE_ROWS, TILE_REGISTERS // group))):
                for chunks in groups:
                    slots = []
                    for _ in rows:
                        row_slots = []
                        for _, width in chunks:
                            slot = fb.alloca(f"<{width} x {scalar_type}>")
                            fb.emit(f"store <{width} x {scalar_type}> zeroinitializer, ptr {slot}")
                            row_slots.append(slot)
                        slots.append(row_slots)
                    (kk,), inner = self.open_loops((k,))
                    b_vectors = []
                    for col, width in chunks:
                        vtype = f"<{width} x {scalar_type}>"
                        if sb[1] == 1:
                            pointer = self.element_pointer(lb_, at(base_b, sb, kk, col))
                            load = f"load {vtype}, ptr {pointer}, align {ITEM_SIZES[dtype]}"
                            b_vectors.append(fb.instr(dtype, load).text)
                            continue
                        gathered = "poison"
                        for lane in range(width):
                            b_element = element(b, base_b, sb, kk, col + lane)
                            gathered = fb.instr(
                                dtype,
                                f"insertelement {vtype} {gathered}, {b_element.type} "
                                f"{b_element.text}, i32 {lane}",
                            ).text
                        b_vectors.append(gathered)
                    for i, row_slots in zip(rows, slots):
                        a_element = element(a, base_a, sa, i, kk)
                        for (_, width), b_vector, slot in zip(chunks, b_vectors, row_slots):
                            vtype = f"<{width} x {scalar_type}>"
                            one = fb.instr(
                                dtype,
                                f"insertelement {vtype} poison, {a_element.type} "
                                f"{a_element.text}, i32 0",
                            ).text
                            splat = fb.instr(
                                dtype,
                                f"shufflevector {vtype} {one}, {vtype} poison, "
                                f"<{width} x i32> zeroinitializer",
                            ).text
                            scaled = fb.instr(dtype, f"fmul {vtype} {splat}, {b_vector}").text
                            partial = fb.instr(dtype, f"load {vtype}, ptr {slot}").text
                            flag = f" {flags}" if flags else ""
                            summed = fb.instr(dtype, f"fadd{flag} {vtype} {partial}, {scaled}").text
                            fb.emit(f"store {vtype} {summed}, ptr {slot}")
                    self.close_loops(inner)
                    for i, row_slots in zip(rows, slots):
                        for (col, width), slot in zip(chunks, row_slots):
                            vtype = f"<{width} x {scalar_type}>"
                            tile_row = fb.instr(dtype, f"load {vtype}, ptr {slot}").text
                            target, align = out_pointer(i, col), ITEM_SIZES[dtype]
                            fb.emit(f"store {vtype} {tile_row}, ptr {target}, align {align}")
        elif n > 1 and sb[1] == 1:
            # Rows of B are contiguous: C[i, :] += A[i, kk] * B[kk, :], vectorisable along j.
            # Register blocking: four rows of C at a time share each row of B they read, and
            # four rows of B at a time are added while C[i, j] stays in a register. Every
            # C[i, j] still adds its k terms in order, starting from 0.
            for rows in self._blocks(m, 4):
                (j,), fill = self.open_loops((n,))
                for i in rows:
                    self.fb.store(zero, out_pointer(i, j))
                self.close_loops(fill)
                for terms in self._blocks(k, 4):
                    coefficients = [[element(a, base_a, sa, i, kk) for kk in terms] for i in rows]
                    (j,), inner = self.open_loops((n,))
                    b_values = [element(b, base_b, sb, kk, j) for kk in terms]
                    for i, row_coefficients in zip(rows, coefficients):
                        pointer = out_pointer(i, j)
                        total = self.fb.load(pointer, dtype)
                        for coefficient, b_value in zip(row_coefficients, b_values):
                            product = self.fb.arith("mul", coefficient, b_value)
                            total = self.fb.arith("add", total, product, flags)
                        self.fb.store(total, pointer)
                    self.close_loops(inner)
        else:
            # Dot products, eight at once: each adds its terms in order, a serial chain bound by
            # the add latency, so eight independent chains keep both adders busy (four left
            # A @ x at half the speed of x @ A).
            along_j = n >= m
            (p,), outer = self.open_loops((m if along_j else n,))
            for lanes in self._blocks(n if along_j else m, 8):
                accumulators = []
                for _ in lanes:
                    slot = self.fb.alloca(LLVM_TYPES[dtype])
                    self.fb.emit(f"store {zero.type} {zero.text}, ptr {slot}")
                    accumulators.append(slot)
                (kk,), inner = self.open_loops((k,))
                for lane, slot in zip(lanes, accumulators):
                    i, j = (p, lane) if along_j else (lane, p)
                    product = self.fb.arith(
                        "mul", element(a, base_a, sa, i, kk), element(b, base_b, sb, kk, j)
                    )
                    current = self.fb.instr(dtype, f"load {zero.type}, ptr {slot}")
                    total = self.fb.arith("add", current, product, flags)
                    self.fb.emit(f"store {zero.type} {total.text}, ptr {slot}")
                self.close_loops(inner)
                for lane, slot in zip(lanes, accumulators):
                    result = self.fb.instr(dtype, f"load {zero.type}, ptr {slot}")
                    i, j = (p, lane) if along_j else (lane, p)
                    self.fb.store(result, out_pointer(i, j))
            self.close_loops(outer)
        self.close_loops(batch_loops)

    def _fill(self, layout: Layout, shape, value: Value) -> None:
        if size(shape) == 0:
            return
        dims, (strides,) = collapse(shape, [layout.strides])
        indices, states = self.open_loops(dims)
        self.fb.store(value, self.element_pointer(layout, self.offset(strides, indices)))
        self.close_loops(states)

    def _copy_into(self, source: Node, target: Layout, shape) -> None:
        """Store ``source`` (broadcast to ``shape``) into ``target``."""
        if size(shape) == 0:
            return
        layout = self.plan.layouts[source]
        if layout == SCALAR:
            self._fill(target, shape, self.fb.cast(self.scalar(source), target.dtype))
            return
        assert isinstance(layout, Layout)
        strides = align_strides(layout.strides, source.shape, shape)
        dims, (into, outof) = collapse(shape, [target.strides, strides])
        indices, states = self.open_loops(dims)
        source_pointer = self.element_pointer(layout, self.offset(outof, indices))
        value = self.fb.load(source_pointer, layout.dtype)
        pointer = self.element_pointer(target, self.offset(into, indices))
        self.fb.store(self.fb.cast(value, target.dtype), pointer)
        self.close_loops(states)

    def emit_concat(self, kernel: Kernel) -> None:
        """One loop nest over the axes before ``axis``; inside it, each argument's block.

        Stacking K columns (``stack(terms, axis=1)``) is then one loop over rows that writes
        each row contiguously, not K strided copy loops (which LLVM vectorises and unrolls one
        by one: a 25-column stack became 3,000 lines of optimised IR).
        """
        node = kernel.root
        layout = self.plan.layouts[node]
        assert isinstance(layout, Layout)
        axis = node.attrs["axis"]
        if node.size == 0:
            return
        outer_shape = node.shape[:axis]
        sources = []
        for arg in node.args:
            source = self.plan.layouts[arg]
            strides = None
            if source == SCALAR:
                self.scalar(arg)  # read before any loop, like every scalar parameter
            else:
                assert isinstance(source, Layout)
                strides = align_strides(source.strides, arg.shape, arg.shape)
            sources.append((arg, strides))
        dims, merged = collapse(
            outer_shape,
            [layout.strides[:axis]] + [s[:axis] for _, s in sources if s is not None],
        )
        indices, states = self.open_loops(dims)
        outer_out = self.offset(merged[0], indices)
        outer_in = iter(merged[1:])
        position = 0
        for arg, strides in sources:
            block = arg.shape[axis:]
            offset = self.fb.index_arith("add nsw", outer_out, position * layout.strides[axis])
            target = (offset, layout.strides[axis:])
            if strides is None:
                self._copy_block(None, target, layout, block, arg)
            else:
                start = self.offset(next(outer_in), indices)
                self._copy_block((start, strides[axis:]), target, layout, block, arg)
            position += arg.shape[axis]
        self.close_loops(states)

    def _copy_block(self, source, target, layout: Layout, shape, arg: Node) -> None:
        """Copy ``arg`` (its part at element ``source[0]`` with strides ``source[1]``, or its
        scalar value when ``source`` is None) to ``layout``'s elements at ``target``."""
        if size(shape) == 0:
            return
        target_start, target_strides = target
        if source is None:
            dims, (into,) = collapse(shape, [target_strides])
            value = self.fb.cast(self.scalar(arg), layout.dtype)
            indices, states = self.open_loops(dims)
        else:
            source_start, source_strides = source
            dims, (into, outof) = collapse(shape, [target_strides, source_strides])
            indices, states = self.open_loops(dims)
            arg_layout = self.plan.layouts[arg]
            assert isinstance(arg_layout, Layout)
            where = self.fb.index_arith("add nsw", source_start, self.offset(outof, indices))
            value = self.fb.load(self.element_pointer(arg_layout, where), arg_layout.dtype)
            value = self.fb.cast(value, layout.dtype)
        where = self.fb.index_arith("add nsw", target_start, self.offset(into, indices))
        self.fb.store(value, self.element_pointer(layout, where))
        self.close_loops(states)

    def emit_unslice(self, kernel: Kernel) -> None:
        node = kernel.root
        layout = self.plan.layouts[node]
        assert isinstance(layout, Layout)
        self._fill(layout, node.shape, self.fb.const(0, node.dtype))
        spec = node.attrs["spec"]
        offset = layout.offset + sum(s * st for (s, _, _), st in zip(spec, layout.strides))
        strides = tuple(st * step for (_, step, _), st in zip(spec, layout.strides))
        source = node.args[0]
        self._copy_into(source, Layout(layout.base, offset, strides, layout.dtype), source.shape)


def _param_type(dtype: str) -> str:
    """How a scalar crosses a call: booleans as bytes, like in memory."""
    return "i8" if dtype == dtypes.BOOL else LLVM_TYPES[dtype]


class KernelLibrary:
    """The kernel functions of one module, each distinct text emitted once."""

    def __init__(self, plan: Plan, module: Module, reassociate: bool, prefix: str = ""):
        self.plan = plan
        self.module = module
        self.reassociate = reassociate
        self.prefix = prefix  # of the function names: a loop body's kernels get their own
        self.names: dict[str, str] = {}  # text -> function name
        self.texts: list[str] = []  # one per distinct kernel, named
        self.instructions = 0  # of the distinct kernels
        self.calls = 0

    def function_for(self, kernel: Kernel) -> tuple[str, KernelCode]:
        code = KernelEmitter(self.plan, self.module, self.reassociate).code(kernel)
        name = self.names.get(code.text)
        if name is None:
            name = f"{self.prefix}kernel{len(self.names)}"
            self.names[code.text] = name
            self.texts.append(code.text.replace("@KERNEL(", f"@{name}(", 1))
            self.instructions += code.instructions
        self.calls += 1
        return name, code

    def finish(self, inline: bool) -> None:
        attributes = "alwaysinline" if inline else "noinline"
        self.module.functions.extend(t.replace(ATTRIBUTES, attributes, 1) for t in self.texts)


def _reductions():
    def sum_(fb: FunctionBuilder, dtype: str):
        if dtype in dtypes.FLOATS:
            # numpy starts sums from +0.0, so a sum of -0.0 values is +0.0 there too.
            init = fb.const(0.0, dtype)
            flags = "reassoc" if fb.reassociate else ""
            return init, lambda acc, x: fb.arith("add", acc, x, flags)
        return fb.const(0, dtype), lambda acc, x: fb.arith("add", acc, x)

    def prod(fb: FunctionBuilder, dtype: str):
        flags = "reassoc" if fb.reassociate and dtype in dtypes.FLOATS else ""
        return fb.const(1, dtype), lambda acc, x: fb.arith("mul", acc, x, flags)

    def extremum(pred: str, start_float: float, start_int: int):
        def make(fb: FunctionBuilder, dtype: str):
            if dtype == dtypes.BOOL:
                kind = "or" if pred == "gt" else "and"
                return fb.const(pred != "gt", dtype), lambda acc, x: fb.logic(kind, acc, x)
            if dtype in dtypes.FLOATS:
                # numpy's rule: keep acc when acc > x or acc is nan, so nan propagates and ties
                # (+0.0 against -0.0) take the later element.
                def combine(acc, x):
                    keep = fb.logic("or", fb.cmp(pred, acc, x), fb.isnan(acc))
                    return fb.select(keep, acc, x)

                return fb.const(start_float, dtype), combine
            return fb.const(start_int, dtype), lambda acc, x: fb.select(
                fb.cmp(pred, acc, x), acc, x
            )

        return make

    return {
        "sum": sum_,
        "prod": prod,
        "max": extremum("gt", float("-inf"), -(2**63)),
        "min": extremum("lt", float("inf"), 2**63 - 1),
    }


_REDUCTIONS = _reductions()


def collapse(shape, stride_lists, classes=None, with_classes=False):
    """Merge adjacent axes that every access walks as one (and drop size-1 axes).

    Axes ``k`` and ``k+1`` merge when every stride list has ``s[k] == s[k+1] * shape[k+1]`` and
    both axes have the same class (reduced or kept). Returns the new dims and stride lists.
    """
    classes = classes or [0] * len(shape)
    keep = [i for i, d in enumerate(shape) if d != 1]
    dims = [shape[i] for i in keep]
    lists = [[s[i] for i in keep] for s in stride_lists]
    kinds = [classes[i] for i in keep]
    k = len(dims) - 2
    while k >= 0:
        if kinds[k] == kinds[k + 1] and all(s[k] == s[k + 1] * dims[k + 1] for s in lists):
            dims[k] *= dims[k + 1]
            for s in lists:
                s[k] = s[k + 1]
                del s[k + 1]
            del dims[k + 1], kinds[k + 1]
        k -= 1
    result = (tuple(dims), [tuple(s) for s in lists])
    return (*result, kinds) if with_classes else result
