"""Reductions over axes: sum, prod, max, min, logsumexp (``axes``, ``keepdims`` attributes).

``attrs["axes"]`` is a sorted tuple of non-negative axes (normalised by the DSL). Lowering turns
each reduction into a loop nest whose input expression can be a fused elementwise chain.

Derivatives share one shape: every reduction but ``sum`` has a per-element weight ``w`` with
``vjp = broadcast(ct) * w`` and ``jvp = sum(t * w)``:
- ``max``/``min``: ``w = mask / count(mask)``; tied maxima share the cotangent equally.
- ``prod``: ``w_i`` = product of the other elements, computed without dividing by ``x_i`` so
  zeros are handled exactly (one zero: only that element gets a weight; two or more: none).
- ``logsumexp``: ``w = exp(x - out)``, the softmax.
"""

from __future__ import annotations

import numpy as np

from graphc import dsl, dtypes  # dsl is complete here: graphc.node imports it first
from graphc.ops.base import OpDef, is_differentiable, register
from graphc.shapes import reduced_shape


def _infer(op: str, needs_elements: bool, float_only: bool = False):
    def infer(args, attrs):
        (x,) = args
        axes = attrs["axes"]
        if needs_elements and any(x.shape[a] == 0 for a in axes):
            raise ValueError(f"{op}: reduction over an empty axis of shape {x.shape}")
        if float_only:
            dtype = dtypes.float_result(x.dtype)
        elif x.dtype == dtypes.BOOL and op in ("sum", "prod"):
            dtype = dtypes.INT64  # numpy sums booleans as integers
        else:
            dtype = x.dtype
        return reduced_shape(x.shape, axes, attrs["keepdims"]), dtype

    return infer


def _np_reduce(fn):
    def evaluate(node, x):
        result = fn(x, axis=node.attrs["axes"], keepdims=node.attrs["keepdims"])
        return np.asarray(result, dtype=node.dtype)

    return evaluate


def _logsumexp(x, axis, keepdims):
    # Shift by the maximum so exp never overflows; a non-finite maximum (all -inf, an inf, a
    # nan) shifts by 0 instead, which gives -inf, inf and nan respectively.
    peak = np.max(x, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    out = np.log(np.sum(np.exp(x - peak), axis=axis, keepdims=True)) + peak
    return out if keepdims else np.squeeze(out, axis=axis)


def _kept(node, value):
    """``value`` (shaped like ``node``) reshaped to keep the reduced axes as size 1."""
    x = node.args[0]
    shape = reduced_shape(x.shape, node.attrs["axes"], True)
    return value if value.shape == shape else dsl.reshape(value, shape)


def _spread(node, value):
    """``value`` broadcast back over the reduced axes, to the argument's shape."""
    return dsl.broadcast_to(_kept(node, value), node.args[0].shape)


def _sum_vjp(node, ct):
    x = node.args[0]
    return (_spread(node, ct) if is_differentiable(x) else None,)


def _sum_jvp(node, tangents):
    (t,) = tangents
    if t is None or not is_differentiable(node):
        return None
    return dsl.sum(t, node.attrs["axes"], node.attrs["keepdims"])


def _weighted_rules(weight):
    def vjp(node, ct):
        if not is_differentiable(node.args[0]):
            return (None,)
        return (_kept(node, ct) * weight(node),)

    def jvp(node, tangents):
        (t,) = tangents
        if t is None or not is_differentiable(node):
            return None
        return dsl.sum(t * weight(node), node.attrs["axes"], node.attrs["keepdims"])

    return vjp, jvp


def _extremum_weight(node):
    x = node.args[0]
    mask = (x == _kept(node, node)).astype(node.dtype)
    return mask / dsl.sum(mask, node.attrs["axes"], keepdims=True)


def _prod_weight(node):
    x = node.args[0]
    axes = node.attrs["axes"]
    is_zero = x == 0.0
    zeros = dsl.sum(is_zero.astype(node.dtype), axes, keepdims=True)
    nonzero_prod = dsl.prod(dsl.where(is_zero, 1.0, x), axes, keepdims=True)
    # No zero: prod / x_i. One zero: the product of the others for the zero, 0 elsewhere.
    # Two or more zeros: every product of the others contains a zero.
    return dsl.where(
        zeros == 0.0,
        nonzero_prod / dsl.where(is_zero, 1.0, x),
        dsl.where((zeros == 1.0) & is_zero, nonzero_prod, 0.0),
    )


def _logsumexp_weight(node):
    return dsl.exp(node.args[0] - _kept(node, node))


def _expand_logsumexp(node):
    # The reference evaluator's formula: shift by the maximum, or by 0 where the maximum is not
    # finite (all -inf, an inf, a nan), so exp never overflows.
    (x,) = node.args
    axes, keepdims = node.attrs["axes"], node.attrs["keepdims"]
    x = dsl.astype(x, node.dtype)
    peak = dsl.max(x, axes, keepdims=True)
    shift = dsl.where(dsl.abs(peak) < float("inf"), peak, 0.0)
    total = dsl.sum(dsl.exp(x - shift), axes, keepdims=True)
    result = dsl.log(total) + shift
    return result if keepdims else dsl.reshape(result, node.shape)


_MAX_VJP, _MAX_JVP = _weighted_rules(_extremum_weight)
_PROD_VJP, _PROD_JVP = _weighted_rules(_prod_weight)
_LSE_VJP, _LSE_JVP = _weighted_rules(_logsumexp_weight)

register(
    OpDef("sum", "reduce", _infer("sum", False), _np_reduce(np.sum), _sum_vjp, _sum_jvp),
    OpDef("prod", "reduce", _infer("prod", False), _np_reduce(np.prod), _PROD_VJP, _PROD_JVP),
    OpDef("max", "reduce", _infer("max", True), _np_reduce(np.max), _MAX_VJP, _MAX_JVP),
    OpDef("min", "reduce", _infer("min", True), _np_reduce(np.min), _MAX_VJP, _MAX_JVP),
    OpDef(
        "logsumexp",
        "reduce",
        _infer("logsumexp", True, float_only=True),
        _np_reduce(_logsumexp),
        _LSE_VJP,
        _LSE_JVP,
        expand=_expand_logsumexp,
    ),
)
