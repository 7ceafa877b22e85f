"""Higher-order derivatives of the survey's Helmholtz energy: cost of jvp and hvp.

Issue 4 asks what forward mode and Hessian-vector products cost: after ``gc.optimize``, the node
count of ``jvp(f, x, t)`` against f (goal at most 3x) and of ``hvp(f, x, v)`` (Pearlmutter's
forward over reverse, goal at most 5x), and the time of compiled ``hvp`` against compiled f at
n = 50 and 1000. The hvp is cross-checked against central differences of the compiled gradient
along ``v`` before anything is timed (and against ``hessian @ v`` where the Hessian is small).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from harness import Context, fmt_ratio, fmt_time

import graphc as gc
from problems.helmholtz import graphc_f, problem

NAME = "higher_order"
TITLE = "Higher-order derivatives: jvp and hvp of the Helmholtz energy"
SIZES, QUICK_SIZES = (50, 1000), (20,)


def run_size(ctx: Context, n: int) -> dict[str, Any]:
    p = problem(n)
    x, v = gc.vector("x", n), gc.vector("v", n)
    f = graphc_f(p, x)
    graphs = {
        "f": gc.Graph([x], f),
        "f and gradient": gc.Graph([x], [f, gc.grad(f, x)]),
        "jvp": gc.Graph([x, v], [gc.jvp(f, x, v)]),
        "hvp": gc.Graph([x, v], [gc.hvp(f, x, v)]),
    }
    nodes = {label: len(gc.optimize(graph).nodes) for label, graph in graphs.items()}
    compiled = {label: gc.compile(graph, cache=False) for label, graph in graphs.items()}
    rng = np.random.default_rng(3)
    direction = rng.standard_normal(n) * p.x0  # small steps keep x inside f's domain
    hv = compiled["hvp"](p.x0, direction)[0]
    h = 1e-4
    gradient = compiled["f and gradient"]
    fd = (gradient(p.x0 + h * direction)[1] - gradient(p.x0 - h * direction)[1]) / (2 * h)
    error = float(np.max(np.abs(hv - fd)) / np.max(np.abs(fd)))
    ctx.check(error < 1e-5, f"higher_order n={n}: hvp vs differences of the gradient, {error:.1e}")
    if n <= 50:
        hessian = gc.compile(gc.Graph([x], [gc.hessian(f, x)]), cache=False)(p.x0)[0]
        exact = float(np.max(np.abs(hv - hessian @ direction)) / np.max(np.abs(hv)))
        ctx.check(exact < 1e-10, f"higher_order n={n}: hvp vs hessian @ v, {exact:.1e}")
    calls = {
        "f": lambda: compiled["f"](p.x0),
        "f and gradient": lambda: compiled["f and gradient"](p.x0),
        "jvp": lambda: compiled["jvp"](p.x0, direction),
        "hvp": lambda: compiled["hvp"](p.x0, direction),
    }
    timings = ctx.time(calls)
    return {
        "n": n,
        "nodes": nodes,
        "hvp_error": error,
        "compile_seconds": {k: fn.stats["seconds"]["total"] for k, fn in compiled.items()},
        "seconds": {label: t.as_dict() for label, t in timings.items()},
    }


def run(ctx: Context) -> dict[str, Any]:
    rows = []
    for n in QUICK_SIZES if ctx.quick else SIZES:
        ctx.log(f"  n = {n}")
        rows.append(run_size(ctx, n))
    return {"rows": rows}


def render(result: dict[str, Any]) -> dict[str, str]:
    nodes = (
        "| n | f | f and gradient | jvp | hvp | jvp / f | hvp / f |\n"
        "|---|---|---|---|---|---|---|\n"
    )
    times = (
        "| n | f | f and gradient | jvp | hvp | gradient / f | jvp / f | hvp / f |\n"
        "|---|---|---|---|---|---|---|---|\n"
    )
    for row in result["rows"]:
        count = row["nodes"]
        jvp_ratio, hvp_ratio = count["jvp"] / count["f"], count["hvp"] / count["f"]
        nodes += (
            f"| {row['n']} | {count['f']} | {count['f and gradient']} | {count['jvp']} | "
            f"{count['hvp']} | {jvp_ratio:.2f} | {hvp_ratio:.2f} |\n"
        )
        seconds = row["seconds"]
        if not seconds:
            continue
        base = seconds["f"]["min"]
        times += (
            f"| {row['n']} | "
            + " | ".join(fmt_time(seconds[k]["min"]) for k in ("f", "f and gradient", "jvp", "hvp"))
            + " | "
            + " | ".join(
                fmt_ratio(seconds[k]["min"] / base) for k in ("f and gradient", "jvp", "hvp")
            )
            + " |\n"
        )
    return {"higher-order-nodes": nodes, "higher-order-times": times}
