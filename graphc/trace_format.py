"""How a :class:`~graphc.trace.Trace` is printed: the survey's tables, as text.

Owns everything about text: numbers, formulas (``render`` writes a rule's expression in infix
with the survey's names), the three sections and their aligned columns, the labels for DOT. It
decides nothing about which lines exist or their values: that is ``graphc.trace``'s.

Invariants: the text is a deterministic function of the trace; a formula names a derivative node
after the graph node it belongs to (``v̇_1``, ``v̄_4``), first the one its rule was given it for;
a formula stops at named nodes, so it is a rule's handful of nodes (no deep recursion).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from graphc import dsl
from graphc.dtypes import SHORT_NAMES
from graphc.node import Node

if TYPE_CHECKING:
    from graphc.trace import Trace

DOT = "\u0307"  # combining dot above: v̇ (tangent)
BAR = "\u0304"  # combining macron: v̄ (adjoint)

# -- numbers ----------------------------------------------------------------------------------


def format_number(value: object, digits: int = 3) -> str:
    """A scalar as the survey prints it: ``digits`` decimals, trailing zeros dropped
    (``0.693``, ``10``, ``-0.284``); very large or small magnitudes in exponent notation."""
    item = np.asarray(value).item()
    if isinstance(item, int) or not np.isfinite(item):  # bools and ints; nan, inf, -inf
        return str(item)
    if item == 0 or 10.0 ** (-digits) <= abs(item) < 1e7:
        return _strip(f"{item:.{digits}f}")
    mantissa, exponent = f"{item:.{max(digits - 1, 1)}e}".split("e")
    return f"{_strip(mantissa)}e{int(exponent)}"


def _strip(text: str) -> str:
    """Trailing zeros of the decimals dropped, and the point if none are left."""
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_value(value: object, digits: int = 3) -> str:
    """A value of any shape: a number, a short nested list, or the first elements and the type."""
    array = np.asarray(value)
    if array.ndim == 0:
        return format_number(array, digits)
    if array.size <= 6:
        return _nested(array, digits)
    head = ", ".join(format_number(v, digits) for v in array.reshape(-1)[:3])
    short = SHORT_NAMES.get(str(array.dtype), str(array.dtype))
    return f"[{head}, …] {short}[{','.join(map(str, array.shape))}]"


def _nested(array: np.ndarray, digits: int) -> str:
    if array.ndim == 0:
        return format_number(array, digits)
    return "[" + ", ".join(_nested(row, digits) for row in array) + "]"


# -- formulas ---------------------------------------------------------------------------------

# Precedence of printed forms: higher binds tighter. A unary function applied to a bare name is
# written without parentheses (``ln v_-1``, as the survey does) and binds less tightly than a
# power, so ``(ln v)^2`` keeps its parentheses.
ATOM, CALL, POWER, APPLY, PREFIX = 100, 90, 80, 75, 70
PRODUCT, SUM, COMPARE, AND, OR = 60, 50, 40, 30, 20

INFIX = {"add": ("+", SUM), "sub": ("-", SUM), "pow": ("^", POWER), "and": ("and", AND)}
INFIX |= {"mul": ("×", PRODUCT), "div": ("/", PRODUCT), "matmul": ("@", PRODUCT), "or": ("or", OR)}
COMPARISONS = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}
INFIX |= {op: (symbol, COMPARE) for op, symbol in COMPARISONS.items()}
FUNCTION_NAMES = {"log": "ln", "maximum": "max", "minimum": "min", "concatenate": "concat"}
# Functions written like the survey's ``ln v_-1`` / ``sin v_0`` when applied to a bare name.
MATH_FUNCTIONS = set("exp log log1p expm1 sqrt sin cos tan tanh sigmoid softplus sign".split())

Rendered = tuple[str, int]
Leaf = Callable[[Node], "Rendered | None"]


def _literal(node: Node, digits: int) -> Rendered:
    """A scalar constant (or a broadcast one) as a number, negative ones binding like ``-x``."""
    text = format_number(_scalar_payload(node), digits)
    return text, PREFIX if text.startswith("-") else ATOM


def _scalar_payload(node: Node) -> np.ndarray:
    return node.value if node.op == "const" else node.args[0].value


def is_inline_constant(node: Node) -> bool:
    """Scalar constants, and scalar constants broadcast to a shape (``gc.zeros``), print inline."""
    if node.op == "const":
        return node.ndim == 0
    return node.op == "broadcast_to" and node.args[0].op == "const" and node.args[0].ndim == 0


def _squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


def _slice_text(spec: tuple) -> str:
    parts = []
    for start, step, count in spec:
        stop = start + step * count
        if count == 1:
            parts.append(str(start))  # one element: written as an index, x[0]
        else:
            parts.append(f"{start}:{stop}" if step == 1 else f"{start}:{stop}:{step}")
    return ", ".join(parts)


def _attrs_text(node: Node) -> str:
    attrs = node.attrs
    if node.op in ("sum", "prod", "max", "min", "logsumexp"):
        axes = attrs["axes"]
        text = f", axis={axes[0] if len(axes) == 1 else axes}"
        text = "" if len(axes) == node.args[0].ndim else text
        return text + (", keepdims" if attrs["keepdims"] else "")
    if node.op in ("reshape", "broadcast_to"):
        return f", {attrs['shape']}"
    if node.op == "transpose":
        return f", {attrs['perm']}"
    if node.op == "concatenate":
        return f", axis={attrs['axis']}"
    if node.op == "unslice":
        return f", [{_slice_text(attrs['spec'])}], {attrs['shape']}"
    shown = {k: v for k, v in attrs.items() if k != "value"}
    return "".join(f", {k}={v!r}" for k, v in sorted(shown.items()))


def render(expr: Node, leaf: Leaf, digits: int = 3, top: bool = False) -> Rendered:
    """``expr`` as an infix formula; ``leaf(node)`` names the nodes the formula stops at.

    With ``top`` the node itself is expanded even if it is a leaf (a line's own definition).
    Rule expressions are a handful of nodes, so recursion depth is not a concern.
    """
    if not top:
        known = leaf(expr)
        if known is not None:
            return known
    op = expr.op
    if is_inline_constant(expr):
        return _literal(expr, digits)
    if op == "const":
        splat = expr.attrs["value"].splat
        if splat is not None:
            return _literal(dsl.constant(splat, expr.dtype), digits)
        return f"const {expr.type_str}", ATOM
    if op == "input":
        return str(expr.name), ATOM
    args = [render(a, leaf, digits) for a in expr.args]
    if op == "broadcast_to":  # numpy broadcasting is implicit in every formula
        return args[0]
    if op == "reshape" and not top and _squeezed(expr.shape) == _squeezed(expr.args[0].shape):
        return args[0]  # only adds or drops size-1 axes (keepdims bookkeeping in rules)
    if op in INFIX:
        symbol, prec = INFIX[op]
        (left, lp), (right, rp) = args
        # Left operands: lower precedence, or equal for the right-associative power and the
        # non-associative comparisons. Right operands: lower precedence, a non-associative
        # repeat (a - (b + c)), or anything starting with a minus sign (a × (-b), 2 - (-0.959)).
        if lp < prec or (lp == prec and (op == "pow" or prec == COMPARE)):
            left = f"({left})"
        if (
            rp < prec
            or (rp == prec and (op in ("sub", "div", "matmul") or prec == COMPARE))
            or right.startswith("-")
        ):
            right = f"({right})"
        if op == "pow":
            return f"{left}{symbol}{right}", prec  # v^2, as on a blackboard
        return f"{left} {symbol} {right}", prec
    if op == "neg":
        text, prec = args[0]
        return ("-" + (text if prec >= APPLY else f"({text})")), PREFIX
    if op == "not":
        text, prec = args[0]
        return ("not " + (text if prec >= APPLY else f"({text})")), PREFIX
    if op == "abs":
        return f"|{args[0][0]}|", ATOM
    if op == "transpose" and expr.ndim == 2 and expr.attrs["perm"] == (1, 0):
        text, prec = args[0]
        return (text if prec == ATOM else f"({text})") + "ᵀ", CALL
    if op == "slice":
        text, prec = args[0]
        text = text if prec >= CALL else f"({text})"
        return f"{text}[{_slice_text(expr.attrs['spec'])}]", CALL
    if op == "cast":
        return f"{expr.dtype}({args[0][0]})", CALL
    name = FUNCTION_NAMES.get(op, op)
    if op in MATH_FUNCTIONS and len(args) == 1 and args[0][1] == ATOM:
        return f"{name} {args[0][0]}", APPLY
    inner = ", ".join(text for text, _ in args)
    return f"{name}({inner}{_attrs_text(expr)})", CALL


# -- names and numbers in formulas ------------------------------------------------------------

Named = Callable[[Node], "str | None"]  # the name a formula stops at, or None to expand it


def _leaf(named: Named, digits: int) -> Leaf:
    """Formula leaves: named nodes by their name, scalar constants as numbers."""

    def leaf(node: Node) -> Rendered | None:
        name = named(node)
        if name is not None:
            return name, ATOM
        return _literal(node, digits) if is_inline_constant(node) else None

    return leaf


def _numbers(expr: Node, named: Named, values: Mapping, digits: int, top: bool) -> str:
    """``expr`` with numbers in place of its named leaves if they are all scalars, else ''."""
    scalar: list[bool] = []

    def number(node: Node) -> Rendered | None:
        if named(node) is None:
            return _literal(node, digits) if is_inline_constant(node) else None
        scalar.append(np.ndim(values[node]) == 0)
        text = format_number(values[node], digits) if scalar[-1] else "?"
        return text, PREFIX if text.startswith("-") else ATOM

    text = render(expr, number, digits, top)[0]
    return text if scalar and all(scalar) else ""


def _derivative_names(
    trace: Trace, sign: str, owners: Mapping, given: Mapping, line: Node
) -> Named:
    """Names in a derivative line's formula: what the rule was ``given``, after the node it was
    given for; other derivative nodes (a vjp rule may reuse a sibling's contribution or part of
    its cotangent) after the node whose cotangent they were first, unless that is ``line``
    itself, whose expression is being written; graph nodes by their v-names."""

    def named(node: Node) -> str | None:
        owner = given.get(node)
        owner = owners.get(node) if owner is None else owner
        if owner is not None and owner is not line:
            return mark(trace.names[owner], sign)
        return trace.names.get(node)

    return named


# -- lines ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TraceLine:
    """One line of a trace: ``target = [partial =] formula [= numbers] = value``."""

    target: str
    formula: str
    value: str
    numbers: str = ""  # the formula with numbers substituted (primal and tangent lines)
    partial: str = ""  # the chain-rule form, e.g. ``v̄_5 ∂v_5/∂v_4`` (adjoint lines)
    node: Node | None = None


def _width(text: str) -> int:
    """Display width: combining marks (the dot of v̇, the bar of v̄) take no column."""
    return sum(1 for ch in text if not unicodedata.combining(ch))


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def mark(name: str, sign: str) -> str:
    """``name`` with a dot or bar over its first letter: x1 -> ẋ1, v_3 -> v̄_3. NFC picks the
    precomposed letter where Unicode has one (ẋ, ȳ), which more fonts draw well."""
    return unicodedata.normalize("NFC", name[:1] + sign + name[1:])


def primal_lines(trace: Trace) -> list[TraceLine]:
    """Inputs, array constants, one line per operation, then the outputs."""
    fmt, digits, graph, names = _fmt(trace), trace.digits, trace.graph, trace.names
    lines = [TraceLine(names[n], str(n.name), fmt(trace.values[n]), node=n) for n in graph.inputs]
    for node in graph.nodes:
        if node.op == "const" and node in names:
            lines.append(TraceLine(names[node], "const", fmt(node.value), node=node))
    for node in trace.order:
        formula = render(node, _leaf(names.get, digits), digits, top=True)[0]
        numbers = _numbers(node, names.get, trace.values, digits, top=True)
        value = fmt(trace.values[node])
        if numbers in (formula, value):
            numbers = ""  # nothing to show: "v = x1 = 2", not "v = x1 = 2 = 2"
        lines.append(TraceLine(names[node], formula, value, numbers, node=node))
    for name, out in zip(trace.output_names, graph.outputs):
        source = names.get(out) or render(out, _leaf(names.get, digits), digits)[0]
        lines.append(TraceLine(name, source, fmt(trace.values[out]), node=out))
    return lines


def tangent_lines(trace: Trace) -> list[TraceLine]:
    """The seeds, each tangent the forward sweep built (its formula: what the op's jvp rule
    built from its arguments' tangents), then the outputs' tangents."""
    fmt, digits, names, exprs = _fmt(trace), trace.digits, trace.names, trace.tangent_exprs
    lines = [
        TraceLine(mark(names[n], DOT), mark(str(n.name), DOT), fmt(trace.tangents[n]), node=n)
        for n in trace.graph.inputs
        if n in trace.active
    ]
    for node, expr in trace.tangent_steps:
        target, value = mark(names[node], DOT), fmt(trace.tangents[node])
        if expr is None:  # not differentiable here (sign, stop_gradient, ...): a zero tangent
            lines.append(TraceLine(target, "0", value, node=node))
            continue
        # The survey's v̇_j = Σ ∂v_j/∂v_i v̇_i names the v̇_i (the first, if two are one node).
        given = {exprs[a]: a for a in reversed(node.args) if a in exprs}
        named = _derivative_names(trace, DOT, {}, given, node)
        formula = render(expr, _leaf(named, digits), digits)[0]
        numbers = "" if named(expr) else _numbers(expr, named, trace.env, digits, top=False)
        numbers = "" if numbers == value else numbers
        lines.append(TraceLine(target, formula, value, numbers, node=node))
    for name, out in zip(trace.output_names, trace.graph.outputs):
        source = mark(names[out], DOT) if out in trace.tangents else "0"
        lines.append(TraceLine(mark(name, DOT), source, fmt(trace.tangent(out)), node=out))
    return lines


def adjoint_lines(trace: Trace) -> list[TraceLine]:
    """Each contribution the reverse sweep accumulated, in its order (the formula: what the
    user's vjp rule built from the user's adjoint), then the inputs' adjoints."""
    fmt, digits, names = _fmt(trace), trace.digits, trace.names
    owners: dict[Node, Node] = {}
    for node, _, _, total in trace.adjoint_steps:
        owners.setdefault(total, node)
    lines, seen = [], set()
    for node, user, contribution, total in trace.adjoint_steps:
        bar = mark(names[node], BAR)
        if user is None:  # an output's seed
            text = then = mark(trace.seeds[contribution], BAR)
            partial = ""
        else:  # the survey's v̄_i = Σ v̄_j ∂v_j/∂v_i names the v̄_j
            given = {trace.cotangent_exprs[user]: user}
            named = _derivative_names(trace, BAR, owners, given, node)
            text, prec = render(contribution, _leaf(named, digits), digits)
            then = text if prec > SUM and not text.startswith("-") else f"({text})"
            partial = f"{mark(names[user], BAR)} ∂{names[user]}/∂{names[node]}"
        if node in seen:  # a further use of the value: its adjoint is incremented
            text, partial = f"{bar} + {then}", f"{bar} + {partial}" if partial else ""
        seen.add(node)
        lines.append(TraceLine(bar, text, fmt(trace.env[total]), partial=partial, node=node))
    for node in trace.graph.inputs:
        if node in trace.active:
            source = mark(names[node], BAR) if node in trace.adjoints else "0"
            value = fmt(trace.adjoint(node))
            lines.append(TraceLine(mark(str(node.name), BAR), source, value, node=node))
    return lines


def section(trace: Trace, which: str) -> str:
    """One trace as text: ``"primal"``, ``"tangent"`` or ``"adjoint"``."""
    graph, fmt = trace.graph, _fmt(trace)
    if which == "primal":
        return "Forward Primal Trace\n" + _table(trace.primal_lines)
    if which == "tangent":
        title, sign, lines = "Forward Tangent (Derivative) Trace", DOT, trace.tangent_lines
        seeds = zip(graph.inputs, graph.input_names, trace.input_tangents)
    elif which == "adjoint":
        title, sign, lines = "Reverse Adjoint (Derivative) Trace", BAR, trace.adjoint_lines
        seeds = zip(graph.outputs, trace.output_names, trace.output_cotangents)
    else:
        raise ValueError(f"trace: unknown section {which!r}; use primal, tangent or adjoint")
    shown = [f"{mark(name, sign)} = {fmt(seed)}" for n, name, seed in seeds if n in trace.active]
    return title + (f" ({', '.join(shown)})" if shown else "") + "\n" + _table(lines)


def labels(trace: Trace) -> dict[Node, str]:
    """Per-node text for DOT: primal value with its name, then tangent and adjoint."""
    result, fmt = {}, _fmt(trace)
    for node in trace.graph.nodes:
        if is_inline_constant(node):
            continue
        name = trace.names.get(node)
        parts = [fmt(trace.values[node]) + (f" ({name})" if name else "")]
        if node in trace.tangents and name:
            parts.append(f"{mark(name, DOT)} = {fmt(trace.tangents[node])}")
        if node in trace.adjoints and name:
            parts.append(f"{mark(name, BAR)} = {fmt(trace.adjoints[node])}")
        result[node] = ", ".join(parts)
    return result


def _fmt(trace: Trace) -> Callable[[object], str]:
    return lambda value: format_value(value, trace.digits)


# -- the table --------------------------------------------------------------------------------

# Longer formulas (a rule's whole expression, e.g. prod's zero-safe weights) are cut with "…",
# so one line cannot push every other line's value off the slide.
MAX_FORMULA = 64


def _truncate(text: str, width: int = MAX_FORMULA) -> str:
    if _width(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        step = 0 if unicodedata.combining(ch) else 1
        if used + step > width - 1:
            break
        out.append(ch)
        used += step
    return "".join(out) + "…"


def _table(lines: Sequence[TraceLine]) -> str:
    """Aligned columns: target = [partial =] formula [= numbers] = value. A line without the
    middle columns lets its formula span them."""
    lines = [
        replace(
            line,
            formula=_truncate(line.formula),
            numbers=line.numbers if _width(line.numbers) <= MAX_FORMULA else "",
        )
        for line in lines
    ]
    has_partial = any(line.partial for line in lines)
    w_target = max((_width(line.target) for line in lines), default=0)
    w_partial = max((_width(line.partial) for line in lines), default=0)
    w_formula = max(
        (_width(line.formula) for line in lines if line.numbers or line.partial), default=0
    )
    w_numbers = max((_width(line.numbers) for line in lines), default=0)
    # The full width of the middle, for lines whose formula spans the empty columns.
    span = w_formula + (3 + w_numbers if w_numbers else 0)
    if has_partial:
        span += 3 + w_partial
    span = max(
        [span] + [_width(line.formula) for line in lines if not (line.numbers or line.partial)]
    )
    out = []
    for line in lines:
        if line.partial or line.numbers:
            middle = ""
            if has_partial:
                middle = _pad(line.partial, w_partial) + " = "
            middle += _pad(line.formula, w_formula)
            if w_numbers:
                middle += (
                    " = " + _pad(line.numbers, w_numbers) if line.numbers else " " * (3 + w_numbers)
                )
        else:
            middle = line.formula
        out.append(f"  {_pad(line.target, w_target)} = {_pad(middle, span)} = {line.value}")
    return "\n".join(out)
