"""Second derivatives of the survey's Helmholtz free energy: ``gc.hessian`` and ``gc.hvp``.

For several n this builds the exact Hessian (forward mode over the reverse-mode gradient),
checks that it is symmetric and matches central differences of the gradient, checks that
``gc.hvp(f, x, v)`` equals ``hessian @ v`` without forming the Hessian, and reports the graph
sizes after ``gc.optimize`` of f, its gradient, ``jvp``, ``hvp`` and the Hessian: issue 4 asks
for hvp <= 5x f and jvp <= 3x f. Run: ``python examples/helmholtz_hessian.py``.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
from helmholtz import helmholtz  # the same construction as examples/helmholtz.py

import graphc as gc

R, T = 8.314, 273.0
HESSIAN_SIZES = (5, 20, 50)
COUNT_SIZES = (5, 50, 1000)  # hvp and jvp graphs do not grow with n: measured up to 1000


def check_hessian(n: int) -> bool:
    build, _, x0 = helmholtz(n)
    x, v = gc.vector("x", n), gc.vector("v", n)
    f = build(x)
    start = time.perf_counter()
    hessian = gc.optimize(gc.Graph([x], gc.hessian(f, x)))
    build_seconds = time.perf_counter() - start
    hvp = gc.optimize(gc.Graph([x, v], gc.hvp(f, x, v)))
    gradient = gc.optimize(gc.Graph([x], gc.grad(f, x)))

    H = gc.evaluate(hessian, x0)
    asymmetry = np.max(np.abs(H - H.T)) / np.max(np.abs(H))
    # Central differences of the (exact) gradient, one column per coordinate.
    columns = []
    for i in range(n):
        h = 1e-5 * x0[i]
        e = np.zeros(n)
        e[i] = h
        columns.append((gc.evaluate(gradient, x0 + e) - gc.evaluate(gradient, x0 - e)) / (2 * h))
    fd = np.array(columns).T
    fd_error = np.max(np.abs(H - fd)) / np.max(np.abs(fd))
    v0 = np.random.default_rng(n).standard_normal(n)
    hv_error = np.max(np.abs(gc.evaluate(hvp, x0, v0) - H @ v0)) / np.max(np.abs(H @ v0))
    ok = asymmetry < 1e-12 and fd_error < 1e-5 and hv_error < 1e-12
    print(
        f"  {n:>5} {len(hessian.nodes):>13} {build_seconds:>9.2f}s {asymmetry:>9.0e} "
        f"{fd_error:>13.0e} {hv_error:>11.0e}" + ("" if ok else "   <-- FAILED")
    )
    return ok


def sizes(n: int, unsafe_math: bool = False) -> dict[str, int]:
    build, _, _ = helmholtz(n)
    x, v = gc.vector("x", n), gc.vector("v", n)
    f = build(x)
    graphs = {
        "f": gc.Graph([x], f),
        "[f, grad]": gc.Graph([x], [f, gc.grad(f, x)]),
        "jvp": gc.Graph([x, v], gc.jvp(f, x, v)),
        "hvp": gc.Graph([x, v], gc.hvp(f, x, v)),
    }
    return {k: len(gc.optimize(g, unsafe_math=unsafe_math).nodes) for k, g in graphs.items()}


def main() -> int:
    print("Exact Hessians, forward over reverse (gc.hessian), checked (relative errors):")
    print(
        f"  {'n':>5} {'Hessian nodes':>13} {'build+opt':>10} {'|H - H^T|':>9} "
        f"{'vs FD of grad':>13} {'|hvp - H v|':>11}"
    )
    ok = all(check_hessian(n) for n in HESSIAN_SIZES)

    print("\nNode counts after gc.optimize (ratios to f):")
    print(f"  {'n':>5} {'options':<12} {'f':>4} {'[f, grad]':>15} {'jvp':>14} {'hvp':>14}")
    worst_jvp = worst_hvp = 0.0
    for n in COUNT_SIZES:
        for unsafe in (False, True):
            s = sizes(n, unsafe)
            jvp, hvp = s["jvp"] / s["f"], s["hvp"] / s["f"]
            worst_jvp, worst_hvp = max(worst_jvp, jvp), max(worst_hvp, hvp)
            print(
                f"  {n:>5} {'unsafe_math' if unsafe else 'default':<12} {s['f']:>4} "
                f"{s['[f, grad]']:>6} ({s['[f, grad]'] / s['f']:.2f}x) {s['jvp']:>5} ({jvp:.2f}x) "
                f"{s['hvp']:>5} ({hvp:.2f}x)"
            )
    verdict = "within" if worst_jvp <= 3 and worst_hvp <= 5 else "OUTSIDE"
    print(
        f"\nlargest ratios: jvp {worst_jvp:.2f}x f (target <= 3x), hvp {worst_hvp:.2f}x f "
        f"(target <= 5x): {verdict} issue 4's bounds"
    )

    # hvp against forming the Hessian: cost of one product, reference evaluator.
    n = 50
    build, _, x0 = helmholtz(n)
    x, v = gc.vector("x", n), gc.vector("v", n)
    f = build(x)
    graphs = {
        "f": gc.optimize(gc.Graph([x], f)),
        "hvp": gc.optimize(gc.Graph([x, v], gc.hvp(f, x, v))),
        "hessian": gc.optimize(gc.Graph([x], gc.hessian(f, x))),
    }
    v0 = np.ones(n)
    times = {}
    for name, graph in graphs.items():
        args = (x0, v0) if name == "hvp" else (x0,)
        best = math.inf
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(10):
                gc.evaluate(graph, *args)
            best = min(best, (time.perf_counter() - start) / 10)
        times[name] = best
    print(
        f"\nn = {n}, reference evaluator: f {times['f'] * 1e6:.0f} us, hvp "
        f"{times['hvp'] * 1e6:.0f} us ({times['hvp'] / times['f']:.1f}x f), full Hessian "
        f"{times['hessian'] * 1e6:.0f} us ({times['hessian'] / times['f']:.0f}x f)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
