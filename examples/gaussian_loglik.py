"""A Gaussian log-likelihood through Cholesky: value and gradient in one compiled function.

For data ``x_1 .. x_n`` in ``d`` dimensions, a mean ``mu`` and a covariance ``C = R R^T + eps I``
(``R`` any real matrix, so ``C`` is positive definite for every parameter value):

    log p = -1/2 sum_i (x_i - mu)^T C^-1 (x_i - mu) - n/2 log det C - n d/2 log(2 pi)

is computed the numerically sound way, through the Cholesky factor ``C = L L^T``: one
triangular solve ``z = L^-1 (x - mu)`` gives the quadratic form as ``sum(z * z)`` and
``log det C = 2 sum(log diag L)``. ``gc.grad`` differentiates through ``cholesky`` and
``solve_triangular`` (Murray's adjoint for the factor), and the value and the gradient compile
into one native function.

The script checks the compiled value and gradient against closed-form numpy formulas (no
scipy): ``C^-1`` from ``numpy.linalg.inv``, ``log det C`` from ``slogdet``, and

    d log p / d mu = C^-1 sum_i (x_i - mu),
    d log p / d R  = 2 G R,  G = 1/2 (C^-1 S C^-1 - n C^-1),  S = sum_i (x_i - mu)(x_i - mu)^T,

then fits ``mu`` and ``R`` by gradient ascent (Adam) and compares the maximum it reaches with
the closed-form maximum likelihood (the sample mean and the biased sample covariance).
Run: ``python examples/gaussian_loglik.py``.
"""

from __future__ import annotations

import math
import time

import numpy as np

import graphc as gc

N, D = 500, 3
EPS = 1e-9  # keeps C positive definite at every R; far below the data's variances
LOG_2PI = math.log(2 * math.pi)


def loglik_graph(data: np.ndarray) -> gc.Graph:
    n, d = data.shape
    mu, r = gc.vector("mu", d), gc.matrix("R", d, d)
    cov = r @ r.T + EPS * np.eye(d)
    chol = gc.linalg.cholesky(cov)
    z = gc.linalg.solve_triangular(chol, (data - mu).T, lower=True)  # (d, n): L^-1 (x_i - mu)
    loglik = -0.5 * gc.sum(z * z) - n * gc.sum(gc.log(gc.diagonal(chol))) - 0.5 * n * d * LOG_2PI
    return gc.Graph([mu, r], [loglik, *gc.grad(loglik, [mu, r])])


def numpy_formulas(data: np.ndarray, mu: np.ndarray, r: np.ndarray):
    """The value and gradient from closed forms, with numpy's inv and slogdet."""
    n, d = data.shape
    cov = r @ r.T + EPS * np.eye(d)
    inv = np.linalg.inv(cov)
    resid = data - mu
    scatter = resid.T @ resid
    value = -0.5 * np.sum(resid @ inv * resid) - 0.5 * n * np.linalg.slogdet(cov)[1]
    value -= 0.5 * n * d * LOG_2PI
    g_cov = 0.5 * (inv @ scatter @ inv - n * inv)
    return value, inv @ resid.sum(axis=0), 2 * g_cov @ r


def relative_error(got, want) -> float:
    got, want = np.asarray(got), np.asarray(want)
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


def fit(fn, mu: np.ndarray, r: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Adam on (mu, R), maximising; the step size decays so the iterates settle."""
    params, first, second = [mu, r], [np.zeros_like(mu), np.zeros_like(r)], [0 * mu, 0 * r]
    for t in range(1, steps + 1):
        _, *grads = fn(*params)
        rate = 0.05 * 0.995**t
        for k, g in enumerate(grads):
            first[k] = 0.9 * first[k] + 0.1 * g
            second[k] = 0.999 * second[k] + 0.001 * g * g
            step = (first[k] / (1 - 0.9**t)) / (np.sqrt(second[k] / (1 - 0.999**t)) + 1e-12)
            params[k] = params[k] + rate * step
    return params[0], params[1], fn(*params)[0]


def per_call(function, repeat: int = 2000) -> float:
    function()
    start = time.perf_counter()
    for _ in range(repeat):
        function()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    rng = np.random.default_rng(0)
    true_mu = np.array([1.0, -2.0, 0.5])
    true_factor = np.array([[1.5, 0.0, 0.0], [0.8, 0.7, 0.0], [-0.4, 0.3, 0.5]])
    data = true_mu + rng.standard_normal((N, D)) @ true_factor.T

    graph = loglik_graph(data)
    start = time.perf_counter()
    fn = gc.compile(graph, cache=False)  # the compile time printed is a real compile
    compile_seconds = time.perf_counter() - start
    optimized = gc.optimize(graph)
    print(f"Gaussian log-likelihood of {N} points in {D} dimensions, through Cholesky")
    print(
        f"value and gradient: {len(graph.nodes)} nodes, {len(optimized.nodes)} after "
        f"gc.optimize, compiled in {compile_seconds * 1e3:.0f} ms"
    )

    worst_value = worst_gradient = 0.0
    for trial in range(5):
        mu0, r0 = rng.standard_normal(D), rng.standard_normal((D, D))
        got = fn(mu0, r0)
        want = numpy_formulas(data, mu0, r0)
        worst_value = max(worst_value, relative_error(got[0], want[0]))
        worst_gradient = max(
            worst_gradient, *(relative_error(g, w) for g, w in zip(got[1:], want[1:]))
        )
        if trial == 0:
            evaluated = gc.evaluate(graph, mu0, r0)
            assert relative_error(evaluated[2], want[2]) < 1e-10
    ok = worst_value < 1e-12 and worst_gradient < 1e-10
    print(
        f"against the numpy formulas at 5 random points: value rel. error {worst_value:.1e}, "
        f"gradient rel. error {worst_gradient:.1e}: {'agree' if ok else 'FAILED'}"
    )

    mean = data.mean(axis=0)
    sample_cov = (data - mean).T @ (data - mean) / N
    best = -0.5 * N * (D * LOG_2PI + np.linalg.slogdet(sample_cov)[1] + D)
    start_value = fn(np.zeros(D), np.eye(D))[0]
    mu_hat, r_hat, reached = fit(fn, np.zeros(D), np.eye(D), steps=1500)
    gap = best - reached
    cov_error = relative_error(r_hat @ r_hat.T + EPS * np.eye(D), sample_cov)
    print(
        f"fit by gradient ascent (Adam, 1500 steps): log-likelihood {start_value:.6f} -> "
        f"{reached:.9f}; the closed-form maximum is {best:.9f} (gap {gap:.1e})"
    )
    print(
        f"maximum likelihood: {'reached' if abs(gap) < 1e-6 else 'FAILED to reach'}; "
        f"mean error {np.max(np.abs(mu_hat - mean)):.1e}, covariance rel. error {cov_error:.1e}"
    )

    mu0, r0 = rng.standard_normal(D), rng.standard_normal((D, D))
    graphc_time = per_call(lambda: fn(mu0, r0))
    numpy_time = per_call(lambda: numpy_formulas(data, mu0, r0))
    print(
        f"per call, value and gradient: compiled {graphc_time * 1e6:.1f} us, numpy formulas "
        f"{numpy_time * 1e6:.1f} us"
    )


if __name__ == "__main__":
    main()
