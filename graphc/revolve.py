"""Binomial checkpointing (Griewank's *revolve*): reverse mode through a loop of ``T`` steps
keeping at most ``s`` carries, recomputing the fewest steps.

**The schedule.** Reversing steps ``l .. l+n-1`` needs the carry entering each of them, in
reverse order. Holding the carry entering step ``l`` in slot ``k`` with ``s`` slots from ``k``
on: one step is reversed at once (a *turn*: the step's adjoint, which re-runs the step itself);
with one slot, step ``l+i`` is reached by advancing ``i`` steps from the slot, for ``i = n-1 ..
1``; otherwise advance ``m`` steps, store that carry in slot ``k+1``, reverse ``l+m ..`` with the
``s-1`` slots from ``k+1``, then ``l .. l+m-1`` with the ``s`` slots from ``k``. With ``r``
forward evaluations allowed per step, at most ``beta(s, r) = C(s + r, s)`` steps can be reversed
(``beta(s, r) = beta(s, r-1) + beta(s-1, r)``: the left part is advanced once more, the right
part has a slot less), so ``r`` is the smallest with ``beta(s, r) >= n`` and the split
``m = max(1, n - beta(s-1, r))`` keeps both parts within their budgets: no step is evaluated
more than ``r`` times, the optimum for ``s`` slots (Griewank and Walther, ACM TOMS 2000).
With ``s`` slots and ``r`` repetitions, ``T = C(s + r, s)``: 10 slots and 3 repetitions reverse
286 steps, 30 slots and 4 repetitions 46,376.

The right parts nest (each takes a slot), the left parts do not: :func:`actions` runs the
schedule as a loop with a stack of ``s`` pending left parts, no recursion, and the native code
(:mod:`graphc.jit.revolve`) runs the very same loop.

**The op.** ``revolve`` is a reverse scan of the adjoint body whose carry trajectory is
recomputed by the forward body on this schedule instead of being read from memory. Its
arguments: the forward initial carries, the adjoint's initial carries, the adjoint's stacked
inputs other than the trajectory (the forward's rows first), the closed-over values (shared);
its value is packed as the adjoint scan's. Its derivatives are those of the equivalent pair of
scans (a forward scan storing every carry, then the reverse scan): higher-order derivatives go
through it without the memory saving.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from graphc import dsl
from graphc.graph import Graph, topological_order
from graphc.node import Attrs, Node
from graphc.ops.base import make

# -- the schedule -------------------------------------------------------------------------------


def repetitions(n: int, slots: int) -> int:
    """The fewest forward evaluations per step that reverse ``n`` steps with ``slots`` slots:
    the smallest ``r`` with ``C(slots + r, slots) >= n``."""
    r, beta = 0, 1
    while beta < n:
        r += 1
        beta = beta * (slots + r) // r
    return r


def beta(slots: int, r: int) -> int:
    """``C(slots + r, r)``: the most steps ``slots`` slots reverse with ``r`` repetitions."""
    value = 1
    for j in range(1, r + 1):
        value = value * (slots + j) // j
    return value


def split(n: int, slots: int) -> int:
    """Where to take the next snapshot when reversing ``n >= 2`` steps with ``slots >= 2``."""
    r = repetitions(n, slots)
    return max(1, n - beta(slots - 1, r))


def actions(steps: int, slots: int) -> Iterator[tuple]:
    """The schedule: ``("advance", from_slot, step, count, to)`` (``to`` a slot, or ``None``
    for the work carry), and ``("turn", step, slot)`` (``slot`` None: the work carry), in order.
    The carry entering step 0 is in slot 0 to begin with."""
    if steps <= 0:
        return
    pending: list[tuple[int, int]] = [(0, 0)] * slots
    k, start, n = 0, 0, steps
    while True:
        s = slots - k
        while n > 1 and s > 1:
            m = split(n, s)
            yield ("advance", k, start, m, k + 1)
            pending[k] = (start, m)
            start, n, k, s = start + m, n - m, k + 1, s - 1
        for i in range(n - 1, 0, -1):  # one slot (or one step) left: advance from it each time
            yield ("advance", k, start, i, None)
            yield ("turn", start + i, None)
        yield ("turn", start, k)
        if k == 0:
            return
        k -= 1
        start, n = pending[k]


# -- the op ---------------------------------------------------------------------------------------


def carry_only(body: Graph, n_carry: int) -> Graph:
    """The forward body without its per-step outputs (advancing never needs them)."""
    if len(body.outputs) == n_carry:
        return body
    return Graph(list(body.inputs), list(body.outputs[:n_carry]))


def make_revolve(
    forward: Graph,
    adjoint: Graph,
    init: Sequence[Node],
    adjoint_init: Sequence[Node],
    adjoint_rows: Sequence[Node],
    closed: Sequence[Node],
    length: int,
    slots: int,
) -> Node:
    attrs = Attrs(
        forward=forward,
        adjoint=adjoint,
        length=length,
        slots=slots,
        n_carry=len(init),
        n_adjoint_carry=len(adjoint_init),
        n_rows=len(adjoint_rows),
    )
    return make("revolve", (*init, *adjoint_init, *adjoint_rows, *closed), attrs)


def parts(node: Node) -> tuple[list[Node], list[Node], list[Node], list[Node]]:
    """A revolve node's arguments: forward initial carries, adjoint initial carries, adjoint
    rows (the forward's rows first), closed-over values."""
    a = node.attrs
    n_c, n_r, n_rows = a["n_carry"], a["n_adjoint_carry"], a["n_rows"]
    args = list(node.args)
    return (
        args[:n_c],
        args[n_c : n_c + n_r],
        args[n_c + n_r : n_c + n_r + n_rows],
        args[n_c + n_r + n_rows :],
    )


def equivalent(node: Node) -> Node:
    """The same value from two scans: forward storing every carry, then the reverse scan."""
    from graphc.loops import make_scan, snapshots_of

    a = node.attrs
    init, adjoint_init, rows, closed = parts(node)
    forward_rows = rows[: len(a["forward"].inputs) - len(init) - len(closed)]
    forward = make_scan(a["forward"], init, forward_rows, closed, a["length"], store=1)
    traj = snapshots_of(forward)
    return make_scan(a["adjoint"], adjoint_init, [*traj, *rows], closed, a["length"], reverse=True)


def evaluate_revolve(node: Node, *arrays: np.ndarray) -> np.ndarray:
    """The value, computed on the binomial schedule (at most ``slots`` carries kept)."""
    from graphc.evaluate import runner
    from graphc.ops.control import layout_of
    from graphc.shapes import size

    a = node.attrs
    n_c, n_r, n_rows = a["n_carry"], a["n_adjoint_carry"], a["n_rows"]
    steps = a["length"]
    forward, adjoint = runner(a["forward"]), runner(a["adjoint"])
    n_fx = len(a["forward"].inputs) - n_c - (len(arrays) - n_c - n_r - n_rows)
    init = list(arrays[:n_c])
    carries = list(arrays[n_c : n_c + n_r])
    rows = arrays[n_c + n_r : n_c + n_r + n_rows]
    closed = list(arrays[n_c + n_r + n_rows :])
    layout = layout_of(node)
    out = np.empty(layout.size, dtype=node.dtype)
    slots: list[list[np.ndarray] | None] = [None] * a["slots"]
    slots[0] = init
    work: list[np.ndarray] = init

    def advance(carry, start, count):
        for t in range(start, start + count):
            carry = forward([*carry, *[r[t] for r in rows[:n_fx]], *closed])
        return carry

    with np.errstate(all="ignore"):
        for action in actions(steps, a["slots"]):
            if action[0] == "advance":
                _, k, start, count, to = action
                result = advance(slots[k], start, count)
                if to is None:
                    work = result
                else:
                    slots[to] = result
            else:
                _, t, k = action
                carry = work if k is None else slots[k]
                results = adjoint([*carries, *carry, *[r[t] for r in rows], *closed])
                carries = results[:n_r]
                for y, (offset, shape) in zip(results[n_r:], layout.ys):
                    row = size(shape[1:])
                    out[offset + t * row : offset + (t + 1) * row] = np.reshape(y, -1)
    for c, (offset, shape) in zip(carries, layout.finals):
        out[offset : offset + size(shape)] = np.reshape(c, -1)
    return out


def revolve_vjp(node: Node, ct: Node) -> tuple[Node | None, ...]:
    from graphc.autodiff import reverse_sweep

    value = equivalent(node)
    # Sweep from the value down to the arguments only: the caller's sweep goes on from them
    # (going further here would count the paths between arguments twice).
    order = topological_order([value], done=set(node.args))
    return tuple(reverse_sweep([value], [ct], list(node.args), order))


def revolve_jvp(node: Node, tangents: Sequence[Node | None]) -> Node | None:
    from graphc.autodiff import forward_sweep

    value = equivalent(node)
    given = [(a, t) for a, t in zip(node.args, tangents) if t is not None]
    order = topological_order([value], done=set(node.args))
    (tangent,) = forward_sweep([value], [a for a, _ in given], [t for _, t in given], order)
    return tangent


def binomial_vjp(node, adjoint, rows, ct_ys, ct_traj, ct_end, sums, closed, slots):
    """Reverse mode of the scan ``node`` keeping at most ``slots`` carries (see
    ``graphc.loops.scan_vjp``, which gives the arguments: rows in processing order)."""
    a = node.attrs
    steps, n_c = a["length"], a["n_carry"]
    init = list(node.args[:n_c])
    if slots >= steps:  # every carry fits: nothing to recompute
        from graphc.loops import snapshots_of, with_store

        traj = snapshots_of(with_store(node, 1))
        return adjoint.run(steps, traj, rows, ct_ys, ct_traj, ct_end, sums, closed)
    dtype = adjoint.dtype
    rev = make_revolve(
        carry_only(a["body"], n_c),
        adjoint.body,
        init,
        [dsl.astype(c, dtype) for c in [*ct_end, *sums]],
        [*rows, *ct_ys, *ct_traj],
        closed,
        steps,
        slots,
    )
    return adjoint.unpack(rev, ct_end, sums, rows)


def revolve_batch(node: Node, args: tuple, axes: tuple):
    """A revolve node for every entry of a batch: both bodies batched (as a scan's, see
    ``graphc.loops.scan_batch``); a trajectory carry is batched as its forward carry."""
    from graphc.batching import batch_size
    from graphc.loops import batch_arguments, batch_body, batched_carries, stack_results

    a = node.attrs
    forward, adjoint = a["forward"], a["adjoint"]
    n_c, n_r, n_rows = a["n_carry"], a["n_adjoint_carry"], a["n_rows"]
    n_k = len(node.args) - n_c - n_r - n_rows
    n_fx = len(forward.inputs) - n_c - n_k
    size_b = batch_size(args, axes)
    flags = [axis is not None for axis in axes]
    init, adjoint_init = flags[:n_c], flags[n_c : n_c + n_r]
    rows, closed = flags[n_c + n_r : n_c + n_r + n_rows], flags[n_c + n_r + n_rows :]
    carries = batched_carries(forward, n_c, [*init, *rows[:n_fx], *closed])[:n_c]
    adjoint_flags = batched_carries(adjoint, n_r, [*adjoint_init, *carries, *rows, *closed])
    batched = [*carries, *adjoint_flags[:n_r], *rows, *closed]
    stacked = range(n_c + n_r, n_c + n_r + n_rows)
    new_args = batch_arguments(args, axes, batched, stacked, size_b)
    new_forward, _ = batch_body(forward, n_c, [*carries, *rows[:n_fx], *closed], size_b)
    new_adjoint, ys_batched = batch_body(adjoint, n_r, adjoint_flags, size_b)
    attrs = Attrs({**a, "forward": new_forward, "adjoint": new_adjoint})
    new = make("revolve", new_args, attrs)
    return stack_results(node, new, adjoint_flags[:n_r], ys_batched, size_b), 0
