"""graphc in one screen: declare a model once, differentiate it as a graph, optimize it, compile it
to native code, run it many times, and compare with numpy on this machine.

Run: python examples/demo.py   (about 20 seconds; timings are the minimum of several samples)
"""

from __future__ import annotations

import math
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # numpy's fair baseline on a shared machine

import numpy as np  # noqa: E402

import graphc as gc  # noqa: E402


def best_time(call, number: int, repeat: int = 5) -> float:
    """Seconds per call: the minimum over ``repeat`` runs of ``number`` calls."""
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            call()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 76 - len(title)))


def lecture() -> None:
    section("1. The lecture's example: f(x1, x2) = (x1 + x2) ln(x1 + x2)")
    x1, x2 = gc.scalar("x1"), gc.scalar("x2")
    f = (x1 + x2) * gc.log(x1 + x2)
    graph = gc.Graph([x1, x2], [f, *gc.grad(f, [x1, x2])])
    optimized = gc.optimize(graph)
    print(
        f"value and gradient as one graph: {len(graph.nodes)} nodes, "
        f"{len(optimized.nodes)} after gc.optimize:"
    )
    print(optimized)
    fn = gc.compile(graph)
    print("compiled  f, df/dx1, df/dx2 at (2, 5):", fn(2.0, 5.0))
    print("reference (numpy evaluator)          :", gc.evaluate(graph, 2.0, 5.0))
    print(
        f"compiled in {fn.stats['seconds']['total'] * 1e3:.1f} ms (disk cache: {fn.stats['cache']})"
    )

    def by_hand(a: float = 2.0, b: float = 5.0):
        s = np.float64(a) + b
        return s * np.log(s), np.log(s) + 1.0, np.log(s) + 1.0

    t_fn = best_time(lambda: fn(2.0, 5.0), 100_000)
    t_np = best_time(by_hand, 100_000)
    print(
        f"one call: graphc {t_fn * 1e6:.2f} us, the same formulas in numpy scalars "
        f"{t_np * 1e6:.2f} us ({t_np / t_fn:.1f}x)"
    )

    X = np.random.default_rng(0).uniform(1.0, 3.0, (2, 1_000_000))
    fast = gc.compile(graph, vector_math=True)

    def numpy_batch():
        s = X[0] + X[1]
        log_s = np.log(s)
        return s * log_s, log_s + 1.0, log_s + 1.0

    t_batch = best_time(lambda: fn.batch(X[0], X[1]), 1, 5) / X.shape[1]
    t_fast = best_time(lambda: fast.batch(X[0], X[1]), 1, 5) / X.shape[1]
    t_vec = best_time(numpy_batch, 1, 5) / X.shape[1]
    print(
        f"10^6 points with fn.batch: {t_batch * 1e9:.1f} ns/point "
        f"({t_fast * 1e9:.1f} with vector_math=True); numpy vectorized {t_vec * 1e9:.1f} ns/point"
    )


def helmholtz() -> None:
    section("2. The survey's Helmholtz free energy, f and its gradient (n = 1000)")
    n = 1000
    rng = np.random.default_rng(1)
    b = rng.uniform(0.1, 1, n)
    M = rng.standard_normal((n, n))
    A = (M + M.T) / 2
    x0 = rng.uniform(0.1, 1, n) * 0.1 / n
    R, T = 8.314, 273.0
    c1, c2 = 1 + math.sqrt(2), 1 - math.sqrt(2)

    x = gc.vector("x", n)
    bx = b @ x
    f = R * T * gc.sum(x * gc.log(x / (1 - bx))) - (x @ A @ x) / (math.sqrt(8) * bx) * gc.log(
        (1 + c1 * bx) / (1 + c2 * bx)
    )

    def numpy_f(v):
        bv = b @ v
        return R * T * np.sum(v * np.log(v / (1 - bv))) - (v @ A @ v) / (
            math.sqrt(8) * bv
        ) * np.log((1 + c1 * bv) / (1 + c2 * bv))

    f_only = gc.compile(gc.Graph([x], f))
    with_grad = gc.compile(gc.Graph([x], [f, gc.grad(f, x)]))
    one_pass = gc.compile(gc.Graph([x], [f, gc.grad(f, x)]), unsafe_math=True)
    value, gradient = with_grad(x0)
    h = 1e-9
    e0 = np.eye(n)[0]
    fd = (numpy_f(x0 + h * e0) - numpy_f(x0 - h * e0)) / (2 * h)
    print(
        f"f = {value:.6f} (numpy {numpy_f(x0):.6f}); df/dx0 = {gradient[0]:.6f} "
        f"(finite difference {fd:.6f})"
    )
    t_np = best_time(lambda: numpy_f(x0), 200)
    t_f = best_time(lambda: f_only(x0), 200)
    t_g = best_time(lambda: with_grad(x0), 200)
    t_g1 = best_time(lambda: one_pass(x0), 200)
    print(
        f"numpy f {t_np * 1e6:.0f} us | graphc f {t_f * 1e6:.0f} us | f + gradient "
        f"{t_g * 1e6:.0f} us (ratio {t_g / t_f:.2f}) | with unsafe_math {t_g1 * 1e6:.0f} us "
        f"(ratio {t_g1 / t_f:.2f})"
    )
    print(
        f"workspace of f + gradient: {with_grad.stats['workspace_bytes']} bytes "
        f"(O(n): no n x n temporaries)"
    )


def swell() -> None:
    section("3. Expression swell: the logistic map l(k+1) = 4 l(k) (1 - l(k))")
    x = gc.scalar("x")
    for steps in (4, 10, 20, 50):
        value = x
        for _ in range(steps - 1):
            value = 4 * value * (1 - value)
        alone = len(gc.optimize(gc.Graph([x], [value])).nodes)
        both = len(gc.optimize(gc.Graph([x], [value, gc.grad(value, x)])).nodes)
        print(
            f"n = {steps:2d}: l(n) {alone:4d} nodes, l(n) with dl/dx {both:4d} nodes "
            f"({both / alone:.2f}x; symbolic differentiation grows exponentially)"
        )


if __name__ == "__main__":
    lecture()
    helmholtz()
    swell()
