"""The shared rewrite driver, and the helpers rules use to look at constants.

Contract of :func:`rewrite`: one walk over ``graph.nodes``; each node is rebuilt only when one of
its arguments was replaced; then the rule registered for its op (rules are looked up by op name,
so a node with no rule costs a dict lookup) may return a replacement of the same shape and dtype
(checked here, so a wrong rule fails loudly instead of corrupting the graph). Nodes a rule
creates are placed before their first user, so the result is topologically ordered; nodes left
without users stay in the list until ``dce`` erases them. Returns the input graph itself when
nothing changed, which is how the pipeline detects its fixpoint.

Rules must be pure functions of the node they are given (its op, attributes and the immutable
subgraph below it): inside :func:`remembering_stable_nodes` (the pipeline's rounds) a rule table
skips the node objects it already left unchanged, so a round after CSE only re-examines the
nodes CSE rebuilt, and when the rules replace none of those, the graph is returned after that
look alone, without the walk that rebuilds it (``_none_replaced``). A rule that depends on an
analysis of a whole graph (its users ...) belongs in a table built for that graph, per call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from operator import is_not

import numpy as np

from graphc.graph import Graph, topological_order
from graphc.node import Node, origin_stack
from graphc.ops.base import OPS, rebuild

Rule = Callable[[Node], "Node | None"]
RuleTable = Mapping[str, Rule]  # read only: any rule functions of this type

# A rule's replacement is offered to the rules again (log(1 + x) -> log1p(x) may enable another
# rule on the result); this bounds that chain. Anything left is picked up by the next round.
MAX_REPLACEMENTS_PER_NODE = 4


class RuleError(AssertionError):
    """A rule returned a node of another type than the one it replaces (a bug in the rule)."""


def rewrite(graph: Graph, rules: RuleTable) -> Graph:
    """Apply ``rules`` (op name -> rule) to every node, in one walk."""
    if rules.keys().isdisjoint(graph.ops):
        return graph  # no node has a rule: nothing can change
    stable = _stable_nodes(rules)
    if stable is not None and _none_replaced(graph, rules, stable):
        return graph
    get_rule = rules.get
    replaced: dict[Node, Node] = {}  # node -> its replacement, for the nodes that changed
    emitted: list[Node] = []
    placed: set[Node] | None = None  # what `emitted` holds, kept from the first replacement on
    for node in graph.nodes:
        new = node
        args = node.args
        if replaced and args:
            new_args = tuple([replaced.get(a, a) for a in args])
            if any(map(is_not, new_args, args)):
                if OPS[node.op].kind == "elementwise":
                    # Replacements keep their types (checked below) and an elementwise type
                    # rule reads only types: it would give this node's type again.
                    new = Node(node.op, new_args, node.attrs, node.shape, node.dtype, node.origin)
                else:
                    new = rebuild(node, new_args)
        rule = get_rule(new.op)
        if rule is None and stable is not None:
            stable.add(new)  # no rule: stable by definition (keeps _none_replaced's list short)
        elif rule is not None and (stable is None or new not in stable):
            for _ in range(MAX_REPLACEMENTS_PER_NODE):
                replacement = _apply(rule, new, node.origin)
                if replacement is None or replacement is new:
                    if stable is not None:
                        stable.add(new)
                    break
                if replacement.shape != node.shape or replacement.dtype != node.dtype:
                    raise RuleError(f"rewrite of {node!r} returned {replacement!r}: types differ")
                new = replacement
                rule = get_rule(new.op)
                if rule is None or (stable is not None and new in stable):
                    break
        if new is not node:
            replaced[node] = new
            if placed is None:
                placed = set(emitted)
            _place(new, emitted, placed)
        elif placed is None:
            emitted.append(node)
        elif node not in placed:
            placed.add(node)
            emitted.append(node)
    if not replaced:
        return graph
    return Graph.from_nodes(
        graph.inputs, [replaced.get(o, o) for o in graph.outputs], emitted, graph.single_output
    )


def _none_replaced(graph: Graph, rules: RuleTable, stable: set[Node]) -> bool:
    """Whether the rules leave every node of ``graph`` not yet known ``stable`` unchanged (they
    are then added to it). The common case of a later round, where only the few nodes CSE
    rebuilt are new: one pass over the new nodes instead of a rewrite of the whole graph. On
    the first replacement it stops and the caller rewrites (the rules are pure, so asking again
    gives the same answer)."""
    for node in [n for n in graph.nodes if n not in stable]:
        rule = rules.get(node.op)
        if rule is not None:
            replacement = _apply(rule, node, node.origin)
            if replacement is not None and replacement is not node:
                return False
        stable.add(node)
    return True


def _apply(rule: Rule, node: Node, provenance: str) -> Node | None:
    """``rule(node)``; what the rule builds inherits ``provenance`` (the replaced node's)."""
    origin_stack.append(provenance)
    try:
        return rule(node)
    finally:
        origin_stack.pop()


def _place(root: Node, emitted: list[Node], placed: set[Node]) -> None:
    """Append ``root`` and any of its not yet placed dependencies, arguments first."""
    if root in placed:
        return
    for arg in root.args:
        if arg not in placed:
            emitted.extend(topological_order([root], done=placed))
            return
    placed.add(root)  # the common case (a rebuilt node): its arguments are all placed
    emitted.append(root)


# -- remembering what rules left alone (rules are pure: see the module docstring) -------------
# The set of a rule table belongs to the table *object*, which the scope keeps alive (its id
# cannot be reused); a table built per call gets a fresh set, never another graph's answers.
_memo = threading.local()


@contextmanager
def remembering_stable_nodes() -> Iterator[None]:
    """Remember, per rule table, the nodes its rules left unchanged, until the block ends."""
    previous = getattr(_memo, "tables", None)
    if previous is None:
        _memo.tables = {}
    try:
        yield
    finally:
        if previous is None:
            _memo.tables = None


def _stable_nodes(rules: RuleTable) -> set[Node] | None:
    tables: dict[int, tuple[RuleTable, set[Node]]] | None = getattr(_memo, "tables", None)
    return None if tables is None else tables.setdefault(id(rules), (rules, set()))[1]


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

    if graph.ops.isdisjoint(SUBGRAPH_OPS):
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
