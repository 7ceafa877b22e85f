"""The shared rewrite driver, and the helpers rules use to look at constants.

Contract of :func:`rewrite`: one walk over ``graph.nodes``; each node is rebuilt only when one of
its arguments was replaced; then the rule registered for its op (rules are looked up by op name,
so a node with no rule costs a dict lookup) may return a replacement of the same shape and dtype
(checked here, so a wrong rule fails loudly instead of corrupting the graph). Nodes a rule
creates are placed before their first user, so the result is topologically ordered; nodes left
without users stay in the list until ``dce`` erases them. Returns the input graph itself when
nothing changed, which is how the pipeline detects its fixpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import is_not

import numpy as np

from graphc.graph import Graph, topological_order
from graphc.node import Node, origin_stack
from graphc.ops.base import rebuild

Rule = Callable[[Node], "Node | None"]
RuleTable = Mapping[str, Rule]  # read only: any rule functions of this type

# A rule's replacement is offered to the rules again (log(1 + x) -> log1p(x) may enable another
# rule on the result); this bounds that chain. Anything left is picked up by the next round.
MAX_REPLACEMENTS_PER_NODE = 4


class RuleError(AssertionError):
    """A rule returned a node of another type than the one it replaces (a bug in the rule)."""


def rewrite(graph: Graph, rules: RuleTable) -> Graph:
    """Apply ``rules`` (op name -> rule) to every node, in one walk."""
    mapping: dict[Node, Node] = {}
    emitted: list[Node] = []
    placed: set[Node] = set()
    changed = False
    for node in graph.nodes:
        new = node
        args = node.args
        if args:
            new_args = tuple(map(mapping.__getitem__, args))
            if any(map(is_not, new_args, args)):
                new = rebuild(node, new_args)
        for _ in range(MAX_REPLACEMENTS_PER_NODE):
            rule = rules.get(new.op)
            if rule is None:
                break
            origin_stack.append(node.origin)  # what a rule builds inherits the provenance
            try:
                replacement = rule(new)
            finally:
                origin_stack.pop()
            if replacement is None or replacement is new:
                break
            if replacement.shape != node.shape or replacement.dtype != node.dtype:
                raise RuleError(f"rewrite of {node!r} returned {replacement!r}: types differ")
            new = replacement
        if new is not node:
            changed = True
            _place(new, emitted, placed)
        elif node not in placed:
            placed.add(node)
            emitted.append(node)
        mapping[node] = new
    if not changed:
        return graph
    return Graph.from_nodes(
        graph.inputs, [mapping[o] for o in graph.outputs], emitted, graph.single_output
    )


def _place(root: Node, emitted: list[Node], placed: set[Node]) -> None:
    """Append ``root`` and any of its not yet placed dependencies, arguments first."""
    emitted.extend(topological_order([root], done=placed))


# -- looking at constants ---------------------------------------------------------------------


def const_array(node: Node) -> np.ndarray | None:
    """The value of a constant, or of a broadcast constant (as a zero-copy view), else None."""
    if node.op == "const":
        return node.value
    if node.op == "broadcast_to" and node.args[0].op == "const":
        return np.broadcast_to(node.args[0].value, node.shape)
    return None


def splat(node: Node) -> float | int | bool | None:
    """The one value every element of a constant (or broadcast constant) holds, else None.

    Bitwise: a splat of ``0.0`` is never reported for an array holding ``-0.0``; nan is never a
    splat (rules compare against it).
    """
    if node.op == "const":
        return node.attrs["value"].splat
    if node.op == "broadcast_to" and node.args[0].op == "const":
        return node.args[0].attrs["value"].splat
    return None


def is_splat(node: Node, value: float) -> bool:
    """True if ``node`` is a constant whose every element is ``value``, sign of zero included."""
    found = splat(node)
    if found is None or isinstance(found, bool):
        return False
    if found != value:
        return False
    return value != 0 or np.signbit(found) == np.signbit(value)


# -- graphs held by nodes -----------------------------------------------------------------------


def map_subgraphs(graph: Graph, function: Callable[[Graph], Graph]) -> Graph:
    """``graph`` with ``function`` applied to every graph its nodes hold (a scan's body, a
    custom derivative's function and rule); ``graph`` itself when no body changes.

    How the pass driver runs a pass inside bodies: a pass stays ``Graph -> Graph``, unaware of
    nesting. A node whose body changed is rebuilt (its type rule checks the new body) and its
    users follow, through :func:`rewrite`.
    """
    from graphc.graph import subgraphs
    from graphc.node import Attrs
    from graphc.ops.base import make
    from graphc.ops.control import SUBGRAPH_OPS

    if not any(node.op in SUBGRAPH_OPS for node in graph.nodes):
        return graph

    def rule(node: Node) -> Node | None:
        attrs = dict(node.attrs)
        for key, body in subgraphs(node):
            new = function(body)
            if new is not body:
                attrs[key] = new
        if all(attrs[k] is node.attrs[k] for k in attrs):
            return None
        return make(node.op, node.args, Attrs(attrs))

    return rewrite(graph, {op: rule for op in SUBGRAPH_OPS})
