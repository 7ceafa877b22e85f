"""Sparse Jacobians and Hessians: patterns found from the graph, columns grouped by colouring.

Three steps, each its own function:

1. **Pattern** (:func:`jacobian_pattern`): an abstract interpretation of the graph. Every node
   that depends on ``x`` gets the set of elements of ``x`` each of its elements depends on, from
   its arguments' sets and its op's record (``OpDef.sparsity``, kind defaults below). Nothing is
   evaluated, so the pattern holds at every point: it is the structural pattern, a superset of
   the nonzeros at any one point. Sets are kept as CSR index arrays (numpy), so a banded system
   of 10^5 equations costs a few numpy passes per node.
2. **Colouring**: columns that share no row can be seeded together. Jacobians colour the column
   intersection graph greedily (networkx, largest degree first); Hessians use a star colouring
   (:func:`star_coloring`), in which every off-diagonal entry can be read from one compressed
   column on at least one side of the diagonal, and is read for both sides from that one, so the
   result is exactly symmetric.
3. **Compressed sweep**: one jvp whose tangent carries the batch of seed vectors, one per colour
   (``autodiff.batched_jvp``; for a Hessian, of the gradient: forward over reverse), then the
   nonzeros gathered from the compressed matrix (``graphc.ops.sparse``).

Forms a record's ``sparsity(node)`` gives per argument (which argument elements each output
element depends on):

- :data:`SAME`: output element ``i`` depends on argument element ``i`` (same shape);
- an int array ``m`` of ``node.size``: element ``i`` depends on argument element ``m[i]``
  (nothing where ``m[i] < 0``);
- a pair ``(out, arg)`` of int arrays: element ``out[k]`` depends on argument element
  ``arg[k]``, any number of times per output element;
- None: no dependence through this argument (the op is not differentiable in it);
- a function of no arguments returning one of the above, called only when the argument depends
  on ``x`` (so a rule need not build index arrays for a large constant operand).

Flat indices are row-major. Defaults by kind (:func:`sparsity_rule`): elementwise ops depend on
the broadcast element, reductions on the reduced slice, views, ``unslice`` and ``concatenate``
(ops that only move elements) on wherever the op moves each element, found by running the op
on arrays of indices (:func:`moved_elements`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from graphc import dsl
from graphc.autodiff import (
    _check_wrt,
    _grad,
    _require_contained,
    batched_jvp,
    depends_on,
)
from graphc.graph import topological_order
from graphc.node import Node
from graphc.ops.base import OPS, OpDef, is_differentiable
from graphc.ops.sparse import sparse_gather
from graphc.shapes import fmt, reduced_shape

SAME = "same"

# Entries (pairs of an output element and an element of x) a pattern may reach, at any node, and
# pairs of columns the colouring may compare: beyond these the derivative is effectively dense,
# and gc.jacobian is the tool.
MAX_ENTRIES = 50_000_000
MAX_CONFLICTS = 20_000_000

# -- the rules of whole kinds -------------------------------------------------------------------


def broadcast_deps(node: Node) -> tuple:
    """Elementwise ops: each output element depends on the element broadcasting maps to it, in
    each argument it is differentiable in."""
    if OPS[node.op].vjp is None:
        return (None,) * len(node.args)
    deps: list = []
    for arg in node.args:
        if not is_differentiable(arg):
            deps.append(None)
        elif arg.shape == node.shape:
            deps.append(SAME)
        else:
            grid = np.arange(arg.size, dtype=np.int64).reshape(arg.shape)
            deps.append(np.broadcast_to(grid, node.shape).reshape(-1))
    return tuple(deps)


def reduce_deps(node: Node) -> tuple:
    """Reductions: each output element depends on its whole reduced slice."""
    (x,) = node.args
    if OPS[node.op].vjp is None or not is_differentiable(x):
        return (None,)
    kept = reduced_shape(x.shape, node.attrs["axes"], True)
    out_of = np.broadcast_to(np.arange(node.size, dtype=np.int64).reshape(kept), x.shape)
    return ((out_of.reshape(-1), np.arange(x.size, dtype=np.int64)),)


def moved_elements(node: Node) -> tuple:
    """Ops that only move elements (views, ``unslice``, ``concatenate``, gathers): where each
    output element comes from, found by running the op's reference ``evaluate`` on the indices
    of each argument (plus one, so the zeros an op writes read as -1: no dependence)."""
    # Evaluated as int64, whatever the node's dtype, so indices stay exact.
    as_ints = Node(node.op, node.args, node.attrs, node.shape, "int64")
    opdef = OPS[node.op]
    deps: list = []
    for k, arg in enumerate(node.args):
        if not is_differentiable(arg):
            deps.append(None)
            continue
        values = [
            np.arange(1, a.size + 1, dtype=np.int64).reshape(a.shape)
            if i == k
            else np.zeros(a.shape, np.int64)
            for i, a in enumerate(node.args)
        ]
        moved = np.asarray(opdef.evaluate(as_ints, *values), dtype=np.int64).reshape(-1) - 1
        deps.append(moved)
    return tuple(deps)


_KIND_RULES: dict[str, Callable[[Node], tuple]] = {
    "elementwise": broadcast_deps,
    "reduce": reduce_deps,
    "view": moved_elements,
    "unslice": moved_elements,
    "concat": moved_elements,
}


def sparsity_rule(opdef: OpDef) -> Callable[[Node], tuple] | None:
    """The sparsity rule of ``opdef``'s nodes: its record's, else its kind's default; None for
    an op that has neither (and for sources, which have no arguments)."""
    return opdef.sparsity if opdef.sparsity is not None else _KIND_RULES.get(opdef.kind)


# -- index sets as CSR ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rows:
    """For each of a node's elements (a row), the sorted, distinct elements of ``x`` it
    depends on: ``cols[indptr[i]:indptr[i + 1]]``."""

    indptr: np.ndarray
    cols: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.indptr)


def _too_dense(what: str, node: Node, entries: int) -> ValueError:
    return ValueError(
        f"{what}: the {node.op} node of type {node.type_str} depends on {entries} (element, "
        f"variable) pairs, more than the {MAX_ENTRIES} a sparse derivative allows: the "
        "derivative is effectively dense; use gc.jacobian or gc.hessian"
    )


def _select(what: str, node: Node, rows: _Rows, source: np.ndarray) -> _Rows:
    """Row ``i`` of the result is row ``source[i]`` of ``rows`` (empty where negative)."""
    valid = source >= 0
    safe = np.where(valid, source, 0)
    counts = np.where(valid, rows.lengths[safe], 0)
    indptr = np.zeros(len(source) + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    total = int(indptr[-1])
    if total > MAX_ENTRIES:
        raise _too_dense(what, node, total)
    starts = rows.indptr[safe]
    offsets = np.repeat(starts - indptr[:-1], counts) + np.arange(total, dtype=np.int64)
    return _Rows(indptr, rows.cols[offsets])


def _pairs(what: str, node: Node, rows: _Rows, out: np.ndarray, arg: np.ndarray):
    """(row, column) pairs: row ``out[k]`` gets every column of row ``arg[k]`` of ``rows``."""
    picked = _select(what, node, rows, arg)
    return np.repeat(out, picked.lengths), picked.cols


def _union(what: str, node: Node, parts: list, size: int, n: int) -> _Rows:
    """The rows of ``node`` from its arguments' contributions (``_Rows`` or pairs)."""
    if len(parts) == 1 and isinstance(parts[0], _Rows):
        return parts[0]  # one argument, one row each: already sorted and distinct
    if len(parts) > 1 and all(p is parts[0] for p in parts):
        return parts[0]  # the same rows from every argument (x * x)
    row_chunks, col_chunks = [], []
    for part in parts:
        if isinstance(part, _Rows):
            row_chunks.append(np.repeat(np.arange(size, dtype=np.int64), part.lengths))
            col_chunks.append(part.cols)
        else:
            row_chunks.append(part[0])
            col_chunks.append(part[1])
    total = sum(len(c) for c in col_chunks)
    if total > MAX_ENTRIES:
        raise _too_dense(what, node, total)
    keys = _distinct(np.concatenate(row_chunks) * n + np.concatenate(col_chunks))
    rows = keys // n
    indptr = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=size), out=indptr[1:])
    return _Rows(indptr, keys - rows * n)


def _distinct(keys: np.ndarray) -> np.ndarray:
    """The sorted distinct values of ``keys`` (an in-place sort: several times faster than
    ``np.unique``'s hashing on the few-hundred-thousand-key arrays patterns have)."""
    keys.sort()
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if keys.size else keys


def _empty(size: int) -> _Rows:
    return _Rows(np.zeros(size + 1, dtype=np.int64), np.zeros(0, dtype=np.int64))


def jacobian_pattern(y: Node, x: Node, what: str = "jacobian_pattern"):
    """The structural pattern of ``d y / d x`` as two int64 arrays ``(rows, cols)`` of flat
    indices into ``y`` and ``x`` (row-major, sorted by row then column)."""
    y = dsl.as_node(y)
    order = topological_order([y])
    relevant = depends_on(order, [x])
    n = x.size
    found: dict[int, _Rows] = {}
    if id(x) in relevant:
        found[id(x)] = _Rows(np.arange(n + 1, dtype=np.int64), np.arange(n, dtype=np.int64))
    for node in order:
        if id(node) in found or id(node) not in relevant:
            continue
        rule = sparsity_rule(OPS[node.op])
        if rule is None:
            raise NotImplementedError(f"{what}: the op {node.op!r} has no sparsity rule")
        deps = rule(node)
        parts: list = []
        for arg, dep in zip(node.args, deps):
            rows = found.get(id(arg))
            if rows is None or dep is None:
                continue
            if callable(dep):
                dep = dep()
                if dep is None:
                    continue
            if isinstance(dep, str):  # SAME
                parts.append(rows)
            elif isinstance(dep, tuple):
                parts.append(_pairs(what, node, rows, *dep))
            else:
                parts.append(_select(what, node, rows, np.asarray(dep, dtype=np.int64)))
        found[id(node)] = _union(what, node, parts, node.size, n) if parts else _empty(node.size)
    result = found.get(id(y), _empty(y.size))
    return np.repeat(np.arange(y.size, dtype=np.int64), result.lengths), result.cols


# -- colouring --------------------------------------------------------------------------------


def _conflicts(rows: np.ndarray, cols: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of columns sharing a row (each pair once, smaller column first)."""
    if rows.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    lengths = np.diff(np.r_[starts, rows.size])
    pairs = int(np.sum(lengths * (lengths - 1) // 2))
    if pairs > MAX_CONFLICTS:
        raise ValueError(
            f"{what}: a row has {int(lengths.max())} nonzeros; colouring would compare {pairs} "
            f"pairs of columns (more than {MAX_CONFLICTS}): the derivative is effectively dense, "
            "use gc.jacobian or gc.hessian"
        )
    row_end = np.repeat(starts + lengths, lengths)
    index = np.arange(rows.size)
    first, second = [], []
    for gap in range(1, int(lengths.max())):  # entry k pairs with entry k + gap of its row
        k = np.flatnonzero(index + gap < row_end)
        first.append(cols[k])
        second.append(cols[k + gap])
    if not first:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return np.concatenate(first), np.concatenate(second)


def column_coloring(rows: np.ndarray, cols: np.ndarray, n: int, what: str = "coloring"):
    """A colour per column (int64 array of ``n``) such that no row has two nonzeros in columns
    of one colour: networkx's greedy colouring of the column intersection graph, largest
    degree first (ties in column order, so the result is deterministic)."""
    import networkx as nx

    a, b = _conflicts(rows, cols, what)
    if a.size:
        keys = _distinct(a * n + b)
        a, b = keys // n, keys % n
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(zip(a.tolist(), b.tolist()))
    coloring = nx.greedy_color(graph, strategy="largest_first")
    return np.fromiter((coloring[j] for j in range(n)), dtype=np.int64, count=n)


def star_coloring(rows: np.ndarray, cols: np.ndarray, n: int) -> np.ndarray:
    """A star colouring of the symmetric pattern's adjacency graph (off-diagonal entries),
    greedy in vertex order: adjacent vertices differ, and no path on four vertices has only two
    colours, so every bicoloured piece is a star. Then each off-diagonal entry ``(i, j)`` is
    alone in its row among the columns of its colour on at least one side, ``(i, c(j))`` or
    ``(j, c(i))``: the entry can be read from the compressed Hessian there.

    At each vertex ``v`` the colours forbidden are those of its neighbours ``w``; of ``x`` in a
    path ``v - w - x - y`` whose ``w`` and ``y`` share a colour (``v`` would close a two-coloured
    path at its end); and of ``y`` in ``w - v - x - y`` where ``w`` and ``x`` share a colour
    (``v`` in the middle). Every path on four vertices has a vertex coloured last, which checked
    it. ``counts[x]`` keeps how many neighbours of ``x`` have each colour, so the first check
    needs no third loop.
    """
    off = rows != cols
    r, c = rows[off], cols[off]
    order = np.argsort(r, kind="stable")
    r, c = r[order], c[order]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=n), out=indptr[1:])
    neighbours = [c[indptr[v] : indptr[v + 1]].tolist() for v in range(n)]
    color = [-1] * n
    counts: list[dict[int, int]] = [{} for _ in range(n)]
    for v in range(n):
        forbidden: set[int] = set()
        by_color: dict[int, list[int]] = {}
        for w in neighbours[v]:
            cw = color[w]
            if cw < 0:
                continue
            forbidden.add(cw)
            by_color.setdefault(cw, []).append(w)
            for x in neighbours[w]:  # v - w - x - y with c(y) == c(w): v must not take c(x)
                if x != v and color[x] >= 0 and counts[x].get(cw, 0) >= 2:
                    forbidden.add(color[x])
        for group in by_color.values():  # w - v - x - y with c(w) == c(x): v must not take c(y)
            if len(group) < 2:
                continue
            for x in group:
                for y in neighbours[x]:
                    if y != v and color[y] >= 0:
                        forbidden.add(color[y])
        chosen = 0
        while chosen in forbidden:
            chosen += 1
        color[v] = chosen
        for w in neighbours[v]:
            counts[w][chosen] = counts[w].get(chosen, 0) + 1
    return np.asarray(color, dtype=np.int64)


# -- the result ---------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SparseDerivative:
    """A sparse Jacobian or Hessian: its pattern, its colouring and its nonzeros as a node.

    - ``shape``: ``(y.size, x.size)`` (a Hessian: ``(x.size, x.size)``);
    - ``rows``, ``cols``: int64 arrays, the pattern (flat indices; a Jacobian's entries are in
      the order of the compressed matrix, by row then colour; a Hessian's by row then column);
    - ``values``: a node of shape ``(nnz,)``, the entries at ``(rows[k], cols[k])``, to compile
      with the rest of the model;
    - ``colors``: how many seed directions (colours) the compressed sweep uses;
    - ``coloring``: each column's colour (int64 array of ``shape[1]``);
    - ``symmetric``: True for a Hessian (entries ``(i, j)`` and ``(j, i)`` are read from one
      compressed element, so they are equal bit for bit).
    """

    shape: tuple[int, int]
    rows: np.ndarray
    cols: np.ndarray
    values: Node
    colors: int
    coloring: np.ndarray
    symmetric: bool = False

    @property
    def nnz(self) -> int:
        return int(self.rows.size)

    def to_dense(self, values: object) -> np.ndarray:
        """The dense matrix holding ``values`` (an evaluated ``.values``) at the pattern."""
        array = np.asarray(values)
        dense = np.zeros(self.shape, dtype=array.dtype if array.dtype.kind == "f" else float)
        dense[self.rows, self.cols] = array
        return dense

    def to_scipy(self, values: object):
        """A ``scipy.sparse.csr_matrix`` holding ``values`` at the pattern (needs scipy)."""
        try:
            from scipy import sparse
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError(
                "to_scipy needs scipy (pip install scipy); to_dense(values) needs only numpy"
            ) from None
        return sparse.csr_matrix((np.asarray(values), (self.rows, self.cols)), shape=self.shape)

    def __repr__(self) -> str:
        kind = "Hessian" if self.symmetric else "Jacobian"
        return (
            f"<sparse {kind} {self.shape[0]}x{self.shape[1]}: {self.nnz} nonzeros, "
            f"{self.colors} colours>"
        )


def _seeds(coloring: np.ndarray, colors: int, x: Node, dtype: str) -> Node:
    """One seed vector per colour, the batch last (``x.shape + (colors,)``): seed ``c`` is the
    sum of the unit vectors of the columns of colour ``c``."""
    seeds = np.zeros((x.size, colors), dtype=dtype)
    seeds[np.arange(x.size), coloring] = 1
    # Behind stop_gradient (which constant folding never folds; lowering removes it), so the
    # tangent's slices stay views of this one array: folded, each slice would be a constant of
    # its own and the compressed sweep would read the seeds once per slice instead of once.
    return dsl.stop_gradient(dsl.constant(seeds.reshape(x.shape + (colors,)), dtype))


def _compressed(what: str, y: Node, x: Node, coloring: np.ndarray, colors: int) -> Node:
    """``J S`` for the seed matrix ``S`` of the colouring, as a flat ``(m * colors,)`` vector
    (element ``i * colors + c`` is row ``i`` of compressed column ``c``).

    The batch of seeds is the last axis, so loops over it are innermost: a leading batch of a
    few colours would be the outer loop of every kernel, and LLVM unrolls outer loops of a
    few iterations completely, multiplying the compile time of each kernel by the colours.
    """
    dtype = x.dtype if is_differentiable(x) else "float64"
    batch = batched_jvp(what, y, x, _seeds(coloring, colors, x, dtype), axis=-1)
    return dsl.reshape(batch, (y.size * colors,))


MAX_RUNS = 32


def take(flat: Node, positions: np.ndarray) -> Node:
    """``flat[positions]``: as slices of runs of consecutive positions when there are at most
    :data:`MAX_RUNS` of them (copies the lowering makes without loading an index per element),
    else one gather."""
    breaks = np.flatnonzero(np.diff(positions) != 1) + 1
    starts = np.r_[0, breaks]
    if len(starts) > MAX_RUNS:
        return sparse_gather(flat, positions)
    ends = np.r_[breaks, len(positions)]
    pieces = [dsl.slice(flat, ((int(positions[a]), 1, int(b - a)),)) for a, b in zip(starts, ends)]
    return dsl.concatenate(pieces)


def _check_args(what: str, y: object, x: object) -> Node:
    y = dsl.as_node(y)
    _check_wrt(what, [x])
    assert isinstance(x, Node)  # _check_wrt raised otherwise
    if not is_differentiable(y):
        raise TypeError(f"{what}: cannot differentiate a value of dtype {y.dtype}")
    if not is_differentiable(x):
        raise TypeError(f"{what}: cannot differentiate with respect to a value of dtype {x.dtype}")
    return y


def sparse_jacobian(y: Node, x: Node) -> SparseDerivative:
    """The Jacobian of ``y`` with respect to ``x`` as a sparse matrix of shape
    ``(y.size, x.size)`` (flat, row-major indices): the pattern found from the graph, columns
    coloured so that one forward sweep with a batch of ``colors`` seeds computes every nonzero.
    """
    what = "sparse_jacobian"
    y = _check_args(what, y, x)
    _require_contained(what, topological_order([y]), [x], [x])
    rows, cols = jacobian_pattern(y, x, what)
    coloring = column_coloring(rows, cols, x.size, what)
    colors = int(coloring.max()) + 1 if rows.size else 0
    if rows.size == 0:
        return SparseDerivative((y.size, x.size), rows, cols, dsl.zeros((0,), y.dtype), 0, coloring)
    # Entries in the order of the compressed matrix (by row, then colour): where most rows have
    # a nonzero of every colour (banded systems), they are a few runs of consecutive elements.
    positions = rows * colors + coloring[cols]
    order = np.argsort(positions, kind="stable")
    rows, cols, positions = rows[order], cols[order], positions[order]
    values = take(_compressed(what, y, x, coloring, colors), positions)
    return SparseDerivative((y.size, x.size), rows, cols, values, colors, coloring)


def sparse_hessian(f: Node, x: Node) -> SparseDerivative:
    """The Hessian of the scalar ``f`` as a sparse symmetric matrix of shape
    ``(x.size, x.size)``: the pattern is the Jacobian pattern of the gradient graph (made
    symmetric), star-coloured; one forward-over-reverse sweep with a batch of ``colors`` seeds;
    each pair of symmetric entries read from one compressed element (exactly symmetric)."""
    what = "sparse_hessian"
    f = _check_args(what, f, x)
    if f.shape != ():
        raise ValueError(f"{what}: f must be a scalar, got shape {fmt(f.shape)}")
    gradient = _grad(what, f, x)
    rows, cols = jacobian_pattern(gradient, x, what)  # type: ignore[arg-type]
    n = x.size
    keys = _distinct(np.concatenate([rows * n + cols, cols * n + rows]))  # symmetric closure
    rows, cols = keys // n, keys % n
    coloring = star_coloring(rows, cols, n)
    colors = int(coloring.max()) + 1 if rows.size else 0
    if rows.size == 0:
        return SparseDerivative((n, n), rows, cols, dsl.zeros((0,), f.dtype), 0, coloring, True)
    compressed = _compressed(what, gradient, x, coloring, colors)  # type: ignore[arg-type]
    values = take(compressed, _symmetric_positions(rows, cols, coloring, colors, n))
    return SparseDerivative((n, n), rows, cols, values, colors, coloring, True)


def _symmetric_positions(rows, cols, coloring, colors: int, n: int) -> np.ndarray:
    """Where each entry of a star-coloured symmetric pattern is read in the compressed Hessian
    (``i * colors + c`` is row ``i`` of compressed column ``c``): entry ``(i, j)`` at ``(i, c(j))``
    when no other column of row ``i`` has colour ``c(j)``. The pair ``(i, j)``, ``(j, i)`` is
    read from one place, the first side that works, taken in the order of ``min(i, j)``."""
    row_color = rows * colors + coloring[cols]
    alone = np.bincount(row_color, minlength=n * colors) == 1  # (row, colour) of one entry
    low, high = np.minimum(rows, cols), np.maximum(rows, cols)
    from_low = alone[low * colors + coloring[high]]  # (low, c(high)) holds H[low, high] only
    from_high = alone[high * colors + coloring[low]]
    if not np.all(from_low | from_high):
        raise RuntimeError("internal error: the colouring is not a star colouring")
    return np.where(from_low, low * colors + coloring[high], high * colors + coloring[low])
