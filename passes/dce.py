"""Dead code elimination: erase nodes no output depends on (inputs always stay).

One reverse walk marks what the outputs use; the kept nodes keep their order, so the result is
still topologically sorted.
"""

from __future__ import annotations

from graphc.graph import Graph


def dce(graph: Graph) -> Graph:
    live = set(graph.outputs)  # nodes hash by identity
    for node in reversed(graph.nodes):
        if node in live:
            live.update(node.args)
    kept = [n for n in graph.nodes if n in live or n.op == "input"]
    if len(kept) == len(graph.nodes):
        return graph
    return Graph.from_nodes(graph.inputs, graph.outputs, kept, graph.single_output)
