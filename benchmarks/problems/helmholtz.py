"""Helmholtz free energy, the survey's Table 4: gradient time relative to the function's.

    f(x) = R T sum_i x_i log(x_i / (1 - b^T x))
           - x^T A x / (sqrt(8) b^T x) log((1 + (1 + sqrt 2) b^T x) / (1 + (1 - sqrt 2) b^T x))

The construction (seed, b, A, x0) is the one of ``examples/helmholtz.py`` and the acceptance
tests. Every tool's ratio is its own f+gradient time over its own f time, as in the survey.
Every tool, graphc included, is given the same expression in the same order (:func:`expression`:
``x . (A x)``), and the suite runs twice: with the survey's symmetric A (where ``A^T`` folds
into ``A`` and the gradient needs no second pass over A) and with a non-symmetric A, where the
gradient needs ``A^T x`` beside ``A x``: one more matrix-vector product than f is the least any
method can do, reported as the "one more matvec" limit.

graphc's three ways to a gradient, as in the survey's rows:
- numerical differences: forward differences, the n+1 evaluations of compiled f in one
  ``fn.batch`` call (the cheapest way graphc offers to evaluate f many times);
- forward mode: ``gc.jvp`` compiled once with the tangent as an input, evaluated for the n unit
  tangents in one ``batch`` call; and, for n <= 50, ``gc.jacobian(mode="fwd")`` as one graph;
- reverse mode: ``gc.grad``, f and its gradient as one compiled graph, default and
  ``unsafe_math=True`` (which lets the optimizer take the scalar out of ``(s*x) @ A``, so one
  pass over A serves f and the gradient).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from harness import Context, agree, c_function, fmt_ratio, fmt_time, ptr, run_worker, seconds

import graphc as gc

NAME = "helmholtz"
TITLE = "Helmholtz free energy (survey Table 4)"

SIZES = (1, 8, 15, 22, 29, 36, 43, 50, 300, 1000)
QUICK_SIZES = (1, 15, 50, 300)
GENERAL_SIZES, QUICK_GENERAL_SIZES = (50, 300, 1000), (50,)  # non-symmetric A
JACOBIAN_GRAPH_MAX_N = 50  # gc.jacobian(mode="fwd") builds n jvps: compile time grows fast
NUMERICAL_RTOL = 1e-3  # forward differences: truncation and round-off, normwise
CASADI_SX_MAX_N = 50  # SX scalarises A: 2.5 million instructions at n = 1000 (measured)

R, T = 8.314, 273.0
SQRT2, SQRT8 = math.sqrt(2.0), math.sqrt(8.0)

# The survey's Table 4 (DiffSharp, 2016): time of the gradient relative to f, n = 1 .. 50.
SURVEY_N = (1, 8, 15, 22, 29, 36, 43, 50)
DIFFSHARP = {
    "numerical diff": (1.08, 6.93, 12.17, 17.15, 19.87, 23.64, 25.67, 28.63),
    "forward AD": (1.34, 2.66, 3.55, 4.54, 4.77, 5.59, 6.40, 7.69),
    "reverse AD": (1.52, 2.16, 2.16, 2.31, 2.16, 2.07, 1.99, 1.96),
}


@dataclass(frozen=True)
class Problem:
    n: int
    b: np.ndarray
    A: np.ndarray
    x0: np.ndarray
    symmetric: bool = True


def problem(n: int, seed: int = 1, symmetric: bool = True) -> Problem:
    """b, A and a feasible x0 (x > 0, b^T x <= 0.1), drawn as the examples do; A is the
    symmetric part of a Gaussian matrix, or (``symmetric=False``) the matrix itself."""
    rng = np.random.default_rng(seed)
    b = rng.uniform(0.1, 1, n)
    M = rng.standard_normal((n, n))
    A = (M + M.T) / 2 if symmetric else M
    x0 = rng.uniform(0.1, 1, n) * 0.1 / n
    return Problem(n, b, A, x0, symmetric)


def expression(x: Any, b: Any, A: Any, log: Any, total: Any, dot: Any) -> Any:
    """f written once against a tool's log, sum and dot: numpy, jax, torch, pytensor, autograd."""
    bx = dot(b, x)
    return R * T * total(x * log(x / (1 - bx))) - dot(x, dot(A, x)) / (SQRT8 * bx) * log(
        (1 + (1 + SQRT2) * bx) / (1 + (1 - SQRT2) * bx)
    )


def graphc_f(p: Problem, x: gc.Node) -> gc.Node:
    """f as a graphc graph: the very expression every peer is given."""
    return expression(x, p.b, p.A, gc.log, gc.sum, gc.dot)


def numpy_f(p: Problem) -> Any:
    return lambda v: expression(v, p.b, p.A, np.log, np.sum, np.dot)


# -- the tools: each returns (f, f_and_gradient, seconds to build/compile/trace) -----------------


def tool_graphc(p: Problem, unsafe_math: bool = False) -> tuple[Any, Any, float]:
    x = gc.vector("x", p.n)
    y = graphc_f(p, x)
    f = gc.compile(gc.Graph([x], y), cache=False, unsafe_math=unsafe_math)
    fg = gc.compile(gc.Graph([x], [y, gc.grad(y, x)]), cache=False, unsafe_math=unsafe_math)
    return f, fg, f.stats["seconds"]["total"] + fg.stats["seconds"]["total"]


def tool_numerical(p: Problem, f: Any) -> Any:
    """Forward differences through one batch call of compiled f: (f(x0), gradient)."""
    h = np.sqrt(np.finfo(float).eps) * np.maximum(np.abs(p.x0), 1e-300)
    steps = np.diag(h)

    def gradient(x: np.ndarray) -> tuple[float, np.ndarray]:
        values = f.batch(np.concatenate([x[None, :], x[None, :] + steps]))
        return values[0], (values[1:] - values[0]) / h

    return gradient


def tool_forward_jvp(p: Problem) -> tuple[Any, float]:
    """gc.jvp with the tangent as an input, evaluated for every unit tangent in one batch."""
    x, v = gc.vector("x", p.n), gc.vector("v", p.n)
    y = graphc_f(p, x)
    fn = gc.compile(gc.Graph([x, v], [y, gc.jvp(y, x, v)]), cache=False)
    unit = np.eye(p.n)

    def gradient(xv: np.ndarray) -> tuple[float, np.ndarray]:
        values, tangents = fn.batch(xv, unit)
        return values[0], tangents

    return gradient, fn.stats["seconds"]["total"]


def tool_forward_jacobian(p: Problem) -> tuple[Any, float]:
    x = gc.vector("x", p.n)
    y = graphc_f(p, x)
    fn = gc.compile(gc.Graph([x], [y, gc.jacobian(y, x, mode="fwd")]), cache=False)
    return fn, fn.stats["seconds"]["total"]


def tool_c(ctx: Context, p: Problem) -> tuple[Any, Any] | None:
    library = ctx.c_library("helmholtz")
    if library is None:
        return None
    from ctypes import c_double, c_int, c_void_p

    f = c_function(library, "helm_f", c_double, [c_int] + [c_void_p] * 4)
    name = "helm_fg" if p.symmetric else "helm_fg_general"
    fg = c_function(library, name, c_double, [c_int] + [c_void_p] * 5)
    b, A = np.ascontiguousarray(p.b), np.ascontiguousarray(p.A)
    x = p.x0.copy()
    g, work = np.empty(p.n), np.empty(2 * p.n)
    # Pointers fetched once and passed as ints: the call path a C user would cache. The
    # arrays stay referenced by the closures (a pointer alone does not keep them alive).
    px, pb, pA, pg, pw = ptr(x), ptr(b), ptr(A), ptr(g), ptr(work)
    n, keep = p.n, (x, b, A, g, work)
    return (lambda: f(n, px, pb, pA, pw)), (lambda: (fg(n, px, pb, pA, pg, pw), keep[3]))


def tool_jax(ctx: Context, p: Problem) -> tuple[Any, Any, float] | None:
    jax = ctx.peer("jax")
    if jax is None:
        return None
    jnp = jax.numpy
    b, A = jnp.asarray(p.b), jnp.asarray(p.A)

    def f(x: Any) -> Any:
        return expression(x, b, A, jnp.log, jnp.sum, jnp.dot)

    jf, jfg = jax.jit(f), jax.jit(jax.value_and_grad(f))
    x = jnp.asarray(p.x0)
    took, _ = seconds(lambda: (jax.block_until_ready(jf(x)), jax.block_until_ready(jfg(x))))
    return (
        lambda: jax.block_until_ready(jf(x)),
        lambda: jax.block_until_ready(jfg(x)),
        took,
    )


def tool_torch(ctx: Context, p: Problem) -> tuple[Any, Any, float] | None:
    torch = ctx.peer("torch")
    if torch is None:
        return None
    b, A = torch.from_numpy(p.b), torch.from_numpy(p.A)
    x = torch.from_numpy(p.x0.copy()).requires_grad_(True)

    def f() -> Any:
        with torch.no_grad():
            return expression(x, b, A, torch.log, torch.sum, torch.matmul)

    def fg() -> Any:
        y = expression(x, b, A, torch.log, torch.sum, torch.matmul)
        (g,) = torch.autograd.grad(y, x)
        return y, g

    return f, fg, None  # eager: nothing to build


def tool_pytensor(ctx: Context, p: Problem) -> tuple[Any, Any, float] | None:
    pytensor = ctx.peer("pytensor")
    if pytensor is None:
        return None
    import pytensor.tensor as pt

    x = pt.dvector("x")
    # A and b as shared variables: with an 8 MB constant every PyTensor compile took 4-7 s, even
    # with a warm cache (measured with PyTensor 3.x).
    b, A = pytensor.shared(p.b, "b"), pytensor.shared(p.A, "A")
    y = expression(x, b, A, pt.log, pt.sum, pt.dot)
    took, (f, fg) = seconds(
        lambda: (
            pytensor.function([x], y, trust_input=True),
            pytensor.function([x], [y, pytensor.grad(y, x)], trust_input=True),
        )
    )
    x0 = p.x0.copy()
    return (lambda: f(x0)), (lambda: fg(x0)), took


def tool_casadi(ctx: Context, p: Problem, kind: str) -> tuple[Any, Any, float] | None:
    ca = ctx.peer("casadi")
    if ca is None:
        return None
    symbol = ca.SX if kind == "SX" else ca.MX

    def build() -> tuple[Any, Any]:
        x = symbol.sym("x", p.n)
        bx = ca.dot(ca.DM(p.b), x)
        q = ca.dot(x, ca.mtimes(ca.DM(p.A), x))
        y = R * T * ca.sum1(x * ca.log(x / (1 - bx))) - q / (SQRT8 * bx) * ca.log(
            (1 + (1 + SQRT2) * bx) / (1 + (1 - SQRT2) * bx)
        )
        return ca.Function("f", [x], [y]), ca.Function("fg", [x], [y, ca.gradient(y, x)])

    took, (f, fg) = seconds(build)
    x0 = p.x0.copy()
    return (lambda: f(x0)), (lambda: fg(x0)), took


def tool_autograd(ctx: Context, p: Problem) -> tuple[Any, Any, float] | None:
    autograd = ctx.peer("autograd")
    if autograd is None:
        return None
    anp = autograd.numpy

    def f(x: Any) -> Any:
        return expression(x, p.b, p.A, anp.log, anp.sum, anp.dot)

    fg = autograd.value_and_grad(f)
    x0 = p.x0.copy()
    return (lambda: f(x0)), (lambda: fg(x0)), None  # eager: nothing to build


# -- one size -------------------------------------------------------------------------------------


def run_size(ctx: Context, n: int, symmetric: bool = True) -> dict[str, Any]:
    p = problem(n, symmetric=symmetric)
    x0 = p.x0
    row: dict[str, Any] = {
        "n": n,
        "symmetric": symmetric,
        "build_seconds": {},
        "status": {},
        "errors": {},
    }
    f_np = numpy_f(p)
    f, fg, row["build_seconds"]["graphc"] = tool_graphc(p)
    fu, fgu, row["build_seconds"]["graphc unsafe_math"] = tool_graphc(p, unsafe_math=True)
    row["workspace_bytes"] = {"f": f.stats["workspace_bytes"], "f+g": fg.stats["workspace_bytes"]}
    reference = fg(x0)

    # graphc itself against independent oracles: numpy's f, and the complex step (exact to
    # rounding; affordable up to n = 300). Beyond that, the hand-written C gradient and the
    # peers, all compared with graphc below, are the cross-check.
    oracle_value = f_np(x0)
    checks = {"value vs numpy": agree(reference[0], oracle_value)}
    if n <= 300:
        step = np.array([f_np(x0 + 1e-30j * e).imag / 1e-30 for e in np.eye(n)])
        checks["gradient vs complex step"] = agree(reference[1], step)
    row["graphc_checks"] = {k: {"ok": ok, "error": err} for k, (ok, err) in checks.items()}
    for label, (ok, err) in checks.items():
        ctx.check(ok, f"helmholtz n={n}: {label}, error {err:.2e}")

    pairs: dict[str, tuple[Any, Any]] = {}  # tool -> (f call, f+g call)
    candidates: dict[str, tuple[Any, Any] | None] = {
        "graphc": (lambda: f(x0), lambda: fg(x0)),
        "graphc unsafe_math": (lambda: fu(x0), lambda: fgu(x0)),
    }
    numerical = tool_numerical(p, f)
    jvp_gradient, row["build_seconds"]["graphc forward (jvp)"] = tool_forward_jvp(p)
    singles: dict[str, Any] = {
        "graphc numerical": lambda: numerical(x0),
        "graphc forward (jvp)": lambda: jvp_gradient(x0),
    }
    if n <= JACOBIAN_GRAPH_MAX_N and not (ctx.quick and n > 15):
        jac, row["build_seconds"]["graphc forward (jacobian)"] = tool_forward_jacobian(p)
        singles["graphc forward (jacobian)"] = lambda: jac(x0)

    c_tool = tool_c(ctx, p)
    candidates["C"] = c_tool
    for label, make in (
        ("jax", lambda: tool_jax(ctx, p)),
        ("torch", lambda: tool_torch(ctx, p)),
        ("pytensor", lambda: tool_pytensor(ctx, p)),
        ("casadi SX", lambda: tool_casadi(ctx, p, "SX") if n <= CASADI_SX_MAX_N else None),
        ("casadi MX", lambda: tool_casadi(ctx, p, "MX")),
        ("autograd", lambda: tool_autograd(ctx, p)),
    ):
        try:
            made = make()
        except Exception as error:  # a peer that cannot express the problem: say so, go on
            row["status"][label] = f"failed to build: {type(error).__name__}: {error}"[:300]
            continue
        if made is not None:
            candidates[label] = (made[0], made[1])
            if made[2] is not None:
                row["build_seconds"][label] = made[2]

    # Cross-check everything against graphc's default f+gradient before timing anything.
    for label, pair in candidates.items():
        if pair is None:
            continue
        ok_f, err_f = agree(pair[0](), reference[0])
        ok_g, err_g = agree(pair[1](), reference)
        row["errors"][label] = max(err_f, err_g)
        if ok_f and ok_g:
            pairs[label] = pair
            row["status"][label] = "ok"
        else:
            row["status"][label] = f"disagrees with graphc (error {max(err_f, err_g):.1e})"
            ctx.disagree(f"helmholtz n={n}: {label}, error {max(err_f, err_g):.2e}")
    for label, call in list(singles.items()):
        # Numerical differences carry truncation error: a looser, stated tolerance.
        ok, err = agree(call()[1], reference[1])
        if label == "graphc numerical":
            ok = err <= NUMERICAL_RTOL
        row["errors"][label] = err
        row["status"][label] = "ok" if ok else f"disagrees with graphc (error {err:.1e})"
        if not ctx.check(ok, f"helmholtz n={n}: {label} gradient vs reverse mode, {err:.2e}"):
            del singles[label]

    calls: dict[str, Any] = {"numpy f": lambda: f_np(x0)}
    if not symmetric:
        # The least any method can add to f: one more pass over A (A x beside x^T A).
        xv = gc.vector("x", n)
        matvec = gc.compile(gc.Graph([xv], p.A @ xv), cache=False)
        calls["graphc matvec"] = lambda: matvec(x0)
    for label, (f_call, fg_call) in pairs.items():
        calls[f"{label} f"] = f_call
        calls[f"{label} f+g"] = fg_call
    calls.update(singles)
    timings = ctx.time(calls)
    row["seconds"] = {label: t.as_dict() for label, t in timings.items()}
    return row


def ratio(row: dict[str, Any], top: str, bottom: str, stat: str = "min") -> float | None:
    seconds_ = row.get("seconds", {})
    if top not in seconds_ or bottom not in seconds_:
        return None
    return seconds_[top][stat] / seconds_[bottom][stat]


def run(ctx: Context) -> dict[str, Any]:
    sizes = QUICK_SIZES if ctx.quick else SIZES
    rows = []
    for n in sizes:
        ctx.log(f"  n = {n}")
        rows.append(run_size(ctx, n))
    general = []
    for n in QUICK_GENERAL_SIZES if ctx.quick else GENERAL_SIZES:
        ctx.log(f"  n = {n}, A not symmetric")
        general.append(run_size(ctx, n, symmetric=False))
    result: dict[str, Any] = {"rows": rows, "general": general}
    if ctx.timing and not ctx.quick:
        result["memory"] = run_worker("helmholtz_rss", ["1000"], timeout=600)
    return result


# -- report ---------------------------------------------------------------------------------------

PEER_TOOLS = ("jax", "torch", "pytensor", "casadi SX", "casadi MX", "autograd", "C")


def _t(row: dict[str, Any], label: str, stat: str = "min") -> float | None:
    entry = row.get("seconds", {}).get(label)
    return None if entry is None else entry[stat]


def render(result: dict[str, Any]) -> dict[str, str]:
    rows = result["rows"]
    ns = [r["n"] for r in rows]
    head = "| method | " + " | ".join(str(n) for n in ns) + " |\n"
    head += "|---|" + "---|" * len(ns) + "\n"

    def line(label: str, values: list[str]) -> str:
        return f"| {label} | " + " | ".join(values) + " |\n"

    survey = head
    for label, key in (
        ("graphc numerical diff (n+1 f in one batch)", "graphc numerical"),
        ("graphc forward (n jvps in one batch)", "graphc forward (jvp)"),
        ("graphc forward (jacobian graph)", "graphc forward (jacobian)"),
    ):
        survey += line(label, [fmt_ratio(ratio(r, key, "graphc f")) for r in rows])
    survey += line(
        "graphc reverse (f and grad)", [fmt_ratio(ratio(r, "graphc f+g", "graphc f")) for r in rows]
    )
    survey += line(
        "graphc reverse, unsafe_math",
        [fmt_ratio(ratio(r, "graphc unsafe_math f+g", "graphc unsafe_math f")) for r in rows],
    )
    for label, values in DIFFSHARP.items():
        by_n = dict(zip(SURVEY_N, values))
        survey += line(f"DiffSharp {label} (survey)", [fmt_ratio(by_n.get(n)) for n in ns])

    times = (
        "| n | numpy f | graphc f | numpy/graphc | graphc f+g | ratio | ratio (median) "
        "| unsafe_math f+g | ratio | C f | C f+g | C ratio |\n|---|" + "---|" * 11 + "\n"
    )
    for r in rows:
        cells = [
            fmt_time(_t(r, "numpy f")),
            fmt_time(_t(r, "graphc f")),
            fmt_ratio(ratio(r, "numpy f", "graphc f")),
            fmt_time(_t(r, "graphc f+g")),
            fmt_ratio(ratio(r, "graphc f+g", "graphc f")),
            fmt_ratio(ratio(r, "graphc f+g", "graphc f", "median")),
            fmt_time(_t(r, "graphc unsafe_math f+g")),
            fmt_ratio(ratio(r, "graphc unsafe_math f+g", "graphc unsafe_math f")),
            fmt_time(_t(r, "C f")),
            fmt_time(_t(r, "C f+g")),
            fmt_ratio(ratio(r, "C f+g", "C f")),
        ]
        times += f"| {r['n']} | " + " | ".join(cells) + " |\n"

    peers = "| tool | " + " | ".join(str(n) for n in ns) + " |\n|---|" + "---|" * len(ns) + "\n"
    for tool in ("graphc", "graphc unsafe_math", *PEER_TOOLS):
        values = []
        for r in rows:
            status = r["status"].get(tool)
            if status is None:
                values.append("-")
            elif status != "ok":
                values.append("disagrees" if "disagrees" in status else "failed")
            else:
                values.append(fmt_ratio(ratio(r, f"{tool} f+g", f"{tool} f")))
        peers += line(tool, values)

    absolute = "| tool | " + " | ".join(str(n) for n in ns) + " |\n|---|" + "---|" * len(ns) + "\n"
    for tool in ("graphc", "graphc unsafe_math", *PEER_TOOLS):
        absolute += line(tool, [fmt_time(_t(r, f"{tool} f+g")) for r in rows])
    absolute += line("numpy f (no gradient)", [fmt_time(_t(r, "numpy f")) for r in rows])

    build = "| tool | " + " | ".join(str(n) for n in ns) + " |\n|---|" + "---|" * len(ns) + "\n"
    tools = sorted({k for r in rows for k in r["build_seconds"]}, key=_build_order)
    for tool in tools:
        build += line(tool, [fmt_time(r["build_seconds"].get(tool)) for r in rows])

    memory = ""
    m = result.get("memory")
    if m and "error" not in m:
        memory = (
            "| n | workspace f | workspace f+g | constant bytes | RSS after imports "
            "| RSS after compile | peak RSS (compile + 100 calls) |\n"
            "|---|---|---|---|---|---|---|\n"
            f"| {m['n']} | {m['workspace_f']:,} B | {m['workspace_fg']:,} B "
            f"| {m['constant_bytes']:,} B | {m['rss_imports'] / 2**20:.0f} MiB "
            f"| {m['rss_compiled'] / 2**20:.0f} MiB | {m['rss_peak'] / 2**20:.0f} MiB |\n"
        )
    elif m:
        memory = f"Memory measurement failed: {m['error']}\n"
    else:
        memory = "(not measured in this run)\n"
    general = (
        "| n | graphc f | graphc f+g | ratio | one more matvec (limit) | graphc / limit "
        "| C ratio | jax ratio | pytensor ratio | casadi MX ratio |\n|---|" + "---|" * 9 + "\n"
    )
    for r in result.get("general", []):
        f_time, mv = _t(r, "graphc f"), _t(r, "graphc matvec")
        limit = (f_time + mv) / f_time if f_time and mv else None
        ours = ratio(r, "graphc f+g", "graphc f")
        cells = [
            fmt_time(f_time),
            fmt_time(_t(r, "graphc f+g")),
            fmt_ratio(ours),
            fmt_ratio(limit),
            fmt_ratio(ours / limit if ours and limit else None),
            *(fmt_ratio(ratio(r, f"{t} f+g", f"{t} f")) for t in ("C", "jax", "pytensor")),
            fmt_ratio(ratio(r, "casadi MX f+g", "casadi MX f")),
        ]
        general += f"| {r['n']} | " + " | ".join(cells) + " |\n"
    return {
        "helmholtz-general": general,
        "helmholtz-survey": survey,
        "helmholtz-times": times,
        "helmholtz-peers": peers,
        "helmholtz-absolute": absolute,
        "helmholtz-build": build,
        "helmholtz-memory": memory,
    }


def _build_order(tool: str) -> tuple[int, str]:
    return (0 if tool.startswith("graphc") else 1, tool)


def plot(result: dict[str, Any], directory: Any, plt: Any) -> list[str]:
    rows = result["rows"]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    series = {"graphc": "graphc f+g", "graphc unsafe_math": "graphc unsafe_math f+g"}
    series.update({tool: f"{tool} f+g" for tool in PEER_TOOLS})
    for tool, key in series.items():
        points = [
            (r["n"], ratio(r, key, key.replace("f+g", "f")))
            for r in rows
            if ratio(r, key, key.replace("f+g", "f")) is not None
        ]
        if points:
            style = "-o" if tool.startswith("graphc") else "--."
            ax.plot(*zip(*points), style, label=tool, linewidth=2 if tool == "graphc" else 1)
    ax.plot(SURVEY_N, DIFFSHARP["reverse AD"], ":s", color="gray", label="DiffSharp (survey)")
    ax.axhline(2.0, color="black", linewidth=0.5)
    ax.set_xscale("log")
    ax.set_yscale("log")  # autograd sits at 30x, the rest between 0.7x and 7x
    ax.set_xlabel("n")
    ax.set_ylabel("time(f and gradient) / time(f)")
    ax.set_title("Helmholtz: reverse-mode gradient cost relative to f (lower is better)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: no overlap
    ax.grid(alpha=0.3)
    path = directory / "helmholtz_ratio.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [str(path)]
