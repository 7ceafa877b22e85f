"""Common subexpression elimination by value numbering.

A node's value number is keyed by its op, the value numbers of its arguments (sorted for
commutative ops, so ``a + b`` and ``b + a`` merge) and its attributes (constants by dtype, shape
and bytes, so equal constants merge and ``0.0`` never merges with ``-0.0``). The first node with
a key represents all later ones. Inputs never merge: they have distinct names. Merged nodes are
left as orphans for ``dce``.
"""

from __future__ import annotations

from graphc.graph import Graph
from graphc.node import Node
from graphc.ops.base import OPS, rebuild


def cse(graph: Graph) -> Graph:
    table: dict[tuple, Node] = {}
    number: dict[Node, int] = {}
    mapping: dict[Node, Node] = {}
    emitted: list[Node] = []
    commutative = {name for name, opdef in OPS.items() if opdef.commutative}
    changed = False
    for node in graph.nodes:
        args = tuple(map(mapping.__getitem__, node.args))
        arg_numbers = tuple(map(number.__getitem__, args))
        if node.op in commutative:
            arg_numbers = tuple(sorted(arg_numbers))
        key = (node.op, arg_numbers, node.attrs)
        existing = table.get(key)
        if existing is not None:
            mapping[node] = existing
            changed = True
            continue
        new = rebuild(node, args) if args else node
        changed |= new is not node
        table[key] = new
        number[new] = len(number)
        mapping[node] = new
        emitted.append(new)
    if not changed:
        return graph
    return Graph.from_nodes(
        graph.inputs, [mapping[o] for o in graph.outputs], emitted, graph.single_output
    )
