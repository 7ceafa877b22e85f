"""Truncated Newton for L2-regularized logistic regression, never forming the Hessian.

    f(w) = mean_i softplus(-y_i x_i.w) + (lam / 2) |w|^2,    y_i in {-1, +1}

Each Newton step solves H p = -grad f approximately by conjugate gradient, and CG only needs
products H v: ``gc.hvp(f, w, v)`` gives them in O(n) per product (Pearlmutter's forward-over-
reverse), so the d x d Hessian is never built or stored. The data is generated here from a
planted weight vector. Run: ``python examples/truncated_newton.py``.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import graphc as gc

N, D = 2000, 100
LAMBDA = 1e-3
TOLERANCE = 1e-10  # on |grad f|


def make_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    w_true = rng.standard_normal(D) / np.sqrt(D) * 3
    X = rng.standard_normal((N, D))
    p = 1 / (1 + np.exp(-(X @ w_true)))
    y = np.where(rng.random(N) < p, 1.0, -1.0)
    return X, y, w_true


def conjugate_gradient(hvp, b: np.ndarray, tolerance: float, max_iterations: int):
    """Solve H p = b for symmetric positive definite H given only v -> H v."""
    p = np.zeros_like(b)
    r = b.copy()
    d = r.copy()
    rr = r @ r
    for k in range(1, max_iterations + 1):
        Hd = hvp(d)
        alpha = rr / (d @ Hd)
        p += alpha * d
        r -= alpha * Hd
        rr_new = r @ r
        if np.sqrt(rr_new) < tolerance:
            return p, k
        d = r + (rr_new / rr) * d
        rr = rr_new
    return p, max_iterations


def main() -> int:
    rng = np.random.default_rng(0)
    X, y, w_true = make_data(rng)

    w, v = gc.vector("w", D), gc.vector("v", D)
    f = gc.mean(gc.softplus(-y * (X @ w))) + LAMBDA / 2 * (w @ w)
    f_graph = gc.optimize(gc.Graph([w], f))
    f_grad = gc.optimize(gc.Graph([w], [f, gc.grad(f, w)]))
    hvp_graph = gc.optimize(gc.Graph([w, v], gc.hvp(f, w, v)))
    jvp_graph = gc.optimize(gc.Graph([w, v], gc.jvp(f, w, v)))

    square = [node for node in hvp_graph.nodes if node.shape == (D, D)]
    print(f"logistic regression: {N} samples, {D} weights, lambda = {LAMBDA:g}")
    print(
        f"hvp graph: {len(hvp_graph.nodes)} nodes, the largest of shape {max_shape(hvp_graph)} (X);"
    )
    print(f"           {len(square)} nodes of shape ({D}, {D}): the Hessian is never formed")

    # The hvp graph against a central difference of the gradient, once.
    w0, v0 = rng.standard_normal(D) * 0.1, rng.standard_normal(D)
    h = 1e-6
    fd = (gc.evaluate(f_grad, w0 + h * v0)[1] - gc.evaluate(f_grad, w0 - h * v0)[1]) / (2 * h)
    hv = gc.evaluate(hvp_graph, w0, v0)
    check = np.max(np.abs(hv - fd)) / np.max(np.abs(fd))
    print(f"hvp vs central difference of the gradient: relative difference {check:.1e}\n")

    print(f"  {'k':>2} {'f(w)':>12} {'|grad f|':>10} {'CG iters':>8} {'step':>5}")
    start = time.perf_counter()
    weights = np.zeros(D)
    products = 0
    for k in range(50):
        value, gradient = gc.evaluate(f_grad, weights)
        norm = np.linalg.norm(gradient)
        if norm < TOLERANCE:
            print(f"  {k:>2} {value:>12.8f} {norm:>10.2e}")
            break
        # Forcing term: solve loosely far away, tightly near the solution (superlinear rate).
        forcing = min(0.5, np.sqrt(norm)) * norm
        direction, iterations = conjugate_gradient(
            lambda d, at=weights: gc.evaluate(hvp_graph, at, d), -gradient, forcing, D
        )
        products += iterations
        step = 1.0
        while gc.evaluate(f_graph, weights + step * direction) > value + 1e-4 * step * (
            gradient @ direction
        ):
            step /= 2
        print(f"  {k:>2} {value:>12.8f} {norm:>10.2e} {iterations:>8} {step:>5.3g}")
        weights = weights + step * direction
    else:
        print("did not converge", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - start

    accuracy = np.mean(np.sign(X @ weights) == y)
    planted = np.mean(np.sign(X @ w_true) == y)
    cosine = weights @ w_true / np.linalg.norm(weights) / np.linalg.norm(w_true)
    print(
        f"\n{k} Newton steps, {products} Hessian-vector products, {seconds:.2f} s "
        "(reference evaluator)"
    )
    print(f"training accuracy {accuracy:.1%} (the planted weights: {planted:.1%})")
    print(f"cosine(w, planted w) = {cosine:.3f}")

    f_nodes = len(f_graph.nodes)
    print("\nGraph sizes after gc.optimize:")
    for name, graph in [
        ("f", f_graph),
        ("[f, grad]", f_grad),
        ("jvp", jvp_graph),
        ("hvp", hvp_graph),
    ]:
        print(f"  {name:<10} {len(graph.nodes):>4} nodes   {len(graph.nodes) / f_nodes:5.2f}x f")
    return 0 if check < 1e-6 and not square else 1


def max_shape(graph: gc.Graph) -> tuple[int, ...]:
    return max((node.shape for node in graph.nodes), key=lambda s: int(np.prod(s)))


if __name__ == "__main__":
    sys.exit(main())
