"""``gc.trace``: the evaluation trace of a graph, printed as the survey prints it.

Baydin et al. explain both modes of AD with one table each for ``y = ln(x1) + x1 x2 - sin(x2)``
at (2, 5): Table 2 is the forward primal trace beside the forward tangent trace, Table 3 the
primal trace beside the reverse adjoint trace. :func:`trace` produces the same three traces for
any graph and any arguments::

    Forward Primal Trace
      v_-1 = x1                     = 2
      v_0  = x2                     = 5
      v_1  = ln v_-1     = ln 2     = 0.693
      ...
      y    = v_5                    = 11.652

Numbering follows the survey: the ``n`` inputs are ``v_{1-n} .. v_0``, the other nodes
``v_1, v_2, ...`` in a topological order that lists nodes level by level (a node comes after
everything it uses, and nodes of one level keep the graph's order), which is the survey's order
for its example; scalar constants are written inline, array constants are named ``c_1, ...``.

The tangent and adjoint lines are not a second implementation of derivatives: each line is the
op's own ``jvp``/``vjp`` rule (the one ``gc.jvp``/``gc.vjp`` use), applied to placeholders for
the incoming tangent or cotangent, printed as a formula and evaluated with the op's reference
``evaluate``. So the slide shows exactly what graphc computes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from graphc import dsl
from graphc.arguments import bind, check
from graphc.dtypes import SHORT_NAMES
from graphc.evaluate import evaluate_all, to_python
from graphc.graph import Graph
from graphc.node import Node
from graphc.ops.base import OPS, is_differentiable

DOT = "\u0307"  # combining dot above: v̇ (tangent)
BAR = "\u0304"  # combining macron: v̄ (adjoint)

# -- numbers ----------------------------------------------------------------------------------


def format_number(value: object, digits: int = 3) -> str:
    """A scalar as the survey prints it: ``digits`` decimals, trailing zeros dropped
    (``0.693``, ``10``, ``-0.284``); very large or small magnitudes in exponent notation."""
    item = np.asarray(value).item()
    if isinstance(item, bool):
        return str(item)
    if isinstance(item, int):
        return str(item)
    if not np.isfinite(item):
        return "nan" if np.isnan(item) else ("inf" if item > 0 else "-inf")
    magnitude = abs(item)
    if item == 0 or 10.0 ** (-digits) <= magnitude < 1e7:
        text = f"{item:.{digits}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    mantissa, exponent = f"{item:.{max(digits - 1, 1)}e}".split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


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

INFIX = {
    "add": ("+", SUM),
    "sub": ("-", SUM),
    "mul": ("×", PRODUCT),
    "div": ("/", PRODUCT),
    "matmul": ("@", PRODUCT),
    "pow": ("^", POWER),
    "lt": ("<", COMPARE),
    "le": ("<=", COMPARE),
    "gt": (">", COMPARE),
    "ge": (">=", COMPARE),
    "eq": ("==", COMPARE),
    "ne": ("!=", COMPARE),
    "and": ("and", AND),
    "or": ("or", OR),
}
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


def _is_inline_constant(node: Node) -> bool:
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
        text = (
            ""
            if len(axes) == node.args[0].ndim
            else f", axis={axes[0] if len(axes) == 1 else axes}"
        )
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
    if _is_inline_constant(expr):
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
        return (
            text if prec >= CALL else f"({text})"
        ) + f"[{_slice_text(expr.attrs['spec'])}]", CALL
    if op == "cast":
        return f"{expr.dtype}({args[0][0]})", CALL
    name = FUNCTION_NAMES.get(op, op)
    if op in MATH_FUNCTIONS and len(args) == 1 and args[0][1] == ATOM:
        return f"{name} {args[0][0]}", APPLY
    inner = ", ".join(text for text, _ in args)
    return f"{name}({inner}{_attrs_text(expr)})", CALL


# -- evaluating rule expressions --------------------------------------------------------------


def _evaluate(expr: Node, env: dict[Node, np.ndarray]) -> np.ndarray:
    """The value of ``expr``, with ``env`` holding the values of the nodes it stops at."""
    if expr in env:
        return env[expr]
    stack: list[tuple[Node, int]] = [(expr, 0)]
    with np.errstate(all="ignore"):
        while stack:
            node, i = stack[-1]
            if i < len(node.args):
                stack[-1] = (node, i + 1)
                if node.args[i] not in env:
                    stack.append((node.args[i], 0))
                continue
            stack.pop()
            if node.op == "input":
                raise KeyError(f"trace: no value for {node!r}")  # a rule reached past its args
            env[node] = np.asarray(OPS[node.op].evaluate(node, *(env[a] for a in node.args)))
    return env[expr]


# -- the trace --------------------------------------------------------------------------------


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


def _mark(name: str, mark: str) -> str:
    """``name`` with a dot or bar over its first letter: x1 -> ẋ1, v_3 -> v̄_3. NFC picks the
    precomposed letter where Unicode has one (ẋ, ȳ), which more fonts draw well."""
    return unicodedata.normalize("NFC", name[:1] + mark + name[1:])


class Trace:
    """The evaluation trace of a graph at given arguments (build it with :func:`trace`).

    ``str(trace)`` gives the three traces; :meth:`text` chooses sections. Values of every node
    are in ``values`` (primal), ``tangents`` and ``adjoints`` (node -> numpy array), ready for
    ``gc.to_dot(graph, values=trace.values)``; :meth:`to_dot` puts all three on the nodes.
    """

    def __init__(
        self,
        graph: Graph,
        inputs: list[np.ndarray],
        input_tangents: list[np.ndarray],
        output_cotangents: list[np.ndarray],
        digits: int,
    ):
        self.graph = graph
        self.digits = digits
        self.input_tangents = input_tangents
        self.output_cotangents = output_cotangents
        self.values: dict[Node, np.ndarray] = evaluate_all(graph, inputs, keep_all=True)
        self._number_nodes()
        self.primal_lines = self._primal_lines()
        self.tangents: dict[Node, np.ndarray] = {}
        self.tangent_lines = self._tangent_lines()
        self.adjoints: dict[Node, np.ndarray] = {}
        self.adjoint_lines = self._adjoint_lines()

    # -- naming ----------------------------------------------------------------------------
    def _number_nodes(self) -> None:
        graph = self.graph
        depth: dict[Node, int] = {}
        for node in graph.nodes:
            depth[node] = 1 + max((depth[a] for a in node.args), default=-1) if node.args else 0
        self.names: dict[Node, str] = {}
        n = len(graph.inputs)
        for i, node in enumerate(graph.inputs):
            self.names[node] = f"v_{i + 1 - n}"
        constants = 0
        for node in graph.nodes:
            if node.op == "const" and not _is_inline_constant(node):
                constants += 1
                self.names[node] = f"c_{constants}"
        # Level order: stable sort of the topological order by depth, the survey's numbering.
        body = [
            node
            for node in graph.nodes
            if node.op not in ("input", "const") and not _is_inline_constant(node)
        ]
        self.order: list[Node] = sorted(body, key=depth.__getitem__)
        for k, node in enumerate(self.order, start=1):
            self.names[node] = f"v_{k}"
        self.output_names = output_names(graph)
        # What depends on a differentiable input: only those nodes have tangents and adjoints.
        self.active: set[Node] = set()
        for node in graph.nodes:
            if not is_differentiable(node):
                continue
            if node.op == "input" or any(a in self.active for a in node.args):
                self.active.add(node)

    def _leaf(self, placeholders: Mapping[Node, str] | None = None) -> Leaf:
        """Names for formulas: graph nodes by their v-name, placeholders by theirs."""

        def leaf(node: Node) -> Rendered | None:
            if placeholders and node in placeholders:
                return placeholders[node], ATOM
            if node in self.names:
                return self.names[node], ATOM
            if _is_inline_constant(node):
                return _literal(node, self.digits)
            return None

        return leaf

    def _numbers_leaf(self, env: Mapping[Node, np.ndarray]) -> Leaf:
        """Leaves replaced by their (rounded) values, for the substitution column."""

        def leaf(node: Node) -> Rendered | None:
            if node in env and (node in self.names or node.op == "input"):
                text = format_number(env[node], self.digits)
                return text, PREFIX if text.startswith("-") else ATOM
            if _is_inline_constant(node):
                return _literal(node, self.digits)
            return None

        return leaf

    def _substitute(self, expr: Node, env: Mapping[Node, np.ndarray], top: bool) -> str:
        """The formula with numbers in place of names, if every leaf is a scalar, else ''."""
        leaves: list[Node] = []
        self._collect_leaves(expr, env, leaves, top)
        if not leaves or any(np.asarray(env[leaf]).ndim for leaf in leaves):
            return ""
        return render(expr, self._numbers_leaf(env), self.digits, top)[0]

    def _collect_leaves(self, expr: Node, env, out: list[Node], top: bool) -> None:
        stack = list(expr.args) if top else [expr]
        while stack:
            node = stack.pop()
            if node in env and (node in self.names or node.op == "input"):
                out.append(node)
            elif not _is_inline_constant(node):
                stack.extend(node.args)

    # -- the three traces ------------------------------------------------------------------
    def _fmt(self, value: object) -> str:
        return format_value(value, self.digits)

    def _primal_lines(self) -> list[TraceLine]:
        lines = []
        for node in self.graph.inputs:
            lines.append(
                TraceLine(self.names[node], str(node.name), self._fmt(self.values[node]), node=node)
            )
        for node in self.graph.nodes:
            if node.op == "const" and node in self.names:
                lines.append(TraceLine(self.names[node], "const", self._fmt(node.value), node=node))
        for node in self.order:
            formula = render(node, self._leaf(), self.digits, top=True)[0]
            numbers = self._substitute(node, self.values, top=True)
            value = self._fmt(self.values[node])
            if numbers in (formula, value):
                numbers = ""  # nothing to show: "v = x1 = 2", not "v = x1 = 2 = 2"
            lines.append(TraceLine(self.names[node], formula, value, numbers, node=node))
        for name, out in zip(self.output_names, self.graph.outputs):
            lines.append(TraceLine(name, self._name_of(out), self._fmt(self.values[out]), node=out))
        return lines

    def _name_of(self, node: Node, mark: str = "") -> str:
        if node in self.names:
            return _mark(self.names[node], mark) if mark else self.names[node]
        return render(node, self._leaf(), self.digits)[0]

    def _tangent_lines(self) -> list[TraceLine]:
        lines = []
        env: dict[Node, np.ndarray] = dict(self.values)
        placeholder_of: dict[Node, Node] = {}  # active node -> placeholder for its tangent
        names: dict[Node, str] = {}  # placeholder -> v̇ name
        for node, seed in zip(self.graph.inputs, self.input_tangents):
            if node not in self.active:
                continue
            self.tangents[node] = seed
            lines.append(
                TraceLine(
                    _mark(self.names[node], DOT),
                    _mark(str(node.name), DOT),
                    self._fmt(seed),
                    node=node,
                )
            )
        for node in self.order:
            if node not in self.active:
                continue
            rule = OPS[node.op].jvp
            arg_tangents = []
            for arg in node.args:
                if arg in self.tangents:
                    if arg not in placeholder_of:
                        holder = dsl.tensor("t", arg.shape, arg.dtype)
                        placeholder_of[arg] = holder
                        names[holder] = _mark(self.names[arg], DOT)
                        env[holder] = self.tangents[arg]
                    arg_tangents.append(placeholder_of[arg])
                else:
                    arg_tangents.append(None)
            expr = rule(node, tuple(arg_tangents)) if rule is not None else None
            target = _mark(self.names[node], DOT)
            if expr is None:
                # Not differentiable here (sign, stop_gradient, ...): a zero tangent.
                value = np.zeros(node.shape, node.dtype)
                self.tangents[node] = value
                lines.append(TraceLine(target, "0", self._fmt(value), node=node))
                continue
            value = np.asarray(_evaluate(expr, env), dtype=node.dtype)
            self.tangents[node] = value
            formula = render(expr, self._leaf(names), self.digits)[0]
            numbers = self._substitute(expr, env, top=False) if expr not in names else ""
            if numbers == self._fmt(value):
                numbers = ""
            lines.append(TraceLine(target, formula, self._fmt(value), numbers, node=node))
        for name, out in zip(self.output_names, self.graph.outputs):
            value = self.tangents.get(out, _zeros(out))
            source = self._name_of(out, DOT) if out in self.tangents else "0"
            lines.append(TraceLine(_mark(name, DOT), source, self._fmt(value), node=out))
        return lines

    def _adjoint_lines(self) -> list[TraceLine]:
        lines: list[TraceLine] = []
        env: dict[Node, np.ndarray] = dict(self.values)

        def accumulate(
            node: Node, value: np.ndarray, first: str, then: str, partial: tuple
        ) -> None:
            bar = _mark(self.names[node], BAR)
            if node in self.adjoints:
                value = self.adjoints[node] + value
                formula, partial_text = (
                    f"{bar} + {then}",
                    f"{bar} + {partial[1]}" if partial[1] else "",
                )
            else:
                formula, partial_text = first, partial[0]
            self.adjoints[node] = np.asarray(value)
            lines.append(TraceLine(bar, formula, self._fmt(value), partial=partial_text, node=node))

        for name, out, seed in zip(self.output_names, self.graph.outputs, self.output_cotangents):
            if out in self.active:
                seed_name = _mark(name, BAR)
                accumulate(out, seed, seed_name, seed_name, ("", ""))
        for node in reversed(self.order):
            if node not in self.adjoints:
                continue
            rule = OPS[node.op].vjp
            if rule is None:
                continue
            holder = dsl.tensor("ct", node.shape, node.dtype)
            bar = _mark(self.names[node], BAR)
            env[holder] = self.adjoints[node]
            arg_cts = rule(node, holder)
            leaf = self._leaf({holder: bar})
            for arg, expr in zip(node.args, arg_cts):
                if expr is None or arg not in self.active:
                    continue
                value = np.asarray(_evaluate(expr, env), dtype=arg.dtype)
                text, prec = render(expr, leaf, self.digits)
                then = text if prec > SUM and not text.startswith("-") else f"({text})"
                partial = f"{bar} ∂{self.names[node]}/∂{self.names[arg]}"
                accumulate(arg, value, text, then, (partial, partial))
        for node in self.graph.inputs:
            if node not in self.active:
                continue
            value = self.adjoints.get(node, _zeros(node))
            source = _mark(self.names[node], BAR) if node in self.adjoints else "0"
            lines.append(TraceLine(_mark(str(node.name), BAR), source, self._fmt(value), node=node))
        return lines

    # -- results ----------------------------------------------------------------------------
    @property
    def output_tangents(self) -> tuple:
        """The Jacobian-vector product: one tangent per output (forward mode), returned as
        ``gc.evaluate`` returns values (Python floats for float64 scalars, else arrays)."""
        return tuple(to_python(self.tangents.get(o, _zeros(o))) for o in self.graph.outputs)

    @property
    def input_adjoints(self) -> tuple:
        """The vector-Jacobian product: one adjoint per input (reverse mode), returned as
        ``gc.evaluate`` returns values; zeros for inputs the outputs do not depend on."""
        return tuple(to_python(self.adjoints.get(i, _zeros(i))) for i in self.graph.inputs)

    # -- printing ---------------------------------------------------------------------------
    def _seed_text(self, nodes: Sequence[Node], names: Sequence[str], seeds, mark: str) -> str:
        parts = [
            f"{_mark(name, mark)} = {self._fmt(seed)}"
            for node, name, seed in zip(nodes, names, seeds)
            if node in self.active
        ]
        return ", ".join(parts)

    def section(self, which: str) -> str:
        """One trace as text: ``"primal"``, ``"tangent"`` or ``"adjoint"``."""
        if which == "primal":
            title, lines = "Forward Primal Trace", self.primal_lines
        elif which == "tangent":
            seeds = self._seed_text(
                self.graph.inputs, self.graph.input_names, self.input_tangents, DOT
            )
            title = "Forward Tangent (Derivative) Trace" + (f" ({seeds})" if seeds else "")
            lines = self.tangent_lines
        elif which == "adjoint":
            seeds = self._seed_text(
                self.graph.outputs, self.output_names, self.output_cotangents, BAR
            )
            title = "Reverse Adjoint (Derivative) Trace" + (f" ({seeds})" if seeds else "")
            lines = self.adjoint_lines
        else:
            raise ValueError(f"trace: unknown section {which!r}; use primal, tangent or adjoint")
        return title + "\n" + _table(lines)

    def text(self, sections: Sequence[str] = ("primal", "tangent", "adjoint")) -> str:
        """The chosen traces, separated by blank lines."""
        if isinstance(sections, str):
            sections = (sections,)
        return "\n\n".join(self.section(s) for s in sections)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return (
            f"<Trace of {len(self.order)} operations: {len(self.primal_lines)} primal, "
            f"{len(self.tangent_lines)} tangent, {len(self.adjoint_lines)} adjoint lines>"
        )

    def labels(self) -> dict[Node, str]:
        """Per-node text for DOT: primal value with its name, then tangent and adjoint."""
        result = {}
        for node in self.graph.nodes:
            if node not in self.values or _is_inline_constant(node):
                continue
            name = self.names.get(node)
            parts = [self._fmt(self.values[node]) + (f" ({name})" if name else "")]
            if node in self.tangents and name:
                parts.append(f"{_mark(name, DOT)} = {self._fmt(self.tangents[node])}")
            if node in self.adjoints and name:
                parts.append(f"{_mark(name, BAR)} = {self._fmt(self.adjoints[node])}")
            result[node] = ", ".join(parts)
        return result

    def to_dot(self, name: str = "trace") -> str:
        """``gc.to_dot`` of the graph with primal, tangent and adjoint values on the nodes."""
        from graphc.graphviz import to_dot

        return to_dot(self.graph, values=self.labels(), name=name)


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
        TraceLine(
            line.target,
            _truncate(line.formula),
            line.value,
            line.numbers if _width(line.numbers) <= MAX_FORMULA else "",
            line.partial,
            line.node,
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


# -- the public function ----------------------------------------------------------------------


def output_names(graph: Graph) -> list[str]:
    """How a trace names the outputs: ``y`` for one, ``y1, y2, ...`` for several (``out`` if
    an input already uses such a name)."""
    base = "out" if set(graph.input_names) & {"y", "y1", "y2", "y3"} else "y"
    count = len(graph.outputs)
    return [base] if count == 1 else [f"{base}{k + 1}" for k in range(count)]


def _zeros(node: Node) -> np.ndarray:
    """A zero tangent or adjoint for ``node``: its dtype if a float, else float64."""
    return np.zeros(node.shape, node.dtype if is_differentiable(node) else "float64")


def _unit(node: Node) -> np.ndarray:
    """The first unit vector of ``node``'s shape: 1 in its first element, 0 elsewhere."""
    seed = np.zeros(node.shape, node.dtype)
    seed.reshape(-1)[:1] = 1
    return seed


def _seeds(
    what: str, nodes: Sequence[Node], names: Sequence[str], given: object
) -> list[np.ndarray]:
    """Seeds for ``nodes``: None (a unit seed on the first differentiable one), a name or
    position (a unit seed there), a mapping name -> value, or one value per node."""
    zeros = [_zeros(n) for n in nodes]
    candidates = [i for i, n in enumerate(nodes) if is_differentiable(n)]
    if given is None:
        if candidates:
            zeros[candidates[0]] = _unit(nodes[candidates[0]])
        return zeros
    if isinstance(given, (str, int)) and not isinstance(given, bool):
        position = names.index(given) if given in names else given
        if not isinstance(position, int) or not 0 <= position < len(nodes):
            raise ValueError(f"trace: {what}={given!r} names none of {', '.join(names)}")
        zeros[position] = _unit(nodes[position])
        return zeros
    if isinstance(given, Mapping):
        unknown = [k for k in given if k not in names]
        if unknown:
            raise ValueError(f"trace: {what} for unknown {unknown}; expected one of {list(names)}")
        given = [given.get(name, zeros[i]) for i, name in enumerate(names)]
    if not isinstance(given, (list, tuple)) or len(given) != len(nodes):
        raise ValueError(
            f"trace: {what} must give one value per {'input' if what == 'tangents' else 'output'}"
            f" ({len(nodes)}), a name, or a mapping name -> value; got {given!r}"
        )
    result = []
    for node, name, value in zip(nodes, names, given):
        array = np.asarray(value, dtype=float)
        if array.shape != node.shape:
            raise ValueError(
                f"trace: the {what[:-1]} for {name} has shape {array.shape}, expected {node.shape}"
            )
        result.append(array.astype(node.dtype if is_differentiable(node) else "float64"))
    return result


def trace(
    graph: Graph,
    *args: object,
    tangents: object = None,
    cotangents: object = None,
    digits: int = 3,
    **kwargs: object,
) -> Trace:
    """The evaluation trace of ``graph`` at ``args``: primal, forward tangent, reverse adjoint.

    ``tangents`` seeds forward mode: by default ``ẋ = e_1`` (1 on the first element of the first
    input, 0 elsewhere, as the survey's Table 2); give an input's name (``"x2"``) for a unit
    seed there, a mapping name -> value, or one value per input. ``cotangents`` seeds reverse
    mode the same way per output (default: ``ȳ = 1`` on the first output): an output's trace
    name (``"y2"``) or position, a mapping, or one value per output. ``digits`` is the number
    of decimals printed. Arguments are given as to ``gc.evaluate``, by position or by name.
    """
    if not isinstance(graph, Graph):
        raise TypeError(f"trace: expected a gc.Graph, got {type(graph).__name__}")
    if not isinstance(digits, int) or digits < 0:
        raise ValueError(f"trace: digits must be a non-negative int, got {digits!r}")
    values = bind(graph.input_names, args, kwargs)
    inputs = [check(node, value) for node, value in zip(graph.inputs, values)]
    input_tangents = _seeds("tangents", graph.inputs, graph.input_names, tangents)
    output_cotangents = _seeds("cotangents", graph.outputs, output_names(graph), cotangents)
    return Trace(graph, inputs, input_tangents, output_cotangents, digits)
