"""``Graph``: inputs, outputs and every node between them in topological order.

Invariants:
- ``graph.nodes`` is a tuple in topological order (every argument before its users), built by an
  iterative depth-first search, so a 100,000-node chain needs no recursion. The graph's inputs
  come first, in the order given, even when an output does not use them.
- Every input node reachable from an output is one of ``graph.inputs``; input names are unique.
- A graph never changes after construction; passes build new graphs.

Also here: :meth:`Graph.verify` (the pass contract), the deterministic text printer, a stable
structural hash (the compile cache's key) and conversion to networkx.

Subgraphs: a node may hold graphs as attributes (a ``scan``'s body, a custom derivative's
function and rule; see ``graphc.ops.control``). A graph is immutable, so it compares and hashes by
its structure (two bodies built twice are equal, and CSE merges their nodes); the printer shows
bodies indented under their node, ``verify`` checks them too, and the structural hash covers
them. :func:`inline` substitutes arguments for a graph's inputs: how rules reuse a body.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from functools import cached_property

from graphc.node import ConstValue, Node
from graphc.ops.base import OPS, arity


class GraphError(ValueError):
    """A graph breaks one of its invariants (raised by construction and by ``verify``)."""


def topological_order(
    outputs: Iterable[Node], first: Sequence[Node] = (), done: set[Node] | None = None
) -> tuple[Node, ...]:
    """``first``, then every node the outputs depend on, arguments before users.

    The one graph walk of the library (an iterative depth-first search, so a 100,000-node chain
    needs no recursion). ``done``, when given, holds nodes already placed elsewhere: they and
    their dependencies are skipped, and the nodes returned are added to it.
    """
    order: list[Node] = list(first)
    seen: set[Node] = set() if done is None else done
    seen.update(order)
    for root in outputs:
        if root in seen:
            continue
        stack: list[tuple[Node, int]] = [(root, 0)]
        seen.add(root)
        while stack:
            node, i = stack[-1]
            if i < len(node.args):
                stack[-1] = (node, i + 1)
                arg = node.args[i]
                if arg not in seen:
                    seen.add(arg)
                    stack.append((arg, 0))
            else:
                stack.pop()
                order.append(node)
    return tuple(order)


class Graph:
    """A computation from named ``inputs`` to ``outputs`` (a node or a list of nodes)."""

    def __init__(self, inputs: Sequence[Node] | Node, outputs: Sequence[object] | object):
        from graphc.dsl import as_node

        if isinstance(inputs, Node):
            inputs = [inputs]
        self.inputs: tuple[Node, ...] = tuple(inputs)
        self.single_output = not isinstance(outputs, (list, tuple))
        items = [outputs] if self.single_output else list(outputs)  # type: ignore[arg-type]
        for item in items:
            if isinstance(item, (list, tuple)):
                raise TypeError(
                    "Graph outputs must be nodes; got a nested list (unpack a list of gradients "
                    "with *, e.g. Graph(inputs, [f, *gc.grad(f, [x1, x2])]))"
                )
        self.outputs: tuple[Node, ...] = tuple(as_node(o) for o in items)
        self._check_inputs()
        self.nodes: tuple[Node, ...] = topological_order(self.outputs, self.inputs)
        self._check_closed()

    @classmethod
    def from_nodes(
        cls,
        inputs: Sequence[Node],
        outputs: Sequence[Node],
        nodes: Sequence[Node],
        single_output: bool = False,
    ) -> Graph:
        """A graph over an already ordered node list (used by passes; ``verify`` checks it).

        Unlike the constructor, the list may hold nodes no output uses: the ``dce`` pass
        erases them.
        """
        graph = cls.__new__(cls)
        graph.inputs = tuple(inputs)
        graph.outputs = tuple(outputs)
        graph.nodes = tuple(nodes)
        graph.single_output = single_output
        return graph

    def _check_inputs(self) -> None:
        names: set[str] = set()
        for node in self.inputs:
            if not isinstance(node, Node) or node.op != "input":
                raise GraphError(f"graph inputs must be input nodes (gc.scalar, ...), got {node!r}")
            if node.name in names:
                raise GraphError(f"two graph inputs are named {node.name!r}")
            names.add(node.name)  # type: ignore[arg-type]

    def _check_closed(self) -> None:
        known = {id(n) for n in self.inputs}
        for node in self.nodes:
            if node.op == "input" and id(node) not in known:
                listed = ", ".join(repr(n.name) for n in self.inputs) or "none"
                raise GraphError(
                    f"the outputs use input {node.name!r}, which is not among the graph's inputs "
                    f"({listed})"
                )

    def __len__(self) -> int:
        return len(self.nodes)

    # A graph is immutable: equal structure is equal computation (bodies held as node
    # attributes compare this way, so CSE merges two scans built from the same step function).
    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, Graph):
            return NotImplemented
        return self.structural_hash == other.structural_hash

    def __hash__(self) -> int:
        return hash(self.structural_hash)

    @cached_property
    def input_names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.inputs)  # type: ignore[misc]

    @cached_property
    def ops(self) -> frozenset[str]:
        """The ops of the nodes (not of bodies held by them): lets a pass that concerns some
        ops only (a rule table, the loop passes) skip a graph without them."""
        return frozenset([node.op for node in self.nodes])

    @cached_property
    def users(self) -> dict[Node, list[Node]]:
        """For each node, the nodes that use it (in topological order)."""
        result: dict[Node, list[Node]] = {n: [] for n in self.nodes}
        for node in self.nodes:
            for arg in node.args:
                result[arg].append(node)
        return result

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for node in self.nodes:
            counts[node.op] = counts.get(node.op, 0) + 1
        return dict(sorted(counts.items()))

    def replace_outputs(self, outputs: Sequence[Node]) -> Graph:
        """A graph with the same inputs and output structure and new output nodes."""
        return Graph(self.inputs, outputs[0] if self.single_output else list(outputs))

    # -- the pass contract --------------------------------------------------------------------
    def verify(self) -> Graph:
        """Check every invariant; raise GraphError naming the first broken one. Returns self."""
        position: dict[int, int] = {}
        for i, node in enumerate(self.nodes):
            if id(node) in position:
                raise GraphError(f"node {node!r} appears twice in the node list")
            opdef = OPS.get(node.op)
            if opdef is None:
                raise GraphError(f"node {node!r} has unknown op {node.op!r}")
            expected = arity(opdef)
            if expected is not None and len(node.args) != expected:
                raise GraphError(
                    f"{node!r} has {len(node.args)} arguments; {node.op} takes {expected}"
                )
            for arg in node.args:
                if id(arg) not in position:
                    raise GraphError(f"{node!r} uses {arg!r} before it is defined")
            try:
                shape, dtype = opdef.infer(node.args, node.attrs)
            except (TypeError, ValueError) as error:
                raise GraphError(f"{node!r} fails its op's type rule: {error}") from None
            if shape != node.shape or dtype != node.dtype:
                raise GraphError(
                    f"{node!r} records type {node.dtype}{list(node.shape)} but its op gives "
                    f"{dtype}{list(shape)}"
                )
            for key, body in subgraphs(node):
                try:
                    body.verify()
                except GraphError as error:
                    raise GraphError(f"in the {key} of {node!r}: {error}") from None
            position[id(node)] = i
        for i, node in enumerate(self.inputs):
            if i >= len(self.nodes) or self.nodes[i] is not node:
                raise GraphError("graph inputs must open the node list, in order")
        self._check_inputs()
        # An input node is defined only by being a graph input: any other one would have no
        # value when the graph is evaluated or compiled.
        for node in self.nodes[len(self.inputs) :]:
            if node.op == "input":
                listed = ", ".join(repr(n.name) for n in self.inputs) or "none"
                raise GraphError(
                    f"{node!r} is in the node list but not among the graph's inputs ({listed})"
                )
        for out in self.outputs:
            if id(out) not in position:
                raise GraphError(f"output {out!r} is not in the node list")
        return self

    # -- printing -----------------------------------------------------------------------------
    def names(self) -> dict[Node, str]:
        """Printable names: ``%name`` for inputs, ``%0, %1, ...`` for the other nodes."""
        result: dict[Node, str] = {}
        counter = 0
        for node in self.nodes:
            if node.op == "input":
                result[node] = f"%{node.name}"
            elif node.op == "const" and node.ndim == 0:
                result[node] = format_scalar(node)
            else:
                result[node] = f"%{counter}"
                counter += 1
        return result

    def __str__(self) -> str:
        return "\n".join(self._lines("graph", ""))

    def _lines(self, title: str, indent: str) -> list[str]:
        """The printed graph, each line prefixed by ``indent``; bodies held by a node follow
        it, two more spaces in, titled by their attribute's name."""
        names = self.names()
        params = ", ".join(f"{names[n]}: {n.type_str}" for n in self.inputs)
        lines = [f"{indent}{title}({params}):"]
        for node in self.nodes:
            if node.op == "input" or (node.op == "const" and node.ndim == 0):
                continue
            if node.op == "const":
                rhs = f"const {node.attrs['value']!r}"
            else:
                rhs = node.op + format_attrs(node)
                if node.args:
                    rhs += " " + " ".join(names[a] for a in node.args)
            lines.append(f"{indent}  {names[node]}: {node.type_str} = {rhs}")
            for key, body in subgraphs(node):
                lines.extend(body._lines(key, indent + "    "))
        lines.append(f"{indent}  return " + ", ".join(names[o] for o in self.outputs))
        return lines

    def __reduce__(self):
        # Pickle through the flat, recursion-free format of graphc.serialize.
        from graphc import serialize

        return (serialize.from_dict, (serialize.to_dict(self),))

    def __repr__(self) -> str:
        return (
            f"<Graph {len(self.inputs)} inputs, {len(self.outputs)} outputs, "
            f"{len(self.nodes)} nodes>"
        )

    # Graphs larger than this are not drawn in notebooks: dot's layout takes minutes on them,
    # and the drawing would be unreadable anyway (print the graph, or gc.render it, instead).
    SVG_MAX_NODES = 400

    def _repr_svg_(self) -> str | None:
        """The drawing Jupyter shows (``gc.to_dot`` laid out by Graphviz's ``dot``), or None
        (Jupyter then shows ``repr``) without ``dot``, beyond :attr:`SVG_MAX_NODES` nodes, or
        if ``dot`` fails or takes more than 20 seconds."""
        import shutil
        import subprocess

        from graphc.graphviz import to_dot

        program = shutil.which("dot")
        if program is None or len(self.nodes) > self.SVG_MAX_NODES:
            return None
        try:
            done = subprocess.run(
                [program, "-Tsvg"], input=to_dot(self).encode(), capture_output=True, timeout=20
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.decode("utf-8") if done.returncode == 0 else None

    # -- identity -----------------------------------------------------------------------------
    @cached_property
    def structural_hash(self) -> str:
        """A stable hex digest of the graph's structure, names, types and constants.

        Float constants are keyed by their bytes, so ``-0.0`` and ``0.0`` differ and nan equals
        nan; the digest does not depend on object identities or the process.
        """
        index: dict[Node, str] = {}
        lines = []
        for i, node in enumerate(self.nodes):
            index[node] = str(i)
            args = ",".join([index[a] for a in node.args])
            attrs = (
                ";".join([f"{k}={_hashable(v)}" for k, v in sorted(node.attrs.items())])
                if node.attrs
                else ""
            )
            lines.append(f"{node.op}({args})[{attrs}]{node.dtype}{node.shape}\n")
        outs = ",".join([index[o] for o in self.outputs])
        lines.append(f"return {outs} single={self.single_output}")
        # One update with the concatenation: the same digest as one update per line.
        return hashlib.sha256("".join(lines).encode()).hexdigest()

    def to_networkx(self):
        """A ``networkx.DiGraph``: one node per graph node (keyed by its printed name), with
        ``op``, ``shape``, ``dtype`` and ``label`` attributes; edges carry the argument position."""
        import networkx as nx

        names = self.names()
        result = nx.DiGraph()
        keys = {}
        for i, node in enumerate(self.nodes):
            # Scalar constants print as literals; their keys use '#', which no input name
            # (an identifier) or '%k' number can contain.
            key = names[node] if not (node.op == "const" and node.ndim == 0) else f"#const{i}"
            keys[node] = key
            result.add_node(
                key,
                op=node.op,
                shape=node.shape,
                dtype=node.dtype,
                label=node_label(node),
                output=any(node is o for o in self.outputs),
            )
            for position, arg in enumerate(node.args):
                result.add_edge(keys[arg], key, position=position)
        return result


def _hashable(value: object) -> str:
    if isinstance(value, ConstValue):
        dtype, shape, digest = value.key
        return f"{dtype}{shape}:{digest.hex()}"
    if isinstance(value, Graph):
        return f"graph:{value.structural_hash}"
    return repr(value)


def subgraphs(node: Node) -> list[tuple[str, Graph]]:
    """The graphs ``node`` holds as attributes (a scan's body ...), by attribute name."""
    if not node.attrs:
        return []
    return [(k, v) for k, v in sorted(node.attrs.items()) if isinstance(v, Graph)]


def inline(graph: Graph, args: Sequence[Node]) -> list[Node]:
    """``graph``'s outputs computed from ``args`` in place of its inputs: every node between is
    rebuilt (and re-checked by its op's rule) over the new arguments; constants are shared.

    ``args`` must have the inputs' types. This is how derivative rules reuse a body: the result
    lives in the caller's graph world, so it can be differentiated and optimized like any node.
    """
    from graphc.ops.base import rebuild

    if len(args) != len(graph.inputs):
        raise ValueError(f"inline: the graph takes {len(graph.inputs)} inputs, got {len(args)}")
    mapping: dict[Node, Node] = {}
    for node, arg in zip(graph.inputs, args):
        if arg.shape != node.shape or arg.dtype != node.dtype:
            raise TypeError(
                f"inline: input {node.name!r} is {node.type_str}, the argument {arg.type_str}"
            )
        mapping[node] = arg
    for node in graph.nodes:
        if node not in mapping:
            mapping[node] = (
                rebuild(node, tuple(mapping[a] for a in node.args)) if node.args else node
            )
    return [mapping[o] for o in graph.outputs]


def format_scalar(node: Node) -> str:
    """A scalar constant as a literal; float32 ones carry a ``:f32`` suffix."""
    text = repr(node.value.item())
    return text + ":f32" if node.dtype == "float32" else text


def format_attrs(node: Node) -> str:
    # Bodies are printed on lines of their own (see Graph._lines), not inside the brackets.
    shown = {k: v for k, v in node.attrs.items() if k != "value" and not isinstance(v, Graph)}
    if not shown:
        return ""
    return "[" + " ".join(f"{k}={v!r}" for k, v in sorted(shown.items())) + "]"


def node_label(node: Node) -> str:
    """A one-line description: op and attributes, or the input's name, or the constant."""
    if node.op == "input":
        return str(node.name)
    if node.op == "const":
        return format_scalar(node) if node.ndim == 0 else f"const {node.attrs['value']!r}"
    return node.op + format_attrs(node)
