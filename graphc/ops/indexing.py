"""Ops that index: gather, scatter-add, argsort, argmax and argmin.

- ``gather(x, idx; axis)``: ``idx`` is int64 of shape ``I + (k,)``; the result, of shape
  ``x.shape[:axis] + I + x.shape[axis + k:]``, is ``x[p, idx[q, 0], ..., idx[q, k-1], t]`` for
  every ``p`` (the axes before ``axis``), ``q`` (the index positions) and ``t`` (the axes after
  the ``k`` indexed ones). ``x[idx]``, ``take``, ``take_along_axis`` and the permutation of
  ``sort`` are gathers (``graphc.functions``).
- ``scatter_add(u, idx; axis, sizes)``: its transpose. Zeros of ``P + sizes + T`` with each
  ``u[p, q, t]`` added at ``[p, idx[q], t]``, in the order of ``q`` (numpy's ``np.add.at``).
  The vjp of gather is scatter-add and the vjp of scatter-add is gather; each is its own jvp.
- ``argsort(x)``: along the last axis, stable (tied elements keep their order), nan last:
  ``np.argsort(x, axis=-1, kind="stable")``. Not differentiable (int64). Compiled: a merge
  sort written into the kernel (see ``_Sorter``).
- ``argmax(x)``/``argmin(x)``: along the last axis, the first extremum; the first nan wins
  (numpy's rule). Not differentiable (int64).

Other axes are reached through transposes (views), which the DSL adds.

Index semantics are numpy's: an index ``i`` into an axis of size ``n`` is valid when
``-n <= i < n``, and a negative one counts from the end. Invariants about bounds:

- A constant index array is checked when the node is built (``infer``): an out-of-range index
  raises ``IndexError`` naming the op, the axis, its size and the index.
- The evaluator checks every index (``IndexError``, same message).
- Compiled code never reads or writes outside an array. An index computed at run time that is
  out of range makes a gather write a fill value (nan for floats, 0 for integers, False for
  booleans) and a scatter-add drop that element; the kernel then reports the last such index
  once, after its loops, by calling ``graphc_index_error`` (a symbol this module registers with
  LLVM; weak, so code exported for C programs links without it and only fills or drops): the
  report is kept per thread, and :func:`raise_pending` turns it into an ``IndexError`` when
  the native call returns (every compiled function of a graph with such ops is guarded by
  :func:`guard`).
  Constant index arrays that pass the build-time check skip the run-time check entirely.
"""

from __future__ import annotations

import ctypes
import hashlib
import threading

import llvmlite.binding as llvm
import numpy as np

from graphc import dsl, dtypes  # dsl is complete here: graphc.node imports it first
from graphc.batching import materialize, moveaxis
from graphc.node import Attrs, Node
from graphc.ops.base import OpDef, is_differentiable, make, register
from graphc.shapes import fmt
from graphc.shapes import size as element_count

# -- builders (the DSL's user-facing functions are in graphc.functions) -----------------------


def gather(x: Node, idx: Node, axis: int) -> Node:
    """``x`` indexed along ``axis, ..., axis + k - 1`` by ``idx`` (int64, last axis of size k)."""
    return make("gather", (x, idx), Attrs(axis=int(axis)))


def scatter_add(u: Node, idx: Node, axis: int, sizes: tuple[int, ...]) -> Node:
    """The transpose of :func:`gather`: ``u`` added into zeros at the places ``idx`` names."""
    return make("scatter_add", (u, idx), Attrs(axis=int(axis), sizes=tuple(int(s) for s in sizes)))


# -- bounds -----------------------------------------------------------------------------------


def out_of_bounds(op: str, index: int, axis: int, size: int) -> IndexError:
    return IndexError(f"{op}: index {index} is out of bounds for axis {axis} with size {size}")


def check_bounds(op: str, values: np.ndarray, sizes: tuple[int, ...], axis: int) -> None:
    """Raise :func:`out_of_bounds` for the first index of ``values[..., j]`` outside
    ``[-sizes[j], sizes[j])``."""
    for j, size in enumerate(sizes):
        component = values[..., j]
        bad = (component < -size) | (component >= size)
        if bad.any():
            raise out_of_bounds(op, int(component[bad].reshape(-1)[0]), axis + j, size)


def _wrapped(op: str, idx: np.ndarray, sizes: tuple[int, ...], axis: int) -> tuple:
    """The index components, checked, with negative indices counted from the end."""
    check_bounds(op, idx, sizes, axis)
    return tuple(
        np.where(idx[..., j] < 0, idx[..., j] + n, idx[..., j]) for j, n in enumerate(sizes)
    )


def _checked_at_build(idx: Node, sizes: tuple[int, ...]) -> bool:
    """True when ``idx`` is a constant whose every component is in ``[0, size)``: such indices
    need no check (and no wrapping) in compiled code."""
    if idx.op != "const":
        return False
    values = idx.value
    return all(
        not values[..., j].size or (values[..., j].min() >= 0 and values[..., j].max() < n)
        for j, n in enumerate(sizes)
    )


# -- gather and scatter_add: shape rules, evaluation, derivatives ------------------------------


def _check_index_array(op: str, idx: Node) -> None:
    if idx.dtype != dtypes.INT64:
        raise TypeError(f"{op}: indices must be int64, got {idx.dtype} of shape {fmt(idx.shape)}")
    if idx.ndim == 0 or idx.shape[-1] == 0:
        raise ValueError(
            f"{op}: indices of shape {fmt(idx.shape)}; expected a last axis holding one index "
            "per indexed axis (at least one)"
        )


def _check_axis(op: str, axis: object, k: int, ndim: int, shape) -> int:
    if not isinstance(axis, int) or isinstance(axis, bool) or axis < 0 or axis + k > ndim:
        raise ValueError(
            f"{op}: {k} indexed axes starting at axis {axis!r} do not fit an array of shape "
            f"{fmt(shape)}"
        )
    return axis


def _infer_gather(args, attrs):
    x, idx = args
    _check_index_array("gather", idx)
    k = idx.shape[-1]
    axis = _check_axis("gather", attrs["axis"], k, x.ndim, x.shape)
    sizes = x.shape[axis : axis + k]
    if idx.op == "const":
        check_bounds("gather", idx.value, sizes, axis)
    return x.shape[:axis] + idx.shape[:-1] + x.shape[axis + k :], x.dtype


def _eval_gather(node, x, idx):
    axis = node.attrs["axis"]
    sizes = x.shape[axis : axis + idx.shape[-1]]
    key = (slice(None),) * axis + _wrapped("gather", idx, sizes, axis)
    return np.asarray(np.asarray(x)[key], dtype=node.dtype)


def _gather_vjp(node, ct):
    x, idx = node.args
    if not is_differentiable(x):
        return (None, None)
    axis = node.attrs["axis"]
    sizes = x.shape[axis : axis + idx.shape[-1]]
    return (scatter_add(ct, idx, axis, sizes), None)


def _gather_jvp(node, tangents):
    t, _ = tangents
    return None if t is None else gather(t, node.args[1], node.attrs["axis"])


def _infer_scatter_add(args, attrs):
    u, idx = args
    _check_index_array("scatter_add", idx)
    if u.dtype == dtypes.BOOL:
        raise TypeError("scatter_add: boolean values cannot be added; expected numbers")
    axis, sizes = attrs["axis"], attrs["sizes"]
    k = idx.shape[-1]
    if (
        not isinstance(sizes, tuple)
        or len(sizes) != k
        or any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in sizes)
    ):
        raise ValueError(f"scatter_add: sizes {sizes!r}: expected {k} non-negative ints")
    n_index = idx.ndim - 1
    if not isinstance(axis, int) or isinstance(axis, bool) or not 0 <= axis <= u.ndim - n_index:
        raise ValueError(
            f"scatter_add: values of shape {fmt(u.shape)} cannot hold the index shape "
            f"{fmt(idx.shape[:-1])} at axis {axis!r}"
        )
    if u.shape[axis : axis + n_index] != idx.shape[:-1]:
        raise ValueError(
            f"scatter_add: values of shape {fmt(u.shape)} do not match indices of shape "
            f"{fmt(idx.shape)} at axis {axis}: expected axes {axis}..{axis + n_index - 1} of "
            f"the values to be {fmt(idx.shape[:-1])}"
        )
    if idx.op == "const":
        check_bounds("scatter_add", idx.value, sizes, axis)
    return u.shape[:axis] + sizes + u.shape[axis + n_index :], u.dtype


def _eval_scatter_add(node, u, idx):
    axis, sizes = node.attrs["axis"], node.attrs["sizes"]
    out = np.zeros(node.shape, dtype=node.dtype)
    key = (slice(None),) * axis + _wrapped("scatter_add", idx, sizes, axis)
    np.add.at(out, key, np.asarray(u, dtype=node.dtype))
    return out


def _scatter_add_vjp(node, ct):
    u, idx = node.args
    if not is_differentiable(u):
        return (None, None)
    return (gather(ct, idx, node.attrs["axis"]), None)


def _scatter_add_jvp(node, tangents):
    t, _ = tangents
    if t is None:
        return None
    return scatter_add(t, node.args[1], node.attrs["axis"], node.attrs["sizes"])


# -- argsort, argmax, argmin ------------------------------------------------------------------


def _infer_argsort(args, attrs):
    (x,) = args
    if x.ndim == 0:
        raise ValueError("argsort: expected an array of at least one dimension, got a scalar")
    return x.shape, dtypes.INT64


def _infer_arg_extremum(op: str):
    def infer(args, attrs):
        (x,) = args
        if x.ndim == 0 or x.shape[-1] == 0:
            raise ValueError(
                f"{op}: the last axis of shape {fmt(x.shape)} is empty or missing; expected at "
                "least one element to choose from"
            )
        return x.shape[:-1], dtypes.INT64

    return infer


def _eval_arg_extremum(fn):
    def evaluate(node, x):
        return np.asarray(fn(np.asarray(x), axis=-1), dtype=np.int64)

    return evaluate


# -- batching and sparsity rules (graphc.batching, graphc.sparsity) ----------------------------


def _batch_positions(size: int, index_shape: tuple[int, ...]) -> Node:
    """The entry ``b`` of a batch as one more index component: ``(size,) + index_shape + (1,)``
    (a broadcast constant)."""
    ramp = np.arange(size, dtype=np.int64).reshape((size,) + (1,) * (len(index_shape) + 1))
    return dsl.broadcast_to(dsl.constant(ramp, dtypes.INT64), (size,) + index_shape + (1,))


def _gather_batch(node, args, axes):
    (x, idx), (x_axis, idx_axis) = args, axes
    axis = node.attrs["axis"]
    if idx_axis is None:  # the same indices for every entry: one more leading axis of x
        return gather(moveaxis(x, x_axis, 0), idx, axis + 1), 0
    idx = moveaxis(idx, idx_axis, 0)  # (B,) + I + (k,): the batch is an index axis
    if x_axis is None:
        return gather(x, idx, axis), axis
    # Both batched: entry b reads its own x, so b becomes an indexed axis of x too.
    x = moveaxis(x, x_axis, axis)
    rows = _batch_positions(idx.shape[0], idx.shape[1:-1])
    return gather(x, dsl.concatenate([rows, idx], -1), axis), axis


def _scatter_add_batch(node, args, axes):
    (u, idx), (u_axis, idx_axis) = args, axes
    axis, sizes = node.attrs["axis"], node.attrs["sizes"]
    if idx_axis is None:
        return scatter_add(moveaxis(u, u_axis, 0), idx, axis + 1, sizes), 0
    idx = moveaxis(idx, idx_axis, 0)
    count = idx.shape[0]
    u = moveaxis(materialize(u, u_axis, count), 0, axis)  # P + (B,) + I + T
    rows = _batch_positions(count, idx.shape[1:-1])
    return scatter_add(u, dsl.concatenate([rows, idx], -1), axis, (count,) + sizes), axis


def _last_axis_batch(node, args, axes):
    """argsort, argmax, argmin work along the last axis: a batch there moves to the front."""
    (x,), (axis,) = args, axes
    if axis == x.ndim - 1:
        x, axis = moveaxis(x, axis, 0), 0
    return make(node.op, (x,)), axis


def _indexed_block(shape, axis: int, count: int):
    """``shape`` split around ``count`` indexed axes at ``axis``: (before, block size, after)."""
    return shape[:axis], element_count(shape[axis : axis + count]), shape[axis + count :]


def _any_of_block(out_grid, arg_grid, before, n_out, n_arg, after):
    """Pairs: each output element of the block axis depends on every argument element of it."""
    o = np.broadcast_to(
        out_grid.reshape(before + (n_out, 1) + after), before + (n_out, n_arg) + after
    )
    a = np.broadcast_to(arg_grid.reshape(before + (1, n_arg) + after), o.shape)
    return o.reshape(-1), a.reshape(-1)


def _gather_sparsity(node):
    x, idx = node.args
    if not is_differentiable(x):
        return (None, None)
    axis, k = node.attrs["axis"], idx.shape[-1]

    def deps():
        grid = np.arange(x.size, dtype=np.int64).reshape(x.shape)
        if idx.op == "const":  # exact: element i is x's element at its constant indices
            key = (slice(None),) * axis + _wrapped(
                "gather", idx.value, x.shape[axis : axis + k], axis
            )
            return grid[key].reshape(-1)
        # Indices known only at run time: any element of the indexed block.
        before, n_arg, after = _indexed_block(x.shape, axis, k)
        n_out = element_count(idx.shape[:-1])
        out = np.arange(node.size, dtype=np.int64)
        return _any_of_block(out, grid, before, n_out, n_arg, after)

    return (deps, None)


def _scatter_add_sparsity(node):
    u, idx = node.args
    if not is_differentiable(u):
        return (None, None)
    axis, sizes = node.attrs["axis"], node.attrs["sizes"]

    def deps():
        out = np.arange(node.size, dtype=np.int64).reshape(node.shape)
        values = np.arange(u.size, dtype=np.int64)
        if idx.op == "const":  # exact: each value lands on one output element
            key = (slice(None),) * axis + _wrapped("scatter_add", idx.value, sizes, axis)
            return out[key].reshape(-1), values
        before, n_out, after = _indexed_block(node.shape, axis, len(sizes))
        n_in = element_count(idx.shape[:-1])
        return _any_of_block(out, values, before, n_out, n_in, after)

    return (deps, None)


def _no_dependence(node):
    return (None,)  # integer results: nothing to differentiate


# -- run-time reports of out-of-range indices --------------------------------------------------

ERROR_SYMBOL = "graphc_index_error"
_pending = threading.local()


def _report(message: bytes, index: int, axis: int, size: int) -> None:
    """Called by compiled code (through a ctypes callback, which takes the GIL) after a kernel
    met an index out of range: keeps this thread's first report until the call raises it."""
    if getattr(_pending, "error", None) is None:
        text = (
            f"{message.decode()}: index {index} is out of bounds for axis {axis} with size {size}"
        )
        _pending.error = text


_REPORT_TYPE = ctypes.CFUNCTYPE(
    None, ctypes.c_char_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64
)
_REPORT = _REPORT_TYPE(_report)  # kept alive for the life of the process, like the symbol
llvm.add_symbol(ERROR_SYMBOL, ctypes.cast(_REPORT, ctypes.c_void_p).value)


def raise_pending() -> None:
    """Raise the ``IndexError`` compiled code reported in this thread, if any (and forget it)."""
    error = getattr(_pending, "error", None)
    if error is not None:
        _pending.error = None
        raise IndexError(error)


def errcheck(result, function, arguments):
    """A ctypes ``errcheck`` hook: :func:`raise_pending` after a native call."""
    raise_pending()
    return result


def guard(native) -> None:
    """Make the ctypes function ``native`` raise the reports of the kernels it runs."""
    native.errcheck = errcheck


def needs_guard(graph) -> bool:
    """Whether compiled code of ``graph`` can report an index out of range."""
    return any(node.op in CHECKED_OPS for node in graph.nodes)


CHECKED_OPS = ("gather", "scatter_add")


# -- lowering ---------------------------------------------------------------------------------
#
# Records lower through the emitter vocabulary of graphc.jit.kernels (see its docstring); ops/
# does not import graphc.jit, so a scalar layout is recognised as the string it is.


def _is_scalar(layout) -> bool:
    return isinstance(layout, str)


def _add(fb, a, b):
    """``a + b`` for index expressions that may be the int 0."""
    if a == 0 or a == "0":
        return b
    if b == 0 or b == "0":
        return a
    return fb.index_arith("add nsw", a, b)


def _mul(fb, a, stride: int):
    if stride == 0:
        return 0
    return a if stride == 1 else fb.index_arith("mul nsw", a, stride)


def _fill_value(fb, dtype: str):
    if dtype in dtypes.FLOATS:
        return fb.const(float("nan"), dtype)
    return fb.const(False if dtype == dtypes.BOOL else 0, dtype)


def _message_global(fb, text: str) -> str:
    """A private constant C string in the module (declared once per text); its name."""
    data = text.encode() + b"\0"
    name = f"@gc_msg_{hashlib.blake2b(data, digest_size=8).hexdigest()}"
    escaped = "".join(
        chr(b) if 32 <= b < 127 and chr(b) not in '"\\' else f"\\{b:02X}" for b in data
    )
    fb.module.declare(
        f'{name} = private unnamed_addr constant [{len(data)} x i8] c"{escaped}", align 1'
    )
    return name


class _Reporter:
    """Remembers the last out-of-range index a kernel met and reports it after the loops."""

    def __init__(self, em, message: str):
        fb = em.fb
        self.fb = fb
        self.message = _message_global(fb, message)
        self.seen = fb.alloca("i1", align=1)
        self.slots = {name: fb.alloca("i64") for name in ("index", "axis", "size")}
        fb.emit(f"store i1 false, ptr {self.seen}")
        for slot in self.slots.values():
            fb.emit(f"store i64 0, ptr {slot}")

    def note(self, ok, index: str, axis: int, size: int) -> None:
        fb = self.fb
        bad = fb.logic_not(ok)
        seen = fb.instr(dtypes.BOOL, f"load i1, ptr {self.seen}")
        fb.emit(f"store i1 {fb.logic('or', seen, bad).text}, ptr {self.seen}")
        for name, value in (("index", index), ("axis", str(axis)), ("size", str(size))):
            slot = self.slots[name]
            old = fb.instr(dtypes.INT64, f"load i64, ptr {slot}")
            new = fb.instr(dtypes.INT64, f"select i1 {bad.text}, i64 {value}, i64 {old.text}")
            fb.emit(f"store i64 {new.text}, ptr {slot}")

    def finish(self) -> None:
        fb = self.fb
        # Weak: an object exported for C programs (gc.export) links without it; there the
        # symbol is null and the fill or drop happens without a report.
        fb.module.declare(f"declare extern_weak void @{ERROR_SYMBOL}(ptr, i64, i64, i64) nounwind")
        fb.module.external_symbols.add(ERROR_SYMBOL)
        flagged = fb.instr(dtypes.BOOL, f"load i1, ptr {self.seen}")
        present = fb.instr(dtypes.BOOL, f"icmp ne ptr @{ERROR_SYMBOL}, null")
        seen = fb.logic("and", flagged, present)
        report, done = fb.new_block("report"), fb.new_block("reported")
        fb.emit(f"br i1 {seen.text}, label %{report}, label %{done}")
        fb.label(report)
        values = [
            fb.instr(dtypes.INT64, f"load i64, ptr {self.slots[name]}").text
            for name in ("index", "axis", "size")
        ]
        args = ", ".join([f"ptr {self.message}"] + [f"i64 {v}" for v in values])
        fb.emit(f"call void @{ERROR_SYMBOL}({args})")
        fb.emit(f"br label %{done}")
        fb.label(done)


class _Indices:
    """Reads the ``k`` index components at one position and turns them into an element offset
    along the indexed axes: checked (wrapped, clamped to 0 when out of range, ``ok`` false)
    unless the indices are constants known to be in range."""

    def __init__(self, em, idx: Node, sizes, axis: int, op: str, what: str):
        self.em = em
        self.idx = idx
        self.sizes = sizes
        self.axis = axis
        self.layout = em.layout(idx)
        self.checked = not _checked_at_build(idx, sizes)
        self.reporter = _Reporter(em, f"{op}: {what}") if self.checked else None

    def offset(self, positions: list[str], strides: tuple[int, ...]):
        """(element offset along the indexed axes with ``strides``, ok or None)."""
        em, fb = self.em, self.em.fb
        total: str | int = 0
        ok = None
        for j, (size, stride) in enumerate(zip(self.sizes, strides)):
            if _is_scalar(self.layout):
                raw = em.scalar(self.idx).text
            else:
                where = _add(
                    fb, em.offset(self.layout.strides[:-1], positions), j * self.layout.strides[-1]
                )
                raw = fb.load(em.element_pointer(self.layout, where), dtypes.INT64).text
            if self.checked:
                negative = fb.instr(dtypes.BOOL, f"icmp slt i64 {raw}, 0")
                shifted = fb.index_arith("add", raw, size)
                wrapped = fb.instr(
                    dtypes.INT64, f"select i1 {negative.text}, i64 {shifted}, i64 {raw}"
                ).text
                # Unsigned: an index still negative after wrapping is huge, so out of range too.
                in_range = fb.instr(dtypes.BOOL, f"icmp ult i64 {wrapped}, {size}")
                index = fb.instr(
                    dtypes.INT64, f"select i1 {in_range.text}, i64 {wrapped}, i64 0"
                ).text
                assert self.reporter is not None
                self.reporter.note(in_range, raw, self.axis + j, size)
                ok = in_range if ok is None else fb.logic("and", ok, in_range)
            else:
                index = raw
            total = _add(fb, total, _mul(fb, index, stride))
        return total, ok

    def finish(self) -> None:
        if self.reporter is not None:
            self.reporter.finish()


def _describe(node: Node) -> str:
    return f"{node.dtype}{list(node.shape)}"


def _lower_gather(em, kernel) -> None:
    node = kernel.root
    x, idx = node.args
    if node.size == 0:
        return
    fb = em.fb
    axis, k = node.attrs["axis"], idx.shape[-1]
    n_before, n_index = axis, idx.ndim - 1
    sizes = x.shape[axis : axis + k]
    out = em.layout(node)
    source = em.layout(x)
    indices = _Indices(em, idx, sizes, axis, "gather", f"indexing {_describe(x)}")
    out_before = out.strides[:n_before]
    out_index = out.strides[n_before : n_before + n_index]
    out_after = out.strides[n_before + n_index :]
    if _is_scalar(source):
        x_before, x_axes, x_after = (0,) * n_before, (0,) * k, (0,) * (x.ndim - axis - k)
    else:
        x_before = source.strides[:axis]
        x_axes = source.strides[axis : axis + k]
        x_after = source.strides[axis + k :]
    before, before_loops = em.open_loops(x.shape[:axis])
    positions, index_loops = em.open_loops(idx.shape[:-1])
    along, ok = indices.offset(positions, x_axes)
    start = _add(fb, em.offset(x_before, before), along)
    target_start = _add(fb, em.offset(out_before, before), em.offset(out_index, positions))
    after, after_loops = em.open_loops(x.shape[axis + k :])
    if x.size == 0:  # every index is out of range of an empty axis: nothing may be read
        value = _fill_value(fb, node.dtype)
    elif _is_scalar(source):
        value = em.scalar(x)
    else:
        pointer = em.element_pointer(source, _add(fb, start, em.offset(x_after, after)))
        value = fb.load(pointer, node.dtype)
    if ok is not None:
        value = fb.select(ok, value, _fill_value(fb, node.dtype))
    target = _add(fb, target_start, em.offset(out_after, after))
    fb.store(value, em.element_pointer(out, target))
    em.close_loops(after_loops)
    em.close_loops(index_loops)
    em.close_loops(before_loops)
    indices.finish()


def _lower_scatter_add(em, kernel) -> None:
    node = kernel.root
    u, idx = node.args
    if node.size == 0:
        return
    fb = em.fb
    axis, sizes = node.attrs["axis"], node.attrs["sizes"]
    k, n_index = len(sizes), idx.ndim - 1
    out = em.layout(node)
    zero = fb.const(0, node.dtype)
    every, fill_loops = em.open_loops(node.shape)
    fb.store(zero, em.element_pointer(out, em.offset(out.strides, every)))
    em.close_loops(fill_loops)
    if u.size == 0:
        return
    indices = _Indices(
        em, idx, sizes, axis, "scatter_add", f"adding {_describe(u)} into {_describe(node)}"
    )
    source = em.layout(u)
    u_strides = (0,) * u.ndim if _is_scalar(source) else source.strides
    u_before, u_index = u_strides[:axis], u_strides[axis : axis + n_index]
    u_after = u_strides[axis + n_index :]
    out_before, out_axes = out.strides[:axis], out.strides[axis : axis + k]
    out_after = out.strides[axis + k :]
    before, before_loops = em.open_loops(u.shape[:axis])
    positions, index_loops = em.open_loops(idx.shape[:-1])
    along, ok = indices.offset(positions, out_axes)
    target_start = _add(fb, em.offset(out_before, before), along)
    start = _add(fb, em.offset(u_before, before), em.offset(u_index, positions))
    skip = None
    if ok is not None:  # an index out of range: its values are dropped, nothing is written
        body, skip = fb.new_block("scatter"), fb.new_block("skip")
        fb.emit(f"br i1 {ok.text}, label %{body}, label %{skip}")
        fb.label(body)
    after, after_loops = em.open_loops(u.shape[axis + n_index :])
    if _is_scalar(source):
        value = fb.cast(em.scalar(u), node.dtype)
    else:
        pointer = em.element_pointer(source, _add(fb, start, em.offset(u_after, after)))
        value = fb.load(pointer, node.dtype)
    target = em.element_pointer(out, _add(fb, target_start, em.offset(out_after, after)))
    fb.store(fb.arith("add", fb.load(target, node.dtype), value), target)
    em.close_loops(after_loops)
    if skip is not None:
        fb.emit(f"br label %{skip}")
        fb.label(skip)
    em.close_loops(index_loops)
    em.close_loops(before_loops)
    indices.finish()


# Sorting: a stable bottom-up merge sort written into the kernel, so every comparison is inline
# (qsort_r's comparator call made it 20x slower than np.sort at 10^6). It sorts (key, position)
# pairs: the keys are copied next to the positions, so the merges stream through memory instead
# of reading each key through its position at random (3.6x faster at 10^6). Runs of _RUN pairs
# are insertion-sorted in place, then merged in passes of doubling width between two buffers
# from malloc and the result row. Without memory (malloc gives null) the whole row is
# insertion-sorted through its positions: slowly, but correctly. Equal keys keep their order.
_RUN = 16
_KEY_BYTES = {dtypes.FLOAT64: 8, dtypes.FLOAT32: 4, dtypes.INT64: 8, dtypes.BOOL: 1}


class _Sorter:
    """IR for sorting one row. An "array" is ``(positions, keys)``: pointers to int64
    positions and to their keys, or ``keys = None`` to read each key through its position."""

    def __init__(self, fb, data: str, stride: int, dtype: str):
        self.fb, self.data, self.stride, self.dtype = fb, data, stride, dtype

    # -- variables: allocas that LLVM's mem2reg turns into registers --
    def var(self, init, kind: str = "i64") -> str:
        slot = self.fb.alloca(kind)
        self.fb.emit(f"store {kind} {init}, ptr {slot}")
        return slot

    def get(self, slot: str, kind: str = "i64") -> str:
        name = self.fb.fresh("s")
        self.fb.emit(f"{name} = load {kind}, ptr {slot}")
        return name

    def put(self, slot: str, value: str, kind: str = "i64") -> None:
        self.fb.emit(f"store {kind} {value}, ptr {slot}")

    def test(self, pred: str, a: str, b) -> str:
        return self.fb.instr(dtypes.BOOL, f"icmp {pred} i64 {a}, {b}").text

    def minimum(self, a: str, b) -> str:
        below = self.test("slt", a, b)
        return self.fb.instr(dtypes.INT64, f"select i1 {below}, i64 {a}, i64 {b}").text

    def add(self, a: str, b) -> str:
        return self.fb.index_arith("add nsw", a, b)

    # -- elements --
    def value(self, position: str):
        """The key of ``position`` in the data row."""
        fb = self.fb
        offset = position if self.stride == 1 else fb.index_arith("mul nsw", position, self.stride)
        return fb.load(fb.gep(self.data, offset, self.dtype), self.dtype)

    def read(self, array, index: str):
        """(position, key) of element ``index`` of ``array``."""
        positions, keys = array
        position = self.fb.load(self.fb.gep(positions, index, dtypes.INT64), dtypes.INT64).text
        if keys is None:
            return position, self.value(position)
        return position, self.fb.load(self.fb.gep(keys, index, self.dtype), self.dtype)

    def write(self, array, index: str, element) -> None:
        positions, keys = array
        position, key = element
        self.fb.emit(f"store i64 {position}, ptr {self.fb.gep(positions, index, dtypes.INT64)}")
        if keys is not None:
            self.fb.store(key, self.fb.gep(keys, index, self.dtype))

    def less(self, a, b) -> str:
        """Key ``a`` sorts strictly before key ``b``: smaller, or a number against a nan."""
        fb = self.fb
        below = fb.cmp("lt", a, b)
        if a.dtype in dtypes.FLOATS:
            only_b_nan = fb.logic("and", fb.isnan(b), fb.logic_not(fb.isnan(a)))
            below = fb.logic("or", below, only_b_nan)
        return below.text

    def loop_while(self, condition, body) -> None:
        """``while condition(): body()``, the condition evaluated in the loop's head block."""
        fb = self.fb
        head, inside, done = fb.new_block("while"), fb.new_block("do"), fb.new_block("done")
        fb.emit(f"br label %{head}")
        fb.label(head)
        fb.emit(f"br i1 {condition()}, label %{inside}, label %{done}")
        fb.label(inside)
        body()
        fb.emit(f"br label %{head}")
        fb.label(done)

    # -- the sort --
    def insertion_runs(self, array, n: int, run: str) -> None:
        """Insertion-sort each run of ``run`` elements of ``array``, in place."""
        fb = self.fb
        lo = self.var(0)

        def one_run():
            start = self.get(lo)
            stop = self.minimum(self.add(start, run), n)
            i = self.var(self.add(start, 1))

            def insert():
                at = self.get(i)
                moving = self.read(array, at)
                j = self.var(at)
                head, check, shift, place = (
                    fb.new_block(h) for h in ("ins", "cmp", "shift", "put")
                )
                fb.emit(f"br label %{head}")
                fb.label(head)
                here = self.get(j)
                fb.emit(f"br i1 {self.test('sgt', here, start)}, label %{check}, label %{place}")
                fb.label(check)
                before = self.add(here, -1)
                previous = self.read(array, before)
                smaller = self.less(moving[1], previous[1])
                fb.emit(f"br i1 {smaller}, label %{shift}, label %{place}")
                fb.label(shift)
                self.write(array, here, previous)
                self.put(j, before)
                fb.emit(f"br label %{head}")
                fb.label(place)
                self.write(array, self.get(j), moving)
                self.put(i, self.add(at, 1))

            self.loop_while(lambda: self.test("slt", self.get(i), stop), insert)
            self.put(lo, self.add(start, run))

        self.loop_while(lambda: self.test("slt", self.get(lo), n), one_run)

    def merge_passes(self, first, second, n: int) -> None:
        """Merge sorted runs of ``_RUN``, 2 * ``_RUN``, ... of ``first`` until one is left, in
        ``first``'s positions, using ``second`` as the other buffer."""
        fb = self.fb
        width = self.var(_RUN)
        slots = [[self.var(p, "ptr"), self.var(k, "ptr")] for p, k in (first, second)]

        def one_pass():
            w = self.get(width)
            src = tuple(self.get(slot, "ptr") for slot in slots[0])
            dst = tuple(self.get(slot, "ptr") for slot in slots[1])
            lo = self.var(0)

            def merge():
                start = self.get(lo)
                mid = self.minimum(self.add(start, w), n)
                stop = self.minimum(self.add(start, fb.index_arith("mul nsw", w, 2)), n)
                i, j, k = self.var(start), self.var(mid), self.var(start)

                def step():
                    left, right = fb.new_block("left"), fb.new_block("right")
                    test_j, compare, next_ = (fb.new_block(h) for h in ("tj", "cmp", "next"))
                    a, b = self.get(i), self.get(j)
                    fb.emit(f"br i1 {self.test('slt', a, mid)}, label %{test_j}, label %{right}")
                    fb.label(test_j)
                    fb.emit(f"br i1 {self.test('sge', b, stop)}, label %{left}, label %{compare}")
                    fb.label(compare)
                    # The left run wins ties: that keeps equal keys in order.
                    right_first = self.less(self.read(src, b)[1], self.read(src, a)[1])
                    fb.emit(f"br i1 {right_first}, label %{right}, label %{left}")
                    for label, taken, counter in ((left, a, i), (right, b, j)):
                        fb.label(label)
                        self.write(dst, self.get(k), self.read(src, taken))
                        self.put(counter, self.add(taken, 1))
                        fb.emit(f"br label %{next_}")
                    fb.label(next_)
                    self.put(k, self.add(self.get(k), 1))

                self.loop_while(lambda: self.test("slt", self.get(k), stop), step)
                self.put(lo, stop)

            self.loop_while(lambda: self.test("slt", self.get(lo), n), merge)
            for slot, value in zip(slots[0] + slots[1], dst + src):  # swap the buffers
                self.put(slot, value, "ptr")
            self.put(width, fb.index_arith("mul nsw", w, 2))

        self.loop_while(lambda: self.test("slt", self.get(width), n), one_pass)
        # After an odd number of passes the positions are in the other buffer: copy them back.
        final = self.get(slots[0][0], "ptr")
        row = first[0]
        elsewhere = fb.instr(dtypes.BOOL, f"icmp ne ptr {final}, {row}").text
        copy, done = fb.new_block("copy"), fb.new_block("copied")
        fb.emit(f"br i1 {elsewhere}, label %{copy}, label %{done}")
        fb.label(copy)
        index, state = fb.loop_begin(n)
        position = self.read((final, None), index)[0]
        fb.emit(f"store i64 {position}, ptr {fb.gep(row, index, dtypes.INT64)}")
        fb.loop_end(state)
        fb.emit(f"br label %{done}")
        fb.label(done)


def _lower_argsort(em, kernel) -> None:
    node = kernel.root
    (x,) = node.args
    if node.size == 0:
        return
    fb = em.fb
    n = x.shape[-1]
    out = em.layout(node)  # a kernel's own result is contiguous: each row is a run of int64
    source = em.layout(x)
    sorting = n > 1 and not _is_scalar(source)  # a broadcast scalar is sorted already: all tie
    if sorting:
        fb.module.declare("declare noalias ptr @malloc(i64) nounwind")
        fb.module.declare("declare void @free(ptr) nounwind")
        fb.module.external_symbols.update({"malloc", "free"})
        key_bytes = _KEY_BYTES[x.dtype]
        scratch = fb.fresh("scratch")  # positions, then two rows of keys
        fb.emit(f"{scratch} = call ptr @malloc(i64 {n * (8 + 2 * key_bytes)})")
        memory = fb.instr(dtypes.BOOL, f"icmp ne ptr {scratch}, null").text
        keys = fb.gep_bytes(scratch, 8 * n)
        other_keys = fb.gep_bytes(scratch, (8 + key_bytes) * n)
    rows, row_loops = em.open_loops(x.shape[:-1])
    row = em.element_pointer(out, em.offset(out.strides[:-1], rows))
    if not sorting:
        (j,), fill = em.open_loops((n,))
        fb.emit(f"store i64 {j}, ptr {fb.gep(row, j, dtypes.INT64)}")
        em.close_loops(fill)
        em.close_loops(row_loops)
        return
    data = em.element_pointer(source, em.offset(source.strides[:-1], rows))
    sorter = _Sorter(fb, data, source.strides[-1], x.dtype)
    fast, slow, sorted_ = fb.new_block("pairs"), fb.new_block("indirect"), fb.new_block("sorted")
    fb.emit(f"br i1 {memory}, label %{fast}, label %{slow}")
    fb.label(fast)
    (j,), fill = em.open_loops((n,))
    sorter.write((row, keys), j, (j, sorter.value(j)))
    em.close_loops(fill)
    sorter.insertion_runs((row, keys), n, str(_RUN))
    if n > _RUN:
        sorter.merge_passes((row, keys), (scratch, other_keys), n)
    fb.emit(f"br label %{sorted_}")
    fb.label(slow)
    (j,), fill = em.open_loops((n,))
    fb.emit(f"store i64 {j}, ptr {fb.gep(row, j, dtypes.INT64)}")
    em.close_loops(fill)
    sorter.insertion_runs((row, None), n, str(n))
    fb.emit(f"br label %{sorted_}")
    fb.label(sorted_)
    em.close_loops(row_loops)
    fb.emit(f"call void @free(ptr {scratch})")


def _lower_arg_extremum(pred: str):
    def lower(em, kernel) -> None:
        node = kernel.root
        (x,) = node.args
        if node.size == 0:
            return
        fb = em.fb
        out = em.layout(node)
        source = em.layout(x)
        rows, row_loops = em.open_loops(x.shape[:-1])
        target = em.element_pointer(out, em.offset(out.strides, rows))
        if _is_scalar(source):  # every element ties: the first
            fb.store(fb.const(0, dtypes.INT64), target)
            em.close_loops(row_loops)
            return
        start = em.offset(source.strides[:-1], rows)
        best = fb.alloca({"float64": "double", "float32": "float"}.get(x.dtype, "i64"))
        position = fb.alloca("i64")
        first = fb.load(em.element_pointer(source, start), x.dtype)
        first = first if x.dtype != dtypes.BOOL else fb.cast(first, dtypes.INT64)
        fb.emit(f"store {first.type} {first.text}, ptr {best}")
        fb.emit(f"store i64 0, ptr {position}")
        (j,), loop = em.open_loops((x.shape[-1],))
        where = _add(fb, start, _mul(fb, j, source.strides[-1]))
        value = fb.load(em.element_pointer(source, where), x.dtype)
        if x.dtype == dtypes.BOOL:  # compare as the integers 0 and 1
            value = fb.cast(value, dtypes.INT64)
        current = fb.instr(value.dtype, f"load {value.type}, ptr {best}")
        better = fb.cmp(pred, value, current)
        if x.dtype in dtypes.FLOATS:  # numpy: the first nan wins and stays
            first_nan = fb.logic("and", fb.isnan(value), fb.logic_not(fb.isnan(current)))
            better = fb.logic("or", better, first_nan)
        fb.emit(f"store {value.type} {fb.select(better, value, current).text}, ptr {best}")
        old = fb.instr(dtypes.INT64, f"load i64, ptr {position}")
        chosen = fb.instr(dtypes.INT64, f"select i1 {better.text}, i64 {j}, i64 {old.text}")
        fb.emit(f"store i64 {chosen.text}, ptr {position}")
        em.close_loops(loop)
        result = fb.instr(dtypes.INT64, f"load i64, ptr {position}")
        fb.store(result, target)
        em.close_loops(row_loops)

    return lower


register(
    OpDef(
        "gather",
        "gather",
        _infer_gather,
        _eval_gather,
        _gather_vjp,
        _gather_jvp,
        lower=_lower_gather,
        arity=2,
        batch=_gather_batch,
        sparsity=_gather_sparsity,
        doc="x indexed by an int64 array along consecutive axes (numpy's advanced indexing)",
    ),
    OpDef(
        "scatter_add",
        "scatter",
        _infer_scatter_add,
        _eval_scatter_add,
        _scatter_add_vjp,
        _scatter_add_jvp,
        lower=_lower_scatter_add,
        arity=2,
        batch=_scatter_add_batch,
        sparsity=_scatter_add_sparsity,
        doc="zeros with values added at int64 indices (np.add.at): the transpose of gather",
    ),
    OpDef(
        "argsort",
        "argsort",
        _infer_argsort,
        lambda node, x: np.argsort(np.asarray(x), axis=-1, kind="stable").astype(np.int64),
        lower=_lower_argsort,
        arity=1,
        batch=_last_axis_batch,
        sparsity=_no_dependence,
        doc="positions that sort the last axis (stable, nan last); not differentiable",
    ),
    OpDef(
        "argmax",
        "argreduce",
        _infer_arg_extremum("argmax"),
        _eval_arg_extremum(np.argmax),
        lower=_lower_arg_extremum("gt"),
        arity=1,
        batch=_last_axis_batch,
        sparsity=_no_dependence,
        doc="position of the first maximum of the last axis (a nan wins); not differentiable",
    ),
    OpDef(
        "argmin",
        "argreduce",
        _infer_arg_extremum("argmin"),
        _eval_arg_extremum(np.argmin),
        lower=_lower_arg_extremum("lt"),
        arity=1,
        batch=_last_axis_batch,
        sparsity=_no_dependence,
        doc="position of the first minimum of the last axis (a nan wins); not differentiable",
    ),
)
