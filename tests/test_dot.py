"""Graphviz output: deterministic DOT text, its layout conventions, and rendering.

- ``gc.to_dot`` gives the same text for the same graph, built twice or optimized twice, and
  matches golden text for a tiny graph with its gradient.
- Inputs are ranked as the source, output markers as the sink; inputs, constants, the user's
  ops, adjoint nodes (reverse mode) and tangent nodes (forward mode) have distinct styles;
  ``values`` annotate nodes.
- ``gc.render`` writes SVG when Graphviz's ``dot`` is installed (skipped otherwise), the DOT of
  graphs with every kind of node is accepted by ``dot``, and without ``dot`` rendering raises a
  clear error.
"""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import textwrap

import numpy as np
import pytest

import graphc as gc

dot_module = importlib.import_module("graphc.graphviz")

HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="Graphviz's dot is not installed")


def tiny():
    x = gc.scalar("x")
    c = gc.vector("c", 2, "bool")
    v = gc.vector("v", 2)
    y = gc.sum(gc.where(c, v * x, 0.5))
    return gc.Graph([x, c, v], [y, gc.grad(y, x)])


def node_lines(text: str) -> dict[str, str]:
    """``n<i>`` -> the attribute list of that node's line."""
    return dict(re.findall(r"^  (n\d+) \[(.*)\];$", text, flags=re.M))


def test_golden_text_of_a_tiny_graph():
    assert gc.to_dot(tiny()) == textwrap.dedent("""\
        digraph graphc {
          rankdir=TB;
          node [fontname="Helvetica", fontsize=11];
          edge [color="#666666", arrowsize=0.7];
          n0 [label="x\\nf64[]", shape=ellipse, style=filled, fillcolor="#c7e9c0"];
          n1 [label="c\\nbool[2]", shape=ellipse, style=filled, fillcolor="#c7e9c0"];
          n2 [label="v\\nf64[2]", shape=ellipse, style=filled, fillcolor="#c7e9c0"];
          n3 [label="mul\\nf64[2]", shape=box, style=filled, fillcolor="#ffffff"];
          n4 [label="0.5", shape=box, style="filled,rounded", fillcolor="#eeeeee", fontsize=10];
          n5 [label="where\\nf64[2]", shape=box, style=filled, fillcolor="#ffffff"];
          n6 [label="sum[axes=(0,) keepdims=False]\\nf64[]", shape=box, style=filled, fillcolor="#ffffff"];
          n7 [label="1.0", shape=box, style="filled,rounded", fillcolor="#eeeeee", fontsize=10];
          n8 [label="reshape[shape=(1,)]\\nf64[1]", shape=box, style=filled, fillcolor="#fdd0a2"];
          n9 [label="broadcast_to[shape=(2,)]\\nf64[2]", shape=box, style=filled, fillcolor="#fdd0a2"];
          n10 [label="0.0", shape=box, style="filled,rounded", fillcolor="#eeeeee", fontsize=10];
          n11 [label="where\\nf64[2]", shape=box, style=filled, fillcolor="#fdd0a2"];
          n12 [label="mul\\nf64[2]", shape=box, style=filled, fillcolor="#fdd0a2"];
          n13 [label="sum[axes=(0,) keepdims=False]\\nf64[]", shape=box, style=filled, fillcolor="#fdd0a2"];
          n2 -> n3;
          n0 -> n3;
          n1 -> n5 [headlabel="0", labelfontsize=8];
          n3 -> n5 [headlabel="1", labelfontsize=8];
          n4 -> n5 [headlabel="2", labelfontsize=8];
          n5 -> n6;
          n7 -> n8;
          n8 -> n9;
          n1 -> n11 [headlabel="0", labelfontsize=8];
          n9 -> n11 [headlabel="1", labelfontsize=8];
          n10 -> n11 [headlabel="2", labelfontsize=8];
          n11 -> n12;
          n2 -> n12;
          n12 -> n13;
          out0 [label="output 0", shape=plaintext, fontcolor="#555555"];
          n6 -> out0 [style=dashed];
          out1 [label="output 1", shape=plaintext, fontcolor="#555555"];
          n13 -> out1 [style=dashed];
          { rank=source; n0 n1 n2; }
          { rank=sink; out0 out1; }
        }
        """)  # noqa: E501


def test_output_is_deterministic():
    assert gc.to_dot(tiny()) == gc.to_dot(tiny())  # fresh nodes, same text
    graph = tiny()
    assert gc.to_dot(graph) == gc.to_dot(graph)
    assert gc.to_dot(gc.optimize(tiny())) == gc.to_dot(gc.optimize(tiny()))
    assert gc.to_dot(graph, name="g").startswith("digraph g {")


def test_inputs_are_the_source_and_outputs_the_sink():
    a, b, unused = gc.scalar("a"), gc.vector("b", 3), gc.scalar("unused")
    graph = gc.Graph([a, b, unused], [a * b, gc.sum(b), a * b])
    text = gc.to_dot(graph)
    ids = {n: f"n{i}" for i, n in enumerate(graph.nodes)}
    source = re.search(r"\{ rank=source; ([^;]*); \}", text).group(1).split()
    sink = re.search(r"\{ rank=sink; ([^;]*); \}", text).group(1).split()
    assert source == [ids[a], ids[b], ids[unused]]
    assert sink == ["out0", "out1", "out2"]
    for k, out in enumerate(graph.outputs):
        assert f"  {ids[out]} -> out{k} [style=dashed];" in text
    # Every edge goes from an argument to its user.
    for node in graph.nodes:
        for arg in node.args:
            assert re.search(rf"^  {ids[arg]} -> {ids[node]}[ ;]", text, flags=re.M)


def test_constants_adjoint_and_tangent_nodes_are_styled_distinctly():
    x = gc.vector("x", 3)
    f = gc.sum(gc.exp(x) * np.array([1.0, 2.0, 3.0]))
    graph = gc.Graph([x], [f, gc.grad(f, x), gc.jvp(f, x, np.ones(3))])
    lines = node_lines(gc.to_dot(graph))
    style = {}
    for i, node in enumerate(graph.nodes):
        kind = node.op if node.op in ("input", "const") else (node.origin or "user")
        style.setdefault(kind, set()).add(re.sub(r'label="[^"]*", ', "", lines[f"n{i}"]))
    assert set(style) == {"input", "const", "user", "adjoint", "tangent"}
    assert all(len(s) == 1 for s in style.values()), style  # one style per kind
    assert len({s.pop() for s in style.values()}) == 5  # and five different ones


def test_labels_name_the_op_attributes_and_type_and_show_values():
    x = gc.vector("x", 4)
    graph = gc.Graph([x], [gc.exp(x).astype("float32"), gc.constant(np.arange(6.0))])
    values = {graph.nodes[0]: np.array([1.0, 2.0, 3.0, 4.0]), graph.nodes[1]: 2.5}
    lines = node_lines(gc.to_dot(graph, values=values))
    assert lines["n0"].startswith('label="x\\nf64[4]\\n= [1., 2., 3.] ..."')
    assert lines["n1"].startswith('label="exp\\nf64[4]\\n= 2.5"')
    assert lines["n2"].startswith("label=\"cast[dtype='float32']\\nf32[4]\"")
    assert lines["n3"].startswith('label="const [0., 1., 2., 3., ...]\\nf64[6]"')


def _dot_accepts(text: str) -> None:
    result = subprocess.run(["dot", "-Tsvg"], input=text.encode(), capture_output=True)
    assert result.returncode == 0, result.stderr.decode()


@needs_dot
def test_dot_accepts_graphs_with_every_kind_of_node():
    x, m = gc.vector("x", 3), gc.matrix("m", 2, 3)
    f = gc.sum(gc.softmax(m @ x)) + gc.max(gc.concatenate([x, x[::-1]])) * gc.prod(m[1])
    graph = gc.Graph([x, m], [f, *gc.grad(f, [x, m]), gc.jvp(f, x, np.ones(3))])
    _dot_accepts(gc.to_dot(graph))
    _dot_accepts(gc.to_dot(gc.optimize(graph)))
    _dot_accepts(gc.to_dot(gc.Graph([], [gc.constant(2.0)])))  # no inputs
    _dot_accepts(gc.to_dot(gc.Graph([x], [])))  # no outputs


@needs_dot
def test_render_writes_svg(tmp_path):
    path = gc.render(gc.optimize(tiny()), tmp_path / "tiny.svg")
    assert path == tmp_path / "tiny.svg"
    svg = path.read_text()
    assert "<svg" in svg and "where" in svg and "output 0" in svg


def test_render_without_graphviz_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(dot_module.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="Graphviz"):
        gc.render(tiny(), tmp_path / "tiny.svg")
    assert not (tmp_path / "tiny.svg").exists()
