"""Per-call overhead: the time from Python to a tiny compiled function and back.

- scalar: ``f(x, y) = x*y + 1`` (graphc's goal: at most 1 us per call);
- vector: ``y = 2x + 1`` for a 50-vector in, a new 50-vector out (goal: at most 2 us): almost
  no arithmetic, so the time is the call path;
- vector, tanh: ``y = x tanh(x) + 1``, the same call with 50 transcendental functions in it.

Against jax.jit (Python floats and device arrays), CasADi, PyTorch (eager), PyTensor, a plain
ctypes call into C (pointers cached as ints: the floor for a call from Python), and plain Python
or numpy for scale. What is timed is what a user calls and gets back (jax results are waited
for with ``block_until_ready``; CasADi returns its DM, PyTorch a tensor).
"""

from __future__ import annotations

from ctypes import c_double, c_int, c_void_p
from typing import Any

import numpy as np
from harness import Context, c_function, cross_check, fmt_ratio, fmt_time, ptr

import graphc as gc

NAME = "overhead"
TITLE = "Per-call overhead"
N = 50
GOALS = {"scalar": 1e-6, "vector": 2e-6}
CASES = ("scalar", "vector", "vector-tanh")


def scalar_calls(ctx: Context) -> dict[str, Any]:
    """Callables computing 2*3 + 1, by tool."""
    x, y = gc.scalar("x"), gc.scalar("y")
    fn = gc.compile(gc.Graph([x, y], x * y + 1), cache=False)
    calls: dict[str, Any] = {"graphc": lambda: fn(2.0, 3.0)}
    calls["Python function"] = (lambda f: lambda: f(2.0, 3.0))(lambda a, b: a * b + 1)
    library = ctx.c_library("lecture")
    if library is not None:
        mul_add = c_function(library, "mul_add", c_double, [c_double, c_double])
        calls["C via ctypes"] = lambda: mul_add(2.0, 3.0)
    jax = ctx.peer("jax")
    if jax is not None:
        jf = jax.jit(lambda a, b: a * b + 1)
        ja, jb = jax.numpy.asarray(2.0), jax.numpy.asarray(3.0)
        calls["jax.jit, float arguments"] = lambda: jf(2.0, 3.0).block_until_ready()
        calls["jax.jit, device arrays"] = lambda: jf(ja, jb).block_until_ready()
    ca = ctx.peer("casadi")
    if ca is not None:
        a, b = ca.SX.sym("a"), ca.SX.sym("b")
        cf = ca.Function("f", [a, b], [a * b + 1])
        calls["CasADi Function"] = lambda: cf(2.0, 3.0)
    torch = ctx.peer("torch")
    if torch is not None:
        ta, tb = torch.tensor(2.0, dtype=torch.float64), torch.tensor(3.0, dtype=torch.float64)
        calls["PyTorch eager, 0-d tensors"] = lambda: ta * tb + 1
    pytensor = ctx.peer("pytensor")
    if pytensor is not None:
        import pytensor.tensor as pt

        a, b = pt.dscalar("a"), pt.dscalar("b")
        pf = pytensor.function([a, b], a * b + 1)
        pa, pb = np.array(2.0), np.array(3.0)
        pft = pytensor.function([a, b], a * b + 1, trust_input=True)
        calls["PyTensor function"] = lambda: pf(2.0, 3.0)
        calls["PyTensor, trust_input=True"] = lambda: pft(pa, pb)
    return calls


def vector_calls(ctx: Context, tanh: bool) -> dict[str, Any]:
    """Callables computing 2x + 1, or x tanh(x) + 1, for the same 50-vector, by tool."""
    x_np = np.linspace(-2, 2, N)
    x = gc.vector("x", N)
    fn = gc.compile(gc.Graph([x], x * gc.tanh(x) + 1 if tanh else 2 * x + 1), cache=False)
    calls: dict[str, Any] = {"graphc": lambda: fn(x_np)}
    calls["numpy"] = (lambda: x_np * np.tanh(x_np) + 1) if tanh else (lambda: 2 * x_np + 1)
    library = ctx.c_library("lecture")
    if library is not None:
        vec = c_function(
            library, "vec_tanh" if tanh else "vec_affine", None, [c_int, c_void_p, c_void_p]
        )
        y_np = np.empty(N)
        px, py = ptr(x_np), ptr(y_np)
        calls["C via ctypes, cached pointers"] = lambda: (vec(N, px, py), y_np)[1]

        def fresh() -> np.ndarray:
            result = np.empty(N)
            vec(N, x_np.ctypes.data, result.ctypes.data)
            return result

        calls["C via ctypes, new output, x.ctypes.data"] = fresh
    jax = ctx.peer("jax")
    if jax is not None:
        jnp = jax.numpy
        jf = jax.jit((lambda v: v * jnp.tanh(v) + 1) if tanh else (lambda v: 2 * v + 1))
        jx = jnp.asarray(x_np)
        calls["jax.jit, device array"] = lambda: jf(jx).block_until_ready()
        calls["jax.jit, numpy array"] = lambda: jf(x_np).block_until_ready()
    ca = ctx.peer("casadi")
    if ca is not None:
        v = ca.SX.sym("v", N)
        cf = ca.Function("f", [v], [v * ca.tanh(v) + 1 if tanh else 2 * v + 1])
        calls["CasADi Function"] = lambda: cf(x_np)
    torch = ctx.peer("torch")
    if torch is not None:
        tx = torch.from_numpy(x_np.copy())
        calls["PyTorch eager"] = (lambda: tx * torch.tanh(tx) + 1) if tanh else (lambda: 2 * tx + 1)
    pytensor = ctx.peer("pytensor")
    if pytensor is not None:
        import pytensor.tensor as pt

        v = pt.dvector("v")
        expression = v * pt.tanh(v) + 1 if tanh else 2 * v + 1
        pf = pytensor.function([v], expression)
        pft = pytensor.function([v], expression, trust_input=True)
        calls["PyTensor function"] = lambda: pf(x_np)
        calls["PyTensor, trust_input=True"] = lambda: pft(x_np)
    return calls


def run_case(ctx: Context, name: str, calls: dict[str, Any]) -> dict[str, Any]:
    reference = calls["graphc"]()
    status, checked = cross_check(ctx, f"overhead {name}", calls, reference)
    # 15 samples: these are microsecond calls, and the load on the machine comes in bursts.
    timings = ctx.time(checked, samples=None if ctx.quick else 15)
    return {
        "status": status,
        "seconds": {label: t.as_dict() for label, t in timings.items()},
    }


def run(ctx: Context) -> dict[str, Any]:
    result = {
        "scalar": run_case(ctx, "scalar", scalar_calls(ctx)),
        "vector": run_case(ctx, "vector", vector_calls(ctx, tanh=False)),
        "vector-tanh": run_case(ctx, "vector-tanh", vector_calls(ctx, tanh=True)),
    }
    for case, goal in GOALS.items():
        seconds = result[case]["seconds"].get("graphc")
        if seconds:
            met = seconds["min"] <= goal
            ctx.log(
                f"  {case}: graphc {seconds['min'] * 1e6:.2f} us per call, goal "
                f"{goal * 1e6:.0f} us: {'met' if met else 'NOT met'}"
            )
    return result


def render(result: dict[str, Any]) -> dict[str, str]:
    blocks = {}
    for case in CASES:
        floor_label = "C via ctypes" if case == "scalar" else "C via ctypes, cached pointers"
        data = result[case]
        seconds = data["seconds"]
        floor = seconds.get(floor_label, {}).get("min")
        table = "| call path | min | median | / C via ctypes |\n|---|---|---|---|\n"
        for label, status in data["status"].items():
            if status != "ok":
                table += f"| {label} | {status} | | |\n"
                continue
            if label not in seconds:
                continue
            t = seconds[label]
            rel = t["min"] / floor if floor else None
            table += (
                f"| {'**graphc**' if label == 'graphc' else label} | {fmt_time(t['min'])} "
                f"| {fmt_time(t['median'])} | {fmt_ratio(rel)} |\n"
            )
        blocks[f"overhead-{case}"] = table
    return blocks
