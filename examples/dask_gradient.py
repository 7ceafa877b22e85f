"""A model's loss and gradient over a dataset sharded across Dask workers.

The model: a one-hidden-layer network p(y = 1 | x) = sigmoid(w2 . tanh(W1^T x + b1) + b2) with
the logistic loss L = sum_i softplus(z_i) - y_i z_i (z_i the logit of sample i), on N samples
with D features. The data is split into shards of S rows; graphc builds the loss of one shard
and its gradient with respect to all the weights (one flat vector theta) as one graph, and
compiles it once. ``gc.dask.batch`` then evaluates it on every shard where the shard lives (a
block of the Dask array holds several shards, one native ``fn.batch`` call each), and Dask sums
the per-shard losses and gradients. The compiled function travels to the workers as object
code: they load it (a few milliseconds, after graphc's first import) and never compile.

Checks: the cluster's gradient equals the same compiled code run in this process (up to the
order of the sum over shards), the loss equals a numpy forward pass, and the gradient agrees
with central finite differences of that numpy loss. Then the same computation is timed on a
local cluster of 1 and of 2 worker processes (one thread each), with the data already on the
workers (persisted), as a training loop would see it; and a few gradient-descent steps show
the loss going down.
Run: ``python examples/dask_gradient.py`` (needs ``pip install 'graphc[dask]'``).
"""

from __future__ import annotations

import argparse
import os
import time
from functools import partial

import numpy as np

import graphc as gc

D, HIDDEN = 16, 32  # features, hidden units
P = D * HIDDEN + 2 * HIDDEN + 1  # weights: W1 (D x HIDDEN), b1, w2, b2
LEARNING_RATE = 1.0  # on the mean loss
SEED = 0


def shard_graph(rows: int) -> gc.Graph:
    """Loss and gradient of one shard: inputs theta (P,), X (rows, D), y (rows,)."""
    theta, X, y = gc.vector("theta", P), gc.matrix("X", rows, D), gc.vector("y", rows)
    W1 = gc.reshape(theta[: D * HIDDEN], (D, HIDDEN))
    b1 = theta[D * HIDDEN : D * HIDDEN + HIDDEN]
    w2 = theta[D * HIDDEN + HIDDEN : D * HIDDEN + 2 * HIDDEN]
    b2 = theta[P - 1]
    logits = gc.tanh(X @ W1 + b1) @ w2 + b2
    loss = gc.sum(gc.softplus(logits) - y * logits)
    return gc.Graph([theta, X, y], [loss, gc.grad(loss, theta)])


def numpy_loss(theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
    """The same loss in numpy (the reference for the checks)."""
    W1 = theta[: D * HIDDEN].reshape(D, HIDDEN)
    b1, w2, b2 = theta[D * HIDDEN : D * HIDDEN + HIDDEN], theta[D * HIDDEN + HIDDEN : -1], theta[-1]
    z = np.tanh(X @ W1 + b1) @ w2 + b2
    return float(np.sum(np.logaddexp(0.0, z) - y * z))


def make_block(block: int, shards: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Block ``block`` of a synthetic classification problem: ``shards`` shards of ``rows``
    samples, labels from a fixed random "teacher" network plus noise. Deterministic, so the
    workers make their blocks where they live and this process can make the same data."""
    teacher = np.random.default_rng(SEED).standard_normal(P) / np.sqrt(D)
    rng = np.random.default_rng([SEED, block])
    X = rng.standard_normal((shards, rows, D))
    W1 = teacher[: D * HIDDEN].reshape(D, HIDDEN)
    z = np.tanh(X @ W1) @ teacher[D * HIDDEN + HIDDEN : -1]
    y = (z + 0.3 * rng.standard_normal(z.shape) > 0).astype(float)
    return X, y


def main() -> None:
    import dask
    import dask.array as da
    from dask.distributed import Client, LocalCluster, wait

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--blocks", type=int, default=8, help="Dask blocks")
    parser.add_argument("--shards-per-block", type=int, default=4)
    parser.add_argument("--rows", type=int, default=2048, help="rows per shard")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    blocks, per_block, rows = args.blocks, args.shards_per_block, args.rows
    shards = blocks * per_block
    n = shards * rows

    start = time.perf_counter()
    fn = gc.compile(shard_graph(rows))
    print(
        f"per-shard loss and gradient: {fn.stats['nodes']} nodes, compiled once in "
        f"{time.perf_counter() - start:.2f} s (cache: {fn.stats['cache']})"
    )
    print(f"data: {n} samples x {D} features in {shards} shards of {rows} rows, {P} weights")
    theta = np.random.default_rng(1).standard_normal(P) * 0.1

    # Here, in one process: the reference for the cluster's results.
    parts = [make_block(b, per_block, rows) for b in range(blocks)]
    X, y = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    start = time.perf_counter()
    local_losses, local_grads = fn.batch(theta, X, y)
    local_seconds = time.perf_counter() - start
    loss_ref, grad_ref = local_losses.sum(), local_grads.sum(axis=0)
    numpy_value = numpy_loss(theta, X.reshape(n, D), y.reshape(n))
    print(
        f"one process, fn.batch over all shards: {local_seconds * 1e3:.0f} ms; mean loss "
        f"{loss_ref / n:.12f} (numpy forward pass: {numpy_value / n:.12f})"
    )
    assert abs(loss_ref - numpy_value) <= 1e-9 * abs(numpy_value)

    # The gradient against central finite differences of the numpy loss, in 3 directions (on
    # the first shard: the full sum would need a larger step for the same accuracy).
    rng = np.random.default_rng(2)
    worst = 0.0
    for _ in range(3):
        v, h = rng.standard_normal(P), 1e-5
        up, down = numpy_loss(theta + h * v, X[0], y[0]), numpy_loss(theta - h * v, X[0], y[0])
        exact = float(local_grads[0] @ v)
        worst = max(worst, abs((up - down) / (2 * h) - exact) / max(abs(exact), 1.0))
    print(f"gradient matches finite differences: worst relative error {worst:.1e}")
    assert worst < 1e-6

    for workers in (1, 2):
        with (
            LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            # Each worker makes the blocks it holds; they stay there (persisted), as a training
            # loop would keep them.
            made = [dask.delayed(make_block)(b, per_block, rows) for b in range(blocks)]
            Xd = da.concatenate(
                [da.from_delayed(m[0], (per_block, rows, D), float) for m in made]
            ).persist()
            yd = da.concatenate([da.from_delayed(m[1], (per_block, rows), float) for m in made])
            yd = yd.persist()
            wait([Xd, yd])
            evaluate = partial(loss_and_gradient, fn, Xd, yd)

            start = time.perf_counter()
            loss, grad = evaluate(theta)  # ships the compiled function to the workers
            first = time.perf_counter() - start
            assert abs(loss - loss_ref) <= 1e-12 * abs(loss_ref)
            assert np.allclose(grad, grad_ref, rtol=1e-12, atol=1e-9 * np.abs(grad_ref).max())
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                evaluate(theta)
                times.append(time.perf_counter() - start)
            loads = ", ".join(client.run(_loaded_functions).values())
            print(
                f"{workers} worker{'s' if workers > 1 else ' '}: loss and gradient in "
                f"{min(times) * 1e3:.0f} ms (best of {args.repeats}; first call "
                f"{first * 1e3:.0f} ms); equal to one process's; object code loaded by the "
                f"workers in {loads}"
            )
            if workers == 2:
                weights, losses = theta.copy(), []
                for _ in range(5):
                    value, gradient = evaluate(weights)
                    losses.append(value / n)
                    weights -= LEARNING_RATE * gradient / n  # a step on the mean loss
                steps = " -> ".join(f"{v:.5f}" for v in losses)
                print(f"gradient descent on the cluster, mean loss: {steps}")
                assert losses[-1] < losses[0]
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(
        f"(timings on {os.cpu_count()} CPUs, load average {load}: the speed-up of 2 workers "
        "needs 2 idle cores)"
    )


def loss_and_gradient(fn, Xd, yd, weights: np.ndarray) -> tuple[float, np.ndarray]:
    """The loss and gradient summed over every shard, by Dask."""
    import dask

    losses, grads = gc.dask.batch(fn, weights, Xd, yd)  # per shard, where the shard lives
    loss, grad = dask.compute(losses.sum(), grads.sum(axis=0))
    return float(loss), grad


def _loaded_functions() -> str:
    """On a worker: how the compiled functions it holds were loaded (from a pickle, no LLVM)."""
    from graphc.jit import pickling

    loaded = list(pickling._UNPICKLED.values())
    return (
        "; ".join(f"{f.stats['seconds']['load'] * 1e3:.1f} ms ({f.stats['cache']})" for f in loaded)
        or "none"
    )


if __name__ == "__main__":
    main()
