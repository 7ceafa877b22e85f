"""Expression swell: the logistic map l(1) = x, l(k+1) = 4 l(k) (1 - l(k)) and dl(n)/dx.

Sizes, for n = 4..20:
- SymPy: ``diff`` of the expression, its size as a tree (``count_ops``), with and without
  ``cse``, and the time each takes; run in a child process with a time limit (past it we give
  up and say so, and do not try larger n);
- JAX: equations in the jaxpr of ``jax.grad``;
- CasADi: instructions of the SX gradient function;
- graphc: nodes of the optimized graph of ``[l(n), dl(n)/dx]`` (and of ``l(n)`` alone).
Then the time to evaluate each derivative at one point: graphc compiled, C (the hand-derived
recurrence), jax.jit, CasADi, SymPy's ``lambdify`` with and without ``cse`` (where the tree is
small enough to turn into Python source).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from ctypes import POINTER, c_double, c_int
from typing import Any

from harness import Context, agree, c_function, fmt_time, run_worker

import graphc as gc

NAME = "swell"
TITLE = "Expression swell: the logistic map"
SIZES, QUICK_SIZES = tuple(range(4, 21)), (4, 6, 8)
SYMPY_LIMIT, QUICK_SYMPY_LIMIT = 120.0, 20.0  # seconds per n, for all SymPy stages together
LAMBDIFY_MAX_OPS = 200_000  # bigger trees make Python source that takes minutes to compile
POINT = 0.3
# The map is chaotic: rounding differences grow about 2x per step, so the agreement tolerance
# for dl/dx between tools is relative 1e-13 * 2^n (about 1e-7 at n = 20).


def logistic(x: Any, n: int) -> Any:
    """l(n) for anything with * and -: graphc nodes, SymPy symbols, jax tracers, CasADi SX."""
    value = x
    for _ in range(n - 1):
        value = 4 * value * (1 - value)
    return value


def tolerance(n: int) -> float:
    return 1e-13 * 2.0**n


def sympy_measure(n: int, emit: Callable[[dict[str, Any]], None]) -> None:
    """Run in a child process (worker.py): emits each stage's numbers as soon as it is done."""
    import timeit

    import sympy

    x = sympy.Symbol("x")
    expr = logistic(x, n)
    start = time.perf_counter()
    derivative = sympy.diff(expr, x)
    emit({"diff_seconds": time.perf_counter() - start})
    start = time.perf_counter()
    ops = int(sympy.count_ops(derivative))
    emit({"tree_ops": ops, "count_seconds": time.perf_counter() - start})
    if ops <= LAMBDIFY_MAX_OPS:
        f = sympy.lambdify(x, derivative, "math")
        number = 20
        best = min(timeit.repeat(lambda: f(POINT), number=number, repeat=5)) / number
        emit({"value": float(f(POINT)), "eval_seconds": best})
    start = time.perf_counter()
    replacements, reduced = sympy.cse(derivative)
    cse_ops = sum(int(sympy.count_ops(e)) for _, e in replacements)
    cse_ops += int(sympy.count_ops(reduced[0]))
    emit({"cse_ops": cse_ops, "cse_seconds": time.perf_counter() - start})
    if cse_ops <= LAMBDIFY_MAX_OPS:
        # lambdify runs cse again on the tree: the source it prints is the small, shared form.
        fc = sympy.lambdify(x, derivative, "math", cse=True)
        number = 200
        best = min(timeit.repeat(lambda: fc(POINT), number=number, repeat=5)) / number
        emit({"cse_value": float(fc(POINT)), "cse_eval_seconds": best})


def graphc_measure(n: int) -> tuple[dict[str, Any], Any]:
    x = gc.scalar("x")
    l = logistic(x, n)
    f_only = gc.optimize(gc.Graph([x], l))
    both = gc.Graph([x], [l, gc.grad(l, x)])
    start = time.perf_counter()
    optimized = gc.optimize(both)
    seconds = time.perf_counter() - start
    fn = gc.compile(both, cache=False)
    sizes = {
        "f_nodes": len(f_only.nodes),
        "both_nodes_raw": len(both.nodes),
        "both_nodes": len(optimized.nodes),
        "optimize_seconds": seconds,
        "compile_seconds": fn.stats["seconds"]["total"],
    }
    return sizes, fn


def run_size(ctx: Context, n: int, sympy_on: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"n": n, "status": {}}
    row["graphc"], fn = graphc_measure(n)
    value, derivative = fn(POINT)
    calls: dict[str, Any] = {"graphc": lambda: fn(POINT)}
    answers: dict[str, float] = {}

    library = ctx.c_library("logistic")
    if library is not None:
        d = c_function(library, "logistic_d", c_double, [c_int, c_double, POINTER(c_double)])
        out = c_double()
        answers["C"] = d(n, POINT, out)
        ctx.check(abs(out.value - value) <= tolerance(n) * abs(value), f"swell n={n}: l(n)")
        calls["C"] = lambda: d(n, POINT, out)
    jax = ctx.peer("jax")
    if jax is not None:
        grad = jax.grad(lambda v: logistic(v, n))
        row["jax_eqns"] = len(jax.make_jaxpr(grad)(POINT).jaxpr.eqns)
        jitted = jax.jit(grad)
        answers["jax.jit(grad)"] = float(jitted(POINT))
        calls["jax.jit(grad)"] = lambda: jitted(POINT).block_until_ready()
    ca = ctx.peer("casadi")
    if ca is not None:
        s = ca.SX.sym("x")
        g = ca.Function("g", [s], [ca.gradient(logistic(s, n), s)])
        row["casadi_instructions"] = int(g.n_instructions())
        answers["CasADi SX"] = float(g(POINT))
        calls["CasADi SX"] = lambda: g(POINT)
    if sympy_on and ctx.peer("sympy") is not None:
        limit = QUICK_SYMPY_LIMIT if ctx.quick else SYMPY_LIMIT
        row["sympy"] = run_worker("sympy_swell", [n], timeout=limit)
        if "value" in row["sympy"]:
            answers["SymPy lambdify"] = row["sympy"]["value"]
        if "cse_value" in row["sympy"]:
            answers["SymPy lambdify(cse=True)"] = row["sympy"]["cse_value"]

    for label, got in answers.items():
        ok, err = agree(got, derivative)
        ok = err <= tolerance(n)
        row["status"][label] = "ok" if ok else f"disagrees with graphc (error {err:.1e})"
        if not ok:
            calls.pop(label, None)
            ctx.disagree(f"swell n={n}: {label}, error {err:.2e}")
    row["seconds"] = {label: t.as_dict() for label, t in ctx.time(calls).items()}
    return row


def run(ctx: Context) -> dict[str, Any]:
    rows, sympy_on = [], True
    for n in QUICK_SIZES if ctx.quick else SIZES:
        row = run_size(ctx, n, sympy_on)
        sympy = row.get("sympy", {})
        if "timed_out" in sympy or "error" in sympy:
            # Each step makes SymPy's work about 2.4x bigger: larger n would only time out too.
            sympy_on = False
        ctx.log(
            f"  n = {n}: graphc {row['graphc']['both_nodes']} nodes, jaxpr "
            f"{row.get('jax_eqns', '-')}, SymPy {sympy.get('tree_ops', '-')} ops"
            + (" (SymPy gave up)" if "timed_out" in sympy else "")
        )
        rows.append(row)
    return {"rows": rows, "sympy_limit": QUICK_SYMPY_LIMIT if ctx.quick else SYMPY_LIMIT}


def _sympy_cell(sympy: dict[str, Any] | None, key: str, limit: float, fmt: Any) -> str:
    if sympy is None:
        return "not run"
    if key in sympy:
        return fmt(sympy[key])
    if "timed_out" in sympy:
        return f"gave up after {limit:.0f} s"
    return "-"


def render(result: dict[str, Any]) -> dict[str, str]:
    limit = result["sympy_limit"]
    sizes = (
        "| n | SymPy tree (count_ops) | SymPy after cse | SymPy diff | SymPy cse | jaxpr eqns "
        "(grad) | CasADi SX instr. (grad) | graphc nodes l(n) | graphc nodes [l, dl/dx] |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    for r in result["rows"]:
        sympy = r.get("sympy")
        g = r["graphc"]
        sizes += (
            f"| {r['n']} | {_sympy_cell(sympy, 'tree_ops', limit, lambda v: f'{v:,}')} "
            f"| {_sympy_cell(sympy, 'cse_ops', limit, lambda v: f'{v:,}')} "
            f"| {_sympy_cell(sympy, 'diff_seconds', limit, fmt_time)} "
            f"| {_sympy_cell(sympy, 'cse_seconds', limit, fmt_time)} "
            f"| {r.get('jax_eqns', '-')} | {r.get('casadi_instructions', '-')} "
            f"| {g['f_nodes']} | {g['both_nodes']} |\n"
        )
    tools = ["graphc", "C", "jax.jit(grad)", "CasADi SX"]
    evals = (
        "| n | " + " | ".join(tools) + " | SymPy lambdify | SymPy lambdify(cse=True) |\n"
        "|---|" + "---|" * (len(tools) + 2) + "\n"
    )
    for r in result["rows"]:
        cells = []
        for tool in tools:
            t = r.get("seconds", {}).get(tool)
            status = r["status"].get(tool, "ok")
            cells.append(fmt_time(t["min"]) if t else ("disagrees" if status != "ok" else "-"))
        sympy = r.get("sympy") or {}
        for key, label in (
            ("eval_seconds", "SymPy lambdify"),
            ("cse_eval_seconds", "SymPy lambdify(cse=True)"),
        ):
            if r["status"].get(label, "ok") != "ok":
                cells.append("disagrees")
            else:
                cells.append(fmt_time(sympy.get(key)) if key in sympy else "-")
        evals += f"| {r['n']} | " + " | ".join(cells) + " |\n"
    return {"swell-sizes": sizes, "swell-eval": evals}


def plot(result: dict[str, Any], directory: Any, plt: Any) -> list[str]:
    rows = result["rows"]
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    series = {
        "SymPy diff, tree (count_ops)": [
            (r["n"], r.get("sympy", {}).get("tree_ops")) for r in rows
        ],
        "SymPy diff + cse": [(r["n"], r.get("sympy", {}).get("cse_ops")) for r in rows],
        "JAX jaxpr of grad (equations)": [(r["n"], r.get("jax_eqns")) for r in rows],
        "CasADi SX gradient (instructions)": [(r["n"], r.get("casadi_instructions")) for r in rows],
        "graphc [l, dl/dx] optimized (nodes)": [(r["n"], r["graphc"]["both_nodes"]) for r in rows],
    }
    for label, points in series.items():
        points = [(n, v) for n, v in points if v]
        if points:
            ax.plot(*zip(*points), "-o" if "graphc" in label else "--.", label=label)
    ax.set_yscale("log")
    ax.set_xlabel("n (steps of the logistic map)")
    ax.set_ylabel("size of the derivative")
    ax.set_title("Expression swell: dl(n)/dx as a tree vs as a graph")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    path = directory / "swell.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [str(path)]
