"""Dead code elimination: erase nodes no output depends on (inputs always stay).

One reverse walk marks what the outputs use; the kept nodes keep their order, so the result is
still topologically sorted.
"""

from __future__ import annotations

from graphc.graph import Graph


def dce(graph: Graph) -> Graph:
    live = {id(o) for o in graph.outputs}
    for node in reversed(graph.nodes):
        if id(node) in live:
            live.update(id(a) for a in node.args)
    kept = [n for n in graph.nodes if id(n) in live or n.op == "input"]
    if len(kept) == len(graph.nodes):
        return graph
    return Graph.from_nodes(graph.inputs, graph.outputs, kept, graph.single_output)
