"""Source ops: named inputs and constants. They have no arguments and no derivative rule."""

from __future__ import annotations

from graphc.dtypes import canonical
from graphc.ops.base import OpDef, register


def _infer_input(args, attrs):
    return attrs["shape"], attrs["dtype"]


def _infer_const(args, attrs):
    array = attrs["value"].array
    return tuple(array.shape), canonical(array.dtype)


def _no_evaluate(node, *values):
    raise RuntimeError(f"{node.op} nodes are bound by the evaluator, not evaluated")


register(
    OpDef("input", "input", _infer_input, _no_evaluate, doc="a named graph input"),
    OpDef("const", "const", _infer_const, lambda node: node.value, doc="a constant array"),
)
