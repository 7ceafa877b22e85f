"""Numerically stable rewrites: expressions that lose accuracy or overflow in floating point are
replaced by the library function that does not. Each rewrite replaces two or three nodes by at
most two, so the pass cannot grow a graph. These change results, always towards the exact
value (e.g. ``log(1 + 1e-20)`` is 0 but ``log1p(1e-20)`` is 1e-20), and preserve derivatives.

- ``log(1 + x) -> log1p(x)``            cancellation for small x
- ``exp(x) - 1 -> expm1(x)``            cancellation for small x
- ``log(exp(x)) -> x``                  exp overflows for x > 709
- ``log1p(exp(x)) -> softplus(x)``      exp overflows for x > 709
- ``log(sigmoid(x)) -> -softplus(-x)``  log(0) = -inf for x < -745
- ``log(sum(exp(x))) -> logsumexp(x)``  exp overflows (same axes and keepdims)
"""

from __future__ import annotations

from graphc import dsl
from graphc.graph import Graph
from graphc.node import Node
from passes.rewrite import is_splat, rewrite


def _same_type(new: Node, old: Node) -> Node | None:
    return new if new.shape == old.shape and new.dtype == old.dtype else None


def stabilize_rule(node: Node) -> Node | None:
    match node:
        case Node(op="log", args=(Node(op="add", args=(x, one)),)) if is_splat(one, 1.0):
            return _same_type(dsl.log1p(x), node)
        case Node(op="log", args=(Node(op="add", args=(one, x)),)) if is_splat(one, 1.0):
            return _same_type(dsl.log1p(x), node)  # when simplify has not put 1 on the right
        case Node(op="sub", args=(Node(op="exp", args=(x,)), one)) if is_splat(one, 1.0):
            return _same_type(dsl.expm1(x), node)
        case Node(op="log", args=(Node(op="exp", args=(x,)),)):
            return _same_type(x, node)
        case Node(op="log1p", args=(Node(op="exp", args=(x,)),)):
            return _same_type(dsl.softplus(x), node)
        case Node(op="log", args=(Node(op="sigmoid", args=(x,)),)):
            # (x in the result's float dtype first: a boolean or integer x has no negation)
            return _same_type(-dsl.softplus(-dsl.astype(x, node.dtype)), node)
        case Node(op="log", args=(Node(op="sum", args=(Node(op="exp", args=(x,)),)) as total,)):
            attrs = total.attrs
            return _same_type(dsl.logsumexp(x, attrs["axes"], attrs["keepdims"]), node)
    return None


_RULES = {"log": stabilize_rule, "sub": stabilize_rule, "log1p": stabilize_rule}


def stabilize(graph: Graph) -> Graph:
    return rewrite(graph, _RULES)
