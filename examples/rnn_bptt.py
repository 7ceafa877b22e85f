"""An RNN trained by backpropagation through time, with and without checkpointing.

The network reads a random sequence ``x_t`` and must output ``x_(t-3)``: to do so its state
``h_t = tanh(W h_(t-1) + U x_t + b)`` has to remember the last inputs. The loss is the mean
squared error of ``y_t = v . h_t`` over the T steps; its gradient with respect to (W, U, b, v) is
one reverse loop over the stored states (``gc.grad`` of a ``gc.scan``), and Adam updates the
weights in numpy.

The same model is compiled three ways: storing every state (memory ``T`` states), storing one
state in ``k`` (``checkpoint=k``: ``T/k + k`` states, one more forward pass) and with a memory
budget placed by the binomial schedule (``memory=...``: the fewest recomputations for that
memory). The gradients are the same to the last bit (checkpointing recomputes the same
operations), so the three trainings follow the same curve; what changes is the time per gradient
and the workspace (``fn.stats["workspace_bytes"]``: the stored states and each loop's buffers).

    python examples/rnn_bptt.py [--steps 400] [--hidden 32] [--iterations 150]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import graphc as gc

DELAY = 3


def build(steps: int, hidden: int, checkpoint=None, memory=None):
    W, U = gc.matrix("W", (hidden, hidden)), gc.matrix("U", (hidden, 1))
    b, v = gc.vector("b", hidden), gc.vector("v", hidden)
    xs, targets = gc.matrix("xs", (steps, 1)), gc.vector("targets", steps)

    def step(h, x):
        h = gc.tanh(W @ h + U @ x + b)
        return h, gc.sum(v * h)

    _, ys = gc.scan(step, gc.zeros(hidden), xs, checkpoint=checkpoint, memory=memory)
    loss = gc.mean((ys - targets) ** 2)
    weights = [W, U, b, v]
    graph = gc.Graph([*weights, xs, targets], [loss, *gc.grad(loss, weights)])
    return gc.compile(graph)


class Adam:
    def __init__(self, weights, rate=0.01, beta1=0.9, beta2=0.999):
        self.rate, self.beta1, self.beta2, self.t = rate, beta1, beta2, 0
        self.m = [np.zeros_like(w) for w in weights]
        self.s = [np.zeros_like(w) for w in weights]

    def update(self, weights, grads):
        self.t += 1
        new = []
        for k, (w, g) in enumerate(zip(weights, grads)):
            self.m[k] = self.beta1 * self.m[k] + (1 - self.beta1) * g
            self.s[k] = self.beta2 * self.s[k] + (1 - self.beta2) * g * g
            m = self.m[k] / (1 - self.beta1**self.t)
            s = self.s[k] / (1 - self.beta2**self.t)
            new.append(w - self.rate * m / (np.sqrt(s) + 1e-8))
        return new


def data(steps: int, rng: np.random.Generator):
    xs = rng.uniform(-1, 1, (steps, 1))
    targets = np.concatenate([np.zeros(DELAY), xs[:-DELAY, 0]])
    return xs, targets


def train(fn, steps, hidden, iterations, seed=0):
    rng = np.random.default_rng(seed)
    weights = [
        rng.standard_normal((hidden, hidden)) * 0.9 / np.sqrt(hidden),
        rng.standard_normal((hidden, 1)),
        np.zeros(hidden),
        rng.standard_normal(hidden) * 0.1,
    ]
    adam = Adam(weights)
    losses, seconds = [], []
    for _ in range(iterations):
        xs, targets = data(steps, rng)
        start = time.perf_counter()
        loss, *grads = fn(*weights, xs, targets)
        seconds.append(time.perf_counter() - start)
        losses.append(loss)
        weights = adam.update(weights, grads)
    return losses, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--iterations", type=int, default=150)
    args = parser.parse_args()
    steps, hidden = args.steps, args.hidden
    k = max(2, int(round(np.sqrt(steps))))
    state_bytes = hidden * 8
    policies = [
        ("every state", {}),
        (f"checkpoint={k}", {"checkpoint": k}),
        ("binomial, 8 states", {"memory": 8 * state_bytes}),
    ]
    print(
        f"RNN: {hidden} units, sequences of {steps} steps, target x(t-{DELAY}); "
        f"{args.iterations} Adam steps"
    )
    print(
        f"{'stored states':<20} {'compile s':>9} {'gradient ms':>11} {'workspace':>11} "
        f"{'loss: first':>11} {'last':>9}"
    )
    curves = {}
    for name, options in policies:
        start = time.perf_counter()
        fn = build(steps, hidden, **options)
        compile_seconds = time.perf_counter() - start
        losses, seconds = train(fn, steps, hidden, args.iterations)
        curves[name] = losses
        print(
            f"{name:<20} {compile_seconds:>9.2f} {np.median(seconds) * 1e3:>11.2f} "
            f"{fn.stats['workspace_bytes']:>11,} {losses[0]:>11.4f} {losses[-1]:>9.4f}"
        )
    first = curves[policies[0][0]]
    same = all(np.array_equal(first, c) for c in curves.values())
    print(f"identical training curves: {same}")
    print(
        f"the loss fell from {first[0]:.4f} to {first[-1]:.4f} "
        f"({first[-1] / first[0]:.1%} of the start)"
    )
    print(
        f"(the stored states alone: {steps * state_bytes:,} bytes for every state, "
        f"{(-(-steps // k) + k) * state_bytes:,} with checkpoint={k}, {8 * state_bytes:,} for "
        "8 states; each loop also keeps its carries, which include the running sums of the "
        "weights' cotangents)"
    )


if __name__ == "__main__":
    main()
