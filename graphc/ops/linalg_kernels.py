"""The loop nests of the factorisation ops: each function here is an op record's
``lower(emitter, kernel)`` (see ``graphc/jit/kernels.py``'s docstring for the emitter's
vocabulary), for ``lu_factor``, ``lu_solve``, ``lu_inv``, ``cholesky`` and ``solve_triangular``
(their semantics are in :mod:`graphc.ops.linalg`).

Invariants:
- Every result is computed in place in the kernel's own output, after a copy of its input
  (which may be a strided view, or one scalar broadcast): no memory beyond the planned buffers,
  so kernels are safe in any number of threads and at any size. A stack of matrices is a loop
  over its entries around the algorithm for one (:func:`entries`).
- Loops whose trip count depends on an outer index are guarded (the builder's loops run their
  body at least once), so a range may be empty.
- Elimination and substitution run in the numpy references' order (row by row, terms in index
  order, ``a - l * u`` without fused multiply-adds), so compiled and evaluated results agree to
  rounding; numpy's references use BLAS dot products, so not bitwise.
- Inner loops run along rows (unit stride in a contiguous output), so LLVM vectorises them:
  the LU update and Cholesky's are right-looking for that reason (Cholesky keeps a copy of
  the current column of ``L`` along a row of the upper triangle, zeroed at the end). From
  ``BLOCKED_FROM`` on, the updates of ``BLOCK`` steps are applied in one pass over the
  trailing matrix, each element still subtracting its products one at a time in step order:
  the same result, to the bit.
- Up to ``UNROLL`` the loops over steps and rows are unrolled in Python, so every loop LLVM
  sees has a literal trip count and becomes straight-line code.
"""

from __future__ import annotations

from collections.abc import Iterator

Index = str | int  # an i64 IR value or a literal
# Elimination steps whose updates of the trailing matrix are applied in one pass, from this
# size on: blocking halves the time at n = 256 (a quarter of the passes over the matrix) but
# its extra loops cost about 150 ms more to compile, which below 32 buys microseconds.
BLOCK, BLOCKED_FROM = 4, 32
# Up to this size the loops over steps and rows are unrolled here, in Python: every inner loop
# then has a literal trip count, and LLVM turns the kernel into straight-line code, which
# compiles several times faster than loops vectorised for runtime trip counts and runs faster.
UNROLL = 8


class _Matrix:
    """Elements ``(i, j)`` of one matrix of a node's value (the entry of a stack at element
    offset ``base``): a value whose entries are vectors (``core`` 1) is one column; a value held
    as one scalar (a broadcast) is that scalar everywhere."""

    def __init__(self, em, node, core: int = 2, base: Index = 0, *, _view=None):
        self.em, self.fb, self.dtype = em, em.fb, node.dtype
        self.node, self.base = node, base
        if _view is not None:
            self.layout, self.value, self.strides = _view
            return
        layout = em.layout(node)
        self.layout, self.value, self.strides = layout, None, (0, 0)
        if isinstance(layout, str):  # SCALAR: read once, before any loop
            self.layout, self.value = None, em.scalar(node)
        else:
            s = layout.strides[node.ndim - core :]
            self.strides = (s[0], 0) if core == 1 else (s[0], s[1])

    @property
    def T(self) -> _Matrix:  # noqa: N802 - the transposed view, as numpy's .T
        s0, s1 = self.strides
        view = (self.layout, self.value, (s1, s0))
        return _Matrix(self.em, self.node, base=self.base, _view=view)

    def _at(self, offset: Index) -> str:
        return self.em.element_pointer(self.layout, _sum(self.fb, self.base, offset))

    def pointer(self, i: Index, j: Index) -> str:
        if isinstance(i, int) and isinstance(j, int):
            return self._at(i * self.strides[0] + j * self.strides[1])
        return self._at(self.em.offset(self.strides, [i, j]))

    def load(self, i: Index, j: Index):
        if self.layout is None:
            return self.value
        return self.fb.load(self.pointer(i, j), self.dtype)

    def store(self, value, i: Index, j: Index) -> None:
        self.fb.store(value, self.pointer(i, j))

    def row_major(self, rows: int, cols: int) -> bool:
        """Whether the ``rows x cols`` elements are contiguous, in row-major order."""
        s0, s1 = self.strides
        return self.layout is not None and (rows == 1 or s0 == cols) and (cols == 1 or s1 == 1)

    def load_flat(self, offset: Index):
        """Element ``offset`` in row-major order (of a ``row_major`` matrix)."""
        return self.fb.load(self._at(offset), self.dtype)

    def store_flat(self, value, offset: Index) -> None:
        self.fb.store(value, self._at(offset))


def entries(em, node, core: int, operands) -> Iterator[dict]:
    """Loop over the stack of ``node`` (all but its last ``core`` axes); yields once, for the
    entry at hand, each value's element offset of its matrix: ``node`` and each ``(value,
    core)`` of ``operands``, whose stack axes broadcast against ``node``'s (numpy's rules).
    The code emitted between yield and resumption is the body of the loop."""
    stack = node.shape[: node.ndim - core]
    if not stack:
        yield {value: 0 for value in [node] + [x for x, _ in operands]}
        return
    strides = {node: em.layout(node).strides[: len(stack)]}
    for value, value_core in operands:
        own = value.shape[: value.ndim - value_core]
        layout = em.layout(value)
        own_strides = (0,) * len(own) if isinstance(layout, str) else layout.strides[: len(own)]
        lead = len(stack) - len(own)
        strides[value] = (0,) * lead + tuple(
            0 if size == 1 and want != 1 else stride
            for stride, size, want in zip(own_strides, own, stack[lead:])
        )
    indices, states = em.open_loops(stack)
    yield {value: em.offset(value_strides, indices) for value, value_strides in strides.items()}
    em.close_loops(states)


class _Cell:
    """A scalar variable in a stack slot (LLVM promotes it to a register)."""

    def __init__(self, fb, value):
        self.fb, self.dtype = fb, value.dtype
        self.slot = fb.alloca(value.type)
        self.set(value)

    def get(self):
        return self.fb.load(self.slot, self.dtype)

    def set(self, value) -> None:
        self.fb.store(value, self.slot)


def _add(fb, a: Index, b: int) -> Index:
    if isinstance(a, int):
        return a + b
    return a if b == 0 else fb.index_arith("add nsw", a, b)


def span(fb, lo: Index, hi: Index) -> Iterator[str]:
    """Loop over ``lo <= i < hi``; yields ``i`` once (the body is the code emitted meanwhile),
    or never when the bounds are literals and the range is empty; a runtime range is guarded."""
    if isinstance(lo, int) and isinstance(hi, int):
        if hi <= lo:
            return
        t, state = fb.loop_begin(hi - lo)
        yield str(_add(fb, t, lo))
        fb.loop_end(state)
        return
    count = fb.index_arith("sub nsw", hi, lo)
    nonempty = fb.fresh("c")
    fb.emit(f"{nonempty} = icmp sgt i64 {count}, 0")
    body, skip = fb.new_block("body"), fb.new_block("skip")
    fb.emit(f"br i1 {nonempty}, label %{body}, label %{skip}")
    fb.label(body)
    t, state = fb.loop_begin(count)
    yield t if lo == 0 else fb.index_arith("add nsw", t, lo)
    fb.loop_end(state)
    fb.emit(f"br label %{skip}")
    fb.label(skip)


def span_down(fb, lo: int, hi: int) -> Iterator[str]:
    """Loop over ``hi > i >= lo`` (literal bounds), downwards."""
    for t in span(fb, 0, hi - lo):
        yield fb.index_arith("sub nsw", hi - 1, t)


def steps(fb, lo: Index, hi: Index, n: int, down: bool = False) -> Iterator[Index]:
    """``span`` (or ``span_down``), unrolled here when the matrix is small (``n <= UNROLL``)
    and the bounds are literals: the body is then emitted once per index, a literal."""
    if n <= UNROLL and isinstance(lo, int) and isinstance(hi, int):
        return iter(reversed(range(lo, hi)) if down else range(lo, hi))
    if down:
        assert isinstance(lo, int) and isinstance(hi, int)
        return span_down(fb, lo, hi)
    return span(fb, lo, hi)


def _in_blocks(fb, out: _Matrix, n: int, block) -> None:
    """``block(fb, out, n, k0, width)`` over the ``n`` steps of a factorisation: steps of
    ``BLOCK`` from ``BLOCKED_FROM`` on (one at a time below), then the remainder."""
    width = BLOCK if n >= BLOCKED_FROM else 1
    full, rest = divmod(n, width)
    for b in steps(fb, 0, full, n):
        block(fb, out, n, _times(fb, b, width), width)
    if rest:
        block(fb, out, n, full * width, rest)


def _sum(fb, a: Index, b: Index) -> Index:
    if isinstance(b, int):
        return _add(fb, a, b)
    if isinstance(a, int):
        return _add(fb, b, a)
    return fb.index_arith("add nsw", a, b)


def _times(fb, index: Index, factor: int) -> Index:
    if isinstance(index, int) or factor == 1:
        return index * factor
    return fb.index_arith("mul nsw", index, factor)


def _index_value(fb, index: Index):
    """An i64 index as a typed value (for selects and casts)."""
    return fb.instr("int64", f"add i64 {index}, 0")


def _copy(fb, source: _Matrix, target: _Matrix, rows: int, cols: int) -> None:
    if target.row_major(rows, cols) and (source.layout is None or source.row_major(rows, cols)):
        # One flat loop: LLVM compiles it several times faster than a nest of two.
        for t in span(fb, 0, rows * cols):
            target.store_flat(source.value if source.layout is None else source.load_flat(t), t)
        return
    for i in span(fb, 0, rows):
        for j in span(fb, 0, cols):
            target.store(source.load(i, j), i, j)


def substitute(fb, x: _Matrix, coef: _Matrix, n: int, cols: int, lower: bool, unit: bool):
    """Solve ``T x = x`` in place, ``T`` the lower (or upper) triangle of ``coef`` with a unit
    diagonal when ``unit``: row by row, each row's terms subtracted in index order."""
    for i in steps(fb, 0, n, n, down=not lower):
        lo, hi = (0, i) if lower else (_add(fb, i, 1), n)
        if cols == 1:  # one right-hand side: the row's value stays in a register
            acc = _Cell(fb, x.load(i, 0))
            for j in span(fb, lo, hi):
                term = fb.arith("mul", coef.load(i, j), x.load(j, 0))
                acc.set(fb.arith("sub", acc.get(), term))
            value = acc.get()
            if not unit:
                value = fb.arith("div", value, coef.load(i, i))
            x.store(value, i, 0)
            continue
        for j in span(fb, lo, hi):  # several: each row of x is a vector (vectorised along it)
            c = coef.load(i, j)
            for col in span(fb, 0, cols):
                x.store(fb.arith("sub", x.load(i, col), fb.arith("mul", c, x.load(j, col))), i, col)
        if not unit:
            d = coef.load(i, i)
            for col in span(fb, 0, cols):
                x.store(fb.arith("div", x.load(i, col), d), i, col)


def _swap_rows(fb, x: _Matrix, i: Index, p: Index, cols: int) -> None:
    for col in span(fb, 0, cols):
        first, second = x.load(i, col), x.load(p, col)
        x.store(second, i, col)
        x.store(first, p, col)


def _pivot(fb, lu: _Matrix, n: int, i: Index) -> str:
    """Pivot ``i`` of a packed factor (row ``n``) as an i64 index."""
    return fb.cast(lu.load(n, i), "int64").text


def _lu_solve_in_place(fb, lu: _Matrix, x: _Matrix, n: int, cols: int, trans: bool) -> None:
    if not trans:  # P A = L U: x = U^-1 L^-1 P b
        for i in span(fb, 0, n):
            _swap_rows(fb, x, i, _pivot(fb, lu, n, i), cols)
        substitute(fb, x, lu, n, cols, lower=True, unit=True)
        substitute(fb, x, lu, n, cols, lower=False, unit=False)
    else:  # A^T = U^T L^T P: x = P^T L^-T U^-T b (the swaps undone last to first)
        substitute(fb, x, lu.T, n, cols, lower=True, unit=False)
        substitute(fb, x, lu.T, n, cols, lower=False, unit=True)
        for i in span_down(fb, 0, n):
            _swap_rows(fb, x, i, _pivot(fb, lu, n, i), cols)


# -- the records' lower functions ---------------------------------------------------------------


def lower_lu_factor(em, kernel) -> None:
    """LU with partial pivoting in the output's first n rows, the pivot of each step in row n:
    LAPACK's getf2, with the updates of each block of BLOCK columns to the columns right of it
    delayed and applied together (see :func:`_lu_block`)."""
    node = kernel.root
    fb = em.fb
    n = node.shape[-1]
    if node.size == 0:
        return
    (a,) = node.args
    for base in entries(em, node, 2, [(a, 2)]):
        out = _Matrix(em, node, 2, base[node])
        _copy(fb, _Matrix(em, a, 2, base[a]), out, n, n)
        _in_blocks(fb, out, n, _lu_block)


def _lu_block(fb, out: _Matrix, n: int, k0: Index, width: int) -> None:
    """Steps ``k0 .. k0 + width - 1`` of the elimination.

    The panel (these columns, every row from ``k0``) is eliminated step by step, with whole
    rows swapped; the rows of the block right of the panel are then solved with the panel's
    unit lower triangle, and each element of the trailing matrix subtracts the block's
    ``width`` products in one pass. Every element still subtracts its products one at a time
    in step order, so the result is the unblocked getf2's to the bit, with a quarter of its
    passes over the trailing matrix."""
    zero = fb.const(0.0, out.dtype)
    k1 = _add(fb, k0, width)
    for k in steps(fb, k0, k1, n):
        below = _add(fb, k, 1)
        # The first row with the largest magnitude in column k (NaN never wins a comparison).
        best = _Cell(fb, fb.call("fabs", out.load(k, k)))
        row = _Cell(fb, _index_value(fb, k))
        for i in span(fb, below, n):
            magnitude = fb.call("fabs", out.load(i, k))
            larger = fb.cmp("gt", magnitude, best.get())
            best.set(fb.select(larger, magnitude, best.get()))
            row.set(fb.select(larger, _index_value(fb, i), row.get()))
        p = row.get()
        out.store(fb.cast(p, out.dtype), n, k)
        _swap_rows(fb, out, k, p.text, n)
        pivot = out.load(k, k)
        singular = fb.cmp("eq", pivot, zero)  # then the column below is zero: left as it is
        for i in span(fb, below, n):
            value = out.load(i, k)
            multiplier = fb.select(singular, value, fb.arith("div", value, pivot))
            out.store(multiplier, i, k)
            for j in span(fb, below, k1):  # the panel's columns right of k
                product = fb.arith("mul", multiplier, out.load(k, j))
                out.store(fb.arith("sub", out.load(i, j), product), i, j)
    if isinstance(k1, int) and k1 >= n:
        return
    rows = [_add(fb, k0, m) for m in range(width)]
    for r in range(1, width):  # the block's rows right of the panel: U12 = L11^-1 A12
        coefficients = [out.load(rows[r], rows[m]) for m in range(r)]
        _subtract_products(fb, out, rows[r], coefficients, rows, k1, n)
    for i in span(fb, k1, n):  # the trailing matrix: A22 -= L21 U12, in step order
        coefficients = [out.load(i, row) for row in rows]
        _subtract_products(fb, out, i, coefficients, rows, k1, n)


def _subtract_products(fb, out: _Matrix, i: Index, coefficients, rows, lo: Index, hi: Index):
    """``out[i, j] -= sum_m coefficients[m] * out[rows[m], j]`` for ``lo <= j < hi``, the terms
    subtracted one by one in order while the element stays in a register."""
    for j in span(fb, lo, hi):
        value = out.load(i, j)
        for coefficient, row in zip(coefficients, rows):
            value = fb.arith("sub", value, fb.arith("mul", coefficient, out.load(row, j)))
        out.store(value, i, j)


def lower_lu_solve(em, kernel) -> None:
    node = kernel.root
    if node.size == 0:
        return
    lu, b = node.args
    n, core = lu.shape[-1], b.ndim if b.ndim == 1 else 2
    cols = 1 if core == 1 else b.shape[-1]
    for base in entries(em, node, core, [(lu, 2), (b, core)]):
        x = _Matrix(em, node, core, base[node])
        _copy(em.fb, _Matrix(em, b, core, base[b]), x, n, cols)
        _lu_solve_in_place(em.fb, _Matrix(em, lu, 2, base[lu]), x, n, cols, node.attrs["trans"])


def lower_lu_inv(em, kernel) -> None:
    node = kernel.root
    fb = em.fb
    n = node.shape[-1]
    if node.size == 0:
        return
    (lu,) = node.args
    one, zero = fb.const(1.0, node.dtype), fb.const(0.0, node.dtype)
    for base in entries(em, node, 2, [(lu, 2)]):
        x = _Matrix(em, node, 2, base[node])
        for i in span(fb, 0, n):
            for j in span(fb, 0, n):
                diagonal = fb.instr("bool", f"icmp eq i64 {i}, {j}")
                x.store(fb.select(diagonal, one, zero), i, j)
        _lu_solve_in_place(fb, _Matrix(em, lu, 2, base[lu]), x, n, n, trans=False)


def lower_cholesky(em, kernel) -> None:
    """``L L^T = A`` from A's lower triangle, right-looking, in blocks of BLOCK columns as
    :func:`_lu_block` (the same rounding as one column at a time). While the columns right of
    step ``k`` are updated, row ``k`` right of the diagonal holds a copy of column ``k`` of
    ``L``, so the inner loops run along rows; the strict upper triangle is zeroed last."""
    node = kernel.root
    fb = em.fb
    n = node.shape[-1]
    if node.size == 0:
        return
    (a,) = node.args
    zero = fb.const(0.0, node.dtype)
    for base in entries(em, node, 2, [(a, 2)]):
        out = _Matrix(em, node, 2, base[node])
        _copy(fb, _Matrix(em, a, 2, base[a]), out, n, n)
        _in_blocks(fb, out, n, _cholesky_block)
        for i in steps(fb, 0, n, n):
            for j in span(fb, _add(fb, i, 1), n):
                out.store(zero, i, j)


def _cholesky_block(fb, out: _Matrix, n: int, k0: Index, width: int) -> None:
    """Columns ``k0 .. k0 + width - 1`` of L, then the updates of the lower triangle right of
    them, each element subtracting ``L[r, k] L[c, k]`` in step order. The block's steps are
    unrolled here (``width`` is a literal), so the block's own columns are literals too."""
    k1 = _add(fb, k0, width)
    columns = [_add(fb, k0, m) for m in range(width)]
    for t, k in enumerate(columns):
        d = fb.call("sqrt", out.load(k, k))  # nan when A is not positive definite
        out.store(d, k, k)
        for u in range(t + 1, width):  # the block's rows: only columns up to the diagonal
            _cholesky_row(fb, out, columns[u], k, d, columns[t + 1 : u + 1])
        for r in steps(fb, k1, n, n):
            _cholesky_row(fb, out, r, k, d, columns[t + 1 :])
    if isinstance(k1, int) and k1 >= n:
        return
    for r in steps(fb, k1, n, n):  # columns k1 .. r of row r, from the block's columns
        coefficients = [out.load(r, column) for column in columns]
        _subtract_products(fb, out, r, coefficients, columns, k1, _add(fb, r, 1))


def _cholesky_row(fb, out: _Matrix, r: Index, k: Index, d, later: list[Index]) -> None:
    """Row r's entry in column k (``/ d``, the pivot), copied along row k, and its products
    subtracted from row r's entries in the ``later`` columns of the block."""
    value = fb.arith("div", out.load(r, k), d)
    out.store(value, r, k)
    out.store(value, k, r)
    for c in later:
        product = fb.arith("mul", value, out.load(k, c))
        out.store(fb.arith("sub", out.load(r, c), product), r, c)


def lower_solve_triangular(em, kernel) -> None:
    node = kernel.root
    if node.size == 0:
        return
    a, b = node.args
    n, core = a.shape[-1], b.ndim if b.ndim == 1 else 2
    cols = 1 if core == 1 else b.shape[-1]
    lower, unit = node.attrs["lower"], node.attrs["unit_diagonal"]
    for base in entries(em, node, core, [(a, 2), (b, core)]):
        x = _Matrix(em, node, core, base[node])
        _copy(em.fb, _Matrix(em, b, core, base[b]), x, n, cols)
        substitute(em.fb, x, _Matrix(em, a, 2, base[a]), n, cols, lower, unit)
