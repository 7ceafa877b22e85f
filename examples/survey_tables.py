"""The survey's worked example (Baydin et al., Tables 2 and 3), computed by graphc.

y = f(x1, x2) = ln(x1) + x1 x2 - sin(x2) at (2, 5): y = 11.652, gradient (5.5, 1.716). Prints
the value and gradient, then ``gc.trace``: the forward primal trace, the forward tangent trace
seeded with dx1 = 1 (Table 2) and the reverse adjoint trace (Table 3).

    python examples/survey_tables.py                      # print the traces
    python examples/survey_tables.py --dot trace.dot      # also write DOT with values on nodes
    python examples/survey_tables.py --markdown docs/ad.md    # regenerate the doc's blocks
    python examples/survey_tables.py --markdown docs/ad.md --check  # fail if out of date

``--markdown`` rewrites every block between ``<!-- BEGIN generated: NAME -->`` and
``<!-- END generated: NAME -->`` with the output computed here, so the traces in the doc are
generated, never typed.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

import graphc as gc


def survey_function() -> tuple[gc.Graph, gc.Node, gc.Node, gc.Node]:
    x1, x2 = gc.scalar("x1"), gc.scalar("x2")
    y = gc.log(x1) + x1 * x2 - gc.sin(x2)
    return gc.Graph([x1, x2], [y]), x1, x2, y


def code(text: str, language: str = "text") -> str:
    return f"```{language}\n{text}\n```"


def blocks() -> dict[str, str]:
    """Every generated block of docs/ad.md, by name."""
    graph, x1, x2, y = survey_function()
    trace = gc.trace(graph, 2.0, 5.0)
    result: dict[str, str] = {}
    result["table2"] = code(trace.text(["primal", "tangent"]))
    result["table3"] = code(trace.text(["adjoint"]))
    result["trace_x2"] = code(gc.trace(graph, 2.0, 5.0, tangents="x2").text(["tangent"]))

    gradient = gc.Graph([x1, x2], [y, *gc.grad(y, [x1, x2])])
    opt = gc.optimize(gradient)
    value, g1, g2 = gc.evaluate(opt, 2.0, 5.0)
    result["gradient_graph"] = code(
        f"{opt}\n\n# gc.evaluate(opt, 2.0, 5.0)\n"
        f"y = {value!r}\ndy/dx1 = {g1!r}\ndy/dx2 = {g2!r}   # 2 - cos 5"
    )

    # Pearlmutter: H v as forward mode on the reverse-mode gradient, never forming H.
    v1, v2 = gc.scalar("v1"), gc.scalar("v2")
    hv = gc.hvp(y, [x1, x2], [v1, v2])
    hvp_graph = gc.optimize(gc.Graph([x1, x2, v1, v2], hv))
    h1, h2 = gc.evaluate(hvp_graph, 2.0, 5.0, 1.0, 0.0)
    f_nodes = len(gc.optimize(graph).nodes)
    result["hvp"] = code(
        f"{hvp_graph}\n\n# H v at (x1, x2) = (2, 5), v = (1, 0): the first column of\n"
        f"# H = [[-1/x1^2, 1], [1, sin x2]]\n"
        f"Hv = ({h1!r}, {h2!r})\n"
        f"# nodes after gc.optimize: f {f_nodes}, hvp {len(hvp_graph.nodes)}"
    )

    # Perturbation confusion: D(x -> x * D(y -> x + y)(1))(1) = 1 (a confused tool gives 2).
    x, yy = gc.scalar("x"), gc.scalar("y")
    inner = gc.grad(x + yy, yy)  # d/dy (x + y) = 1, a node that does not depend on y
    outer = gc.grad(x * inner, x)  # d/dx (x * 1) = 1
    nested = gc.evaluate(gc.Graph([x, yy], outer), 1.0, 1.0)
    result["perturbation"] = code(f"D(x -> x * D(y -> x + y)(1))(1) = {nested!r}")
    return result


BLOCK = re.compile(
    r"(<!-- BEGIN generated: (?P<name>\w+) -->\n)(?P<body>.*?)(<!-- END generated: (?P=name) -->)",
    re.DOTALL,
)


def fill(text: str, generated: dict[str, str]) -> str:
    """``text`` with every generated block replaced; unknown or missing blocks are errors."""
    found = [m.group("name") for m in BLOCK.finditer(text)]
    unknown = sorted(set(found) - set(generated))
    missing = sorted(set(generated) - set(found))
    if unknown or missing:
        raise SystemExit(f"markdown blocks out of sync: unknown {unknown}, missing {missing}")
    return BLOCK.sub(lambda m: m.group(1) + generated[m.group("name")] + "\n" + m.group(4), text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--markdown", type=Path, help="regenerate the blocks of this file")
    parser.add_argument("--check", action="store_true", help="with --markdown: only compare")
    parser.add_argument("--dot", type=Path, help="write the graph with trace values as DOT")
    args = parser.parse_args(argv)

    if args.markdown is not None:
        old = args.markdown.read_text(encoding="utf-8")
        new = fill(old, blocks())
        if args.check:
            if new != old:
                print(
                    f"{args.markdown} is out of date: run {' '.join(sys.argv[:1])} "
                    f"--markdown {args.markdown}",
                    file=sys.stderr,
                )
                return 1
            print(f"{args.markdown} is up to date")
            return 0
        args.markdown.write_text(new, encoding="utf-8")
        print(f"wrote {args.markdown}")
        return 0

    graph, x1, x2, y = survey_function()
    value, g1, g2 = gc.evaluate(gc.Graph([x1, x2], [y, *gc.grad(y, [x1, x2])]), 2.0, 5.0)
    print("y = ln(x1) + x1 x2 - sin(x2) at (x1, x2) = (2, 5)")
    print(f"  y        = {value:.3f}   ({value!r})")
    print(f"  gradient = ({g1:.3f}, {g2:.3f})   (exact: x2 + 1/x1 = 5.5, x1 - cos x2 = 2 - cos 5)")
    print()
    trace = gc.trace(graph, 2.0, 5.0)
    print(trace)
    if args.dot is not None:
        args.dot.write_text(trace.to_dot(), encoding="utf-8")
        print(f"\nwrote {args.dot} (render with: dot -Tsvg {args.dot} -o trace.svg)")

    expected = (math.log(2) + 10 - math.sin(5), 5.5, 2 - math.cos(5))
    got = (value, g1, g2, trace.output_tangents[0], *trace.input_adjoints)
    want = (*expected, 5.5, 5.5, 2 - math.cos(5))
    if any(not math.isclose(a, b, rel_tol=1e-14) for a, b in zip(got, want)):
        print(f"MISMATCH: got {got}, expected {want}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
