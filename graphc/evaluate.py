"""The reference evaluator: runs any graph with numpy. The oracle every later stage is tested
against (passes, the JIT), so it stays simple: one loop over ``graph.nodes``, each op's
``evaluate`` from its record, values freed after their last use.

Floating-point warnings (overflow, division by zero, invalid) are silenced: results carry inf
and nan exactly as numpy computes them, which is what the tests compare.

:func:`runner` serves ops that hold a graph and run it many times (a ``scan`` runs its body once
per step): the walk is resolved once into a list of steps over slot numbers, so a step costs the
ops' own ``evaluate`` calls and little else.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence

import numpy as np

from graphc.arguments import bind, check
from graphc.graph import Graph
from graphc.node import Node
from graphc.ops.base import OPS


def evaluate(graph: Graph, *args: object, **kwargs: object):
    """The graph's outputs for these inputs (positional or by name).

    Returns one value for a graph built with a single output node, else a tuple. Scalars come
    back as Python floats (float64), ints or bools, or numpy scalars (float32); arrays as
    ndarrays.
    """
    values = bind(graph.input_names, args, kwargs)
    env = evaluate_all(graph, [check(n, v) for n, v in zip(graph.inputs, values)])
    outputs = tuple(to_python(env[o]) for o in graph.outputs)
    return outputs[0] if graph.single_output else outputs


def evaluate_all(graph: Graph, inputs: list[np.ndarray], keep_all: bool = False) -> dict:
    """Values of the outputs (or of every node with ``keep_all``), keyed by node."""
    last_use: dict[Node, int] = {}
    if not keep_all:
        for i, node in enumerate(graph.nodes):
            for arg in node.args:
                last_use[arg] = i
        for out in graph.outputs:
            last_use[out] = len(graph.nodes)
    env: dict[Node, np.ndarray] = dict(zip(graph.inputs, inputs))
    with np.errstate(all="ignore"):
        for i, node in enumerate(graph.nodes):
            if node.op != "input":
                env[node] = OPS[node.op].evaluate(node, *(env[a] for a in node.args))
            if not keep_all:
                for arg in node.args:
                    if last_use.get(arg) == i:
                        env.pop(arg, None)
    return env


def to_python(value: np.ndarray):
    """A float64/int/bool 0-d array as a Python scalar; float32 as np.float32; arrays copied."""
    array = np.asarray(value)
    if array.ndim == 0:
        return array[()] if array.dtype == np.float32 else array.item()
    return np.array(array, copy=True)


Runner = Callable[[Sequence[np.ndarray]], list[np.ndarray]]
_RUNNERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def runner(graph: Graph) -> Runner:
    """A function from the graph's input arrays to its output arrays, for repeated calls.

    Same values as :func:`evaluate_all` (each op's ``evaluate``, in the graph's order); made
    once per graph (structurally equal graphs share one). Callers silence floating-point
    warnings around their loop, as :func:`evaluate_all` does.
    """
    found = _RUNNERS.get(graph)
    if found is not None:
        return found
    slot = {node: i for i, node in enumerate(graph.inputs)}
    steps = []
    for node in graph.nodes:
        if node in slot:
            continue
        slot[node] = len(slot)
        steps.append((OPS[node.op].evaluate, node, tuple(slot[a] for a in node.args)))
    n_inputs = len(graph.inputs)
    size = len(slot)
    outs = tuple(slot[o] for o in graph.outputs)

    def run(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        values: list = [None] * size
        values[:n_inputs] = inputs
        k = n_inputs
        for evaluate_op, node, args in steps:
            values[k] = evaluate_op(node, *[values[a] for a in args])
            k += 1
        return [values[o] for o in outs]

    _RUNNERS[graph] = run
    return run
