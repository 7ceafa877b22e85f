"""Graphviz DOT output for any graph, and rendering to SVG/PNG when ``dot`` is installed.

Layout conventions: inputs ranked at the top, one ``output k`` marker per output ranked at the
bottom, one box per op labelled with the op, its attributes and its type. Constants are small grey
boxes, adjoint nodes (built by reverse mode) are orange, tangent nodes (forward mode) blue.
Output is deterministic: node ids are positions in ``graph.nodes`` and nothing depends on object
identities, so golden-text tests can compare it.

A node holding a graph (a ``scan``'s body, a custom derivative's function and rule) is drawn with
that graph beside it as a cluster, titled ``scan body`` (and so on), whose nodes have ids
prefixed by the cluster's (``c3body_n0``); a dashed edge joins each output of the cluster to the
node that holds it. Bodies nest the same way.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from graphc.graph import Graph, node_label, subgraphs
from graphc.node import Node
from graphc.ops.base import OPS

STYLE = {
    "input": 'shape=ellipse, style=filled, fillcolor="#c7e9c0"',
    "const": 'shape=box, style="filled,rounded", fillcolor="#eeeeee", fontsize=10',
    "": 'shape=box, style=filled, fillcolor="#ffffff"',
    "adjoint": 'shape=box, style=filled, fillcolor="#fdd0a2"',
    "tangent": 'shape=box, style=filled, fillcolor="#c6dbef"',
    "output": 'shape=plaintext, fontcolor="#555555"',
}


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _format_value(value: object) -> str:
    array = np.asarray(value)
    if array.ndim == 0:
        return f"{array.item():.6g}" if array.dtype.kind == "f" else str(array.item())
    return np.array2string(array.reshape(-1)[:3], precision=4, separator=", ") + (
        " ..." if array.size > 3 else ""
    )


def to_dot(graph: Graph, values: Mapping[Node, object] | None = None, name: str = "graphc") -> str:
    """The graph as DOT text. ``values`` (node -> value), e.g. from ``gc.trace``, are shown on
    the nodes."""
    ids = {node: f"n{i}" for i, node in enumerate(graph.nodes)}
    lines = [
        f"digraph {name} {{",
        "  rankdir=TB;",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [color="#666666", arrowsize=0.7];',
    ]
    _node_lines(graph, ids, values, lines, "  ")
    for node in graph.nodes:
        for key, body in subgraphs(node):
            _cluster(body, f"c{ids[node][1:]}{key}", f"{node.op} {key}", ids[node], lines, "  ")
    for k, out in enumerate(graph.outputs):
        lines.append(f'  out{k} [label="output {k}", {STYLE["output"]}];')
        lines.append(f"  {ids[out]} -> out{k} [style=dashed];")
    if graph.inputs:
        lines.append("  { rank=source; " + " ".join(ids[n] for n in graph.inputs) + "; }")
    if graph.outputs:  # an empty rank list ("{ rank=sink; ; }") is a DOT syntax error
        lines.append(
            "  { rank=sink; " + " ".join(f"out{k}" for k in range(len(graph.outputs))) + "; }"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def _cluster(body: Graph, prefix: str, title: str, holder: str, lines: list, indent: str) -> None:
    """``body`` as ``subgraph cluster_<prefix>``, with dashed edges from its outputs to the
    node ``holder`` that holds it; bodies of its own nodes nest inside."""
    ids = {node: f"{prefix}_n{i}" for i, node in enumerate(body.nodes)}
    inner = indent + "  "
    lines.append(f"{indent}subgraph cluster_{prefix} {{")
    lines.append(f'{inner}label="{_escape(title)}"; style=dashed; color="#999999";')
    _node_lines(body, ids, None, lines, inner)
    for node in body.nodes:
        for key, sub in subgraphs(node):
            _cluster(sub, f"{ids[node]}{key}", f"{node.op} {key}", ids[node], lines, inner)
    lines.append(f"{indent}}}")
    for out in dict.fromkeys(body.outputs):
        lines.append(f'{indent}{ids[out]} -> {holder} [style=dashed, color="#999999"];')


def _node_lines(
    graph: Graph,
    ids: dict[Node, str],
    values: Mapping[Node, object] | None,
    lines: list[str],
    indent: str,
) -> None:
    """One DOT line per node of ``graph`` and one per argument edge."""
    for node in graph.nodes:
        parts = [node_label(node)]
        if node.op != "const" or node.ndim:
            parts.append(node.type_str)
        if values is not None and node in values:
            parts.append(f"= {_format_value(values[node])}")
        label = "\\n".join(_escape(p) for p in parts)  # DOT's line break inside a label
        style = STYLE[node.op] if node.op in ("input", "const") else STYLE[node.origin]
        lines.append(f'{indent}{ids[node]} [label="{label}", {style}];')
    for node in graph.nodes:
        for position, arg in enumerate(node.args):
            # Argument positions matter for `sub a b` vs `sub b a`: label them unless the op is
            # commutative.
            ordered = len(node.args) > 1 and not OPS[node.op].commutative
            tail = f' [headlabel="{position}", labelfontsize=8]' if ordered else ""
            lines.append(f"{indent}{ids[arg]} -> {ids[node]}{tail};")


def render(graph: Graph, path: str | Path, values: Mapping[Node, object] | None = None) -> Path:
    """Write the graph as an image with Graphviz; the format comes from the suffix (.svg, .png,
    .pdf). Raises RuntimeError if Graphviz's ``dot`` program is not installed."""
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "svg"
    if shutil.which("dot") is None:
        raise RuntimeError(
            "rendering needs Graphviz's `dot` program (Debian/Ubuntu: apt install graphviz); "
            "gc.to_dot(graph) gives the DOT text without it"
        )
    subprocess.run(
        ["dot", f"-T{fmt}", "-o", str(path)],
        input=to_dot(graph, values).encode(),
        check=True,
        capture_output=True,
    )
    return path
