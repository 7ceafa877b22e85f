"""Batching: ``gc.vmap`` and the per-op rules it is made of (JAX's batching rules).

``vmap(fun)`` traces ``fun`` once on unbatched placeholder inputs, then transforms the traced
graph node by node (:func:`batch_nodes`): a node none of whose arguments carries the batch is
kept as it is (shared by every entry of the batch); any other node is rebuilt by its op's rule
``batch(node, args, axes) -> (node, axis)`` (``OpDef.batch``), which gets the new arguments and,
for each, the axis its batch is at (None: not batched) and returns a node computing ``node`` for
every entry at once, with the batch at the axis it says. Nothing is unrolled: the batched graph
has about as many nodes as the traced one, whatever the batch size. Jacobians are built this way
(``graphc.autodiff``): one jvp (or vjp) sweep traced with one tangent, batched over the identity.

Rules by kind (:func:`batch_rule`): elementwise ops and reductions have defaults here, so their
records need no code; views, ``unslice``, ``concatenate``, ``matmul`` and any op of another kind
give their own rule in their record, built from the helpers below (:func:`moveaxis`,
:func:`align`, :func:`materialize`). An op without a rule cannot be batched (the op table test
fails for such an op, and :func:`batch_nodes` raises naming it).

Invariants: a rule's result has the node's shape with the batch size inserted at the returned
axis, and the node's dtype (checked for every node, even under ``python -O``); nodes a rule
builds carry the origin of the node they replace (display only: DOT colours tangents and
adjoints). The batch may sit at any axis; rules move it only where the op needs it somewhere.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence

from graphc import dsl
from graphc.graph import topological_order
from graphc.node import Attrs, Node, origin
from graphc.ops.base import OPS, Batch, OpDef, make, rebuild
from graphc.shapes import fmt

# -- helpers for rules --------------------------------------------------------------------------


def moveaxis(x: Node, source: int, destination: int) -> Node:
    """``x`` with its axis ``source`` moved to ``destination`` (numpy's moveaxis; a view)."""
    source, destination = source % x.ndim, destination % x.ndim
    if source == destination:
        return x
    perm = [a for a in range(x.ndim) if a != source]
    perm.insert(destination, source)
    return dsl.transpose(x, perm)


def expand_dims(x: Node, axis: int) -> Node:
    """``x`` with a unit axis inserted before its axis ``axis`` (a view). A broadcast value
    (zeros, ones, a scalar constant) stays a broadcast of its source, so the simplifier still
    sees what it holds."""
    shape = x.shape[:axis] + (1,) + x.shape[axis:]
    if x.op != "broadcast_to":
        return dsl.reshape(x, shape)
    source = x.args[0]
    lead = x.ndim - source.ndim  # axes the broadcast added in front of the source's
    if axis > lead:
        cut = axis - lead
        source = dsl.reshape(source, source.shape[:cut] + (1,) + source.shape[cut:])
    return dsl.broadcast_to(source, shape)


def align(x: Node, axis: int, ndim: int) -> Node:
    """A batched ``x`` (batch at ``axis``) with the batch first and unit axes inserted after it,
    so its other axes line up, as numpy broadcasting would align them, with a result of ``ndim``
    dimensions per entry: ``(B, 3)`` aligned to 2 dimensions is ``(B, 1, 3)``."""
    x = moveaxis(x, axis, 0)
    missing = ndim - (x.ndim - 1)
    if missing <= 0:
        return x
    return dsl.reshape(x, (x.shape[0],) + (1,) * missing + x.shape[1:])


def materialize(x: Node, axis: int | None, size: int) -> Node:
    """``x`` with a batch of ``size`` at axis 0: moved there, or, for a value every entry shares
    (``axis`` None), broadcast along a new leading axis (a view, no copy)."""
    if axis is not None:
        return moveaxis(x, axis, 0)
    if x.op == "broadcast_to":  # zeros and ones are broadcast scalars: broadcast the source
        return dsl.broadcast_to(x.args[0], (size,) + x.shape)
    return dsl.broadcast_to(x, (size,) + x.shape)


def batch_size(args: Sequence[Node], axes: Sequence[int | None]) -> int:
    """The batch size of a rule's arguments (every batched argument has the same)."""
    for arg, axis in zip(args, axes):
        if axis is not None:
            return arg.shape[axis]
    raise ValueError("internal error: a batching rule was called without a batched argument")


# -- the rules of whole kinds -------------------------------------------------------------------


def batch_elementwise(node: Node, args: tuple[Node, ...], axes: tuple[int | None, ...]):
    """Elementwise ops broadcast. When every batched argument has the result's rank plus the
    batch, at one axis ``k``, the batch stays at ``k``: an unbatched argument whose axes span
    ``k`` gets a unit axis there (a view). Otherwise batched arguments go first, with unit axes
    to line up with the result, and unbatched ones broadcast against them as they are."""
    rank = node.ndim
    batched = [(a, ax) for a, ax in zip(args, axes) if ax is not None]
    k = batched[0][1]
    if all(ax == k and a.ndim == rank + 1 for a, ax in batched):
        kept = []
        for a, ax in zip(args, axes):
            lead = rank - a.ndim  # result axes before a's first (numpy aligns on the right)
            if ax is None and k > lead:
                a = expand_dims(a, k - lead)
            kept.append(a)
        return rebuild(node, tuple(kept)), k
    aligned = tuple(a if ax is None else align(a, ax, rank) for a, ax in zip(args, axes))
    return rebuild(node, aligned), 0


def batch_reduce(node: Node, args: tuple[Node, ...], axes: tuple[int | None, ...]):
    """Reductions reduce the same axes of every entry; the batch axis stays where it is."""
    (x,), (axis,) = args, axes
    assert axis is not None  # a rule is only called with its argument batched
    reduced = node.attrs["axes"]
    moved = tuple(a if a < axis else a + 1 for a in reduced)
    out_axis = axis if node.attrs["keepdims"] else axis - sum(1 for a in reduced if a < axis)
    return make(node.op, (x,), Attrs({**node.attrs, "axes": moved})), out_axis


_KIND_RULES: dict[str, Batch] = {"elementwise": batch_elementwise, "reduce": batch_reduce}


def batch_rule(opdef: OpDef) -> Batch | None:
    """The batching rule of ``opdef``'s nodes: its record's, else its kind's default; None for
    an op that has neither (and for sources, which have no arguments to batch)."""
    return opdef.batch if opdef.batch is not None else _KIND_RULES.get(opdef.kind)


# -- the transform ------------------------------------------------------------------------------


def batch_nodes(
    outputs: Sequence[Node], sources: Sequence[tuple[Node, Node, int]]
) -> list[tuple[Node, int | None]]:
    """``outputs`` computed for a whole batch: ``sources`` are ``(node, batched value, axis)``
    triples (``value`` is ``node`` for every entry of the batch, stacked along ``axis``).

    Returns, per output, the batched node and its batch axis, or the output itself and None
    when it does not depend on any source (every entry shares it).
    """
    env: dict[int, tuple[Node, int]] = {}
    size = None
    for node, value, axis in sources:
        expected = node.shape[:axis] + (value.shape[axis],) + node.shape[axis:]
        if value.shape != expected or value.dtype != node.dtype:
            raise ValueError(
                f"internal error: batched value {value.type_str} does not stack {node.type_str} "
                f"along axis {axis}"
            )
        size = value.shape[axis]
        env[id(node)] = (value, axis)
    for node in topological_order(outputs):
        if id(node) in env or not node.args:
            continue
        found = [env.get(id(a)) for a in node.args]
        if all(f is None for f in found):
            continue
        args = tuple(a if f is None else f[0] for a, f in zip(node.args, found))
        axes = tuple(None if f is None else f[1] for f in found)
        rule = batch_rule(OPS[node.op])
        if rule is None:
            raise NotImplementedError(f"vmap: the op {node.op!r} has no batching rule")
        with origin(node.origin):
            batched, axis = rule(node, args, axes)
        _check(node, batched, axis, size)  # type: ignore[arg-type]
        env[id(node)] = (batched, axis)
    return [env.get(id(o), (o, None)) for o in outputs]


def _check(node: Node, batched: Node, axis: int, size: int) -> None:
    """A batching rule must return the node's shape with the batch inserted at ``axis`` and
    the node's dtype (a bug otherwise): checked even under ``python -O``."""
    ok = isinstance(axis, int) and 0 <= axis <= node.ndim
    if ok:
        ok = batched.shape == node.shape[:axis] + (size,) + node.shape[axis:]
    if not ok or batched.dtype != node.dtype:
        raise RuntimeError(
            f"internal error: the batching rule of {node.op} returned {batched.type_str} with "
            f"its batch at axis {axis} for {node.type_str} and a batch of {size}"
        )


# -- vmap ---------------------------------------------------------------------------------------

_PLACEHOLDERS = itertools.count()


def placeholder(shape: tuple[int, ...], dtype: str) -> Node:
    """A fresh input standing for one entry of a batch while a function is traced (the batched
    graph replaces it: it never reaches a graph of the user's)."""
    return dsl.tensor(f"vmap_entry_{next(_PLACEHOLDERS)}", shape, dtype)


def _per_position(what: str, value: object, count: int, kind: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise ValueError(f"vmap: {what} has {len(value)} entries for {count} {kind}")
        return list(value)
    return [value] * count


def _axis(what: str, axis: object, ndim: int, shape: tuple[int, ...]) -> int | None:
    if axis is None:
        return None
    if not isinstance(axis, int) or isinstance(axis, bool):
        raise TypeError(f"vmap: {what} must be an int or None, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"vmap: {what} = {axis} is out of range for a value of shape {fmt(shape)}; "
            f"expected {-ndim} <= axis < {ndim}"
        )
    return axis % ndim


def vmap(fun: Callable[..., object], in_axes: object = 0, out_axes: object = 0):
    """``fun`` mapped over an axis of its arguments, as JAX's ``vmap``.

    ``fun`` takes and returns nodes (one, or a tuple or list of them). ``in_axes`` is an int
    (the axis of every argument to map over), None (an argument every entry shares) or a
    sequence with one of those per argument; ``out_axes`` likewise per output (where the batch
    goes). The mapped function traces ``fun`` once on one entry of each mapped argument and
    batches the traced graph by each op's batching rule: the result has the graph of one entry,
    not one copy per entry. Gradients inside ``fun`` work (per-example gradients:
    ``gc.vmap(lambda row: gc.grad(loss(row, w), w))(X)``), and so do nested ``vmap``\\ s.
    """
    if not callable(fun):
        raise TypeError(f"vmap: expected a function of nodes, got {fun!r}")

    @functools.wraps(fun)
    def mapped(*args: object):
        nodes = [dsl.as_node(a) for a in args]
        axes = [
            _axis(f"in_axes[{i}]", ax, n.ndim, n.shape)
            for i, (n, ax) in enumerate(
                zip(nodes, _per_position("in_axes", in_axes, len(nodes), "arguments"))
            )
        ]
        sizes = {n.shape[ax] for n, ax in zip(nodes, axes) if ax is not None}
        if not sizes:
            raise ValueError("vmap: no argument is mapped (every in_axes entry is None)")
        if len(sizes) > 1:
            shown = ", ".join(
                f"argument {i}: {fmt(n.shape)} at axis {ax}"
                for i, (n, ax) in enumerate(zip(nodes, axes))
                if ax is not None
            )
            raise ValueError(f"vmap: mapped axes have different sizes ({shown})")
        (size,) = sizes
        entries, sources = [], []
        for n, ax in zip(nodes, axes):
            if ax is None:
                entries.append(n)
            else:
                entry = placeholder(n.shape[:ax] + n.shape[ax + 1 :], n.dtype)
                entries.append(entry)
                sources.append((entry, n, ax))
        result = fun(*entries)
        single = not isinstance(result, (list, tuple))
        results: list | tuple = [result] if single else result  # type: ignore[assignment]
        outs = [dsl.as_node(r) for r in results]
        where = _per_position("out_axes", out_axes, len(outs), "outputs")
        final = []
        for i, ((value, axis), out_axis) in enumerate(zip(batch_nodes(outs, sources), where)):
            if out_axis is None:
                if axis is not None:
                    raise ValueError(
                        f"vmap: out_axes[{i}] is None but output {i} depends on a mapped argument"
                    )
                final.append(value)
                continue
            target = _axis(f"out_axes[{i}]", out_axis, value.ndim + (axis is None), value.shape)
            assert target is not None  # out_axis is not None here
            if axis is None:
                final.append(moveaxis(materialize(value, None, size), 0, target))
            else:
                final.append(moveaxis(value, axis, target))
        if single:
            return final[0]
        return type(result)(final)  # type: ignore[call-arg]

    return mapped
