"""User-defined derivatives: ``gc.custom_vjp`` and ``gc.custom_jvp`` (JAX's names and shape).

::

    @gc.custom_jvp
    def log1pexp(x):
        return gc.log1p(gc.exp(x))

    @log1pexp.def_jvp
    def _(inputs, y, tangents):      # the inputs (a tuple), the output, the inputs' tangents
        return tangents[0] * gc.sigmoid(inputs[0])

    @gc.custom_vjp
    def clipped_identity(x):
        return x

    @clipped_identity.def_vjp
    def _(inputs, y, ct):            # the inputs, the output, its cotangent -> one per input
        return (gc.minimum(gc.maximum(ct, -1.0), 1.0),)

Calling the decorated function builds one ``custom_jvp``/``custom_vjp`` node
(:mod:`graphc.ops.control`): the function and the rule are each traced once, on placeholders,
into graphs the node holds, so a graph using them prints, serialises and pickles like any other
(no Python function is kept). Values and compiled code are the function's. Reverse mode through
a ``custom_jvp`` transposes the rule, which must be linear in the tangents; forward mode
through a ``custom_vjp`` raises (its rule gives ``J^T u``, not ``J v``), as in JAX.

The rule replaces the derivative with respect to the function's arguments. Nodes the function
closes over (a weight from outside) are differentiated through the function as written.

Invariants: a function returns exactly one node; a vjp rule returns one cotangent per input (a
node, a number, or None for zero) of that input's shape, a jvp rule one tangent of the output's
shape; mistakes raise when the function is called, naming the function.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from graphc import dsl
from graphc.graph import Graph, inline
from graphc.node import Attrs, Node
from graphc.ops.base import make
from graphc.shapes import fmt
from graphc.subgraph import close_over, placeholder

__all__ = ["custom_jvp", "custom_vjp"]


class _Custom:
    """A function with a user-defined derivative rule (see the module docstring)."""

    op = ""
    rule_kind = ""

    def __init__(self, fun: Callable):
        if not callable(fun):
            raise TypeError(f"{self.op}: expected a function, got {type(fun).__name__}")
        self.fun = fun
        self.rule: Callable | None = None
        self.__name__ = getattr(fun, "__name__", "function")
        functools.update_wrapper(self, fun)

    def _define(self, rule: Callable) -> Callable:
        if not callable(rule):
            raise TypeError(f"{self.op} {self.__name__}: the rule must be a function")
        self.rule = rule
        return rule

    def __call__(self, *args: object) -> Node:
        inputs = [dsl.as_node(a) for a in args]
        where = f"{self.op} {self.__name__!r}"
        params = [placeholder(f"a{k}", a.shape, a.dtype) for k, a in enumerate(inputs)]
        out = self.fun(*params)
        if not isinstance(out, Node):
            if isinstance(out, (tuple, list)):
                raise TypeError(f"{where}: the function must return one node, got {len(out)}")
            out = dsl.as_node(out)
        fun = close_over(params, [out], prefix="k")
        closed = list(fun.closed)
        rule_graph = None
        if self.rule is not None:
            rule_graph, rule_closed = self._trace_rule(where, inputs, out, fun.closed)
            closed += rule_closed
        n = len(inputs)
        # One input per argument for both graphs: unused ones are harmless.
        extra = [
            placeholder(f"r{k}", c.shape, c.dtype) for k, c in enumerate(closed[len(fun.closed) :])
        ]
        fun_graph = Graph([*fun.graph.inputs, *extra], fun.graph.outputs[0])
        attrs = Attrs(fun=fun_graph, rule=rule_graph, n_inputs=n, name=self.__name__)
        return make(self.op, (*inputs, *closed), attrs)

    def _trace_rule(self, where: str, inputs: list[Node], out: Node, fun_closed: Sequence[Node]):
        """The rule as a graph over (inputs..., closed..., y, seed...), and the outer nodes it
        closes over that the function does not (a node both use is one argument)."""
        params = [placeholder(f"a{k}", a.shape, a.dtype) for k, a in enumerate(inputs)]
        y = placeholder("y", out.shape, out.dtype)
        seeds = self._seeds(params, y)
        results = self._call_rule(where, tuple(params), y, seeds, inputs)
        traced = close_over([*params, y, *seeds], results, prefix="r")
        shared = [placeholder(f"k{k}", c.shape, c.dtype) for k, c in enumerate(fun_closed)]
        position = {id(c): k for k, c in enumerate(fun_closed)}
        new = [c for c in traced.closed if id(c) not in position]
        own = [placeholder(f"r{k}", c.shape, c.dtype) for k, c in enumerate(new)]
        mine = iter(own)
        closure = [
            shared[position[id(c)]] if id(c) in position else next(mine) for c in traced.closed
        ]
        rule_outputs = inline(traced.graph, [*params, y, *seeds, *closure])
        return Graph([*params, *shared, *own, y, *seeds], rule_outputs), new

    def _seeds(self, params: list[Node], y: Node) -> list[Node]:
        raise NotImplementedError

    def _call_rule(self, where, params, y, seeds, inputs) -> list[Node]:
        raise NotImplementedError


class custom_vjp(_Custom):
    """A function whose vjp is given by a rule: decorate the function, then its rule with
    ``@f.def_vjp``; the rule takes ``(inputs, y, ct)`` and returns one cotangent per input."""

    op = "custom_vjp"

    def def_vjp(self, rule: Callable) -> Callable:
        """Set the rule ``rule(inputs, y, ct) -> (ct_input0, ct_input1, ...)``."""
        return self._define(rule)

    def _seeds(self, params, y):
        return [placeholder("ct", y.shape, y.dtype)]

    def _call_rule(self, where, params, y, seeds, inputs):
        result = self.rule(params, y, seeds[0])
        if len(params) == 1 and not isinstance(result, (tuple, list)):
            result = (result,)
        if not isinstance(result, (tuple, list)) or len(result) != len(params):
            got = len(result) if isinstance(result, (tuple, list)) else type(result).__name__
            raise TypeError(
                f"{where}: the vjp rule must return one cotangent per input ({len(params)}), "
                f"got {got}"
            )
        return [
            _fitted(where, f"the cotangent of input {k}", r, p)
            for k, (r, p) in enumerate(zip(result, params))
        ]


class custom_jvp(_Custom):
    """A function whose jvp is given by a rule (reverse mode transposes it): decorate the
    function, then its rule with ``@f.def_jvp``; the rule takes ``(inputs, y, tangents)`` and
    returns the output's tangent, linearly in the tangents."""

    op = "custom_jvp"

    def def_jvp(self, rule: Callable) -> Callable:
        """Set the rule ``rule(inputs, y, tangents) -> tangent of y``."""
        return self._define(rule)

    def _seeds(self, params, y):
        return [placeholder(f"t{k}", p.shape, p.dtype) for k, p in enumerate(params)]

    def _call_rule(self, where, params, y, seeds, inputs):
        result = self.rule(params, y, tuple(seeds))
        return [_fitted(where, "the tangent of the output", result, y)]


def _fitted(where: str, what: str, value: object, like: Node) -> Node:
    """A rule's result as a node of ``like``'s type: None is zero, numbers broadcast."""
    if value is None:
        return dsl.zeros(like.shape, like.dtype)
    node = dsl.as_node(value, like)
    if node.shape != like.shape:
        if node.ndim == 0:
            node = dsl.broadcast_to(node, like.shape)
        else:
            raise ValueError(
                f"{where}: the rule returns {what} of shape {fmt(node.shape)}; expected "
                f"{fmt(like.shape)}"
            )
    return dsl.astype(node, like.dtype)
