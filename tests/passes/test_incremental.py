"""The shortcuts that make the optimizer fast on large graphs give the results of the plain
algorithms they replace.

- ``rewrite`` inside ``remembering_stable_nodes`` (how ``passes.run`` runs its rounds) skips the
  rules of nodes a rule table already left unchanged: the pipeline's result is the one of the
  same rounds run without that memory, node for node;
- ``cse`` keys nodes by their representative arguments' identities instead of value numbers and
  keeps the checked types of rebuilt nodes: the same graph as value numbering with rebuilds;
- ``Graph.structural_hash`` hashes one string: the digest of the line-by-line version;
- ``Graph.ops`` lets a rule table skip a graph without its ops.
"""

from __future__ import annotations

import hashlib

from helpers import random_graphs
from hypothesis import HealthCheck, given, settings

import graphc as gc
import passes
from graphc.graph import Graph, _hashable
from graphc.node import Node
from graphc.ops.base import OPS, rebuild
from passes.rewrite import remembering_stable_nodes, rewrite

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _plain_pipeline(graph: Graph, pipeline=passes.DEFAULT_PIPELINE) -> Graph:
    """passes.run's rounds without any memory between passes (every rule sees every node)."""
    functions = [passes.PASSES[name](False) for name in pipeline]
    for _ in range(passes.MAX_ROUNDS):
        changed = False
        for function in functions:
            new = function(graph)
            changed |= new is not graph
            graph = new
        if not changed:
            break
    return graph


def _value_numbering_cse(graph: Graph) -> Graph:
    """CSE as it was first written: value numbers, and every changed node rebuilt by its rule."""
    table: dict[tuple, Node] = {}
    number: dict[Node, int] = {}
    mapping: dict[Node, Node] = {}
    emitted: list[Node] = []
    commutative = {name for name, opdef in OPS.items() if opdef.commutative}
    for node in graph.nodes:
        args = tuple(mapping[a] for a in node.args)
        numbers = tuple(number[a] for a in args)
        if node.op in commutative:
            numbers = tuple(sorted(numbers))
        key = (node.op, numbers, node.attrs)
        if key in table:
            mapping[node] = table[key]
            continue
        new = rebuild(node, args) if args else node
        table[key] = new
        number[new] = len(number)
        mapping[node] = new
        emitted.append(new)
    return Graph.from_nodes(
        graph.inputs, [mapping[o] for o in graph.outputs], emitted, graph.single_output
    )


def _line_by_line_hash(graph: Graph) -> str:
    index: dict[int, int] = {}
    digest = hashlib.sha256()
    for i, node in enumerate(graph.nodes):
        index[id(node)] = i
        args = ",".join(str(index[id(a)]) for a in node.args)
        attrs = ";".join(f"{k}={_hashable(v)}" for k, v in sorted(node.attrs.items()))
        digest.update(f"{node.op}({args})[{attrs}]{node.dtype}{node.shape}\n".encode())
    outs = ",".join(str(index[id(o)]) for o in graph.outputs)
    digest.update(f"return {outs} single={graph.single_output}".encode())
    return digest.hexdigest()


@SETTINGS
@given(random_graphs(grad=True))
def test_pipeline_with_memory_equals_plain_rounds(case):
    graph, _ = case
    assert str(passes.run(graph).graph) == str(_plain_pipeline(graph))


@SETTINGS
@given(random_graphs())
def test_cse_equals_value_numbering(case):
    graph, _ = case
    for g in (graph, passes.run(graph, ("simplify",)).graph):
        new, reference = passes.cse(g), _value_numbering_cse(g)
        assert str(new) == str(reference)
        assert [(n.shape, n.dtype) for n in new.nodes] == [
            (n.shape, n.dtype) for n in reference.nodes
        ]
        new.verify()


@SETTINGS
@given(random_graphs(grad=True))
def test_structural_hash_is_the_line_by_line_digest(case):
    graph, _ = case
    assert graph.structural_hash == _line_by_line_hash(graph)


def test_structural_hash_covers_bodies_and_constants():
    x = gc.vector("x", 3)
    _, ys = gc.scan(lambda c, xi: (c * xi + 1.0, c), gc.constant(0.5), x)
    graph = gc.Graph([x], [ys * gc.constant([1.0, -0.0, 2.0])])
    assert graph.structural_hash == _line_by_line_hash(graph)


def test_a_rule_table_remembers_only_inside_the_scope_and_only_for_itself():
    x = gc.scalar("x")
    graph = gc.Graph([x], [gc.sin(x) * 2.0 + gc.sin(x * 3.0)])
    calls: list[Node] = []

    def never(node: Node) -> None:
        calls.append(node)
        return None

    table = {"sin": never}
    for _ in range(2):
        assert rewrite(graph, table) is graph
    assert len(calls) == 4  # no scope: every walk asks the rule
    calls.clear()
    with remembering_stable_nodes():
        for _ in range(3):
            assert rewrite(graph, table) is graph
        assert len(calls) == 2  # the two sin nodes, once each
        # Another table (the same rule, a new object) does not reuse that memory ...
        assert rewrite(graph, {"sin": never}) is graph
        assert len(calls) == 4
        # ... and one that does rewrite still does.
        new = rewrite(graph, {"sin": lambda node: gc.cos(node.args[0])})
        assert new.ops >= {"cos"} and "sin" not in new.ops
    calls.clear()
    rewrite(graph, table)
    assert len(calls) == 2  # the scope is over: nothing remembered


def test_rewrite_skips_a_graph_without_the_ops_of_its_rules():
    x = gc.scalar("x")
    graph = gc.Graph([x], [gc.exp(x) + 1.0])
    assert graph.ops == {"input", "exp", "const", "add"}

    def fail(node: Node) -> None:
        raise AssertionError("called")

    assert rewrite(graph, {"scan": fail, "sin": fail}) is graph
