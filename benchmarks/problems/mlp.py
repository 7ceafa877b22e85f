"""A training step of a small multilayer perceptron: loss and gradient over a batch.

784-128-10, batch 64, tanh hidden layer, softmax cross-entropy written with logsumexp:

    loss = mean_b(logsumexp(Z2[b]) - Z2[b] . Y[b]),  Z2 = tanh(X W1 + b1) W2 + b2

with the gradient with respect to W1, b1, W2, b2, in float32 and float64. graphc (one compiled
graph, weights and batch as inputs) against jax.jit(value_and_grad), PyTorch eager autograd,
numpy with backpropagation written by hand (BLAS matmuls, one thread), and the same hand-written
backpropagation in C (plain loops: no BLAS).
"""

from __future__ import annotations

from ctypes import c_double, c_float, c_int, c_void_p
from typing import Any

import numpy as np
from harness import Context, agree, c_function, fmt_ratio, fmt_time, ptr, seconds

import graphc as gc

NAME = "mlp"
TITLE = "MLP training step (784-128-10, batch 64)"
BATCH, INPUTS, HIDDEN, OUTPUTS = 64, 784, 128, 10
DTYPES = ("float32", "float64")


def data(dtype: str, seed: int = 0) -> list[np.ndarray]:
    """[W1, b1, W2, b2, X, Y] with Y one-hot."""
    rng = np.random.default_rng(seed)
    shapes = [(INPUTS, HIDDEN), (HIDDEN,), (HIDDEN, OUTPUTS), (OUTPUTS,)]
    weights = [rng.standard_normal(s) * 0.05 for s in shapes]
    X = rng.standard_normal((BATCH, INPUTS))
    Y = np.eye(OUTPUTS)[rng.integers(0, OUTPUTS, BATCH)]
    return [np.ascontiguousarray(a, dtype=dtype) for a in [*weights, X, Y]]


def graphc_step(dtype: str) -> gc.CompiledFunction:
    W1 = gc.tensor("W1", (INPUTS, HIDDEN), dtype)
    b1 = gc.tensor("b1", (HIDDEN,), dtype)
    W2 = gc.tensor("W2", (HIDDEN, OUTPUTS), dtype)
    b2 = gc.tensor("b2", (OUTPUTS,), dtype)
    X = gc.tensor("X", (BATCH, INPUTS), dtype)
    Y = gc.tensor("Y", (BATCH, OUTPUTS), dtype)
    z = gc.tanh(X @ W1 + b1) @ W2 + b2
    loss = gc.mean(gc.logsumexp(z, axis=1) - gc.sum(z * Y, axis=1))
    graph = gc.Graph([W1, b1, W2, b2, X, Y], [loss, *gc.grad(loss, [W1, b1, W2, b2])])
    return gc.compile(graph, cache=False)


def numpy_step(W1: Any, b1: Any, W2: Any, b2: Any, X: Any, Y: Any) -> tuple:
    """Forward and backward by hand: what a numpy user writes."""
    H = np.tanh(X @ W1 + b1)
    Z = H @ W2 + b2
    m = Z.max(axis=1, keepdims=True)
    E = np.exp(Z - m)
    S = E.sum(axis=1, keepdims=True)
    loss = np.mean(m[:, 0] + np.log(S[:, 0]) - (Z * Y).sum(axis=1))
    dZ = (E / S - Y) / X.shape[0]
    dH = (dZ @ W2.T) * (1 - H * H)
    return loss, X.T @ dH, dH.sum(axis=0), H.T @ dZ, dZ.sum(axis=0)


def calls(ctx: Context, dtype: str, args: list[np.ndarray]) -> tuple[dict[str, Any], dict]:
    build: dict[str, float] = {}
    fn = graphc_step(dtype)
    build["graphc"] = fn.stats["seconds"]["total"]
    found: dict[str, Any] = {"graphc": lambda: fn(*args)}
    found["numpy, hand-written backprop"] = lambda: numpy_step(*args)
    library = ctx.c_library("mlp")
    if library is not None:
        scalar = c_float if dtype == "float32" else c_double
        step = c_function(
            library,
            f"mlp_step_{dtype.replace('float', 'f')}",
            scalar,
            [c_int] * 4 + [c_void_p] * 11,
        )
        grads = [np.empty_like(a) for a in args[:4]]
        work = np.empty(2 * BATCH * HIDDEN + BATCH * OUTPUTS, dtype=dtype)
        pointers = [ptr(a) for a in args] + [ptr(g) for g in grads] + [ptr(work)]
        sizes = (BATCH, INPUTS, HIDDEN, OUTPUTS)
        found["C, hand-written backprop"] = lambda: (step(*sizes, *pointers), *grads, work)[:5]
    jax = ctx.peer("jax")
    if jax is not None:
        jnp = jax.numpy

        def loss(W1: Any, b1: Any, W2: Any, b2: Any, X: Any, Y: Any) -> Any:
            z = jnp.tanh(X @ W1 + b1) @ W2 + b2
            return jnp.mean(jax.nn.logsumexp(z, axis=1) - jnp.sum(z * Y, axis=1))

        step_jax = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3)))
        jargs = [jnp.asarray(a) for a in args]

        def jax_call() -> Any:
            value, grads = jax.block_until_ready(step_jax(*jargs))
            return (value, *grads)

        build["jax (first call)"], _ = seconds(jax_call)
        found["jax.jit(value_and_grad)"] = jax_call
    torch = ctx.peer("torch")
    if torch is not None:
        targs = [torch.from_numpy(a.copy()) for a in args]
        for t in targs[:4]:
            t.requires_grad_(True)

        def torch_call() -> Any:
            W1, b1, W2, b2, X, Y = targs
            z = torch.tanh(X @ W1 + b1) @ W2 + b2
            value = torch.mean(torch.logsumexp(z, dim=1) - torch.sum(z * Y, dim=1))
            return (value, *torch.autograd.grad(value, targs[:4]))

        found["PyTorch eager autograd"] = torch_call
    return found, build


def run(ctx: Context) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for dtype in DTYPES:
        args = data(dtype)
        found, build = calls(ctx, dtype, args)
        reference = found["graphc"]()
        # graphc against the hand-written numpy backprop in float64: an independent oracle.
        status, checked = {}, {}
        for label, call in found.items():
            ok, err = agree(call(), reference, dtype)
            status[label] = "ok" if ok else f"disagrees with graphc (error {err:.1e})"
            if ok:
                checked[label] = call
            elif label == "numpy, hand-written backprop":
                ctx.check(False, f"mlp {dtype}: graphc vs numpy backprop, error {err:.2e}")
            else:
                ctx.disagree(f"mlp {dtype}: {label}, error {err:.2e}")
        timings = ctx.time(checked)
        result[dtype] = {
            "status": status,
            "build_seconds": build,
            "seconds": {label: t.as_dict() for label, t in timings.items()},
        }
    return result


def render(result: dict[str, Any]) -> dict[str, str]:
    labels: list[str] = []
    for dtype in DTYPES:
        labels += [k for k in result[dtype]["status"] if k not in labels]
    table = "| tool | " + " | ".join(f"{d} min | median | / graphc" for d in DTYPES) + " |\n"
    table += "|---|" + "---|---|---|" * len(DTYPES) + "\n"
    for label in labels:
        cells = []
        for dtype in DTYPES:
            data_ = result[dtype]
            status = data_["status"].get(label)
            t = data_["seconds"].get(label)
            if status and status != "ok":
                cells += ["disagrees", "", ""]
            elif t is None:
                cells += ["-", "-", "-"]
            else:
                base = data_["seconds"].get("graphc", {}).get("min")
                cells += [
                    fmt_time(t["min"]),
                    fmt_time(t["median"]),
                    fmt_ratio(t["min"] / base if base else None),
                ]
        name = "**graphc**" if label == "graphc" else label
        table += f"| {name} | " + " | ".join(cells) + " |\n"
    build = ", ".join(
        f"{dtype}: "
        + ", ".join(f"{k} {fmt_time(v)}" for k, v in result[dtype]["build_seconds"].items())
        for dtype in DTYPES
    )
    return {"mlp": table + f"\nCompile / first call: {build}.\n"}
