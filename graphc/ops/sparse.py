"""``sparse_gather``: elements of a vector at constant positions, for sparse derivatives.

``sparse_gather(x, idx)`` is ``x[idx]`` for a 1-D ``x`` and a 1-D int64 *constant* ``idx``
(positions may repeat, in any order). It is what ``graphc.sparsity`` reads the nonzeros of a
compressed Jacobian with (``gc.sparse_jacobian(...).values``); it is internal (not in ``gc``):
integer-array indexing for users is ``x[idx]`` / ``gc.take``.

- Positions are checked when the node is built (``0 <= idx < x.size``): compiled code never
  reads outside ``x``.
- Linear in ``x``: its jvp gathers the tangent; its vjp is the scatter-add, built from gathers
  too (positions being known, the cotangent of ``x[j]`` sums the ``ct[k]`` with ``idx[k] == j``
  in increasing ``k``, as ``numpy.add.at`` does: at most one gather per repeat of a position).
- Lowering: a kernel of its own (kind ``gather``), one loop that loads each position and the
  element there; ``idx`` is passed by pointer like every constant array.
"""

from __future__ import annotations

import numpy as np

from graphc import dsl, dtypes  # dsl is complete here: graphc.node imports it first
from graphc.node import Node
from graphc.ops.base import OpDef, make, register
from graphc.shapes import fmt


def sparse_gather(x: Node, idx: object) -> Node:
    """``x[idx]`` for a vector ``x`` and constant int64 positions ``idx`` (see the module)."""
    positions = np.asarray(idx)
    if positions.dtype.kind not in "iu":
        raise TypeError(f"sparse_gather: positions must be integers, got dtype {positions.dtype}")
    return make("sparse_gather", (dsl.as_node(x), dsl.constant(positions, dtypes.INT64)))


def _infer(args, attrs):
    x, idx = args
    if x.ndim != 1:
        raise ValueError(f"sparse_gather: gathers from a vector, got shape {fmt(x.shape)}")
    if idx.op != "const" or idx.dtype != dtypes.INT64 or idx.ndim != 1:
        raise TypeError(
            f"sparse_gather: positions must be a 1-D int64 constant, got a {idx.op} node of type "
            f"{idx.type_str}"
        )
    positions = idx.value
    if positions.size and (positions.min() < 0 or positions.max() >= x.size):
        bad = positions[(positions < 0) | (positions >= x.size)][0]
        raise IndexError(f"sparse_gather: position {bad} is out of range for a vector of {x.size}")
    return (positions.size,), x.dtype


def _evaluate(node, x, idx):
    return np.asarray(x)[np.asarray(idx)]


def _jvp(node, tangents):
    t, _ = tangents
    return None if t is None else make("sparse_gather", (t, node.args[1]))


def scatter_add(ct: Node, positions: np.ndarray, size: int) -> Node:
    """The vector of ``size`` whose element ``j`` sums the ``ct[k]`` with ``positions[k] == j``
    (in increasing ``k``; zero where none): the transpose of gathering at ``positions``."""
    if size == 0 or positions.size == 0:
        return dsl.zeros((size,), ct.dtype)
    counts = np.bincount(positions, minlength=size)
    order = np.argsort(positions, kind="stable")
    starts = np.cumsum(counts) - counts
    padded = ct if counts.min() > 0 else dsl.concatenate([ct, dsl.zeros((1,), ct.dtype)])
    total = None
    for repeat in range(int(counts.max())):
        source = np.full(size, positions.size, dtype=np.int64)  # the padding zero
        present = counts > repeat
        source[present] = order[starts[present] + repeat]
        term = sparse_gather(padded, source)
        total = term if total is None else total + term
    return total  # type: ignore[return-value]


def _vjp(node, ct):
    x, idx = node.args
    if x.dtype not in dtypes.FLOATS:
        return None, None
    return scatter_add(ct, idx.value, x.size), None


def _batch(node, args, axes):
    (x, idx), (axis, _) = args, axes
    n = node.args[0].size
    size = x.shape[axis]
    batch = np.arange(size, dtype=np.int64)
    if axis == 1:  # (n, B): entry b of element j is at j * B + b
        positions = (idx.value[:, None] * size + batch[None, :]).reshape(-1)
        flat = sparse_gather(dsl.reshape(x, (n * size,)), positions)
        return dsl.reshape(flat, (idx.size, size)), 1
    positions = (batch[:, None] * n + idx.value[None, :]).reshape(-1)
    flat = sparse_gather(dsl.reshape(x, (size * n,)), positions)
    return dsl.reshape(flat, (size, idx.size)), 0


def _sparsity(node):
    return node.args[1].value, None  # output k is x[idx[k]]; the positions are not variables


def _lower(em, kernel):
    node = kernel.root
    x, idx = node.args
    if node.size == 0:
        return
    out, lx, li = em.layout(node), em.layout(x), em.layout(idx)
    (i,), loops = em.open_loops((node.size,))
    if isinstance(lx, str):  # a scalar broadcast: every element is that scalar
        value = em.scalar(x)
    else:
        if isinstance(li, str):  # every position equal (a splat constant)
            position = em.scalar(idx).text
        else:
            pointer = em.element_pointer(li, em.offset(li.strides, [i]))
            position = em.fb.load(pointer, dtypes.INT64).text
        value = em.fb.load(em.element_pointer(lx, em.offset(lx.strides, [position])), x.dtype)
    em.fb.store(value, em.element_pointer(out, em.offset(out.strides, [i])))
    em.close_loops(loops)


register(
    OpDef(
        "sparse_gather",
        "gather",
        _infer,
        _evaluate,
        _vjp,
        _jvp,
        _lower,
        doc="x[idx] for a vector x and constant int64 positions idx",
        arity=2,
        batch=_batch,
        sparsity=_sparsity,
    )
)
