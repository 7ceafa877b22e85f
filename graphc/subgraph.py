"""Tracing a user's Python function into a graph a node can hold (a scan's body, a custom
derivative's function and rule), with the outer nodes it uses made explicit inputs.

The function is called once on fresh placeholder inputs. What it returns is split three ways:

- nodes that depend on a placeholder form the body;
- nodes built from constants only stay in the body too (they fold there, and compiled code
  keeps them as literals);
- every other node the body uses is *closed over*: it depends on the outer world (an input of
  the enclosing graph, or a placeholder of an enclosing body) and not on the placeholders, so it
  is computed outside, once, and enters the body as an input of its own. The outermost such
  nodes are taken, so ``W.T`` written inside a step function is computed once, before the loop.

Invariant: the body refers to nothing outside itself (its inputs are the placeholders then the
closed-over values, in order of first use), so it serialises, hashes and compiles on its own.

Also here: small helpers for the nested tuples/lists ("pytrees") users pass as carries.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from graphc.graph import Graph, topological_order
from graphc.node import Attrs, Node
from graphc.ops.base import make, rebuild

_DEPENDS, _CONSTANT, _OUTER = 0, 1, 2


def placeholder(name: str, shape: tuple[int, ...], dtype: str) -> Node:
    """A body input of the given type."""
    return make("input", (), Attrs(name=name, shape=tuple(shape), dtype=dtype))


def batched_placeholders(
    inputs: Sequence[Node], batched: Sequence[bool], size_b: int
) -> tuple[list[Node], list[tuple[Node, Node, int]]]:
    """A body's inputs for a batch of ``size_b``: each batched one replaced by a placeholder
    with the batch first. Returns the new inputs and the ``(input, placeholder, 0)`` sources
    :func:`graphc.batching.batch_nodes` takes."""
    made: list[Node] = []
    sources: list[tuple[Node, Node, int]] = []
    for inp, is_batched in zip(inputs, batched):
        if is_batched:
            new = placeholder(str(inp.name), (size_b, *inp.shape), inp.dtype)
            sources.append((inp, new, 0))
            made.append(new)
        else:
            made.append(inp)
    return made, sources


@dataclass(frozen=True)
class Closure:
    graph: Graph  # inputs: the placeholders, then one per closed-over node
    closed: tuple[Node, ...]  # the outer nodes those extra inputs stand for


def close_over(placeholders: Sequence[Node], outputs: Sequence[Node], prefix: str = "k") -> Closure:
    """The graph from ``placeholders`` to ``outputs``, with outer nodes made inputs named
    ``prefix0, prefix1, ...`` (see the module docstring)."""
    status: dict[Node, int] = {p: _DEPENDS for p in placeholders}
    order: list[Node] = []
    # Arguments are classified before their users: the library's one graph walk gives that order.
    for node in topological_order(outputs, first=tuple(status))[len(status) :]:
        if node.op == "const":
            status[node] = _CONSTANT
        elif node.op == "input":
            status[node] = _OUTER
        else:
            kinds = {status[a] for a in node.args}
            if _DEPENDS in kinds:
                status[node] = _DEPENDS
            else:
                status[node] = _OUTER if _OUTER in kinds else _CONSTANT
        order.append(node)
    closed: dict[Node, Node] = {}

    def closure_input(node: Node) -> Node:
        found = closed.get(node)
        if found is None:
            found = placeholder(f"{prefix}{len(closed)}", node.shape, node.dtype)
            closed[node] = found
        return found

    mapping: dict[Node, Node] = {p: p for p in placeholders}
    for node in order:
        if status[node] != _DEPENDS:
            continue
        args = tuple(
            mapping[a]
            if status[a] == _DEPENDS
            else a
            if status[a] == _CONSTANT
            else closure_input(a)
            for a in node.args
        )
        mapping[node] = rebuild(node, args)
    new_outputs = [
        mapping[o] if status[o] == _DEPENDS else o if status[o] == _CONSTANT else closure_input(o)
        for o in outputs
    ]
    graph = Graph([*placeholders, *closed.values()], list(new_outputs))
    return Closure(graph, tuple(closed))


# -- nested tuples and lists ------------------------------------------------------------------


# A structure: None for a leaf, else (tuple or list, the structures of the items).
Structure = Any


def flatten(tree: object) -> tuple[list, Structure]:
    """The leaves of nested tuples/lists (anything else is a leaf), and their structure."""
    if isinstance(tree, (tuple, list)):
        leaves: list = []
        shapes = []
        for item in tree:
            sub_leaves, sub_shape = flatten(item)
            leaves.extend(sub_leaves)
            shapes.append(sub_shape)
        return leaves, (type(tree), tuple(shapes))
    return [tree], None


def unflatten(structure: Structure, leaves: Sequence) -> Any:
    """The inverse of :func:`flatten`."""
    return _build(structure, iter(leaves))


def _build(structure: Structure, leaves: Iterator) -> Any:
    if structure is None:
        return next(leaves)
    kind, items = structure
    return kind(_build(item, leaves) for item in items)


def describe(structure: Structure) -> str:
    """A structure as text, for error messages: ``(*, [*, *])``."""
    if structure is None:
        return "*"
    kind, items = structure
    inner = ", ".join(describe(i) for i in items)
    return f"[{inner}]" if kind is list else f"({inner}{',' if len(items) == 1 else ''})"
