"""The loop nests of the factorisation ops: each function here is an op record's
``lower(emitter, kernel)`` (see ``graphc/jit/kernels.py``'s docstring for the emitter's
vocabulary), for ``lu_factor``, ``lu_solve``, ``lu_inv``, ``cholesky`` and ``solve_triangular``
(their semantics are in :mod:`graphc.ops.linalg`).

Invariants:
- Every result is computed in place in the kernel's own output, after a copy of its input
  (which may be a strided view, or one scalar broadcast): no memory beyond the planned buffers,
  so kernels are safe in any number of threads and at any size.
- Loops whose trip count depends on an outer index are guarded (the builder's loops run their
  body at least once), so a range may be empty.
- Elimination and substitution run in the numpy references' order (row by row, terms in index
  order, ``a - l * u`` without fused multiply-adds), so compiled and evaluated results agree to
  rounding; numpy's references use BLAS dot products, so not bitwise.
- Inner loops run along rows (unit stride in a contiguous output), so LLVM vectorises them:
  the LU update and Cholesky's are right-looking for that reason (Cholesky works on ``U = L^T``
  in the upper triangle and transposes it at the end).
"""

from __future__ import annotations

from collections.abc import Iterator

Index = str | int  # an i64 IR value or a literal


class _Matrix:
    """Elements ``(i, j)`` of a node's value: a 1-D value is one column; a value held as one
    scalar (a broadcast) is that scalar everywhere."""

    def __init__(self, em, node, strides: tuple[int, int] | None = None, layout=None, value=None):
        self.em, self.fb, self.dtype = em, em.fb, node.dtype
        self.node = node
        if layout is None and value is None:
            layout = em.layout(node)
            if isinstance(layout, str):  # SCALAR: read once, before any loop
                layout, value = None, em.scalar(node)
            else:
                s = layout.strides
                strides = (s[0], 0) if node.ndim == 1 else (s[0], s[1])
        self.layout, self.value = layout, value
        self.strides = strides or (0, 0)

    @property
    def T(self) -> _Matrix:  # noqa: N802 - the transposed view, as numpy's .T
        s0, s1 = self.strides
        return _Matrix(self.em, self.node, (s1, s0), self.layout, self.value)

    def pointer(self, i: Index, j: Index) -> str:
        return self.em.element_pointer(self.layout, self.em.offset(self.strides, [i, j]))

    def load(self, i: Index, j: Index):
        if self.layout is None:
            return self.value
        return self.fb.load(self.pointer(i, j), self.dtype)

    def store(self, value, i: Index, j: Index) -> None:
        self.fb.store(value, self.pointer(i, j))


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


def _index_value(fb, index: Index):
    """An i64 index as a typed value (for selects and casts)."""
    return fb.instr("int64", f"add i64 {index}, 0")


def _copy(fb, source: _Matrix, target: _Matrix, rows: int, cols: int) -> None:
    for i in span(fb, 0, rows):
        for j in span(fb, 0, cols):
            target.store(source.load(i, j), i, j)


def _columns(node) -> int:
    return 1 if node.ndim == 1 else node.shape[1]


def substitute(fb, x: _Matrix, coef: _Matrix, n: int, cols: int, lower: bool, unit: bool):
    """Solve ``T x = x`` in place, ``T`` the lower (or upper) triangle of ``coef`` with a unit
    diagonal when ``unit``: row by row, each row's terms subtracted in index order."""
    rows = span(fb, 0, n) if lower else span_down(fb, 0, n)
    for i in rows:
        lo, hi = (0, i) if lower else (fb.index_arith("add nsw", i, 1), n)
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
    """Right-looking LU with partial pivoting (LAPACK's getf2) in the output's first n rows;
    the pivot of each step in row n."""
    node = kernel.root
    fb = em.fb
    n = node.shape[1]
    if n == 0:
        return
    out = _Matrix(em, node)
    _copy(fb, _Matrix(em, node.args[0]), out, n, n)
    zero = fb.const(0.0, node.dtype)
    for k in span(fb, 0, n):
        below = fb.index_arith("add nsw", k, 1)
        # The first row with the largest magnitude in column k (NaN never wins a comparison).
        best = _Cell(fb, fb.call("fabs", out.load(k, k)))
        row = _Cell(fb, _index_value(fb, k))
        for i in span(fb, below, n):
            magnitude = fb.call("fabs", out.load(i, k))
            larger = fb.cmp("gt", magnitude, best.get())
            best.set(fb.select(larger, magnitude, best.get()))
            row.set(fb.select(larger, _index_value(fb, i), row.get()))
        p = row.get()
        out.store(fb.cast(p, node.dtype), n, k)
        _swap_rows(fb, out, k, p.text, n)
        pivot = out.load(k, k)
        singular = fb.cmp("eq", pivot, zero)  # then the column below is zero: left as it is
        for i in span(fb, below, n):
            value = out.load(i, k)
            out.store(fb.select(singular, value, fb.arith("div", value, pivot)), i, k)
        for i in span(fb, below, n):
            multiplier = out.load(i, k)
            for j in span(fb, below, n):
                product = fb.arith("mul", multiplier, out.load(k, j))
                out.store(fb.arith("sub", out.load(i, j), product), i, j)


def lower_lu_solve(em, kernel) -> None:
    node = kernel.root
    if node.size == 0:
        return
    lu, b = node.args
    n, cols = lu.shape[1], _columns(node)
    x = _Matrix(em, node)
    _copy(em.fb, _Matrix(em, b), x, n, cols)
    _lu_solve_in_place(em.fb, _Matrix(em, lu), x, n, cols, node.attrs["trans"])


def lower_lu_inv(em, kernel) -> None:
    node = kernel.root
    fb = em.fb
    n = node.shape[0]
    if n == 0:
        return
    x = _Matrix(em, node)
    one, zero = fb.const(1.0, node.dtype), fb.const(0.0, node.dtype)
    for i in span(fb, 0, n):
        for j in span(fb, 0, n):
            diagonal = fb.instr("bool", f"icmp eq i64 {i}, {j}")
            x.store(fb.select(diagonal, one, zero), i, j)
    _lu_solve_in_place(fb, _Matrix(em, node.args[0]), x, n, n, trans=False)


def lower_cholesky(em, kernel) -> None:
    """U^T U = A on the upper triangle (A's lower one, transposed in), then L = U^T."""
    node = kernel.root
    fb = em.fb
    n = node.shape[0]
    if n == 0:
        return
    out = _Matrix(em, node)
    source = _Matrix(em, node.args[0]).T
    for i in span(fb, 0, n):
        for j in span(fb, i, n):
            out.store(source.load(i, j), i, j)
    for k in span(fb, 0, n):
        below = fb.index_arith("add nsw", k, 1)
        d = fb.call("sqrt", out.load(k, k))  # nan when A is not positive definite
        out.store(d, k, k)
        for j in span(fb, below, n):
            out.store(fb.arith("div", out.load(k, j), d), k, j)
        for i in span(fb, below, n):
            u = out.load(k, i)
            for j in span(fb, i, n):
                product = fb.arith("mul", u, out.load(k, j))
                out.store(fb.arith("sub", out.load(i, j), product), i, j)
    zero = fb.const(0.0, node.dtype)
    for i in span(fb, 0, n):
        for j in span(fb, fb.index_arith("add nsw", i, 1), n):
            out.store(out.load(i, j), j, i)
            out.store(zero, i, j)


def lower_solve_triangular(em, kernel) -> None:
    node = kernel.root
    if node.size == 0:
        return
    a, b = node.args
    n, cols = a.shape[0], _columns(node)
    x = _Matrix(em, node)
    _copy(em.fb, _Matrix(em, b), x, n, cols)
    lower, unit = node.attrs["lower"], node.attrs["unit_diagonal"]
    substitute(em.fb, x, _Matrix(em, a), n, cols, lower, unit)
