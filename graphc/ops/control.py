"""Ops that hold a graph: ``scan`` (a loop) and the user-defined derivatives ``custom_vjp`` and
``custom_jvp``. Each is one node whose attributes include a :class:`~graphc.graph.Graph`; the
outer nodes the graph uses are explicit arguments of the node (closed-over values become inputs
of the graph when the node is built, see :mod:`graphc.subgraph`), so a body never refers to
anything outside itself and a graph holding one stays serialisable.

**scan.** Arguments: the initial carries (``n_carry``), the stacked inputs (``n_xs``, each with a
leading axis of ``length`` rows) and the closed-over values (the rest). The body's inputs are one
per argument, in that order (a carry, one row of each stacked input, each closed-over value); its
outputs are the new carries, then the per-step outputs. Step ``p = 0 .. length-1`` reads row
``t = p`` (``t = length-1-p`` when ``reverse``). A node has one type, so the scan's value is all
its results packed in one 1-D array of one dtype (its *layout*, :class:`ScanLayout`): the final
carries, then each per-step output stacked over the steps (row ``t``), then, if ``store = s >
0``, the carry entering every ``s``-th step in processing order (``ceil(length / s)`` snapshots
per carry: the reverse sweep's trajectory). ``graphc.loops`` projects the user's values out of it
with slices and reshapes (views: no copy in compiled code). Invariants checked by the type rule:
every carry keeps its shape, and carries and per-step outputs all have the scan's dtype (the
builder casts to a common one). ``checkpoint`` records how reverse mode is to store the carries
(``1``: every one; ``k``: one in ``k``; ``("binomial", slots)``: Griewank's schedule in ``slots``
carries); derivative rules are in :mod:`graphc.loops`.

**custom_vjp / custom_jvp.** Arguments: the function's inputs (``n_inputs``), then closed-over
values. ``fun`` computes the output from all arguments; ``rule`` is the user's rule traced into a
graph: for ``custom_vjp`` from ``(inputs..., closed..., y, ct)`` to one cotangent per input, for
``custom_jvp`` from ``(inputs..., closed..., y, tangents...)`` to the output's tangent. Values and
compiled code are those of ``fun`` (the backend sees it inlined, through ``expand``). The rule
gives the derivative with respect to the inputs; closed-over values are differentiated through
``fun`` by the ordinary rules.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from graphc import dtypes
from graphc.evaluate import runner
from graphc.graph import Graph, inline, topological_order
from graphc.node import Attrs, Node
from graphc.ops.base import OpDef, make, register
from graphc.shapes import fmt, size

# Ops whose nodes hold graphs: the pass driver maps passes over their bodies.
SUBGRAPH_OPS = frozenset({"scan", "revolve", "custom_vjp", "custom_jvp"})

# -- scan ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScanLayout:
    """Where each result of a scan sits in its packed value: ``(offset, shape)`` pairs."""

    finals: tuple[tuple[int, tuple[int, ...]], ...]  # one per carry
    ys: tuple[tuple[int, tuple[int, ...]], ...]  # one per per-step output, shape (T, ...)
    snapshots: tuple[tuple[int, tuple[int, ...]], ...]  # one per carry if store, (n, ...)
    size: int
    n_snapshots: int


def snapshot_count(length: int, store: int) -> int:
    return -(-length // store) if store else 0


def scan_layout(body: Graph, n_carry: int, length: int, store: int) -> ScanLayout:
    offset = 0
    carry_shapes = [o.shape for o in body.outputs[:n_carry]]
    n_snap = snapshot_count(length, store)

    def place(shapes, lead):
        nonlocal offset
        placed = []
        for shape in shapes:
            full = lead + shape
            placed.append((offset, full))
            offset += size(full)
        return tuple(placed)

    finals = place(carry_shapes, ())
    ys = place([o.shape for o in body.outputs[n_carry:]], (length,))
    snapshots = place(carry_shapes, (n_snap,)) if store else ()
    return ScanLayout(finals, ys, snapshots, offset, n_snap)


def layout_of(node: Node) -> ScanLayout:
    a = node.attrs
    if node.op == "revolve":  # packed as the reverse scan of its adjoint body
        return scan_layout(a["adjoint"], a["n_adjoint_carry"], a["length"], 0)
    return scan_layout(a["body"], a["n_carry"], a["length"], a["store"])


def _deferred(module: str, name: str) -> Callable:
    """``module.name``, imported on the first call: those modules import this one."""

    def call(*args):
        return getattr(importlib.import_module(module), name)(*args)

    call.__name__ = name
    return call


def _check_checkpoint(checkpoint: object) -> None:
    if isinstance(checkpoint, int) and not isinstance(checkpoint, bool) and checkpoint >= 1:
        return
    if (
        isinstance(checkpoint, tuple)
        and len(checkpoint) == 2
        and checkpoint[0] == "binomial"
        and isinstance(checkpoint[1], int)
        and checkpoint[1] >= 1
    ):
        return
    raise ValueError(
        f"scan: checkpoint must be an int >= 1 or ('binomial', slots >= 1), got {checkpoint!r}"
    )


def _infer_scan(args, attrs):
    body = attrs.get("body")
    if not isinstance(body, Graph):
        raise TypeError(f"scan: the body must be a Graph, got {type(body).__name__}")
    length, store = attrs.get("length"), attrs.get("store", 0)
    n_carry, n_xs = attrs.get("n_carry"), attrs.get("n_xs")
    for name, value in (("length", length), ("store", store), ("n_carry", n_carry), ("n_xs", n_xs)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"scan: {name} must be a non-negative int, got {value!r}")
    if not isinstance(attrs.get("reverse"), bool):
        raise ValueError(f"scan: reverse must be a bool, got {attrs.get('reverse')!r}")
    _check_checkpoint(attrs.get("checkpoint"))
    if n_carry + n_xs > len(args) or len(body.inputs) != len(args):
        raise ValueError(
            f"scan: {len(args)} arguments ({n_carry} carries, {n_xs} stacked inputs) for a body "
            f"of {len(body.inputs)} inputs; expected one body input per argument"
        )
    if len(body.outputs) < n_carry:
        raise ValueError(f"scan: the body has {len(body.outputs)} outputs for {n_carry} carries")
    out_dtypes = {o.dtype for o in body.outputs}
    if len(out_dtypes) > 1:
        raise TypeError(
            f"scan: the body's outputs have dtypes {sorted(out_dtypes)}; a scan's carries and "
            "per-step outputs share one dtype"
        )
    dtype = out_dtypes.pop() if out_dtypes else dtypes.FLOAT64
    for i in range(n_carry):
        arg, inp, out = args[i], body.inputs[i], body.outputs[i]
        if not (arg.shape == inp.shape == out.shape and arg.dtype == inp.dtype == out.dtype):
            raise TypeError(
                f"scan: carry {i} enters as {arg.type_str}, the body takes {inp.type_str} and "
                f"returns {out.type_str}; a carry keeps its shape {fmt(inp.shape)} and dtype"
            )
    for j in range(n_carry, n_carry + n_xs):
        arg, inp = args[j], body.inputs[j]
        if arg.shape != (length, *inp.shape) or arg.dtype != inp.dtype:
            raise TypeError(
                f"scan: stacked input {j - n_carry} has type {arg.type_str}; the body reads rows "
                f"of type {inp.type_str}, so {length} of them, shape {fmt((length, *inp.shape))}"
            )
    for j in range(n_carry + n_xs, len(args)):
        arg, inp = args[j], body.inputs[j]
        if arg.shape != inp.shape or arg.dtype != inp.dtype:
            raise TypeError(
                f"scan: closed-over value {j - n_carry - n_xs} is {arg.type_str}, the body "
                f"takes {inp.type_str}"
            )
    return (scan_layout(body, n_carry, length, store).size,), dtype


def _evaluate_scan(node, *arrays):
    a = node.attrs
    body, n_carry, n_xs, length, store = a["body"], a["n_carry"], a["n_xs"], a["length"], a["store"]
    layout = layout_of(node)
    out = np.empty(layout.size, dtype=node.dtype)
    carries = [np.asarray(c) for c in arrays[:n_carry]]
    xs = arrays[n_carry : n_carry + n_xs]
    closed = list(arrays[n_carry + n_xs :])
    run = runner(body)
    with np.errstate(all="ignore"):
        for p in range(length):
            t = length - 1 - p if a["reverse"] else p
            if store and p % store == 0:
                for c, (offset, shape) in zip(carries, layout.snapshots):
                    row = size(shape[1:])
                    start = offset + (p // store) * row
                    out[start : start + row] = np.reshape(c, -1)
            results = run([*carries, *[x[t] for x in xs], *closed])
            carries = results[:n_carry]
            for y, (offset, shape) in zip(results[n_carry:], layout.ys):
                row = size(shape[1:])
                out[offset + t * row : offset + (t + 1) * row] = np.reshape(y, -1)
    for c, (offset, shape) in zip(carries, layout.finals):
        out[offset : offset + size(shape)] = np.reshape(c, -1)
    return out


_scan_vjp = _deferred("graphc.loops", "scan_vjp")
_scan_jvp = _deferred("graphc.loops", "scan_jvp")
_lower_scan = _deferred("graphc.jit.scan", "lower_scan")


# -- revolve: a reverse scan over carries recomputed on the binomial schedule (graphc.revolve) ----


def _infer_revolve(args, attrs):
    forward, adjoint = attrs.get("forward"), attrs.get("adjoint")
    if not isinstance(forward, Graph) or not isinstance(adjoint, Graph):
        raise TypeError("revolve: the forward and adjoint bodies must be graphs")
    length, slots = attrs.get("length"), attrs.get("slots")
    counts = [attrs.get(k) for k in ("n_carry", "n_adjoint_carry", "n_rows")]
    for name, value in (("length", length), ("slots", slots), *zip(("counts",) * 3, counts)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"revolve: {name} must be a non-negative int, got {value!r}")
    if slots < 1:
        raise ValueError("revolve: at least one slot is needed")
    n_c, n_r, n_rows = counts
    n_k = len(args) - n_c - n_r - n_rows
    closed = args[n_c + n_r + n_rows :]
    rows = args[n_c + n_r : n_c + n_r + n_rows]
    n_fx = len(forward.inputs) - n_c - n_k
    if n_k < 0 or n_fx < 0 or n_fx > n_rows or len(forward.outputs) != n_c:
        raise ValueError("revolve: the arguments do not match the forward body")
    # The forward body is a carry-only scan body over the first rows; the adjoint a scan body
    # over the trajectory then the rows.
    _infer_scan((*args[:n_c], *rows[:n_fx], *closed), _scan_attrs(forward, length, n_c, n_fx))
    traj = [_stacked(c, length) for c in forward.inputs[:n_c]]
    return _infer_scan(
        (*args[n_c : n_c + n_r], *traj, *rows, *closed),
        _scan_attrs(adjoint, length, n_r, n_c + n_rows),
    )


class _Type:
    """A stand-in argument of a given type (for reusing the scan's type rule)."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype = shape, dtype

    @property
    def type_str(self) -> str:
        return f"{dtypes.SHORT_NAMES[self.dtype]}[{','.join(map(str, self.shape))}]"


def _stacked(node, length):
    return _Type((length, *node.shape), node.dtype)


def _scan_attrs(body, length, n_carry, n_xs):
    return {
        "body": body,
        "length": length,
        "reverse": False,
        "n_carry": n_carry,
        "n_xs": n_xs,
        "store": 0,
        "checkpoint": 1,
    }


_evaluate_revolve = _deferred("graphc.revolve", "evaluate_revolve")
_revolve_vjp = _deferred("graphc.revolve", "revolve_vjp")
_revolve_jvp = _deferred("graphc.revolve", "revolve_jvp")
_lower_revolve = _deferred("graphc.jit.revolve", "lower_revolve")


# -- custom derivatives -------------------------------------------------------------------------


def _infer_custom(args, attrs):
    fun, rule, n_inputs = attrs.get("fun"), attrs.get("rule"), attrs.get("n_inputs")
    op = attrs.get("name", "custom function")
    if not isinstance(fun, Graph) or not (rule is None or isinstance(rule, Graph)):
        raise TypeError(f"{op}: the function and its rule must be graphs")
    if not isinstance(n_inputs, int) or not 0 <= n_inputs <= len(args):
        raise ValueError(f"{op}: n_inputs must be an int in [0, {len(args)}], got {n_inputs!r}")
    if len(fun.inputs) != len(args) or len(fun.outputs) != 1:
        raise ValueError(
            f"{op}: the function graph takes {len(fun.inputs)} inputs and gives "
            f"{len(fun.outputs)} outputs; expected {len(args)} and 1"
        )
    for k, (arg, inp) in enumerate(zip(args, fun.inputs)):
        if arg.shape != inp.shape or arg.dtype != inp.dtype:
            raise TypeError(
                f"{op}: argument {k} is {arg.type_str}, the function takes {inp.type_str}"
            )
    out = fun.outputs[0]
    return out.shape, out.dtype


def _evaluate_custom(node, *arrays):
    with np.errstate(all="ignore"):
        return runner(node.attrs["fun"])(arrays)[0]


def _expand_custom(node):
    return inline(node.attrs["fun"], node.args)[0]


def _missing_rule(node, kind: str):
    name = node.attrs.get("name", "the function")
    return TypeError(
        f"{node.op} {name!r} has no {kind} rule: define one with @{name}.def_{kind} before "
        "differentiating it"
    )


def _closed_cotangents(node, ct) -> list:
    """Cotangents of the closed-over arguments: reverse mode through the function as written."""
    from graphc.autodiff import reverse_sweep
    from graphc.ops.base import is_differentiable

    closed = node.args[node.attrs["n_inputs"] :]
    wrt = [c for c in closed if is_differentiable(c)]
    if not wrt:
        return [None] * len(closed)
    (out,) = inline(node.attrs["fun"], node.args)
    # Down to the arguments only: the caller's sweep goes on from them.
    order = topological_order([out], done=set(node.args))
    found = iter(reverse_sweep([out], [ct], wrt, order))
    return [next(found) if is_differentiable(c) else None for c in closed]


def _closed_tangent(node, tangents):
    """The output's tangent from the closed-over arguments' tangents (forward mode through the
    function as written), or None."""
    from graphc.autodiff import forward_sweep

    n = node.attrs["n_inputs"]
    given = [(a, t) for a, t in zip(node.args[n:], tangents[n:]) if t is not None]
    if not given:
        return None
    (out,) = inline(node.attrs["fun"], node.args)
    order = topological_order([out], done=set(node.args))  # from the arguments on only
    (tangent,) = forward_sweep([out], [a for a, _ in given], [t for _, t in given], order)
    return tangent


def _sum(a, b):
    return b if a is None else a if b is None else a + b


def _custom_vjp_vjp(node, ct):
    rule = node.attrs["rule"]
    if rule is None:
        raise _missing_rule(node, "vjp")
    cts = inline(rule, [*node.args, node, ct])
    return (*cts, *_closed_cotangents(node, ct))


def _custom_vjp_jvp(node, tangents):
    n = node.attrs["n_inputs"]
    if any(t is not None for t in tangents[:n]):
        name = node.attrs.get("name", "the function")
        raise TypeError(
            f"custom_vjp {name!r}: forward mode (jvp) cannot go through a function with a "
            "custom vjp (its rule gives J^T u, not J v); define it with gc.custom_jvp instead, "
            "which serves both modes"
        )
    return _closed_tangent(node, tangents)


def _custom_jvp_jvp(node, tangents):
    rule = node.attrs["rule"]
    if rule is None:
        raise _missing_rule(node, "jvp")
    from graphc import dsl

    n = node.attrs["n_inputs"]
    tangent = None
    if any(t is not None for t in tangents[:n]):
        seeds = [
            dsl.zeros(a.shape, a.dtype) if t is None else dsl.astype(t, a.dtype)
            for a, t in zip(node.args[:n], tangents[:n])
        ]
        (tangent,) = inline(rule, [*node.args, node, *seeds])
    return _sum(tangent, _closed_tangent(node, tangents))


def _custom_jvp_vjp(node, ct):
    """Reverse mode from the tangent rule: the rule is linear in the tangents, so the vjp is its
    transpose, which reverse mode over the rule (at zero tangents) computes exactly."""
    rule = node.attrs["rule"]
    if rule is None:
        raise _missing_rule(node, "jvp")
    from graphc import dsl
    from graphc.autodiff import reverse_sweep
    from graphc.ops.base import is_differentiable

    n = node.attrs["n_inputs"]
    seeds = [dsl.zeros(a.shape, a.dtype) for a in node.args[:n]]
    (tangent,) = inline(rule, [*node.args, node, *seeds])
    wrt = [s for s, a in zip(seeds, node.args) if is_differentiable(a)]
    order = topological_order([tangent], done={*node.args, node})
    cts = iter(reverse_sweep([tangent], [ct], wrt, order))
    result = [next(cts) if is_differentiable(a) else None for a in node.args[:n]]
    return (*result, *_closed_cotangents(node, ct))


# -- batching and sparsity ----------------------------------------------------------------------


_scan_batch = _deferred("graphc.loops", "scan_batch")
_revolve_batch = _deferred("graphc.revolve", "revolve_batch")


def _custom_batch(node, args, axes):
    """A custom function for every entry of a batch: its function and its rule batched (the
    output's batch first), so the batched node keeps the user's rule."""
    from graphc import dsl
    from graphc.batching import batch_nodes, batch_size, materialize
    from graphc.subgraph import batched_placeholders

    size_b = batch_size(args, axes)
    n = node.attrs["n_inputs"]
    new_args = tuple(a if ax is None else materialize(a, ax, size_b) for a, ax in zip(args, axes))
    fun = node.attrs["fun"]

    batched = [ax is not None for ax in axes]
    inputs, sources = batched_placeholders(fun.inputs, batched, size_b)
    ((out, axis),) = batch_nodes(fun.outputs, sources)
    new_fun = Graph(inputs, materialize(out, axis, size_b))
    rule = node.attrs["rule"]
    new_rule = None
    if rule is not None:
        seeds = rule.inputs[len(args) + 1 :]
        if node.op == "custom_vjp":  # the cotangent has the (batched) output's shape
            seeds_batched = [True] * len(seeds)
        else:  # a tangent per input, batched as its input
            seeds_batched = batched[:n]
        rule_inputs, rule_sources = batched_placeholders(
            rule.inputs, [*batched, True, *seeds_batched], size_b
        )
        results = batch_nodes(rule.outputs, rule_sources)
        outputs = []
        for k, (value, ax) in enumerate(results):
            if node.op == "custom_jvp" or batched[k]:
                outputs.append(materialize(value, ax, size_b))
            elif ax is not None:  # a shared input's cotangent: the sum over the entries
                outputs.append(dsl.sum(value, ax))
            else:
                outputs.append(value)
        new_rule = Graph(rule_inputs, outputs)
    attrs = Attrs({**node.attrs, "fun": new_fun, "rule": new_rule})
    return make(node.op, new_args, attrs), 0


def _dense_sparsity(node):
    """Conservative: every element of the value depends on every element of each argument it
    is differentiable in (a loop mixes its carries over the steps; a custom function is opaque)."""
    import numpy as np

    from graphc.ops.base import is_differentiable

    def pairs(arg):
        def build():
            out = np.repeat(np.arange(node.size, dtype=np.int64), arg.size)
            return out, np.tile(np.arange(arg.size, dtype=np.int64), node.size)

        return build

    return tuple(pairs(arg) if is_differentiable(arg) else None for arg in node.args)


register(
    OpDef(
        "scan",
        "scan",
        _infer_scan,
        _evaluate_scan,
        _scan_vjp,
        _scan_jvp,
        lower=_lower_scan,
        doc="a loop: the body graph applied length times to carries and rows of stacked inputs",
        batch=_scan_batch,
        sparsity=_dense_sparsity,
    ),
    OpDef(
        "revolve",
        "scan",
        _infer_revolve,
        _evaluate_revolve,
        _revolve_vjp,
        _revolve_jvp,
        lower=_lower_revolve,
        doc="reverse mode through a loop, carries recomputed on the binomial schedule",
        batch=_revolve_batch,
        sparsity=_dense_sparsity,
    ),
    OpDef(
        "custom_vjp",
        "custom",
        _infer_custom,
        _evaluate_custom,
        _custom_vjp_vjp,
        _custom_vjp_jvp,
        expand=_expand_custom,
        doc="a function with a user-defined vjp rule",
        batch=_custom_batch,
        sparsity=_dense_sparsity,
    ),
    OpDef(
        "custom_jvp",
        "custom",
        _infer_custom,
        _evaluate_custom,
        _custom_jvp_vjp,
        _custom_jvp_jvp,
        expand=_expand_custom,
        doc="a function with a user-defined jvp rule (serving reverse mode by transposition)",
        batch=_custom_batch,
        sparsity=_dense_sparsity,
    ),
)

__all__ = ["SUBGRAPH_OPS", "ScanLayout", "layout_of", "scan_layout", "snapshot_count"]
