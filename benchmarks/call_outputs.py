"""The cost of a compiled call against its number of scalar outputs (the compile-time issue's
"small calls with several outputs": a 3-output call at most 1.5 times a 1-output call).

The lecture's f(x1, x2) = (x1 + x2) ln(x1 + x2) with 1, 2 and 3 of [f, df/dx1, df/dx2] as
outputs, each compiled once, called round-robin; minimum over 5 rounds of 200,000 calls.

    python benchmarks/call_outputs.py
"""

from __future__ import annotations

import timeit

import graphc as gc


def main(calls: int = 200_000, rounds: int = 5) -> dict[str, float]:
    x1, x2 = gc.scalar("x1"), gc.scalar("x2")
    f = (x1 + x2) * gc.log(x1 + x2)
    g1, g2 = gc.grad(f, [x1, x2])
    functions = {
        "1 output": gc.compile(gc.Graph([x1, x2], f), cache=False),
        "1 output in a tuple": gc.compile(gc.Graph([x1, x2], [f]), cache=False),
        "2 outputs": gc.compile(gc.Graph([x1, x2], [f, g1]), cache=False),
        "3 outputs": gc.compile(gc.Graph([x1, x2], [f, g1, g2]), cache=False),
    }
    best = dict.fromkeys(functions, float("inf"))
    for _ in range(rounds):
        for name, fn in functions.items():
            seconds = timeit.timeit(lambda fn=fn: fn(2.0, 5.0), number=calls)
            best[name] = min(best[name], seconds / calls * 1e9)
    return best


if __name__ == "__main__":
    best = main()
    for name, ns in best.items():
        print(f"{name:>20}: {ns:6.0f} ns")
    print(f"3 outputs / 1 output: {best['3 outputs'] / best['1 output']:.2f}")
