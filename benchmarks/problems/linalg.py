"""Dense linear algebra: graphc's own loop nests against numpy's LAPACK, at n = 4, 16, 64, 256.

Each row is one call of a compiled graph against the numpy call a user would write, on the same
well-conditioned matrix (``M + n I`` with its rows rolled, so partial pivoting swaps at every
step; ``S = M M^T + n I`` for Cholesky), both returning new arrays:

- ``solve``: ``solve(A, b)`` for one right-hand side (LU with partial pivoting, then two
  triangular solves) against ``numpy.linalg.solve`` (LAPACK gesv);
- ``inv``: ``inv(A)`` against ``numpy.linalg.inv`` (gesv with the identity);
- ``slogdet``: ``log|det A|`` against ``numpy.linalg.slogdet`` (getrf);
- ``cholesky``: against ``numpy.linalg.cholesky`` (potrf);
- ``solve_triangular``: ``L x = b`` for the Cholesky factor ``L``: numpy has no triangular
  solver, so against ``numpy.linalg.solve(L, b)`` (a general LU), the call a numpy-only user has;
- ``logdet and gradient``: ``log|det A|`` and its gradient ``A^-T`` in one compiled function
  against ``slogdet`` and ``inv`` in numpy.

numpy's BLAS and LAPACK run on one thread (``threads.py``). Every graphc result is checked
against numpy's before anything is timed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from harness import Context, cross_check, fmt_ratio, fmt_time

import graphc as gc

NAME = "linalg"
TITLE = "Dense linear algebra against numpy's LAPACK"
SIZES, QUICK_SIZES = (4, 16, 64, 256), (4, 16, 64)
OPS = ("solve", "inv", "slogdet", "cholesky", "solve_triangular", "logdet and gradient")


def matrices(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(n)
    m = rng.standard_normal((n, n))
    a = (m + n * np.eye(n))[np.roll(np.arange(n), 1)]
    s = m @ m.T + n * np.eye(n)
    return {"a": a, "s": s, "l": np.linalg.cholesky(s), "b": rng.standard_normal(n)}


def calls(op: str, n: int) -> dict[str, Callable[[], object]]:
    """The graphc and numpy callables of one row."""
    data = matrices(n)
    a, s, l, b = data["a"], data["s"], data["l"], data["b"]
    m, v = gc.matrix("m", n, n), gc.vector("v", n)
    if op == "solve":
        fn = gc.compile(gc.Graph([m, v], gc.linalg.solve(m, v)), cache=False)
        return {"graphc": lambda: fn(a, b), "numpy": lambda: np.linalg.solve(a, b)}
    if op == "inv":
        fn = gc.compile(gc.Graph([m], gc.linalg.inv(m)), cache=False)
        return {"graphc": lambda: fn(a), "numpy": lambda: np.linalg.inv(a)}
    if op == "slogdet":
        fn = gc.compile(gc.Graph([m], gc.linalg.slogdet(m).logabsdet), cache=False)
        return {"graphc": lambda: fn(a), "numpy": lambda: np.linalg.slogdet(a)[1]}
    if op == "cholesky":
        fn = gc.compile(gc.Graph([m], gc.linalg.cholesky(m)), cache=False)
        return {"graphc": lambda: fn(s), "numpy": lambda: np.linalg.cholesky(s)}
    if op == "solve_triangular":
        graph = gc.Graph([m, v], gc.linalg.solve_triangular(m, v, lower=True))
        fn = gc.compile(graph, cache=False)
        return {"graphc": lambda: fn(l, b), "numpy": lambda: np.linalg.solve(l, b)}
    logdet = gc.linalg.slogdet(m).logabsdet
    fn = gc.compile(gc.Graph([m], [logdet, gc.grad(logdet, m)]), cache=False)
    return {
        "graphc": lambda: fn(a),
        "numpy": lambda: (np.linalg.slogdet(a)[1], np.linalg.inv(a).T),
    }


def run(ctx: Context) -> dict[str, Any]:
    sizes = QUICK_SIZES if ctx.quick else SIZES
    rows: dict[str, dict[str, Any]] = {}
    for op in OPS:
        for n in sizes:
            found = calls(op, n)
            # numpy is the oracle here: graphc's result must agree with it to be timed.
            status, checked = cross_check(ctx, f"linalg {op} n={n}", found, found["numpy"]())
            ctx.check(status["graphc"] == "ok", f"linalg {op} n={n}: graphc {status['graphc']}")
            timings = ctx.time(checked)
            rows[f"{op} {n}"] = {
                "op": op,
                "n": n,
                "status": status,
                "seconds": {label: t.as_dict() for label, t in timings.items()},
            }
            if timings:
                g, p = timings["graphc"].min, timings["numpy"].min
                ctx.log(f"  {op:>20} n={n:<4} graphc {fmt_time(g):>9}  numpy {fmt_time(p):>9}")
    return {"sizes": list(sizes), "rows": rows}


def render(result: dict[str, Any]) -> dict[str, str]:
    sizes = result["sizes"]
    table = "| op | " + " | ".join(f"n = {n}" for n in sizes) + " |\n"
    table += "|---|" + "---|" * len(sizes) + "\n"
    for op in OPS:
        cells = []
        for n in sizes:
            row = result["rows"].get(f"{op} {n}")
            if row is None:
                cells.append("-")
                continue
            seconds = row["seconds"]
            if "graphc" not in seconds or "numpy" not in seconds:
                status = row["status"]
                cells.append("ok" if status.get("graphc") == "ok" else str(status.get("graphc")))
                continue
            g, p = seconds["graphc"]["min"], seconds["numpy"]["min"]
            cells.append(f"{fmt_time(g)} / {fmt_time(p)} ({fmt_ratio(g / p)})")
        table += f"| {op} | " + " | ".join(cells) + " |\n"
    note = "graphc / numpy per call (min of the samples), ratio below 1: graphc is faster.\n"
    return {"linalg": note + "\n" + table}
