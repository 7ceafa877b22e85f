"""Graphviz DOT output for any graph, and rendering to SVG/PNG when ``dot`` is installed.

Layout conventions: inputs ranked at the top, one ``output k`` marker per output ranked at the
bottom, one box per op labelled with the op, its attributes and its type. Constants are small grey
boxes, adjoint nodes (built by reverse mode) are orange, tangent nodes (forward mode) blue.
Output is deterministic: node ids are positions in ``graph.nodes`` and nothing depends on object
identities, so golden-text tests can compare it.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from graphc.graph import Graph, node_label
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
    for node in graph.nodes:
        parts = [node_label(node)]
        if node.op != "const" or node.ndim:
            parts.append(node.type_str)
        if values is not None and node in values:
            parts.append(f"= {_format_value(values[node])}")
        label = "\\n".join(_escape(p) for p in parts)  # DOT's line break inside a label
        style = STYLE[node.op] if node.op in ("input", "const") else STYLE[node.origin]
        lines.append(f'  {ids[node]} [label="{label}", {style}];')
    for node in graph.nodes:
        for position, arg in enumerate(node.args):
            # Argument positions matter for `sub a b` vs `sub b a`: label them unless the op is
            # commutative.
            ordered = len(node.args) > 1 and not OPS[node.op].commutative
            tail = f' [headlabel="{position}", labelfontsize=8]' if ordered else ""
            lines.append(f"  {ids[arg]} -> {ids[node]}{tail};")
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
