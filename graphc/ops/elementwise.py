"""Elementwise ops: arithmetic, math functions, comparisons, logic, where, casts.

All of them follow numpy broadcasting; their outputs have the broadcast shape of their inputs.
Lowering fuses chains of them into one loop, so each record's ``lower`` emits the scalar code of
one element through the emitter interface of ``graphc.jit.emit`` (``em.arith``, ``em.call``,
``em.cmp``, ``em.select``, ``em.cast`` ...).

Derivative conventions, documented for users in ``docs/guide.md``:
- unary ops have a diagonal Jacobian, so one ``chain(node, seed)`` rule serves as both the vjp
  (seed = cotangent) and the jvp (seed = tangent);
- ``abs'(0) = 0`` (``sign(0) = 0``), ``sqrt'(0) = +inf``, ``maximum``/``minimum`` split the
  cotangent equally between tied arguments;
- ``pow``: ``d(a^b)/da = b * a^(b-1)`` with the exponent 0 where ``b == 0`` (so ``x**0`` has
  derivative 0 and ``x**n`` every derivative at 0); ``d(a^b)/db = a^b log a``, but 0 at ``a = 0``
  with ``b >= 0``;
- comparisons, ``sign``, logic ops and ``stop_gradient`` are not differentiable: zero, not error;
- ``where(c, a, b)`` sends the cotangent to the taken branch and zero to the other one; a branch
  whose *derivative* is nan or inf where it is not taken still poisons the result through
  ``0 * inf = nan`` (the "double where" trap, see the guide).
"""

from __future__ import annotations

import numpy as np

from graphc import dsl, dtypes  # dsl is complete here: graphc.node imports it first
from graphc.node import Node
from graphc.ops.base import (
    OpDef,
    add_tangents,
    broadcast_tangent,
    is_differentiable,
    register,
    unbroadcast,
)
from graphc.shapes import broadcast

# -- shape and dtype rules --------------------------------------------------------------------


def _check_not_bool(op: str, args: tuple[Node, ...]) -> None:
    if all(a.dtype == dtypes.BOOL for a in args):
        raise TypeError(
            f"{op}: arithmetic on boolean operands ({', '.join(a.dtype for a in args)}); "
            f"expected numbers: convert with .astype('float64') first"
        )


def _common_shape(op: str, args: tuple[Node, ...]):
    first = args[0].shape
    if all(a.shape == first for a in args):  # the common case, without the general rule
        return first
    return broadcast(op, *(a.shape for a in args))


def _common_dtype(args: tuple[Node, ...]) -> str:
    first = args[0].dtype
    if all(a.dtype == first for a in args):
        return first
    return dtypes.promote(*(a.dtype for a in args))


def _infer_arith(op: str):
    def infer(args, attrs):
        dtype = _common_dtype(args)
        if dtype == dtypes.BOOL:
            _check_not_bool(op, args)
        return _common_shape(op, args), dtype

    return infer


def _infer_float_result(op: str):
    def infer(args, attrs):
        dtype = _common_dtype(args)
        if dtype == dtypes.BOOL and len(args) > 1:
            _check_not_bool(op, args)
        return _common_shape(op, args), dtypes.float_result(dtype)

    return infer


def _infer_compare(op: str):
    def infer(args, attrs):
        return _common_shape(op, args), dtypes.BOOL

    return infer


def _infer_logic(op: str):
    def infer(args, attrs):
        if any(arg.dtype != dtypes.BOOL for arg in args):
            # Name every operand's dtype: the user needs to see which one is not boolean.
            got = " and ".join(arg.dtype for arg in args)
            raise TypeError(f"{op}: expected boolean operands, got {got}")
        return _common_shape(op, args), dtypes.BOOL

    return infer


def _infer_same(args, attrs):
    return args[0].shape, args[0].dtype


def _infer_numeric(op: str):
    # numpy has no boolean negative or sign (-b and sign(b) raise there too): refuse them when
    # the node is built rather than when it is evaluated or compiled.
    def infer(args, attrs):
        if args[0].dtype == dtypes.BOOL:
            raise TypeError(
                f"{op}: a boolean operand ({args[0].dtype}{list(args[0].shape)}); expected "
                "numbers: use ~ for logical not, or convert with .astype('float64') first"
            )
        return args[0].shape, args[0].dtype

    return infer


def _infer_cast(args, attrs):
    dtype = attrs["dtype"]
    if dtype not in dtypes.DTYPES:  # astype canonicalises; a loaded document must be canonical
        raise TypeError(f"cast: dtype {dtype!r} is not one of {', '.join(dtypes.DTYPES)}")
    return args[0].shape, dtype


def _infer_where(args, attrs):
    cond, a, b = args
    if cond.dtype != dtypes.BOOL:
        raise TypeError(f"where: the condition must be boolean, got {cond.dtype}")
    return broadcast("where", cond.shape, a.shape, b.shape), dtypes.promote(a.dtype, b.dtype)


# -- evaluation: numpy, in the node's dtype ---------------------------------------------------


def _eval(fn, compute: str = "node"):
    """Evaluate ``fn`` on the arguments cast to the node's dtype (or their common dtype)."""

    def evaluate(node, *values):
        dtype = node.dtype if compute == "node" else dtypes.promote(*(v.dtype for v in values))
        return np.asarray(fn(*(np.asarray(v, dtype=dtype) for v in values)), dtype=node.dtype)

    return evaluate


def _sigmoid(x):
    # 1 / (1 + exp(-x)) is accurate to a few ulp for every x: exp(-x) overflows to inf exactly
    # where the true value underflows to 0. The JIT emits the same formula.
    return 1.0 / (1.0 + np.exp(-x))


def _softplus(x):
    # log(1 + exp(x)) rewritten so exp never overflows: max(x, 0) + log1p(exp(-|x|)).
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


# -- lowering: the scalar code of one element -------------------------------------------------


def _lower_call(name: str):
    def lower(em, node, x):
        return em.call(name, em.cast(x, node.dtype))

    return lower


def _lower_arith(kind: str):
    def lower(em, node, a, b):
        return em.arith(kind, em.cast(a, node.dtype), em.cast(b, node.dtype))

    return lower


def _lower_compare(pred: str):
    def lower(em, node, a, b):
        dtype = dtypes.promote(a.dtype, b.dtype)
        return em.cmp(pred, em.cast(a, dtype), em.cast(b, dtype))

    return lower


def _lower_sigmoid(em, node, x):
    x = em.cast(x, node.dtype)
    one = em.const(1.0, node.dtype)
    return em.arith("div", one, em.arith("add", one, em.call("exp", em.neg(x))))


def _lower_softplus(em, node, x):
    x = em.cast(x, node.dtype)
    zero = em.const(0.0, node.dtype)
    positive = _lower_extremum("gt")(em, node, x, zero)
    tail = em.call("log1p", em.call("exp", em.neg(em.call("fabs", x))))
    return em.arith("add", positive, tail)


def _lower_extremum(pred: str):
    # numpy's maximum: (a > b or isnan(a)) ? a : b. A nan in either argument propagates, and
    # ties (+0.0 against -0.0) give the second argument, as numpy's loops do.
    def lower(em, node, a, b):
        a, b = em.cast(a, node.dtype), em.cast(b, node.dtype)
        wins = em.cmp(pred, a, b)
        if dtypes.is_float(node.dtype):
            wins = em.logic("or", wins, em.isnan(a))
        return em.select(wins, a, b)

    return lower


def _lower_abs(em, node, x):
    if dtypes.is_float(node.dtype):
        return em.call("fabs", x)
    return em.select(em.cmp("lt", x, em.const(0, node.dtype)), em.neg(x), x)


def _lower_sign(em, node, x):
    zero = em.const(0, node.dtype)
    one = em.const(1, node.dtype)
    minus = em.const(-1, node.dtype)
    result = em.select(em.cmp("gt", x, zero), one, em.select(em.cmp("lt", x, zero), minus, zero))
    if dtypes.is_float(node.dtype):  # sign(nan) = nan, as numpy
        result = em.select(em.isnan(x), x, result)
    return result


def _lower_where(em, node, cond, a, b):
    return em.select(cond, em.cast(a, node.dtype), em.cast(b, node.dtype))


# -- derivative rules -------------------------------------------------------------------------


def _unary(name, fn, chain, lower, float_result=True, bool_ok=True, doc=""):
    """An elementwise unary op whose Jacobian is diagonal: ``chain(node, seed)`` is seed * f'."""

    def vjp(node, ct):
        (x,) = node.args
        return (chain(node, ct) if is_differentiable(x) else None,)

    def jvp(node, tangents):
        (x,), (t,) = node.args, tangents
        if t is None or not is_differentiable(x):
            return None
        return chain(node, broadcast_tangent(t, node))

    if float_result:
        infer = _infer_float_result(name)
    else:
        infer = _infer_same if bool_ok else _infer_numeric(name)
    return OpDef(
        name,
        "elementwise",
        infer,
        _eval(fn),
        vjp if chain else None,
        jvp if chain else None,
        lower,
        doc=doc,
        arity=1,
    )


def _x(node):
    return node.args[0]


UNARY = [
    _unary(
        "neg",
        np.negative,
        lambda n, s: -s,
        lambda em, n, x: em.neg(em.cast(x, n.dtype)),
        float_result=False,
        bool_ok=False,
    ),
    _unary("exp", np.exp, lambda n, s: s * n, _lower_call("exp")),
    _unary("log", np.log, lambda n, s: s / _x(n), _lower_call("log")),
    _unary("log1p", np.log1p, lambda n, s: s / (_x(n) + 1.0), _lower_call("log1p")),
    _unary("expm1", np.expm1, lambda n, s: s * (n + 1.0), _lower_call("expm1")),
    # sqrt'(0) = +inf: the one-sided derivative, documented.
    _unary("sqrt", np.sqrt, lambda n, s: s / (n * 2.0), _lower_call("sqrt")),
    _unary("sin", np.sin, lambda n, s: s * dsl.cos(_x(n)), _lower_call("sin")),
    _unary("cos", np.cos, lambda n, s: -(s * dsl.sin(_x(n))), _lower_call("cos")),
    _unary("tan", np.tan, lambda n, s: s * (n * n + 1.0), _lower_call("tan")),
    _unary("tanh", np.tanh, lambda n, s: s * (1.0 - n * n), _lower_call("tanh")),
    _unary("sigmoid", _sigmoid, lambda n, s: s * (n * (1.0 - n)), _lower_sigmoid),
    _unary("softplus", _softplus, lambda n, s: s * dsl.sigmoid(_x(n)), _lower_softplus),
    # abs'(0) = sign(0) = 0: the subgradient of least norm.
    _unary("abs", np.abs, lambda n, s: s * dsl.sign(_x(n)), _lower_abs, float_result=False),
    _unary("sign", np.sign, None, _lower_sign, float_result=False, bool_ok=False),
]


def _cast_vjp(node, ct):
    (x,) = node.args
    if not (is_differentiable(x) and is_differentiable(node)):
        return (None,)
    return (dsl.astype(ct, x.dtype),)


def _cast_jvp(node, tangents):
    (t,) = tangents
    if t is None or not is_differentiable(node):
        return None
    return dsl.astype(t, node.dtype)


_INT64_MIN, _INT64_MAX = np.iinfo(np.int64).min, np.iinfo(np.int64).max


def _eval_cast(node, x):
    x = np.asarray(x)
    if node.dtype != dtypes.INT64 or x.dtype.kind != "f":
        return x.astype(node.dtype)
    # Float to int64 saturates, as compiled code does (LLVM's fptosi.sat): nan -> 0, values at or
    # beyond +-2**63 (inf included) -> the nearest bound. numpy's astype leaves these to C, where
    # they are undefined (x86-64 gives INT64_MIN for all of them, ARM saturates); one defined
    # answer keeps the evaluator, constant folding and compiled code bitwise equal.
    with np.errstate(invalid="ignore"):
        result = np.asarray(x.astype(np.int64))
    result = np.where(x >= 2.0**63, _INT64_MAX, result)
    result = np.where(x < -(2.0**63), _INT64_MIN, result)
    return np.where(np.isnan(x), 0, result)


def _lower_cast(em, node, x):
    return em.cast(x, node.dtype)


OTHER_UNARY = [
    OpDef(
        "cast",
        "elementwise",
        _infer_cast,
        _eval_cast,
        _cast_vjp,
        _cast_jvp,
        _lower_cast,
        doc="convert to another dtype (astype); float to int64 saturates, nan gives 0",
        arity=1,
    ),
    # Identity forward; its derivative is zero. Used by logsumexp and by users.
    OpDef(
        "stop_gradient",
        "elementwise",
        _infer_same,
        lambda n, x: x,
        None,
        None,
        lambda em, n, x: x,
        doc="identity whose derivative is zero",
        arity=1,
        expand=lambda node: node.args[0],  # derivatives are taken before lowering
    ),
    OpDef(
        "not",
        "elementwise",
        _infer_logic("not"),
        _eval(np.logical_not),
        None,
        None,
        lambda em, n, x: em.logic_not(x),
        arity=1,
    ),
]


# Binary ops. Each vjp returns one cotangent per argument, summed back to that argument's shape.


def _add_vjp(node, ct):
    a, b = node.args
    return unbroadcast(ct, a), unbroadcast(ct, b)


def _add_jvp(node, tangents):
    ta, tb = (broadcast_tangent(t, node) for t in tangents)
    return add_tangents(ta, tb)


def _sub_vjp(node, ct):
    a, b = node.args
    return unbroadcast(ct, a), unbroadcast(-ct, b) if is_differentiable(b) else None


def _sub_jvp(node, tangents):
    ta, tb = (broadcast_tangent(t, node) for t in tangents)
    if tb is None:
        return ta
    return -tb if ta is None else ta - tb


def _mul_vjp(node, ct):
    a, b = node.args
    return (
        unbroadcast(ct * b, a) if is_differentiable(a) else None,
        unbroadcast(ct * a, b) if is_differentiable(b) else None,
    )


def _mul_jvp(node, tangents):
    (a, b), (ta, tb) = node.args, tangents
    return add_tangents(
        broadcast_tangent(ta * b, node) if ta is not None else None,
        broadcast_tangent(a * tb, node) if tb is not None else None,
    )


def _div_vjp(node, ct):
    a, b = node.args
    # d(a/b)/db = -a/b^2 = -(a/b)/b: the output times the cotangent, then divided by b, as the
    # jvp does. (ct/b first would overflow to inf for a tiny b and give inf * 0 = nan where
    # a = 0.)
    ct_a = ct / b if is_differentiable(a) else None
    ct_b = -(ct * node) / b if is_differentiable(b) else None
    return (None if ct_a is None else unbroadcast(ct_a, a)), (
        None if ct_b is None else unbroadcast(ct_b, b)
    )


def _div_jvp(node, tangents):
    (_, b), (ta, tb) = node.args, tangents
    ta, tb = broadcast_tangent(ta, node), broadcast_tangent(tb, node)
    if tb is None:
        return None if ta is None else ta / b
    numerator = -(tb * node) if ta is None else ta - tb * node
    return numerator / b


def _pow_exponent_minus_one(b):
    """``b - 1``, except 0 where ``b == 0``: the exponent of ``d(a^b)/da = b * a^(b-1)``.

    At ``b == 0`` the derivative is 0 for every ``a`` (``a^0`` is 1 everywhere), but
    ``0 * a^-1`` is ``0 * inf = nan`` at ``a = 0``; ``0 * a^0`` is 0. The guard is on the
    exponent, not a ``where`` around the product, so the derivative of the derivative has no
    ``0 * inf`` either (the double-where trap): ``x**n`` at 0 has all its derivatives.
    For a constant exponent the guarded exponent is a constant, so the next derivative sees a
    constant exponent again (and a graph as small as ``b - 1`` would be).
    """
    if b.op == "const":
        dtype = dtypes.float_result(b.dtype)  # the dtype of b - 1.0 (a weak Python float)
        value = np.asarray(b.value, dtype=dtype)
        return dsl.constant(np.where(value == 0, 0, value - 1), dtype)
    return dsl.where(b == 0.0, 0.0, b - 1.0)


def _pow_partials(node):
    a, b = node.args
    d_a = b * dsl.power(a, _pow_exponent_minus_one(b))
    # d(a^b)/db = a^b log a. At a = 0 and b >= 0, a^b is 0 (b > 0; 1 at b = 0) and constant in b
    # to the right, so the derivative is 0 (b = 0 takes the right-hand one) where the formula
    # gives 0 * -inf; log reads 1 there (a guard inside, so higher derivatives see no 0 * inf).
    # At a = 0 and b < 0 the formula stands: inf * -inf = -inf, the limit as a -> 0+.
    d_b = node * dsl.log(dsl.where((a == 0.0) & (b >= 0.0), 1.0, a))
    return d_a, d_b


def _pow_vjp(node, ct):
    a, b = node.args
    d_a, d_b = _pow_partials(node)
    return (
        unbroadcast(ct * d_a, a) if is_differentiable(a) else None,
        unbroadcast(ct * d_b, b) if is_differentiable(b) and b.op != "const" else None,
    )


def _pow_jvp(node, tangents):
    ta, tb = tangents
    d_a, d_b = _pow_partials(node) if ta is not None or tb is not None else (None, None)
    return add_tangents(
        broadcast_tangent(ta * d_a, node) if ta is not None else None,
        broadcast_tangent(tb * d_b, node) if tb is not None else None,
    )


def _extremum_weight(node, pred):
    """1 where the first argument wins, 0.5 at ties, 0 where the second wins."""
    a, b = node.args
    first_wins = a > b if pred == "gt" else a < b
    return dsl.where(first_wins, 1.0, dsl.where(a == b, 0.5, 0.0)).astype(node.dtype)


def _extremum_rules(pred):
    def vjp(node, ct):
        a, b = node.args
        weight = _extremum_weight(node, pred)
        return (
            unbroadcast(ct * weight, a) if is_differentiable(a) else None,
            unbroadcast(ct * (1.0 - weight), b) if is_differentiable(b) else None,
        )

    def jvp(node, tangents):
        ta, tb = tangents
        if ta is None and tb is None:
            return None
        weight = _extremum_weight(node, pred)
        return add_tangents(
            broadcast_tangent(ta * weight, node) if ta is not None else None,
            broadcast_tangent(tb * (1.0 - weight), node) if tb is not None else None,
        )

    return vjp, jvp


def _where_vjp(node, ct):
    cond, a, b = node.args
    return (
        None,
        unbroadcast(dsl.where(cond, ct, 0.0), a) if is_differentiable(a) else None,
        unbroadcast(dsl.where(cond, 0.0, ct), b) if is_differentiable(b) else None,
    )


def _where_jvp(node, tangents):
    cond = node.args[0]
    _, ta, tb = tangents
    if ta is None and tb is None:
        return None
    zero = dsl.zeros(node.shape, node.dtype)
    return dsl.where(cond, ta if ta is not None else zero, tb if tb is not None else zero)


_MAX_VJP, _MAX_JVP = _extremum_rules("gt")
_MIN_VJP, _MIN_JVP = _extremum_rules("lt")


def _c99_power(a, b):
    """numpy's power with C99 pow's semantics everywhere (the JIT calls pow).

    numpy takes a sqrt shortcut when the exponent is a 0.5 of stride 0 (a 0-d array or a
    broadcast constant): power(-0.0, 0.5) is then -0.0 and power(-inf, 0.5) nan, where pow gives
    +0.0 and +inf, and where numpy itself does for a full exponent array. Passing full 1-d
    arrays makes the result independent of how the exponent is stored.
    """
    shape = np.broadcast_shapes(np.shape(a), np.shape(b))
    base = np.broadcast_to(a, shape).reshape(-1)
    exponent = np.array(np.broadcast_to(b, shape)).reshape(-1)
    return np.power(base, exponent).reshape(shape)


def _binary(name, fn, infer, vjp, jvp, lower, commutative=False, compute="node"):
    return OpDef(
        name, "elementwise", infer, _eval(fn, compute), vjp, jvp, lower, commutative, arity=2
    )


BINARY = [
    _binary("add", np.add, _infer_arith("add"), _add_vjp, _add_jvp, _lower_arith("add"), True),
    _binary("sub", np.subtract, _infer_arith("sub"), _sub_vjp, _sub_jvp, _lower_arith("sub")),
    _binary("mul", np.multiply, _infer_arith("mul"), _mul_vjp, _mul_jvp, _lower_arith("mul"), True),
    _binary(
        "div", np.true_divide, _infer_float_result("div"), _div_vjp, _div_jvp, _lower_arith("div")
    ),
    # pow always has a float result (numpy keeps int ** int integral; graphc does not).
    _binary(
        "pow",
        _c99_power,
        _infer_float_result("pow"),
        _pow_vjp,
        _pow_jvp,
        lambda em, n, a, b: em.call("pow", em.cast(a, n.dtype), em.cast(b, n.dtype)),
    ),
    # maximum and minimum are not commutative bitwise: on ties numpy returns the second
    # argument, so maximum(0.0, -0.0) is -0.0 but maximum(-0.0, 0.0) is 0.0. Marking them
    # commutative would let simplify swap and CSE merge operands that give different zeros.
    _binary(
        "maximum",
        np.maximum,
        _infer_arith("maximum"),
        _MAX_VJP,
        _MAX_JVP,
        _lower_extremum("gt"),
    ),
    _binary(
        "minimum",
        np.minimum,
        _infer_arith("minimum"),
        _MIN_VJP,
        _MIN_JVP,
        _lower_extremum("lt"),
    ),
]

COMPARISONS = [
    _binary(
        name,
        fn,
        _infer_compare(name),
        None,
        None,
        _lower_compare(name),
        name in ("eq", "ne"),
        compute="promote",
    )
    for name, fn in [
        ("lt", np.less),
        ("le", np.less_equal),
        ("gt", np.greater),
        ("ge", np.greater_equal),
        ("eq", np.equal),
        ("ne", np.not_equal),
    ]
]

LOGIC = [
    _binary(
        "and",
        np.logical_and,
        _infer_logic("and"),
        None,
        None,
        lambda em, n, a, b: em.logic("and", a, b),
        True,
    ),
    _binary(
        "or",
        np.logical_or,
        _infer_logic("or"),
        None,
        None,
        lambda em, n, a, b: em.logic("or", a, b),
        True,
    ),
]


def _eval_where(node, cond, a, b):
    return np.where(cond, a, b).astype(node.dtype)


WHERE = OpDef(
    "where", "elementwise", _infer_where, _eval_where, _where_vjp, _where_jvp, _lower_where, arity=3
)

register(*UNARY, *OTHER_UNARY, *BINARY, *COMPARISONS, *LOGIC, WHERE)
