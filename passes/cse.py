"""Common subexpression elimination by value numbering.

A node's value number is keyed by its op, the value numbers of its arguments (each stands as
its representative node, compared by identity; sorted for commutative ops, so ``a + b`` and
``b + a`` merge) and its attributes (constants by dtype, shape
and bytes, so equal constants merge and ``0.0`` never merges with ``-0.0``). The first node with
a key represents all later ones. Inputs never merge: they have distinct names. Merged nodes are
left as orphans for ``dce``.
"""

from __future__ import annotations

from operator import is_not

from graphc.graph import Graph
from graphc.node import Node
from graphc.ops.base import OPS


def cse(graph: Graph) -> Graph:
    # Keyed by the representatives of the arguments themselves (compared by identity: one
    # representative per value number), in a canonical order for commutative ops.
    table: dict[tuple, Node] = {}
    replaced: dict[Node, Node] = {}  # node -> its representative, for the nodes that changed
    emitted: list[Node] = []
    commutative = {name for name, opdef in OPS.items() if opdef.commutative}
    for node in graph.nodes:
        args = node.args
        if replaced and args:
            args = tuple([replaced.get(a, a) for a in args])
        key_args = tuple(sorted(args, key=id)) if node.op in commutative else args
        # (Empty attributes as None: hashing an Attrs is a Python-level call.)
        key = (node.op, key_args, node.attrs or None)
        existing = table.get(key)
        if existing is not None:
            replaced[node] = existing
            continue
        new = node
        if args is not node.args and any(map(is_not, args, node.args)):
            # The new arguments are structurally identical to the old ones (that is what CSE
            # merges), so the node keeps its checked shape and dtype: no need to rerun its rule.
            new = Node(node.op, args, node.attrs, node.shape, node.dtype, node.origin)
            replaced[node] = new
        table[key] = new
        emitted.append(new)
    if not replaced:
        return graph
    return Graph.from_nodes(
        graph.inputs, [replaced.get(o, o) for o in graph.outputs], emitted, graph.single_output
    )
