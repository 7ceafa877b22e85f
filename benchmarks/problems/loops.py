"""Loops: an ODE's sensitivities and an RNN's gradient, each a loop written once.

**Lotka-Volterra**, RK4, h = 0.01, (u, v)(0) = (1, 1), loss ``(u_T - 1)^2 + (v_T - 1)^2``, value
and gradient with respect to the 4 parameters, T = 1000 and 10^5: graphc (``gc.scan``) against
JAX (``lax.scan`` under ``jit(value_and_grad)``, and with ``jax.checkpoint`` on the step),
PyTensor (``scan``, T = 1000 only: its gradient takes seconds at 10^5) and CasADi (an SX step
``mapaccum``'d over T, gradient by ``gradient``). Also: compile times, and the loop against its
steps' compiled code without the loop (64 steps written out as a graph, per step).

**RNN**, ``h = tanh(W h + U x_t)``, n = 128, d = 64, T = 1000, loss ``sum(h_T^2)``, gradient
with respect to W: graphc storing every state, one in 32 (``checkpoint=32``) and 8 states by the
binomial schedule (``memory=``), and with ``reassociate=True`` (sums in any order, as BLAS and
XLA do), against JAX's scan with and without ``jax.checkpoint``; memory is
graphc's ``fn.stats["workspace_bytes"]`` and XLA's temporary buffers
(``compiled.memory_analysis().temp_size_in_bytes``).

Every tool's values and gradients are cross-checked against graphc's before it is timed, and
graphc's gradient against central differences of a numpy integrator.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from harness import Context, cross_check, fmt_ratio, fmt_time, seconds

import graphc as gc

NAME = "loops"
TITLE = "Loops: Lotka-Volterra sensitivities (RK4) and an RNN's gradient"
H = 0.01
P0 = np.array([1.5, 1.0, 1.0, 3.0])
LENGTHS, QUICK_LENGTHS = (1000, 100_000), (1000,)
RNN = {"n": 128, "d": 64, "T": 1000}
QUICK_RNN = {"n": 16, "d": 8, "T": 100}


# -- Lotka-Volterra -------------------------------------------------------------------------------


def rhs(p, u, v):
    return p[0] * u - p[1] * u * v, p[2] * u * v - p[3] * v


def rk4(p, u, v, h=H):
    k1u, k1v = rhs(p, u, v)
    k2u, k2v = rhs(p, u + 0.5 * h * k1u, v + 0.5 * h * k1v)
    k3u, k3v = rhs(p, u + 0.5 * h * k2u, v + 0.5 * h * k2v)
    k4u, k4v = rhs(p, u + h * k3u, v + h * k3v)
    return (
        u + h / 6 * (k1u + 2 * k2u + 2 * k3u + k4u),
        v + h / 6 * (k1v + 2 * k2v + 2 * k3v + k4v),
    )


def lv_numpy(p: np.ndarray, steps: int) -> float:
    u, v = 1.0, 1.0
    for _ in range(steps):
        u, v = rk4(p, u, v)
    return (u - 1.0) ** 2 + (v - 1.0) ** 2


def lv_graphc(steps: int):
    p = gc.vector("p", 4)
    (u, v), _ = gc.scan(lambda c, _: (rk4(p, *c), None), (1.0, 1.0), length=steps)
    loss = (u - 1.0) ** 2 + (v - 1.0) ** 2
    value_seconds, value = seconds(lambda: gc.compile(gc.Graph([p], loss), cache=False))
    both_seconds, both = seconds(
        lambda: gc.compile(gc.Graph([p], [loss, gc.grad(loss, p)]), cache=False)
    )
    return value, both, {"value": value_seconds, "value and gradient": both_seconds}


CHAIN = 64


def lv_chain():
    """``CHAIN`` RK4 steps written out (a Python loop of nodes): each step's compiled code, one
    after the other, as the loop runs them, without the loop."""
    p = gc.vector("p", 4)
    u, v = gc.constant(1.0), gc.constant(1.0)
    for _ in range(CHAIN):
        u, v = rk4(p, u, v)
    return gc.compile(gc.Graph([p], [u, v]), cache=False)


def lv_jax(jax, steps: int, checkpoint: bool):
    jnp = jax.numpy

    def loss(p):
        def step(c, _):
            return rk4(p, *c), None

        body = jax.checkpoint(step) if checkpoint else step
        (u, v), _ = jax.lax.scan(body, (jnp.float64(1.0), jnp.float64(1.0)), None, length=steps)
        return (u - 1.0) ** 2 + (v - 1.0) ** 2

    value, both = jax.jit(loss), jax.jit(jax.value_and_grad(loss))
    p = jnp.asarray(P0)
    value_seconds, _ = seconds(lambda: value(p).block_until_ready())
    both_seconds, _ = seconds(lambda: jax.block_until_ready(both(p)))
    return (
        lambda: float(value(p)),
        lambda: _pair(jax.block_until_ready(both(p))),
        {"value": value_seconds, "value and gradient": both_seconds},
    )


def _pair(result):
    value, grad = result
    return float(value), np.asarray(grad)


def lv_pytensor(pytensor, steps: int):
    pt = pytensor.tensor
    p = pt.dvector("p")

    def step(u, v, p_):
        return rk4(p_, u, v)

    one = pt.constant(np.float64(1.0))
    (us, vs), _ = pytensor.scan(step, outputs_info=[one, one], non_sequences=[p], n_steps=steps)
    loss = (us[-1] - 1.0) ** 2 + (vs[-1] - 1.0) ** 2
    value_seconds, value = seconds(lambda: pytensor.function([p], loss))
    both_seconds, both = seconds(lambda: pytensor.function([p], [loss, pytensor.grad(loss, p)]))
    return (
        lambda: float(value(P0)),
        lambda: (float(both(P0)[0]), np.asarray(both(P0)[1])),
        {"value": value_seconds, "value and gradient": both_seconds},
    )


def lv_casadi(ca, steps: int):
    p, u, v = ca.SX.sym("p", 4), ca.SX.sym("u"), ca.SX.sym("v")
    state = ca.vertcat(u, v)
    step = ca.Function("step", [state, p], [ca.vertcat(*rk4([p[k] for k in range(4)], u, v))])

    def build():
        P = ca.MX.sym("P", 4)
        trajectory = step.mapaccum("loop", steps)(ca.DM([1.0, 1.0]), ca.repmat(P, 1, steps))
        final = trajectory[:, -1]
        loss = (final[0] - 1.0) ** 2 + (final[1] - 1.0) ** 2
        return (
            ca.Function("value", [P], [loss]),
            ca.Function("both", [P], [loss, ca.gradient(loss, P)]),
        )

    build_seconds, (value, both) = seconds(build)
    return (
        lambda: float(value(P0)),
        lambda: _casadi_pair(both(P0)),
        {"value": build_seconds, "value and gradient": build_seconds},
    )


def _casadi_pair(result):
    value, grad = result
    return float(value), np.asarray(grad.full()).ravel()


def run_lv(ctx: Context, steps: int) -> dict[str, Any]:
    value, both, compile_seconds = lv_graphc(steps)
    f, g = both(P0)
    eps = 1e-6
    fd = np.array(
        [
            (lv_numpy(P0 + eps * e, steps) - lv_numpy(P0 - eps * e, steps)) / (2 * eps)
            for e in np.eye(4)
        ]
    )
    error = float(np.max(np.abs(g - fd)) / np.max(np.abs(fd)))
    ctx.check(error < 1e-5, f"loops: Lotka-Volterra T={steps}, gradient vs differences {error:.1e}")
    ctx.check(abs(f - lv_numpy(P0, steps)) <= 1e-9 * abs(f), f"loops: value at T={steps}")
    values = {"graphc": lambda: value(P0)}
    grads = {"graphc": lambda: both(P0)}
    compiles = {"graphc": compile_seconds}
    jax = ctx.peer("jax")
    if jax is not None:
        for label, checkpoint in (("JAX lax.scan", False), ("JAX lax.scan + checkpoint", True)):
            v_call, g_call, c = lv_jax(jax, steps, checkpoint)
            values[label], grads[label], compiles[label] = v_call, g_call, c
    pytensor = ctx.peer("pytensor") if steps <= 1000 else None
    if pytensor is not None:
        values["PyTensor scan"], grads["PyTensor scan"], compiles["PyTensor scan"] = lv_pytensor(
            pytensor, steps
        )
    casadi = ctx.peer("casadi")
    if casadi is not None:
        v_call, g_call, c = lv_casadi(casadi, steps)
        values["CasADi mapaccum"], grads["CasADi mapaccum"], compiles["CasADi mapaccum"] = (
            v_call,
            g_call,
            c,
        )
    status_v, values = cross_check(ctx, f"loops T={steps} value", values, f)
    status_g, grads = cross_check(ctx, f"loops T={steps} gradient", grads, (f, g))
    timings_v = ctx.time(values)
    timings_g = ctx.time(grads)
    row: dict[str, Any] = {
        "T": steps,
        "gradient_error": error,
        "instructions": both.stats["instructions"],
        "workspace_bytes": both.stats["workspace_bytes"],
        "compile": compiles,
        "status": {k: [status_v.get(k, "-"), status_g.get(k, "-")] for k in compiles},
        "value": {k: t.as_dict() for k, t in timings_v.items()},
        "gradient": {k: t.as_dict() for k, t in timings_g.items()},
    }
    if ctx.timing:
        chain = lv_chain()
        timed = ctx.time({"chain": lambda: chain(P0)})
        row["chain"] = timed["chain"].as_dict()
    return row


# -- RNN ------------------------------------------------------------------------------------------


def rnn_data(n: int, d: int, steps: int):
    rng = np.random.default_rng(0)
    return [
        rng.standard_normal((n, n)) / np.sqrt(n),
        rng.standard_normal((n, d)) / np.sqrt(d),
        rng.standard_normal(n),
        rng.standard_normal((steps, d)),
    ]


def rnn_graphc(n: int, d: int, steps: int, reassociate: bool = False, **options):
    W, U = gc.matrix("W", (n, n)), gc.matrix("U", (n, d))
    h0, xs = gc.vector("h0", n), gc.matrix("xs", (steps, d))
    hT, _ = gc.scan(lambda h, x: (gc.tanh(W @ h + U @ x), None), h0, xs, **options)
    loss = gc.sum(hT * hT)
    graph = gc.Graph([W, U, h0, xs], [loss, gc.grad(loss, W)])
    return gc.compile(graph, cache=False, reassociate=reassociate)


def rnn_jax(jax, args, checkpoint: bool):
    jnp = jax.numpy

    def loss(W, U, h0, xs):
        def step(h, x):
            return jnp.tanh(W @ h + U @ x), None

        body = jax.checkpoint(step) if checkpoint else step
        hT, _ = jax.lax.scan(body, h0, xs)
        return jnp.sum(hT * hT)

    both = jax.jit(jax.value_and_grad(loss))
    arrays = [jnp.asarray(a) for a in args]
    compile_seconds, compiled = seconds(lambda: both.lower(*arrays).compile())
    memory = compiled.memory_analysis()
    temp = getattr(memory, "temp_size_in_bytes", None) if memory is not None else None
    return lambda: _pair(jax.block_until_ready(compiled(*arrays))), compile_seconds, temp


def run_rnn(ctx: Context) -> dict[str, Any]:
    shape = QUICK_RNN if ctx.quick else RNN
    n, d, steps = shape["n"], shape["d"], shape["T"]
    args = rnn_data(n, d, steps)
    policies = {
        "graphc, every state": {},
        "graphc, checkpoint=32": {"checkpoint": 32},
        "graphc, binomial 8 states": {"memory": 8 * n * 8},
        # BLAS and XLA reorder their sums; graphc adds in order unless asked (docs/guide.md).
        "graphc, every state, reassociate=True": {"reassociate": True},
    }
    calls, memory, compiles = {}, {}, {}
    reference = None
    for label, options in policies.items():
        fn = rnn_graphc(n, d, steps, **options)
        compiles[label] = fn.stats["seconds"]["total"]
        memory[label] = fn.stats["workspace_bytes"]
        calls[label] = lambda fn=fn: fn(*args)
        if reference is None:
            reference = fn(*args)
    jax = ctx.peer("jax")
    if jax is not None:
        for label, checkpoint in (("JAX lax.scan", False), ("JAX lax.scan + checkpoint", True)):
            call, compile_seconds, temp = rnn_jax(jax, args, checkpoint)
            calls[label], compiles[label], memory[label] = call, compile_seconds, temp
    status, checked = cross_check(ctx, "loops RNN gradient", calls, reference)
    timings = ctx.time(checked)
    return {
        "shape": shape,
        "compile": compiles,
        "memory": memory,
        "status": status,
        "seconds": {k: t.as_dict() for k, t in timings.items()},
    }


def run(ctx: Context) -> dict[str, Any]:
    rows = []
    for steps in QUICK_LENGTHS if ctx.quick else LENGTHS:
        ctx.log(f"  Lotka-Volterra, T = {steps}")
        rows.append(run_lv(ctx, steps))
    ctx.log("  RNN")
    return {"lotka_volterra": rows, "rnn": run_rnn(ctx)}


# -- report ---------------------------------------------------------------------------------------


def render(result: dict[str, Any]) -> dict[str, str]:
    lv = (
        "| T | tool | compile (value and gradient) | value | value and gradient | "
        "gradient / value |\n|---|---|---|---|---|---|\n"
    )
    loop = (
        f"| T | the loop, per step | {CHAIN} steps written out, per step | loop / written out |\n"
        "|---|---|---|---|\n"
    )
    for row in result["lotka_volterra"]:
        for tool, compile_seconds in row["compile"].items():
            value = row["value"].get(tool, {}).get("min")
            grad = row["gradient"].get(tool, {}).get("min")
            ratio = grad / value if value and grad else None
            status = row["status"].get(tool, ["-", "-"])
            note = "" if status == ["ok", "ok"] else f" ({'; '.join(set(status))})"
            lv += (
                f"| {row['T']:,} | {tool}{note} | {fmt_time(compile_seconds['value and gradient'])}"
                f" | {fmt_time(value)} | {fmt_time(grad)} | {fmt_ratio(ratio)} |\n"
            )
        chain = row.get("chain")
        value = row["value"].get("graphc", {}).get("min")
        if chain and value:
            per_step, written = value / row["T"], chain["min"] / CHAIN
            loop += (
                f"| {row['T']:,} | {fmt_time(per_step)} | {fmt_time(written)} | "
                f"{fmt_ratio(per_step / written)} |\n"
            )
    rnn = result["rnn"]
    shape = rnn["shape"]
    table = (
        f"n = {shape['n']}, d = {shape['d']}, T = {shape['T']}, gradient with respect to W\n\n"
        "| tool | compile | value and gradient | memory (workspace / XLA temporaries) |\n"
        "|---|---|---|---|\n"
    )
    for tool, compile_seconds in rnn["compile"].items():
        timing = rnn["seconds"].get(tool, {}).get("min")
        memory = rnn["memory"].get(tool)
        status = rnn["status"].get(tool, "-")
        note = "" if status == "ok" else f" ({status})"
        table += (
            f"| {tool}{note} | {fmt_time(compile_seconds)} | {fmt_time(timing)} | "
            f"{'-' if memory is None else f'{memory:,} B'} |\n"
        )
    return {"loops-lotka-volterra": lv, "loops-body": loop, "loops-rnn": table}
