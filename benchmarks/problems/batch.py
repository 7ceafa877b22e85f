"""Batch throughput: a small scalar model and its gradient over a million points.

The lecture's ``f(x1, x2) = (x1 + x2) ln(x1 + x2)`` with ``df/dx1`` and ``df/dx2``, compiled once
as a scalar graph and evaluated with ``fn.batch(X1, X2)`` (one native loop over the rows; and
``threads=2``, which splits the rows over two threads). Against numpy vectorized code written by
hand (``g = log(s) + 1`` computed once and returned twice: less work than graphc's three
outputs), jax.jit of a vmapped ``value_and_grad``, PyTorch's autograd over the whole batch, and a
C loop. Reported in nanoseconds per point.
"""

from __future__ import annotations

from ctypes import c_long, c_void_p
from typing import Any

import numpy as np
from harness import Context, c_function, cross_check, fmt_ratio, ptr

import graphc as gc

NAME = "batch"
TITLE = "Batch throughput: (x1 + x2) ln(x1 + x2) and its gradient"
POINTS, QUICK_POINTS = 1_000_000, 100_000


def graphc_model(vector_math: bool = False) -> gc.CompiledFunction:
    x1, x2 = gc.scalar("x1"), gc.scalar("x2")
    f = (x1 + x2) * gc.log(x1 + x2)
    graph = gc.Graph([x1, x2], [f, *gc.grad(f, [x1, x2])])
    return gc.compile(graph, cache=False, vector_math=vector_math)


def calls(ctx: Context, X1: np.ndarray, X2: np.ndarray) -> dict[str, Any]:
    fn, fast = graphc_model(), graphc_model(vector_math=True)
    found: dict[str, Any] = {
        "graphc batch": lambda: fn.batch(X1, X2),
        "graphc batch, threads=2": lambda: fn.batch(X1, X2, threads=2),
        "graphc batch, vector_math=True": lambda: fast.batch(X1, X2),
    }

    def numpy_model() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = X1 + X2
        log = np.log(s)
        g = log + 1
        return s * log, g, g

    found["numpy vectorized"] = numpy_model
    library = ctx.c_library("lecture")
    if library is not None:
        loop = c_function(library, "lecture_batch", None, [c_long] + [c_void_p] * 5)
        outs = [np.empty_like(X1) for _ in range(3)]
        pointers = [ptr(X1), ptr(X2), *map(ptr, outs)]
        n = len(X1)
        found["C loop"] = lambda: (loop(n, *pointers), outs)[1]
    jax = ctx.peer("jax")
    if jax is not None:
        jnp = jax.numpy

        def model(a: Any, b: Any) -> Any:
            return (a + b) * jnp.log(a + b)

        batched = jax.jit(jax.vmap(jax.value_and_grad(model, argnums=(0, 1))))
        J1, J2 = jnp.asarray(X1), jnp.asarray(X2)

        def jax_model() -> Any:
            value, (g1, g2) = batched(J1, J2)
            return jax.block_until_ready((value, g1, g2))

        found["jax.jit(vmap(value_and_grad))"] = jax_model
    torch = ctx.peer("torch")
    if torch is not None:
        T1 = torch.from_numpy(X1.copy()).requires_grad_(True)
        T2 = torch.from_numpy(X2.copy()).requires_grad_(True)

        def torch_model() -> Any:
            s = T1 + T2
            y = s * torch.log(s)
            g1, g2 = torch.autograd.grad(y.sum(), [T1, T2])
            return y.detach(), g1, g2

        found["PyTorch autograd"] = torch_model
    return found


def run(ctx: Context) -> dict[str, Any]:
    points = QUICK_POINTS if ctx.quick else POINTS
    rng = np.random.default_rng(0)
    X1, X2 = rng.uniform(0.1, 10, points), rng.uniform(0.1, 10, points)
    found = calls(ctx, X1, X2)
    reference = found["graphc batch"]()
    # The lecture's point, as a sanity check of graphc itself: f(2, 5) = 7 ln 7.
    fn = graphc_model()
    value = fn(2.0, 5.0)
    ctx.check(
        abs(value[0] - 7 * np.log(7)) < 1e-12 and abs(value[1] - (np.log(7) + 1)) < 1e-12,
        f"batch: f(2, 5) = {value}, expected 7 ln 7 and ln 7 + 1",
    )
    status, checked = cross_check(ctx, "batch", found, reference)
    timings = ctx.time(checked)
    return {
        "points": points,
        "status": status,
        "seconds": {label: t.as_dict() for label, t in timings.items()},
    }


def render(result: dict[str, Any]) -> dict[str, str]:
    points = result["points"]
    seconds = result["seconds"]
    numpy_time = seconds.get("numpy vectorized", {}).get("min")
    table = (
        f"| {points:,} points | ns per point (min) | median | speed-up over numpy |\n"
        "|---|---|---|---|\n"
    )
    for label, status in result["status"].items():
        if status != "ok":
            table += f"| {label} | {status} | | |\n"
            continue
        if label not in seconds:
            continue
        t = seconds[label]
        speed = numpy_time / t["min"] if numpy_time else None
        name = f"**{label}**" if label.startswith("graphc") else label
        table += (
            f"| {name} | {t['min'] / points * 1e9:.2f} | {t['median'] / points * 1e9:.2f} "
            f"| {fmt_ratio(speed)} |\n"
        )
    return {"batch": table}
