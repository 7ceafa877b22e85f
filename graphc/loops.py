"""``gc.scan``: loops as one node, and their derivatives as loops.

``gc.scan(step, init, xs, length)`` has JAX's ``lax.scan`` signature: ``step(carry, x)`` returns
``(new_carry, y)``; the carry (a node or nested tuples/lists of nodes) keeps its shape and dtype
from step to step; ``x`` is one row of each stacked input; the ``y`` are stacked over the steps.
The step function is traced once into a body graph (:mod:`graphc.subgraph`: the nodes it closes
over become explicit arguments) held by one ``scan`` node (:mod:`graphc.ops.control`), whose
packed value the user's results are views of.

Derivatives (the ``scan`` record's rules call :func:`scan_vjp` and :func:`scan_jvp`):

- **jvp** is a scan over (carry, tangent): the body's jvp, traced from the body by forward mode,
  run over the primal and tangent carries together. Carries get a tangent only if one can reach
  them (a fixed point over the body's dependencies).
- **vjp** is a reverse scan whose body is one step's adjoint (the body re-run on a stored carry,
  then swept backwards: only carries are stored, never a step's intermediates), and whose carries
  are the carries' cotangents and, summed over the steps, the cotangents of the closed-over
  values. The carries it reads come from the forward scan run once more with ``store`` set; the
  ``merge_scans`` pass then lets that one run serve the value too.
- **checkpointing** (the node's ``checkpoint``): ``1`` stores every carry (memory ``T`` carries);
  ``k`` stores one carry in ``k`` and reverses segment by segment, each recomputed from its
  snapshot into a ``k``-carry buffer (memory ``T/k + k`` carries, one more forward pass): the
  segments are an outer reverse scan whose body holds a forward and a reverse scan of ``k`` steps.
  ``("binomial", s)`` keeps at most ``s`` carries and places them by Griewank's binomial schedule
  (``graphc.revolve``), the fewest recomputations for that memory.

Reverse scans (``reverse=True``) are differentiated as forward scans over their inputs flipped
(views), so every rule below handles the forward direction only.

Invariant: every scan built here has one dtype for its carries and per-step outputs (the packed
value's); :func:`normalize` casts a body to it (float32 and bool values travel as float64 when
mixed with float64 ones, exactly; integers cannot mix with floats).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from graphc import dsl, dtypes
from graphc.autodiff import forward_sweep, reverse_sweep
from graphc.graph import Graph, inline
from graphc.node import Attrs, Node
from graphc.ops.base import is_differentiable, make
from graphc.ops.control import layout_of
from graphc.shapes import fmt, size
from graphc.subgraph import (
    batched_placeholders,
    close_over,
    describe,
    flatten,
    placeholder,
    unflatten,
)

__all__ = ["scan", "scan_jvp", "scan_vjp"]


# -- the user's API -----------------------------------------------------------------------------


def scan(
    f: Callable,
    init: object,
    xs: object = None,
    length: int | None = None,
    *,
    reverse: bool = False,
    checkpoint: int | str | None = None,
    memory: int | None = None,
):
    """Loop ``step`` over ``length`` steps: ``(final_carry, ys) = gc.scan(step, init, xs)``.

    - ``step(carry, x) -> (new_carry, y)``: ``carry`` has ``init``'s structure (a node or nested
      tuples/lists of nodes); the new carry must have the same structure, shapes and dtypes.
      ``x`` is row ``t`` of each stacked input in ``xs`` (same structure), or None without xs.
      ``y`` is a node, nested tuples/lists of nodes, or None; each is stacked over the steps.
    - ``xs``: stacked inputs, each of shape ``(T, ...)``; ``length`` (required without ``xs``)
      must equal ``T`` when both are given. ``reverse=True`` runs ``t = T-1 .. 0``.
    - Nodes the step function uses from outside (weights ...) are computed once, outside the
      loop; their derivatives are summed over the steps.
    - ``checkpoint`` chooses what reverse mode stores: None every carry (memory ``T`` carries,
      fastest); ``k`` one carry in ``k`` (memory ``T/k + k`` carries, one extra forward pass);
      ``"binomial"`` (or giving only ``memory``) at most ``memory`` bytes of carries, placed
      by Griewank's binomial schedule (the fewest recomputations for that memory).

    Returns ``(final_carry, ys)``: ``ys`` None when ``step`` returns no ``y``.
    """
    if not callable(f):
        raise TypeError(f"scan: the step function must be callable, got {type(f).__name__}")
    if not isinstance(reverse, bool):
        raise TypeError(f"scan: reverse must be True or False, got {reverse!r}")
    carry_leaves, carry_tree = flatten(init)
    carries = [_as_node("the initial carry", leaf) for leaf in carry_leaves]
    x_leaves, x_tree = ([], None) if xs is None else flatten(xs)
    stacked = [_as_node("xs", leaf) for leaf in x_leaves]
    steps = _trip_count(stacked, length)
    carry_in = [placeholder(f"c{i}", c.shape, c.dtype) for i, c in enumerate(carries)]
    x_in = [placeholder(f"x{j}", x.shape[1:], x.dtype) for j, x in enumerate(stacked)]
    result = f(unflatten(carry_tree, carry_in), None if xs is None else unflatten(x_tree, x_in))
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise TypeError(
            "scan: the step function must return a pair (new_carry, y) (y may be None), got "
            f"{_kind(result)}"
        )
    new_carry, y = result
    new_leaves, new_tree = flatten(new_carry)
    if new_tree != carry_tree:
        raise TypeError(
            f"scan: the step function returns a carry of structure {describe(new_tree)}, but the "
            f"carry entering it has structure {describe(carry_tree)}; a carry keeps its structure"
        )
    carry_out = []
    for i, (leaf, before) in enumerate(zip(new_leaves, carry_in)):
        node = _as_node(f"carry {i} returned by the step function", leaf, before)
        if node.shape != before.shape or node.dtype != before.dtype:
            raise TypeError(
                f"scan: the step function returns carry {i} of shape {fmt(node.shape)} "
                f"({node.dtype}), but it enters with shape {fmt(before.shape)} ({before.dtype}); "
                "a scan's carry keeps its shape and dtype from step to step"
                + (" (cast it with gc.astype)" if node.shape == before.shape else "")
            )
        carry_out.append(node)
    y_leaves, y_tree = flatten(y)
    ys_out = [
        _as_node(f"output {k} of the step function", leaf)
        for k, leaf in enumerate(y_leaves)
        if leaf is not None
    ]
    closure = close_over([*carry_in, *x_in], [*carry_out, *ys_out])
    body, dtype = normalize(closure.graph, len(carries))
    policy = _policy(checkpoint, memory, carries, dtype, steps)
    node = make_scan(
        body,
        [dsl.astype(c, dtype) for c in carries],
        stacked,
        closure.closed,
        steps,
        reverse,
        checkpoint=policy,
    )
    finals = [dsl.astype(p, c.dtype) for p, c in zip(finals_of(node), carries)]
    per_step = iter(dsl.astype(p, y.dtype) for p, y in zip(ys_of(node), ys_out))
    ys = [None if leaf is None else next(per_step) for leaf in y_leaves]
    return unflatten(carry_tree, finals), unflatten(y_tree, ys)


def _kind(value: object) -> str:
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return f"a {type(value).__name__}"


def _as_node(what: str, value: object, like: Node | None = None) -> Node:
    try:
        return dsl.as_node(value, like)
    except TypeError as error:
        raise TypeError(f"scan: {what} must be a node, a number or an array: {error}") from None


def _trip_count(stacked: Sequence[Node], length: object) -> int:
    if length is not None and (not isinstance(length, int) or isinstance(length, bool)):
        raise TypeError(f"scan: length must be an int, got {length!r}")
    if length is not None and length < 0:
        raise ValueError(f"scan: length must be >= 0, got {length}")
    for k, x in enumerate(stacked):
        if x.ndim == 0:
            raise ValueError(
                f"scan: xs[{k}] is a scalar; each stacked input needs a leading axis of steps"
            )
    counts = {x.shape[0] for x in stacked}
    if len(counts) > 1:
        shapes = ", ".join(f"xs[{k}] has shape {fmt(x.shape)}" for k, x in enumerate(stacked))
        raise ValueError(
            f"scan: the stacked inputs disagree on the number of steps ({shapes}); their "
            "leading dimensions must be equal"
        )
    if counts:
        (steps,) = counts
        if length is not None and length != steps:
            raise ValueError(
                f"scan: length={length} but the stacked inputs have {steps} rows (shape "
                f"{fmt(stacked[0].shape)})"
            )
        return steps
    if length is None:
        raise ValueError("scan: give xs (stacked inputs) or length (the number of steps)")
    return length


def _policy(checkpoint, memory, carries: Sequence[Node], dtype: str, steps: int):
    """The ``checkpoint`` attribute: 1 (every carry), k, or ("binomial", slots)."""
    if memory is not None:
        if not isinstance(memory, int) or isinstance(memory, bool) or memory <= 0:
            raise ValueError(f"scan: memory must be a positive number of bytes, got {memory!r}")
        if checkpoint not in (None, "binomial"):
            raise ValueError(
                "scan: memory (a budget in bytes) goes with checkpoint='binomial', not with "
                f"checkpoint={checkpoint!r}"
            )
        carry_bytes = max(1, sum(c.size for c in carries)) * np.dtype(dtype).itemsize
        slots = memory // carry_bytes
        if slots < 1:
            raise ValueError(
                f"scan: a memory budget of {memory} bytes holds no carry ({carry_bytes} bytes "
                "each); give at least one carry's worth"
            )
        return ("binomial", int(slots))
    if checkpoint is None:
        return 1
    if checkpoint == "binomial":
        # No budget given: about sqrt(T) carries, which reverses any length with few repeats.
        return ("binomial", max(1, int(round(steps**0.5))))
    if isinstance(checkpoint, int) and not isinstance(checkpoint, bool) and checkpoint >= 1:
        return checkpoint
    raise ValueError(
        "scan: checkpoint must be None (store every carry), an int k >= 1 (one carry in k) or "
        f"'binomial' (with memory=bytes), got {checkpoint!r}"
    )


# -- building scans -----------------------------------------------------------------------------


def pack_dtype(types: Sequence[str], what: str = "scan") -> str:
    """The one dtype a scan's carries and per-step outputs travel in (see the module docstring)."""
    if not types:
        return dtypes.FLOAT64
    floats = [t for t in types if t in dtypes.FLOATS]
    if floats and dtypes.INT64 in types:
        raise TypeError(
            f"{what}: carries and per-step outputs mix integers with floats ({sorted(set(types))});"
            " a scan packs them in one array: cast the integers with gc.astype"
        )
    if floats:
        return dtypes.FLOAT64 if dtypes.FLOAT64 in floats else dtypes.FLOAT32
    return dtypes.INT64 if dtypes.INT64 in types else dtypes.BOOL


def normalize(body: Graph, n_carry: int) -> tuple[Graph, str]:
    """``body`` with its carries and per-step outputs in one dtype, and that dtype."""
    dtype = pack_dtype([o.dtype for o in body.outputs])
    if all(o.dtype == dtype for o in body.outputs) and all(
        i.dtype == dtype for i in body.inputs[:n_carry]
    ):
        return body, dtype
    carries = [placeholder(str(i.name), i.shape, dtype) for i in body.inputs[:n_carry]]
    args = [dsl.astype(c, i.dtype) for c, i in zip(carries, body.inputs)]
    outputs = inline(body, [*args, *body.inputs[n_carry:]])
    cast = [dsl.astype(o, dtype) for o in outputs]
    return Graph([*carries, *body.inputs[n_carry:]], cast), dtype


def make_scan(
    body: Graph,
    init: Sequence[Node],
    xs: Sequence[Node],
    closed: Sequence[Node],
    length: int,
    reverse: bool = False,
    store: int = 0,
    checkpoint: object = 1,
) -> Node:
    """The scan node (its type rule checks every argument against the body)."""
    attrs = Attrs(
        body=body,
        length=length,
        reverse=reverse,
        n_carry=len(init),
        n_xs=len(xs),
        store=store,
        checkpoint=checkpoint,
    )
    return make("scan", (*init, *xs, *closed), attrs)


def with_store(node: Node, store: int) -> Node:
    """The same scan, also storing the carry entering every ``store``-th step."""
    if node.attrs["store"] == store:
        return node
    return make("scan", node.args, Attrs({**node.attrs, "store": store}))


def _piece(packed: Node, offset: int, shape: tuple[int, ...]) -> Node:
    return dsl.reshape(dsl.slice(packed, [(offset, 1, size(shape))]), shape)


def finals_of(node: Node) -> list[Node]:
    """The final carries (in the scan's dtype), as views of its packed value."""
    return [_piece(node, o, s) for o, s in layout_of(node).finals]


def ys_of(node: Node) -> list[Node]:
    """The per-step outputs, stacked: ``(T, ...)`` each."""
    return [_piece(node, o, s) for o, s in layout_of(node).ys]


def snapshots_of(node: Node) -> list[Node]:
    """The stored carries, ``(ceil(T / store), ...)`` each, in processing order."""
    return [_piece(node, o, s) for o, s in layout_of(node).snapshots]


def _flip(x: Node) -> Node:
    """``x[::-1]``: a view."""
    if x.shape[0] <= 1:
        return x
    return dsl.slice(x, [(x.shape[0] - 1, -1, x.shape[0])] + [(0, 1, d) for d in x.shape[1:]])


def _rows(x: Node, start: int, stop: int) -> Node:
    return dsl.slice(x, [(start, 1, stop - start)] + [(0, 1, d) for d in x.shape[1:]])


def _zeros_like(x: Node) -> Node:
    return dsl.zeros(x.shape, x.dtype)


def _placeholders(prefix: str, types: Sequence[Node], start: int = 0) -> list[Node]:
    """Body inputs named ``prefix{start}, ...`` with the types of ``types``."""
    return [placeholder(f"{prefix}{start + k}", t.shape, t.dtype) for k, t in enumerate(types)]


# -- cotangents of a packed value ---------------------------------------------------------------


def _is_zero(node: Node) -> bool:
    source = node.args[0] if node.op == "broadcast_to" else node
    if source.op != "const":
        return False
    value = source.attrs["value"].splat
    return value is not None and not isinstance(value, bool) and value == 0


def _ct_piece(ct: Node, offset: int, shape: tuple[int, ...]) -> Node | None:
    """Elements ``offset .. offset + size(shape)`` of the 1-D cotangent ``ct``, shaped; None when
    they are zero by construction. Cotangents of a packed value are sums of zero-padded pieces
    (the vjp of a view is an ``unslice``), so this looks through them instead of slicing a sum of
    mostly zeros: a result nobody uses costs nothing in the reverse loop."""
    n = size(shape)
    while True:
        if _is_zero(ct):
            return None
        if ct.op == "unslice":
            ((start, step, count),) = ct.attrs["spec"]
            if step == 1 and start <= offset and offset + n <= start + count:
                ct, offset = ct.args[0], offset - start
                continue
            if step == 1 and (offset + n <= start or offset >= start + count):
                return None
        elif ct.op == "add" and ct.args[0].shape == ct.args[1].shape == ct.shape:
            parts = [_ct_piece(a, offset, shape) for a in ct.args]
            present = [p for p in parts if p is not None]
            if not present:
                return None
            return present[0] if len(present) == 1 else present[0] + present[1]
        elif ct.op == "concatenate":
            position = 0
            for arg in ct.args:
                if position <= offset and offset + n <= position + arg.shape[0]:
                    ct, offset = arg, offset - position
                    break
                position += arg.shape[0]
            else:
                break
            continue
        break
    if offset == 0 and ct.size == n:
        return dsl.reshape(ct.args[0] if ct.op == "reshape" else ct, shape)
    return _piece(ct, offset, shape)


# -- forward mode -------------------------------------------------------------------------------


def _dependencies(body: Graph) -> list[frozenset[int]]:
    """For each output of ``body``, the positions of the inputs it depends on."""
    deps: dict[Node, frozenset[int]] = {n: frozenset((k,)) for k, n in enumerate(body.inputs)}
    for node in body.nodes:
        if node not in deps:
            found: frozenset[int] = frozenset()
            for arg in node.args:
                found |= deps[arg]
            deps[node] = found
    return [deps[o] for o in body.outputs]


def scan_jvp(node: Node, tangents: Sequence[Node | None]) -> Node | None:
    """The tangent of a scan's packed value: one scan over (carry, tangent)."""
    if node.dtype not in dtypes.FLOATS:
        return None
    a = node.attrs
    body, n_c, n_x = a["body"], a["n_carry"], a["n_xs"]
    n_k = len(node.args) - n_c - n_x
    has = [t is not None and is_differentiable(arg) for t, arg in zip(tangents, node.args)]
    deps = _dependencies(body)
    # A carry has a tangent if its initial value has one, or if a step can give it one.
    while True:
        sources = {k for k, h in enumerate(has) if h}
        grown = [i for i in range(n_c) if not has[i] and deps[i] & sources]
        if not grown:
            break
        for i in grown:
            has[i] = True
    sources = {k for k, h in enumerate(has) if h}
    if not sources or not any(d & sources for d in deps):
        return None

    primal = list(body.inputs)
    groups = {
        "c": list(range(n_c)),
        "x": list(range(n_c, n_c + n_x)),
        "k": list(range(n_c + n_x, len(primal))),
    }
    # The jvp body's inputs: primal then tangent carries, primal then tangent rows, primal then
    # tangent closed-over values.
    inputs: dict[str, list[Node]] = {}
    tangent_of: dict[int, Node] = {}
    for prefix, positions in groups.items():
        with_tangent = [k for k in positions if has[k]]
        made = _placeholders(prefix, [primal[k] for k in positions + with_tangent])
        inputs[prefix] = made
        for k, ph in zip(with_tangent, made[len(positions) :]):
            tangent_of[k] = ph
    primal_args = inputs["c"][:n_c] + inputs["x"][:n_x] + inputs["k"][:n_k]
    outs = inline(body, primal_args)
    wrt = [primal_args[k] for k in sorted(tangent_of)]
    seeds = [tangent_of[k] for k in sorted(tangent_of)]
    out_tangents = forward_sweep(outs, wrt, seeds)
    carry_tangents = [
        (out_tangents[i] if out_tangents[i] is not None else _zeros_like(outs[i]))
        for i in range(n_c)
        if has[i]
    ]
    y_mask = [t is not None for t in out_tangents[n_c:]]
    y_tangents = [t for t in out_tangents[n_c:] if t is not None]
    jvp_body = Graph(
        [*inputs["c"], *inputs["x"], *inputs["k"]],
        [*outs[:n_c], *carry_tangents, *outs[n_c:], *y_tangents],
    )
    jvp_body, dtype = normalize(jvp_body, n_c + len(carry_tangents))
    init = list(node.args[:n_c])
    seed_of = {k: tangents[k] for k in range(len(node.args)) if has[k]}

    def seed(k: int) -> Node:
        t = seed_of[k]
        arg = node.args[k]
        return dsl.zeros(arg.shape, arg.dtype) if t is None else dsl.astype(t, arg.dtype)

    with_t = [k for k in range(len(node.args)) if has[k]]
    j = make_scan(
        jvp_body,
        [dsl.astype(x, dtype) for x in init + [seed(k) for k in with_t if k < n_c]],
        list(node.args[n_c : n_c + n_x]) + [seed(k) for k in with_t if n_c <= k < n_c + n_x],
        list(node.args[n_c + n_x :]) + [seed(k) for k in with_t if k >= n_c + n_x],
        a["length"],
        a["reverse"],
        a["store"],
        a["checkpoint"],
    )
    j_finals, j_ys, j_snaps = finals_of(j), ys_of(j), snapshots_of(j)
    layout = layout_of(node)
    carry_t = iter(j_finals[n_c:])
    snap_t = iter(j_snaps[n_c:])
    y_t = iter(j_ys[len(y_mask) :])
    pieces: list[Node] = []
    for i, (_, shape) in enumerate(layout.finals):
        pieces.append(next(carry_t) if has[i] else dsl.zeros(shape, node.dtype))
    for m, (_, shape) in zip(y_mask, layout.ys):
        pieces.append(next(y_t) if m else dsl.zeros(shape, node.dtype))
    for i, (_, shape) in enumerate(layout.snapshots):
        pieces.append(next(snap_t) if has[i] else dsl.zeros(shape, node.dtype))
    flat = [dsl.astype(dsl.reshape(p, (-1,)), node.dtype) for p in pieces if p.size]
    if not flat:
        return None
    return dsl.concatenate(flat) if len(flat) > 1 else flat[0]


# -- reverse mode -------------------------------------------------------------------------------


class _Adjoint:
    """One step's adjoint, as the body of a reverse scan.

    Carries: the cotangents of the forward carries, then the running sums of the cotangents of
    the differentiable closed-over values. Rows: the forward carry entering the step, the step's
    rows of every stacked input, then the rows of the per-step outputs' cotangents (those not
    zero), then those of the cotangents of stored carries (higher-order derivatives only).
    Closed-over: the forward scan's. Per-step outputs: the cotangents of the differentiable
    stacked inputs.
    """

    def __init__(self, node: Node, y_mask: Sequence[bool], traj_mask: Sequence[bool]):
        a = node.attrs
        body, n_c, n_x = a["body"], a["n_carry"], a["n_xs"]
        self.n_c, self.n_x = n_c, n_x
        inputs = list(body.inputs)
        carry_types, x_types, k_types = inputs[:n_c], inputs[n_c : n_c + n_x], inputs[n_c + n_x :]
        y_types = body.outputs[n_c:]
        self.k_diff = [k for k, t in enumerate(k_types) if is_differentiable(t)]
        self.x_diff = [k for k, t in enumerate(x_types) if is_differentiable(t)]
        self.y_mask, self.traj_mask = list(y_mask), list(traj_mask)
        carry_inputs = _placeholders("c", [*carry_types, *[k_types[k] for k in self.k_diff]])
        ct_carry, sums = carry_inputs[:n_c], carry_inputs[n_c:]
        row_types = [
            *carry_types,
            *x_types,
            *[t for t, m in zip(y_types, y_mask) if m],
            *[t for t, m in zip(carry_types, traj_mask) if m],
        ]
        row_inputs = iter(_placeholders("x", row_types))
        carry = [next(row_inputs) for _ in carry_types]
        rows = [next(row_inputs) for _ in x_types]
        ct_y = [next(row_inputs) for m in y_mask if m]
        ct_traj = list(row_inputs)
        closed = _placeholders("k", k_types)
        outs = inline(body, [*carry, *rows, *closed])
        swept_outputs = outs[:n_c] + [y for y, m in zip(outs[n_c:], y_mask) if m]
        wrt = carry + [rows[k] for k in self.x_diff] + [closed[k] for k in self.k_diff]
        cts = reverse_sweep(swept_outputs, [*ct_carry, *ct_y], wrt)
        ct_c, ct_x, ct_k = (
            cts[:n_c],
            cts[n_c : n_c + len(self.x_diff)],
            cts[n_c + len(self.x_diff) :],
        )
        traj_cts = iter(ct_traj)
        new_ct_carry = []
        for i, c in enumerate(ct_c):
            extra = next(traj_cts) if traj_mask[i] else None
            total = c if extra is None else (extra if c is None else c + extra)
            new_ct_carry.append(total if total is not None else _zeros_like(carry[i]))
        new_sums = [s if c is None else s + c for s, c in zip(sums, ct_k)]
        x_cts = [c if c is not None else _zeros_like(rows[k]) for k, c in zip(self.x_diff, ct_x)]
        graph = Graph(
            [*ct_carry, *sums, *carry, *rows, *ct_y, *ct_traj, *closed],
            [*new_ct_carry, *new_sums, *x_cts],
        )
        self.body, self.dtype = normalize(graph, n_c + len(sums))

    def run(
        self,
        length: int,
        traj: Sequence[Node],
        rows: Sequence[Node],
        ct_ys: Sequence[Node],
        ct_traj: Sequence[Node],
        ct_end: Sequence[Node],
        sums: Sequence[Node],
        closed: Sequence[Node],
    ) -> tuple[list[Node], list[Node], list[Node]]:
        """A reverse scan of ``length`` steps: (carry cotangents at the start, closed-over sums,
        stacked cotangents of the differentiable rows)."""
        dtype = self.dtype
        node = make_scan(
            self.body,
            [dsl.astype(c, dtype) for c in [*ct_end, *sums]],
            [*traj, *rows, *ct_ys, *ct_traj],
            closed,
            length,
            reverse=True,
        )
        return self.unpack(node, ct_end, sums, rows)

    def unpack(
        self, node: Node, ct_end: Sequence[Node], sums: Sequence[Node], rows: Sequence[Node]
    ) -> tuple[list[Node], list[Node], list[Node]]:
        """The results of a reverse loop over this body (a scan or a revolve node)."""
        finals, ys = finals_of(node), ys_of(node)
        ct_start = [dsl.astype(f, c.dtype) for f, c in zip(finals[: self.n_c], ct_end)]
        new_sums = [dsl.astype(f, s.dtype) for f, s in zip(finals[self.n_c :], sums)]
        x_cts = [dsl.astype(y, rows[k].dtype) for y, k in zip(ys, self.x_diff)]
        return ct_start, new_sums, x_cts


def scan_vjp(node: Node, ct: Node) -> tuple[Node | None, ...]:
    """Cotangents of a scan's arguments from the cotangent of its packed value."""
    a = node.attrs
    n_c, n_x, steps, store = a["n_carry"], a["n_xs"], a["length"], a["store"]
    args = node.args
    nothing: tuple[Node | None, ...] = (None,) * len(args)
    if node.dtype not in dtypes.FLOATS:
        return nothing
    layout = layout_of(node)
    ct_final = [_ct_piece(ct, o, s) for o, s in layout.finals]
    ct_ys = [_ct_piece(ct, o, s) for o, s in layout.ys]
    ct_snaps = [_ct_piece(ct, o, s) for o, s in layout.snapshots] or [None] * n_c
    if all(c is None for c in [*ct_final, *ct_ys, *ct_snaps]):
        return nothing
    init, xs, closed = args[:n_c], list(args[n_c : n_c + n_x]), list(args[n_c + n_x :])
    reverse = a["reverse"]
    # Work in processing order: a reverse scan is a forward scan over flipped rows.
    rows = [_flip(x) if reverse else x for x in xs]
    ct_rows = [None if c is None else (_flip(c) if reverse else c) for c in ct_ys]
    ct_traj = []
    for c in ct_snaps:
        if c is not None and store > 1:  # snapshot j is the carry entering step j * store
            spec = ((0, store, c.shape[0]), *((0, 1, d) for d in c.shape[1:]))
            c = dsl.unslice(c, spec, (steps, *c.shape[1:]))
        ct_traj.append(c)
    adjoint = _Adjoint(node, [c is not None for c in ct_rows], [c is not None for c in ct_traj])
    ct_end = [c if c is not None else _zeros_like(i) for c, i in zip(ct_final, init)]
    sums = [_zeros_like(closed[k]) for k in adjoint.k_diff]
    present_ys = [c for c in ct_rows if c is not None]
    present_traj = [c for c in ct_traj if c is not None]
    policy = a["checkpoint"]
    if isinstance(policy, tuple):
        from graphc.revolve import binomial_vjp

        ct_init, sums, x_cts = binomial_vjp(
            node, adjoint, rows, present_ys, present_traj, ct_end, sums, closed, policy[1]
        )
    elif policy == 1 or policy >= steps:
        traj = snapshots_of(with_store(node, 1))
        ct_init, sums, x_cts = adjoint.run(
            steps, traj, rows, present_ys, present_traj, ct_end, sums, closed
        )
    else:
        ct_init, sums, x_cts = _segments(
            node, adjoint, rows, present_ys, present_traj, ct_end, sums, closed, policy
        )
    result: list[Node | None] = list(ct_init)
    x_iter = iter(x_cts)
    for k in range(len(xs)):
        if k in adjoint.x_diff:
            c = next(x_iter)
            result.append(_flip(c) if reverse else c)
        else:
            result.append(None)
    sum_iter = iter(sums)
    for k in range(len(closed)):
        result.append(next(sum_iter) if k in adjoint.k_diff else None)
    return tuple(result)


def _segments(
    node: Node,
    adjoint: _Adjoint,
    rows: list[Node],
    ct_ys: list[Node],
    ct_traj: list[Node],
    ct_end: list[Node],
    sums: list[Node],
    closed: list[Node],
    k: int,
) -> tuple[list[Node], list[Node], list[Node]]:
    """Reverse mode storing one carry in ``k``: the steps split into ``T // k`` segments of
    ``k`` and a tail; each segment, in reverse order, is recomputed from its snapshot (a forward
    scan of ``k`` steps storing every carry) and then reversed (a reverse scan of ``k`` steps).
    The full segments are one outer reverse scan, so the graph does not grow with ``T``."""
    a = node.attrs
    steps, n_c = a["length"], a["n_carry"]
    body = a["body"]
    full, tail = divmod(steps, k)
    snaps = snapshots_of(with_store(node, k))
    x_parts: list[list[Node]] = [[], []]  # cotangents of the rows: [full segments, tail]

    def segment(length, start_carry, seg_rows, seg_cty, seg_ctt, end_ct, seg_sums, seg_closed):
        forward = make_scan(body, start_carry, seg_rows, seg_closed, length, store=1)
        traj = snapshots_of(forward)
        return adjoint.run(length, traj, seg_rows, seg_cty, seg_ctt, end_ct, seg_sums, seg_closed)

    if tail:
        start = full * k
        start_carry = [s[full] for s in snaps]
        ct_end, sums, tail_x = segment(
            tail,
            start_carry,
            [_rows(r, start, steps) for r in rows],
            [_rows(c, start, steps) for c in ct_ys],
            [_rows(c, start, steps) for c in ct_traj],
            ct_end,
            sums,
            closed,
        )
        x_parts[1] = tail_x
    if full:
        # The outer loop's body: one segment, traced over placeholders.
        def chunks(x: Node) -> Node:
            return dsl.reshape(_rows(x, 0, full * k), (full, k, *x.shape[1:]))

        seg_rows = [chunks(r) for r in rows]
        seg_cty = [chunks(c) for c in ct_ys]
        seg_ctt = [chunks(c) for c in ct_traj]
        starts = [_rows(s, 0, full) for s in snaps]
        carry_ph = _placeholders("c", [*ct_end, *sums])
        stacked = [*starts, *seg_rows, *seg_cty, *seg_ctt]
        x_ph = [placeholder(f"x{j}", s.shape[1:], s.dtype) for j, s in enumerate(stacked)]
        k_ph = _placeholders("k", closed)
        parts = iter(x_ph)
        ph_starts = [next(parts) for _ in starts]
        ph_rows = [next(parts) for _ in seg_rows]
        ph_cty = [next(parts) for _ in seg_cty]
        ph_ctt = [next(parts) for _ in seg_ctt]
        ct_start, new_sums, seg_x = segment(
            k, ph_starts, ph_rows, ph_cty, ph_ctt, carry_ph[:n_c], carry_ph[n_c:], k_ph
        )
        outer_body, dtype = normalize(
            Graph([*carry_ph, *x_ph, *k_ph], [*ct_start, *new_sums, *seg_x]), len(carry_ph)
        )
        outer = make_scan(
            outer_body,
            [dsl.astype(c, dtype) for c in [*ct_end, *sums]],
            stacked,
            closed,
            full,
            reverse=True,
        )
        finals, ys = finals_of(outer), ys_of(outer)
        ct_end = [dsl.astype(f, c.dtype) for f, c in zip(finals[:n_c], ct_end)]
        sums = [dsl.astype(f, s.dtype) for f, s in zip(finals[n_c:], sums)]
        x_parts[0] = [
            dsl.reshape(dsl.astype(y, x.dtype), (full * k, *y.shape[2:])) for y, x in zip(ys, seg_x)
        ]
    x_cts = []
    for j in range(len(adjoint.x_diff)):
        pieces = [p[j] for p in x_parts if p]
        x_cts.append(pieces[0] if len(pieces) == 1 else dsl.concatenate(pieces))
    return ct_end, sums, x_cts


# -- batching (gc.vmap, and the batched sweeps of Jacobians and Hessians) -------------------------


def batched_carries(body: Graph, n_carry: int, batched: list[bool]) -> list[bool]:
    """``batched`` (one flag per body input) with the carries a step makes batched: a carry is
    batched if it starts batched or its update depends on a batched input (a fixed point)."""
    deps = _dependencies(body)
    batched = list(batched)
    while True:
        sources = {k for k, b in enumerate(batched) if b}
        grown = [i for i in range(n_carry) if not batched[i] and deps[i] & sources]
        if not grown:
            return batched
        for i in grown:
            batched[i] = True


def batch_body(body: Graph, n_carry: int, batched: list[bool], size_b: int):
    """The body for a batch: batched inputs and carries with the batch first. Returns the body
    and, per per-step output, whether it is batched."""
    from graphc.batching import batch_nodes, materialize, moveaxis

    inputs, sources = batched_placeholders(body.inputs, batched, size_b)
    results = batch_nodes(body.outputs, sources)
    outputs = []
    for i, (out, axis) in enumerate(results):
        if i < n_carry:
            outputs.append(materialize(out, axis, size_b) if batched[i] else out)
        else:
            outputs.append(out if axis is None else moveaxis(out, axis, 0))
    return Graph(inputs, outputs), [axis is not None for _, axis in results[n_carry:]]


def batch_arguments(args, axes, batched, stacked: range, size_b: int) -> tuple[Node, ...]:
    """Arguments with the batch first (stacked inputs: second, after the steps)."""
    from graphc.batching import materialize, moveaxis

    new = []
    for k, (arg, axis) in enumerate(zip(args, axes)):
        if not batched[k]:
            new.append(arg)
        elif k in stacked:
            new.append(moveaxis(arg, axis, 1))
        else:
            new.append(materialize(arg, axis, size_b))
    return tuple(new)


def stack_results(node: Node, new: Node, carries_batched, ys_batched, size_b: int) -> Node:
    """The batched loop ``new``'s results as the entries' packed values stacked: ``(B, N)``."""
    from graphc.batching import moveaxis

    layout = layout_of(node)

    def rows(piece: Node, is_batched: bool, batch_axis: int, count: int) -> Node:
        if is_batched:
            return dsl.reshape(moveaxis(piece, batch_axis, 0), (size_b, count))
        return dsl.broadcast_to(dsl.reshape(piece, (1, count)), (size_b, count))

    pieces = []
    for f, b, (_, shape) in zip(finals_of(new), carries_batched, layout.finals):
        pieces.append(rows(f, b, 0, size(shape)))
    for y, b, (_, shape) in zip(ys_of(new), ys_batched, layout.ys):
        pieces.append(rows(y, b, 1, size(shape)))
    for s, b, (_, shape) in zip(snapshots_of(new), carries_batched, layout.snapshots):
        pieces.append(rows(s, b, 1, size(shape)))
    if not pieces:
        return dsl.zeros((size_b, 0), node.dtype)
    return dsl.concatenate(pieces, axis=1) if len(pieces) > 1 else pieces[0]


def scan_batch(node: Node, args: tuple[Node, ...], axes: tuple[int | None, ...]):
    """A scan for every entry of a batch at once: one scan whose body is the batched body.

    Batched carries and closed-over values carry the batch first, stacked inputs second (after
    the steps); a carry is batched if its initial value is or if a step makes it depend on a
    batched value (a fixed point, as for tangents). The packed value of the batched scan has
    another layout than a stack of the entries' packed values, so the result is assembled from
    its pieces (one copy): ``(B, N)``, batch first.
    """
    from graphc.batching import batch_size

    a = node.attrs
    body, n_c, n_x = a["body"], a["n_carry"], a["n_xs"]
    size_b = batch_size(args, axes)
    batched = batched_carries(body, n_c, [axis is not None for axis in axes])
    new_args = batch_arguments(args, axes, batched, range(n_c, n_c + n_x), size_b)
    new_body, ys_batched = batch_body(body, n_c, batched, size_b)
    new = make("scan", new_args, Attrs({**a, "body": new_body}))
    return stack_results(node, new, batched[:n_c], ys_batched, size_b), 0
