"""Lowering, part 1: cut an optimized graph into kernels and place every value in memory.

Input: a graph whose ops all have a lowering (the ``expand`` pass of ``passes.LOWERING_PIPELINE``
has replaced the others, e.g. ``logsumexp``). Output: a :class:`Plan`:

- **Kernels**, in an order that respects dependencies:
  ``scalar`` (one elementwise op on shape ``()``, straight-line code), ``map`` (a fused chain of
  elementwise ops over one shape: one loop nest, no temporaries), ``reduce`` (a reduction whose
  input expression is a fused elementwise chain), ``matmul``, ``concat``, ``unslice`` and
  ``copy`` (materialising a value into an output or a contiguous buffer).
- **Fusion rule**: an elementwise node is computed inside its users' loop (never stored) when it
  is not an output and every user is an elementwise node of the same shape, or a reduction of
  it, in one single kernel; a cheap one (:data:`RECOMPUTED_OPS`, at most two operations deep on
  stored values) whose users are in up to :data:`MAX_RECOMPUTES` kernels is recomputed in each.
  Otherwise it is materialised.
- **Views** (reshape, transpose, broadcast_to, slice) cost nothing: a view is a :class:`Layout`
  (base buffer, offset, strides) derived from its source's; only a reshape of a non-contiguous
  layout needs a copy. A view of a scalar value stays that scalar (:data:`SCALAR`).
- **Buffers**: outputs are written in place; intermediate arrays and scalars that cross a part
  boundary live in one workspace, with offsets planned by lifetime so buffers whose lifetimes do
  not overlap share memory. Array constants are passed by pointer, never pasted into the IR.
- **Parts**: kernels are grouped into functions of bounded size (``PART_BUDGET`` estimated
  instructions) so LLVM's compile time stays linear in the graph's size.
- **Loops**: a ``scan`` is one kernel of kind ``scan`` whose body is planned as a graph of its
  own when the kernel is made (:func:`graphc.jit.scan.prepare`); the body's constant arrays join
  this plan's table, and the kernel gets ``scratch`` bytes of workspace (its carries, the body's
  own workspace), live while it runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from graphc.graph import Graph
from graphc.jit.emit import ITEM_SIZES
from graphc.node import Node
from graphc.ops.base import OPS
from graphc.shapes import contiguous_strides, size

# Recomputation: a cheap elementwise node (one arithmetic instruction per element on stored
# values) whose users sit in up to MAX_RECOMPUTES kernels is computed in each of them instead of
# being stored: storing it costs a pass that writes the array and each user a read of it, while
# recomputing reads its operands (already stored) in the users' own passes. The gradient's
# typical case is the forward's Y = Z * s + Z @ W, read by the forward's sum(Y * Y) and by the
# reverse sweep's dY = 2 w Y.
RECOMPUTED_OPS = frozenset({"add", "sub", "mul", "neg"})
MAX_RECOMPUTES = 3
RECOMPUTE_DEPTH = 2  # the recomputed expression: at most two operations deep
# About 1-2k LLVM instructions per function keeps codegen linear: LLVM's code generation (mostly
# the register allocator) is superlinear in one function's size. Measured with llvmlite 0.50 at
# O2: one function of 20k instructions took 0.9 s, of 100k 28 s; 100-200k instructions split
# into functions of 1-2k took 5-6 s.
PART_BUDGET = 2000
ALIGN = 64


@dataclass(frozen=True, eq=False)
class Layout:
    """Where an array lives and how to index it.

    ``base`` is ``("io", k)`` (input or output ``k``), ``("ws", byte_offset)``, ``("const", k)``
    or, while planning, ``("root", i)``: the buffer of kernel ``i``, placed later. ``offset`` and
    ``strides`` are in elements, one stride per axis of the value's shape.
    """

    base: tuple[str, int]
    offset: int
    strides: tuple[int, ...]
    dtype: str

    def is_contiguous(self, shape: tuple[int, ...]) -> bool:
        expected = contiguous_strides(shape)
        return all(s == e for s, e, d in zip(self.strides, expected, shape) if d != 1)

    def rebased(self, base: tuple[str, int]) -> Layout:
        return Layout(base, self.offset, self.strides, self.dtype)


SCALAR = "scalar"  # the layout of a value held as one scalar (any view of a scalar is that scalar)


@dataclass(eq=False, slots=True)
class Kernel:
    kind: str  # scalar | map | reduce | matmul | concat | unslice | copy
    root: Node  # the value computed (copy kernels: the value materialised or copied)
    nodes: list[Node] = field(default_factory=list)  # fused nodes, topological, root last
    source: Node | None = None  # copy kernels: the value read
    target: Layout | None = None  # output copies: where the value goes
    part: int = 0
    scratch: int = 0  # bytes of workspace the kernel uses while it runs (a loop's carries ...)
    scratch_base: tuple[str, int] | None = None  # where they are, once placed
    detail: object = None  # what a kernel of a new kind planned for its lowering (a loop body)

    def cost(self) -> int:
        """Estimated LLVM instructions in its part, to size the parts: a scalar op is 1-2
        instructions; a loop kernel is a call (its loop nest is a function of its own), about
        two instructions per value it reads or writes."""
        if self.kind == "scalar":
            return 2
        return 4 + 2 * len(kernel_reads(self))


@dataclass
class Plan:
    graph: Graph
    kernels: list[Kernel]
    layouts: dict[Node, Layout | str]  # array values in memory, or SCALAR
    scalar_of: dict[Node, Node]  # a SCALAR-layout node -> the node holding its scalar value
    homes: dict[Node, Layout]  # scalars that are also stored: outputs and cross-part spills
    fused: set[Node]
    constants: list[np.ndarray]  # payloads passed by pointer, in table order
    workspace_bytes: int
    parts: int
    n_inputs: int
    n_outputs: int


class Planner:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.users = graph.users
        self.outputs = set(graph.outputs)
        self.n_in = len(graph.inputs)
        self.layouts: dict[Node, Layout | str] = {}
        self.scalar_of: dict[Node, Node] = {}
        self.homes: dict[Node, Layout] = {}
        self.fused: set[Node] = set()
        self.owner: dict[Node, frozenset[int]] = {}  # the kernels computing an elementwise node
        self.constants: list[np.ndarray] = []
        self.kernels: list[Kernel] = []
        self.root_base: dict[int, tuple[str, int]] = {}
        self.producer: dict[Node, int] = {}  # a value -> the kernel computing it

    # -- step 1: which elementwise nodes fuse into which kernels ------------------------------
    def assign_owners(self) -> None:
        counter = 0
        for node in reversed(self.graph.nodes):
            kind = OPS[node.op].kind
            if kind == "elementwise" and node.shape != ():
                owners = self._fusion_owners(node)
                if owners is None:
                    counter += 1
                    self.owner[node] = frozenset((counter,))
                else:
                    self.owner[node] = owners
                    self.fused.add(node)
            elif kind == "reduce":
                counter += 1
                self.owner[node] = frozenset((counter,))

    def _fusion_owners(self, node: Node) -> frozenset[int] | None:
        """The kernels that compute ``node`` inside their loop, or None to store it. One kernel
        when every user is fused into it; a cheap node (see :data:`RECOMPUTED_OPS`) whose users
        are in a few kernels is recomputed in each rather than stored and read back."""
        if node in self.outputs:
            return None
        owners: set[int] = set()
        for user in self.users[node]:
            kind = OPS[user.op].kind
            fits = (kind == "elementwise" and user.shape == node.shape) or kind == "reduce"
            if not fits or user not in self.owner:
                return None
            owners |= self.owner[user]
        if len(owners) == 1:
            return frozenset(owners)
        if len(owners) <= MAX_RECOMPUTES and self._cheap(node):
            return frozenset(owners)
        return None

    def _cheap(self, node: Node, depth: int = RECOMPUTE_DEPTH) -> bool:
        """True if recomputing ``node`` costs a few arithmetic instructions per element: it is
        one of :data:`RECOMPUTED_OPS`, and each operand is a value that is not fused (an input,
        a constant, a view, a stored result: read, not recomputed) or, up to ``depth`` levels,
        a cheap node used only by this one (fused with it, recomputed with it)."""
        if node.op not in RECOMPUTED_OPS or depth == 0:
            return False
        for arg in node.args:
            if OPS[arg.op].kind != "elementwise" or arg.shape != node.shape:
                continue  # read from memory, or a scalar read once
            if arg in self.outputs or len(self.users[arg]) > 1:
                continue  # stored: its other users need it (or it is an output)
            if not self._cheap(arg, depth - 1):
                return False
        return True

    # -- step 2: kernels in dependency order; layouts of inputs, constants and views -----------
    def build_kernels(self) -> None:
        members: dict[int, list[Node]] = {}
        for node in self.graph.nodes:
            if node in self.fused:
                for owner in sorted(self.owner[node]):
                    members.setdefault(owner, []).append(node)
        for k, node in enumerate(self.graph.inputs):
            if node.shape == ():
                self._scalar(node, node)
            else:
                self.layouts[node] = Layout(
                    ("io", k), 0, contiguous_strides(node.shape), node.dtype
                )
        for node in self.graph.nodes:
            kind = OPS[node.op].kind
            if node.op == "input" or node in self.fused:
                continue
            if node.op == "const":
                self._constant(node)
            elif kind == "view":
                self._view(node)
            elif kind == "elementwise" and node.shape == ():
                self._add_kernel(Kernel("scalar", node, [node]))
            elif kind in ("elementwise", "reduce"):
                kernel_kind = "map" if kind == "elementwise" else "reduce"
                (owner,) = self.owner[node]
                nodes = members.get(owner, []) + [node]
                self._add_kernel(Kernel(kernel_kind, node, nodes))
            elif kind == "scan":
                from graphc.jit.scan import prepare

                kernel = Kernel(kind, node)
                self._add_kernel(kernel)
                prepare(self, kernel)
            else:
                self._add_kernel(Kernel(kind, node))

    def _scalar(self, node: Node, holder: Node) -> None:
        self.layouts[node] = SCALAR
        self.scalar_of[node] = self.scalar_of.get(holder, holder)

    def _add_kernel(self, kernel: Kernel) -> None:
        self.kernels.append(kernel)
        node = kernel.root
        self.producer[node] = len(self.kernels) - 1
        if node.shape == () and kernel.kind in ("scalar", "reduce", "matmul"):
            self._scalar(node, node)
        else:
            index = len(self.kernels) - 1
            self.layouts[node] = Layout(
                ("root", index), 0, contiguous_strides(node.shape), node.dtype
            )

    def _constant(self, node: Node) -> None:
        if node.shape == () or node.attrs["value"].splat is not None:
            self._scalar(node, node)  # every element equal: a literal, no memory
            return
        self.constants.append(np.ascontiguousarray(node.value))
        index = len(self.constants) - 1
        self.layouts[node] = Layout(("const", index), 0, contiguous_strides(node.shape), node.dtype)

    def _view(self, node: Node) -> None:
        (source,) = node.args
        base = self.layouts[source]
        if base == SCALAR:  # every element of a view of a scalar is that scalar
            self._scalar(node, source)
            return
        assert isinstance(base, Layout)
        if node.op == "reshape":
            if base.is_contiguous(source.shape):
                layout = Layout(base.base, base.offset, contiguous_strides(node.shape), base.dtype)
            else:  # a reshape of a strided view needs the elements in row-major order: copy
                self._add_kernel(Kernel("copy", node, source=source))
                return
        elif node.op == "transpose":
            perm = node.attrs["perm"]
            layout = Layout(
                base.base, base.offset, tuple(base.strides[p] for p in perm), base.dtype
            )
        elif node.op == "broadcast_to":
            strides = align_strides(base.strides, source.shape, node.shape)
            layout = Layout(base.base, base.offset, strides, base.dtype)
        else:  # slice
            spec = node.attrs["spec"]
            offset = base.offset + sum(start * st for (start, _, _), st in zip(spec, base.strides))
            strides = tuple(st * step for (_, step, _), st in zip(spec, base.strides))
            layout = Layout(base.base, offset, strides, base.dtype)
        self.layouts[node] = layout

    # -- step 3: outputs written in place, copies where they cannot be -------------------------
    def bind_outputs(self) -> None:
        bound: set[Node] = set()
        for k, node in enumerate(self.graph.outputs):
            slot = ("io", self.n_in + k)
            target = Layout(slot, 0, contiguous_strides(node.shape), node.dtype)
            index = self.producer.get(node)
            if index is not None and node not in bound:
                bound.add(node)
                if self.layouts[node] == SCALAR:
                    self.homes[node] = target
                else:
                    self.root_base[index] = slot
            else:
                self.kernels.append(Kernel("copy", node, source=node, target=target))

    # -- step 4: parts, spills and the workspace -----------------------------------------------
    def split_parts(self) -> int:
        part, used = 0, 0
        for kernel in self.kernels:
            cost = kernel.cost()
            if used and used + cost > PART_BUDGET:
                part, used = part + 1, 0
            kernel.part = part
            used += cost
        return part + 1

    def place_workspace(self) -> int:
        """Give intermediate arrays, and scalars read in another part, a workspace slot."""
        last_read: dict[int, int] = {}  # kernel index -> index of the last kernel reading it
        crosses: set[Node] = set()
        for i, kernel in enumerate(self.kernels):
            for read in kernel_reads(kernel):
                layout = self.layouts[read]
                if isinstance(layout, Layout) and layout.base[0] == "root":
                    last_read[layout.base[1]] = i
                elif layout == SCALAR:
                    holder = self.scalar_of[read]
                    j = self.producer.get(holder)
                    if j is not None:
                        last_read[j] = i
                        if self.kernels[j].part != kernel.part:
                            crosses.add(holder)

        allocator = _Allocator()
        releases: dict[int, list[tuple[int, int]]] = {}
        for i, kernel in enumerate(self.kernels):
            for offset, nbytes in releases.pop(i, ()):
                allocator.release(offset, nbytes)
            if kernel.scratch:  # live while the kernel runs only
                offset = allocator.take(kernel.scratch)
                kernel.scratch_base = ("ws", offset)
                releases.setdefault(i + 1, []).append((offset, kernel.scratch))
            if kernel.target is not None:
                continue
            node = kernel.root
            if self.layouts[node] == SCALAR:
                if node not in crosses or node in self.homes:
                    continue
            elif i in self.root_base:
                continue
            nbytes = max(size(node.shape), 1) * ITEM_SIZES[node.dtype]
            offset = allocator.take(nbytes)
            if self.layouts[node] == SCALAR:
                self.homes[node] = Layout(("ws", offset), 0, (), node.dtype)
            else:
                self.root_base[i] = ("ws", offset)
            end = max(last_read.get(i, i), i) + 1
            releases.setdefault(end, []).append((offset, nbytes))
        return allocator.peak

    def resolve_roots(self) -> None:
        """Replace the planning bases ``("root", i)`` by the buffers the kernels got."""
        for node, layout in self.layouts.items():
            if isinstance(layout, Layout) and layout.base[0] == "root":
                self.layouts[node] = layout.rebased(self.root_base[layout.base[1]])


class _Allocator:
    """First-fit allocation of aligned byte ranges in the workspace; freed ranges are reused."""

    def __init__(self) -> None:
        self.free: list[tuple[int, int]] = []  # (offset, size), sorted by offset
        self.peak = 0

    def take(self, nbytes: int) -> int:
        nbytes = -(-nbytes // ALIGN) * ALIGN
        for i, (offset, available) in enumerate(self.free):
            if available >= nbytes:
                if available == nbytes:
                    del self.free[i]
                else:
                    self.free[i] = (offset + nbytes, available - nbytes)
                return offset
        offset = self.peak
        self.peak += nbytes
        return offset

    def release(self, offset: int, nbytes: int) -> None:
        nbytes = -(-nbytes // ALIGN) * ALIGN
        self.free.append((offset, nbytes))
        self.free.sort()
        merged: list[tuple[int, int]] = []
        for start, length in self.free:
            if merged and merged[-1][0] + merged[-1][1] == start:
                merged[-1] = (merged[-1][0], merged[-1][1] + length)
            else:
                merged.append((start, length))
        self.free = merged


def kernel_reads(kernel: Kernel) -> list[Node]:
    """The values a kernel reads from outside itself."""
    if kernel.kind == "copy":
        return [kernel.source]  # type: ignore[list-item]
    if kernel.kind == "scalar":  # most kernels of a scalar graph: one node
        return list(kernel.root.args)
    inside = set(kernel.nodes)
    reads = []
    for node in kernel.nodes or [kernel.root]:
        for arg in node.args:
            if arg not in inside:
                reads.append(arg)
    return reads


def align_strides(strides: tuple[int, ...], shape: tuple[int, ...], target: tuple[int, ...]):
    """Strides for reading an array of ``shape`` broadcast to ``target`` (numpy rules)."""
    lead = len(target) - len(shape)
    result = [0] * lead
    for stride, dim, want in zip(strides, shape, target[lead:]):
        result.append(0 if dim == 1 and want != 1 else stride)
    return tuple(result)


def make_plan(graph: Graph) -> Plan:
    planner = Planner(graph)
    planner.assign_owners()
    planner.build_kernels()
    planner.bind_outputs()
    parts = planner.split_parts()
    workspace = planner.place_workspace()
    planner.resolve_roots()
    return Plan(
        graph=graph,
        kernels=planner.kernels,
        layouts=planner.layouts,
        scalar_of=planner.scalar_of,
        homes=planner.homes,
        fused=planner.fused,
        constants=planner.constants,
        workspace_bytes=workspace,
        parts=parts,
        n_inputs=len(graph.inputs),
        n_outputs=len(graph.outputs),
    )
