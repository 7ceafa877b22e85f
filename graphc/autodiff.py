"""Automatic differentiation as graph-to-graph transforms.

- Reverse mode (:func:`vjp`, :func:`grad`): one sweep over the reversed topological order of the
  outputs' graph, a cotangent per node accumulated with ``+``, each op's ``vjp`` rule building
  graph nodes. Only floating-point nodes that depend on a ``wrt`` node (through floating-point
  nodes) receive cotangents, so nothing is differentiated with respect to constants.
- Forward mode (:func:`jvp`): one sweep in topological order with each op's ``jvp`` rule.
- :func:`jacobian` (either mode), :func:`hessian` (forward over reverse) and :func:`hvp`
  (Pearlmutter's Hessian-vector product) are compositions of the two. A Jacobian is one sweep
  whose tangents (or cotangents) carry a batch axis: the sweep is traced once with one seed and
  batched over the unit vectors by ``graphc.batching`` (:func:`batched_jvp`,
  :func:`batched_vjp`), so its graph does not grow with the number of columns.

Every result is an ordinary node in the same graph world as its inputs, so results can be
printed, optimized, compiled and differentiated again. Each call creates fresh nodes and keeps
its cotangents in a map local to the call, so nested differentiations cannot confuse their
perturbations.

This module owns the only two sweep drivers of the library. :func:`reverse_sweep` and
:func:`forward_sweep` take an optional observer, called for every tangent a rule builds and for
every contribution accumulated into a cotangent; ``gc.trace`` prints its tables from those calls
rather than sweeping itself. Observers watch, they do not steer: the sweep builds the same nodes
with or without one, and without one it pays a single ``is None`` test per step.

Invariants: a derivative rule's result has the shape of what it differentiates (checked even
under ``python -O``); unused *inputs* get zero derivatives, but differentiating with respect to
any other node that the outputs do not contain raises (an equal expression built twice is two
nodes, and its derivative would silently be zero).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from graphc import dsl
from graphc.batching import vmap
from graphc.dtypes import FLOATS
from graphc.graph import topological_order
from graphc.node import Node, origin
from graphc.ops.base import OPS, is_differentiable
from graphc.shapes import fmt

NodeOrList = Node | Sequence[Node]
# observe(node, tangent): the tangent a jvp rule built for ``node`` (None: the rule gives zero).
TangentObserver = Callable[[Node, "Node | None"], None]
# observe(node, user, contribution, total): ``contribution`` was added to ``node``'s cotangent by
# ``user``'s vjp rule (``user`` is None for an output's seed); ``total`` is the cotangent now.
CotangentObserver = Callable[[Node, "Node | None", Node, Node], None]


def _as_list(value: object) -> tuple[list, bool]:
    if isinstance(value, (list, tuple)):
        return list(value), False
    return [value], True


def _seed(what: str, value: object, like: Node) -> Node:
    """A cotangent or tangent for ``like``: a node or an array of its shape, in its dtype."""
    node = dsl.as_node(value, like)
    if node.shape != like.shape:
        raise ValueError(
            f"{what}: a seed of shape {fmt(node.shape)} was given for a value of shape "
            f"{fmt(like.shape)}; they must match"
        )
    dtype = like.dtype if is_differentiable(like) else "float64"
    return dsl.astype(node, dtype)


def depends_on(order: Sequence[Node], sources: Sequence[Node]) -> set[int]:
    """Ids of the nodes in ``order`` that are one of ``sources`` or depend on one through
    floating-point nodes: no rule sends a cotangent to an integer or boolean value, so a node
    reached only through one (``x > 0``, ``astype(x, int)``) would only collect dead work."""
    found = {id(s) for s in sources}
    for node in order:
        if id(node) not in found and any(id(a) in found for a in node.args):
            if node.dtype in FLOATS:  # tested last: only for the nodes that depend
                found.add(id(node))
    return found


def _check_rule(node: Node, rule: str, result: Node, like: Node) -> None:
    """A derivative rule must return the shape of what it differentiates (a bug otherwise);
    checked even under ``python -O``, since a wrong shape would only fail much later."""
    if result.shape != like.shape:
        raise RuntimeError(
            f"internal error: the {rule} rule of {node.op} returned shape {result.shape} for a "
            f"value of shape {like.shape}"
        )


def _zeros_like(node: Node) -> Node:
    return dsl.zeros(node.shape, node.dtype if is_differentiable(node) else "float64")


def reverse_sweep(
    outputs: Sequence[Node],
    cts: Sequence[Node],
    wrt: Sequence[Node],
    order: Sequence[Node] | None = None,
    observe: CotangentObserver | None = None,
) -> list:
    """Cotangents of ``wrt`` (None where zero) given cotangents ``cts`` of ``outputs``.

    ``order`` is a topological order of the nodes to sweep (default: the outputs' graph); a
    caller that has one passes it to avoid a second walk, or to choose the order of ties.
    ``observe`` is told of every accumulation (see :data:`CotangentObserver`).
    """
    order = topological_order(outputs) if order is None else order
    relevant = depends_on(order, wrt)
    wrt_ids = {id(w) for w in wrt}
    ct: dict[int, Node] = {}

    def accumulate(node: Node, value: Node, user: Node | None) -> None:
        total = ct.get(id(node))
        if total is None:
            total = value
        else:
            with origin("adjoint"):
                total = _add_cotangents(total, value)
        ct[id(node)] = total
        if observe is not None:
            observe(node, user, value, total)

    for out, seed in zip(outputs, cts):
        if id(out) in relevant:
            accumulate(out, seed, None)
    for node in reversed(order):
        node_ct = ct.get(id(node))
        if node_ct is None or not node.args:
            continue
        needed = [id(a) in relevant for a in node.args]
        if not any(needed):
            continue
        rule = OPS[node.op].vjp
        if rule is None:
            continue
        with origin("adjoint"):
            arg_cts = rule(node, node_ct)
        for arg, arg_ct, need in zip(node.args, arg_cts, needed):
            if need and arg_ct is not None:
                _check_rule(node, "vjp", arg_ct, arg)
                accumulate(arg, arg_ct, node)
        if id(node) not in wrt_ids:
            del ct[id(node)]  # no longer needed: keeps the map small on long chains
    return [ct.get(id(w)) for w in wrt]


def _add_cotangents(total: Node, value: Node) -> Node:
    """``total + value``, except that cotangents of adjacent blocks of one array (the slices
    ``x[k]`` of a model's K blocks) are joined into one block: ``unslice(a) + unslice(b)``
    becomes ``unslice(concatenate([a, b]))``. The sum would read and write the whole array
    once per block (K^2 work for K blocks); the join writes each element once. Both are the
    derivative; they differ only where a block's cotangent is -0.0, which the sum turns into
    +0.0 (``-0.0 + 0.0``) and the join keeps.
    """
    joined = _join_blocks(total, value)
    return joined if joined is not None else total + value


def _join_blocks(a: Node, b: Node) -> Node | None:
    if a.op != "unslice" or b.op != "unslice" or a.shape != b.shape or a.dtype != b.dtype:
        return None
    spec_a, spec_b = a.attrs["spec"], b.attrs["spec"]
    differ = [i for i, (x, y) in enumerate(zip(spec_a, spec_b)) if x != y]
    if len(differ) != 1:
        return None
    (axis,) = differ
    (start_a, step_a, count_a), (start_b, step_b, count_b) = spec_a[axis], spec_b[axis]
    if step_a != 1 or step_b != 1:
        return None
    if start_a + count_a == start_b:
        first, second, start = a, b, start_a
    elif start_b + count_b == start_a:
        first, second, start = b, a, start_b
    else:
        return None

    def pieces(block: Node) -> list[Node]:
        inner = block.args[0]
        if inner.op == "concatenate" and inner.attrs["axis"] == axis:
            return list(inner.args)
        return [inner]

    spec = list(spec_a)
    spec[axis] = (start, 1, count_a + count_b)
    joined = dsl.concatenate([*pieces(first), *pieces(second)], axis)
    return dsl.unslice(joined, tuple(spec), a.shape)


def _require_contained(
    what: str, order: Sequence[Node], wrt: Sequence[Node], suspects: Sequence[Node]
) -> None:
    """Raise if one of ``suspects`` (``wrt`` nodes with a zero derivative) is not an input and
    is not in ``order``. Inputs may be unused (their derivative is zero); any other node that
    the outputs do not contain is almost always an equal expression built a second time."""
    suspects = [w for w in suspects if w.op != "input"]
    if not suspects:
        return
    present = {id(n) for n in order}
    for w in suspects:
        if id(w) not in present:
            position = next(i for i, v in enumerate(wrt) if v is w)
            which = f" (position {position} of {len(wrt)})" if len(wrt) > 1 else ""
            raise ValueError(
                f"{what}: cannot differentiate with respect to a {w.op} node of type "
                f"{w.type_str}{which} that the differentiated value does not contain: its "
                "derivative would silently be zero. An equal expression built a second time is "
                "a different node; differentiate with respect to the very node object used to "
                "build the value, or with respect to an input"
            )


def vjp(outputs: NodeOrList, wrt: NodeOrList, cotangents: object) -> NodeOrList:
    """Vector-Jacobian product: ``sum_k cotangent_k . d output_k / d wrt`` for each ``wrt``.

    ``outputs`` and ``cotangents`` are a node and a seed, or lists of equal length (a seed is a
    node, an array or a number of the output's shape). Returns a node per ``wrt`` (a list if
    ``wrt`` is a list), of the ``wrt`` node's shape; zeros where there is no dependence. A
    ``wrt`` node that is not an input must be one the outputs contain (else ValueError).
    """
    return _vjp("vjp", outputs, wrt, cotangents)


def _check_wrt(what: str, wrts: Sequence[object]) -> None:
    """Derivatives are taken with respect to nodes only (not numbers or arrays)."""
    for w in wrts:
        if not isinstance(w, Node):
            raise TypeError(f"{what}: can only differentiate with respect to nodes, got {w!r}")


def _vjp(
    what: str, outputs: NodeOrList, wrt: NodeOrList, cotangents: object, strict: bool = True
) -> NodeOrList:
    """:func:`vjp`, with errors naming ``what``; ``strict=False`` skips the containment check
    (for compositions whose outputs may legitimately have lost the node, as a derivative of a
    linear function no longer contains its variable)."""
    outs, _ = _as_list(outputs)
    seeds, _ = _as_list(cotangents)
    wrts, single = _as_list(wrt)
    if len(seeds) != len(outs):
        raise ValueError(f"{what}: {len(outs)} outputs but {len(seeds)} cotangents")
    outs = [dsl.as_node(o) for o in outs]
    _check_wrt(what, wrts)
    seeds = [_seed(what, s, o) for s, o in zip(seeds, outs)]
    order = topological_order(outs)
    cts = reverse_sweep(outs, seeds, wrts, order)
    if strict:
        _require_contained(what, order, wrts, [w for w, c in zip(wrts, cts) if c is None])
    result = [c if c is not None else _zeros_like(w) for c, w in zip(cts, wrts)]
    return result[0] if single else result


def grad(y: Node, wrt: NodeOrList) -> NodeOrList:
    """Gradient of the scalar ``y`` with respect to a node (returns a node of its shape) or a
    list of nodes (returns a list). Integer and boolean ``wrt`` get zero gradients, and so do
    inputs ``y`` does not use; any other node must be one ``y`` contains (else ValueError)."""
    return _grad("grad", y, wrt)


def _grad(what: str, y: Node, wrt: NodeOrList) -> NodeOrList:
    y = dsl.as_node(y)
    if y.shape != ():
        raise ValueError(
            f"{what}: the differentiated value must be a scalar, got shape {fmt(y.shape)}; use "
            "gc.vjp(y, wrt, cotangent) or gc.jacobian(y, wrt) for non-scalar values"
        )
    if not is_differentiable(y):
        raise TypeError(f"{what}: cannot differentiate a value of dtype {y.dtype}")
    return _vjp(what, y, wrt, 1.0)


def forward_sweep(
    outputs: Sequence[Node],
    wrt: Sequence[Node],
    tangents: Sequence[Node],
    order: Sequence[Node] | None = None,
    observe: TangentObserver | None = None,
) -> list:
    """Tangents of ``outputs`` (None where zero) given tangents of ``wrt``; ``order`` as for
    :func:`reverse_sweep`. ``observe`` is told of every node whose arguments carry a tangent, and
    what its jvp rule built (see :data:`TangentObserver`)."""
    order = topological_order(outputs) if order is None else order
    # Integer and boolean inputs are not differentiable: their tangents are zero, as their
    # cotangents are in reverse mode (otherwise `k.astype(float)` would carry k's tangent on).
    tangent: dict[int, Node] = {id(w): t for w, t in zip(wrt, tangents) if is_differentiable(w)}
    for node in order:
        if id(node) in tangent or not node.args:
            continue
        arg_tangents = tuple(tangent.get(id(a)) for a in node.args)
        if all(t is None for t in arg_tangents):
            continue
        rule = OPS[node.op].jvp
        with origin("tangent"):
            result = rule(node, arg_tangents) if rule is not None else None
        if result is not None:
            _check_rule(node, "jvp", result, node)
            tangent[id(node)] = result
        if observe is not None:
            observe(node, result)
    return [tangent.get(id(o)) for o in outputs]


def jvp(outputs: NodeOrList, wrt: NodeOrList, tangents: object) -> NodeOrList:
    """Jacobian-vector product (forward mode): ``sum_j d output / d wrt_j . tangent_j``.

    Returns one node per output (a list if ``outputs`` is a list), of the output's shape. A
    ``wrt`` node that is not an input must be one the outputs contain (else ValueError).
    """
    return _jvp("jvp", outputs, wrt, tangents)


def _jvp(
    what: str, outputs: NodeOrList, wrt: NodeOrList, tangents: object, strict: bool = True
) -> NodeOrList:
    """:func:`jvp`, with errors naming ``what``; ``strict`` as for :func:`_vjp`."""
    outs, single = _as_list(outputs)
    wrts, _ = _as_list(wrt)
    seeds, _ = _as_list(tangents)
    if len(seeds) != len(wrts):
        raise ValueError(f"{what}: {len(wrts)} inputs but {len(seeds)} tangents")
    outs = [dsl.as_node(o) for o in outs]
    _check_wrt(what, wrts)
    seeds = [_seed(what, s, w) for s, w in zip(seeds, wrts)]
    order = topological_order(outs)
    if strict:
        _require_contained(what, order, wrts, wrts)
    result = forward_sweep(outs, wrts, seeds, order)
    result = [t if t is not None else _zeros_like(o) for t, o in zip(result, outs)]
    return result[0] if single else result


def _identity(n: int, shape: tuple[int, ...], dtype: str) -> Node:
    """The ``n`` unit arrays of ``shape`` (``n`` elements) stacked along a new first axis: the
    identity matrix, built as ones written with a stride of ``n + 1`` into zeros (no stored
    array; constant folding leaves it alone, as it is larger than its payload)."""
    if n == 1:
        return dsl.ones((1,) + shape, dtype)
    diagonal = dsl.unslice(dsl.ones((n,), dtype), ((0, n + 1, n),), (n * n,))
    return dsl.reshape(diagonal, (n,) + shape)


def jacobian(y: Node, x: NodeOrList, mode: str = "auto") -> NodeOrList:
    """The Jacobian of ``y`` with respect to ``x``, of shape ``y.shape + x.shape``.

    ``mode="fwd"`` is one jvp sweep whose tangent carries a batch of the ``x.size`` unit
    vectors, ``"rev"`` one vjp sweep with a batch of the ``y.size`` unit cotangents (each sweep
    traced once and batched by ``graphc.batching``, so the graph does not grow with the number
    of columns or rows); ``"auto"`` picks forward mode when ``x`` has fewer elements than ``y``.
    """
    return _jacobian("jacobian", y, x, mode)


def _jacobian(what: str, y: Node, x: NodeOrList, mode: str, strict: bool = True) -> NodeOrList:
    xs, single = _as_list(x)
    y = dsl.as_node(y)
    if mode not in ("auto", "fwd", "rev"):
        raise ValueError(f"{what}: mode must be 'auto', 'fwd' or 'rev', got {mode!r}")
    _check_wrt(what, xs)
    if strict:  # once here, not once per sweep
        _require_contained(what, topological_order([y]), xs, xs)
    dtype = y.dtype if is_differentiable(y) else "float64"
    results = []
    for xi in xs:
        chosen = mode if mode != "auto" else ("fwd" if xi.size < y.size else "rev")
        if xi.size == 0 or y.size == 0:
            results.append(dsl.zeros(y.shape + xi.shape, dtype))
        elif chosen == "fwd":
            # The batch last: column j of the Jacobian is the tangent of the j-th unit vector,
            # so y.shape + (n,) is already the Jacobian's layout (the identity is symmetric,
            # so it is its own seed array with the batch last).
            seeds = _identity(xi.size, xi.shape, xi.dtype if is_differentiable(xi) else "float64")
            seeds = dsl.reshape(seeds, xi.shape + (xi.size,))
            columns = batched_jvp(what, y, xi, seeds, axis=-1)
            results.append(dsl.reshape(columns, y.shape + xi.shape))
        else:
            rows = batched_vjp(what, y, xi, _identity(y.size, y.shape, dtype))
            results.append(dsl.reshape(rows, y.shape + xi.shape))
    return results[0] if single else results


def batched_jvp(what: str, y: Node, x: Node, seeds: Node, axis: int = 0) -> Node:
    """The jvps of ``y`` along each seed in ``seeds`` (``x``'s shape with the batch of seeds
    at ``axis``), batched at the same axis of the result (0: first, -1: last): one forward
    sweep traced with one tangent and batched over the seeds."""
    tangents = vmap(lambda t: _jvp(what, y, x, t, strict=False), in_axes=axis, out_axes=axis)
    return tangents(seeds)


def batched_vjp(what: str, y: Node, x: Node, seeds: Node, axis: int = 0) -> Node:
    """The vjps of ``y`` for each seed in ``seeds`` (``y``'s shape with the batch of seeds at
    ``axis``), batched at the same axis of the result: one reverse sweep traced with one
    cotangent and batched over the seeds."""
    cotangents = vmap(lambda c: _vjp(what, y, x, c, strict=False), in_axes=axis, out_axes=axis)
    return cotangents(seeds)


def hessian(f: Node, x: Node) -> Node:
    """The Hessian of the scalar ``f``: forward-mode Jacobian of the reverse-mode gradient.

    Only ``f`` must contain ``x``: its gradient may not (a linear ``f`` has a constant one),
    and then the Hessian is zero."""
    gradient = _grad("hessian", f, x)
    return _jacobian("hessian", gradient, x, "fwd", strict=False)  # type: ignore[arg-type, return-value]


def hvp(f: Node, x: Node, v: object) -> Node:
    """Hessian-vector product ``H v`` in O(n), without forming H (forward over reverse)."""
    gradient = _grad("hvp", f, x)
    return _jvp("hvp", gradient, x, v, strict=False)  # type: ignore[return-value]
