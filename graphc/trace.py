"""``gc.trace``: the evaluation trace of a graph, as the survey tabulates it.

Baydin et al. explain both modes of AD with one table each for ``y = ln(x1) + x1 x2 - sin(x2)``
at (2, 5): Table 2 is the forward primal trace beside the forward tangent trace, Table 3 the
primal trace beside the reverse adjoint trace. :func:`trace` gives the three for any graph.

This module owns a trace's data: the numbering, which lines exist, their values (the text is
``graphc.trace_format``'s). Numbering follows the survey: the ``n`` inputs are ``v_{1-n} ..
v_0``, the other nodes ``v_1, v_2, ...`` level by level (a node after everything it uses, nodes
of one level in the graph's order), which is the survey's order for its example; scalar
constants are written inline, array constants are named ``c_1, ...``.

Invariant: a trace re-implements nothing. Its tangent and adjoint lines are what the sweeps of
``graphc.autodiff`` report to an observer while they build the jvp and vjp of the graph (seeded
with placeholder inputs, swept in the trace's order), and every value, primal or derivative,
comes from one run of the reference evaluator over the graph and those nodes. So the slide shows
what ``gc.jvp`` and ``gc.vjp`` compute, including where a rule's zero tangent ends a chain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property

import numpy as np

from graphc import dsl, trace_format
from graphc.arguments import bind, check
from graphc.autodiff import depends_on, forward_sweep, reverse_sweep
from graphc.evaluate import evaluate_all, to_python
from graphc.graph import Graph, topological_order
from graphc.node import Node
from graphc.ops.base import is_differentiable
from graphc.trace_format import TraceLine, format_number, format_value, is_inline_constant

__all__ = ["Trace", "TraceLine", "format_number", "format_value", "output_names", "trace"]


class Trace:
    """The evaluation trace of a graph at given arguments (build it with :func:`trace`).

    ``str(trace)`` gives the three traces; :meth:`text` chooses sections. Values of every node
    are in ``values`` (primal), ``tangents`` and ``adjoints`` (node -> numpy array), ready for
    ``gc.to_dot(graph, values=trace.values)``; :meth:`to_dot` puts all three on the nodes. The
    derivative nodes behind them are ``tangent_exprs`` and ``cotangent_exprs``, and what the
    sweeps reported to their observers, in order, ``tangent_steps`` (``(node, tangent)``, tangent
    None where the rule gives zero) and ``adjoint_steps`` (``(node, user, contribution, total)``,
    user None for a seed): see ``graphc.autodiff``.
    """

    def __init__(
        self,
        graph: Graph,
        inputs: list[np.ndarray],
        input_tangents: list[np.ndarray],
        output_cotangents: list[np.ndarray],
        digits: int,
    ):
        self.graph, self.digits = graph, digits
        self.input_tangents, self.output_cotangents = input_tangents, output_cotangents
        self._number_nodes()
        wrt = [n for n in graph.inputs if n in self.active]
        outs = [o for o in graph.outputs if o in self.active]
        # Placeholder inputs stand for the seeds, so formulas can name them; `seeds` gives the
        # output name each cotangent seed stands for (one node may be two outputs).
        dots = [dsl.tensor("seed", n.shape, n.dtype) for n in wrt]
        names = [name for o, name in zip(graph.outputs, self.output_names) if o in self.active]
        self.seeds = {dsl.tensor("seed", o.shape, o.dtype): name for o, name in zip(outs, names)}
        bars = list(self.seeds)

        def tangent_step(node: Node, tangent: Node | None) -> None:
            if tangent is not None or is_differentiable(node):  # no line for int values
                self.tangent_steps.append((node, tangent))

        self.tangent_steps: list[tuple[Node, Node | None]] = []
        self.adjoint_steps: list[tuple[Node, Node | None, Node, Node]] = []
        order = (*graph.inputs, *self.order)
        forward_sweep(graph.outputs, wrt, dots, order, tangent_step)
        reverse_sweep(outs, bars, wrt, order, lambda *step: self.adjoint_steps.append(step))
        self.tangent_exprs: dict[Node, Node] = dict(zip(wrt, dots))
        self.tangent_exprs.update((n, t) for n, t in self.tangent_steps if t is not None)
        self.cotangent_exprs: dict[Node, Node] = {n: total for n, _, _, total in self.adjoint_steps}

        derivatives = [*self.tangent_exprs.values(), *self.cotangent_exprs.values()]
        sources = [*graph.inputs, *dots, *bars]
        nodes = topological_order([*graph.outputs, *derivatives], sources)
        seeds = [t for n, t in zip(graph.inputs, input_tangents) if n in self.active]
        seeds += [c for o, c in zip(graph.outputs, output_cotangents) if o in self.active]
        self.env = evaluate_all(
            Graph.from_nodes(sources, derivatives, nodes), [*inputs, *seeds], keep_all=True
        )
        self.values: dict[Node, np.ndarray] = {n: self.env[n] for n in graph.nodes}
        self.tangents = {n: np.asarray(self.env[t]) for n, t in self.tangent_exprs.items()}
        self.tangents.update((n, _zeros(n)) for n, t in self.tangent_steps if t is None)
        self.adjoints = {n: np.asarray(self.env[c]) for n, c in self.cotangent_exprs.items()}

    def _number_nodes(self) -> None:
        graph = self.graph
        depth: dict[Node, int] = {}
        for node in graph.nodes:
            depth[node] = 1 + max((depth[a] for a in node.args), default=-1) if node.args else 0
        self.names: dict[Node, str] = {}
        n = len(graph.inputs)
        for i, node in enumerate(graph.inputs):
            self.names[node] = f"v_{i + 1 - n}"
        constants = 0
        for node in graph.nodes:
            if node.op == "const" and not is_inline_constant(node):
                constants += 1
                self.names[node] = f"c_{constants}"
        # Level order: stable sort of the topological order by depth, the survey's numbering.
        body = [
            node
            for node in graph.nodes
            if node.op not in ("input", "const") and not is_inline_constant(node)
        ]
        self.order: list[Node] = sorted(body, key=depth.__getitem__)
        for k, node in enumerate(self.order, start=1):
            self.names[node] = f"v_{k}"
        self.output_names = output_names(graph)
        # What depends on a differentiable input (as autodiff decides it): the inputs that get a
        # tangent seed, the outputs that get a cotangent seed.
        found = depends_on(graph.nodes, [n for n in graph.inputs if is_differentiable(n)])
        self.active = {n for n in graph.nodes if id(n) in found}

    def tangent(self, node: Node) -> np.ndarray:
        """``node``'s tangent; zeros (in its dtype if a float, else float64) if it has none."""
        return self.tangents[node] if node in self.tangents else _zeros(node)

    def adjoint(self, node: Node) -> np.ndarray:
        """``node``'s adjoint; zeros if it has none."""
        return self.adjoints[node] if node in self.adjoints else _zeros(node)

    @property
    def output_tangents(self) -> tuple:
        """The Jacobian-vector product: one tangent per output (forward mode), returned as
        ``gc.evaluate`` returns values (Python floats for float64 scalars, else arrays)."""
        return tuple(to_python(self.tangent(o)) for o in self.graph.outputs)

    @property
    def input_adjoints(self) -> tuple:
        """The vector-Jacobian product: one adjoint per input (reverse mode), returned as
        ``gc.evaluate`` returns values; zeros for inputs the outputs do not depend on."""
        return tuple(to_python(self.adjoint(i)) for i in self.graph.inputs)

    # Printing is graphc.trace_format's.
    primal_lines = cached_property(trace_format.primal_lines)
    tangent_lines = cached_property(trace_format.tangent_lines)
    adjoint_lines = cached_property(trace_format.adjoint_lines)
    section = trace_format.section
    labels = trace_format.labels

    def text(self, sections: Sequence[str] = ("primal", "tangent", "adjoint")) -> str:
        """The chosen traces, separated by blank lines."""
        if isinstance(sections, str):
            sections = (sections,)
        return "\n\n".join(self.section(s) for s in sections)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return (
            f"<Trace of {len(self.order)} operations: {len(self.primal_lines)} primal, "
            f"{len(self.tangent_lines)} tangent, {len(self.adjoint_lines)} adjoint lines>"
        )

    def to_dot(self, name: str = "trace") -> str:
        """``gc.to_dot`` of the graph with primal, tangent and adjoint values on the nodes."""
        from graphc.graphviz import to_dot

        return to_dot(self.graph, values=self.labels(), name=name)


# -- the public function ----------------------------------------------------------------------


def output_names(graph: Graph) -> list[str]:
    """How a trace names the outputs: ``y`` for one, ``y1, y2, ...`` for several (``out`` if
    an input already uses such a name)."""
    base = "out" if set(graph.input_names) & {"y", "y1", "y2", "y3"} else "y"
    count = len(graph.outputs)
    return [base] if count == 1 else [f"{base}{k + 1}" for k in range(count)]


def _zeros(node: Node) -> np.ndarray:
    """A zero tangent or adjoint for ``node``: its dtype if a float, else float64."""
    return np.zeros(node.shape, node.dtype if is_differentiable(node) else "float64")


def _unit(node: Node) -> np.ndarray:
    """The first unit vector of ``node``'s shape: 1 in its first element, 0 elsewhere."""
    seed = np.zeros(node.shape, node.dtype)
    seed.reshape(-1)[:1] = 1
    return seed


def _seeds(
    what: str, nodes: Sequence[Node], names: Sequence[str], given: object
) -> list[np.ndarray]:
    """Seeds for ``nodes``: None (a unit seed on the first differentiable one), a name or
    position (a unit seed there), a mapping name -> value, or one value per node."""
    zeros = [_zeros(n) for n in nodes]
    if given is None:
        given = next((i for i, n in enumerate(nodes) if is_differentiable(n)), None)
        if given is None:
            return zeros
    if isinstance(given, (str, int)) and not isinstance(given, bool):
        position = names.index(given) if given in names else given
        if not isinstance(position, int) or not 0 <= position < len(nodes):
            raise ValueError(f"trace: {what}={given!r} names none of {', '.join(names)}")
        zeros[position] = _unit(nodes[position])
        return zeros
    if isinstance(given, Mapping):
        unknown = [k for k in given if k not in names]
        if unknown:
            raise ValueError(f"trace: {what} for unknown {unknown}; expected one of {list(names)}")
        given = [given.get(name, zeros[i]) for i, name in enumerate(names)]
    if not isinstance(given, (list, tuple)) or len(given) != len(nodes):
        raise ValueError(
            f"trace: {what} must give one value per {'input' if what == 'tangents' else 'output'}"
            f" ({len(nodes)}), a name, or a mapping name -> value; got {given!r}"
        )
    result = []
    for node, name, value in zip(nodes, names, given):
        array = np.asarray(value, dtype=float)
        if array.shape != node.shape:
            raise ValueError(
                f"trace: the {what[:-1]} for {name} has shape {array.shape}, expected {node.shape}"
            )
        result.append(array.astype(node.dtype if is_differentiable(node) else "float64"))
    return result


def trace(
    graph: Graph,
    *args: object,
    tangents: object = None,
    cotangents: object = None,
    digits: int = 3,
    **kwargs: object,
) -> Trace:
    """The evaluation trace of ``graph`` at ``args``: primal, forward tangent, reverse adjoint.

    ``tangents`` seeds forward mode: by default ``ẋ = e_1`` (1 on the first element of the first
    input, 0 elsewhere, as the survey's Table 2); give an input's name (``"x2"``) for a unit
    seed there, a mapping name -> value, or one value per input. ``cotangents`` seeds reverse
    mode the same way per output (default: ``ȳ = 1`` on the first output): an output's trace
    name (``"y2"``) or position, a mapping, or one value per output. ``digits`` is the number
    of decimals printed. Arguments are given as to ``gc.evaluate``, by position or by name.
    """
    if not isinstance(graph, Graph):
        raise TypeError(f"trace: expected a gc.Graph, got {type(graph).__name__}")
    if not isinstance(digits, int) or digits < 0:
        raise ValueError(f"trace: digits must be a non-negative int, got {digits!r}")
    values = bind(graph.input_names, args, kwargs)
    inputs = [check(node, value) for node, value in zip(graph.inputs, values)]
    input_tangents = _seeds("tangents", graph.inputs, graph.input_names, tangents)
    output_cotangents = _seeds("cotangents", graph.outputs, output_names(graph), cotangents)
    return Trace(graph, inputs, input_tangents, output_cotangents, digits)
