"""Backpropagation is reverse mode: a 2-8-1 sigmoid network trained by gradient descent.

The lecture's setting: a network h(x; W) = phi(W2 phi(W1 x + b1) + b2) with the sigmoid phi,
the squared error E = sum_i (h(x_i; W) - y_i)^2 over the training set, and the update
w <- w - eta dE/dw. graphc builds E once as a graph, derives dE/dW with ``gc.grad`` (reverse
mode, i.e. backpropagation), optimizes the graph, and evaluates it every step with new weights.

The data is generated here: an XOR pattern of four Gaussian blobs (no straight line separates
the classes, so the hidden layer is needed). The gradient is checked twice before training:
against the lecture's hand-derived delta rule and against central finite differences.
Run: ``python examples/backprop.py``.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import graphc as gc

HIDDEN = 8
N_TRAIN, N_TEST = 200, 1000
EPOCHS = 2000
REPORT = (0, 10, 30, 100, 300, 1000, 2000)
LEARNING_RATE = 0.05  # E sums over the 200 samples, so this is 10 per sample-mean


def xor_blobs(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n points around (+-1, +-1); label 1 where the signs of the two coordinates differ."""
    centers = rng.choice([-1.0, 1.0], size=(n, 2))
    x = centers + 0.35 * rng.standard_normal((n, 2))
    y = (centers[:, 0] != centers[:, 1]).astype(float)
    return x, y


def build(n: int) -> tuple[list[gc.Node], gc.Node, gc.Node, gc.Node, gc.Node]:
    """Weights, data inputs, the network output and the squared error, as graph nodes."""
    W1, b1 = gc.matrix("W1", HIDDEN, 2), gc.vector("b1", HIDDEN)
    W2, b2 = gc.vector("W2", HIDDEN), gc.scalar("b2")
    X, Y = gc.matrix("X", n, 2), gc.vector("Y", n)
    hidden = gc.sigmoid(X @ W1.T + b1)  # (n, 8): one row of activations per sample
    out = gc.sigmoid(hidden @ W2 + b2)  # (n,)
    error = gc.sum((out - Y) ** 2)
    return [W1, b1, W2, b2], X, Y, out, error


def predictor(n: int) -> gc.Graph:
    """The network's output h(x; W) for n samples (the same construction as for training)."""
    weights, X, _, out, _ = build(n)
    return gc.optimize(gc.Graph([*weights, X], out))


def delta_rule(weights: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """The lecture's backpropagation formulas, by hand: delta_k = (o_k - y_k) o_k (1 - o_k) at
    the output, delta_h = (sum_k delta_k w_hk) o_h (1 - o_h) in the hidden layer (times 2,
    since E here has no 1/2)."""
    W1, b1, W2, b2 = weights
    o_h = 1 / (1 + np.exp(-(x @ W1.T + b1)))
    o = 1 / (1 + np.exp(-(o_h @ W2 + b2)))
    delta_out = 2 * (o - y) * o * (1 - o)
    delta_h = np.outer(delta_out, W2) * o_h * (1 - o_h)
    return [delta_h.T @ x, delta_h.sum(axis=0), o_h.T @ delta_out, delta_out.sum()]


def main() -> int:
    rng = np.random.default_rng(0)
    x_train, y_train = xor_blobs(N_TRAIN, rng)
    x_test, y_test = xor_blobs(N_TEST, rng)

    weights_in, X, Y, out, error = build(N_TRAIN)
    grads = gc.grad(error, weights_in)  # backpropagation, as a graph
    raw = gc.Graph([*weights_in, X, Y], [error, *grads])
    train = gc.optimize(raw)
    print(f"E and dE/dW: {len(raw.nodes)} nodes, {len(train.nodes)} after gc.optimize")

    weights = [
        rng.standard_normal((HIDDEN, 2)),
        np.zeros(HIDDEN),
        rng.standard_normal(HIDDEN),
        0.0,
    ]

    # 1. The AD gradient is the lecture's delta rule, to rounding.
    _, *g = gc.evaluate(train, *weights, x_train, y_train)
    manual = delta_rule(weights, x_train, y_train)
    rule_error = max(float(np.max(np.abs(a - b))) for a, b in zip(g, manual))
    print(f"gc.grad vs the lecture's delta rule: max abs difference {rule_error:.1e}")

    # 2. ... and agrees with central finite differences on every weight.
    def loss(ws: list) -> float:
        return gc.evaluate(train, *ws, x_train, y_train)[0]

    worst = 0.0
    for k, w in enumerate(weights):
        w = np.asarray(w, dtype=float)
        for index in np.ndindex(w.shape):
            h = 1e-6
            plus, minus = w.copy(), w.copy()
            plus[index] += h
            minus[index] -= h
            ws_plus = [*weights[:k], plus, *weights[k + 1 :]]
            ws_minus = [*weights[:k], minus, *weights[k + 1 :]]
            fd = (loss(ws_plus) - loss(ws_minus)) / (2 * h)
            worst = max(worst, abs(fd - np.asarray(g[k])[index]) / max(1.0, abs(fd)))
    print(f"gc.grad vs central differences: max relative difference {worst:.1e}")
    if rule_error > 1e-10 or worst > 1e-6:
        print("gradient check FAILED", file=sys.stderr)
        return 1

    # 3. Gradient descent: w <- w - eta dE/dw.
    print(f"\nTraining a 2-{HIDDEN}-1 sigmoid network, gradient descent, eta = {LEARNING_RATE}:")
    start = time.perf_counter()
    first = None
    for epoch in range(EPOCHS + 1):
        e, *g = gc.evaluate(train, *weights, x_train, y_train)
        first = e if first is None else first
        if epoch in REPORT:
            print(f"  epoch {epoch:>5}   E = {e:10.4f}   mean squared error = {e / N_TRAIN:.4f}")
        weights = [w - LEARNING_RATE * dw for w, dw in zip(weights, g)]
    seconds = time.perf_counter() - start

    p_train = gc.evaluate(predictor(N_TRAIN), *weights, x_train)
    p_test = gc.evaluate(predictor(N_TEST), *weights, x_test)
    train_acc = np.mean((p_train > 0.5) == (y_train > 0.5))
    test_acc = np.mean((p_test > 0.5) == (y_test > 0.5))
    print(
        f"\n{EPOCHS} epochs in {seconds:.2f} s ({seconds / EPOCHS * 1e3:.2f} ms per step, "
        "reference evaluator)"
    )
    print(f"E: {first:.2f} -> {e:.2f}")
    print(f"accuracy: train {train_acc:.1%}, test {test_acc:.1%} ({N_TEST} fresh points)")
    return 0 if e < 0.5 * first and test_acc > 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
