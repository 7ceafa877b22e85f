"""The lecture's worked example: f(x1, x2) = (x1 + x2) ln(x1 + x2) and its gradient at (2, 5).

Builds the function and its adjoint graph, prints both graphs (before and after the optimizer),
the values (f = 7 ln 7 = 13.621371043387192, df/dx1 = df/dx2 = ln 7 + 1 = 2.9459101490553135)
and what each optimizer pass did. Run: ``python examples/lecture.py``.
"""

from __future__ import annotations

import math
import sys

import graphc as gc
import passes

EXPECTED = (13.621371043387192, 2.9459101490553135, 2.9459101490553135)


def main() -> int:
    x1, x2 = gc.scalar("x1"), gc.scalar("x2")
    f = (x1 + x2) * gc.log(x1 + x2)
    df = gc.grad(f, [x1, x2])  # a list of nodes: the adjoint graph
    graph = gc.Graph([x1, x2], [f, *df])

    print(f"The function and its adjoint graph ({len(graph.nodes)} nodes):")
    print(graph)

    result = passes.run(graph)  # the default pipeline, to a fixpoint, with statistics
    optimized = result.graph
    print(f"\nAfter gc.optimize ({len(optimized.nodes)} nodes):")
    print(optimized)

    # (x1+x2)/(x1+x2) stays: it is 1 only for finite non-zero sums (0/0 and inf/inf are nan).
    # unsafe_math trades that IEEE exactness for a smaller graph.
    unsafe = gc.optimize(graph, unsafe_math=True)
    print(
        f"\nWith unsafe_math=True ({len(unsafe.nodes)} nodes; x/x -> 1 is wrong for 0, inf, nan):"
    )
    print(unsafe)

    values = gc.evaluate(graph, 2.0, 5.0)
    optimized_values = gc.evaluate(optimized, 2.0, 5.0)
    print("\nValues at (x1, x2) = (2, 5):")
    for label, value, opt in zip(("f", "df/dx1", "df/dx2"), values, optimized_values):
        print(f"  {label:<7} = {value!r:<20} (optimized graph: {opt!r})")
    print(f"  exact:    7 ln 7 = {7 * math.log(7)!r}, ln 7 + 1 = {math.log(7) + 1!r}")

    print(f"\nPer-pass statistics ({result.rounds} rounds to the fixpoint):")
    print(result.summary())

    if values != EXPECTED or optimized_values != EXPECTED:
        print(f"MISMATCH: expected {EXPECTED}", file=sys.stderr)
        return 1
    print("\nBoth graphs reproduce the lecture's numbers exactly.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
