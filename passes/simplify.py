"""Algebraic simplification: local identities, each exact unless listed as unsafe.

"Exact" means bitwise identical results for every input, nan, inf and signed zeros included,
except where a rule's comment names a documented last-bit caveat. Rules that can change a
result (the sign of a zero, nan/inf behaviour, rounding by reassociation) run only with
``unsafe_math=True``; their comments say what changes.

Growth guard: a replacement creates at most one node more than the match removes (a new constant
or broadcast, as in ``x / 4 -> x * 0.25`` when the 4 is used elsewhere), and no rule can fire on
its own result, so a round adds at most one node per rewritten node and the fixpoint comes in a
few rounds. No rule distributes a product over a sum: that rewrite is what makes PyTensor's
simplifier grow the logistic map exponentially.

Commutative operands are canonicalised first (constants right), so each rule is written once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from graphc import dsl
from graphc.node import Node
from graphc.ops.base import OPS, make
from passes.rewrite import is_splat, splat


def _fit(value: Node, like: Node) -> Node | None:
    """``value`` made to the type of ``like`` by broadcasting, or None if the dtypes differ."""
    if value.dtype != like.dtype:
        return None
    if value.shape != like.shape:
        return dsl.broadcast_to(value, like.shape)
    return value


def _power_of_two(value: float) -> bool:
    """True for finite c = +-2^k whose reciprocal is a normal number: x / c == x * (1 / c)."""
    if not np.isfinite(value) or value == 0:
        return False
    mantissa, _ = np.frexp(value)
    reciprocal = 1.0 / value
    return abs(mantissa) == 0.5 and np.isfinite(reciprocal) and abs(reciprocal) >= 2.0**-1022


def _swap_constant_right(node: Node) -> Node | None:
    """Commutative ops keep constants on the right: ``c + x -> x + c`` (exact)."""
    a, b = node.args
    if splat(a) is not None and splat(b) is None:
        return make(node.op, (b, a), node.attrs)
    return None


# -- exact rules, one function per op ---------------------------------------------------------


def _add(node: Node) -> Node | None:
    match node.args:
        case (x, zero) if is_splat(zero, -0.0):
            return _fit(x, node)  # x + (-0) == x for every x, -0 included
        case (x, Node(op="neg", args=(y,))):
            return x - y  # IEEE defines x - y as x + (-y)
        case (Node(op="neg", args=(x,)), y):
            return y - x  # (-x) + y == y + (-x) == y - x
    return None


def _sub(node: Node) -> Node | None:
    match node.args:
        case (x, zero) if is_splat(zero, 0.0):
            return _fit(x, node)  # x - (+0) == x for every x
        case (x, Node(op="neg", args=(y,))):
            return x + y  # x - (-y) == x + y
    return None


def _mul_div(node: Node) -> Node | None:
    match node.args:
        case (x, one) if is_splat(one, 1.0):
            return _fit(x, node)  # x * 1 == x / 1 == x (nan stays nan, inf stays inf)
        case (x, minus_one) if is_splat(minus_one, -1.0):
            fitted = _fit(x, node)
            return None if fitted is None else -fitted  # x * -1 == -x: only the sign flips
        case (Node(op="neg", args=(x,)), Node(op="neg", args=(y,))):
            return make(node.op, (x, y))  # (-x)(-y) == xy: signs cancel exactly
        case (x, c) if node.op == "div" and splat(c) is not None and node.dtype == c.dtype:
            value = splat(c)
            if isinstance(value, float) and _power_of_two(value):
                # x / 2^k == x * 2^-k exactly: both are one correctly rounded operation on the
                # same real number, as long as 2^-k is normal (checked).
                return x * dsl.broadcast_to(dsl.constant(1.0 / value, c.dtype), c.shape)
    return None


def _neg(node: Node) -> Node | None:
    match node.args:
        case (Node(op="neg", args=(x,)),):
            return x  # --x == x
    return None


def _abs(node: Node) -> Node | None:
    match node.args:
        case (Node(op="abs") as inner,):
            return inner  # ||x|| == |x|
        case (Node(op="neg", args=(x,)),):
            return dsl.abs(x)  # |-x| == |x|
    return None


def _pow(node: Node) -> Node | None:
    x, p = node.args
    exponent = splat(p)
    if exponent is None or isinstance(exponent, bool) or x.dtype != node.dtype:
        return None
    fitted = _fit(x, node)
    if exponent == 1:
        return fitted  # pow(x, 1) == x for every x (C99 F.9.4.4)
    if exponent == 0:
        # pow(x, 0) == 1 for every x, nan included (C99 and numpy).
        return dsl.broadcast_to(dsl.constant(1.0, node.dtype), node.shape)
    if exponent == 2 and fitted is not None:
        # x*x is correctly rounded; glibc's pow is within 0.52 ulp and correctly rounded in
        # nearly all cases, so results can differ in the last bit in rare cases.
        return fitted * fitted
    if exponent == -1 and fitted is not None:
        # 1/x, same last-bit caveat as x**2; signs of zeros and infinities agree with pow.
        return dsl.constant(1.0, node.dtype) / fitted
    return None


def _where(node: Node) -> Node | None:
    cond, a, b = node.args
    if a is b:
        return _fit(a, node)  # both branches equal
    chosen = splat(cond)
    if chosen is not None:
        return _fit(a if chosen else b, node)  # constant condition
    return None


def _reshape(node: Node) -> Node | None:
    (x,) = node.args
    if x.op == "reshape":
        return dsl.reshape(x.args[0], node.shape)  # reshapes compose (row-major order)
    return None


def _broadcast_to(node: Node) -> Node | None:
    (x,) = node.args
    if x.op == "broadcast_to":
        return dsl.broadcast_to(x.args[0], node.shape)  # broadcasts compose
    return None


def _transpose(node: Node) -> Node | None:
    (x,) = node.args
    if x.op == "transpose":
        inner, outer = x.attrs["perm"], node.attrs["perm"]
        return dsl.transpose(x.args[0], [inner[p] for p in outer])  # permutations compose
    return None


def _slice(node: Node) -> Node | None:
    (x,) = node.args
    if x.op == "slice":
        inner, outer = x.attrs["spec"], node.attrs["spec"]
        spec = [(s1 + t1 * s2, t1 * t2, c2) for (s1, t1, _), (s2, t2, c2) in zip(inner, outer)]
        return dsl.slice(x.args[0], spec)  # strided slices compose
    return None


def _cast(node: Node) -> Node | None:
    (x,) = node.args
    return x if x.dtype == node.dtype else None


def _matmul(node: Node) -> Node | None:
    # A v -> v A for a constant A equal to its transpose bit for bit: element i is sum_k A[i, k]
    # v[k] either way, added in order k = 0, 1, ... by every matmul loop: bitwise equal. v A reads
    # A's rows contiguously, and CSE merges it with the gradient's x A: one pass over A.
    a, v = node.args
    if v.ndim != 1 or a.op != "const" or a.shape != (v.size, v.size) or a.dtype != v.dtype:
        return None
    bits = a.value.view(f"u{a.value.dtype.itemsize}") if a.value.dtype.kind == "f" else a.value
    return dsl.matmul(v, a) if np.array_equal(bits, bits.T) else None


EXACT_RULES: dict[str, Callable[[Node], Node | None]] = {
    "matmul": _matmul,
    "add": _add,
    "sub": _sub,
    "mul": _mul_div,
    "div": _mul_div,
    "neg": _neg,
    "abs": _abs,
    "pow": _pow,
    "where": _where,
    "reshape": _reshape,
    "broadcast_to": _broadcast_to,
    "transpose": _transpose,
    "slice": _slice,
    "cast": _cast,
}


# -- unsafe rules: each comment says which results change -------------------------------------


def _unsafe_add(node: Node) -> Node | None:
    x, zero = node.args
    if is_splat(zero, 0.0):
        return _fit(x, node)  # wrong for x = -0.0: (-0) + (+0) is +0
    return None


def _unsafe_sub(node: Node) -> Node | None:
    x, y = node.args
    if x is y:
        return dsl.zeros(node.shape, node.dtype)  # wrong for inf and nan
    if is_splat(x, 0.0):
        return _fit(-y, node)  # wrong sign for y = +0.0: 0 - 0 is +0, -0 is -0
    return None


def _unsafe_mul(node: Node) -> Node | None:
    match node.args:
        case (x, zero) if is_splat(zero, 0.0) and x.dtype == node.dtype:
            # Wrong for inf and nan (inf * 0 is nan) and for negative x (-1 * 0 is -0).
            return dsl.zeros(node.shape, node.dtype)
        case (Node(op="mul", args=(x, c1)), c2) if c1.dtype == c2.dtype == node.dtype:
            v1, v2 = splat(c1), splat(c2)
            if v1 is None or v2 is None:
                return None
            # (x c1) c2 -> x (c1 c2): reassociation, rounds differently; may overflow differently.
            return _fit(x * dsl.constant(v1 * v2, node.dtype), node)
    return None


def _unsafe_div(node: Node) -> Node | None:
    x, y = node.args
    if x is y:
        return dsl.ones(node.shape, node.dtype)  # wrong for 0, inf and nan
    return None


def _unsafe_neg(node: Node) -> Node | None:
    (x,) = node.args
    if x.op == "sub":
        a, b = x.args
        return b - a  # wrong sign for a == b: -(0) is -0, b - a is +0
    return None


def _unsafe_pow(node: Node) -> Node | None:
    x, p = node.args
    if is_splat(p, 0.5) and x.dtype == node.dtype:
        return _fit(dsl.sqrt(x), node)  # wrong for -0 and -inf: pow gives +0, +inf
    return None


def _scaled(product: Node, like: Node) -> tuple[Node, Node] | None:
    """``(x, s)`` if ``product`` is ``x * s`` or ``s * x`` with a scalar ``s`` of one dtype."""
    if product.op != "mul":
        return None
    a, b = product.args
    for x, s in ((a, b), (b, a)):
        if s.shape == () and x.shape == product.shape and x.dtype == s.dtype == like.dtype:
            return x, s
    return None


def _unsafe_matmul(node: Node) -> Node | None:
    # (s x) @ M -> s (x @ M) and M @ (s x) -> s (M @ x): after CSE one pass over M serves both
    # x @ M and (s x) @ M (the Helmholtz gradient). Rounds differently, and s = inf with a zero
    # in x gives nan only on the left.
    a, b = node.args
    left, right = _scaled(a, node), _scaled(b, node)
    if left is not None:
        return dsl.matmul(left[0], b) * left[1]
    if right is not None:
        return dsl.matmul(a, right[0]) * right[1]
    return None


UNSAFE_RULES: dict[str, Callable[[Node], Node | None]] = {
    "add": _unsafe_add,
    "sub": _unsafe_sub,
    "mul": _unsafe_mul,
    "div": _unsafe_div,
    "neg": _unsafe_neg,
    "pow": _unsafe_pow,
    "matmul": _unsafe_matmul,
}


def make_rules(unsafe_math: bool = False) -> dict[str, Callable[[Node], Node | None]]:
    """The rule table of the simplify pass: canonicalisation, exact rules, then unsafe ones."""
    ops = set(EXACT_RULES) | ({*UNSAFE_RULES} if unsafe_math else set())
    ops |= {name for name, opdef in OPS.items() if opdef.commutative}

    def combined(op: str):
        steps: list[Callable[[Node], Node | None]] = []
        if OPS[op].commutative:
            steps.append(_swap_constant_right)
        if op in EXACT_RULES:
            steps.append(EXACT_RULES[op])
        if unsafe_math and op in UNSAFE_RULES:
            steps.append(UNSAFE_RULES[op])

        def rule(node: Node) -> Node | None:
            for step in steps:
                result = step(node)
                if result is not None:
                    return result
            return None

        return rule

    return {op: combined(op) for op in ops}
