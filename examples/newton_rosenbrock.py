"""Newton's method with the exact Hessian from ``gc.hessian``, on the Rosenbrock function.

The lecture's Newton-Raphson update, w <- w - eta H^-1 grad f, needs the Hessian; AD gives it
exactly (forward mode over the reverse-mode gradient). On Rosenbrock's banana valley

    f(x) = sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2,    minimum f(1, ..., 1) = 0,

Newton converges quadratically near the minimum (the error is squared at each step), while
gradient descent crawls along the valley floor for thousands of steps. Both use the same
backtracking (Armijo) line search; where the Hessian is not positive definite, Newton adds a
multiple of the identity until it is (Nocedal and Wright, Algorithm 3.3).
Run: ``python examples/newton_rosenbrock.py``.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import graphc as gc

# Newton stops when |grad f| < this: about the round-off floor of the gradient (near the
# minimum its terms are 100 (x_i+1 - x_i^2) ~ 1e2 * 1e-16 relative).
NEWTON_TOLERANCE = 1e-8
# Gradient descent needs thousands of steps even for a loose tolerance; the comparison counts
# the iterations each method needs to reach it.
COMPARE_TOLERANCE = 1e-3
GD_MAX_ITERATIONS = 30_000


def rosenbrock(x: gc.Node) -> gc.Node:
    return gc.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


class Problem:
    """The graphs one optimizer needs, built and optimized once, evaluated many times."""

    def __init__(self, n: int):
        x = gc.vector("x", n)
        f = rosenbrock(x)
        g = gc.grad(f, x)
        self.f = gc.optimize(gc.Graph([x], f))
        self.f_grad = gc.optimize(gc.Graph([x], [f, g]))
        self.newton = gc.optimize(gc.Graph([x], [f, g, gc.hessian(f, x)]))
        v = gc.vector("v", n)
        self.hvp = gc.optimize(gc.Graph([x, v], gc.hvp(f, x, v)))
        self.jvp = gc.optimize(gc.Graph([x, v], gc.jvp(f, x, v)))
        self.evaluations = 0

    def value(self, x: np.ndarray) -> float:
        self.evaluations += 1
        return gc.evaluate(self.f, x)


def line_search(problem: Problem, x, fx, g, p, step: float = 1.0) -> float:
    """Backtracking until f(x + t p) <= f(x) + 1e-4 t g.p (Armijo's sufficient decrease)."""
    slope = float(g @ p)
    while problem.value(x + step * p) > fx + 1e-4 * step * slope:
        step /= 2
        if step < 1e-16:
            raise RuntimeError("line search failed: p is not a descent direction")
    return step


def newton(problem: Problem, x: np.ndarray, verbose: bool = True) -> tuple[np.ndarray, list]:
    """Newton's method; returns the solution and the history of (|grad f|, |x - 1|)."""
    history = []
    if verbose:
        print(f"  {'k':>3} {'f(x)':>12} {'|grad f|':>10} {'|x - 1|':>10} {'shift':>7} {'step':>6}")
    for k in range(100):
        fx, g, H = gc.evaluate(problem.newton, x)
        problem.evaluations += 1
        error = np.linalg.norm(x - 1)
        history.append((np.linalg.norm(g), error))
        if np.linalg.norm(g) < NEWTON_TOLERANCE:
            if verbose:
                print(f"  {k:>3} {fx:>12.4e} {np.linalg.norm(g):>10.2e} {error:>10.2e}")
            return x, history
        # Make H positive definite if it is not: H + tau I, tau grown until Cholesky succeeds.
        tau = 0.0
        while True:
            try:
                L = np.linalg.cholesky(H + tau * np.eye(len(x)))
                break
            except np.linalg.LinAlgError:
                tau = max(2 * tau, 1e-3 * np.max(np.abs(np.diag(H))), 1e-8)
        p = -np.linalg.solve(L.T, np.linalg.solve(L, g))
        step = line_search(problem, x, fx, g, p)
        if verbose:
            print(
                f"  {k:>3} {fx:>12.4e} {np.linalg.norm(g):>10.2e} {error:>10.2e} "
                f"{tau:>7.1e} {step:>6.3g}"
            )
        x = x + step * p
    raise RuntimeError("Newton did not converge in 100 iterations")


def gradient_descent(problem: Problem, x: np.ndarray) -> tuple[np.ndarray, int]:
    step = 1.0
    for k in range(GD_MAX_ITERATIONS):
        fx, g = gc.evaluate(problem.f_grad, x)
        problem.evaluations += 1
        if np.linalg.norm(g) < COMPARE_TOLERANCE:
            return x, k
        # Start from twice the last accepted step: far fewer trial evaluations than from 1.
        step = line_search(problem, x, fx, g, -g, min(1.0, 2 * step))
        x = x - step * g
    return x, GD_MAX_ITERATIONS


def main() -> int:
    failures = 0
    print("Rosenbrock, n = 2, from the classic start (-1.2, 1):")
    problem = Problem(2)
    x0 = np.array([-1.2, 1.0])

    start = time.perf_counter()
    x_newton, history = newton(problem, x0.copy())
    newton_time, newton_evals = time.perf_counter() - start, problem.evaluations
    errors = [e for _, e in history[-3:]]
    print(
        "  near the minimum the error is squared at each step: "
        + " -> ".join(f"{e:.1e}" for e in errors)
        + "\n  (|x_k+1 - 1| / |x_k - 1|^2 = "
        + ", ".join(f"{b / a**2:.2g}" for a, b in zip(errors, errors[1:]) if a > 0)
        + ")"
    )
    k_newton = next(k for k, (g, _) in enumerate(history) if g < COMPARE_TOLERANCE)

    problem.evaluations = 0
    start = time.perf_counter()
    x_gd, k_gd = gradient_descent(problem, x0.copy())
    gd_time, gd_evals = time.perf_counter() - start, problem.evaluations

    print(f"\n  iterations to reach |grad f| < {COMPARE_TOLERANCE:g}:")
    print(
        f"  Newton (exact Hessian):  {k_newton:>6} iterations; to |grad f| < "
        f"{NEWTON_TOLERANCE:g}: {len(history) - 1} iterations,"
    )
    print(
        f"{'':>34}{newton_evals} graph evaluations, {newton_time:.2f} s, "
        f"|x - 1| = {np.linalg.norm(x_newton - 1):.1e}"
    )
    reached = "" if k_gd < GD_MAX_ITERATIONS else " (stopped at the limit, not converged)"
    print(
        f"  gradient descent:        {k_gd:>6} iterations, {gd_evals:>7} graph "
        f"evaluations, {gd_time:6.2f} s, |x - 1| = {np.linalg.norm(x_gd - 1):.1e}{reached}"
    )
    print(f"  gradient descent takes {k_gd / k_newton:.0f}x as many iterations")
    failures += np.linalg.norm(x_newton - 1) > 1e-8 or len(history) > 50 or k_gd <= k_newton

    n = 10
    print(f"\nRosenbrock, n = {n}, from (-1.2, 1, -1.2, 1, ...):")
    problem = Problem(n)
    x_newton, history = newton(problem, np.tile([-1.2, 1.0], n // 2))
    f_end = gc.evaluate(problem.f, x_newton)
    if np.allclose(x_newton, 1):
        print(f"  Newton: {len(history) - 1} iterations to the global minimum (1, ..., 1)")
    else:
        # For n >= 4 the chained Rosenbrock function has a second minimum near (-1, 1, ..., 1);
        # Newton converges (quadratically) to the minimum of the basin it is in.
        print(
            f"  Newton: {len(history) - 1} iterations to the local minimum near "
            f"({x_newton[0]:.3f}, {x_newton[1]:.3f}, ...), f = {f_end:.4f}\n"
            "  (for n >= 4 the function has this second minimum besides (1, ..., 1))"
        )

    f_nodes = len(problem.f.nodes)
    print(f"\nGraph sizes after gc.optimize (n = {n}):")
    for name, graph in [
        ("f", problem.f),
        ("[f, grad]", problem.f_grad),
        ("jvp(f, x, v)", problem.jvp),
        ("hvp(f, x, v)", problem.hvp),
        ("[f, grad, hessian]", problem.newton),
    ]:
        print(f"  {name:<20} {len(graph.nodes):>5} nodes   {len(graph.nodes) / f_nodes:5.2f}x f")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
