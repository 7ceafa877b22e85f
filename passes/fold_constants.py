"""Constant folding: a node whose arguments are all constants becomes a constant.

The value comes from the op's reference ``evaluate``, so folding is exact with respect to the
reference evaluator by construction.

Size guard: a folded result may be no larger than the largest constant payload it reads (or a
scalar). ``broadcast_to(0.0, (1000, 1000))`` therefore stays a broadcast of a scalar instead of
becoming an 8 MB array. An elementwise op whose result is larger than that is instead computed on
the payloads themselves (each argument's own array: a constant, or the source of a broadcast
constant), which numpy broadcasts to a result of their common shape; when that result is within
the guard, the fold is a broadcast of it. ``broadcast_to(2.0, (3, 2)) * c`` for a ``(3, 1)``
constant ``c`` folds to ``broadcast_to(2.0 * c, (3, 2))``, while the outer product of a ``(3, 1)``
and a ``(1, 2)`` constant (6 elements from payloads of 3 and 2) is left alone. Evaluating on the
payloads is exact: an elementwise op computes each element from the elements broadcasting maps
to it, which are the same before and after broadcasting the payloads to the full shape.

Folding ``transpose(A)`` of a constant matrix is allowed (same size): CSE then merges it with
``A`` when ``A`` is symmetric.
"""

from __future__ import annotations

import math

import numpy as np

from graphc import dsl
from graphc.graph import Graph
from graphc.node import Node
from graphc.ops.base import OPS
from passes.rewrite import const_array, rewrite

# A scan with constant arguments is left to run as a loop: folding it would run every step in
# the reference evaluator at compile time, however many there are.
_NEVER_FOLD = ("input", "const", "stop_gradient", "scan")


def _payload(node: Node) -> np.ndarray:
    """The array a constant argument stores: itself, or the source of a broadcast constant."""
    return node.value if node.op == "const" else node.args[0].value


def fold_rule(node: Node) -> Node | None:
    for arg in node.args:
        if arg.op != "const" and arg.op != "broadcast_to":
            return None
    values = [const_array(a) for a in node.args]
    if any(v is None for v in values):
        return None
    opdef = OPS[node.op]
    payloads = [_payload(a) for a in node.args]
    limit = max(1, *(p.size for p in payloads))
    if node.size <= limit:
        with np.errstate(all="ignore"):
            result = np.asarray(opdef.evaluate(node, *values), dtype=node.dtype)
        return dsl.constant(result.reshape(node.shape), node.dtype)
    if opdef.kind != "elementwise":
        return None
    # Broadcasting commutes with an elementwise op, so compute on the payloads (numpy broadcasts
    # them to their common shape, which itself broadcasts to node.shape) and broadcast the result.
    if math.prod(np.broadcast_shapes(*(p.shape for p in payloads))) > limit:
        return None
    with np.errstate(all="ignore"):
        result = np.asarray(opdef.evaluate(node, *payloads), dtype=node.dtype)
    return dsl.broadcast_to(dsl.constant(result, node.dtype), node.shape)


_RULES = {name: fold_rule for name in OPS if name not in _NEVER_FOLD}


def fold_constants(graph: Graph) -> Graph:
    return rewrite(graph, _RULES)
