"""The op record and the registry every stage dispatches through.

Each op is defined once, by one :class:`OpDef`, in the module of its family (``sources``,
``elementwise``, ``special``, ``reductions``, ``shape``, ``indexing``, ``cumulative``,
``sparse``, ``linalg``, ``control``). The record holds everything the system knows about the
op, so adding an op touches one record (and one row of ``tests/test_ops.py``'s table; the
steps are in "How to add an op" in ``docs/architecture.md``):

- ``infer(args, attrs) -> (shape, dtype)``: the shape and dtype rule; raises on bad input with a
  message naming the op, the shapes or dtypes and what was expected.
- ``evaluate(node, *arrays) -> ndarray``: the reference semantics, in numpy: the oracle.
- ``vjp(node, ct) -> tuple[Node | None, ...]``: one cotangent per argument, built as graph nodes;
  ``None`` means the op is not differentiable in that argument (the cotangent is zero).
- ``jvp(node, tangents) -> Node | None``: the tangent of the output given one tangent (or
  ``None`` for zero) per argument.
- ``kind``: how lowering treats the op (``elementwise`` ops fuse into loops; the others are loop
  nests or views), and ``lower``: the scalar code of an elementwise op (see ``graphc.jit``).
- ``expand(node) -> Node``: for an op the backend does not lower itself, the same value built
  from ops it does (applied by the ``expand`` pass just before lowering).
- ``batch(node, args, axes) -> (node, axis)``: the batching rule (JAX's): ``node`` computed for
  every entry of a batch at once, given its arguments ``args`` of which those with an int in
  ``axes`` carry the batch at that axis (None: shared by every entry). Returns the batched node
  and the axis its batch is at. None means the default of the op's kind
  (``graphc.batching.batch_rule``): elementwise ops and reductions need no code of their own.
- ``sparsity(node) -> tuple[deps, ...]``: which elements of each argument each output element
  depends on (``graphc.sparsity`` describes the forms), for sparse Jacobians; None means the
  default of the op's kind (``graphc.sparsity.sparsity_rule``).

Invariant: rules only build nodes through :func:`make` and the DSL, so every node they create is
shape-checked like a user's. :func:`make` and :func:`rebuild` (through which every node but a
constant, whose payload is an existing array, is built) refuse shapes of more than
``shapes.MAX_ELEMENTS`` elements, whichever op's rule produced them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from operator import is_not
from typing import Any

from graphc import dtypes
from graphc.node import NO_ATTRS, Attrs, Node, current_origin
from graphc.shapes import MAX_ELEMENTS, Shape, broadcast_axes, too_large

Infer = Callable[[tuple[Node, ...], Attrs], tuple[Shape, str]]
Vjp = Callable[[Node, Node], tuple[Node | None, ...]]
Jvp = Callable[[Node, tuple[Node | None, ...]], Node | None]
Batch = Callable[[Node, tuple[Node, ...], tuple["int | None", ...]], tuple[Node, int]]


@dataclass(frozen=True)
class OpDef:
    name: str
    # input | const | elementwise | reduce | matmul | view | concat | unslice, or a kind whose
    # records lower their own loop nests (tests/test_ops.py::test_op_record_is_complete lists all)
    kind: str
    infer: Infer
    evaluate: Callable[..., Any]
    vjp: Vjp | None = None  # None: never differentiable (comparisons, sign, sources)
    jvp: Jvp | None = None
    lower: Callable[..., Any] | None = None  # elementwise: (emitter, node, operands) -> value
    commutative: bool = False
    doc: str = ""
    arity: int | None = None  # number of arguments; None: the default of its kind (see arity)
    expand: Callable[[Node], Node] | None = None  # lowering by expansion into other ops
    batch: Batch | None = None  # batching rule; None: the kind's default (graphc.batching)
    sparsity: Callable[[Node], tuple] | None = None  # None: the kind's default (graphc.sparsity)


# How many arguments an op of each kind takes, unless its record says otherwise; elementwise
# records give theirs (1, 2 or 3), concatenation takes any number (None).
_KIND_ARITY: dict[str, int | None] = {
    "input": 0,
    "const": 0,
    "reduce": 1,
    "view": 1,
    "unslice": 1,
    "matmul": 2,
    "concat": None,
}


def arity(opdef: OpDef) -> int | None:
    """The number of arguments of ``opdef``'s nodes, or None when any number is allowed."""
    return opdef.arity if opdef.arity is not None else _KIND_ARITY.get(opdef.kind)


OPS: dict[str, OpDef] = {}


def register(*opdefs: OpDef) -> None:
    for opdef in opdefs:
        if opdef.name in OPS:
            raise RuntimeError(f"op {opdef.name!r} is defined twice")
        OPS[opdef.name] = opdef


def make(op: str, args: tuple[Node, ...], attrs: Attrs = NO_ATTRS) -> Node:
    """Build a node of ``op``: its shape and dtype come from the op's rule, which checks args."""
    shape, dtype = OPS[op].infer(args, attrs)
    # A shape that is its first argument's (the common case: elementwise rules return that very
    # tuple) was checked when that argument was built; only new shapes pay for the product.
    if shape and (not args or shape is not args[0].shape) and math.prod(shape) > MAX_ELEMENTS:
        raise too_large(f"input {attrs['name']!r}" if op == "input" else op, shape)
    return Node(op, args, attrs, shape, dtype, current_origin())


def rebuild(node: Node, args: tuple[Node, ...]) -> Node:
    """``node`` with new arguments (same op and attrs), re-checked by the shape rule."""
    if len(args) == len(node.args) and not any(map(is_not, args, node.args)):
        return node
    shape, dtype = OPS[node.op].infer(args, node.attrs)
    if shape and (not args or shape is not args[0].shape) and math.prod(shape) > MAX_ELEMENTS:
        raise too_large(node.op, shape)
    return Node(node.op, args, node.attrs, shape, dtype, node.origin)


# -- helpers shared by derivative rules -------------------------------------------------------


def is_differentiable(node: Node) -> bool:
    return node.dtype in dtypes.FLOATS


def unbroadcast(ct: Node, like: Node) -> Node | None:
    """Reverse of numpy broadcasting: sum ``ct`` down to ``like``'s shape and dtype.

    Forward, broadcasting copies a value along new or size-1 axes, so in reverse the cotangents
    of the copies add up. Returns None when ``like`` is not differentiable (int or bool).
    """
    from graphc import dsl

    if not is_differentiable(like):
        return None
    if ct.shape != like.shape:
        axes, kept = broadcast_axes(like.shape, ct.shape)
        ct = dsl.sum(ct, axes) if axes else ct
        if kept != like.shape:
            ct = dsl.reshape(ct, like.shape)
    if ct.dtype != like.dtype:
        ct = dsl.astype(ct, like.dtype)
    return ct


def broadcast_tangent(tangent: Node | None, node: Node) -> Node | None:
    """A tangent of an argument, broadcast and cast to the type of the result ``node``."""
    from graphc import dsl

    if tangent is None:
        return None
    if tangent.dtype != node.dtype:
        tangent = dsl.astype(tangent, node.dtype)
    if tangent.shape != node.shape:
        tangent = dsl.broadcast_to(tangent, node.shape)
    return tangent


def add_tangents(*terms: Node | None) -> Node | None:
    """Sum of the non-None terms, or None when all are None (a zero tangent)."""
    total = None
    for term in terms:
        if term is not None:
            total = term if total is None else total + term
    return total
