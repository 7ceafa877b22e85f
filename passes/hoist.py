"""Loop-invariant code motion: work in a scan's body that does not depend on the carries or the
rows of the stacked inputs is done once, before the loop.

Such work depends only on the body's closed-over inputs (and constants). ``gc.scan`` already
closes over the outer nodes a step function uses, but bodies built by transformations contain
invariant work of their own: a reverse-mode body computes ``transpose(W)`` or ``exp(b)`` from a
closed-over ``W`` or ``b`` every step, and simplification can expose more. This pass moves the
outermost invariant nodes out: each becomes a node of the enclosing graph, built over the scan's
arguments, and a new closed-over input of the body. Since the pass driver runs a pass inside
bodies first, work invariant in several nested loops leaves them all, one level per run.

What stays: constants and what is built from constants only (``fold_constants`` folds it where
it is), and broadcasts (free inside the body; outside, a broadcast would become an array in
memory). Other views move: a slice of a closed-over value (``p[0]`` of a parameter vector) then
enters the body as a value of its own, so reverse mode sums a scalar's cotangent over the steps
instead of a whole vector's; a transpose leaves the loop so that a matrix product in it reads a
contiguous operand (copied once if needed).

The pass also merges the inputs of a body that receive the same node (a step function that
writes ``p[0]`` four times closes over four equal slices, which CSE makes one node outside): one
input per distinct value, so reverse mode keeps one running sum per value, not one per use.

Exactness: the moved nodes compute the same values from the same arguments, once instead of
``length`` times, so results are bitwise unchanged (a loop of zero steps computes them for
nothing, which cannot change a result either). Merged inputs held the same value.
"""

from __future__ import annotations

from graphc.graph import Graph, inline
from graphc.node import Attrs, Node
from graphc.ops.base import make, rebuild
from graphc.subgraph import placeholder
from passes.rewrite import rewrite

_STAY = frozenset({"input", "const", "broadcast_to"})


def hoist_rule(node: Node) -> Node | None:
    hoisted = _hoist(node)
    merged = _merge_inputs(node if hoisted is None else hoisted)
    return hoisted if merged is None else merged


def _merge_inputs(node: Node) -> Node | None:
    """The scan with one body input per distinct stacked input and closed-over value."""
    a = node.attrs
    body: Graph = a["body"]
    n_c = a["n_carry"]
    first: dict[tuple[int, bool], int] = {}
    replace: dict[Node, Node] = {}
    keep = list(range(n_c))
    for position in range(n_c, len(node.args)):
        key = (id(node.args[position]), position < n_c + a["n_xs"])
        if key in first:
            replace[body.inputs[position]] = body.inputs[first[key]]
        else:
            first[key] = position
            keep.append(position)
    if not replace:
        return None
    mapping: dict[Node, Node] = {n: replace.get(n, n) for n in body.inputs}
    for n in body.nodes:
        if n not in mapping:
            mapping[n] = rebuild(n, tuple(mapping[arg] for arg in n.args)) if n.args else n
    new_body = Graph([body.inputs[p] for p in keep], [mapping[o] for o in body.outputs])
    n_xs = sum(1 for p in keep if n_c <= p < n_c + a["n_xs"])
    attrs = Attrs({**a, "body": new_body, "n_xs": n_xs})
    return make("scan", tuple(node.args[p] for p in keep), attrs)


def _hoist(node: Node) -> Node | None:
    a = node.attrs
    body: Graph = a["body"]
    n_loop = a["n_carry"] + a["n_xs"]  # inputs that change from step to step
    inputs = body.inputs
    varies: set[Node] = set(inputs[:n_loop])
    outer_dependent: set[Node] = set(inputs[n_loop:])  # depends on a closed-over input
    for n in body.nodes:
        if n.op == "input":
            continue
        if any(arg in varies for arg in n.args):
            varies.add(n)
        elif any(arg in outer_dependent for arg in n.args):
            outer_dependent.add(n)
    # The outermost invariant nodes the loop uses, looking through the views that stay.
    hoisted: dict[Node, None] = {}
    seen: set[Node] = set()
    frontier = [arg for n in body.nodes if n in varies for arg in n.args if arg not in varies]
    frontier += [o for o in body.outputs if o not in varies]
    while frontier:
        n = frontier.pop()
        if n in seen or n not in outer_dependent or n.op == "input":
            continue
        seen.add(n)
        if n.op in _STAY:
            frontier.extend(n.args)
        else:
            hoisted[n] = None
    if not hoisted:
        return None
    moved = list(hoisted)
    # Outside: the moved nodes rebuilt over the scan's closed-over arguments.
    closed_inputs = list(inputs[n_loop:])
    outside = inline(Graph(closed_inputs, moved), node.args[n_loop:])
    # Inside: each moved node becomes a new closed-over input.
    start = len(inputs) - n_loop
    mapping: dict[Node, Node] = {n: n for n in inputs}
    for k, n in enumerate(moved):
        mapping[n] = placeholder(f"k{start + k}", n.shape, n.dtype)
    for n in body.nodes:
        if n not in mapping:
            mapping[n] = rebuild(n, tuple(mapping[arg] for arg in n.args)) if n.args else n
    new_body = Graph([*inputs, *(mapping[n] for n in moved)], [mapping[o] for o in body.outputs])
    return make("scan", (*node.args, *outside), Attrs({**a, "body": new_body}))


def hoist(graph: Graph) -> Graph:
    return rewrite(graph, {"scan": hoist_rule})
