"""Lowering, part 2: LLVM IR text for a :class:`~graphc.jit.plan.Plan`.

The module holds:
- ``part0 .. partN``: the kernels, in plan order, each part a function of bounded size taking one
  ``noalias`` pointer per input/output buffer, the workspace and one per constant array;
- ``graph_body``: calls the parts in order;
- ``graph_call``: the entry for one call from Python. Scalar inputs arrive by value, arrays as
  ``PyObject*`` (the data pointer is read from the ndarray struct, which is much cheaper than
  asking numpy for it), array outputs likewise, scalar outputs in one packed array of 8-byte
  slots; a graph whose only scalar output is float64 returns it directly. A small workspace
  lives on the stack, a large one comes from the caller;
- ``graph_batch``: the body in a loop over rows ``begin <= r < end`` of batched arguments, each
  argument given as a base pointer and a byte stride per row (0 broadcasts one value to all).

Semantics: elementwise code is the ops' own ``lower``; reductions and matrix products add in
order (element 0 first), like a sequential loop; no fast-math flags unless
``reassociate=True`` (then ``reassoc`` on sums and products only, which lets LLVM vectorise
them and changes their rounding).
"""

from __future__ import annotations

from dataclasses import dataclass

from graphc import dtypes
from graphc.jit.emit import ITEM_SIZES, LLVM_TYPES, FunctionBuilder, Module, Value, literal
from graphc.jit.plan import SCALAR, Kernel, Layout, Plan, align_strides, kernel_reads
from graphc.node import Node
from graphc.ops.base import OPS
from graphc.shapes import contiguous_strides, size

PYARRAY_DATA_OFFSET = 16  # offsetof(PyArrayObject, data) on 64-bit CPython (checked at import)

# Largest workspace put on the native stack of the calling thread; larger ones come from Python.
STACK_WORKSPACE_LIMIT = 64 * 1024

# Parts up to this many instructions are inlined into the entry points.
INLINE_LIMIT = 200


class PartEmitter:
    """Emits the kernels of one part into one function."""

    def __init__(self, plan: Plan, module: Module, reassociate: bool):
        self.plan = plan
        self.fb = FunctionBuilder(module, reassociate)
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

    def element_pointer(self, layout: Layout, offset: str | int) -> str:
        return self.fb.gep(self.base_pointer(layout.base), offset, layout.dtype)

    def scalar(self, node: Node) -> Value:
        """The value of a node of scalar layout (straight-line code, before any loop)."""
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
            home = self.plan.homes[holder]
            value = self.fb.load(self.element_pointer(home, home.offset), holder.dtype)
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
        return self.fb.load(self.element_pointer(layout, layout.offset), layout.dtype)

    def define_scalar(self, node: Node, value: Value) -> None:
        self.scalars[node] = value
        home = self.plan.homes.get(node)
        if home is not None:
            self.fb.store(value, self.element_pointer(home, home.offset))

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

    def offset(self, base: int, strides: tuple[int, ...], indices: list[str]) -> str | int:
        """``base + sum(index * stride)`` as IR (constants folded)."""
        terms: list[str] = []
        for index, stride in zip(indices, strides):
            if stride == 0:
                continue
            terms.append(index if stride == 1 else self.fb.index_arith("mul nsw", index, stride))
        if not terms:
            return base
        total = terms[0]
        for term in terms[1:]:
            total = self.fb.index_arith("add nsw", total, term)
        if base:
            total = self.fb.index_arith("add nsw", total, base)
        return total

    # -- kernels ------------------------------------------------------------------------------
    def emit(self, kernel: Kernel) -> None:
        getattr(self, f"emit_{kernel.kind}")(kernel)

    def emit_scalar(self, kernel: Kernel) -> None:
        node = kernel.root
        operands = [self.read_scalar_shaped(a) for a in node.args]
        self.define_scalar(node, OPS[node.op].lower(self.fb, node, *operands))

    def _leaves(self, kernel: Kernel, shape: tuple[int, ...]) -> dict[Node, tuple[int, ...] | None]:
        """Outside values a fused kernel reads: their strides over ``shape``, or None for
        scalars (loaded once, before the loop)."""
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
                layout = self.plan.layouts[node]
                found = self.fb.load(self.element_pointer(layout, offsets[node]), layout.dtype)
            values[node] = found
            return found

        for node in kernel.nodes:
            if OPS[node.op].kind != "elementwise":
                break  # the reduction itself
            operands = [value_of(a) for a in node.args]
            values[node] = OPS[node.op].lower(self.fb, node, *operands)
            if node is stop:
                break
        return value_of(stop)

    def emit_map(self, kernel: Kernel) -> None:
        """One loop nest over the root's shape: the fused chain per element, stored once."""
        node = kernel.root
        if node.size == 0:
            return
        target = self.plan.layouts[node]
        leaves = self._leaves(kernel, node.shape)
        accesses = [(None, target.strides)] + [
            (leaf, strides) for leaf, strides in leaves.items() if strides is not None
        ]
        dims, merged = collapse(node.shape, [s for _, s in accesses])
        indices, states = self.open_loops(dims)
        offsets: dict[Node | None, str | int] = {}
        for (key, _), strides in zip(accesses, merged):
            layout = target if key is None else self.plan.layouts[key]
            offsets[key] = self.offset(layout.offset, strides, indices)
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
        leaves = self._leaves(kernel, shape)
        dtype = node.dtype
        init, combine = _REDUCTIONS[node.op](self.fb, dtype)
        layout = self.plan.layouts[node]
        scalar_result = layout == SCALAR
        kept = [a for a in range(len(shape)) if a not in axes]
        if scalar_result:
            out_strides = (0,) * len(shape)
        else:
            out_over_input = contiguous_strides(node.shape)
            if not node.attrs["keepdims"]:
                by_axis = dict(zip(kept, out_over_input))
                out_strides = tuple(0 if a in axes else by_axis[a] for a in range(len(shape)))
            else:
                out_strides = tuple(
                    0 if a in axes else out_over_input[a] for a in range(len(shape))
                )
        if node.size == 0:
            return
        value_at = lambda offsets: self.fb.cast(  # noqa: E731
            self._evaluate(kernel, operand, leaves, offsets), dtype
        )
        leaf_list = [(leaf, s) for leaf, s in leaves.items() if s is not None]
        in_order = not kept or max(kept) < min(axes, default=len(shape))
        if in_order:
            # Reduced axes innermost: one accumulator in a register per output element.
            classes = [1 if a in axes else 0 for a in range(len(shape))]
            accesses = [out_strides] + [s for _, s in leaf_list]
            dims, merged, dim_classes = collapse(shape, accesses, classes, with_classes=True)
            outer = [i for i, c in enumerate(dim_classes) if c == 0]
            inner = [i for i, c in enumerate(dim_classes) if c == 1]
            outer_indices, outer_states = self.open_loops(tuple(dims[i] for i in outer))
            accumulator = self.fb.alloca(LLVM_TYPES[dtype] if dtype != dtypes.BOOL else "i1")
            self.fb.emit(f"store {init.type} {init.text}, ptr {accumulator}")
            inner_indices, inner_states = self.open_loops(tuple(dims[i] for i in inner))
            indices = [""] * len(dims)
            for i, index in zip(outer, outer_indices):
                indices[i] = index
            for i, index in zip(inner, inner_indices):
                indices[i] = index
            offsets = {
                leaf: self.offset(self.plan.layouts[leaf].offset, strides, indices)
                for (leaf, _), strides in zip(leaf_list, merged[1:])
            }
            current = self.fb.instr(dtype, f"load {init.type}, ptr {accumulator}")
            updated = combine(current, value_at(offsets))
            self.fb.emit(f"store {init.type} {updated.text}, ptr {accumulator}")
            self.close_loops(inner_states)
            result = self.fb.instr(dtype, f"load {init.type}, ptr {accumulator}")
            if scalar_result:
                self.define_scalar(node, result)
            else:
                out_offset = self.offset(
                    layout.offset,
                    merged[0],
                    [indices[i] if i in outer else "0" for i in range(len(dims))],
                )
                self.fb.store(result, self.element_pointer(layout, out_offset))
            self.close_loops(outer_states)
            return
        # Kept axes innermost: accumulate into the output, row-major over the input, so every
        # output element still sums in order and the inner loop runs along contiguous memory.
        assert isinstance(layout, Layout)
        out_dims, (out_merged,) = collapse(node.shape, [layout.strides])
        indices, states = self.open_loops(out_dims)
        self.fb.store(
            init, self.element_pointer(layout, self.offset(layout.offset, out_merged, indices))
        )
        self.close_loops(states)
        accesses = [out_strides] + [s for _, s in leaf_list]
        dims, merged = collapse(shape, accesses)
        indices, states = self.open_loops(dims)
        out_pointer = self.element_pointer(layout, self.offset(layout.offset, merged[0], indices))
        offsets = {
            leaf: self.offset(self.plan.layouts[leaf].offset, strides, indices)
            for (leaf, _), strides in zip(leaf_list, merged[1:])
        }
        current = self.fb.load(out_pointer, dtype)
        self.fb.store(combine(current, value_at(offsets)), out_pointer)
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

    def emit_matmul(self, kernel: Kernel) -> None:
        node = kernel.root
        a, b = node.args
        dtype = node.dtype
        la, lb = self.plan.layouts[a], self.plan.layouts[b]
        # A broadcast scalar operand is read once, before any loop (its strides are all 0).
        constant = {x: self.scalar(x) for x, lx in ((a, la), (b, lb)) if lx == SCALAR}
        sa = (0, 0) if la == SCALAR else la.strides  # type: ignore[union-attr]
        sb = (0, 0) if lb == SCALAR else lb.strides  # type: ignore[union-attr]
        # View both operands as 2-D: (m, k) @ (k, n).
        if a.ndim == 1:
            m, k, sa = 1, a.shape[0], (0, sa[0])
        else:
            m, k = a.shape
        if b.ndim == 1:
            n, sb = 1, (sb[0], 0)
        else:
            n = b.shape[1]
        layout = self.plan.layouts[node]
        scalar_result = layout == SCALAR
        if scalar_result:
            sc = (0, 0)
        else:
            assert isinstance(layout, Layout)
            if a.ndim == 1:
                sc = (0, layout.strides[0])
            elif b.ndim == 1:
                sc = (layout.strides[0], 0)
            else:
                sc = layout.strides
        zero = self.fb.const(0.0 if dtype in dtypes.FLOATS else 0, dtype)
        flags = "reassoc" if self.fb.reassociate else ""

        def element(operand: Node, strides, i, j) -> Value:
            if operand in constant:
                return self.fb.cast(constant[operand], dtype)
            layout_ = self.plan.layouts[operand]
            pointer = self.element_pointer(layout_, self.offset(layout_.offset, strides, [i, j]))
            return self.fb.cast(self.fb.load(pointer, layout_.dtype), dtype)

        if m * n * k == 0:
            if not scalar_result and m * n:
                self._fill(layout, node.shape, zero)
            elif scalar_result:
                self.define_scalar(node, zero)
            return
        if scalar_result:  # a dot product of two vectors
            accumulator = self.fb.alloca(LLVM_TYPES[dtype])
            self.fb.emit(f"store {zero.type} {zero.text}, ptr {accumulator}")
            (kk,), loop = self.open_loops((k,))
            product = self.fb.arith("mul", element(a, sa, "0", kk), element(b, sb, kk, "0"))
            current = self.fb.instr(dtype, f"load {zero.type}, ptr {accumulator}")
            total = self.fb.arith("add", current, product, flags)
            self.fb.emit(f"store {zero.type} {total.text}, ptr {accumulator}")
            self.close_loops(loop)
            self.define_scalar(node, self.fb.instr(dtype, f"load {zero.type}, ptr {accumulator}"))
            return
        if n > 1 and sb[1] == 1:
            # Rows of B are contiguous: C[i, :] += A[i, kk] * B[kk, :], vectorisable along j.
            # Register blocking: four rows of C at a time share each row of B they read, and
            # four rows of B at a time are added while C[i, j] stays in a register. Every
            # C[i, j] still adds its k terms in order, starting from 0.
            for rows in self._blocks(m, 4):
                (j,), fill = self.open_loops((n,))
                for i in rows:
                    pointer = self.element_pointer(layout, self.offset(layout.offset, sc, [i, j]))
                    self.fb.store(zero, pointer)
                self.close_loops(fill)
                for terms in self._blocks(k, 4):
                    coefficients = [[element(a, sa, i, kk) for kk in terms] for i in rows]
                    (j,), inner = self.open_loops((n,))
                    b_values = [element(b, sb, kk, j) for kk in terms]
                    for i, row_coefficients in zip(rows, coefficients):
                        pointer = self.element_pointer(
                            layout, self.offset(layout.offset, sc, [i, j])
                        )
                        total = self.fb.load(pointer, dtype)
                        for coefficient, b_value in zip(row_coefficients, b_values):
                            product = self.fb.arith("mul", coefficient, b_value)
                            total = self.fb.arith("add", total, product, flags)
                        self.fb.store(total, pointer)
                    self.close_loops(inner)
            return
        # Dot products, eight at once: each adds its terms in order, a serial chain bound by the
        # add latency, so eight independent chains keep both adders busy (four left A @ x at
        # half the speed of x @ A).
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
                product = self.fb.arith("mul", element(a, sa, i, kk), element(b, sb, kk, j))
                current = self.fb.instr(dtype, f"load {zero.type}, ptr {slot}")
                total = self.fb.arith("add", current, product, flags)
                self.fb.emit(f"store {zero.type} {total.text}, ptr {slot}")
            self.close_loops(inner)
            for lane, slot in zip(lanes, accumulators):
                result = self.fb.instr(dtype, f"load {zero.type}, ptr {slot}")
                i, j = (p, lane) if along_j else (lane, p)
                pointer = self.element_pointer(layout, self.offset(layout.offset, sc, [i, j]))
                self.fb.store(result, pointer)
        self.close_loops(outer)

    def _fill(self, layout: Layout, shape, value: Value) -> None:
        dims, (strides,) = collapse(shape, [layout.strides])
        indices, states = self.open_loops(dims)
        self.fb.store(
            value, self.element_pointer(layout, self.offset(layout.offset, strides, indices))
        )
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
        value = self.fb.load(
            self.element_pointer(layout, self.offset(layout.offset, outof, indices)), layout.dtype
        )
        pointer = self.element_pointer(target, self.offset(target.offset, into, indices))
        self.fb.store(self.fb.cast(value, target.dtype), pointer)
        self.close_loops(states)

    def emit_concat(self, kernel: Kernel) -> None:
        node = kernel.root
        layout = self.plan.layouts[node]
        assert isinstance(layout, Layout)
        axis = node.attrs["axis"]
        position = 0
        for arg in node.args:
            target = Layout(
                layout.base,
                layout.offset + position * layout.strides[axis],
                layout.strides,
                layout.dtype,
            )
            self._copy_into(arg, target, arg.shape)
            position += arg.shape[axis]

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


def emit_module(
    plan: Plan, reassociate: bool = False, vector_math: bool = False
) -> tuple[str, set[str], dict]:
    """The module's IR text, the external symbols it needs, and statistics."""
    module = Module(vector_math)
    n_io = plan.n_inputs + plan.n_outputs
    n_const = len(plan.constants)
    io_params = [f"ptr noalias %io{k}" for k in range(n_io)]
    const_params = [f"ptr noalias %cst{k}" for k in range(n_const)]
    part_params = ", ".join(io_params + ["ptr noalias %ws"] + const_params)
    instructions = 0
    by_part: list[list[Kernel]] = [[] for _ in range(plan.parts)]
    for kernel in plan.kernels:
        by_part[kernel.part].append(kernel)
    for part, kernels in enumerate(by_part):
        emitter = PartEmitter(plan, module, reassociate)
        for kernel in kernels:
            emitter.emit(kernel)
        # A small graph is inlined into the entries (the dense batch loop then vectorises over
        # rows); a large one is not: three inlined copies, one inside a loop the vectoriser
        # works on, made a 800-instruction graph compile 8x slower.
        small = plan.parts == 1 and emitter.fb.instructions <= INLINE_LIMIT
        inline = "alwaysinline" if small else "noinline"
        emitter.fb.finish(f"define internal void @part{part}({part_params}) {inline} nounwind")
        instructions += emitter.fb.instructions

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
    stats = {"parts": plan.parts, "kernels": len(plan.kernels), "instructions": instructions}
    return module.text(), module.external_symbols, stats


@dataclass(frozen=True)
class CallABI:
    """How ``graph_call`` takes its arguments; ``CompiledFunction`` builds its ctypes prototype
    from the same record, so the two cannot disagree."""

    direct: int | None  # the output returned as a double: the only scalar output, if float64
    pack: bool  # the other scalar outputs go to one packed array of 8-byte slots
    workspace_from_python: bool  # a workspace too large for the native stack
    constants: bool  # a table of constant pointers is passed


def call_abi(graph, workspace_bytes: int, n_constants: int) -> CallABI:
    scalars = [k for k, o in enumerate(graph.outputs) if o.shape == ()]
    direct = None
    if len(scalars) == 1 and graph.outputs[scalars[0]].dtype == dtypes.FLOAT64:
        direct = scalars[0]
    return CallABI(
        direct=direct,
        pack=bool(scalars) and direct is None,
        workspace_from_python=workspace_bytes > STACK_WORKSPACE_LIMIT,
        constants=n_constants > 0,
    )


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
