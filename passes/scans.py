"""Passes over scans as wholes: one loop for a value and its stored carries (``merge_scans``),
and no work for results nobody reads (``prune_scans``).

**merge_scans.** Reverse mode re-runs a forward scan with ``store`` set, to keep the carries it
reverses over (``graphc.loops.with_store``). That scan and the original have the same body,
arguments and attributes but ``store``; the original's packed value is a prefix of the storing
one's (the snapshots come last), so it becomes a slice of it: one loop serves both. Likewise
forward mode builds a loop over (carry, tangent) whose first carries, rows, closed-over values
and per-step outputs are the original loop's: when a scan's body is exactly the restriction of
another's to those (same arguments, same structure), the reads of its results (slices) become
reads of the other's, and the loop is not run twice (``hvp`` through a loop runs the forward
pass once instead of twice). Exact: the same computation, done once.

**prune_scans.** A scan computes every result of its body, but its users (slices of its packed
value) may read only some: the final carries, the per-step outputs, the snapshots. This pass
drops the per-step outputs nobody reads, the carries no read result depends on (through any
number of steps: a fixed point over the body's dependencies), and then the stacked and
closed-over inputs nothing left depends on; the body keeps only what the remaining outputs need
(``dce`` inside it follows). Typical: the forward recomputation inside a checkpointed segment
produces per-step outputs its reverse loop never reads. Exact: the remaining results are computed
by the same operations. A scan used by anything but slices that stay within one result (for
instance a graph output that is the packed value itself) is left alone.
"""

from __future__ import annotations

import numpy as np

from graphc import dsl
from graphc.graph import Graph, topological_order
from graphc.node import Attrs, Node
from graphc.ops.base import make
from graphc.ops.control import layout_of
from graphc.shapes import size
from passes.dce import dce
from passes.rewrite import rewrite

# -- merge_scans --------------------------------------------------------------------------------


def _key(node: Node) -> tuple:
    attrs = {k: v for k, v in node.attrs.items() if k != "store"}
    return (tuple(id(a) for a in node.args), Attrs(attrs))


def merge_scans(graph: Graph) -> Graph:
    return _subsume(_merge_stores(graph))


def _merge_stores(graph: Graph) -> Graph:
    storing: dict[tuple, Node] = {}
    plain: list[Node] = []
    for node in graph.nodes:
        if node.op != "scan":
            continue
        if node.attrs["store"]:
            storing.setdefault(_key(node), node)
        else:
            plain.append(node)
    replacement = {}
    for node in plain:
        other = storing.get(_key(node))
        if other is not None:
            replacement[node] = other
    if not replacement:
        return graph

    def rule(node: Node) -> Node | None:
        other = replacement.get(node)
        if other is None:
            return None
        return dsl.slice(other, [(0, 1, node.shape[0])])

    return rewrite(graph, {"scan": rule})


def _canonical(body: Graph) -> Graph:
    """``body`` with its nodes in the constructor's order (structure decides the hash)."""
    return Graph(list(body.inputs), list(body.outputs))


def _restriction(small: Node, large: Node) -> dict | None:
    """Where each result of ``small`` is in ``large``'s packed value, if ``large`` computes them
    all by the very same loop (see the module docstring); else None."""
    a, b = small.attrs, large.attrs
    if small is large or any(a[k] != b[k] for k in ("length", "reverse", "checkpoint")):
        return None
    if a["store"] not in (0, b["store"]):
        return None
    n_c, n_x = a["n_carry"], a["n_xs"]
    n_k = len(small.args) - n_c - n_x
    m_c, m_x = b["n_carry"], b["n_xs"]
    if n_c > m_c or n_x > m_x or n_k > len(large.args) - m_c - m_x:
        return None
    same = (
        all(p is q for p, q in zip(small.args[:n_c], large.args[:m_c]))
        and all(p is q for p, q in zip(small.args[n_c : n_c + n_x], large.args[m_c : m_c + m_x]))
        and all(p is q for p, q in zip(small.args[n_c + n_x :], large.args[m_c + m_x :]))
    )
    if not same:
        return None
    body, other = a["body"], b["body"]
    n_y = len(body.outputs) - n_c
    if n_y > len(other.outputs) - m_c:
        return None
    inputs = [*other.inputs[:n_c], *other.inputs[m_c : m_c + n_x]]
    inputs += other.inputs[m_c + m_x : m_c + m_x + n_k]
    outputs = [*other.outputs[:n_c], *other.outputs[m_c : m_c + n_y]]
    try:
        restricted = Graph(inputs, outputs)
    except ValueError:  # the outputs read inputs beyond the restriction
        return None
    if restricted.structural_hash != _canonical(body).structural_hash:
        return None
    theirs = {(k, i): offset for k, i, offset, _ in _results(large)}
    return {(k, i): (offset, theirs[(k, i)]) for k, i, offset, _ in _results(small)}


def _subsume(graph: Graph) -> Graph:
    scans = [n for n in graph.nodes if n.op == "scan"]
    if len(scans) < 2:
        return graph
    outputs = {id(o) for o in graph.outputs}
    users = graph.users
    plans: dict[Node, tuple[Node, dict]] = {}
    whole: dict[Node, Node] = {}  # scans that are one slice of another
    for small in scans:
        if not users[small]:
            continue
        for large in scans:
            if large in plans or large in whole:
                continue
            moved = _restriction(small, large)
            if moved is None:
                continue
            shifts = {new - old for old, new in moved.values()}
            if len(shifts) == 1:  # the same results in the same order: one slice of it
                (shift,) = shifts
                whole[small] = dsl.slice(large, [(shift, 1, small.shape[0])])
            elif id(small) not in outputs and _used(small, users[small]) is not None:
                plans[small] = (large, moved)
            else:
                continue
            break
    if not plans and not whole:
        return graph
    results = {node: _results(node) for node in plans}
    rules = {"slice": _remap(plans, results), "scan": whole.get}
    return rewrite(graph, rules)


def _remap(plans: dict, results: dict):
    """A rule for the slices of the scans of ``plans``: the same elements of the new scan."""

    def rule(user: Node) -> Node | None:
        source = user.args[0]
        plan = plans.get(source)
        if plan is None:
            return None
        new, moved = plan
        ((start, step, count),) = user.attrs["spec"]
        if count == 0:
            return dsl.constant(np.zeros(0), source.dtype)
        low = min(start, start + step * (count - 1))
        for kind, index, offset, n in results[source]:
            if offset <= low < offset + n:
                old, new_offset = moved[(kind, index)]
                return dsl.slice(new, [(start - old + new_offset, step, count)])
        raise AssertionError("merge_scans: a slice outside every result")

    return rule


# -- prune_scans --------------------------------------------------------------------------------


def _results(node: Node) -> list[tuple[str, int, int, int]]:
    """``(kind, index, offset, size)`` of each result in a scan's packed value."""
    layout = layout_of(node)
    results = []
    for kind, placed in (("final", layout.finals), ("y", layout.ys), ("snap", layout.snapshots)):
        for index, (offset, shape) in enumerate(placed):
            results.append((kind, index, offset, size(shape)))
    return results


def _used(node: Node, users: list[Node]) -> set[tuple[str, int]] | None:
    """The results of ``node`` its users read, or None if a user is not a slice within one."""
    used: set[tuple[str, int]] = set()
    for user in users:
        if user.op != "slice":
            return None
        if user.attrs["spec"][0][2] == 0:
            continue
        which = _result_of(node, user)
        if which is None:
            return None
        used.add(which)
    return used


def _input_dependencies(body: Graph) -> dict[Node, frozenset[int]]:
    """For each node of ``body``, the positions of the inputs it depends on. A slice of a
    nested scan's result depends only on the arguments that result depends on, so a carry that
    only feeds another result of a nested loop is not kept alive by it."""
    deps: dict[Node, frozenset[int]] = {n: frozenset((k,)) for k, n in enumerate(body.inputs)}
    nested: dict[Node, dict] = {}
    for n in body.nodes:
        if n in deps:
            continue
        source = n.args[0] if n.op == "slice" else None
        if source is not None and source.op == "scan":
            if source not in nested:
                nested[source] = _result_dependencies(source)
            which = _result_of(source, n)
            if which is not None:
                found: frozenset[int] = frozenset()
                for position in nested[source][which]:
                    found |= deps[source.args[position]]
                deps[n] = found
                continue
        found = frozenset()
        for arg in n.args:
            found |= deps[arg]
        deps[n] = found
    return deps


def _result_of(node: Node, user: Node) -> tuple[str, int] | None:
    """The result of the scan ``node`` that the slice ``user`` reads, if it reads one."""
    ((start, step, count),) = user.attrs["spec"]
    if count == 0:
        return None
    last = start + step * (count - 1)
    low, high = min(start, last), max(start, last)
    for kind, index, offset, n in _results(node):
        if offset <= low and high < offset + n:
            return kind, index
    return None


def _result_dependencies(node: Node) -> dict[tuple[str, int], frozenset[int]]:
    """For each result of a scan, the positions of the arguments it depends on (a final carry
    depends on what its updates depend on, over any number of steps)."""
    body: Graph = node.attrs["body"]
    n_c = node.attrs["n_carry"]
    deps = _input_dependencies(body)
    out_deps = [deps[o] for o in body.outputs]

    def closure(start: frozenset[int]) -> frozenset[int]:
        found = set(start)
        while True:
            more = set().union(*(out_deps[i] for i in found if i < n_c)) - found
            if not more:
                return frozenset(found)
            found |= more

    result = {}
    for kind, index, _, _ in _results(node):
        if kind == "y":
            result[(kind, index)] = closure(out_deps[n_c + index])
        else:
            result[(kind, index)] = closure(out_deps[index] | {index})
    return result


def _pruned(node: Node, used: set[tuple[str, int]]) -> tuple[Node, dict] | None:
    """A smaller scan computing the ``used`` results, and where each of them moved."""
    a = node.attrs
    body: Graph = a["body"]
    n_c, n_x = a["n_carry"], a["n_xs"]
    n_y = len(body.outputs) - n_c
    deps = _input_dependencies(body)
    out_deps = [deps[o] for o in body.outputs]
    carries = {i for kind, i in used if kind in ("final", "snap")}
    ys = sorted(i for kind, i in used if kind == "y")
    while True:  # a carry is needed if a needed result depends on it, through any steps
        needed_inputs = set().union(
            *(out_deps[i] for i in carries), *(out_deps[n_c + j] for j in ys)
        )
        grown = {i for i in needed_inputs if i < n_c} - carries
        if not grown:
            break
        carries |= grown
    keep_c = sorted(carries)
    outputs = [body.outputs[i] for i in keep_c] + [body.outputs[n_c + j] for j in ys]
    # The body without the dropped results; nested scans then drop what only those needed.
    trimmed = _clean(Graph(list(body.inputs), outputs))
    referenced = set(topological_order(trimmed.outputs))
    used_inputs = {k for k, inp in enumerate(body.inputs) if inp in referenced}
    if any(k < n_c and k not in carries for k in used_inputs):
        return None  # a dropped carry is still read: the dependencies were too optimistic
    keep_in = sorted(set(keep_c) | used_inputs)
    if len(keep_c) == n_c and len(ys) == n_y and len(keep_in) == len(body.inputs):
        return None
    keep_x = [i for i in keep_in if n_c <= i < n_c + n_x]
    new_body = Graph([body.inputs[i] for i in keep_in], list(trimmed.outputs))
    new = make(
        "scan",
        tuple(node.args[i] for i in keep_in),
        Attrs({**a, "body": new_body, "n_carry": len(keep_c), "n_xs": len(keep_x)}),
    )
    return new, _moves(node, new, keep_c, ys)


def _pruned_revolve(node: Node, used: set[tuple[str, int]]) -> tuple[Node, dict] | None:
    """A revolve node computing only the ``used`` results of its reverse loop: its adjoint body
    loses the cotangents nobody reads (stacked inputs', closed-over values' sums) and the rows
    only they needed. The forward body and what it reads stay."""
    a = node.attrs
    adjoint: Graph = a["adjoint"]
    n_c, n_r, n_rows = a["n_carry"], a["n_adjoint_carry"], a["n_rows"]
    n_k = len(node.args) - n_c - n_r - n_rows
    n_forward_rows = len(a["forward"].inputs) - n_c - n_k
    n_y = len(adjoint.outputs) - n_r
    deps = _input_dependencies(adjoint)
    out_deps = [deps[o] for o in adjoint.outputs]
    carries = {i for kind, i in used if kind == "final"}
    ys = sorted(i for kind, i in used if kind == "y")
    while True:
        needed = set().union(*(out_deps[i] for i in carries), *(out_deps[n_r + j] for j in ys))
        grown = {i for i in needed if i < n_r} - carries
        if not grown:
            break
        carries |= grown
    keep_c = sorted(carries)
    trimmed = _clean(
        Graph(
            list(adjoint.inputs),
            [*(adjoint.outputs[i] for i in keep_c), *(adjoint.outputs[n_r + j] for j in ys)],
        )
    )
    referenced = set(topological_order(trimmed.outputs))
    used_inputs = {k for k, inp in enumerate(adjoint.inputs) if inp in referenced}
    if any(k < n_r and k not in carries for k in used_inputs):
        return None
    # Adjoint inputs: carries, the trajectory (n_c), rows, closed-over values. The trajectory,
    # the forward's rows and the closed-over values stay (the forward body reads them).
    first_row = n_r + n_c
    always = set(range(n_r, first_row + n_forward_rows))
    always |= set(range(first_row + n_rows, len(adjoint.inputs)))
    keep_in = sorted(set(keep_c) | always | used_inputs)
    if len(keep_c) == n_r and len(ys) == n_y and len(keep_in) == len(adjoint.inputs):
        return None
    new_adjoint = Graph([adjoint.inputs[i] for i in keep_in], list(trimmed.outputs))
    # The node's arguments: forward carries, adjoint carries, rows, closed (adjoint positions
    # from n_r on are the trajectory, then rows, then closed: shift them to argument positions).
    kept_rows = [i - first_row for i in keep_in if first_row <= i < first_row + n_rows]
    args = [
        *node.args[:n_c],
        *(node.args[n_c + i] for i in keep_c),
        *(node.args[n_c + n_r + r] for r in kept_rows),
        *node.args[n_c + n_r + n_rows :],
    ]
    attrs = Attrs(
        {**a, "adjoint": new_adjoint, "n_adjoint_carry": len(keep_c), "n_rows": len(kept_rows)}
    )
    new = make("revolve", tuple(args), attrs)
    return new, _moves(node, new, keep_c, ys)


def _moves(old: Node, new: Node, keep_c: list[int], ys: list[int]) -> dict:
    """Where each kept result of ``old`` is in ``new`` (``(old offset, new offset)``)."""
    new_results = {}
    for kind, i, offset, _ in _results(new):
        new_results[(kind, keep_c[i] if kind in ("final", "snap") else ys[i])] = offset
    return {
        (kind, i): (offset, new_results[(kind, i)])
        for kind, i, offset, _ in _results(old)
        if (kind, i) in new_results
    }


def _clean(graph: Graph) -> Graph:
    while True:
        new = dce(prune_scans(graph))
        if new is graph:
            return graph
        graph = new


def prune_scans(graph: Graph) -> Graph:
    plans: dict[Node, tuple[Node, dict]] = {}
    users = None
    outputs = {id(o) for o in graph.outputs}
    for node in graph.nodes:
        if node.op not in ("scan", "revolve") or id(node) in outputs:
            continue
        if users is None:
            users = graph.users
        if not users[node]:
            continue  # unused: dce erases it
        used = _used(node, users[node])
        if used is None:
            continue
        plan = _pruned(node, used) if node.op == "scan" else _pruned_revolve(node, used)
        if plan is not None:
            plans[node] = plan
    if not plans:
        return graph
    results = {node: _results(node) for node in plans}
    return rewrite(graph, {"slice": _remap(plans, results)})


__all__ = ["merge_scans", "prune_scans"]
