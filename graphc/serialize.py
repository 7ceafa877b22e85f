"""Graphs as plain data: a JSON-safe dict, and back.

The format is flat (one record per node, arguments as indices into the node list), so a
100,000-node chain serialises without recursion, and reading it executes nothing: no pickle is
needed to load a graph. Pickling a :class:`~graphc.graph.Graph` goes through this format, and
so does the graph inside a pickled compiled function (which also carries its object code, so
another process loads it without LLVM); that is what lets users ship models to a process pool
or a cluster.

Format ``{"format": "graphc-graph", "version": 1, "inputs": [i...], "outputs": [i...],
"single_output": bool, "nodes": [{"op", "args", "attrs", "shape", "dtype"}...]}``; constants
are ``{"const": {"dtype", "shape", "data" (base64)}}``; tuples in attributes become lists and are
restored as tuples. A graph held as an attribute (a ``scan``'s body) is ``{"graph": document}``,
a nested document of the same format: the nesting depth is that of the bodies, never that of a
graph's nodes.
"""

from __future__ import annotations

import base64

import numpy as np

from graphc.graph import Graph
from graphc.node import Attrs, ConstValue, Node

FORMAT = "graphc-graph"
VERSION = 1


def _encode(value: object) -> object:
    if isinstance(value, ConstValue):
        array = np.array(value.array, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
        data = base64.b64encode(array.tobytes()).decode("ascii")
        return {"const": {"dtype": array.dtype.str, "shape": list(array.shape), "data": data}}
    if isinstance(value, Graph):
        return {"graph": to_dict(value)}
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    return value


def _decode(value: object) -> object:
    if isinstance(value, dict) and "const" in value:
        meta = value["const"]
        raw = base64.b64decode(meta["data"])
        array = np.frombuffer(raw, dtype=np.dtype(meta["dtype"])).reshape(meta["shape"])
        return ConstValue(array.copy(), copy=False)
    if isinstance(value, dict) and "graph" in value:
        return from_dict(value["graph"])
    if isinstance(value, list):
        return tuple(_decode(v) for v in value)
    return value


def to_dict(graph: Graph) -> dict:
    index = {node: i for i, node in enumerate(graph.nodes)}
    nodes = [
        {
            "op": node.op,
            "args": [index[a] for a in node.args],
            "attrs": {k: _encode(v) for k, v in sorted(node.attrs.items())},
            "shape": list(node.shape),
            "dtype": node.dtype,
        }
        for node in graph.nodes
    ]
    return {
        "format": FORMAT,
        "version": VERSION,
        "inputs": [index[n] for n in graph.inputs],
        "outputs": [index[n] for n in graph.outputs],
        "single_output": graph.single_output,
        "nodes": nodes,
    }


def _nodes_at(indices: object, nodes: list[Node], what: str) -> list[Node]:
    """``nodes[i]`` for each index, which must refer to a node already read (no negative or
    forward references: the document lists nodes in topological order)."""
    if not isinstance(indices, list):
        raise ValueError(f"{what}: expected a list of node indices, got {indices!r}")
    for i in indices:
        if type(i) is not int or not 0 <= i < len(nodes):
            raise ValueError(f"{what}: {i!r} is not the index of an earlier node")
    return [nodes[i] for i in indices]


def from_dict(data: dict) -> Graph:
    """The graph ``to_dict`` described; every node is re-checked by its op's shape rule.

    That rule is also what refuses input names that are not identifiers (names are data, and
    never become code; see ``graphc.ops.sources``). Errors name the node's index and op.
    """
    from graphc.ops.base import OPS, make

    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
        raise ValueError(f"not a {FORMAT} version {VERSION} document")
    nodes: list[Node] = []
    for record in data["nodes"]:
        where = f"node {len(nodes)} ({record.get('op')!r})"
        if record.get("op") not in OPS:
            raise ValueError(f"{where}: unknown op; expected one of {', '.join(sorted(OPS))}")
        args = tuple(_nodes_at(record["args"], nodes, f"{where} arguments"))
        try:
            attrs = Attrs({k: _decode(v) for k, v in record["attrs"].items()})
            node = make(record["op"], args, attrs)
        except (TypeError, ValueError, KeyError) as error:
            kind = TypeError if isinstance(error, TypeError) else ValueError
            raise kind(f"{where}: {error}") from error
        if list(node.shape) != record["shape"] or node.dtype != record["dtype"]:
            raise ValueError(f"{where} does not have its recorded type")
        nodes.append(node)
    inputs = _nodes_at(data["inputs"], nodes, "inputs")
    outputs = _nodes_at(data["outputs"], nodes, "outputs")
    return Graph(inputs, outputs[0] if data["single_output"] else outputs)
