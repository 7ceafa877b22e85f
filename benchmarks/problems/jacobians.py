"""Jacobians and Hessians at scale (issue 11): batched tangents, sparsity, vmap.

- Rosenbrock's Hessian at n = 1000: ``gc.hessian`` (one batched forward-over-reverse sweep,
  dense) and ``gc.sparse_hessian`` (star colouring, one sweep of ``colors`` seeds): CPU time to
  build and compile, colours, call time; JAX's ``jit(hessian)`` and CasADi's ``hessian`` (its
  own colouring) side by side.
- Helmholtz's forward Jacobian of the gradient at n = 300: CPU time to build and compile
  (``gc.jacobian(mode="fwd")``; it built 300 jvp sweeps before batching) and a call; JAX's
  ``jit(jacfwd(grad))``.
- A banded system of 10^5 equations (``y_i = x_i^2 - x_{i-1} x_{i+1}``): ``gc.sparse_jacobian``
  built, compiled and called from a numpy array; CasADi's SX ``jacobian`` called from numpy;
  JAX with the three colour seeds written by hand (its ``jacfwd`` would be dense: 80 GB).
- Per-example gradients of a logistic loss, 10^4 rows, d = 100: ``gc.vmap(grad)`` against
  JAX's ``jit(vmap(grad))`` in the same run and against copying the same bytes (reading X,
  writing an array of its size: the memory-bound floor).

Compile and build times are CPU seconds (``time.process_time``: the machine is shared, and wall
time measures the other tenants), minimum and median of a few repetitions without the disk
cache; call times are the harness's interleaved minimum and median. Every tool's values are
checked against graphc's (and graphc's against closed forms) before anything is timed.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from harness import Context, agree, fmt_time

import graphc as gc
from problems.helmholtz import expression, graphc_f, problem

NAME = "jacobians"
TITLE = "Jacobians and Hessians at scale: batched sweeps, sparsity, vmap"
FULL = {"rosenbrock": 1000, "helmholtz": 300, "banded": 100_000, "rows": 10_000, "d": 100}
QUICK = {"rosenbrock": 100, "helmholtz": 30, "banded": 2000, "rows": 200, "d": 10}
REPEATS, QUICK_REPEATS = 3, 1


def cpu_seconds(build: Callable[[], Any], repeats: int) -> tuple[dict[str, float], Any]:
    """CPU seconds of ``build()`` (min and median over ``repeats``) and its last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.process_time()
        result = build()
        times.append(time.process_time() - start)
    return {"min": min(times), "median": statistics.median(times)}, result


def rosenbrock(x):
    return gc.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def rosenbrock_hessian(x0: np.ndarray) -> np.ndarray:
    n = x0.size
    H = np.zeros((n, n))
    i = np.arange(n - 1)
    H[i, i] += 1200 * x0[:-1] ** 2 - 400 * x0[1:] + 2
    H[i + 1, i + 1] += 200
    H[i, i + 1] = H[i + 1, i] = -400 * x0[:-1]
    return H


def run_rosenbrock(ctx: Context, n: int, repeats: int) -> dict[str, Any]:
    x0 = np.random.default_rng(0).uniform(-1, 1, n)
    want = rosenbrock_hessian(x0)

    def dense():
        x = gc.vector("x", n)
        return gc.compile(gc.Graph([x], gc.hessian(rosenbrock(x), x)), cache=False)

    def sparse_build():
        x = gc.vector("x", n)
        return x, gc.sparse_hessian(rosenbrock(x), x)

    def sparse():
        x, sh = sparse_build()
        return sh, gc.compile(gc.Graph([x], sh.values), cache=False)

    dense_cpu, dense_fn = cpu_seconds(dense, repeats)
    build_cpu, _ = cpu_seconds(sparse_build, repeats)
    sparse_cpu, (sh, sparse_fn) = cpu_seconds(sparse, repeats)
    ctx.check(agree(dense_fn(x0), want)[0], f"rosenbrock n={n}: dense Hessian vs closed form")
    values = sparse_fn(x0)
    H = sh.to_dense(values)
    ctx.check(agree(H, want)[0], f"rosenbrock n={n}: sparse Hessian vs closed form")
    ctx.check(bool(np.array_equal(H, H.T)), f"rosenbrock n={n}: sparse Hessian not symmetric")
    calls = {"graphc dense": lambda: dense_fn(x0), "graphc sparse": lambda: sparse_fn(x0)}
    peers: dict[str, Any] = {}
    jax = ctx.peer("jax")
    if jax is not None:
        jnp = jax.numpy

        def jax_f(v):
            return jnp.sum(100 * (v[1:] - v[:-1] ** 2) ** 2 + (1 - v[:-1]) ** 2)

        compile_cpu, jax_fn = cpu_seconds(
            lambda: jax.jit(jax.hessian(jax_f)).lower(x0).compile(), repeats
        )
        if agree(np.asarray(jax_fn(x0)), want)[0]:
            peers["jax hessian (dense)"] = {"compile_cpu": compile_cpu}
            calls["jax hessian (dense)"] = lambda: jax_fn(x0).block_until_ready()
        else:
            ctx.disagree(f"rosenbrock n={n}: jax.hessian")
    ca = ctx.peer("casadi")
    if ca is not None:

        def casadi_build():
            v = ca.SX.sym("x", n)
            f = ca.sum1(100 * (v[1:] - v[:-1] ** 2) ** 2 + (1 - v[:-1]) ** 2)
            H = ca.hessian(f, v)[0]
            return ca.Function("H", [v], [H]), H.sparsity()

        build, (casadi_fn, pattern) = cpu_seconds(casadi_build, repeats)
        got = np.asarray(casadi_fn(x0).full())
        if agree(got, want)[0]:
            entry: dict[str, Any] = {"build_cpu": build, "nnz": int(pattern.nnz())}
            try:
                entry["colors"] = int(pattern.star_coloring().size2())
            except Exception:  # older CasADi: no star_coloring on Sparsity
                entry["colors"] = None
            peers["casadi hessian (sparse)"] = entry
            calls["casadi hessian (sparse)"] = lambda: casadi_fn(x0)
        else:
            ctx.disagree(f"rosenbrock n={n}: casadi hessian")
    timings = ctx.time(calls)
    return {
        "n": n,
        "nnz": sh.nnz,
        "colors": sh.colors,
        "dense_compile_cpu": dense_cpu,
        "sparse_build_cpu": build_cpu,
        "sparse_compile_cpu": sparse_cpu,
        "peers": peers,
        "seconds": {label: t.as_dict() for label, t in timings.items()},
    }


def run_helmholtz(ctx: Context, n: int, repeats: int) -> dict[str, Any]:
    p = problem(n)

    def build():
        x = gc.vector("x", n)
        g = gc.grad(graphc_f(p, x), x)
        return gc.compile(gc.Graph([x], gc.jacobian(g, x, mode="fwd")), cache=False)

    compile_cpu, fn = cpu_seconds(build, repeats)
    x = gc.vector("x", n)
    hessian = gc.compile(gc.Graph([x], gc.hessian(graphc_f(p, x), x)), cache=False)
    jac = fn(p.x0)
    ctx.check(agree(jac, hessian(p.x0))[0], f"helmholtz n={n}: jacobian of grad vs hessian")
    ctx.check(agree(jac, jac.T)[0], f"helmholtz n={n}: jacobian of the gradient not symmetric")
    calls = {"graphc jacobian(grad, fwd)": lambda: fn(p.x0)}
    peers: dict[str, Any] = {}
    jax = ctx.peer("jax")
    if jax is not None:
        jnp = jax.numpy
        b, A = jnp.asarray(p.b), jnp.asarray(p.A)

        def jax_f(v):  # the same energy, through the shared expression
            return expression(v, b, A, jnp.log, jnp.sum, jnp.dot)

        compile_jax, jax_fn = cpu_seconds(
            lambda: jax.jit(jax.jacfwd(jax.grad(jax_f))).lower(p.x0).compile(), repeats
        )
        if agree(np.asarray(jax_fn(p.x0)), jac)[0]:
            peers["jax jacfwd(grad)"] = {"compile_cpu": compile_jax}
            calls["jax jacfwd(grad)"] = lambda: jax_fn(p.x0).block_until_ready()
        else:
            ctx.disagree(f"helmholtz n={n}: jax jacfwd(grad)")
    timings = ctx.time(calls)
    return {
        "n": n,
        "compile_cpu": compile_cpu,
        "peers": peers,
        "seconds": {label: t.as_dict() for label, t in timings.items()},
    }


def banded_values(x0: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The Jacobian of y_i = x_i^2 - x_{i-1} x_{i+1} (x_{-1} = x_n = 0) at the pattern."""
    n = x0.size
    padded = np.r_[0.0, x0, 0.0]  # padded[k + 1] = x_k
    return np.where(
        cols == rows,
        2 * x0[rows],
        np.where(cols == rows - 1, -padded[np.minimum(rows + 2, n + 1)], -padded[rows]),
    )


def run_banded(ctx: Context, n: int, repeats: int) -> dict[str, Any]:
    x0 = np.random.default_rng(2).uniform(0.5, 1.5, n)

    def equations(x):
        return x**2 - gc.concatenate([x[:1] * 0.0, x[:-2] * x[2:], x[-1:] * 0.0])

    def build():
        x = gc.vector("x", n)
        return x, gc.sparse_jacobian(equations(x), x)

    build_cpu, (x, sj) = cpu_seconds(build, repeats)
    compile_cpu, fn = cpu_seconds(
        lambda: gc.compile(gc.Graph([x], sj.values), cache=False), repeats
    )
    values = fn(x0)
    ctx.check(
        agree(values, banded_values(x0, sj.rows, sj.cols))[0],
        f"banded n={n}: sparse Jacobian vs closed form",
    )
    calls = {"graphc sparse_jacobian": lambda: fn(x0), "numpy copy of x": lambda: x0.copy()}
    peers: dict[str, Any] = {}
    ca = ctx.peer("casadi")
    if ca is not None:

        def casadi_build():
            v = ca.SX.sym("x", n)
            y = v**2 - ca.vertcat(0, v[:-2] * v[2:], 0)
            J = ca.jacobian(y, v)
            return ca.Function("J", [v], [J]), J.sparsity()

        build, (casadi_fn, pattern) = cpu_seconds(casadi_build, 1)
        J = casadi_fn(x0)
        rows, cols = pattern.get_triplet()
        got = np.asarray(J.nonzeros())
        want = banded_values(x0, np.asarray(rows), np.asarray(cols))
        if agree(got, want)[0]:
            entry: dict[str, Any] = {"build_cpu": build}
            try:
                entry["colors"] = int(pattern.uni_coloring().size2())
            except Exception:
                entry["colors"] = None
            peers["casadi SX jacobian"] = entry
            calls["casadi SX jacobian (from numpy)"] = lambda: casadi_fn(x0)
        else:
            ctx.disagree(f"banded n={n}: casadi jacobian")
    jax = ctx.peer("jax")
    if jax is not None:
        jnp = jax.numpy

        def jax_y(v):
            return v**2 - jnp.concatenate([v[:1] * 0.0, v[:-2] * v[2:], v[-1:] * 0.0])

        seeds = np.zeros((3, n))
        seeds[np.arange(n) % 3, np.arange(n)] = 1.0  # the colouring of a tridiagonal pattern

        def compressed(v):
            return jax.vmap(lambda s: jax.jvp(jax_y, (v,), (s,))[1])(seeds)

        compile_jax, jax_fn = cpu_seconds(lambda: jax.jit(compressed).lower(x0).compile(), 1)
        B = np.asarray(jax_fn(x0))
        dense_rows = sj.rows
        if agree(B[sj.cols % 3, dense_rows], values)[0]:
            peers["jax, 3 seeds by hand"] = {"compile_cpu": compile_jax}
            calls["jax, 3 seeds by hand (compressed only)"] = lambda: jax_fn(x0).block_until_ready()
        else:
            ctx.disagree(f"banded n={n}: jax with 3 seeds")
    timings = ctx.time(calls)
    return {
        "n": n,
        "nnz": sj.nnz,
        "colors": sj.colors,
        "build_cpu": build_cpu,
        "compile_cpu": compile_cpu,
        "peers": peers,
        "seconds": {label: t.as_dict() for label, t in timings.items()},
    }


def run_per_example(ctx: Context, rows: int, d: int, repeats: int) -> dict[str, Any]:
    rng = np.random.default_rng(4)
    X0 = rng.standard_normal((rows, d))
    labels0 = rng.choice([-1.0, 1.0], rows)
    w0 = rng.standard_normal(d) * 0.1

    def build():
        X, labels, w = gc.matrix("X", rows, d), gc.vector("labels", rows), gc.vector("w", d)

        def gradient(row, label):
            return gc.grad(gc.softplus(-label * (row @ w)), w)

        grads = gc.vmap(gradient)(X, labels)
        return gc.compile(gc.Graph([X, labels, w], grads), cache=False)

    compile_cpu, fn = cpu_seconds(build, repeats)
    margin = labels0 * (X0 @ w0)
    want = (-labels0 / (1 + np.exp(margin)))[:, None] * X0
    ctx.check(agree(fn(X0, labels0, w0), want)[0], "per-example gradients vs numpy")
    calls = {
        "graphc vmap(grad)": lambda: fn(X0, labels0, w0),
        "numpy: copy X (same bytes)": lambda: X0.copy(),
        "numpy formula": lambda: (-labels0 / (1 + np.exp(labels0 * (X0 @ w0))))[:, None] * X0,
    }
    peers: dict[str, Any] = {}
    jax = ctx.peer("jax")
    if jax is not None:
        jnp = jax.numpy

        def loss(w, row, label):
            return jnp.logaddexp(0.0, -label * (row @ w))

        per_example = jax.jit(jax.vmap(jax.grad(loss), in_axes=(None, 0, 0)))
        compile_jax, jax_fn = cpu_seconds(
            lambda: per_example.lower(w0, X0, labels0).compile(), repeats
        )
        if agree(np.asarray(jax_fn(w0, X0, labels0)), want)[0]:
            peers["jax jit(vmap(grad))"] = {"compile_cpu": compile_jax}
            calls["jax jit(vmap(grad))"] = lambda: jax_fn(w0, X0, labels0).block_until_ready()
        else:
            ctx.disagree("per-example gradients: jax")
    timings = ctx.time(calls)
    return {
        "rows": rows,
        "d": d,
        "compile_cpu": compile_cpu,
        "peers": peers,
        "seconds": {label: t.as_dict() for label, t in timings.items()},
    }


def run(ctx: Context) -> dict[str, Any]:
    sizes = QUICK if ctx.quick else FULL
    repeats = QUICK_REPEATS if ctx.quick else REPEATS
    ctx.log(f"  Rosenbrock's Hessian, n = {sizes['rosenbrock']}")
    rosen = run_rosenbrock(ctx, sizes["rosenbrock"], repeats)
    ctx.log(f"  Helmholtz, forward Jacobian of the gradient, n = {sizes['helmholtz']}")
    helm = run_helmholtz(ctx, sizes["helmholtz"], repeats)
    ctx.log(f"  banded system, n = {sizes['banded']}")
    banded = run_banded(ctx, sizes["banded"], repeats)
    ctx.log(f"  per-example gradients, {sizes['rows']} rows, d = {sizes['d']}")
    per_example = run_per_example(ctx, sizes["rows"], sizes["d"], repeats)
    return {"rosenbrock": rosen, "helmholtz": helm, "banded": banded, "per_example": per_example}


def _cpu(entry: dict[str, float] | None) -> str:
    if not entry:
        return "-"
    return f"{entry['min']:.2f} s (median {entry['median']:.2f})"


def _call(seconds: dict[str, Any], label: str) -> str:
    t = seconds.get(label)
    return "-" if t is None else f"{fmt_time(t['min'])} (median {fmt_time(t['median'])})"


def render(result: dict[str, Any]) -> dict[str, str]:
    r, h, b, p = (result[k] for k in ("rosenbrock", "helmholtz", "banded", "per_example"))
    lines = [
        "| problem | tool | colours | build / compile (CPU) | call (min, median) |",
        "|---|---|---|---|---|",
        f"| Rosenbrock Hessian, n = {r['n']} | graphc hessian (dense) | - | "
        f"{_cpu(r['dense_compile_cpu'])} | {_call(r['seconds'], 'graphc dense')} |",
        f"| | graphc sparse_hessian ({r['nnz']} nonzeros) | {r['colors']} | "
        f"build {_cpu(r['sparse_build_cpu'])}; with compile {_cpu(r['sparse_compile_cpu'])} | "
        f"{_call(r['seconds'], 'graphc sparse')} |",
    ]
    for label, entry in r["peers"].items():
        cost = _cpu(entry.get("compile_cpu") or entry.get("build_cpu"))
        colors = entry.get("colors", "-")
        lines.append(f"| | {label} | {colors} | {cost} | {_call(r['seconds'], label)} |")
    lines.append(
        f"| Helmholtz Jacobian of the gradient, n = {h['n']} | graphc jacobian(mode='fwd') | - |"
        f" {_cpu(h['compile_cpu'])} | {_call(h['seconds'], 'graphc jacobian(grad, fwd)')} |"
    )
    for label, entry in h["peers"].items():
        lines.append(
            f"| | {label} | - | {_cpu(entry['compile_cpu'])} | {_call(h['seconds'], label)} |"
        )
    lines.append(
        f"| banded system, n = {b['n']} | graphc sparse_jacobian ({b['nnz']} nonzeros) | "
        f"{b['colors']} | build {_cpu(b['build_cpu'])}, compile {_cpu(b['compile_cpu'])} | "
        f"{_call(b['seconds'], 'graphc sparse_jacobian')} |"
    )
    for label, entry in b["peers"].items():
        key = next((k for k in b["seconds"] if k.startswith(label)), label)
        cost = _cpu(entry.get("compile_cpu") or entry.get("build_cpu"))
        colors = entry.get("colors", "-") if "colors" in entry else 3
        lines.append(f"| | {key} | {colors} | {cost} | {_call(b['seconds'], key)} |")
    lines.append(
        f"| | numpy copy of x (the input's bytes) | - | - | "
        f"{_call(b['seconds'], 'numpy copy of x')} |"
    )
    lines.append(
        f"| per-example gradients, {p['rows']} x {p['d']} | graphc vmap(grad) | - | "
        f"{_cpu(p['compile_cpu'])} | {_call(p['seconds'], 'graphc vmap(grad)')} |"
    )
    for label in ("jax jit(vmap(grad))", "numpy: copy X (same bytes)", "numpy formula"):
        entry = p["peers"].get(label, {})
        cost = _cpu(entry.get("compile_cpu")) if entry else "-"
        lines.append(f"| | {label} | - | {cost} | {_call(p['seconds'], label)} |")
    return {"jacobians": "\n".join(lines) + "\n"}
