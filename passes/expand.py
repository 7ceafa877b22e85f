"""Expansion for lowering: every op whose record has an ``expand`` rule is replaced by the
equivalent graph in ops the backend lowers directly (``logsumexp`` becomes max, exp, sum, log;
``stop_gradient`` becomes its argument: derivatives are taken before compiling).

The rule table is read from the op records, so an op declares its own expansion where it is
defined. The replacement computes the same value as the op's reference ``evaluate`` (each rule
says how it handles inf and nan), so the pass preserves results; it runs after the optimizer,
once (``passes.LOWERING_PIPELINE``), and only the backend needs it: the evaluator and the
optimizer's rules keep seeing the compact op.
"""

from __future__ import annotations

from graphc.graph import Graph
from graphc.ops.base import OPS
from passes.rewrite import rewrite

_RULES = {name: opdef.expand for name, opdef in OPS.items() if opdef.expand is not None}


def expand(graph: Graph) -> Graph:
    return rewrite(graph, _RULES)
