"""Constant folding: a node whose arguments are all constants becomes a constant.

The value comes from the op's reference ``evaluate``, so folding is exact with respect to the
reference evaluator by construction.

Size guard: a folded result may be no larger than the largest constant payload it reads (or a
scalar). ``broadcast_to(0.0, (1000, 1000))`` therefore stays a broadcast of a scalar instead of
becoming an 8 MB array, and elementwise ops on such broadcasts fold to a broadcast of the scalar
result. Folding ``transpose(A)`` of a constant matrix is allowed (same size): CSE then merges it
with ``A`` when ``A`` is symmetric.
"""

from __future__ import annotations

import numpy as np

from graphc import dsl
from graphc.graph import Graph
from graphc.node import Node
from graphc.ops.base import OPS
from passes.rewrite import const_array, rewrite

_NEVER_FOLD = ("input", "const", "stop_gradient")


def _payload_size(node: Node) -> int:
    if node.op == "const":
        return node.size
    return node.args[0].size  # broadcast of a constant: the payload is the broadcast source


def fold_rule(node: Node) -> Node | None:
    for arg in node.args:
        if arg.op != "const" and arg.op != "broadcast_to":
            return None
    values = [const_array(a) for a in node.args]
    if any(v is None for v in values):
        return None
    opdef = OPS[node.op]
    limit = max(1, *(_payload_size(a) for a in node.args))
    if node.size <= limit:
        with np.errstate(all="ignore"):
            result = np.asarray(opdef.evaluate(node, *values), dtype=node.dtype)
        return dsl.constant(result.reshape(node.shape), node.dtype)
    if opdef.kind == "elementwise" and all(
        a.op == "const" or a.args[0].size == 1 for a in node.args
    ):
        # Every argument is a broadcast scalar: compute once, broadcast the result.
        scalars = [np.asarray(v).reshape(-1)[0] for v in values]
        with np.errstate(all="ignore"):
            result = np.asarray(opdef.evaluate(node, *scalars), dtype=node.dtype)
        if node.op != "broadcast_to":
            return dsl.broadcast_to(dsl.constant(result, node.dtype), node.shape)
    return None


_RULES = {name: fold_rule for name in OPS if name not in _NEVER_FOLD}


def fold_constants(graph: Graph) -> Graph:
    return rewrite(graph, _RULES)
